/*
 * cmd_diff.c - `leakscope diff BASE NEW`: what grew between two dumps of
 * the same program, per call site (pprof's -base), sorted by growth, with
 * both RSS decompositions side by side.  Sites are matched by their
 * symbolized stacks, so dumps of two runs of the same build compare too.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "commands.h"
#include "dump_read.h"
#include "report.h"
#include "rssreport.h"
#include "symbolize.h"
#include "util.h"

static const char help_text[] =
    "usage: leakscope diff [OPTIONS] BASE NEW\n"
    "\n"
    "What changed between two dumps of the same program: both RSS decompositions side\n"
    "by side, then the call sites sorted by growth (NEW minus BASE), as pprof -base\n"
    "shows it.  Take two snapshots an hour apart to find a slow leak.\n"
    "\n"
    "options:\n"
    "  --sort TYPE      inuse_space (default), inuse_objects, alloc_space or alloc_objects\n"
    "  --top N          how many sites to list (default 10; 0 lists all that changed)\n"
    "  --format FORMAT  text (default) or json\n"
    "  --help           this text\n";

struct entry {
    UT_hash_handle hh;
    int64_t value[2][4];               /* [base|new][sample type] */
    const struct ls_site *site[2];
    char stack[];
};

static const char *main_identity(const struct ls_dump *d, char *buf, size_t len)
{
    for (size_t m = 0; m < d->nmodules; m++)
        if (d->modules[m].is_main && d->modules[m].build_id_len) {
            size_t o = 0;
            for (size_t i = 0; i < d->modules[m].build_id_len && o + 3 < len; i++)
                o += (size_t)snprintf(buf + o, len - o, "%02x", d->modules[m].build_id[i]);
            return buf;
        }
    return dump_meta(d, "exe") ? dump_meta(d, "exe") : "";
}

static enum sample_type sort_key;

static int64_t growth(const struct entry *e)
{
    return e->value[1][sort_key] - e->value[0][sort_key];
}

static int by_growth(const void *a, const void *b)
{
    int64_t x = growth(*(struct entry *const *)a), y = growth(*(struct entry *const *)b);
    return x > y ? -1 : x < y;
}

static void delta_text(int64_t v, int bytes, char *buf, size_t len)
{
    char t[24];
    if (bytes)
        format_bytes((uint64_t)(v < 0 ? -v : v), t, sizeof t);
    else
        format_count((uint64_t)(v < 0 ? -v : v), t, sizeof t);
    snprintf(buf, len, "%s%s", v < 0 ? "-" : "+", t);
}

int cmd_diff(int argc, char **argv)
{
    struct report_options opt = { .top = 10, .sort = SAMPLE_INUSE_SPACE, .format = FORMAT_TEXT };
    const char *paths[2] = { NULL, NULL };
    int npaths = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            return 0;
        } else if (strcmp(a, "--sort") == 0 || strcmp(a, "--top") == 0 || strcmp(a, "--format") == 0) {
            if (parse_report_option("diff", a, i + 1 < argc ? argv[i + 1] : NULL, &opt) != 0)
                return 2;
            i++;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("diff", "unknown option '%s'", a);
        } else if (npaths < 2) {
            paths[npaths++] = a;
        } else {
            return usage_error("diff", "two dumps, BASE and NEW ('%s' is a third)", a);
        }
    }
    if (npaths != 2)
        return usage_error("diff", "give two dumps, BASE and NEW");

    struct ls_dump *d[2] = { NULL, NULL };
    struct symbolizer *sym[2] = { NULL, NULL };
    char err[512], id0[160], id1[160];
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        if (dump_read(paths[k], &d[k], err, sizeof err) != 0) {
            fprintf(stderr, "leakscope: %s\n", err);
            rc = 2;
            goto out;
        }
        sym[k] = symbolizer_open(d[k]);
    }
    if (strcmp(main_identity(d[0], id0, sizeof id0), main_identity(d[1], id1, sizeof id1)) != 0) {
        fprintf(stderr, "leakscope diff: %s and %s are dumps of different programs (%s and %s)\n", paths[0], paths[1],
                dump_meta(d[0], "exe") ? dump_meta(d[0], "exe") : "?", dump_meta(d[1], "exe") ? dump_meta(d[1], "exe") : "?");
        rc = 2;
        goto out;
    }

    struct entry *table = NULL, *e, *tmp;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < d[k]->nsites; i++) {
            const struct ls_site *s = &d[k]->sites[i];
            if (s->kind > 1)
                continue;
            char *stack = folded_stack(d[k], sym[k], s);
            HASH_FIND_STR(table, stack, e);
            if (!e) {
                e = calloc(1, sizeof *e + strlen(stack) + 1);
                strcpy(e->stack, stack);
                HASH_ADD_STR(table, stack, e);
            }
            for (int t = 0; t < 4; t++)
                e->value[k][t] += site_sample(s, (enum sample_type)t);
            e->site[k] = s;
            free(stack);
        }
    }
    size_t n = 0, changed = 0;
    struct entry **list = calloc(HASH_COUNT(table) + 1, sizeof *list);
    sort_key = opt.sort;
    HASH_ITER(hh, table, e, tmp)
        if (growth(e) != 0)
            list[n++] = e;
    qsort(list, n, sizeof *list, by_growth);
    changed = n;
    size_t shown = opt.top > 0 && (size_t)opt.top < n ? (size_t)opt.top : n;
    int is_bytes = opt.sort == SAMPLE_INUSE_SPACE || opt.sort == SAMPLE_ALLOC_SPACE;
    static const char *parts[] = { "rss", "live_reachable", "live_growing", "live_stale", "leaked",
                                   "allocator_retained", "lazy_free", "program_mmap", "leakscope", "other" };

    if (opt.format == FORMAT_JSON) {
        printf("{\"base\": ");
        json_string(stdout, paths[0]);
        printf(", \"new\": ");
        json_string(stdout, paths[1]);
        printf(", \"seconds_apart\": %.3f,\n \"rss\": {",
               (double)(strtoll(dump_meta(d[1], "time_unix_ns") ? dump_meta(d[1], "time_unix_ns") : "0", NULL, 10) -
                        strtoll(dump_meta(d[0], "time_unix_ns") ? dump_meta(d[0], "time_unix_ns") : "0", NULL, 10)) / 1e9);
        for (size_t p = 0; p < sizeof parts / sizeof *parts; p++)
            printf("%s\"%s\": {\"base\": %" PRId64 ", \"new\": %" PRId64 "}", p ? ", " : "", parts[p],
                   dump_rss_value(d[0], parts[p], 0), dump_rss_value(d[1], parts[p], 0));
        printf("},\n \"sort\": \"%s\",\n \"sites\": [", sample_type_name(opt.sort));
        for (size_t i = 0; i < shown; i++) {
            printf("%s\n  {\"stack\": ", i ? "," : "");
            json_string(stdout, list[i]->stack);
            for (int k = 0; k < 3; k++) {
                printf(", \"%s\": {", k == 0 ? "base" : k == 1 ? "new" : "delta");
                for (int t = 0; t < 4; t++)
                    printf("%s\"%s\": %" PRId64, t ? ", " : "", sample_type_name((enum sample_type)t),
                           k < 2 ? list[i]->value[k][t] : list[i]->value[1][t] - list[i]->value[0][t]);
                printf("}");
            }
            printf("}");
        }
        printf("]}\n");
    } else {
        char b[3][40], label[512];
        printf("leakscope diff: %s (pid %s, #%s) -> %s (pid %s, #%s)\n\n", paths[0],
               dump_meta(d[0], "pid") ? dump_meta(d[0], "pid") : "?", dump_meta(d[0], "seq") ? dump_meta(d[0], "seq") : "?",
               paths[1], dump_meta(d[1], "pid") ? dump_meta(d[1], "pid") : "?",
               dump_meta(d[1], "seq") ? dump_meta(d[1], "seq") : "?");
        for (int k = 0; k < 2; k++)
            if (dump_sample_period(d[k]))
                printf("%s was sampled (one allocation per %s on average): its figures are estimates, and so "
                       "are the changes\n", k == 0 ? "BASE" : "NEW", format_bytes(dump_sample_period(d[k]), b[0], 32));
        if (dump_sample_period(d[0]) || dump_sample_period(d[1]))
            putchar('\n');
        if (d[0]->nrss && d[1]->nrss) {
            char verdict[1024];
            printf("%-24s %12s %12s %12s\n", "", "BASE", "NEW", "change");
            for (size_t p = 0; p < sizeof parts / sizeof *parts; p++) {
                int64_t x = dump_rss_value(d[0], parts[p], 0), y = dump_rss_value(d[1], parts[p], 0);
                delta_text(y - x, 1, b[2], sizeof b[2]);
                printf("%-24s %12s %12s %12s\n", parts[p], format_bytes((uint64_t)x, b[0], 32),
                       format_bytes((uint64_t)y, b[1], 32), b[2]);
            }
            rss_report_verdict(d[1], sym[1], verdict, sizeof verdict);
            printf("\nnow: %s\n", verdict);
        }
        printf("\n%zu of %zu sites changed; top %zu by %s growth:\n", changed, (size_t)HASH_COUNT(table), shown,
               sample_type_name(opt.sort));
        for (size_t i = 0; i < shown; i++) {
            const struct entry *x = list[i];
            const struct ls_site *s = x->site[1] ? x->site[1] : x->site[0];
            int k = x->site[1] ? 1 : 0;
            delta_text(growth(x), is_bytes, b[2], sizeof b[2]);
            site_label(d[k], sym[k], s->id, label, sizeof label);
            if (is_bytes)
                printf("#%zu %s: %s -> %s  %s\n", i + 1, b[2], format_bytes((uint64_t)x->value[0][opt.sort], b[0], 32),
                       format_bytes((uint64_t)x->value[1][opt.sort], b[1], 32), label);
            else
                printf("#%zu %s: %s -> %s  %s\n", i + 1, b[2], format_count((uint64_t)x->value[0][opt.sort], b[0], 32),
                       format_count((uint64_t)x->value[1][opt.sort], b[1], 32), label);
        }
    }
    free(list);
    HASH_ITER(hh, table, e, tmp) {
        HASH_DEL(table, e);
        free(e);
    }
out:
    for (int k = 0; k < 2; k++) {
        symbolizer_close(sym[k]);
        dump_free(d[k]);
    }
    return rc;
}
