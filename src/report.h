/*
 * report.h - renders one dump as the `leakscope report` text or JSON: totals,
 * then the top call sites by one pprof sample type, each with its symbolized
 * stack.
 */
#ifndef LEAKSCOPE_REPORT_H
#define LEAKSCOPE_REPORT_H

#include <stdio.h>

#include "dump_read.h"
#include "symbolize.h"

enum sample_type { SAMPLE_INUSE_SPACE, SAMPLE_INUSE_OBJECTS, SAMPLE_ALLOC_SPACE, SAMPLE_ALLOC_OBJECTS };
enum output_format { FORMAT_TEXT, FORMAT_JSON };

struct report_options {
    int top;                   /* sites (or leak records) to list; 0 = all */
    enum sample_type sort;
    enum output_format format;
    int leaks;                 /* the LeakSanitizer-style leak listing instead of the site listing */
    int timeline;              /* the sampled timeline instead */
    const char *const *patterns;   /* suppressions (the dump's own and the user's) */
    int npatterns;
    const char *suppressions_file; /* --suppressions: read by the command, added to patterns */
};

/* "inuse_space" -> SAMPLE_INUSE_SPACE; -1 if unknown. */
int sample_type_parse(const char *name);
const char *sample_type_name(enum sample_type t);
int64_t site_sample(const struct ls_site *s, enum sample_type t);

/* Why a dump has no reachability scan, as a phrase ("the program ran with LEAKSCOPE_SAMPLE, ..."). */
const char *report_why_no_scan(const struct ls_dump *d);

/* 0, or -1 when --leaks was asked of a dump without a reachability scan. */
int report_write(FILE *out, const struct ls_dump *d, struct symbolizer *sym,
                 const struct report_options *opt);

/* JSON string literal with escapes. */
void json_string(FILE *out, const char *s);

#endif
