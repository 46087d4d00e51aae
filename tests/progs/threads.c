/* threads: 8 threads each keep 1000 blocks of 64 bytes from worker_alloc() and free 500 of them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 8
#define PER_THREAD 1000

static void *blocks[THREADS][PER_THREAD];

__attribute__((noinline)) static void *worker_alloc(void) { return malloc(64); }

static void *worker(void *arg)
{
    void **mine = arg;
    for (int round = 0; round < 20; round++) {           /* churn first: contention on the tables */
        for (int i = 0; i < PER_THREAD; i++)
            mine[i] = malloc(32);
        for (int i = 0; i < PER_THREAD; i++)
            free(mine[i]);
    }
    for (int i = 0; i < PER_THREAD; i++)
        mine[i] = worker_alloc();
    for (int i = 0; i < PER_THREAD; i += 2)
        free(mine[i]);
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, blocks[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("threads done\n");
    return 0;
}
