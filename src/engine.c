/*
 * engine.c - the engine's entry points (see engine.h): ties stack capture,
 * the site table, the live-block table and the region table together, and
 * names, writes and publishes dump files.
 */
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "dump_format.h"
#include "dump_write.h"
#include "regions.h"
#include "modules.h"
#include "procfs.h"
#include "timeline.h"
#include "sites.h"
#include "suppress.h"
#include "unwind.h"

__thread int engine_guard __attribute__((tls_model("initial-exec")));
int engine_ready;

static struct leakscope_options options;
static struct timespec start_mono;
static int64_t start_unix_ns;
static unsigned next_seq;
static pthread_mutex_t dump_mutex = PTHREAD_MUTEX_INITIALIZER;
static pid_t service_tid;

#define MAX_SUPPRESSIONS 1024
/* The exit dump waits for malloc's walk 1% of the run, and at least this long. */
#define EXIT_MALLINFO_MIN_NS 5000000
/* Fewer frees than this leave fewer free chunks, a walk shorter than that even if each is a cache miss. */
#define EXIT_MALLINFO_QUICK_FREES 50000
static char *suppression_text;            /* the file as read, for the dump */
static char *suppression_buf;             /* a copy split into patterns */
static const char *suppression_patterns[MAX_SUPPRESSIONS];
static int suppression_count;

struct advice_counter {
    _Atomic uint64_t calls, bytes;
};
static struct advice_counter madv_free, madv_dontneed, madv_other;
static _Atomic uint64_t madv_free_converted;

/* Scavenging history. */
static _Atomic uint64_t scavenges;
static int64_t scavenge_last_before = -1, scavenge_last_after = -1, scavenge_last_time_ns = -1;

static int64_t timespec_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

struct suppression_warning {
    options_warn_fn warn;
    const char *path;
};

static void warn_suppression(const char *line, void *arg)
{
    struct suppression_warning *w = arg;
    char message[600];

    snprintf(message, sizeof message, "LEAKSCOPE_SUPPRESSIONS=%s: %s", w->path, line);
    if (w->warn)
        w->warn(message, NULL);
}

/* Read the suppression file into leakscope's own memory (no malloc). */
static void load_suppressions(options_warn_fn warn)
{
    enum { MAX_BYTES = 1 << 20 };
    int fd = open(options.suppressions, O_RDONLY | O_CLOEXEC);
    ssize_t total = 0, n;

    if (fd < 0)
        return;
    suppression_text = meta_map(MAX_BYTES + 1);
    suppression_buf = meta_map(MAX_BYTES + 1);
    if (!suppression_text || !suppression_buf) {
        close(fd);
        return;
    }
    while (total < MAX_BYTES && (n = read(fd, suppression_text + total, (size_t)(MAX_BYTES - total))) > 0)
        total += n;
    close(fd);
    suppression_text[total] = '\0';
    memcpy(suppression_buf, suppression_text, (size_t)total + 1);
    struct suppression_warning w = { warn, options.suppressions };
    suppression_count = suppressions_parse(suppression_buf, suppression_patterns, MAX_SUPPRESSIONS,
                                           warn_suppression, &w);
}

void engine_set_service_thread(pid_t tid)
{
    service_tid = tid;
}

int engine_init(options_warn_fn warn)
{
    struct timespec now;

    options_from_env(&options, warn, NULL);
    if (options.suppressions[0])
        load_suppressions(warn);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &start_mono);
    clock_gettime(CLOCK_REALTIME, &now);
    start_unix_ns = timespec_ns(&now);
    uintptr_t self_start, self_end;      /* our own code: frames to drop */
    if (module_range_of((const void *)engine_init, &self_start, &self_end) != 0)
        self_start = self_end = 0;
    unwind_init(self_start, self_end, options.unwind);
    if (options.sample_period) {
        live_filter_enable();      /* frees of unsampled blocks then skip the table */
        engine_sample_period = options.sample_period;
    }
    engine_ready = 1;
    return 0;
}

const struct leakscope_options *engine_options(void)
{
    return &options;
}

uint32_t engine_now_cs(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return (uint32_t)((timespec_ns(&now) - timespec_ns(&start_mono)) / 10000000);
}

void engine_code_unloaded(void)
{
    unwind_code_unloaded();
}

static struct site *site_here(int kind)
{
    uintptr_t pcs[SITE_MAX_DEPTH];
    int depth = unwind_capture(pcs, options.depth);

    return site_intern(pcs, depth, kind);
}

/* Blocks allocated before engine_init (by the loader, libc and libstdc++ start-up) have no stack. */
static uint32_t early_id = SITE_NONE;

static struct site *early_site(void)
{
    static struct site *early;
    uintptr_t none[1] = { 0 };

    if (!early && (early = site_intern(none, 0, SITE_HEAP)))
        early_id = early->id;
    return early;
}

/*
 * Sampling (LEAKSCOPE_SAMPLE=P): each thread counts down the bytes it
 * allocates from an exponentially distributed distance with mean P, and the
 * allocation that crosses zero is recorded, so a block of n bytes is recorded
 * with probability 1 - exp(-n/P) whatever the thread did before (the
 * exponential distribution has no memory).  Each recorded block then counts
 * for 1/probability blocks and n/probability bytes at its site, which makes
 * every counter an unbiased estimate of what full tracking would show (what
 * tcmalloc and Go's heap profile do, except that Go scales a site afterwards
 * by the average size of its sampled blocks, biased towards the large ones,
 * which undercounts the objects of a site whose sizes vary).  The object
 * count is rounded up or down at random, the random number being drawn from
 * the address so the free subtracts what the allocation added.
 */
uint64_t engine_sample_period;
__thread int64_t engine_sample_countdown __attribute__((tls_model("initial-exec")));
static __thread uint64_t sample_rng __attribute__((tls_model("initial-exec")));

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A distance to the next sample, exponential with mean P, at least 1 byte. */
static int64_t sample_distance(void)
{
    sample_rng ^= sample_rng << 13;
    sample_rng ^= sample_rng >> 7;
    sample_rng ^= sample_rng << 17;
    double u = (double)((sample_rng >> 11) + 1) * 0x1p-53;     /* (0, 1] */
    double d = -log(u) * (double)engine_sample_period;
    return d < 1 ? 1 : d > 0x1p62 ? INT64_MAX / 2 : (int64_t)d;
}

int engine_sample_slow(size_t size)
{
    if (!sample_rng) {      /* this thread's first countdown: start it before counting this block */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        sample_rng = splitmix64((uint64_t)gettid() << 32 ^ (uint64_t)timespec_ns(&now)) | 1;
        engine_sample_countdown = sample_distance() - (int64_t)size;
        if (engine_sample_countdown > 0)
            return 0;
    }
    engine_sample_countdown = sample_distance();
    return 1;
}

/* What the block at addr of size bytes, recorded at site, counts for. */
static void block_weight(uintptr_t addr, uint64_t size, uint32_t site, uint64_t *objects, uint64_t *bytes)
{
    if (!engine_sample_period || site == early_id || size == 0) {   /* recorded whether sampled or not */
        *objects = 1;
        *bytes = size;
        return;
    }
    double scale = 1 / -expm1(-(double)size / (double)engine_sample_period);
    double whole = floor(scale);
    double coin = (double)(splitmix64(addr) >> 11) * 0x1p-53;      /* [0, 1) */
    *objects = (uint64_t)whole + (coin < scale - whole);
    *bytes = (uint64_t)llround((double)size * scale);
}

static void count_alloc(struct site *s, uintptr_t addr, uint64_t size)
{
    uint64_t objects, bytes;

    block_weight(addr, size, s->id, &objects, &bytes);
    site_count_alloc(s, objects, bytes);
}

static void count_free(struct site *s, uintptr_t addr, uint64_t size)
{
    uint64_t objects, bytes;

    block_weight(addr, size, s->id, &objects, &bytes);
    site_count_free(s, objects, bytes);
}

void engine_record_alloc(void *ptr, size_t size)
{
    live_prefetch((uintptr_t)ptr);      /* the table's cache miss overlaps the stack walk */
    struct site *s = engine_ready ? site_here(SITE_HEAP) : early_site();
    struct live_block stale;

    if (!s)
        return;
    int rc = live_insert((uintptr_t)ptr, size, s->id, engine_now_cs(), &stale);
    if (rc < 0)
        return;
    if (rc == 1) {       /* a free we never saw: the old owner loses the block */
        struct site *old = site_by_id(stale.site);
        if (old)
            count_free(old, stale.addr, stale.size);
    }
    count_alloc(s, (uintptr_t)ptr, size);
}

int engine_forget(void *ptr, struct live_block *out)
{
    struct live_block b;

    if (!live_remove((uintptr_t)ptr, &b))
        return 0;
    struct site *s = site_by_id(b.site);
    if (s)
        count_free(s, b.addr, b.size);
    if (out)
        *out = b;
    return 1;
}

void engine_restore(const struct live_block *block)
{
    struct site *s = site_by_id(block->site);
    uint64_t objects, bytes;

    if (live_insert(block->addr, block->size, block->site, block->birth, NULL) == 0 && s) {
        block_weight(block->addr, block->size, block->site, &objects, &bytes);
        site_count_resize(s, (int64_t)bytes, (int64_t)objects);
    }
}

void engine_record_mmap(void *addr, size_t len, int flags)
{
    if (!engine_ready)
        return;
    if (!(flags & MAP_ANONYMOUS)) {
        if (flags & MAP_FIXED)            /* a file mapping replaced whatever was there */
            regions_remove((uintptr_t)addr, len);
        return;
    }
    struct site *s = site_here(SITE_MMAP);
    if (!s)
        return;
    if (regions_add((uintptr_t)addr, len, s->id, engine_now_cs()) == 0)
        site_count_alloc(s, 1, len);
}

void engine_record_munmap(void *addr, size_t len)
{
    regions_remove((uintptr_t)addr, len);
}

int engine_mremap_begin(void *old_addr, size_t old_len, struct live_block *saved)
{
    struct region r;

    if (!engine_ready)
        return 0;
    if (!regions_find((uintptr_t)old_addr, &r))
        return 0;
    saved->addr = r.start;
    saved->size = old_len < r.len ? old_len : r.len;
    saved->site = r.site;
    saved->birth = r.birth;
    regions_remove((uintptr_t)old_addr, saved->size);
    return 1;
}

void engine_mremap_end(int tracked, const struct live_block *saved, void *old_addr,
                       void *new_addr, size_t new_len)
{
    if (!tracked)
        return;
    if (new_addr == MAP_FAILED) {        /* nothing moved: put the old range back */
        struct site *s = site_by_id(saved->site);
        if (regions_add((uintptr_t)old_addr, saved->size, saved->site, saved->birth) == 0 && s)
            site_count_resize(s, (int64_t)saved->size, 1);
        return;
    }
    struct site *s = site_here(SITE_MMAP);
    if (s && regions_add((uintptr_t)new_addr, new_len, s->id, engine_now_cs()) == 0)
        site_count_alloc(s, 1, new_len);
}

void engine_record_madvise(size_t len, int advice)
{
    if (!engine_ready)
        return;
    struct advice_counter *c = advice == MADV_FREE ? &madv_free
                             : advice == MADV_DONTNEED ? &madv_dontneed : &madv_other;

    atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->bytes, len, memory_order_relaxed);
}

int engine_madvise_advice(int advice)
{
    if (advice == MADV_FREE && options.madv_dontneed) {
        atomic_fetch_add_explicit(&madv_free_converted, 1, memory_order_relaxed);
        return MADV_DONTNEED;
    }
    return advice;
}

uint32_t engine_thread_started(void)
{
    struct site *s = engine_ready ? site_here(SITE_THREAD) : NULL;

    if (!s)
        return SITE_NONE;
    site_count_alloc(s, 1, 0);
    return s->id;
}

void engine_thread_exited(uint32_t site)
{
    struct site *s = site == SITE_NONE ? NULL : site_by_id(site);

    if (s)
        site_count_free(s, 1, 0);
}

int64_t engine_uptime_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return timespec_ns(&now) - timespec_ns(&start_mono);
}

void engine_scavenge(int64_t *rss_before, int64_t *rss_after)
{
    *rss_before = proc_rss();
    malloc_trim(0);
    *rss_after = proc_rss();
    atomic_fetch_add(&scavenges, 1);
    scavenge_last_before = *rss_before;
    scavenge_last_after = *rss_after;
    scavenge_last_time_ns = engine_uptime_ns();
}

void engine_sample(struct process_sample *out)
{
    struct engine_totals t;

    engine_totals(&t);
    timeline_sample(engine_uptime_ns(), (int64_t)atomic_load(&madv_free.bytes),
                    (int64_t)atomic_load(&madv_dontneed.bytes), t.alloc_objects - t.inuse_objects, out);
}

/* Resident bytes of the program's own anonymous mappings (mincore, page by page). */
int64_t engine_mapped_resident(void)
{
    static struct region *buf;
    static size_t cap;
    static unsigned char vec[4096];
    size_t n = regions_copy(&buf, &cap);
    long page = sysconf(_SC_PAGESIZE);
    int64_t resident = 0;

    for (size_t i = 0; i < n; i++) {
        uintptr_t start = buf[i].start & ~(uintptr_t)(page - 1), end = buf[i].start + buf[i].len;
        for (uintptr_t at = start; at < end; at += sizeof vec * (size_t)page) {
            size_t len = end - at < sizeof vec * (size_t)page ? end - at : sizeof vec * (size_t)page;
            size_t pages = (len + (size_t)page - 1) / (size_t)page;
            if (mincore((void *)at, len, vec) != 0)
                break;
            for (size_t k = 0; k < pages; k++)
                resident += (vec[k] & 1) * page;
        }
    }
    return resident;
}

void engine_totals(struct engine_totals *t)
{
    uint32_t n = site_count();

    memset(t, 0, sizeof *t);
    for (uint32_t id = 0; id < n; id++) {
        struct site *s = site_by_id(id);
        if (!s)
            continue;
        t->sites++;
        if (site_kind(s) != SITE_HEAP)
            continue;
        t->inuse_space += (uint64_t)atomic_load_explicit(&s->inuse_space, memory_order_relaxed);
        t->inuse_objects += (uint64_t)atomic_load_explicit(&s->inuse_objects, memory_order_relaxed);
        t->alloc_space += atomic_load_explicit(&s->alloc_space, memory_order_relaxed);
        t->alloc_objects += atomic_load_explicit(&s->alloc_objects, memory_order_relaxed);
    }
    t->mapped_bytes = regions_bytes();
    t->mapped_regions = regions_count();
}

/*
 * Whether the exit dump's mallinfo2() walk needs a thread of its own and a time limit: each free
 * leaves at most one free chunk, so a program that freed few blocks has a short walk, cheaper than
 * starting a thread (a few hundred microseconds on every short-lived process).  In sampling mode
 * the count is an estimate, which only moves the choice.
 */
static int exit_walk_may_be_long(void)
{
    struct engine_totals t;

    engine_totals(&t);
    return t.alloc_objects - t.inuse_objects >= EXIT_MALLINFO_QUICK_FREES;
}

/* ---- dump files ---- */

struct text {
    char *buf;
    size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;

    if (t->len >= t->cap)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

/* key=value where value is a string: newlines would end the line, so they become spaces. */
static void text_add_string(struct text *t, const char *key, const char *value, size_t len)
{
    text_add(t, "%s=", key);
    for (size_t i = 0; i < len && t->len + 2 < t->cap; i++) {
        char c = value[i];
        t->buf[t->len++] = (c == '\n' || c == '\0') ? ' ' : c;
    }
    text_add(t, "\n");
}

static const char *reason_name(enum dump_reason reason)
{
    switch (reason) {
    case DUMP_REASON_EXIT: return "exit";
    case DUMP_REASON_SIGNAL: return "signal";
    case DUMP_REASON_PERIODIC: return "periodic";
    case DUMP_REASON_SCAVENGE: return "scavenge";
    case DUMP_REASON_CRASH: return "crash";
    case DUMP_REASON_INTERVAL: return "interval";
    }
    return "unknown";
}

static void build_meta(struct text *t, enum dump_reason reason, int signal, unsigned seq)
{
    char buf[8192];
    struct timespec now;
    ssize_t n;

    clock_gettime(CLOCK_REALTIME, &now);
    text_add(t, "format=leakscope-dump\nversion=%d\nleakscope_version=%s\n", DUMP_VERSION,
             LEAKSCOPE_VERSION);
    text_add(t, "pid=%d\nppid=%d\n", (int)getpid(), (int)getppid());
    n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    text_add_string(t, "exe", buf, n > 0 ? (size_t)n : 0);
    n = proc_read_file("/proc/self/cmdline", buf, sizeof buf);
    if (n > 0 && buf[n - 1] == '\0')
        n--;
    text_add_string(t, "cmdline", buf, n > 0 ? (size_t)n : 0);
    text_add(t, "reason=%s\nsignal=%d\nseq=%u\n", reason_name(reason), signal, seq);
    text_add(t, "time_unix_ns=%lld\nstart_unix_ns=%lld\ndepth=%d\ninterval_ms=%d\nstale_age_s=%d\n"
             "sample_period=%llu\n", (long long)timespec_ns(&now), (long long)start_unix_ns, options.depth,
             options.interval_ms, options.stale_age_s, options.sample_period);
}

/* m: the process's memory, read once per dump (mallinfo2 walks every free chunk under malloc's lock). */
static void build_stats(struct text *t, const struct proc_memory *mem)
{
    struct proc_memory m = *mem;
    struct engine_totals tot;

    if (m.rss >= 0)
        text_add(t, "rss_bytes=%lld\n", (long long)m.rss);
    if (m.anon >= 0)
        text_add(t, "anon_bytes=%lld\n", (long long)m.anon);
    if (m.lazy_free >= 0)
        text_add(t, "lazyfree_bytes=%lld\n", (long long)m.lazy_free);
    if (m.threads >= 0)
        text_add(t, "threads=%lld\n", (long long)m.threads);
    if (m.fordblks >= 0)
        text_add(t, "mallinfo_arena=%lld\nmallinfo_hblkhd=%lld\nmallinfo_uordblks=%lld\n"
                 "mallinfo_fordblks=%lld\nmallinfo_keepcost=%lld\nmallinfo_ns=%lld\n", (long long)m.arena,
                 (long long)m.hblkhd, (long long)m.uordblks, (long long)m.fordblks, (long long)m.keepcost,
                 (long long)m.mallinfo_ns);
    if (m.mallinfo_abandoned_ns >= 0)
        text_add(t, "mallinfo_abandoned_ns=%lld\n", (long long)m.mallinfo_abandoned_ns);
    text_add(t, "madv_free_calls=%llu\nmadv_free_bytes=%llu\n"
             "madv_dontneed_calls=%llu\nmadv_dontneed_bytes=%llu\n"
             "madv_other_calls=%llu\nmadv_other_bytes=%llu\nmadv_free_converted_calls=%llu\n",
             (unsigned long long)madv_free.calls, (unsigned long long)madv_free.bytes,
             (unsigned long long)madv_dontneed.calls, (unsigned long long)madv_dontneed.bytes,
             (unsigned long long)madv_other.calls, (unsigned long long)madv_other.bytes,
             (unsigned long long)madv_free_converted);
    text_add(t, "scavenges=%llu\n", (unsigned long long)scavenges);
    if (scavenge_last_time_ns >= 0)
        text_add(t, "scavenge_last_time_ns=%lld\nscavenge_last_rss_before=%lld\nscavenge_last_rss_after=%lld\n",
                 (long long)scavenge_last_time_ns, (long long)scavenge_last_before, (long long)scavenge_last_after);
    struct unwind_counts u;
    unwind_counts(&u);
    text_add(t, "stacks_walked=%llu\nstacks_by_libunwind=%llu\nframe_rules_judged=%llu\n",
             (unsigned long long)u.walked, (unsigned long long)u.libunwind, (unsigned long long)u.judged);
    engine_totals(&tot);
    text_add(t, "live_blocks=%zu\nmapped_regions=%llu\nmapped_bytes=%llu\nmapped_resident_bytes=%lld\n"
             "sites=%u\nmeta_bytes=%zu\nscan_buffer_bytes=%zu\nuptime_ns=%lld\n",
             live_count(), (unsigned long long)tot.mapped_regions, (unsigned long long)tot.mapped_bytes,
             (long long)engine_mapped_resident(), tot.sites, meta_bytes_mapped(), leakcheck_buffer_bytes(),
             (long long)engine_uptime_ns());
}

static void build_scan_text(struct text *t, const struct leak_scan *scan)
{
    text_add(t, "time_unix_ns=%lld\npause_ns=%lld\ntotal_ns=%lld\nbytes_scanned=%llu\nbytes_unwritten=%llu\n"
             "root_bytes=%llu\n", (long long)scan->time_unix_ns, (long long)scan->pause_ns, (long long)scan->total_ns,
             (unsigned long long)scan->bytes_scanned, (unsigned long long)scan->bytes_unwritten,
             (unsigned long long)scan->root_bytes);
    text_add(t, "threads=%zu\nunresponsive_threads=%zu\nunresponsive_without_stack=%zu\nstop_signal=%d\n"
             "stop_method=%s\nin_copy=%d\n", scan->threads, scan->unresponsive, scan->unresponsive_no_stack,
             scan->signal, scan->stop_method ? scan->stop_method : "none", scan->in_copy);
    for (int k = BLOCK_REACHABLE; k < BLOCK_STATES; k++)
        text_add(t, "%s_bytes=%llu\n%s_blocks=%llu\n", block_state_name(k),
                 (unsigned long long)scan->bytes[k], block_state_name(k),
                 (unsigned long long)scan->blocks_in[k]);
}

static int write_and_publish(const char *meta, const char *stats, const struct leak_scan *scan,
                             const char *scan_text, const char *rss_text, unsigned *seq, char *path_out,
                             size_t path_len)
{
    char tmp[PATH_MAX + 64];
    const char *dir = options.out_dir;
    int pid = (int)getpid();

    snprintf(tmp, sizeof tmp, "%s/.leakscope.%d.%u.lsd.tmp", dir, pid, *seq);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        snprintf(path_out, path_len, "cannot create a dump in %s: %s", dir, strerror(err));
        return -err;
    }
    /*
     * No fdatasync: the link() below already makes the dump appear whole or not at all, and the page
     * cache outlives the process however it dies (SIGKILL, the OOM killer).  Only a crash of the whole
     * machine could leave a short file, which the reader refuses in one line.  Flushing cost a disk
     * round trip per dump (most of leakscope's start-to-exit cost for a short program).  close()'s
     * error still counts: network file systems report write failures there.
     */
    int rc = dump_write(fd, meta, stats, scan, scan_text, suppression_text, rss_text);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        snprintf(path_out, path_len, "cannot write a dump in %s: %s", dir, strerror(-rc));
        return rc;
    }
    /* link() never replaces: a dump of an earlier image of this pid (before exec) survives. */
    for (int tries = 0; tries < 10000; tries++, (*seq)++) {
        snprintf(path_out, path_len, "%s/leakscope.%d.%u.lsd", dir, pid, *seq);
        if (link(tmp, path_out) == 0) {
            unlink(tmp);
            return 0;
        }
        if (errno != EEXIST) {
            if (rename(tmp, path_out) == 0)       /* filesystems without hard links */
                return 0;
            rc = -errno;
            break;
        }
    }
    unlink(tmp);
    snprintf(path_out, path_len, "cannot name a dump in %s: %s", dir, strerror(rc ? -rc : EEXIST));
    return rc ? rc : -EEXIST;
}

int engine_write_dump(enum dump_reason reason, int signal, struct dump_result *out)
{
    static char meta_buf[24 * 1024], stats_buf[4096], scan_buf[2048], rss_buf[8192];
    struct text meta = { meta_buf, 0, sizeof meta_buf };
    struct text stats = { stats_buf, 0, sizeof stats_buf };
    struct text scan_text = { scan_buf, 0, sizeof scan_buf };

    int crashed = reason == DUMP_REASON_CRASH;
    if (crashed) {
        struct timespec limit;
        clock_gettime(CLOCK_REALTIME, &limit);
        limit.tv_sec += 2;
        if (pthread_mutex_timedlock(&dump_mutex, &limit) != 0) {
            snprintf(out->path, sizeof out->path, "another dump was being written");
            return -EBUSY;
        }
    } else {
        pthread_mutex_lock(&dump_mutex);
    }
    memset(out, 0, sizeof *out);
    int scan_rc = 1;
    if (!crashed && reason != DUMP_REASON_INTERVAL && options.leak_check)
        scan_rc = leakcheck_run(reason == DUMP_REASON_EXIT, service_tid, options.stop_method,
                                options.fork_scan && reason != DUMP_REASON_EXIT, &out->scan);
    if (scan_rc == -2)
        out->scan_skipped = "/proc cannot be read, so neither the readable memory nor the threads are known";
    else if (scan_rc == -1)
        out->scan_skipped = "the other threads could not be stopped";
    if (scan_rc == 0) {
        out->scanned = 1;
        build_scan_text(&scan_text, &out->scan);
        leakcheck_totals(&out->scan, suppression_patterns, suppression_count, &out->leaks);
    }
    struct proc_memory mem;
    if (crashed) {
        proc_memory_read_without_malloc(&mem);
    } else if (reason == DUMP_REASON_EXIT && exit_walk_may_be_long()) {
        int64_t budget = engine_uptime_ns() / 100;          /* 1% of the run, as sysmon's samples */
        proc_memory_read_within(&mem, budget > EXIT_MALLINFO_MIN_NS ? budget : EXIT_MALLINFO_MIN_NS);
    } else {
        proc_memory_read(&mem);
    }
    if (!crashed) {
        insight_compute(out->scanned ? &out->scan : NULL, &out->leaks, options.stale_age_s, &mem, &out->insight);
        insight_text(&out->insight, rss_buf, sizeof rss_buf);
    }
    unsigned seq = next_seq;
    build_meta(&meta, reason, signal, seq);
    build_stats(&stats, &mem);
    int rc = write_and_publish(meta_buf, stats_buf, out->scanned ? &out->scan : NULL, scan_buf,
                               crashed ? NULL : rss_buf, &seq, out->path, sizeof out->path);
    if (rc == 0)
        next_seq = seq + 1;
    if (out->scanned) {            /* the scan's buffers: 64 bytes a block, not kept between scans */
        leakcheck_release_buffers();
        out->scan.blocks = NULL;
        out->scan.state = NULL;
    }
    pthread_mutex_unlock(&dump_mutex);
    return rc;
}

/* ---- fork ---- */

void engine_fork_prepare(void)
{
    pthread_mutex_lock(&dump_mutex);
    regions_lock();
    sites_lock_for_fork();
    live_lock_all();
    timeline_lock_for_fork();
    meta_lock_for_fork();
}

void engine_fork_parent(void)
{
    meta_unlock_after_fork(0);
    timeline_unlock_after_fork(0);
    live_unlock_all();
    sites_unlock_after_fork(0);
    regions_unlock(0);
    pthread_mutex_unlock(&dump_mutex);
}

void engine_fork_child(void)
{
    meta_unlock_after_fork(1);
    timeline_unlock_after_fork(1);
    live_unlock_all();
    sites_unlock_after_fork(1);
    regions_unlock(1);
    pthread_mutex_init(&dump_mutex, NULL);
    next_seq = 0;
    sample_rng = 0;      /* a random stream of its own, not a copy of the parent's */
    unwind_fork_child();
}
