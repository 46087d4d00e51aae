/*
 * forker fork: the parent keeps parent_alloc() (1111 bytes); the child adds
 * child_alloc() (2222 bytes) and exits; the parent waits.
 * forker exec PROG: forks a child that execs PROG.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile kept[2];   /* volatile: the compiler may not drop the mallocs */

__attribute__((noinline)) static void parent_alloc(void) { kept[0] = malloc(1111); }
__attribute__((noinline)) static void child_alloc(void) { kept[1] = malloc(2222); }

int main(int argc, char **argv)
{
    parent_alloc();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (argc > 2 && strcmp(argv[1], "exec") == 0) {
            execv(argv[2], argv + 2);
            _exit(127);
        }
        child_alloc();
        printf("child %d\n", (int)getpid());
        exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("parent %d child %d status %d\n", (int)getpid(), (int)pid, WEXITSTATUS(status));
    return 0;
}
