/*
 * rss.h - why RSS is what it is: the decomposition of DESIGN.md section 1,
 * the growth rule, and the one-line verdict.  Pure functions over numbers,
 * used by the in-process summary and by the tool alike; no allocation.
 */
#ifndef LEAKSCOPE_RSS_H
#define LEAKSCOPE_RSS_H

#include <stddef.h>
#include <stdint.h>

/* What was measured at one moment (bytes; -1 where unknown). */
struct rss_inputs {
    int64_t rss;
    int64_t lazy_free;             /* smaps_rollup LazyFree */
    int64_t allocator_free;        /* mallinfo2 fordblks: freed, still held by malloc */
    int64_t mapped_resident;       /* resident bytes of the program's own anonymous mappings */
    int64_t leakscope;             /* memory leakscope itself holds (its tables) */
    int64_t heap_live;             /* every live heap byte leakscope tracks */
    int scanned;                   /* the leak figures below are known */
    int64_t leaked;                /* direct + indirect + possibly lost */
    int64_t growing;               /* live, reachable, at growing sites */
    int64_t stale;                 /* live, reachable, stale (not at growing sites) */
};

/* The parts, in bytes.  Heap parts count the bytes the program asked for. */
struct rss_breakdown {
    int64_t rss;
    int64_t live_reachable, live_growing, live_stale, leaked;
    int64_t allocator_retained;    /* the resident part of allocator_free */
    int64_t lazy_free, program_mmap, leakscope, other;
};

/*
 * Lazily freed pages are counted once, under lazy_free, and taken out of the
 * program's mappings first (that is where MADV_FREE happens).  The
 * allocator's free memory counts only as far as RSS leaves room for it
 * (malloc_trim returns pages but leaves fordblks unchanged).  "other" is the
 * rest of RSS: code, stacks, libraries, malloc's overhead, after leakscope's
 * own tables are taken out.
 */
void rss_decompose(const struct rss_inputs *in, struct rss_breakdown *out);

/* ---- growth ---- */

struct site_sample {
    int64_t time_ns;               /* monotonic, since the process started */
    int64_t inuse_space, inuse_objects;
};

#define GROWTH_MIN_RISES 4         /* steps that must go up */
#define GROWTH_MIN_OBJECTS 16      /* objects the series must add */
#define GROWTH_MIN_BYTES (64 * 1024)

/*
 * 1 when a site's live bytes keep rising.  Over all its stored samples (at
 * least 5; SERIES_SAMPLES are kept): they rose in GROWTH_MIN_RISES steps or
 * more and fell in at most a quarter as many (flat steps count for nothing:
 * a pause is not a retreat), the series added GROWTH_MIN_OBJECTS objects and
 * GROWTH_MIN_BYTES bytes, and the last sample is within 90 % of the maximum
 * (a peak that has passed is not growth).  *bytes_per_second is the rise
 * from the first sample to the last rise, over the time between them.
 * samples are oldest first.
 */
int growth_detect(const struct site_sample *samples, size_t n, double *bytes_per_second);

/* ---- the verdict ---- */

struct verdict_names {
    const char *growing;           /* the fastest growing site's function, or NULL */
    double growing_rate;
    const char *leaked;            /* the largest leak's function, or NULL */
    const char *stale;             /* the largest stale site's function, or NULL */
    const char *mapped;            /* the largest mapping site's function, or NULL */
    const char *threads;           /* a thread creation site with threads alive that never exit, or NULL */
    int64_t threads_alive;
};

/* One sentence in plain words: what most of RSS is, and whether anything leaked. */
void rss_verdict(const struct rss_breakdown *b, int scanned, int64_t direct_and_indirect,
                 const struct verdict_names *names, char *out, size_t len);

#endif
