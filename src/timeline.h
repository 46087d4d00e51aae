/*
 * timeline.h - what the background thread samples every LEAKSCOPE_INTERVAL:
 * a bounded ring of process-wide samples, and for each site that ever held
 * SERIES_MIN_BYTES a ring of its live bytes and objects, and when it last
 * freed anything.  Both go into every dump; growth and staleness read them.
 */
#ifndef LEAKSCOPE_TIMELINE_H
#define LEAKSCOPE_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "rss.h"

struct process_sample {
    int64_t time_ns;               /* since the engine started */
    int64_t rss, anon, lazy_free;
    int64_t arena, hblkhd, uordblks, fordblks, keepcost;
    int64_t heap_inuse, heap_objects, mapped_bytes;
    int64_t madv_free_bytes, madv_dontneed_bytes;
    int64_t threads;
};
#define PROCESS_SAMPLE_FIELDS 15
extern const char *const process_sample_fields[PROCESS_SAMPLE_FIELDS];
_Static_assert(sizeof(struct process_sample) == PROCESS_SAMPLE_FIELDS * sizeof(int64_t),
               "every field of a process sample is named in the dump");

#define TIMELINE_CAPACITY 3600     /* an hour at the default interval */
#define SERIES_SAMPLES 256         /* per site: four minutes at the default interval */
#define SERIES_MAX_SITES 4096
#define SERIES_MIN_BYTES (64 * 1024)

/* Take one sample of everything now (the background thread's tick); frees: blocks freed so far. */
void timeline_sample(int64_t time_ns, int64_t madv_free_bytes, int64_t madv_dontneed_bytes, uint64_t frees,
                     struct process_sample *out);

/* The process samples, oldest first; returns how many (at most max). */
size_t timeline_copy(struct process_sample *out, size_t max);

/* Sites with a series, and one site's samples oldest first (returns how many). */
size_t series_sites(uint32_t *sites, size_t max);
size_t series_copy(uint32_t site, struct site_sample *out, size_t max);
/* When a site with a series last freed anything (time_ns of the sample that saw it), -1 if never seen. */
int64_t series_last_free_ns(uint32_t site);

/* fork(): the child keeps the history; only the lock is reset. */
void timeline_unlock_after_fork(int in_child);
void timeline_lock_for_fork(void);

#endif
