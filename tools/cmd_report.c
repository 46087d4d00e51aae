/*
 * cmd_report.c - `leakscope report`: read a dump, symbolize it, print it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dump_read.h"
#include "symbolize.h"

static const char help_text[] =
    "usage: leakscope report [OPTIONS] DUMP\n"
    "\n"
    "Print the totals of a dump and its top call sites, each with its stack\n"
    "symbolized from the binaries' debug info (function, file:line, inlined frames).\n"
    "\n"
    "options:\n"
    "  --top N          how many sites to list (default 10; 0 lists all)\n"
    "  --sort TYPE      inuse_space (default), inuse_objects, alloc_space or alloc_objects\n"
    "  --format FORMAT  text (default) or json\n"
    "  --help           this text\n";

int parse_report_option(const char *cmd, const char *name, const char *value, struct report_options *opt)
{
    if (!value)
        return usage_error(cmd, "%s needs a value", name);
    if (strcmp(name, "--top") == 0) {
        char *end;
        errno = 0;
        long n = strtol(value, &end, 10);
        if (errno || end == value || *end || n < 0 || n > 1000000)
            return usage_error(cmd, "--top '%s' is not a whole number from 0 to 1000000", value);
        opt->top = (int)n;
    } else if (strcmp(name, "--sort") == 0) {
        int t = sample_type_parse(value);
        if (t < 0)
            return usage_error(cmd, "--sort '%s' is not inuse_space, inuse_objects, alloc_space or alloc_objects",
                               value);
        opt->sort = (enum sample_type)t;
    } else if (strcmp(name, "--format") == 0) {
        if (strcmp(value, "text") == 0)
            opt->format = FORMAT_TEXT;
        else if (strcmp(value, "json") == 0)
            opt->format = FORMAT_JSON;
        else
            return usage_error(cmd, "--format '%s' is not text or json", value);
    } else {
        return usage_error(cmd, "unknown option '%s'", name);
    }
    return 0;
}

int print_report(const char *path, const struct report_options *opt, FILE *out)
{
    struct ls_dump *d;
    char err[512];

    if (dump_read(path, &d, err, sizeof err) != 0) {
        fprintf(stderr, "leakscope: %s\n", err);
        return 2;
    }
    struct symbolizer *sym = symbolizer_open(d);
    if (!sym) {
        fprintf(stderr, "leakscope: %s: cannot start the symbolizer (out of memory)\n", path);
        dump_free(d);
        return 2;
    }
    report_write(out, d, sym, opt);
    symbolizer_close(sym);
    dump_free(d);
    return 0;
}

int cmd_report(int argc, char **argv)
{
    struct report_options opt = { .top = 10, .sort = SAMPLE_INUSE_SPACE, .format = FORMAT_TEXT };
    const char *path = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            char name[64];
            const char *eq = strchr(a, '=');
            const char *value;
            if (eq) {
                snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
                value = eq + 1;
            } else {
                snprintf(name, sizeof name, "%s", a);
                value = i + 1 < argc ? argv[++i] : NULL;
            }
            if (parse_report_option("report", name, value, &opt) != 0)
                return 2;
            continue;
        }
        if (path)
            return usage_error("report", "one dump at a time ('%s' and '%s' given)", path, a);
        path = a;
    }
    if (!path)
        return usage_error("report", "no dump given");
    return print_report(path, &opt, stdout);
}
