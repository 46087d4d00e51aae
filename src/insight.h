/*
 * insight.h - at each dump, the process works out why its RSS is what it is:
 * the decomposition (rss.h) from the scan, the samples and the block ages,
 * which sites keep growing, which hold stale blocks, which thread creation
 * sites have threads that never exit.  The result goes into the dump's RSS
 * section; summaries and the tool render it.
 */
#ifndef LEAKSCOPE_INSIGHT_H
#define LEAKSCOPE_INSIGHT_H

#include <stdint.h>

#include "leakcheck.h"
#include "rss.h"

#define INSIGHT_MAX_SITES 16

struct insight_site {
    uint32_t site;
    int64_t bytes, blocks;
    double rate;               /* growing: bytes per second */
};

struct insight {
    struct rss_breakdown parts;
    int64_t allocator_free, mapped_resident;
    struct insight_site growing[INSIGHT_MAX_SITES];     /* fastest first */
    int ngrowing;
    struct insight_site stale[INSIGHT_MAX_SITES];       /* largest first */
    int nstale;
    int64_t top_leak_site, top_mapped_site;             /* -1: none */
    int64_t thread_site, threads_alive;                 /* a site whose threads never exit; -1: none */
    int scanned;
    int64_t leaked_direct_indirect;
};

/* scan: the dump's scan, or NULL when none ran; leaks: its totals after suppressions; mem: the
   process's memory as read for this dump. */
struct proc_memory;
void insight_compute(const struct leak_scan *scan, const struct leak_totals *leaks, int stale_age_s,
                     const struct proc_memory *mem, struct insight *out);

/* The "key=value" lines of the dump's RSS section (verdict included, names from dladdr). */
void insight_text(const struct insight *in, char *out, size_t len);

/* "function" (dladdr) for a site's innermost frame that is not in libc's allocator wrappers. */
void insight_site_name(uint32_t site, char *out, size_t len);

#endif
