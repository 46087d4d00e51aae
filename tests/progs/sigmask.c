/*
 * sigmask: the program's signal mask stays its own while leakscope learns how to walk new code (it
 * holds every signal while it judges frames, and answers libunwind's sigprocmask calls then without a
 * system call).  SIGALRM, blocked by the program and raised, stays pending through allocations from
 * code never walked before; sigprocmask reports the program's mask, not leakscope's; the signal is
 * delivered once the program unblocks it.  Prints "ok" or what went wrong.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t delivered;

static void on_alarm(int sig)
{
    (void)sig;
    delivered++;
}

__attribute__((noinline)) static void *leaf(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) static void *middle(size_t n, int depth)
{
    void *p = depth ? middle(n, depth - 1) : leaf(n);
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) static void *outer(size_t n)
{
    void *p = middle(n, (int)(n % 7));
    __asm__ volatile("" ::: "memory");
    return p;
}

/* Only SIGALRM of the standard signals is blocked. */
static int mask_is_the_programs(const char *when)
{
    sigset_t now;
    if (sigprocmask(SIG_BLOCK, NULL, &now) != 0) {
        printf("sigprocmask failed %s\n", when);
        return 0;
    }
    for (int s = 1; s < 32; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        if (sigismember(&now, s) != (s == SIGALRM)) {
            printf("signal %d is %s %s\n", s, sigismember(&now, s) ? "blocked" : "not blocked", when);
            return 0;
        }
    }
    return 1;
}

int main(void)
{
    sigset_t alarm_only, old, pending;
    void *kept[1000];

    signal(SIGALRM, on_alarm);
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    if (sigprocmask(SIG_BLOCK, &alarm_only, &old) != 0 || sigismember(&old, SIGALRM)) {
        printf("the old mask was wrong\n");
        return 1;
    }
    raise(SIGALRM);
    for (int i = 0; i < 1000; i++)
        kept[i] = outer((size_t)i + 1);
    if (!mask_is_the_programs("after the allocations"))
        return 1;
    if (delivered || sigpending(&pending) != 0 || !sigismember(&pending, SIGALRM)) {
        printf("SIGALRM was delivered while blocked (%d) or is not pending\n", (int)delivered);
        return 1;
    }
    sigprocmask(SIG_UNBLOCK, &alarm_only, NULL);
    if (delivered != 1) {
        printf("SIGALRM was not delivered once unblocked (%d)\n", (int)delivered);
        return 1;
    }
    for (int i = 0; i < 1000; i++)
        free(kept[i]);
    printf("ok\n");
    return 0;
}
