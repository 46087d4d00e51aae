/*
 * procfs.h - the process's memory as the kernel and malloc see it, read
 * with raw open/read (no malloc): smaps_rollup (statm where it is missing),
 * mallinfo2, the thread count.
 */
#ifndef LEAKSCOPE_PROCFS_H
#define LEAKSCOPE_PROCFS_H

#include <stddef.h>
#include <stdint.h>

struct proc_memory {
    int64_t rss, anon, lazy_free;      /* bytes; -1 when unknown */
    int64_t arena, hblkhd, uordblks, fordblks, keepcost;   /* mallinfo2 */
    int64_t mallinfo_ns;               /* how long that mallinfo2() call took; -1 when not called */
    int64_t mallinfo_abandoned_ns;     /* waited this long for mallinfo2(), then went on without it; -1 */
    int64_t threads;
};

void proc_memory_read(struct proc_memory *m);
/*
 * The same for the exit dump, which must not make the program's exit slow:
 * mallinfo2() walks every free chunk (an interpreter's global destruction
 * leaves a million: 110 ms, a tenth of a perl run), so it runs on a thread of
 * its own, and after limit_ns the dump goes on without malloc's figures
 * (their fields -1, mallinfo_abandoned_ns set).  The walk left behind holds
 * one arena lock at a time and ends with the process.
 */
void proc_memory_read_within(struct proc_memory *m, int64_t limit_ns);
/* The same without mallinfo2 (its fields -1): for a process that may have crashed inside malloc. */
void proc_memory_read_without_malloc(struct proc_memory *m);
/*
 * The same for frequent sampling: mallinfo2() walks every free chunk under
 * the arena lock (110 ms with a million free chunks, the program's malloc
 * waiting) and smaps_rollup walks the page tables under the mmap lock, so
 * their figures are refreshed at most once a second, and no more often than
 * every 100 times their own cost; in between the last ones are reused, and
 * RSS comes from statm.  frees: blocks the program has freed so far (an
 * estimate when sampling).  While the program frees quickly (see
 * mallinfo_walk_due), mallinfo2() waits.
 */
void proc_memory_sample(struct proc_memory *m, uint64_t frees);

/*
 * When the sampler may walk malloc's free chunks.  A burst of frees (an
 * interpreter tearing down a hash) leaves the most chunks to walk, and the
 * program, busy in malloc, waits on the arena lock the walk holds: sampled
 * perl paid 8% of its run for one such walk.  So while the program freed
 * more than MALLINFO_BUSY_FREES blocks a second since the last sample, a walk
 * waits, up to MALLINFO_BUSY_WAIT_NS after the last one; dumps always walk.
 */
#define MALLINFO_BUSY_FREES 100000
#define MALLINFO_BUSY_WAIT_NS (10 * 1000000000LL)
struct mallinfo_pace {
    int64_t last_walk_ns, last_cost_ns;        /* last_walk_ns -1: none yet */
    int64_t last_sample_ns;                    /* -1: no sample yet */
    uint64_t last_sample_frees;
};
/* 1 if a sample at now, the program having freed frees blocks, walks; records the sample in *p. */
int mallinfo_walk_due(struct mallinfo_pace *p, int64_t now, uint64_t frees);
int64_t proc_rss(void);
/* A small file (under /proc) into buf, NUL-terminated; bytes read, or -1. */
long proc_read_file(const char *path, char *buf, size_t len);

#endif
