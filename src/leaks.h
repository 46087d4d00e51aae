/*
 * leaks.h - the leak verdict of a dump, as the tool reports it: leaked
 * blocks grouped by kind and allocation stack, with suppressions applied
 * against fully symbolized stacks (function, file and module of every frame).
 * Blocks the dynamic loader allocated for itself (DTVs, TLS) are always
 * counted as suppressed, never silently dropped.
 */
#ifndef LEAKSCOPE_LEAKS_H
#define LEAKSCOPE_LEAKS_H

#include <stdint.h>

#include "dump_read.h"
#include "symbolize.h"

struct leak_record {
    int kind;                  /* LS_DIRECT, LS_INDIRECT or LS_POSSIBLY */
    uint32_t site;
    uint64_t bytes, blocks;
    const char *suppressed_by; /* NULL, a pattern, or "dynamic loader" */
};

struct leak_count {
    uint64_t bytes, blocks;
};

struct leak_report {
    struct leak_count direct, indirect, possibly, reachable, suppressed;
    struct leak_record *records;   /* unsuppressed first (direct, indirect, possibly; largest first), then suppressed */
    size_t nrecords, nkept;        /* nkept: how many leading records are not suppressed */
};

/*
 * Build the verdict.  patterns: suppressions (the dump's own plus the
 * user's).  Returns 0, or -1 when the dump has no scan.
 */
int leaks_analyse(const struct ls_dump *d, struct symbolizer *sym, const char *const *patterns, int npatterns,
                  struct leak_report *out);
void leaks_free(struct leak_report *r);

const char *leak_kind_name(int kind);    /* a block state's name: "direct", "indirect", "possibly", "reachable" */

#endif
