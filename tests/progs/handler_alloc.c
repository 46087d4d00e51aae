/*
 * handler_alloc: built with frame pointers; main, 20 calls deep, spins until
 * an interval timer's SIGALRM (every 200 us) has come 2,000 times, and the
 * handler allocates 2,000 blocks (kept, freed at the end) a few calls deeper.
 * Most signals land inside leakscope's own recording, whose allocations
 * leakscope does not track (it is not re-entered): some dozens are recorded.  Their stacks cross
 * the kernel's signal frame, pushed while the program was in malloc or free
 * (which a handler must not call, but programs do).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define SIGNALS 2000

static void *kept[SIGNALS];
static volatile int nkept;

__attribute__((noinline)) static void allocate_in_handler(int depth)
{
    if (depth > 0) {
        allocate_in_handler(depth - 1);
        __asm__ volatile("" ::: "memory");
        return;
    }
    if (nkept < SIGNALS) {
        kept[nkept] = malloc(48);
        nkept = nkept + 1;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    allocate_in_handler(5);
}

__attribute__((noinline)) static void deep(int depth)
{
    if (depth > 0) {
        deep(depth - 1);
        __asm__ volatile("" ::: "memory");
        return;
    }
    while (nkept < SIGNALS) {    /* interrupted here, mostly inside malloc and free */
        void *volatile p = malloc(64);
        free(p);
    }
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = { { 0, 200 }, { 0, 200 } }, off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &every, NULL);
    deep(20);
    setitimer(ITIMER_REAL, &off, NULL);
    printf("%d\n", nkept);
    for (int i = 0; i < nkept; i++)
        free(kept[i]);
    return 0;
}
