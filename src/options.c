/*
 * options.c - LEAKSCOPE_* parsing and validation (see options.h).
 */
#define _GNU_SOURCE
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void warnf(options_warn_fn warn, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warnf(options_warn_fn warn, void *arg, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (warn)
        warn(line, arg);
}

static int parse_long(const char *text, long lo, long hi, long *out)
{
    char *end;

    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Seconds from lo to hi (or 0, when zero_means_off) as milliseconds in *ms; -1 when text is not that. */
static int parse_seconds(const char *text, double lo, double hi, int zero_means_off, int *ms)
{
    char *end;
    errno = 0;
    double secs = strtod(text, &end);
    if (errno || end == text || *end || !((zero_means_off && secs == 0) || (secs >= lo && secs <= hi)))
        return -1;
    *ms = (int)(secs * 1000 + 0.5);
    return 0;
}

static int parse_bool(const char *text)
{
    static const char *yes[] = { "1", "yes", "true", "on" };
    static const char *no[] = { "0", "no", "false", "off" };

    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return 1;
        if (strcasecmp(text, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int snapshot_signal_allowed(int sig)
{
    return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

int options_parse_signal(const char *text)
{
    long n;

    if (strcasecmp(text, "none") == 0 || strcmp(text, "0") == 0)
        return 0;
    if (parse_long(text, 1, 64, &n) == 0)
        return snapshot_signal_allowed((int)n) ? (int)n : -1;
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    if (strcasecmp(text, "USR1") == 0)
        return SIGUSR1;
    if (strcasecmp(text, "USR2") == 0)
        return SIGUSR2;
    if (strncasecmp(text, "RTMIN", 5) == 0 || strncasecmp(text, "RTMAX", 5) == 0) {
        int from_min = strncasecmp(text, "RTMIN", 5) == 0;
        const char *rest = text + 5;
        long offset = 0;
        if (*rest != '\0') {
            if ((from_min && *rest != '+') || (!from_min && *rest != '-'))
                return -1;
            if (parse_long(rest + 1, 0, 64, &offset) != 0)
                return -1;
        }
        int sig = from_min ? SIGRTMIN + (int)offset : SIGRTMAX - (int)offset;
        return snapshot_signal_allowed(sig) ? sig : -1;
    }
    return -1;
}

long long options_parse_bytes(const char *text)
{
    static const struct { const char *suffix; int shift; } units[] = {
        { "", 0 }, { "K", 10 }, { "KiB", 10 }, { "M", 20 }, { "MiB", 20 }, { "G", 30 }, { "GiB", 30 },
    };
    char *end;

    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcasecmp(end, units[i].suffix) != 0)
            continue;
        if (v > (1ull << 40) >> units[i].shift)
            return -1;
        return (long long)(v << units[i].shift);
    }
    return -1;
}

/* Every LEAKSCOPE_* name leakscope reads (LEAKSCOPE_LIB: the command's, to find the library). */
static const char *const known_names[] = {
    "OUT", "DEPTH", "SIGNAL", "LOG", "FOLLOW_EXEC", "LEAK_CHECK", "EXITCODE", "SCAN_INTERVAL", "SUPPRESSIONS",
    "STOP", "INTERVAL", "STALE_AGE", "SCAVENGE", "SCAVENGE_SIGNAL", "MADV_DONTNEED", "DUMP_INTERVAL",
    "DUMP_KEEP", "CRASH_DUMP", "FORK_SCAN", "QUIET", "SAMPLE", "UNWIND", "LIB",
};

/* A misspelt setting (LEAKSCOPE_DEPHT) would otherwise be silently ignored. */
static void warn_unknown_names(options_warn_fn warn, void *arg)
{
    extern char **environ;

    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "LEAKSCOPE_", 10) != 0)
            continue;
        const char *name = *e + 10, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name), i;
        for (i = 0; i < sizeof known_names / sizeof *known_names; i++)
            if (strlen(known_names[i]) == len && strncmp(known_names[i], name, len) == 0)
                break;
        if (i == sizeof known_names / sizeof *known_names)
            warnf(warn, arg, "LEAKSCOPE_%.*s is not a leakscope setting; ignored (the README's settings "
                  "table lists them)", (int)(len > 64 ? 64 : len), name);
    }
}

void options_from_env(struct leakscope_options *opt, options_warn_fn warn, void *arg)
{
    const char *v;
    long n;

    memset(opt, 0, sizeof *opt);
    opt->depth = OPTIONS_DEFAULT_DEPTH;
    opt->signal = SIGUSR1;
    opt->follow_exec = 1;
    opt->leak_check = 1;
    opt->fork_scan = 1;
    opt->interval_ms = 1000;
    opt->stale_age_s = 60;
    opt->scavenge_signal = SIGUSR2;
    opt->crash_dumps = 1;
    opt->dump_keep = 3;

    /* Relative to the directory the program started in, even if it changes directory later. */
    if (!getcwd(opt->out_dir, sizeof opt->out_dir - 64))
        strcpy(opt->out_dir, ".");
    if ((v = getenv("LEAKSCOPE_OUT")) && *v) {
        struct stat st;
        if (strlen(v) >= sizeof opt->out_dir - 64)
            warnf(warn, arg, "LEAKSCOPE_OUT is longer than %zu characters; dumps go to the current directory",
                  sizeof opt->out_dir - 64);
        else if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode))
            warnf(warn, arg, "LEAKSCOPE_OUT='%s' is not an existing directory; dumps go to the current directory", v);
        else if (access(v, W_OK | X_OK) != 0)
            warnf(warn, arg, "LEAKSCOPE_OUT='%s' is not writable; dumps go to the current directory", v);
        else if (v[0] == '/' || strcmp(opt->out_dir, ".") == 0)
            strcpy(opt->out_dir, v);
        else if (strlen(opt->out_dir) + strlen(v) + 2 < sizeof opt->out_dir - 64) {
            strcat(opt->out_dir, "/");
            strcat(opt->out_dir, v);
        }
    }
    if ((v = getenv("LEAKSCOPE_DEPTH")) && *v) {
        if (parse_long(v, 1, 256, &n) == 0)
            opt->depth = (int)n;
        else
            warnf(warn, arg, "LEAKSCOPE_DEPTH='%s' is not a whole number from 1 to 256; using %d", v,
                  OPTIONS_DEFAULT_DEPTH);
    }
    if ((v = getenv("LEAKSCOPE_SIGNAL")) && *v) {
        int sig = options_parse_signal(v);
        if (sig >= 0)
            opt->signal = sig;
        else
            warnf(warn, arg, "LEAKSCOPE_SIGNAL='%s' is not USR1, USR2, RTMIN+N, RTMAX-N, their number, "
                  "or 0 to disable; using USR1", v);
    }
    if ((v = getenv("LEAKSCOPE_LOG")) && *v) {
        if (strlen(v) >= sizeof opt->log_path - 32)
            warnf(warn, arg, "LEAKSCOPE_LOG is too long; summaries go to stderr");
        else
            strcpy(opt->log_path, v);
    }
    if ((v = getenv("LEAKSCOPE_FOLLOW_EXEC")) && *v) {
        int b = parse_bool(v);
        if (b >= 0)
            opt->follow_exec = b;
        else
            warnf(warn, arg, "LEAKSCOPE_FOLLOW_EXEC='%s' is not 0 or 1 (no/yes, off/on); using 1", v);
    }
    if ((v = getenv("LEAKSCOPE_LEAK_CHECK")) && *v) {
        int b = parse_bool(v);
        if (b >= 0)
            opt->leak_check = b;
        else
            warnf(warn, arg, "LEAKSCOPE_LEAK_CHECK='%s' is not 0 or 1 (no/yes, off/on); using 1", v);
    }
    if ((v = getenv("LEAKSCOPE_EXITCODE")) && *v) {
        if (parse_long(v, 0, 255, &n) == 0)
            opt->exitcode = (int)n;
        else
            warnf(warn, arg, "LEAKSCOPE_EXITCODE='%s' is not a whole number from 0 to 255; the exit status "
                  "stays the program's", v);
    }
    if ((v = getenv("LEAKSCOPE_SCAN_INTERVAL")) && *v &&
        parse_seconds(v, 0.01, 86400, 1, &opt->scan_interval_ms) != 0)
        warnf(warn, arg, "LEAKSCOPE_SCAN_INTERVAL='%s' is not a number of seconds from 0.01 to 86400 "
              "(0 = off); periodic scans are off", v);
    if ((v = getenv("LEAKSCOPE_SUPPRESSIONS")) && *v) {
        if (strlen(v) >= sizeof opt->suppressions)
            warnf(warn, arg, "LEAKSCOPE_SUPPRESSIONS is too long; no suppressions");
        else if (access(v, R_OK) != 0)
            warnf(warn, arg, "LEAKSCOPE_SUPPRESSIONS='%s' cannot be read (%s); no suppressions", v,
                  strerror(errno));
        else
            strcpy(opt->suppressions, v);
    }
    if ((v = getenv("LEAKSCOPE_STOP")) && *v) {
        if (strcmp(v, "auto") == 0)
            opt->stop_method = STOP_AUTO;
        else if (strcmp(v, "ptrace") == 0)
            opt->stop_method = STOP_PTRACE;
        else if (strcmp(v, "signal") == 0)
            opt->stop_method = STOP_SIGNAL;
        else
            warnf(warn, arg, "LEAKSCOPE_STOP='%s' is not auto, ptrace or signal; using auto", v);
    }
    if ((v = getenv("LEAKSCOPE_INTERVAL")) && *v && parse_seconds(v, 0.001, 3600, 0, &opt->interval_ms) != 0)
        warnf(warn, arg, "LEAKSCOPE_INTERVAL='%s' is not a number of seconds from 0.001 to 3600; using 1", v);
    if ((v = getenv("LEAKSCOPE_STALE_AGE")) && *v) {
        if (parse_long(v, 1, 86400 * 365, &n) == 0)
            opt->stale_age_s = (int)n;
        else
            warnf(warn, arg, "LEAKSCOPE_STALE_AGE='%s' is not a whole number of seconds from 1; using 60", v);
    }
    if ((v = getenv("LEAKSCOPE_SCAVENGE")) && *v) {
        if (parse_long(v, 0, 86400, &n) == 0)
            opt->scavenge_after_s = (int)n;
        else
            warnf(warn, arg, "LEAKSCOPE_SCAVENGE='%s' is not a whole number of seconds from 0 to 86400; "
                  "automatic scavenging is off", v);
    }
    if ((v = getenv("LEAKSCOPE_SCAVENGE_SIGNAL")) && *v) {
        int sig = options_parse_signal(v);
        if (sig >= 0 && sig != opt->signal)
            opt->scavenge_signal = sig;
        else
            warnf(warn, arg, "LEAKSCOPE_SCAVENGE_SIGNAL='%s' is not USR1, USR2, RTMIN+N, RTMAX-N, their number, "
                  "or 0, different from LEAKSCOPE_SIGNAL; using USR2", v);
    }
    if (opt->scavenge_signal == opt->signal && opt->signal != 0)
        opt->scavenge_signal = opt->signal == SIGUSR2 ? SIGUSR1 : SIGUSR2;
    if ((v = getenv("LEAKSCOPE_MADV_DONTNEED")) && *v) {
        int b = parse_bool(v);
        if (b >= 0)
            opt->madv_dontneed = b;
        else
            warnf(warn, arg, "LEAKSCOPE_MADV_DONTNEED='%s' is not 0 or 1 (no/yes, off/on); using 0", v);
    }
    if ((v = getenv("LEAKSCOPE_DUMP_INTERVAL")) && *v &&
        parse_seconds(v, 0.01, 86400, 1, &opt->dump_interval_ms) != 0)
        warnf(warn, arg, "LEAKSCOPE_DUMP_INTERVAL='%s' is not a number of seconds from 0.01 to 86400 "
              "(0 = off); periodic dumps are off", v);
    if ((v = getenv("LEAKSCOPE_DUMP_KEEP")) && *v) {
        if (parse_long(v, 1, 1000, &n) == 0)
            opt->dump_keep = (int)n;
        else
            warnf(warn, arg, "LEAKSCOPE_DUMP_KEEP='%s' is not a whole number from 1 to 1000; using 3", v);
    }
    if ((v = getenv("LEAKSCOPE_CRASH_DUMP")) && *v) {
        int b = parse_bool(v);
        if (b >= 0)
            opt->crash_dumps = b;
        else
            warnf(warn, arg, "LEAKSCOPE_CRASH_DUMP='%s' is not 0 or 1 (no/yes, off/on); using 1", v);
    }
    if ((v = getenv("LEAKSCOPE_FORK_SCAN")) && *v) {
        int b = parse_bool(v);
        if (b >= 0)
            opt->fork_scan = b;
        else
            warnf(warn, arg, "LEAKSCOPE_FORK_SCAN='%s' is not 0 or 1 (no/yes, off/on); using 1", v);
    }
    if ((v = getenv("LEAKSCOPE_UNWIND")) && *v) {
        if (strcasecmp(v, "auto") == 0)
            opt->unwind = UNWIND_AUTO;
        else if (strcasecmp(v, "libunwind") == 0)
            opt->unwind = UNWIND_LIBUNWIND;
        else
            warnf(warn, arg, "LEAKSCOPE_UNWIND='%s' is not auto or libunwind; using auto", v);
    }
    if ((v = getenv("LEAKSCOPE_SAMPLE")) && *v) {
        long long bytes = options_parse_bytes(v);
        if (bytes >= 0)
            opt->sample_period = (unsigned long long)bytes;
        else
            warnf(warn, arg, "LEAKSCOPE_SAMPLE='%s' is not a number of bytes from 0 to 1024G (512K, 4M: "
                  "powers of 1024); tracking every allocation", v);
    }
    if (opt->sample_period && opt->leak_check) {
        /* Unsampled blocks are not in the live table, so the scan could not follow pointers through them. */
        if ((v = getenv("LEAKSCOPE_LEAK_CHECK")) && *v && parse_bool(v) == 1)
            warnf(warn, arg, "LEAKSCOPE_LEAK_CHECK=1 needs every allocation, and LEAKSCOPE_SAMPLE tracks only "
                  "some; the leak check is off (unset LEAKSCOPE_SAMPLE to find leaks)");
        opt->leak_check = 0;
    }
    if ((v = getenv("LEAKSCOPE_QUIET")) && *v) {
        int b = parse_bool(v);
        if (b >= 0)
            opt->quiet = b;
        else
            warnf(warn, arg, "LEAKSCOPE_QUIET='%s' is not 0 or 1 (no/yes, off/on); using 0", v);
    }
    warn_unknown_names(warn, arg);
}
