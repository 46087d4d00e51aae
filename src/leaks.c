/*
 * leaks.c - grouping and suppressing leaked blocks (see leaks.h).
 */
#define _GNU_SOURCE
#include "leaks.h"

#include <stdlib.h>
#include <string.h>

#include "suppress.h"

const char *leak_kind_name(int kind)
{
    switch (kind) {
    case LS_DIRECT: return "direct";
    case LS_INDIRECT: return "indirect";
    case LS_POSSIBLY: return "possibly";
    case LS_REACHABLE: return "reachable";
    }
    return "unknown";
}

/* What suppresses this site, or NULL. */
static const char *site_suppression(const struct ls_dump *d, const struct ls_site *s, struct symbolizer *sym,
                                    const char *const *patterns, int npatterns)
{
    if (s->depth > 0) {
        for (size_t m = 0; m < d->nmodules; m++) {
            const struct ls_module *mod = &d->modules[m];
            if (mod->is_loader && s->pcs[0] - 1 >= mod->start && s->pcs[0] - 1 < mod->end)
                return "dynamic loader";
        }
    }
    for (int k = 0; k < s->depth && npatterns > 0; k++) {
        const struct sym_frame *frames;
        int n = symbolizer_lookup(sym, s->pcs[k], &frames);
        for (int f = 0; f < n; f++)
            for (int p = 0; p < npatterns; p++)
                if (suppression_matches(patterns[p], frames[f].function) ||
                    suppression_matches(patterns[p], frames[f].file) ||
                    suppression_matches(patterns[p], frames[f].module))
                    return patterns[p];
    }
    return NULL;
}

static int kind_rank(int kind)
{
    return kind == LS_DIRECT ? 0 : kind == LS_INDIRECT ? 1 : 2;
}

static int compare_records(const void *a, const void *b)
{
    const struct leak_record *x = a, *y = b;

    if ((x->suppressed_by != NULL) != (y->suppressed_by != NULL))
        return x->suppressed_by ? 1 : -1;
    if (kind_rank(x->kind) != kind_rank(y->kind))
        return kind_rank(x->kind) - kind_rank(y->kind);
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->site < y->site ? -1 : x->site > y->site;
}

int leaks_analyse(const struct ls_dump *d, struct symbolizer *sym, const char *const *patterns, int npatterns,
                  struct leak_report *out)
{
    memset(out, 0, sizeof *out);
    if (d->nscan == 0)
        return -1;
    /* One record per (site, kind): index sites densely by their position in d->sites. */
    size_t nsites = d->nsites;
    struct leak_record *by_site = calloc(nsites * 3 + 1, sizeof *by_site);
    const char **verdict = calloc(nsites + 1, sizeof *verdict);
    char *decided = calloc(nsites + 1, 1);
    if (!by_site || !verdict || !decided) {
        free(by_site);
        free(verdict);
        free(decided);
        return -1;
    }
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct ls_block *b = &d->blocks[i];
        if (b->state == LS_REACHABLE) {
            out->reachable.bytes += b->size;
            out->reachable.blocks++;
            continue;
        }
        if (b->state != LS_DIRECT && b->state != LS_INDIRECT && b->state != LS_POSSIBLY)
            continue;
        const struct ls_site *s = dump_site(d, b->site);
        size_t index = (size_t)(s - d->sites);
        if (!decided[index]) {
            verdict[index] = site_suppression(d, s, sym, patterns, npatterns);
            decided[index] = 1;
        }
        struct leak_record *r = &by_site[index * 3 + (size_t)kind_rank((int)b->state)];
        r->kind = (int)b->state;
        r->site = b->site;
        r->bytes += b->size;
        r->blocks++;
        r->suppressed_by = verdict[index];
        struct leak_count *c = verdict[index] ? &out->suppressed
                             : b->state == LS_DIRECT ? &out->direct
                             : b->state == LS_INDIRECT ? &out->indirect : &out->possibly;
        c->bytes += b->size;
        c->blocks++;
    }
    size_t n = 0;
    for (size_t i = 0; i < nsites * 3; i++)
        if (by_site[i].blocks)
            by_site[n++] = by_site[i];
    qsort(by_site, n, sizeof *by_site, compare_records);
    out->records = by_site;
    out->nrecords = n;
    while (out->nkept < n && !by_site[out->nkept].suppressed_by)
        out->nkept++;
    free(verdict);
    free(decided);
    return 0;
}

void leaks_free(struct leak_report *r)
{
    free(r->records);
    memset(r, 0, sizeof *r);
}
