/*
 * rssreport.h - the "why is RSS high" part of `leakscope report`: the
 * process's account (the dump's RSS section) rendered with symbolized site
 * names, growing and stale sites, threads by creation site, the timeline.
 */
#ifndef LEAKSCOPE_RSSREPORT_H
#define LEAKSCOPE_RSSREPORT_H

#include <stdio.h>

#include "dump_read.h"
#include "symbolize.h"

/* Text: the verdict and decomposition (nothing when the dump has no RSS section). */
void rss_report_text(FILE *out, const struct ls_dump *d, struct symbolizer *sym);
/* JSON members "rss", "growing", "stale", "threads", "verdict" (each preceded by ", "). */
void rss_report_json(FILE *out, const struct ls_dump *d, struct symbolizer *sym);
/* The sampled timeline, text or JSON. */
void timeline_report(FILE *out, const struct ls_dump *d, int json);
/* The verdict with symbolized names, into buf. */
void rss_report_verdict(const struct ls_dump *d, struct symbolizer *sym, char *buf, size_t len);
/* "function (file:line)" naming a site by its first frame outside the allocator. */
void site_label(const struct ls_dump *d, struct symbolizer *sym, uint32_t site, char *buf, size_t len);

#endif
