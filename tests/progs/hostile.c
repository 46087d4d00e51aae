/*
 * hostile MODE: programs that are rough on their environment.
 *   closefds  closes every descriptor from 0 up at start (daemons do), then works
 *   exit      leaves through _exit, skipping atexit and destructors
 *   threads   starts 1000 threads that wait on a barrier, then joins them
 *   vfork     vforks a child that execs /bin/true
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_barrier_t barrier;

static void *waiter(void *arg)
{
    void *block = malloc(100);
    pthread_barrier_wait(&barrier);
    free(block);
    return arg;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    void *volatile keep = malloc(1234);

    (void)keep;
    if (strcmp(mode, "closefds") == 0) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        char *s = strdup("still working");
        printf("%s\n", s);
        free(s);
        return 0;
    }
    if (strcmp(mode, "exit") == 0) {
        printf("leaving with _exit\n");
        fflush(stdout);
        _exit(7);
    }
    if (strcmp(mode, "threads") == 0) {
        enum { N = 1000 };
        static pthread_t t[N];
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        pthread_barrier_init(&barrier, NULL, N + 1);
        int started = 0;
        for (int i = 0; i < N; i++)
            started += pthread_create(&t[i], &attr, waiter, NULL) == 0;
        pthread_barrier_wait(&barrier);
        for (int i = 0; i < N; i++)
            pthread_join(t[i], NULL);
        printf("%d threads\n", started);
        return 0;
    }
    if (strcmp(mode, "vfork") == 0) {
        pid_t pid = vfork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        printf("child %d\n", WEXITSTATUS(status));
        return 0;
    }
    return 2;
}
