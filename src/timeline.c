/*
 * timeline.c - the sampled history (see timeline.h).  Written by the
 * background thread, read by dump writers; one mutex, held briefly.
 */
#define _GNU_SOURCE
#include "timeline.h"

#include <pthread.h>
#include <string.h>

#include "arena.h"
#include "procfs.h"
#include "regions.h"
#include "sites.h"

const char *const process_sample_fields[PROCESS_SAMPLE_FIELDS] = {
    "time_ns", "rss", "anon", "lazy_free", "arena", "hblkhd", "uordblks", "fordblks", "keepcost",
    "heap_inuse", "heap_objects", "mapped_bytes", "madv_free_bytes", "madv_dontneed_bytes", "threads",
};

struct series {
    uint32_t site;
    uint32_t count, head;          /* samples held; index of the oldest */
    uint64_t frees;                /* alloc_objects - inuse_objects at the last sample */
    int64_t last_free_ns;          /* when frees last went up; -1 never */
    struct site_sample samples[SERIES_SAMPLES];
};

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static struct process_sample *ring;
static size_t ring_count, ring_head;
static struct series *series;       /* SERIES_MAX_SITES slots, allocated on first use */
static size_t nseries;
static uint32_t *series_of_site;    /* site id -> series index + 1 (0: none) */
static size_t series_of_site_cap;

static int ensure_index(uint32_t sites)
{
    if (sites <= series_of_site_cap)
        return 0;
    size_t cap = series_of_site_cap ? series_of_site_cap : 4096;
    while (cap < sites)
        cap *= 2;
    uint32_t *fresh = meta_map(cap * sizeof *fresh);
    if (!fresh)
        return -1;
    if (series_of_site)
        memcpy(fresh, series_of_site, series_of_site_cap * sizeof *fresh);
    meta_unmap(series_of_site, series_of_site_cap * sizeof *series_of_site);
    series_of_site = fresh;
    series_of_site_cap = cap;
    return 0;
}

static void push_site(struct series *s, const struct site_sample *sample)
{
    if (s->count < SERIES_SAMPLES) {
        s->samples[(s->head + s->count) % SERIES_SAMPLES] = *sample;
        s->count++;
    } else {
        s->samples[s->head] = *sample;
        s->head = (s->head + 1) % SERIES_SAMPLES;
    }
}

void timeline_sample(int64_t time_ns, int64_t madv_free_bytes, int64_t madv_dontneed_bytes, uint64_t frees,
                     struct process_sample *out)
{
    struct proc_memory m;
    struct process_sample p = { .time_ns = time_ns };
    uint32_t nsites = site_count();

    proc_memory_sample(&m, frees);
    p.rss = m.rss;
    p.anon = m.anon;
    p.lazy_free = m.lazy_free;
    p.arena = m.arena;
    p.hblkhd = m.hblkhd;
    p.uordblks = m.uordblks;
    p.fordblks = m.fordblks;
    p.keepcost = m.keepcost;
    p.threads = m.threads;
    p.mapped_bytes = (int64_t)regions_bytes();
    p.madv_free_bytes = madv_free_bytes;
    p.madv_dontneed_bytes = madv_dontneed_bytes;

    pthread_mutex_lock(&mutex);
    if (!ring)
        ring = meta_map(TIMELINE_CAPACITY * sizeof *ring);
    if (!series)
        series = meta_map(SERIES_MAX_SITES * sizeof *series);
    if (ring && series && ensure_index(nsites) == 0) {
        for (uint32_t id = 0; id < nsites; id++) {
            struct site *s = site_by_id(id);
            if (!s || site_kind(s) > SITE_MMAP)
                continue;
            struct site_sample ss = { time_ns, atomic_load_explicit(&s->inuse_space, memory_order_relaxed),
                                      atomic_load_explicit(&s->inuse_objects, memory_order_relaxed) };
            if (site_kind(s) == SITE_HEAP) {
                p.heap_inuse += ss.inuse_space;
                p.heap_objects += ss.inuse_objects;
            }
            uint32_t index = series_of_site[id];
            if (index == 0) {
                if (ss.inuse_space < SERIES_MIN_BYTES || nseries >= SERIES_MAX_SITES)
                    continue;
                series[nseries] = (struct series){ .site = id, .last_free_ns = -1,
                                                   .frees = s->alloc_objects - (uint64_t)ss.inuse_objects };
                series_of_site[id] = (uint32_t)++nseries;
                index = (uint32_t)nseries;
            }
            struct series *se = &series[index - 1];
            uint64_t frees = s->alloc_objects - (uint64_t)ss.inuse_objects;
            if (frees > se->frees)
                se->last_free_ns = time_ns;
            se->frees = frees;
            push_site(se, &ss);
        }
        if (ring_count < TIMELINE_CAPACITY) {
            ring[(ring_head + ring_count) % TIMELINE_CAPACITY] = p;
            ring_count++;
        } else {
            ring[ring_head] = p;
            ring_head = (ring_head + 1) % TIMELINE_CAPACITY;
        }
    }
    pthread_mutex_unlock(&mutex);
    if (out)
        *out = p;
}

size_t timeline_copy(struct process_sample *out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&mutex);
    for (; n < ring_count && n < max; n++)
        out[n] = ring[(ring_head + n) % TIMELINE_CAPACITY];
    pthread_mutex_unlock(&mutex);
    return n;
}

size_t series_sites(uint32_t *sites, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&mutex);
    for (; n < nseries && n < max; n++)
        sites[n] = series[n].site;
    pthread_mutex_unlock(&mutex);
    return n;
}

size_t series_copy(uint32_t site, struct site_sample *out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&mutex);
    if (site < series_of_site_cap && series_of_site && series_of_site[site]) {
        const struct series *s = &series[series_of_site[site] - 1];
        for (; n < s->count && n < max; n++)
            out[n] = s->samples[(s->head + n) % SERIES_SAMPLES];
    }
    pthread_mutex_unlock(&mutex);
    return n;
}

int64_t series_last_free_ns(uint32_t site)
{
    int64_t when = -2;

    pthread_mutex_lock(&mutex);
    if (site < series_of_site_cap && series_of_site && series_of_site[site])
        when = series[series_of_site[site] - 1].last_free_ns;
    pthread_mutex_unlock(&mutex);
    return when;
}

void timeline_lock_for_fork(void)
{
    pthread_mutex_lock(&mutex);
}

void timeline_unlock_after_fork(int in_child)
{
    if (in_child)
        pthread_mutex_init(&mutex, NULL);
    else
        pthread_mutex_unlock(&mutex);
}
