/*
 * unload dlopen|dlclose: 2,000 allocations 70 calls deep (built with frame
 * pointers, so leakscope walks them), then a dlopen (and with "dlclose" the
 * dlclose of it), then 2,000 more from the same call sites.  Prints how many
 * blocks it freed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *blocks[4000];
static int count;

__attribute__((noinline)) static void deep(int level)
{
    if (level > 0) {
        deep(level - 1);
        __asm__ volatile("" ::: "memory");
        return;
    }
    blocks[count] = malloc(32 + (size_t)count % 64);
    count++;
}

int main(int argc, char **argv)
{
    for (int i = 0; i < 2000; i++)
        deep(70);
    void *lib = dlopen("libc.so.6", RTLD_NOW);
    if (!lib || (argc > 1 && strcmp(argv[1], "dlclose") == 0 && dlclose(lib) != 0)) {
        fprintf(stderr, "unload: dlopen/dlclose failed: %s\n", dlerror());
        return 1;
    }
    for (int i = 0; i < 2000; i++)
        deep(70);
    for (int i = 0; i < count; i++)
        free(blocks[i]);
    printf("%d\n", count);
    return 0;
}
