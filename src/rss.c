/*
 * rss.c - RSS decomposition, growth rule and verdict (see rss.h).
 */
#include "rss.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static int64_t clamp0(int64_t v)
{
    return v > 0 ? v : 0;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

void rss_decompose(const struct rss_inputs *in, struct rss_breakdown *out)
{
    memset(out, 0, sizeof *out);
    out->rss = clamp0(in->rss);
    out->lazy_free = clamp0(in->lazy_free);
    out->program_mmap = clamp0(clamp0(in->mapped_resident) - out->lazy_free);
    if (in->scanned) {
        out->leaked = clamp0(in->leaked);
        out->live_growing = clamp0(in->growing);
        out->live_stale = clamp0(in->stale);
        out->live_reachable = clamp0(clamp0(in->heap_live) - out->leaked - out->live_growing - out->live_stale);
    } else {
        out->live_growing = clamp0(in->growing);
        out->live_reachable = clamp0(clamp0(in->heap_live) - out->live_growing);
    }
    int64_t accounted = out->live_reachable + out->live_growing + out->live_stale + out->leaked + out->lazy_free +
                        out->program_mmap;
    out->allocator_retained = min64(clamp0(in->allocator_free), clamp0(out->rss - accounted));
    accounted += out->allocator_retained;
    out->leakscope = min64(clamp0(in->leakscope), clamp0(out->rss - accounted));
    out->other = clamp0(out->rss - accounted - out->leakscope);
}

int growth_detect(const struct site_sample *samples, size_t n, double *bytes_per_second)
{
    *bytes_per_second = 0;
    if (n < 5)
        return 0;
    int rises = 0, falls = 0;
    size_t last_rise = 0;
    int64_t max = samples[0].inuse_space;
    for (size_t i = 1; i < n; i++) {
        if (samples[i].inuse_space > samples[i - 1].inuse_space) {
            rises++;
            last_rise = i;
        } else if (samples[i].inuse_space < samples[i - 1].inuse_space) {
            falls++;
        }
        if (samples[i].inuse_space > max)
            max = samples[i].inuse_space;
    }
    const struct site_sample *first = &samples[0], *last = &samples[n - 1];
    if (last_rise > 0 && samples[last_rise].time_ns > first->time_ns)
        *bytes_per_second = (double)(samples[last_rise].inuse_space - first->inuse_space) /
                            ((double)(samples[last_rise].time_ns - first->time_ns) / 1e9);
    return rises >= GROWTH_MIN_RISES && falls * 4 <= rises &&
           last->inuse_objects - first->inuse_objects >= GROWTH_MIN_OBJECTS &&
           last->inuse_space - first->inuse_space >= GROWTH_MIN_BYTES &&
           (double)last->inuse_space >= 0.9 * (double)max && *bytes_per_second > 0;
}

static int percent(int64_t part, int64_t whole)
{
    return whole > 0 ? (int)((part * 100 + whole / 2) / whole) : 0;
}

void rss_verdict(const struct rss_breakdown *b, int scanned, int64_t direct_and_indirect,
                 const struct verdict_names *names, char *out, size_t len)
{
    char total[32], part[32], extra[32];
    size_t used = 0;

    format_bytes((uint64_t)b->rss, total, sizeof total);
    struct { int64_t bytes; int kind; } parts[] = {
        { b->allocator_retained, 0 }, { b->lazy_free, 1 }, { b->live_growing, 2 }, { b->leaked, 3 },
        { b->live_stale, 4 }, { b->program_mmap, 5 }, { b->live_reachable, 6 },
    };
    int biggest = 0;
    for (int i = 1; i < (int)(sizeof parts / sizeof *parts); i++)
        if (parts[i].bytes > parts[biggest].bytes)
            biggest = i;
    int64_t bytes = parts[biggest].bytes;
    format_bytes((uint64_t)bytes, part, sizeof part);
    int pct = percent(bytes, b->rss);

#define SAY(...) (used += (size_t)snprintf(out + used, used < len ? len - used : 0, __VA_ARGS__))
    SAY("RSS %s: ", total);
    if (bytes == 0 || pct < 20) {
        SAY("mostly code, stacks and libraries (%s is the largest part leakscope tracks)", part);
    } else {
        switch (parts[biggest].kind) {
        case 0:
            SAY("%s (%d%%) is freed memory malloc still holds (not a leak; it is reused by later mallocs, "
                "and malloc_trim would return it)", part, pct);
            break;
        case 1:
            SAY("%s (%d%%) is lazily freed (MADV_FREE) memory the kernel takes back only under pressure "
                "(not a leak; LEAKSCOPE_MADV_DONTNEED=1 releases it at once)", part, pct);
            break;
        case 2:
            format_bytes((uint64_t)(names && names->growing_rate > 0 ? names->growing_rate : 0), extra, sizeof extra);
            SAY("%s (%d%%) is reachable but keeps growing%s%s, by %s/s: a logical leak (a cache, queue or "
                "timer list that is never trimmed)", part, pct, names && names->growing ? " at " : "",
                names && names->growing ? names->growing : "", extra);
            break;
        case 3:
            if (direct_and_indirect * 2 < bytes)
                SAY("%s (%d%%) is possibly lost: only pointers into the middle of these blocks reach them "
                    "(a slice or substring keeping a large buffer alive?)", part, pct);
            else
                SAY("%s (%d%%) is leaked: no pointer reaches it any more%s%s", part, pct,
                    names && names->leaked ? "; the largest leak is from " : "",
                    names && names->leaked ? names->leaked : "");
            break;
        case 4:
            SAY("%s (%d%%) is reachable but stale: old blocks at sites that free nothing%s%s (a table "
                "cleared but kept? not a leak)", part, pct, names && names->stale ? ", mostly from " : "",
                names && names->stale ? names->stale : "");
            break;
        case 5:
            SAY("%s (%d%%) is memory the program mapped itself%s%s", part, pct,
                names && names->mapped ? " at " : "", names && names->mapped ? names->mapped : "");
            break;
        case 6:
            SAY("%s (%d%%) is live heap the program can still reach (its working set)", part, pct);
            if (names && names->threads && names->threads_alive > 0)
                SAY(", some of it held by %lld thread%s started at %s that never exited",
                    (long long)names->threads_alive, names->threads_alive == 1 ? "" : "s", names->threads);
            break;
        }
    }
    if (!scanned)
        SAY("; leaks were not checked");
    else if (direct_and_indirect > 0 && parts[biggest].kind != 3)
        SAY("; %s is leaked", format_bytes((uint64_t)direct_and_indirect, extra, sizeof extra));
    else if (direct_and_indirect == 0 && b->leaked == 0)
        SAY("; no unreferenced blocks");
#undef SAY
    if (used >= len && len > 0)
        out[len - 1] = '\0';
}
