/*
 * slow_mallinfo.c - a preloaded library (ahead of libleakscope.so) whose
 * mallinfo2() takes 30 seconds once the program has begun to exit, as the
 * real walk does when global destruction leaves millions of free chunks.
 * The exit dump must not wait for it (tests/test_rss.c).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static atomic_int exiting;

static void begin_exit(void)
{
    exiting = 1;
}

/* atexit handlers run before the libraries' destructors, where the exit dump is written. */
__attribute__((constructor)) static void start(void)
{
    atexit(begin_exit);
}

struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 (*real)(void) = (struct mallinfo2 (*)(void))dlsym(RTLD_NEXT, "mallinfo2");
    if (exiting) {
        struct timespec ts = { 30, 0 };
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    return real();
}
