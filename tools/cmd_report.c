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
#include "suppress.h"
#include "symbolize.h"

static const char help_text[] =
    "usage: leakscope report [OPTIONS] DUMP\n"
    "\n"
    "Why the process's RSS is what it is (a verdict and the decomposition: live,\n"
    "growing, stale, leaked, retained by malloc, lazily freed, mapped, other), the\n"
    "totals, and the top call sites with their stacks symbolized from the binaries'\n"
    "debug info (function, file:line, inlined frames).\n"
    "\n"
    "options:\n"
    "  --top N          how many sites to list (default 10; 0 lists all)\n"
    "  --sort TYPE      inuse_space (default), inuse_objects, alloc_space or alloc_objects\n"
    "  --format FORMAT  text (default) or json\n"
    "  --leaks          LeakSanitizer-style listing of the leaked blocks, grouped by allocation\n"
    "                   stack, largest first (needs a dump with a reachability scan)\n"
    "  --timeline       the samples the background thread took (RSS, live heap, malloc's free\n"
    "                   memory, lazily freed, mapped, threads), oldest first\n"
    "  --suppressions FILE  leak:PATTERN lines, as LeakSanitizer's; added to those the\n"
    "                   program ran with (LEAKSCOPE_SUPPRESSIONS, kept in the dump)\n"
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
    } else if (strcmp(name, "--suppressions") == 0) {
        opt->suppressions_file = value;
    } else {
        return usage_error(cmd, "unknown option '%s'", name);
    }
    return 0;
}

#define MAX_PATTERNS 4096

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;

    if (!f)
        return NULL;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

struct file_problem {
    const char *path;
    int count;
};

static void report_file_problem(const char *line, void *arg)
{
    struct file_problem *p = arg;
    if (p->count++ == 0)
        fprintf(stderr, "leakscope: %s: %s\n", p->path, line);
}

int print_report(const char *path, const struct report_options *given, FILE *out)
{
    struct report_options opt = *given;
    struct ls_dump *d;
    char err[512], *own = NULL, *user = NULL;
    const char *patterns[MAX_PATTERNS];
    int n = 0, rc = 0;

    if (opt.suppressions_file) {
        struct file_problem problem = { opt.suppressions_file, 0 };
        user = read_text_file(opt.suppressions_file);
        if (!user) {
            fprintf(stderr, "leakscope: %s: cannot read the suppressions: %s\n", opt.suppressions_file,
                    strerror(errno));
            return 2;
        }
        n = suppressions_parse(user, patterns, MAX_PATTERNS, report_file_problem, &problem);
        if (problem.count) {
            free(user);
            return 2;
        }
    }
    if (dump_read(path, &d, err, sizeof err) != 0) {
        fprintf(stderr, "leakscope: %s\n", err);
        free(user);
        return 2;
    }
    if (d->suppressions && (own = strdup(d->suppressions)))
        n += suppressions_parse(own, patterns + n, MAX_PATTERNS - n, NULL, NULL);
    opt.patterns = patterns;
    opt.npatterns = n;
    struct symbolizer *sym = symbolizer_open(d);
    if (!sym) {
        fprintf(stderr, "leakscope: %s: cannot start the symbolizer (out of memory)\n", path);
        rc = 2;
    } else if (report_write(out, d, sym, &opt) != 0) {
        fprintf(stderr, "leakscope: %s: has no reachability scan (%s); --leaks needs one\n", path,
                report_why_no_scan(d));
        rc = 2;
    }
    symbolizer_close(sym);
    dump_free(d);
    free(own);
    free(user);
    return rc;
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
        if (strcmp(a, "--leaks") == 0) {
            opt.leaks = 1;
            continue;
        }
        if (strcmp(a, "--timeline") == 0) {
            opt.timeline = 1;
            continue;
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
