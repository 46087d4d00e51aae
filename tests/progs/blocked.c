/*
 * blocked: threads wait in read(), accept(), pthread_cond_wait() (futex) and
 * a nanosleep() loop while leakscope stops the world again and again
 * (LEAKSCOPE_SCAN_INTERVAL); then each is woken and must report exactly what
 * it would have without leakscope.  Prints one line per thread, then whether
 * main's own usleep(800 ms) ran in full (a signal handler would cut it short
 * with EINTR; a ptrace stop does not), then "ok".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int pipe_fds[2], listen_fd;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int flag;
static char results[4][64];

static void *reader(void *arg)
{
    char buf[8] = { 0 };
    (void)arg;
    ssize_t n = read(pipe_fds[0], buf, sizeof buf - 1);
    snprintf(results[0], sizeof results[0], "read %zd '%s' errno=%d", n, buf, n < 0 ? errno : 0);
    return NULL;
}

static void *acceptor(void *arg)
{
    (void)arg;
    int fd = accept(listen_fd, NULL, NULL);
    snprintf(results[1], sizeof results[1], "accept %s", fd >= 0 ? "ok" : strerror(errno));
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void *waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mutex);
    while (!flag)
        pthread_cond_wait(&cond, &mutex);
    pthread_mutex_unlock(&mutex);
    snprintf(results[2], sizeof results[2], "cond woken flag=%d", flag);
    return NULL;
}

static void *sleeper(void *arg)
{
    struct timespec left = { 1, 200000000 }, start, end;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (nanosleep(&left, &left) == -1 && errno == EINTR)
        ;                                 /* the usual idiom: resume after a signal */
    clock_gettime(CLOCK_MONOTONIC, &end);
    double slept = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    snprintf(results[3], sizeof results[3], "slept %s", slept >= 1.19 ? "in full" : "short");
    return NULL;
}

int main(void)
{
    pthread_t t[4];
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;

    pipe(pipe_fds);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(listen_fd, (struct sockaddr *)&addr, sizeof addr);
    listen(listen_fd, 1);
    getsockname(listen_fd, (struct sockaddr *)&addr, &len);
    pthread_create(&t[0], NULL, reader, NULL);
    pthread_create(&t[1], NULL, acceptor, NULL);
    pthread_create(&t[2], NULL, waiter, NULL);
    pthread_create(&t[3], NULL, sleeper, NULL);

    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    int slept = usleep(800000);           /* several scans happen meanwhile */
    clock_gettime(CLOCK_MONOTONIC, &after);
    double main_slept = (double)(after.tv_sec - before.tv_sec) + (double)(after.tv_nsec - before.tv_nsec) / 1e9;
    write(pipe_fds[1], "hello", 5);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    connect(client, (struct sockaddr *)&addr, sizeof addr);
    pthread_mutex_lock(&mutex);
    flag = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    close(client);
    for (int i = 0; i < 4; i++)
        printf("%s\n", results[i]);
    printf("main usleep %s\n", slept == 0 && main_slept >= 0.79 ? "in full" : "cut short");
    printf("ok\n");
    return 0;
}
