/*
 * leakcheck.h - one reachability scan of the whole process: stop the
 * world, snapshot the live blocks, collect the roots, classify, resume.
 */
#ifndef LEAKSCOPE_LEAKCHECK_H
#define LEAKSCOPE_LEAKCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "live.h"
#include "scan.h"

struct leak_scan {
    /* The blocks as they were while the world stood still, sorted by address, and their states. */
    struct live_block *blocks;
    uint8_t *state;
    size_t count;
    uint64_t bytes[BLOCK_STATES], blocks_in[BLOCK_STATES];
    uint64_t bytes_scanned;    /* roots and blocks read */
    uint64_t bytes_unwritten;  /* roots and blocks not read: pages never written (scan_root_range) */
    uint64_t root_bytes;
    int64_t pause_ns;          /* how long the other threads were stopped */
    int64_t total_ns;
    int64_t time_unix_ns;      /* when the world was stopped */
    size_t threads;            /* threads stopped (besides the scanner) */
    size_t unresponsive;       /* of those, how many never answered */
    size_t unresponsive_no_stack;   /* ...and whose stack could not be found at all */
    int signal;
    const char *stop_method;   /* "ptrace" or "signal" */
    int in_copy;               /* scanned in a fork()ed copy: the pause covered only the fork */
};

/*
 * Scan now.  scanner_is_program_thread: the calling thread belongs to the
 * program (the exit scan), so its own stack and registers are roots;
 * skip_tid: a thread neither stopped nor scanned (leakscope's own);
 * stop_method: STOP_* (options.h); in_copy: scan a fork()ed copy, so the
 * program is stopped only while it is forked (falls back to scanning in place).
 * Returns 0, -1 when the world could not be stopped, -2 when /proc cannot be
 * read (no scan is possible then); *out is empty on failure.
 * The result stays valid until the next scan.
 */
/*
 * The scan's buffers (a copy of the blocks, a sort scratch, states, a mark
 * stack, a page index: about 72 bytes a block) outlive leakcheck_run, since
 * the result points into them; release them once the dump is written.
 */
size_t leakcheck_buffer_bytes(void);
void leakcheck_release_buffers(void);

int leakcheck_run(int scanner_is_program_thread, pid_t skip_tid, int stop_method, int in_copy,
                  struct leak_scan *out);

/* What the process says about a scan: leaks after suppressions, and the largest one. */
struct leak_totals {
    uint64_t bytes[BLOCK_STATES], blocks[BLOCK_STATES];   /* suppressed blocks excluded */
    uint64_t suppressed_bytes, suppressed_blocks;
    uint32_t top_site;         /* the site with the most direct+indirect bytes, if top_bytes > 0 */
    uint64_t top_bytes, top_blocks;
};

/*
 * Tally a scan.  A leaked block is suppressed when a frame of its stack has
 * a function (dladdr: exported names) or module path matching a pattern, or
 * when the dynamic loader allocated it (its own bookkeeping: DTVs, TLS).
 */
void leakcheck_totals(const struct leak_scan *scan, const char *const *patterns, int npatterns,
                      struct leak_totals *out);

#endif
