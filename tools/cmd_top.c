/*
 * cmd_top.c - `leakscope top PID`: follow a process running under
 * libleakscope.so live.  Each interval it asks for a snapshot (the
 * process's snapshot signal), waits for the dump, and shows why RSS is what
 * it is, what grows, and the top sites.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "dump_read.h"
#include "options.h"
#include "rssreport.h"
#include "symbolize.h"
#include "util.h"

static const char help_text[] =
    "usage: leakscope top [OPTIONS] PID\n"
    "\n"
    "Follow a process running under libleakscope.so: every interval, ask it for a\n"
    "snapshot (its LEAKSCOPE_SIGNAL, USR1 by default), wait for the dump, and show why\n"
    "its RSS is what it is, which sites keep growing, and the top sites by live bytes.\n"
    "The dumps are written where the process writes them (its LEAKSCOPE_OUT, else its\n"
    "working directory) and kept.\n"
    "\n"
    "options:\n"
    "  --interval SECONDS  time between snapshots (default 2)\n"
    "  --count N           stop after N snapshots (default: until the process exits)\n"
    "  --dir DIR           where the process's dumps are, if not found from its environment\n"
    "  --help              this text\n";

/* NAME=VALUE from /proc/PID/environ into out; 0 if found. */
static int environ_value(pid_t pid, const char *name, char *out, size_t len)
{
    char path[64], buf[65536];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n, klen = strlen(name);

    if (!f)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t at = 0; at < n; at += strlen(buf + at) + 1)
        if (strncmp(buf + at, name, klen) == 0 && buf[at + klen] == '=') {
            snprintf(out, len, "%s", buf + at + klen + 1);
            return 0;
        }
    return -1;
}

static int traced(pid_t pid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    int found = 0;

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "libleakscope.so") != NULL;
    fclose(f);
    return found;
}

static void show(const char *path, pid_t pid, int clear)
{
    struct ls_dump *d;
    char err[512], name[512], b[32], c[32];

    if (dump_read(path, &d, err, sizeof err) != 0) {
        fprintf(stderr, "leakscope top: %s\n", err);
        return;
    }
    struct symbolizer *sym = symbolizer_open(d);
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%H:%M:%S", localtime(&now));
    if (clear)
        fputs("\033[H\033[2J", stdout);
    printf("leakscope top: pid %d (%s), %s, dump %s\n", (int)pid, dump_meta(d, "exe") ? dump_meta(d, "exe") : "?",
           when, path);
    if (dump_sample_period(d)) {
        char period[32];
        printf("sampled: one allocation per %s on average; figures are estimates\n",
               format_bytes(dump_sample_period(d), period, sizeof period));
    }
    putchar('\n');
    if (sym)
        rss_report_text(stdout, d, sym);
    printf("top sites by live bytes:\n");
    const struct ls_site *top[5] = { 0 };
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        if (s->kind > 1 || s->inuse_space <= 0)
            continue;
        for (int k = 0; k < 5; k++)
            if (!top[k] || s->inuse_space > top[k]->inuse_space) {
                memmove(&top[k + 1], &top[k], (size_t)(4 - k) * sizeof top[0]);
                top[k] = s;
                break;
            }
    }
    for (int k = 0; k < 5 && top[k] && sym; k++) {
        site_label(d, sym, top[k]->id, name, sizeof name);
        printf("  %10s in %8s %s  %s\n", format_bytes((uint64_t)top[k]->inuse_space, b, sizeof b),
               format_count((uint64_t)top[k]->inuse_objects, c, sizeof c), top[k]->kind ? "regions" : "blocks ",
               name);
    }
    fflush(stdout);
    symbolizer_close(sym);
    dump_free(d);
}

int cmd_top(int argc, char **argv)
{
    double interval = 2;
    long count = 0;
    const char *dir_opt = NULL;
    pid_t pid = 0;
    char dir[PATH_MAX], value[PATH_MAX], path[PATH_MAX + 300];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            return 0;
        } else if (strcmp(a, "--interval") == 0) {
            if (!v || (interval = strtod(v, &end), end == v || *end || interval < 0.05 || interval > 86400))
                return usage_error("top", "--interval '%s' is not a number of seconds from 0.05", v ? v : "");
            i++;
        } else if (strcmp(a, "--count") == 0) {
            if (!v || (count = strtol(v, &end, 10), end == v || *end || count < 0))
                return usage_error("top", "--count '%s' is not a whole number", v ? v : "");
            i++;
        } else if (strcmp(a, "--dir") == 0) {
            if (!v)
                return usage_error("top", "--dir needs a directory");
            dir_opt = v;
            i++;
        } else if (a[0] == '-') {
            return usage_error("top", "unknown option '%s'", a);
        } else {
            char *end2;
            long p = strtol(a, &end2, 10);
            if (end2 == a || *end2 || p <= 0)
                return usage_error("top", "'%s' is not a process id", a);
            pid = (pid_t)p;
        }
    }
    if (!pid)
        return usage_error("top", "no process id given");
    if (kill(pid, 0) != 0)
        return usage_error("top", "no process %d (%s)", (int)pid, strerror(errno));
    if (!traced(pid))
        return usage_error("top", "process %d is not running under leakscope (start it with LD_PRELOAD=.../"
                           "libleakscope.so or leakscope run)", (int)pid);
    int sig = SIGUSR1;
    if (environ_value(pid, "LEAKSCOPE_SIGNAL", value, sizeof value) == 0 && (sig = options_parse_signal(value)) <= 0)
        return usage_error("top", "process %d takes no snapshots (LEAKSCOPE_SIGNAL=%s)", (int)pid, value);
    if (dir_opt) {
        snprintf(dir, sizeof dir, "%s", dir_opt);
    } else if (environ_value(pid, "LEAKSCOPE_OUT", value, sizeof value) == 0 && value[0] == '/') {
        snprintf(dir, sizeof dir, "%s", value);
    } else {
        char cwd_link[64];
        snprintf(cwd_link, sizeof cwd_link, "/proc/%d/cwd", (int)pid);
        ssize_t n = readlink(cwd_link, dir, sizeof dir - 1);
        if (n <= 0)
            return usage_error("top", "cannot find where process %d writes its dumps; give --dir", (int)pid);
        dir[n] = '\0';
        if (environ_value(pid, "LEAKSCOPE_OUT", value, sizeof value) == 0 && value[0])
            snprintf(dir + n, sizeof dir - (size_t)n, "/%s", value);
    }
    int clear = isatty(1);
    for (long shown = 0; count == 0 || shown < count; shown++) {
        long before = newest_dump(dir, pid, 0, path, sizeof path, NULL);
        if (kill(pid, sig) != 0) {
            fprintf(stderr, "leakscope top: process %d is gone\n", (int)pid);
            return shown ? 0 : 2;
        }
        long seq = before;
        for (int waited = 0; seq <= before && waited < 6000; waited++) {
            struct timespec ts = { 0, 10000000 };
            nanosleep(&ts, NULL);
            seq = newest_dump(dir, pid, 0, path, sizeof path, NULL);
            if (kill(pid, 0) != 0)
                break;
        }
        if (seq <= before) {
            fprintf(stderr, "leakscope top: no new dump from process %d in %s; give --dir if it writes elsewhere\n",
                    (int)pid, dir);
            return 2;
        }
        show(path, pid, clear);
        if (count == 0 || shown + 1 < count) {
            struct timespec ts = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}
