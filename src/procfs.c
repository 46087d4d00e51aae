/*
 * procfs.c - reading /proc/self and mallinfo2 (see procfs.h).
 */
#define _GNU_SOURCE
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

long proc_read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long total = 0, n;

    if (fd < 0)
        return -1;
    while ((size_t)total < len - 1 && (n = read(fd, buf + total, len - 1 - (size_t)total)) > 0)
        total += n;
    close(fd);
    buf[total] = '\0';
    return total;
}

/* "Key:   N kB" in bytes; -1 if absent. */
static int64_t rollup_bytes(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            return strtoll(line + klen + 1, NULL, 10) * 1024;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

int64_t proc_rss(void)
{
    char buf[256];
    long long size, resident;
    char *end;

    if (proc_read_file("/proc/self/statm", buf, sizeof buf) <= 0)
        return -1;
    size = strtoll(buf, &end, 10);
    resident = strtoll(end, NULL, 10);
    (void)size;
    return resident * sysconf(_SC_PAGESIZE);
}

static int64_t thread_count(void)
{
    char buf[1024];

    if (proc_read_file("/proc/self/stat", buf, sizeof buf) <= 0)
        return -1;
    /* Field 20 counts threads; fields start after the ")" that ends the command name. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 20; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoll(p + 1, NULL, 10) : -1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct mallinfo2 last_mallinfo;
static struct mallinfo_pace pace = { -1, -1, -1, 0 };   /* its last_cost_ns is the last walk's cost */

int mallinfo_walk_due(struct mallinfo_pace *p, int64_t now, uint64_t frees)
{
    int64_t interval = p->last_sample_ns < 0 ? 0 : now - p->last_sample_ns;
    uint64_t freed = frees > p->last_sample_frees ? frees - p->last_sample_frees : 0;
    int busy = interval > 0 && (double)freed * 1e9 / (double)interval > MALLINFO_BUSY_FREES;

    p->last_sample_ns = now;
    p->last_sample_frees = frees;
    if (p->last_walk_ns < 0)
        return !busy;
    int64_t since = now - p->last_walk_ns, wait = p->last_cost_ns * 100;
    if (since < (wait > 1000000000 ? wait : 1000000000))
        return 0;
    return !busy || since >= MALLINFO_BUSY_WAIT_NS;
}

/* A walk that started at start and took cost: its figures are the ones reused until the next. */
static void record_walk(struct mallinfo2 mi, int64_t start, int64_t cost)
{
    last_mallinfo = mi;
    pace.last_walk_ns = start;
    pace.last_cost_ns = cost;
}

static struct mallinfo2 fresh_mallinfo(void)
{
    int64_t start = now_ns();
    struct mallinfo2 mi = mallinfo2();

    record_walk(mi, start, now_ns() - start);
    return mi;
}

/* smaps_rollup walks the page tables under the mmap lock: the same budget as mallinfo2. */
static struct proc_memory last_rollup;
static int64_t rollup_next_ns;

static void read_rollup(struct proc_memory *m)
{
    char buf[4096];

    m->rss = m->anon = m->lazy_free = -1;
    if (proc_read_file("/proc/self/smaps_rollup", buf, sizeof buf) > 0) {
        m->rss = rollup_bytes(buf, "Rss");
        m->anon = rollup_bytes(buf, "Anonymous");
        m->lazy_free = rollup_bytes(buf, "LazyFree");
    }
}

static void read_proc(struct proc_memory *m, struct mallinfo2 mi, int fresh_rollup)
{
    if (fresh_rollup) {
        int64_t start = now_ns();
        read_rollup(&last_rollup);
        int64_t wait = (now_ns() - start) * 100;
        rollup_next_ns = start + (wait > 1000000000 ? wait : 1000000000);
    }
    m->rss = last_rollup.rss;
    m->anon = last_rollup.anon;
    m->lazy_free = last_rollup.lazy_free;
    if (!fresh_rollup || m->rss < 0)
        m->rss = proc_rss();           /* statm: cheap and current */

    m->arena = (int64_t)mi.arena;
    m->hblkhd = (int64_t)mi.hblkhd;
    m->uordblks = (int64_t)mi.uordblks;
    m->fordblks = (int64_t)mi.fordblks;
    m->keepcost = (int64_t)mi.keepcost;
    m->mallinfo_ns = pace.last_cost_ns;
    m->mallinfo_abandoned_ns = -1;
    m->threads = thread_count();
}

void proc_memory_read(struct proc_memory *m)
{
    read_proc(m, fresh_mallinfo(), 1);
}

/* The bounded walk: static, since a walk given up on outlives the dump that asked for it. */
static struct {
    sem_t done;
    struct mallinfo2 mi;
    int64_t ns;
} walk;
static atomic_flag walk_started = ATOMIC_FLAG_INIT;

static void *walk_main(void *arg)
{
    (void)arg;
    int64_t start = now_ns();
    walk.mi = mallinfo2();
    walk.ns = now_ns() - start;
    sem_post(&walk.done);
    return NULL;
}

void proc_memory_read_within(struct proc_memory *m, int64_t limit_ns)
{
    pthread_t tid;

    /* One bounded walk per process (its state is static); no thread to spare: the whole walk. */
    if (atomic_flag_test_and_set(&walk_started)) {
        proc_memory_read(m);
        return;
    }
    sem_init(&walk.done, 0, 0);
    int64_t start = now_ns();
    if (service_thread_start(&tid, 64 * 1024, walk_main, NULL) != 0) {
        proc_memory_read(m);
        return;
    }
    struct timespec until = { .tv_sec = (start + limit_ns) / 1000000000, .tv_nsec = (start + limit_ns) % 1000000000 };
    int rc;
    while ((rc = sem_clockwait(&walk.done, CLOCK_MONOTONIC, &until)) != 0 && errno == EINTR)
        ;
    if (rc == 0) {
        record_walk(walk.mi, start, walk.ns);
        read_proc(m, walk.mi, 1);
        return;
    }
    proc_memory_read_without_malloc(m);
    m->mallinfo_abandoned_ns = now_ns() - start;
}

void proc_memory_sample(struct proc_memory *m, uint64_t frees)
{
    int64_t now = now_ns();
    read_proc(m, mallinfo_walk_due(&pace, now, frees) ? fresh_mallinfo() : last_mallinfo, now >= rollup_next_ns);
}

void proc_memory_read_without_malloc(struct proc_memory *m)
{
    struct mallinfo2 none;
    memset(&none, 0, sizeof none);
    read_proc(m, none, 1);
    m->arena = m->hblkhd = m->uordblks = m->fordblks = m->keepcost = m->mallinfo_ns = -1;
}
