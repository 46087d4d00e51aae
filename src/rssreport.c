/*
 * rssreport.c - rendering the process's RSS account (see rssreport.h).
 */
#define _GNU_SOURCE
#include "rssreport.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rss.h"
#include "util.h"

static int allocator_frame(const char *function)
{
    static const char *wrappers[] = { "operator new", "operator new[]", "malloc", "calloc", "realloc",
                                      "__libc_malloc", "xmalloc", "xcalloc", "xrealloc" };
    if (!function)
        return 0;
    for (size_t i = 0; i < sizeof wrappers / sizeof *wrappers; i++)
        if (strncmp(function, wrappers[i], strlen(wrappers[i])) == 0 &&
            (function[strlen(wrappers[i])] == '\0' || function[strlen(wrappers[i])] == '('))
            return 1;
    return 0;
}

void site_label(const struct ls_dump *d, struct symbolizer *sym, uint32_t site, char *buf, size_t len)
{
    const struct ls_site *s = dump_site(d, site);

    snprintf(buf, len, "site %u", site);
    if (!s || s->depth == 0)
        return;
    for (int k = 0; k < s->depth; k++) {
        const struct sym_frame *frames;
        int n = symbolizer_lookup(sym, s->pcs[k], &frames);
        for (int f = 0; f < n; f++) {
            if (allocator_frame(frames[f].function))
                continue;
            const char *file = frames[f].file ? strrchr(frames[f].file, '/') : NULL;
            file = file ? file + 1 : frames[f].file;
            if (frames[f].function && file)
                snprintf(buf, len, "%s (%s:%d)", frames[f].function, file, frames[f].line);
            else if (frames[f].function)
                snprintf(buf, len, "%s", frames[f].function);
            else if (frames[f].module)
                snprintf(buf, len, "%s+0x%" PRIx64, strrchr(frames[f].module, '/') ? strrchr(frames[f].module, '/') + 1
                                                                                  : frames[f].module,
                         frames[f].module_offset);
            return;
        }
    }
}

/* Bare function name (for the verdict). */
static void site_function(const struct ls_dump *d, struct symbolizer *sym, uint32_t site, char *buf, size_t len)
{
    site_label(d, sym, site, buf, len);
    char *paren = strstr(buf, " (");
    if (paren)
        *paren = '\0';
}

static void breakdown_of(const struct ls_dump *d, struct rss_breakdown *b)
{
    b->rss = dump_rss_value(d, "rss", 0);
    b->live_reachable = dump_rss_value(d, "live_reachable", 0);
    b->live_growing = dump_rss_value(d, "live_growing", 0);
    b->live_stale = dump_rss_value(d, "live_stale", 0);
    b->leaked = dump_rss_value(d, "leaked", 0);
    b->allocator_retained = dump_rss_value(d, "allocator_retained", 0);
    b->lazy_free = dump_rss_value(d, "lazy_free", 0);
    b->program_mmap = dump_rss_value(d, "program_mmap", 0);
    b->leakscope = dump_rss_value(d, "leakscope", 0);
    b->other = dump_rss_value(d, "other", 0);
}

struct listed {
    uint32_t site;
    int64_t bytes, blocks, extra;
    double rate;
};

/* Every "key=SITE BYTES BLOCKS [RATE]" line of the RSS section. */
static size_t listed(const struct ls_dump *d, const char *key, struct listed *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < d->nrss && n < max; i++) {
        if (strcmp(d->rss[i].key, key) != 0)
            continue;
        struct listed l = { 0 };
        unsigned site;
        long long bytes = 0, blocks = 0;
        double rate = 0;
        if (sscanf(d->rss[i].value, "%u %lld %lld %lf", &site, &bytes, &blocks, &rate) < 2 || !dump_site(d, site))
            continue;
        l.site = site;
        l.bytes = bytes;
        l.blocks = blocks;
        l.rate = rate;
        out[n++] = l;
    }
    return n;
}

void rss_report_verdict(const struct ls_dump *d, struct symbolizer *sym, char *buf, size_t len)
{
    struct rss_breakdown b;
    struct verdict_names names = { 0 };
    char growing[256], leaked[256], stale[256], mapped[256], threads[256];
    struct listed l[1];
    unsigned site;
    long long alive;

    breakdown_of(d, &b);
    if (listed(d, "growing", l, 1)) {
        site_function(d, sym, l[0].site, growing, sizeof growing);
        names.growing = growing;
        names.growing_rate = l[0].rate;
    }
    if (dump_rss_value(d, "top_leak", -1) >= 0) {
        site_function(d, sym, (uint32_t)dump_rss_value(d, "top_leak", 0), leaked, sizeof leaked);
        names.leaked = leaked;
    }
    if (listed(d, "stale", l, 1)) {
        site_function(d, sym, l[0].site, stale, sizeof stale);
        names.stale = stale;
    }
    if (dump_rss_value(d, "top_mapped", -1) >= 0) {
        site_function(d, sym, (uint32_t)dump_rss_value(d, "top_mapped", 0), mapped, sizeof mapped);
        names.mapped = mapped;
    }
    for (size_t i = 0; i < d->nrss; i++)
        if (strcmp(d->rss[i].key, "threads_never_exit") == 0 && sscanf(d->rss[i].value, "%u %lld", &site, &alive) == 2 &&
            dump_site(d, site)) {
            site_function(d, sym, site, threads, sizeof threads);
            names.threads = threads;
            names.threads_alive = alive;
        }
    rss_verdict(&b, (int)dump_rss_value(d, "scanned", 0), dump_rss_value(d, "leaked_direct_indirect", 0), &names,
                buf, len);
}

/* Age buckets of a site's live blocks at the dump: <1 s, <10 s, <1 min, <10 min, older. */
static void age_buckets(const struct ls_dump *d, uint32_t site, int64_t counts[5])
{
    int64_t now_cs = (dump_rss_value(d, "uptime_ns", -1) >= 0 ? dump_rss_value(d, "uptime_ns", 0)
                                                               : dump_stat(d, "uptime_ns", 0)) / 10000000;
    static const int64_t limits[4] = { 100, 1000, 6000, 60000 };

    memset(counts, 0, 5 * sizeof *counts);
    for (size_t i = 0; i < d->nblocks; i++) {
        if (d->blocks[i].site != site)
            continue;
        int64_t age = now_cs - d->blocks[i].birth_cs;
        int k = 0;
        while (k < 4 && age >= limits[k])
            k++;
        counts[k]++;
    }
}

void rss_report_text(FILE *out, const struct ls_dump *d, struct symbolizer *sym)
{
    struct rss_breakdown b;
    char verdict[1024], v[32], name[512];
    struct listed l[16];

    if (d->nrss == 0)
        return;
    breakdown_of(d, &b);
    rss_report_verdict(d, sym, verdict, sizeof verdict);
    fprintf(out, "%s\n\nwhy RSS is %s:\n", verdict, format_bytes((uint64_t)b.rss, v, sizeof v));
    struct { const char *name; int64_t bytes; const char *note; } parts[] = {
        { "live, reachable", b.live_reachable, "the working set" },
        { "live, growing", b.live_growing, "reachable, at sites that keep growing" },
        { "live, stale", b.live_stale, "reachable, old, at sites that stopped freeing" },
        { "leaked", b.leaked, "no pointer, or only interior pointers, reach it" },
        { "retained by malloc", b.allocator_retained, "freed by the program, resident, kept by malloc" },
        { "lazily freed", b.lazy_free, "MADV_FREE pages the kernel has not taken back" },
        { "mapped by the program", b.program_mmap, "its own anonymous mmaps, resident" },
        { "leakscope itself", b.leakscope, "leakscope's own tables (not the program's)" },
        { "other", b.other, "code, stacks, libraries, malloc's overhead" },
    };
    int64_t free_bytes = dump_rss_value(d, "allocator_free", -1);
    if (free_bytes < 0) {              /* not measured: say so rather than show 0 */
        parts[4].note = "not measured at this dump: counted in other";
        parts[8].note = "code, stacks, libraries, malloc's overhead and free memory";
    }
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        fprintf(out, "  %-22s %11s %5.1f%%  %s\n", parts[i].name, format_bytes((uint64_t)parts[i].bytes, v, sizeof v),
                b.rss > 0 ? 100.0 * (double)parts[i].bytes / (double)b.rss : 0.0, parts[i].note);
    if (free_bytes > b.allocator_retained)
        fprintf(out, "  (malloc holds %s of freed memory in all, fordblks; the rest is no longer resident)\n",
                format_bytes((uint64_t)free_bytes, v, sizeof v));

    size_t n = listed(d, "growing", l, 16);
    if (n)
        fputs("\ngrowing sites (live bytes kept rising across the samples):\n", out);
    for (size_t i = 0; i < n; i++) {
        char rate[32], c[32];
        site_label(d, sym, l[i].site, name, sizeof name);
        fprintf(out, "  %s: +%s/s, %s in %s blocks now\n", name, format_bytes((uint64_t)l[i].rate, rate, sizeof rate),
                format_bytes((uint64_t)l[i].bytes, v, sizeof v), format_count((uint64_t)l[i].blocks, c, sizeof c));
    }
    n = listed(d, "stale", l, 16);
    if (n)
        fprintf(out, "\nstale sites (blocks older than %s s at sites that stopped freeing):\n",
                dump_meta(d, "stale_age_s") ? dump_meta(d, "stale_age_s") : "?");
    for (size_t i = 0; i < n; i++) {
        int64_t ages[5];
        char c[32];
        age_buckets(d, l[i].site, ages);
        site_label(d, sym, l[i].site, name, sizeof name);
        fprintf(out, "  %s: %s in %s blocks; ages <1s %lld, <10s %lld, <1min %lld, <10min %lld, older %lld\n", name,
                format_bytes((uint64_t)l[i].bytes, v, sizeof v), format_count((uint64_t)l[i].blocks, c, sizeof c),
                (long long)ages[0], (long long)ages[1], (long long)ages[2], (long long)ages[3], (long long)ages[4]);
    }
    int header = 0;
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        if (s->kind != 2)
            continue;
        if (!header++)
            fputs("\nthreads by creation site (started, exited, alive):\n", out);
        site_label(d, sym, s->id, name, sizeof name);
        int64_t exited = (int64_t)s->alloc_objects - s->inuse_objects;
        fprintf(out, "  %s: %" PRIu64 " started, %" PRId64 " exited, %" PRId64 " alive%s\n", name, s->alloc_objects,
                exited, s->inuse_objects, exited == 0 && s->inuse_objects > 0 ? "  <- never exit" : "");
    }
    fputc('\n', out);
}

void rss_report_json(FILE *out, const struct ls_dump *d, struct symbolizer *sym)
{
    static const char *keys[] = { "rss", "live_reachable", "live_growing", "live_stale", "leaked", "allocator_retained",
                                  "lazy_free", "program_mmap", "leakscope", "other", "allocator_free", "mapped_resident" };
    char name[512], verdict[1024];
    struct listed l[16];

    if (d->nrss == 0) {
        fputs(", \"rss\": null, \"growing\": [], \"stale\": [], \"threads\": [], \"verdict\": null", out);
        return;
    }
    fputs(",\n \"rss\": {", out);
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        fprintf(out, "%s\"%s\": %" PRId64, i ? ", " : "", keys[i], dump_rss_value(d, keys[i], 0));
    fputs("},\n \"growing\": [", out);
    size_t n = listed(d, "growing", l, 16);
    for (size_t i = 0; i < n; i++) {
        site_label(d, sym, l[i].site, name, sizeof name);
        fprintf(out, "%s{\"site\": %u, \"function\": ", i ? ", " : "", l[i].site);
        char *paren = strstr(name, " (");
        if (paren)
            *paren = '\0';
        json_string(out, name);
        fprintf(out, ", \"bytes_per_second\": %.0f, \"bytes\": %" PRId64 ", \"blocks\": %" PRId64 "}", l[i].rate,
                l[i].bytes, l[i].blocks);
    }
    fputs("],\n \"stale\": [", out);
    n = listed(d, "stale", l, 16);
    for (size_t i = 0; i < n; i++) {
        int64_t ages[5];
        age_buckets(d, l[i].site, ages);
        site_function(d, sym, l[i].site, name, sizeof name);
        fprintf(out, "%s{\"site\": %u, \"function\": ", i ? ", " : "", l[i].site);
        json_string(out, name);
        fprintf(out, ", \"bytes\": %" PRId64 ", \"blocks\": %" PRId64 ", \"ages\": {\"under_1s\": %lld, "
                "\"under_10s\": %lld, \"under_1min\": %lld, \"under_10min\": %lld, \"older\": %lld}}",
                l[i].bytes, l[i].blocks, (long long)ages[0], (long long)ages[1], (long long)ages[2],
                (long long)ages[3], (long long)ages[4]);
    }
    fputs("],\n \"threads\": [", out);
    int first = 1;
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        if (s->kind != 2)
            continue;
        site_function(d, sym, s->id, name, sizeof name);
        fprintf(out, "%s{\"site\": %u, \"function\": ", first ? "" : ", ", s->id);
        json_string(out, name);
        fprintf(out, ", \"started\": %" PRIu64 ", \"exited\": %" PRId64 ", \"alive\": %" PRId64 "}", s->alloc_objects,
                (int64_t)s->alloc_objects - s->inuse_objects, s->inuse_objects);
        first = 0;
    }
    rss_report_verdict(d, sym, verdict, sizeof verdict);
    fputs("],\n \"verdict\": ", out);
    json_string(out, verdict);
}

void timeline_report(FILE *out, const struct ls_dump *d, int json)
{
    static const char *shown[] = { "rss", "heap_inuse", "fordblks", "lazy_free", "mapped_bytes", "threads" };
    int idx[6], t = dump_timeline_field(d, "time_ns");

    for (int k = 0; k < 6; k++)
        idx[k] = dump_timeline_field(d, shown[k]);
    if (json) {
        fputs("{\"fields\": [", out);
        for (size_t f = 0; f < d->ntimeline_fields; f++) {
            fputs(f ? ", " : "", out);
            json_string(out, d->timeline_fields[f]);
        }
        fputs("],\n \"samples\": [", out);
        for (size_t i = 0; i < d->ntimeline; i++) {
            fputs(i ? ",\n  [" : "\n  [", out);
            for (size_t f = 0; f < d->ntimeline_fields; f++)
                fprintf(out, "%s%" PRId64, f ? ", " : "", d->timeline[i * d->ntimeline_fields + f]);
            fputs("]", out);
        }
        fputs("]}\n", out);
        return;
    }
    fprintf(out, "%10s %11s %11s %11s %11s %11s %8s\n", "seconds", "rss", "live heap", "malloc free", "lazy free",
            "mapped", "threads");
    for (size_t i = 0; i < d->ntimeline; i++) {
        const int64_t *r = &d->timeline[i * d->ntimeline_fields];
        char v[6][32];
        fprintf(out, "%10.3f", t >= 0 ? (double)r[t] / 1e9 : 0.0);
        for (int k = 0; k < 5; k++)
            fprintf(out, " %11s", idx[k] >= 0 && r[idx[k]] >= 0 ? format_bytes((uint64_t)r[idx[k]], v[k], 32) : "?");
        fprintf(out, " %8lld\n", idx[5] >= 0 ? (long long)r[idx[5]] : -1LL);
    }
    if (d->ntimeline == 0)
        fputs("(no samples: the process ended before its first tick)\n", out);
}
