/*
 * engine.h - what the interposition layer calls: record and forget blocks and
 * mappings, write dumps, survive fork.  The engine owns all policy; preload/
 * only forwards calls here.
 *
 * Every entry point expects the calling thread's re-entrancy guard to be set
 * (engine_guard_enter), so that allocations made while recording — by
 * libunwind, dl_iterate_phdr, dladdr — pass through untracked.
 */
#ifndef LEAKSCOPE_ENGINE_H
#define LEAKSCOPE_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <limits.h>

#include "insight.h"
#include "leakcheck.h"
#include "live.h"
#include "options.h"

extern __thread int engine_guard __attribute__((tls_model("initial-exec")));
extern int engine_ready;     /* set once engine_init has finished */

static inline int engine_guard_enter(void) { return engine_guard++ == 0; }
static inline void engine_guard_leave(void) { engine_guard--; }

/* Parse options (each bad value reported through warn), prepare tables. 0 on success. */
int engine_init(options_warn_fn warn);
const struct leakscope_options *engine_options(void);

/*
 * Sampling (LEAKSCOPE_SAMPLE, see engine.c): 1 if an allocation of size bytes
 * is to be recorded.  Always 1 when every allocation is tracked.
 */
extern uint64_t engine_sample_period;
extern __thread int64_t engine_sample_countdown __attribute__((tls_model("initial-exec")));
int engine_sample_slow(size_t size);

static inline int engine_sampled(size_t size)
{
    if (__builtin_expect(engine_sample_period == 0, 1))
        return 1;
    if ((engine_sample_countdown -= (int64_t)size) > 0)
        return 0;
    return engine_sample_slow(size);
}

/* Heap blocks (a sampled run records only those engine_sampled chose). */
void engine_record_alloc(void *ptr, size_t size);
/* Remove ptr from the live table; 1 and *out filled if it was tracked. */
int engine_forget(void *ptr, struct live_block *out);
/* Put back a block forgotten by engine_forget (a realloc that failed). */
void engine_restore(const struct live_block *block);

/* Anonymous mappings and madvise. */
void engine_record_mmap(void *addr, size_t len, int flags);
void engine_record_munmap(void *addr, size_t len);
/* Before mremap: forget the old range; returns 1 if it was tracked. */
int engine_mremap_begin(void *old_addr, size_t old_len, struct live_block *saved);
void engine_mremap_end(int tracked, const struct live_block *saved, void *old_addr,
                       void *new_addr, size_t new_len);
void engine_record_madvise(size_t len, int advice);
/* The advice to really pass to madvise (LEAKSCOPE_MADV_DONTNEED turns MADV_FREE into MADV_DONTNEED). */
int engine_madvise_advice(int advice);

/* Threads: a creation site's "started" count goes up; the id is passed back when the thread ends. */
uint32_t engine_thread_started(void);
void engine_thread_exited(uint32_t site);

/* malloc_trim(0) now, recording RSS before and after (Go's debug.FreeOSMemory). */
void engine_scavenge(int64_t *rss_before, int64_t *rss_after);

/* One sample for the timeline (the background thread's tick); *out gets it. */
struct process_sample;
void engine_sample(struct process_sample *out);
int64_t engine_mapped_resident(void);
int64_t engine_uptime_ns(void);

/* Dumps. */
enum dump_reason { DUMP_REASON_EXIT, DUMP_REASON_SIGNAL, DUMP_REASON_PERIODIC, DUMP_REASON_SCAVENGE,
                   DUMP_REASON_CRASH, DUMP_REASON_INTERVAL };   /* INTERVAL: LEAKSCOPE_DUMP_INTERVAL, no scan */

struct dump_result {
    char path[PATH_MAX + 128];   /* the dump written, or why none was */
    int scanned;                 /* a reachability scan ran (options: leak_check) */
    const char *scan_skipped;    /* why a scan that was due did not run, or NULL */
    struct leak_scan scan;
    struct leak_totals leaks;
    struct insight insight;      /* why RSS is what it is */
};

/*
 * Write a dump now, with a reachability scan first when leak checking is on
 * (serialised with other dumps).  Returns 0 or -errno (out->path then says why).
 * The exit dump is taken by a program thread: its stack is a root.  A crash
 * dump (from a fatal signal's handler) has no scan, no mallinfo2 and no RSS
 * account, and gives up after two seconds if another dump holds the lock.
 */
int engine_write_dump(enum dump_reason reason, int signal, struct dump_result *out);

/* The thread that is leakscope's own: never stopped nor scanned. */
void engine_set_service_thread(pid_t tid);

/* Totals for summaries. */
struct engine_totals {
    uint64_t inuse_space, inuse_objects, alloc_space, alloc_objects;
    uint64_t mapped_bytes, mapped_regions;
    uint32_t sites;
};
void engine_totals(struct engine_totals *t);

/* The program unloaded a library (dlclose): what the stack walk learnt about code addresses is void. */
void engine_code_unloaded(void);

uint32_t engine_now_cs(void);     /* centiseconds since engine_init */

/* fork(): called from pthread_atfork handlers. */
void engine_fork_prepare(void);
void engine_fork_parent(void);
void engine_fork_child(void);

#endif
