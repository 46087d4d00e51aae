/*
 * sysmon.c - the background thread, the snapshot signal, and the summaries
 * printed in the process (see sysmon.h).
 *
 * Summaries name functions with dladdr: that is cheap and needs no debug
 * info, but sees only exported symbols.  Full symbolization (static
 * functions, file:line, inlined frames) is the tool's job, from the dump.
 */
#define _GNU_SOURCE
#include "sysmon.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "sites.h"
#include "util.h"
#include "timeline.h"
#include "world.h"

#define SUMMARY_TOP 5
#define SUMMARY_FRAMES 3

static sem_t wake;
static sem_t started;          /* posted once the thread has said who it is */
static volatile sig_atomic_t pending_signal, pending_scavenge;
static int thread_started, thread_known;

void sysmon_log(const char *fmt, ...)
{
    char line[1024];
    const char *log_path = engine_options()->log_path;
    int n = snprintf(line, sizeof line, "leakscope[%d]: ", (int)getpid());
    va_list ap;

    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';

    int fd = 2, opened = 0;
    if (log_path[0]) {
        fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        opened = fd >= 0;
        if (!opened)
            fd = 2;
    }
    while (write(fd, line, (size_t)n) < 0 && errno == EINTR)
        ;
    if (opened)
        close(fd);
}

/* "make_widgets" or "app+0x1149" for a return address. */
static void frame_name(uintptr_t pc, char *buf, size_t len)
{
    Dl_info info;

    if (dladdr((void *)(pc - 1), &info) && info.dli_sname) {
        snprintf(buf, len, "%s", info.dli_sname);
    } else if (info.dli_fname) {
        const char *base = strrchr(info.dli_fname, '/');
        snprintf(buf, len, "%s+0x%lx", base ? base + 1 : info.dli_fname,
                 (unsigned long)(pc - (uintptr_t)info.dli_fbase));
    } else {
        snprintf(buf, len, "0x%lx", (unsigned long)pc);
    }
}

/* A site's heap in use, as it was when a summary's snapshot was taken. */
struct top_site {
    const struct site *site;
    int64_t bytes, objects;
};

/* The SUMMARY_TOP sites holding the most heap now, largest first; how many. */
static int collect_top_sites(struct top_site top[SUMMARY_TOP])
{
    uint32_t n = site_count();
    int count = 0;

    for (uint32_t id = 0; id < n; id++) {
        struct site *s = site_by_id(id);
        int64_t bytes = s && site_kind(s) == SITE_HEAP ? atomic_load(&s->inuse_space) : 0;
        if (bytes <= 0)
            continue;
        for (int i = 0; i < SUMMARY_TOP; i++) {
            if (i == count || bytes > top[i].bytes) {
                memmove(&top[i + 1], &top[i], (size_t)(SUMMARY_TOP - i - 1) * sizeof top[0]);
                top[i] = (struct top_site){ s, bytes, atomic_load(&s->inuse_objects) };
                if (count < SUMMARY_TOP)
                    count++;
                break;
            }
        }
    }
    return count;
}

static void print_top_sites(const struct top_site *top, int count)
{
    if (count == 0)
        return;
    sysmon_log("  top sites by inuse_space:");
    for (int i = 0; i < count; i++) {
        char frames[512] = "", name[160], b[32], c[32];
        size_t used = 0;
        for (int f = 0; f < top[i].site->depth && f < SUMMARY_FRAMES; f++) {
            frame_name(top[i].site->pcs[f], name, sizeof name);
            used += (size_t)snprintf(frames + used, sizeof frames - used, "%s%s",
                                     f ? " <- " : "", name);
            if (used >= sizeof frames)
                break;
        }
        sysmon_log("    %10s in %s blocks  %s", format_bytes((uint64_t)top[i].bytes, b, sizeof b),
                   format_count((uint64_t)top[i].objects, c, sizeof c), frames);
    }
}

static void frames_of(const struct site *s, char *out, size_t len)
{
    char name[160];
    size_t used = 0;

    out[0] = '\0';
    for (int f = 0; s && f < s->depth && f < SUMMARY_FRAMES && used < len; f++) {
        frame_name(s->pcs[f], name, sizeof name);
        used += (size_t)snprintf(out + used, len - used, "%s%s", f ? " <- " : "", name);
    }
    if (!s || s->depth == 0)
        snprintf(out, len, "(no stack)");
}

/* The leak verdict of a scan, in two or three lines. */
static void print_leaks(const char *when, const struct dump_result *r)
{
    const struct leak_totals *l = &r->leaks;
    char b[5][32], c[5][32], frames[512];

    if (!r->scanned) {
        static int said;
        if (r->scan_skipped && !said++)
            sysmon_log("leak check %s skipped: %s", when, r->scan_skipped);
        return;
    }
    format_count(l->bytes[BLOCK_DIRECT], b[0], sizeof b[0]);
    format_count(l->blocks[BLOCK_DIRECT], c[0], sizeof c[0]);
    format_count(l->bytes[BLOCK_INDIRECT], b[1], sizeof b[1]);
    format_count(l->blocks[BLOCK_INDIRECT], c[1], sizeof c[1]);
    format_count(l->bytes[BLOCK_POSSIBLY], b[2], sizeof b[2]);
    format_count(l->blocks[BLOCK_POSSIBLY], c[2], sizeof c[2]);
    format_count(l->bytes[BLOCK_REACHABLE], b[3], sizeof b[3]);
    format_count(l->blocks[BLOCK_REACHABLE], c[3], sizeof c[3]);
    format_count(l->suppressed_bytes, b[4], sizeof b[4]);
    format_count(l->suppressed_blocks, c[4], sizeof c[4]);
    sysmon_log("leak check %s: %s bytes in %s blocks directly leaked, %s bytes in %s blocks indirectly "
               "leaked, %s bytes in %s blocks possibly lost (only interior pointers reach them), %s bytes in "
               "%s blocks still reachable, %s bytes in %s blocks suppressed", when, b[0], c[0], b[1], c[1],
               b[2], c[2], b[3], c[3], b[4], c[4]);
    if (l->top_bytes > 0) {
        frames_of(site_by_id(l->top_site), frames, sizeof frames);
        sysmon_log("  largest leak: %s bytes in %s blocks allocated from %s",
                   format_count(l->top_bytes, b[0], sizeof b[0]), format_count(l->top_blocks, c[0], sizeof c[0]),
                   frames);
    }
    if (r->scan.unresponsive)
        sysmon_log("  %zu of %zu threads did not stop for the scan (signal %d blocked?): their stacks were "
                   "scanned from where they wait in the kernel, their registers could not be%s",
                   r->scan.unresponsive, r->scan.threads, r->scan.signal,
                   r->scan.unresponsive_no_stack ? "; some were running and could not be scanned at all" : "");
    sysmon_log("  details: leakscope report --leaks %s", r->path);
}

static int leaks_found(const struct dump_result *r)
{
    return r->scanned && (r->leaks.blocks[BLOCK_DIRECT] + r->leaks.blocks[BLOCK_INDIRECT]) > 0;
}

/* The decomposition and verdict, as the summary's opening lines: each part, its share, its top site. */
static void print_rss(const struct dump_result *r)
{
    const struct insight *in = &r->insight;
    const struct rss_breakdown *p = &in->parts;
    char rss_text[8192], b[2][32], name[160];
    const char *verdict;

    insight_text(in, rss_text, sizeof rss_text);
    verdict = strstr(rss_text, "verdict=");
    if (verdict) {
        verdict += 8;
        char *nl = strchr(verdict, '\n');
        if (nl)
            *nl = '\0';
        sysmon_log("%s", verdict);
    }
    struct { const char *label; int64_t bytes; int64_t site; } parts[] = {
        { "live, reachable", p->live_reachable, -1 },
        { "live, growing", p->live_growing, in->ngrowing ? (int64_t)in->growing[0].site : -1 },
        { "live, stale", p->live_stale, in->nstale ? (int64_t)in->stale[0].site : -1 },
        { "leaked", p->leaked, in->top_leak_site },
        { "retained by malloc", p->allocator_retained, -1 },
        { "lazily freed", p->lazy_free, -1 },
        { "mapped by the program", p->program_mmap, in->top_mapped_site },
        { "leakscope itself", p->leakscope, -1 },
        { "other", p->other, -1 },
    };
    sysmon_log("  why RSS is %s:", format_bytes((uint64_t)p->rss, b[0], sizeof b[0]));
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        name[0] = '\0';
        if (parts[i].site >= 0 && parts[i].bytes > 0) {
            char site[140];
            insight_site_name((uint32_t)parts[i].site, site, sizeof site);
            snprintf(name, sizeof name, "  (mostly %s)", site);
        }
        sysmon_log("    %-22s %10s %5.1f%%%s", parts[i].label, format_bytes((uint64_t)parts[i].bytes, b[1], sizeof b[1]),
                   p->rss > 0 ? 100.0 * (double)parts[i].bytes / (double)p->rss : 0.0, name);
    }
    for (int i = 0; i < in->ngrowing && i < 3; i++) {
        insight_site_name(in->growing[i].site, name, sizeof name);
        sysmon_log("  growing: %s at %s/s, %s now", name, format_bytes((uint64_t)in->growing[i].rate, b[0], 32),
                   format_bytes((uint64_t)in->growing[i].bytes, b[1], 32));
    }
}

/* Held by a snapshot from its dump to its last line, and by the exit dump: a program that exits while
   a snapshot is being reported waits for the report instead of cutting it short. */
static pthread_mutex_t report_mutex = PTHREAD_MUTEX_INITIALIZER;
static void report_snapshot(int sig);
static void final_dump(void);

static void snapshot(int sig)
{
    pthread_mutex_lock(&report_mutex);
    report_snapshot(sig);
    pthread_mutex_unlock(&report_mutex);
}

static void report_snapshot(int sig)
{
    static struct dump_result r;
    char b1[32], b2[32], b3[32], c1[32], c2[32];
    struct engine_totals t;
    struct top_site top[SUMMARY_TOP];

    /* The summary's figures are read with the dump's, not after: once the dump file exists, whoever
       waited for it may let the program free what it held. */
    engine_totals(&t);
    int ntop = collect_top_sites(top);
    if (engine_write_dump(DUMP_REASON_SIGNAL, sig, &r) != 0) {
        sysmon_log("snapshot on signal %d not written: %s", sig, r.path);
        return;
    }
    sysmon_log("snapshot on signal %d -> %s", sig, r.path);
    print_rss(&r);
    sysmon_log("  heap in use: %s in %s blocks at %u sites (%s in %s blocks allocated so far); "
               "mapped by the program: %s in %llu regions",
               format_bytes(t.inuse_space, b1, sizeof b1), format_count(t.inuse_objects, c1, sizeof c1),
               t.sites, format_bytes(t.alloc_space, b2, sizeof b2),
               format_count(t.alloc_objects, c2, sizeof c2), format_bytes(t.mapped_bytes, b3, sizeof b3),
               (unsigned long long)t.mapped_regions);
    print_top_sites(top, ntop);
    print_leaks("now", &r);
}

static void scavenge(const char *why)
{
    static struct dump_result r;
    int64_t before, after;
    char b1[32], b2[32], b3[32];

    engine_scavenge(&before, &after);
    sysmon_log("scavenged (%s): malloc_trim(0) took RSS from %s to %s, returning %s", why,
               format_bytes((uint64_t)(before > 0 ? before : 0), b1, sizeof b1),
               format_bytes((uint64_t)(after > 0 ? after : 0), b2, sizeof b2),
               format_bytes((uint64_t)(before > after ? before - after : 0), b3, sizeof b3));
    if (engine_write_dump(DUMP_REASON_SCAVENGE, 0, &r) == 0)
        sysmon_log("  dump %s", r.path);
}

static void periodic_scan(void)
{
    static struct dump_result r;
    static unsigned count;
    char b[32], c[32];

    count++;
    if (engine_write_dump(DUMP_REASON_PERIODIC, 0, &r) != 0) {
        sysmon_log("periodic dump %u not written: %s", count, r.path);
        return;
    }
    if (r.scanned)
        sysmon_log("periodic scan %u -> %s: %s bytes in %s blocks leaked (direct and indirect)", count, r.path,
                   format_count(r.leaks.bytes[BLOCK_DIRECT] + r.leaks.bytes[BLOCK_INDIRECT], b, sizeof b),
                   format_count(r.leaks.blocks[BLOCK_DIRECT] + r.leaks.blocks[BLOCK_INDIRECT], c, sizeof c));
}

/* LEAKSCOPE_DUMP_INTERVAL: a dump without a scan, keeping the last LEAKSCOPE_DUMP_KEEP of them. */
static void interval_dump(void)
{
    static struct dump_result r;
    static char kept[1000][PATH_MAX + 128];
    static int nkept, oldest;
    int keep = engine_options()->dump_keep;

    static int failing;

    /* A full disk fails every interval: say so once, and again when dumps are written again. */
    if (engine_write_dump(DUMP_REASON_INTERVAL, 0, &r) != 0) {
        if (!failing++)
            sysmon_log("periodic dumps not written: %s; the older ones are kept", r.path);
        return;
    }
    if (failing) {
        sysmon_log("periodic dumps written again after %d failures: %s", failing, r.path);
        failing = 0;
    }
    if (nkept == keep) {
        unlink(kept[oldest]);
        snprintf(kept[oldest], sizeof kept[oldest], "%s", r.path);
        oldest = (oldest + 1) % keep;
    } else {
        snprintf(kept[nkept++], sizeof kept[0], "%s", r.path);
    }
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Automatic scavenging (LEAKSCOPE_SCAVENGE): when malloc has held at least
 * 64 MiB of freed memory, a quarter of RSS or more, for that many seconds.
 */
static void consider_scavenging(const struct process_sample *s, int64_t now)
{
    static int64_t holding_since = -1;
    int after_s = engine_options()->scavenge_after_s;

    if (after_s <= 0)
        return;
    if (s->fordblks >= 64LL << 20 && s->rss > 0 && s->fordblks * 4 >= s->rss) {
        if (holding_since < 0)
            holding_since = now;
        else if (now - holding_since >= (int64_t)after_s * 1000000000) {
            scavenge("malloc held its free memory too long");
            holding_since = -1;
        }
    } else {
        holding_since = -1;
    }
}

static void *sysmon_main(void *arg)
{
    sigset_t all;
    const struct leakscope_options *opt = engine_options();
    int64_t interval = (int64_t)opt->interval_ms * 1000000, scan_interval = (int64_t)opt->scan_interval_ms * 1000000;
    int64_t dump_interval = (int64_t)opt->dump_interval_ms * 1000000;
    int64_t next_sample, next_scan, next_dump;

    (void)arg;
    engine_guard = 1;                 /* nothing this thread allocates is the program's */
    pthread_setname_np(pthread_self(), "leakscope");
    engine_set_service_thread(world_gettid());
    sem_post(&started);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    next_sample = monotonic_ns();
    next_scan = scan_interval > 0 ? next_sample + scan_interval : INT64_MAX;
    next_dump = dump_interval > 0 ? next_sample + dump_interval : INT64_MAX;
    for (;;) {
        int64_t now = monotonic_ns(), wake_at = next_sample < next_scan ? next_sample : next_scan;
        if (next_dump < wake_at)
            wake_at = next_dump;
        if (wake_at > now) {
            struct timespec ts = { wake_at / 1000000000, wake_at % 1000000000 };
            sem_clockwait(&wake, CLOCK_MONOTONIC, &ts);     /* a signal, or the time */
            now = monotonic_ns();
        }
        int sig = pending_signal;
        pending_signal = 0;
        if (sig)
            snapshot(sig);
        if (pending_scavenge) {
            pending_scavenge = 0;
            scavenge("on signal");
        }
        if (now >= next_sample) {
            struct process_sample sample;
            engine_sample(&sample);
            consider_scavenging(&sample, now);
            next_sample += interval;
            if (next_sample <= now)
                next_sample = now + interval;         /* a slow tick: do not try to catch up */
        }
        if (now >= next_scan) {
            periodic_scan();
            next_scan = monotonic_ns() + scan_interval;
        }
        if (now >= next_dump) {
            interval_dump();
            next_dump = monotonic_ns() + dump_interval;
        }
    }
    return NULL;
}

static void on_snapshot_signal(int sig)
{
    int saved = errno;

    pending_signal = sig;
    sem_post(&wake);
    errno = saved;
}

static void on_scavenge_signal(int sig)
{
    int saved = errno;

    (void)sig;
    pending_scavenge = 1;
    sem_post(&wake);
    errno = saved;
}

static void handle(int sig, void (*handler)(int), const char *what)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        sysmon_log("cannot handle signal %d (%s); %s on signal are off", sig, strerror(errno), what);
}

/*
 * The program goes on at once: waiting for a new thread to be scheduled cost
 * every process 0.3-1 ms at start.  The thread names itself and says its tid;
 * only a scan from another thread (the exit dump's) needs that, and waits for it.
 */
static int start_thread(void)
{
    pthread_t tid;

    sem_init(&started, 0, 0);
    thread_known = 0;
    int rc = service_thread_start(&tid, 256 * 1024, sysmon_main, NULL);
    if (rc != 0)
        return -rc;
    thread_started = 1;
    return 0;
}

/* Before a scan from another thread: a scan must never try to stop leakscope's own thread. */
static void await_thread_known(void)
{
    if (!thread_started || thread_known)
        return;
    while (sem_wait(&started) != 0)
        ;
    thread_known = 1;
}

static int snapshot_signal, scavenge_signal;

int sysmon_snapshot_signal(void)
{
    return snapshot_signal;
}

/* A real-time signal nobody handles, not one of ours, from the top down (below the scan's); 0 if none. */
static int free_realtime_signal(void)
{
    for (int sig = SIGRTMAX - 8; sig >= SIGRTMIN + 4; sig--) {
        struct sigaction old;
        if (sig == snapshot_signal || sig == scavenge_signal || world_owns_signal(sig))
            continue;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO))
            return sig;
    }
    return 0;
}

/* ---- fatal signals: a post-mortem dump, then the death the program would have had ---- */

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE };
static volatile int crash_handled[sizeof crash_signals / sizeof *crash_signals];
static int crashing;

static void on_crash(int sig, siginfo_t *info, void *context)
{
    static struct dump_result r;
    int saved = errno;

    (void)context;
    /* SA_RESETHAND made the action the default again: a fault while dumping just ends the process. */
    if (engine_guard == 0 && __atomic_exchange_n(&crashing, 1, __ATOMIC_ACQ_REL) == 0) {
        engine_guard = 1;
        if (engine_write_dump(DUMP_REASON_CRASH, sig, &r) == 0)
            sysmon_log("fatal signal %d: post-mortem dump %s", sig, r.path);
        else
            sysmon_log("fatal signal %d: no post-mortem dump (%s)", sig, r.path);
    }
    errno = saved;
    /* Sent by kill, raise or abort: send it again, now with the default action.  A fault (SEGV, BUS,
       FPE from an instruction) recurs by itself when the instruction runs again. */
    if (info->si_code <= 0)
        raise(sig);
}

static void install_crash_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof crash_signals / sizeof *crash_signals; i++) {
        struct sigaction old;
        if (sigaction(crash_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO) &&
            sigaction(crash_signals[i], &sa, NULL) == 0)
            crash_handled[i] = 1;
    }
}

void sysmon_program_takes_signal(int sig)
{
    if (sig <= 0)
        return;
    for (size_t i = 0; i < sizeof crash_signals / sizeof *crash_signals; i++)
        if (crash_signals[i] == sig)
            crash_handled[i] = 0;         /* the program's own handler decides what a fault means */
    world_program_takes_signal(sig);
    if (sig == snapshot_signal) {
        int moved = free_realtime_signal();
        snapshot_signal = moved;
        if (moved) {
            handle(moved, on_snapshot_signal, "snapshots");
            sysmon_log("the program handles signal %d itself: leakscope's snapshots are now on signal %d "
                       "(kill -%d %d)", sig, moved, moved, (int)getpid());
        } else {
            sysmon_log("the program handles signal %d itself and no real-time signal is free: snapshots on "
                       "signal are off", sig);
        }
    }
    if (sig == scavenge_signal) {
        int moved = free_realtime_signal();
        scavenge_signal = moved;
        if (moved) {
            handle(moved, on_scavenge_signal, "scavenges");
            sysmon_log("the program handles signal %d itself: leakscope's scavenging is now on signal %d", sig, moved);
        } else {
            sysmon_log("the program handles signal %d itself: scavenging on signal is off", sig);
        }
    }
}

int sysmon_start(void)
{
    int sig = engine_options()->signal;

    sem_init(&wake, 0, 0);
    if (engine_options()->crash_dumps)
        install_crash_handlers();
    snapshot_signal = sig > 0 ? sig : 0;
    scavenge_signal = engine_options()->scavenge_signal > 0 ? engine_options()->scavenge_signal : 0;
    if (snapshot_signal)
        handle(snapshot_signal, on_snapshot_signal, "snapshots");
    if (scavenge_signal)
        handle(scavenge_signal, on_scavenge_signal, "scavenges");
    int rc = start_thread();
    if (rc != 0)
        sysmon_log("cannot start the background thread (%s); only the exit dump will be written",
                   strerror(-rc));
    return rc;
}

void sysmon_restart_in_child(void)
{
    if (thread_started)
        start_thread();
}

void sysmon_fork_child(void)
{
    /* The parent's thread may not have said its tid yet, and the child has no such thread to wait
       for (the one it starts later re-arms the wait): its exit dump must not wait on the copy. */
    thread_known = 1;
    pthread_mutex_init(&report_mutex, NULL);    /* the background thread may have held it at the fork */
}

void sysmon_final_dump(void)
{
    await_thread_known();
    pthread_mutex_lock(&report_mutex);
    final_dump();
    pthread_mutex_unlock(&report_mutex);
}

static void final_dump(void)
{
    static struct dump_result r;
    char b[32], c[32], d[32];
    struct engine_totals t;
    const struct leakscope_options *opt = engine_options();

    if (engine_write_dump(DUMP_REASON_EXIT, 0, &r) != 0) {
        sysmon_log("exit dump not written: %s", r.path);
        return;
    }
    if (!opt->quiet) {
        engine_totals(&t);
        char sampled[64] = "";
        if (opt->sample_period)
            snprintf(sampled, sizeof sampled, " (estimated: one allocation sampled per %s)",
                     format_bytes(opt->sample_period, d, sizeof d));
        sysmon_log("exit dump %s: %s in %s blocks still allocated at %u sites%s", r.path,
                   format_bytes(t.inuse_space, b, sizeof b), format_count(t.inuse_objects, c, sizeof c), t.sites,
                   sampled);
        print_leaks("at exit", &r);
    }
    if (opt->exitcode && leaks_found(&r)) {
        /* LeakSanitizer's behaviour for test suites: the leak decides the status. */
        fflush(NULL);
        _exit(opt->exitcode);
    }
}
