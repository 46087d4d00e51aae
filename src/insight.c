/*
 * insight.c - the process's own account of its RSS (see insight.h).
 */
#define _GNU_SOURCE
#include "insight.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "engine.h"
#include "procfs.h"
#include "sites.h"
#include "timeline.h"

void insight_site_name(uint32_t site, char *out, size_t len)
{
    const struct site *s = site_by_id(site);
    Dl_info info;

    snprintf(out, len, "site %u", site);
    for (int f = 0; s && f < s->depth; f++) {
        if (!dladdr((void *)(s->pcs[f] - 1), &info))
            continue;
        if (info.dli_sname && (strstr(info.dli_sname, "operator new") || strcmp(info.dli_sname, "_Znwm") == 0 ||
                               strcmp(info.dli_sname, "_Znam") == 0))
            continue;                  /* name the caller of operator new */
        if (info.dli_sname)
            snprintf(out, len, "%s", info.dli_sname);
        else if (info.dli_fname)
            snprintf(out, len, "%s+0x%lx", strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1
                                                                        : info.dli_fname,
                     (unsigned long)(s->pcs[f] - (uintptr_t)info.dli_fbase));
        return;
    }
}

static void insert_sorted(struct insight_site *list, int *n, const struct insight_site *item, int by_rate)
{
    int at = *n;
    while (at > 0 && (by_rate ? list[at - 1].rate < item->rate : list[at - 1].bytes < item->bytes))
        at--;
    if (at >= INSIGHT_MAX_SITES)
        return;
    int last = *n < INSIGHT_MAX_SITES ? *n : INSIGHT_MAX_SITES - 1;
    memmove(&list[at + 1], &list[at], (size_t)(last - at) * sizeof *list);
    list[at] = *item;
    if (*n < INSIGHT_MAX_SITES)
        (*n)++;
}

void insight_compute(const struct leak_scan *scan, const struct leak_totals *leaks, int stale_age_s,
                     const struct proc_memory *mem, struct insight *out)
{
    struct proc_memory m = *mem;
    struct engine_totals t;
    uint32_t nsites = site_count();
    uint32_t *series = meta_map(SERIES_MAX_SITES * sizeof *series);
    struct site_sample samples[SERIES_SAMPLES];
    uint8_t *growing = meta_map(nsites + 1);               /* per site: 1 growing */
    int64_t *reachable_at = meta_map((nsites + 1) * sizeof *reachable_at);
    int64_t *stale_at = meta_map((nsites + 1) * 2 * sizeof *stale_at);
    struct rss_inputs in;

    memset(out, 0, sizeof *out);
    out->top_leak_site = out->top_mapped_site = out->thread_site = -1;
    engine_totals(&t);
    memset(&in, 0, sizeof in);
    in.rss = m.rss;
    in.lazy_free = m.lazy_free;
    in.allocator_free = m.fordblks;
    in.mapped_resident = engine_mapped_resident();
    in.heap_live = (int64_t)t.inuse_space;
    in.leakscope = (int64_t)meta_bytes_resident();
    out->allocator_free = m.fordblks;
    out->mapped_resident = in.mapped_resident;

    /*
     * Reachable bytes per site, and stale ones: blocks older than the stale age at sites that have
     * freed nothing for that long (sites with a series: from their samples; smaller ones: never).
     */
    uint32_t now_cs = engine_now_cs();
    int64_t now_ns = engine_uptime_ns(), stale_ns = (int64_t)stale_age_s * 1000000000;
    uint8_t *quiet = meta_map(nsites + 1);               /* per site: 1 frees nothing lately, 2 does */
    if (scan && reachable_at && stale_at && quiet) {
        in.scanned = out->scanned = 1;
        in.leaked = (int64_t)(leaks->bytes[BLOCK_DIRECT] + leaks->bytes[BLOCK_INDIRECT] + leaks->bytes[BLOCK_POSSIBLY]);
        out->leaked_direct_indirect = (int64_t)(leaks->bytes[BLOCK_DIRECT] + leaks->bytes[BLOCK_INDIRECT]);
        if (leaks->top_bytes > 0)
            out->top_leak_site = leaks->top_site;
        for (size_t i = 0; i < scan->count; i++) {
            const struct live_block *b = &scan->blocks[i];
            if (scan->state[i] != BLOCK_REACHABLE || b->site >= nsites)
                continue;
            reachable_at[b->site] += (int64_t)b->size;
            const struct site *s = site_by_id(b->site);
            if (s && !quiet[b->site]) {
                int64_t last_free = series_last_free_ns(b->site);
                int frees_nothing = last_free == -2 ? s->alloc_objects == (uint64_t)s->inuse_objects
                                                    : last_free < 0 || now_ns - last_free >= stale_ns;
                quiet[b->site] = frees_nothing ? 1 : 2;
            }
            if (s && quiet[b->site] == 1 && now_cs - b->birth >= (uint32_t)stale_age_s * 100) {
                stale_at[2 * b->site] += (int64_t)b->size;
                stale_at[2 * b->site + 1]++;
            }
        }
    }

    /* Growth, from each site's series. */
    size_t nseries = series ? series_sites(series, SERIES_MAX_SITES) : 0;
    for (size_t i = 0; i < nseries && growing; i++) {
        size_t n = series_copy(series[i], samples, SERIES_SAMPLES);
        double rate;
        const struct site *s = site_by_id(series[i]);
        if (!s || site_kind(s) != SITE_HEAP || !growth_detect(samples, n, &rate))
            continue;
        growing[series[i]] = 1;
        /* Listed with all its live bytes; only the reachable ones count as "growing" in the
           decomposition (the leaked ones are counted as leaked). */
        struct insight_site item = { series[i], s->inuse_space, s->inuse_objects, rate };
        in.growing += in.scanned ? reachable_at[series[i]] : s->inuse_space;
        insert_sorted(out->growing, &out->ngrowing, &item, 1);
    }
    for (uint32_t id = 0; id < nsites && stale_at; id++) {
        if (stale_at[2 * id] > 0 && !(growing && growing[id])) {
            struct insight_site item = { id, stale_at[2 * id], stale_at[2 * id + 1], 0 };
            in.stale += item.bytes;
            insert_sorted(out->stale, &out->nstale, &item, 0);
        }
    }

    /* The largest mapping site, and thread sites whose threads never exit. */
    int64_t top_mapped = 0;
    for (uint32_t id = 0; id < nsites; id++) {
        const struct site *s = site_by_id(id);
        if (!s)
            continue;
        if (site_kind(s) == SITE_MMAP && s->inuse_space > top_mapped) {
            top_mapped = s->inuse_space;
            out->top_mapped_site = id;
        }
        if (site_kind(s) == SITE_THREAD && s->inuse_objects > 0 && (uint64_t)s->inuse_objects == s->alloc_objects &&
            s->inuse_objects > out->threads_alive) {
            out->threads_alive = s->inuse_objects;
            out->thread_site = id;
        }
    }
    rss_decompose(&in, &out->parts);
    meta_unmap(series, SERIES_MAX_SITES * sizeof *series);
    meta_unmap(growing, nsites + 1);
    meta_unmap(quiet, nsites + 1);
    meta_unmap(reachable_at, (nsites + 1) * sizeof *reachable_at);
    meta_unmap(stale_at, (nsites + 1) * 2 * sizeof *stale_at);
}

void insight_text(const struct insight *in, char *out, size_t len)
{
    const struct rss_breakdown *p = &in->parts;
    size_t used = 0;
    char growing[160] = "", leaked[160] = "", stale[160] = "", mapped[160] = "", threads[160] = "", verdict[1024];

#define ADD(...) (used += (size_t)snprintf(out + used, used < len ? len - used : 0, __VA_ARGS__))
    ADD("rss=%lld\nlive_reachable=%lld\nlive_growing=%lld\nlive_stale=%lld\nleaked=%lld\nallocator_retained=%lld\n"
        "lazy_free=%lld\nprogram_mmap=%lld\nleakscope=%lld\nother=%lld\nallocator_free=%lld\nmapped_resident=%lld\n"
        "scanned=%d\nleaked_direct_indirect=%lld\n",
        (long long)p->rss, (long long)p->live_reachable, (long long)p->live_growing, (long long)p->live_stale,
        (long long)p->leaked, (long long)p->allocator_retained, (long long)p->lazy_free,
        (long long)p->program_mmap, (long long)p->leakscope, (long long)p->other, (long long)in->allocator_free,
        (long long)in->mapped_resident, in->scanned, (long long)in->leaked_direct_indirect);
    for (int i = 0; i < in->ngrowing; i++)
        ADD("growing=%u %lld %lld %.0f\n", in->growing[i].site, (long long)in->growing[i].bytes,
            (long long)in->growing[i].blocks, in->growing[i].rate);
    for (int i = 0; i < in->nstale; i++)
        ADD("stale=%u %lld %lld\n", in->stale[i].site, (long long)in->stale[i].bytes, (long long)in->stale[i].blocks);
    if (in->top_leak_site >= 0)
        ADD("top_leak=%lld\n", (long long)in->top_leak_site);
    if (in->top_mapped_site >= 0)
        ADD("top_mapped=%lld\n", (long long)in->top_mapped_site);
    if (in->thread_site >= 0)
        ADD("threads_never_exit=%lld %lld\n", (long long)in->thread_site, (long long)in->threads_alive);

    struct verdict_names names = { 0 };
    if (in->ngrowing) {
        insight_site_name(in->growing[0].site, growing, sizeof growing);
        names.growing = growing;
        names.growing_rate = in->growing[0].rate;
    }
    if (in->top_leak_site >= 0) {
        insight_site_name((uint32_t)in->top_leak_site, leaked, sizeof leaked);
        names.leaked = leaked;
    }
    if (in->nstale) {
        insight_site_name(in->stale[0].site, stale, sizeof stale);
        names.stale = stale;
    }
    if (in->top_mapped_site >= 0) {
        insight_site_name((uint32_t)in->top_mapped_site, mapped, sizeof mapped);
        names.mapped = mapped;
    }
    if (in->thread_site >= 0) {
        insight_site_name((uint32_t)in->thread_site, threads, sizeof threads);
        names.threads = threads;
        names.threads_alive = in->threads_alive;
    }
    rss_verdict(p, in->scanned, in->leaked_direct_indirect, &names, verdict, sizeof verdict);
    ADD("verdict=%s\n", verdict);
#undef ADD
    if (used >= len && len > 0)
        out[len - 1] = '\0';
}
