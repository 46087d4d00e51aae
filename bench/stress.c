/*
 * stress THREADS OPS DEPTH LIVE: the allocation benchmark.  Each of THREADS
 * threads does OPS allocations, each DEPTH calls deep (through one of eight
 * functions per level: 4,096 distinct call paths), keeping a live set
 * of LIVE/THREADS blocks: every allocation replaces a pseudo-random slot's
 * block.  Sizes 16..527 bytes.  Deterministic: a per-thread xorshift seed.
 * The live set is still held at exit.  Prints the checksum of what it wrote.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct worker {
    uint64_t rng;
    long ops, depth;
    size_t slots;
    void **live;
    uint64_t sum;
    unsigned path;             /* which of the 4,096 call paths this allocation takes */
};

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void work(struct worker *w, long level);

/* Eight distinct frames per level: the path through them depends on the random stream. */
#define LEVEL(n)                                                                                         \
    __attribute__((noinline)) static void level##n(struct worker *w, long level)                     \
    {                                                                                                    \
        work(w, level - 1);                                                                              \
        __asm__ volatile("" ::: "memory");                                                               \
    }
LEVEL(0) LEVEL(1) LEVEL(2) LEVEL(3) LEVEL(4) LEVEL(5) LEVEL(6) LEVEL(7)
static void (*const levels[8])(struct worker *, long) = { level0, level1, level2, level3,
                                                          level4, level5, level6, level7 };

__attribute__((noinline)) static void work(struct worker *w, long level)
{
    if (level > 0) {
        levels[(w->path >> (3 * (level % 4))) & 7](w, level);
        return;
    }
    uint64_t r = next(&w->rng);
    size_t slot = (size_t)(r % w->slots), size = 16 + (size_t)((r >> 32) % 512);
    free(w->live[slot]);
    char *p = malloc(size);
    p[0] = (char)r;
    p[size - 1] = (char)(r >> 8);
    w->sum += (unsigned char)p[0];
    w->live[slot] = p;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < w->ops; i++) {
        w->path = (unsigned)(next(&w->rng) % 4096);
        work(w, w->depth);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: stress THREADS OPS DEPTH LIVE\n");
        return 2;
    }
    long threads = atol(argv[1]), ops = atol(argv[2]), depth = atol(argv[3]), live = atol(argv[4]);
    if (threads < 1 || threads > 256 || ops < 1 || depth < 1 || depth > 1000 || live < threads) {
        fprintf(stderr, "stress: THREADS 1..256, OPS >= 1, DEPTH 1..1000, LIVE >= THREADS\n");
        return 2;
    }
    struct worker *w = calloc((size_t)threads, sizeof *w);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (long i = 0; i < threads; i++) {
        w[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        w[i].ops = ops;
        w[i].depth = depth;
        w[i].slots = (size_t)(live / threads);
        w[i].live = calloc(w[i].slots, sizeof(void *));
        pthread_create(&t[i], NULL, run, &w[i]);
    }
    uint64_t sum = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        sum += w[i].sum;
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
