/*
 * forker fork: the parent keeps parent_alloc() (1111 bytes); the child adds
 * child_alloc() (2222 bytes) and exits; the parent waits.
 * forker exec PROG: forks a child that execs PROG.
 * forker at-start: forks in a constructor, before leakscope's background
 * thread may have run; the child exits at once, allocating nothing (its exit
 * dump must not wait for a thread it does not have); the parent waits for it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile kept[2];   /* volatile: the compiler may not drop the mallocs */
static pid_t early_child = -1;

__attribute__((constructor)) static void fork_at_start(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "at-start") == 0 && (early_child = fork()) == 0)
        exit(0);
}

__attribute__((noinline)) static void parent_alloc(void) { kept[0] = malloc(1111); }
__attribute__((noinline)) static void child_alloc(void) { kept[1] = malloc(2222); }

static void give_up(int sig)
{
    (void)sig;
    kill(early_child, SIGKILL);
    _exit(3);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "at-start") == 0) {
        int status;
        signal(SIGALRM, give_up);      /* a hung child is killed, not left behind */
        alarm(10);
        if (early_child < 0 || waitpid(early_child, &status, 0) != early_child)
            return 2;
        printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
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
