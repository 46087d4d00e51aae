/*
 * options.h - the LEAKSCOPE_* environment variables, parsed and validated.
 *
 * Parsing never allocates and never prints: each rejected value is handed to
 * the caller's warn callback as one line naming the variable, the value and
 * the accepted form, and the default is kept.
 */
#ifndef LEAKSCOPE_OPTIONS_H
#define LEAKSCOPE_OPTIONS_H

#include <limits.h>

#define OPTIONS_DEFAULT_DEPTH 64

enum { STOP_AUTO = 0, STOP_PTRACE = 1, STOP_SIGNAL = 2 };
enum { UNWIND_AUTO = 0, UNWIND_LIBUNWIND = 1 };

struct leakscope_options {
    char out_dir[PATH_MAX];    /* LEAKSCOPE_OUT: where dumps go */
    int depth;                 /* LEAKSCOPE_DEPTH: frames per stack, 1..256 */
    int signal;                /* LEAKSCOPE_SIGNAL: snapshot signal, 0 = none */
    char log_path[PATH_MAX];   /* LEAKSCOPE_LOG: summaries go here instead of stderr ("" = stderr) */
    int follow_exec;           /* LEAKSCOPE_FOLLOW_EXEC: keep LD_PRELOAD for exec'd programs */
    int quiet;                 /* LEAKSCOPE_QUIET: no notice on stderr at exit */
    int leak_check;            /* LEAKSCOPE_LEAK_CHECK: reachability scan with each dump (default 1) */
    int exitcode;              /* LEAKSCOPE_EXITCODE: exit status when leaks are found, 0 = unchanged */
    int scan_interval_ms;      /* LEAKSCOPE_SCAN_INTERVAL: periodic scans + dumps, 0 = none */
    char suppressions[PATH_MAX];   /* LEAKSCOPE_SUPPRESSIONS: a LeakSanitizer-style file, "" = none */
    int stop_method;           /* LEAKSCOPE_STOP: STOP_AUTO, STOP_PTRACE or STOP_SIGNAL */
    int fork_scan;             /* LEAKSCOPE_FORK_SCAN: scan a fork()ed copy while the program runs (default 1) */
    int interval_ms;           /* LEAKSCOPE_INTERVAL: sampling period (default 1000) */
    int stale_age_s;           /* LEAKSCOPE_STALE_AGE: seconds before a block at a site that frees nothing is stale */
    int scavenge_after_s;      /* LEAKSCOPE_SCAVENGE: malloc_trim once malloc held much free memory this long; 0 off */
    int scavenge_signal;       /* LEAKSCOPE_SCAVENGE_SIGNAL: malloc_trim on this signal (default USR2), 0 = none */
    int madv_dontneed;         /* LEAKSCOPE_MADV_DONTNEED: turn the program's MADV_FREE into MADV_DONTNEED */
    int crash_dumps;           /* LEAKSCOPE_CRASH_DUMP: a dump on SIGSEGV, SIGBUS, SIGABRT, SIGFPE (default 1) */
    int dump_interval_ms;      /* LEAKSCOPE_DUMP_INTERVAL: periodic dumps without a scan, 0 = none */
    int dump_keep;             /* LEAKSCOPE_DUMP_KEEP: how many of those to keep (default 3) */
    int unwind;                /* LEAKSCOPE_UNWIND: UNWIND_AUTO (frame pointers where kept) or UNWIND_LIBUNWIND */
    unsigned long long sample_period;  /* LEAKSCOPE_SAMPLE: mean bytes between sampled allocations, 0 = every one */
};

typedef void (*options_warn_fn)(const char *line, void *arg);

/* Fill *opt from the environment (getenv), reporting bad values through warn. */
void options_from_env(struct leakscope_options *opt, options_warn_fn warn, void *arg);

/* "USR1", "SIGUSR2", "RTMIN+3", "12", "0"/"none": the signal number, or -1. */
int options_parse_signal(const char *text);

/* "524288", "512K", "512KiB", "4M", "1G" (powers of 1024): a byte count from 0 to 2^40, or -1. */
long long options_parse_bytes(const char *text);

#endif
