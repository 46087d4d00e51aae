/*
 * report.c - the `leakscope report` renderer (see report.h).
 */
#define _GNU_SOURCE
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leaks.h"
#include "rssreport.h"
#include "util.h"

static const char *sample_names[] = { "inuse_space", "inuse_objects", "alloc_space", "alloc_objects" };

int sample_type_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, sample_names[i]) == 0)
            return i;
    return -1;
}

const char *sample_type_name(enum sample_type t)
{
    return sample_names[t];
}

int64_t site_sample(const struct ls_site *s, enum sample_type t)
{
    switch (t) {
    case SAMPLE_INUSE_SPACE: return s->inuse_space;
    case SAMPLE_INUSE_OBJECTS: return s->inuse_objects;
    case SAMPLE_ALLOC_SPACE: return (int64_t)s->alloc_space;
    case SAMPLE_ALLOC_OBJECTS: return (int64_t)s->alloc_objects;
    }
    return 0;
}

void json_string(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

struct totals {
    uint64_t inuse_space, inuse_objects, alloc_space, alloc_objects;
    uint64_t mapped_bytes, mapped_regions;
    int64_t by_sample[4];      /* over every site, heap and mmap: the percentages' base */
};

static void compute_totals(const struct ls_dump *d, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        if (s->kind > 1)
            continue;                  /* thread creation sites hold no memory */
        for (int k = 0; k < 4; k++)
            t->by_sample[k] += site_sample(s, (enum sample_type)k);
        if (s->kind != 0) {
            t->mapped_bytes += (uint64_t)s->inuse_space;
            t->mapped_regions += (uint64_t)s->inuse_objects;
            continue;
        }
        t->inuse_space += (uint64_t)s->inuse_space;
        t->inuse_objects += (uint64_t)s->inuse_objects;
        t->alloc_space += s->alloc_space;
        t->alloc_objects += s->alloc_objects;
    }
}

static enum sample_type sort_key;

static int compare_sites(const void *a, const void *b)
{
    const struct ls_site *x = *(const struct ls_site *const *)a, *y = *(const struct ls_site *const *)b;
    int64_t vx = site_sample(x, sort_key), vy = site_sample(y, sort_key);

    if (vx != vy)
        return vx > vy ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Sites with a non-zero value of the sort key, largest first. */
static const struct ls_site **ranked_sites(const struct ls_dump *d, enum sample_type key, size_t *count)
{
    const struct ls_site **list = calloc(d->nsites + 1, sizeof *list);
    size_t n = 0;

    if (!list) {
        *count = 0;
        return NULL;
    }
    for (size_t i = 0; i < d->nsites; i++)
        if (d->sites[i].kind <= 1 && site_sample(&d->sites[i], key) > 0)
            list[n++] = &d->sites[i];
    sort_key = key;
    qsort(list, n, sizeof *list, compare_sites);
    *count = n;
    return list;
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

static void format_time(const char *unix_ns, char *buf, size_t len)
{
    time_t secs = unix_ns ? (time_t)(strtoll(unix_ns, NULL, 10) / 1000000000) : 0;
    struct tm tm;

    if (secs && gmtime_r(&secs, &tm))
        strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    else
        snprintf(buf, len, "unknown time");
}

static void text_frame(FILE *out, int index, uint64_t pc, const struct sym_frame *f)
{
    fprintf(out, "    #%d 0x%012" PRIx64, index, pc);
    if (f->function)
        fprintf(out, " in %s", f->function);
    if (f->file)
        fprintf(out, " %s:%d", f->file, f->line);
    if (f->inlined)
        fputs(" (inlined)", out);
    if (f->module && !f->function)
        fprintf(out, " (%s+0x%" PRIx64 ")", base_name(f->module), f->module_offset);
    else if (f->module)
        fprintf(out, " (%s)", base_name(f->module));
    fputc('\n', out);
}

static void text_stack(FILE *out, const struct ls_site *s, struct symbolizer *sym)
{
    int index = 0;

    for (int k = 0; k < s->depth; k++) {
        const struct sym_frame *frames;
        int n = symbolizer_lookup(sym, s->pcs[k], &frames);
        for (int f = 0; f < n; f++)
            text_frame(out, index++, s->pcs[k], &frames[f]);
    }
    if (s->depth == 0)
        fputs("    (no stack: allocated before leakscope started, by the loader or a library's start-up)\n", out);
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* One line per kind, shared by the report's leak section and the --leaks SUMMARY. */
static void text_leak_counts(FILE *out, const struct leak_report *lr)
{
    const struct { const char *name; const struct leak_count *c; } kinds[] = {
        { "directly leaked", &lr->direct }, { "indirectly leaked", &lr->indirect },
        { "possibly lost (only interior pointers reach them)", &lr->possibly },
        { "still reachable", &lr->reachable }, { "suppressed", &lr->suppressed },
    };
    char b[32], c[32];

    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        fprintf(out, "  %-52s %s bytes in %s %s\n", kinds[i].name, format_count(kinds[i].c->bytes, b, sizeof b),
                format_count(kinds[i].c->blocks, c, sizeof c), plural(kinds[i].c->blocks, "block", "blocks"));
}

static void text_scan_line(FILE *out, const struct ls_dump *d)
{
    char b[32];
    double pause_ms = (double)dump_scan_value(d, "pause_ns", 0) / 1e6;
    int64_t unresponsive = dump_scan_value(d, "unresponsive_threads", 0);

    fprintf(out, "reachability scan: %s scanned, program stopped for %.1f ms, %lld other thread%s",
            format_bytes((uint64_t)dump_scan_value(d, "bytes_scanned", 0), b, sizeof b), pause_ms,
            (long long)dump_scan_value(d, "threads", 0), dump_scan_value(d, "threads", 0) == 1 ? "" : "s");
    if (unresponsive)
        fprintf(out, " (%lld did not stop: signal blocked? their stacks were scanned whole)", (long long)unresponsive);
    fputc('\n', out);
}

/* The LeakSanitizer-style listing. */
static void text_leaks(FILE *out, const struct ls_dump *d, struct symbolizer *sym, const struct report_options *opt,
                       const struct leak_report *lr)
{
    static const char *headline[] = { [LS_DIRECT] = "Direct leak", [LS_INDIRECT] = "Indirect leak",
                                      [LS_POSSIBLY] = "Possible leak" };
    size_t shown = opt->top > 0 && (size_t)opt->top < lr->nkept ? (size_t)opt->top : lr->nkept;
    char b[32];

    fprintf(out, "leakscope leak report: %s\nprogram: %s (pid %s), dump written at %s\n", d->path,
            dump_meta(d, "exe") ? dump_meta(d, "exe") : "?", dump_meta(d, "pid") ? dump_meta(d, "pid") : "?",
            dump_meta(d, "reason") ? dump_meta(d, "reason") : "?");
    text_scan_line(out, d);
    for (size_t i = 0; i < shown; i++) {
        const struct leak_record *r = &lr->records[i];
        fprintf(out, "\n%s of %llu byte(s) in %llu object(s) allocated from:\n", headline[r->kind],
                (unsigned long long)r->bytes, (unsigned long long)r->blocks);
        text_stack(out, dump_site(d, r->site), sym);
    }
    if (shown < lr->nkept)
        fprintf(out, "\n(%zu more leak records; --top 0 lists them all)\n", lr->nkept - shown);
    if (lr->nrecords > lr->nkept) {
        fprintf(out, "\nSuppressed:\n");
        for (size_t i = lr->nkept; i < lr->nrecords; i++) {
            const struct leak_record *r = &lr->records[i];
            fprintf(out, "  %s bytes in %llu %s leak record(s), by %s%s%s\n", format_count(r->bytes, b, sizeof b),
                    (unsigned long long)r->blocks, leak_kind_name(r->kind),
                    strcmp(r->suppressed_by, "dynamic loader") == 0 ? "" : "leak:",
                    r->suppressed_by, strcmp(r->suppressed_by, "dynamic loader") == 0 ? " (its own bookkeeping)" : "");
        }
    }
    fprintf(out, "\nSUMMARY: leakscope: %llu byte(s) leaked in %llu allocation(s).\n",
            (unsigned long long)(lr->direct.bytes + lr->indirect.bytes),
            (unsigned long long)(lr->direct.blocks + lr->indirect.blocks));
    text_leak_counts(out, lr);
}

static void text_report(FILE *out, const struct ls_dump *d, struct symbolizer *sym,
                        const struct report_options *opt)
{
    struct totals t;
    char b1[32], b2[32], c1[32], c2[32], when[64];
    size_t nranked;
    const struct ls_site **ranked = ranked_sites(d, opt->sort, &nranked);
    const char *reason = dump_meta(d, "reason");
    double after = 0;

    compute_totals(d, &t);
    format_time(dump_meta(d, "time_unix_ns"), when, sizeof when);
    if (dump_meta(d, "time_unix_ns") && dump_meta(d, "start_unix_ns"))
        after = (double)(strtoll(dump_meta(d, "time_unix_ns"), NULL, 10) -
                         strtoll(dump_meta(d, "start_unix_ns"), NULL, 10)) / 1e9;

    fprintf(out, "leakscope report: %s\n", d->path);
    fprintf(out, "program:   %s (pid %s)\n", dump_meta(d, "exe") ? dump_meta(d, "exe") : "?",
            dump_meta(d, "pid") ? dump_meta(d, "pid") : "?");
    if (dump_meta(d, "cmdline"))
        fprintf(out, "command:   %s\n", dump_meta(d, "cmdline"));
    fprintf(out, "dump:      #%s, written at %s", dump_meta(d, "seq") ? dump_meta(d, "seq") : "?",
            reason && strcmp(reason, "signal") == 0 ? "a signal" : reason ? reason : "?");
    if (reason && (strcmp(reason, "signal") == 0 || strcmp(reason, "crash") == 0) && dump_meta(d, "signal"))
        fprintf(out, " (%s)", dump_meta(d, "signal"));
    fprintf(out, ", %s, %.2f s after start\n", when, after);
    if (dump_sample_period(d))
        fprintf(out, "sampled:   one allocation per %s on average (LEAKSCOPE_SAMPLE): sizes and counts are "
                "estimates, leaks are not checked\n", format_bytes(dump_sample_period(d), b1, sizeof b1));
    fputc('\n', out);

    rss_report_text(out, d, sym);
    fprintf(out, "heap in use:        %s (%s bytes) in %s blocks\n", format_bytes(t.inuse_space, b1, sizeof b1),
            format_count(t.inuse_space, c1, sizeof c1), format_count(t.inuse_objects, c2, sizeof c2));
    fprintf(out, "allocated in total: %s (%s bytes) in %s blocks\n", format_bytes(t.alloc_space, b1, sizeof b1),
            format_count(t.alloc_space, c1, sizeof c1), format_count(t.alloc_objects, c2, sizeof c2));
    fprintf(out, "mapped by program:  %s in %s anonymous regions\n", format_bytes(t.mapped_bytes, b1, sizeof b1),
            format_count(t.mapped_regions, c1, sizeof c1));
    fprintf(out, "madvise:            MADV_FREE %s in %s calls, MADV_DONTNEED %s in %s calls\n",
            format_bytes((uint64_t)dump_stat(d, "madv_free_bytes", 0), b1, sizeof b1),
            format_count((uint64_t)dump_stat(d, "madv_free_calls", 0), c1, sizeof c1),
            format_bytes((uint64_t)dump_stat(d, "madv_dontneed_bytes", 0), b2, sizeof b2),
            format_count((uint64_t)dump_stat(d, "madv_dontneed_calls", 0), c2, sizeof c2));
    if (dump_stat(d, "rss_bytes", -1) >= 0) {
        fprintf(out, "process:            RSS %s; ", format_bytes((uint64_t)dump_stat(d, "rss_bytes", 0), b1, sizeof b1));
        int64_t mallinfo_ns = dump_stat(d, "mallinfo_ns", -1), abandoned_ns = dump_stat(d, "mallinfo_abandoned_ns", -1);
        if (dump_stat(d, "mallinfo_fordblks", -1) >= 0)
            fprintf(out, "malloc holds %s freed but not returned (fordblks)",
                    format_bytes((uint64_t)dump_stat(d, "mallinfo_fordblks", 0), b2, sizeof b2));
        else if (abandoned_ns >= 0)
            fprintf(out, "malloc's free memory not measured: its walk of every free chunk was left after %.0f ms "
                    "(an exit dump waits 1%% of the run; a snapshot, kill -USR1, waits for it)", (double)abandoned_ns / 1e6);
        else
            fputs("malloc's free memory not measured", out);
        if (mallinfo_ns >= 10000000)      /* worth saying: it is leakscope's cost, paid in the program */
            fprintf(out, "; asking malloc took %.0f ms (mallinfo2 walks every free chunk)", (double)mallinfo_ns / 1e6);
        fputc('\n', out);
    }

    struct leak_report lr;
    if (leaks_analyse(d, sym, opt->patterns, opt->npatterns, &lr) == 0) {
        fputc('\n', out);
        text_scan_line(out, d);
        text_leak_counts(out, &lr);
        if (lr.nkept)
            fprintf(out, "  the leaked blocks' stacks: leakscope report --leaks %s\n", d->path);
        leaks_free(&lr);
    }

    size_t shown = opt->top > 0 && (size_t)opt->top < nranked ? (size_t)opt->top : nranked;
    fprintf(out, "\nTop %zu sites by %s (%zu of %zu sites have any):\n", shown, sample_type_name(opt->sort),
            nranked, d->nsites);
    for (size_t i = 0; i < shown; i++) {
        const struct ls_site *s = ranked[i];
        int64_t v = site_sample(s, opt->sort);
        double pct = t.by_sample[opt->sort] > 0 ? 100.0 * (double)v / (double)t.by_sample[opt->sort] : 0;
        fprintf(out, "\n#%zu%s %s in use in %s %s%s (%.1f%% of %s); allocated %s in %s; peak %s in use\n",
                i + 1, s->kind ? " [mmap]" : "",
                format_bytes((uint64_t)s->inuse_space, b1, sizeof b1),
                format_count((uint64_t)s->inuse_objects, c1, sizeof c1), s->kind ? "region" : "block",
                s->inuse_objects == 1 ? "" : "s", pct,
                sample_type_name(opt->sort), format_bytes(s->alloc_space, b2, sizeof b2),
                format_count(s->alloc_objects, c2, sizeof c2),
                format_bytes((uint64_t)s->peak_inuse_space, when, sizeof when));
        text_stack(out, s, sym);
    }
    const char **problems;
    int np = symbolizer_problems(sym, &problems);
    if (np)
        fputc('\n', out);
    for (int i = 0; i < np; i++)
        fprintf(out, "note: %s\n", problems[i]);
    free(ranked);
}

static void json_stack(FILE *out, const struct ls_site *s, struct symbolizer *sym)
{
    int first = 1;

    fputs("[", out);
    for (int k = 0; k < s->depth; k++) {
        const struct sym_frame *frames;
        int n = symbolizer_lookup(sym, s->pcs[k], &frames);
        for (int f = 0; f < n; f++) {
            fprintf(out, "%s{\"address\": \"0x%" PRIx64 "\", \"function\": ", first ? "" : ", ", s->pcs[k]);
            json_string(out, frames[f].function);
            fputs(", \"file\": ", out);
            json_string(out, frames[f].file);
            fprintf(out, ", \"line\": %d, \"module\": ", frames[f].line);
            json_string(out, frames[f].module);
            fprintf(out, ", \"module_offset\": %" PRIu64 ", \"inlined\": %s}", frames[f].module_offset,
                    frames[f].inlined ? "true" : "false");
            first = 0;
        }
    }
    fputs("]", out);
}

static void json_count(FILE *out, const char *name, const struct leak_count *c, int last)
{
    fprintf(out, "\"%s\": {\"bytes\": %" PRIu64 ", \"blocks\": %" PRIu64 "}%s", name, c->bytes, c->blocks,
            last ? "" : ", ");
}

static void json_leak_counts(FILE *out, const struct leak_report *lr)
{
    fputs("{", out);
    json_count(out, "direct", &lr->direct, 0);
    json_count(out, "indirect", &lr->indirect, 0);
    json_count(out, "possibly", &lr->possibly, 0);
    json_count(out, "reachable", &lr->reachable, 0);
    json_count(out, "suppressed", &lr->suppressed, 1);
    fputs("}", out);
}

/* key=value text as a JSON object: numbers stay numbers, anything else is a string. */
static void json_keyvals(FILE *out, const struct ls_keyval *kv, size_t n)
{
    fputs("{", out);
    for (size_t i = 0; i < n; i++) {
        char *end;
        fputs(i ? ", " : "", out);
        json_string(out, kv[i].key);
        fputs(": ", out);
        long long v = strtoll(kv[i].value, &end, 10);
        if (*kv[i].value && !*end)
            fprintf(out, "%lld", v);
        else
            json_string(out, kv[i].value);
    }
    fputs("}", out);
}

static void json_scan(FILE *out, const struct ls_dump *d)
{
    json_keyvals(out, d->scan, d->nscan);
}

static void json_records(FILE *out, const struct ls_dump *d, struct symbolizer *sym, const struct leak_report *lr,
                         size_t from, size_t to)
{
    fputs("[", out);
    for (size_t i = from; i < to; i++) {
        const struct leak_record *r = &lr->records[i];
        fprintf(out, "%s\n  {\"kind\": \"%s\", \"bytes\": %" PRIu64 ", \"blocks\": %" PRIu64 ", \"site\": %u, ",
                i > from ? "," : "", leak_kind_name(r->kind), r->bytes, r->blocks, r->site);
        if (r->suppressed_by) {
            fputs("\"suppressed_by\": ", out);
            json_string(out, r->suppressed_by);
            fputs(", ", out);
        }
        fputs("\"stack\": ", out);
        json_stack(out, dump_site(d, r->site), sym);
        fputs("}", out);
    }
    fputs("]", out);
}

static void json_leaks(FILE *out, const struct ls_dump *d, struct symbolizer *sym, const struct report_options *opt,
                       const struct leak_report *lr)
{
    size_t shown = opt->top > 0 && (size_t)opt->top < lr->nkept ? (size_t)opt->top : lr->nkept;

    fputs("{\"dump\": {\"path\": ", out);
    json_string(out, d->path);
    fputs(", \"pid\": ", out);
    fprintf(out, "%lld, \"exe\": ", dump_meta(d, "pid") ? strtoll(dump_meta(d, "pid"), NULL, 10) : 0LL);
    json_string(out, dump_meta(d, "exe"));
    fputs(", \"reason\": ", out);
    json_string(out, dump_meta(d, "reason"));
    fputs("},\n \"leaks\": ", out);
    json_leak_counts(out, lr);
    fputs(",\n \"scan\": ", out);
    json_scan(out, d);
    fputs(",\n \"records\": ", out);
    json_records(out, d, sym, lr, 0, shown);
    fputs(",\n \"suppressed_records\": ", out);
    json_records(out, d, sym, lr, lr->nkept, lr->nrecords);
    fputs("}\n", out);
}

static void json_report(FILE *out, const struct ls_dump *d, struct symbolizer *sym,
                        const struct report_options *opt)
{
    struct totals t;
    size_t nranked;
    const struct ls_site **ranked = ranked_sites(d, opt->sort, &nranked);
    static const char *numeric_meta[] = { "pid", "ppid", "seq", "signal", "time_unix_ns", "start_unix_ns",
                                          "depth", "version", "interval_ms", "stale_age_s", "sample_period" };

    compute_totals(d, &t);
    fputs("{\"dump\": {\"path\": ", out);
    json_string(out, d->path);
    for (size_t i = 0; i < d->nmeta; i++) {
        int numeric = 0;
        for (size_t k = 0; k < sizeof numeric_meta / sizeof *numeric_meta; k++)
            numeric |= strcmp(d->meta[i].key, numeric_meta[k]) == 0;
        fputs(", ", out);
        json_string(out, d->meta[i].key);
        fputs(": ", out);
        if (numeric)
            fprintf(out, "%lld", strtoll(d->meta[i].value, NULL, 10));
        else
            json_string(out, d->meta[i].value);
    }
    fprintf(out, "},\n \"totals\": {\"inuse_space\": %" PRIu64 ", \"inuse_objects\": %" PRIu64
            ", \"alloc_space\": %" PRIu64 ", \"alloc_objects\": %" PRIu64 ", \"mapped_bytes\": %" PRIu64
            ", \"mapped_regions\": %" PRIu64 ", \"sites\": %zu},\n \"process\": ",
            t.inuse_space, t.inuse_objects, t.alloc_space, t.alloc_objects, t.mapped_bytes, t.mapped_regions,
            d->nsites);
    json_keyvals(out, d->stats, d->nstats);
    fputs(",\n \"leaks\": ", out);
    struct leak_report lr;
    if (leaks_analyse(d, sym, opt->patterns, opt->npatterns, &lr) == 0) {
        json_leak_counts(out, &lr);
        fputs(",\n \"scan\": ", out);
        json_scan(out, d);
        leaks_free(&lr);
    } else {
        fputs("null,\n \"scan\": null", out);
    }
    rss_report_json(out, d, sym);
    fputs(",\n \"sort\": ", out);
    json_string(out, sample_type_name(opt->sort));
    fputs(",\n \"sites\": [", out);
    size_t shown = opt->top > 0 && (size_t)opt->top < nranked ? (size_t)opt->top : nranked;
    for (size_t i = 0; i < shown; i++) {
        const struct ls_site *s = ranked[i];
        fprintf(out, "%s\n  {\"id\": %u, \"kind\": \"%s\", \"inuse_space\": %" PRId64 ", \"inuse_objects\": %"
                PRId64 ", \"alloc_space\": %" PRIu64 ", \"alloc_objects\": %" PRIu64
                ", \"peak_inuse_space\": %" PRId64 ", \"stack\": ",
                i ? "," : "", s->id, s->kind ? "mmap" : "heap", s->inuse_space, s->inuse_objects,
                s->alloc_space, s->alloc_objects, s->peak_inuse_space);
        json_stack(out, s, sym);
        fputs("}", out);
    }
    fputs("],\n \"notes\": [", out);
    const char **problems;
    int np = symbolizer_problems(sym, &problems);
    for (int i = 0; i < np; i++) {
        fputs(i ? ", " : "", out);
        json_string(out, problems[i]);
    }
    fputs("]}\n", out);
    free(ranked);
}

const char *report_why_no_scan(const struct ls_dump *d)
{
    const char *reason = dump_meta(d, "reason");

    if (dump_sample_period(d))
        return "the program ran with LEAKSCOPE_SAMPLE, which turns the leak check off";
    if (reason && strcmp(reason, "interval") == 0)
        return "periodic dumps of LEAKSCOPE_DUMP_INTERVAL skip the scan";
    if (reason && strcmp(reason, "crash") == 0)
        return "a crash dump is written without a scan";
    return "the program ran with LEAKSCOPE_LEAK_CHECK=0, or the scan could not run (its exit notice says why)";
}

int report_write(FILE *out, const struct ls_dump *d, struct symbolizer *sym,
                 const struct report_options *opt)
{
    if (opt->timeline) {
        timeline_report(out, d, opt->format == FORMAT_JSON);
        return 0;
    }
    if (opt->leaks) {
        struct leak_report lr;
        if (leaks_analyse(d, sym, opt->patterns, opt->npatterns, &lr) != 0)
            return -1;
        if (opt->format == FORMAT_JSON)
            json_leaks(out, d, sym, opt, &lr);
        else
            text_leaks(out, d, sym, opt, &lr);
        leaks_free(&lr);
        return 0;
    }
    if (opt->format == FORMAT_JSON)
        json_report(out, d, sym, opt);
    else
        text_report(out, d, sym, opt);
    return 0;
}
