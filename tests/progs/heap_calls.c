/*
 * heap_calls MODE: one allocation API per mode, each from a named function,
 * so tests can assert exact per-site figures.  Prints what the calls
 * returned, so runs with and without the preload can be compared.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *keep[16];

__attribute__((noinline)) static void *first_alloc(size_t n) { return malloc(n); }
__attribute__((noinline)) static void *grow_block(void *p, size_t n) { return realloc(p, n); }
__attribute__((noinline)) static void *realloc_from_null(size_t n) { return realloc(NULL, n); }

static void mode_realloc(void)
{
    void *p = first_alloc(100);
    p = grow_block(p, 200000);           /* moves to the grow_block site */
    keep[0] = p;
    keep[1] = realloc_from_null(300);
    void *q = first_alloc(50);
    errno = 0;
    void *r = realloc(q, 0);             /* frees q, returns NULL */
    printf("realloc(p, 0) -> %s\n", r ? "non-NULL" : "NULL");
    volatile size_t huge_size = SIZE_MAX / 2;
    void *huge = realloc(keep[1], huge_size);   /* fails: keep[1] stays */
    printf("huge realloc -> %s errno=%s\n", huge ? "non-NULL" : "NULL", errno == ENOMEM ? "ENOMEM" : "other");
}

__attribute__((noinline)) static void do_calloc(void) { keep[2] = calloc(10, 30); }
__attribute__((noinline)) static void do_posix_memalign(void) { posix_memalign(&keep[3], 64, 1000); }
__attribute__((noinline)) static void do_aligned_alloc(void) { keep[4] = aligned_alloc(128, 1024); }
__attribute__((noinline)) static void do_memalign(void) { keep[5] = memalign(256, 2000); }
__attribute__((noinline)) static void do_valloc(void) { keep[6] = valloc(3000); }
__attribute__((noinline)) static void do_pvalloc(void) { keep[7] = pvalloc(5000); }
__attribute__((noinline)) static void do_reallocarray(void) { keep[8] = reallocarray(NULL, 7, 11); }

static void mode_apis(void)
{
    do_calloc();
    do_posix_memalign();
    do_aligned_alloc();
    do_memalign();
    do_valloc();
    do_pvalloc();
    do_reallocarray();
    int aligned = ((uintptr_t)keep[3] % 64 == 0) && ((uintptr_t)keep[4] % 128 == 0) &&
                  ((uintptr_t)keep[5] % 256 == 0) && ((uintptr_t)keep[6] % 4096 == 0);
    volatile size_t many = SIZE_MAX / 2;     /* volatile: the overflow is for run time, not the compiler */
    errno = 0;
    void *overflow = reallocarray(NULL, many, 4);
    printf("aligned=%d calloc_zeroed=%d reallocarray_overflow=%s/%s\n", aligned,
           ((unsigned char *)keep[2])[299] == 0, overflow ? "non-NULL" : "NULL",
           errno == ENOMEM ? "ENOMEM" : "other");
}

static void mode_libc_semantics(void)
{
    free(NULL);
    void *z = malloc(0);
    void *r = realloc(NULL, 0);
    printf("malloc(0)=%s realloc(NULL,0)=%s usable=%d\n", z ? "non-NULL" : "NULL", r ? "non-NULL" : "NULL",
           malloc_usable_size(z) > 0);
    free(z);
    free(r);
    /* A block leakscope never saw (glibc's own entry point), freed through free(). */
    extern void *__libc_malloc(size_t);
    void *unseen = __libc_malloc(64);
    strcpy(unseen, "unseen");
    void *moved = realloc(unseen, 128);
    printf("%s\n", (char *)moved);
    free(moved);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "realloc") == 0)
        mode_realloc();
    else if (strcmp(mode, "apis") == 0)
        mode_apis();
    else if (strcmp(mode, "libc") == 0)
        mode_libc_semantics();
    else {
        fprintf(stderr, "usage: heap_calls realloc|apis|libc\n");
        return 2;
    }
    return 0;
}
