/*
 * crasher MODE: keeps 5 blocks of 1000 bytes from before_crash(), prints a
 * line, then dies: segv (a write through NULL), abort, fpe (integer division
 * by zero), kill (SIGSEGV sent to itself), or handled (a SIGSEGV the
 * program's own handler recovers from with siglongjmp; exits 0).  x86-64.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile kept[5];
static sigjmp_buf recover;

__attribute__((noinline)) static void before_crash(void)
{
    for (int i = 0; i < 5; i++)
        kept[i] = malloc(1000);
}

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(recover, 1);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";

    before_crash();
    printf("about to %s\n", mode);
    fflush(stdout);
    /* The faults are written in assembly: in C they are undefined behaviour the compiler may delete. */
    if (strcmp(mode, "segv") == 0)
        __asm__ volatile("xorl %%eax, %%eax\n\tmovl $1, (%%rax)" ::: "rax", "memory");
    else if (strcmp(mode, "abort") == 0)
        abort();
    else if (strcmp(mode, "fpe") == 0)
        __asm__ volatile("xorl %%ecx, %%ecx\n\tmovl $1, %%eax\n\tcltd\n\tidivl %%ecx" ::: "eax", "ecx", "edx");
    else if (strcmp(mode, "kill") == 0)
        kill(getpid(), SIGSEGV);
    else if (strcmp(mode, "handled") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_segv;
        sigaction(SIGSEGV, &sa, NULL);
        if (sigsetjmp(recover, 1) == 0)
            __asm__ volatile("xorl %%eax, %%eax\n\tmovl $1, (%%rax)" ::: "rax", "memory");
        printf("recovered\n");
        return 0;
    }
    return 3;
}
