/*
 * cmd_export.c - `leakscope pprof` (gzipped profile.proto for go tool pprof,
 * Pyroscope, Parca, speedscope) and `leakscope flame` (folded stacks for
 * flamegraph.pl, inferno, speedscope).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "commands.h"
#include "dump_read.h"
#include "pprof.h"
#include "report.h"
#include "symbolize.h"

static const char pprof_help[] =
    "usage: leakscope pprof DUMP -o FILE.pb.gz\n"
    "\n"
    "Write the dump as a gzipped pprof profile (profile.proto), with the Go heap\n"
    "profile's sample types: alloc_objects, alloc_space, inuse_objects, inuse_space.\n"
    "Functions, files and lines are symbolized, inlined frames included; each module\n"
    "is a mapping with its build-id.  Labels: leak=reachable|possibly|indirect|direct\n"
    "(when the dump has a scan) and kind=heap|mmap.  Read it with\n"
    "  go tool pprof -top -sample_index=inuse_space FILE.pb.gz\n"
    "  go tool pprof -tagfocus 'leak=^direct$' -top FILE.pb.gz   (the leaked memory; tagfocus\n"
    "  takes a regular expression, and 'direct' alone would match 'indirect' too)\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   where to write (\"-\" for standard output)\n"
    "  --help              this text\n";

static const char flame_help[] =
    "usage: leakscope flame [--sample TYPE] DUMP\n"
    "\n"
    "Print the dump's stacks folded, one line each (\"outer;...;inner value\"), the\n"
    "input of flamegraph.pl, inferno-flamegraph and speedscope.\n"
    "\n"
    "options:\n"
    "  --sample TYPE   inuse_space (default), inuse_objects, alloc_space or alloc_objects\n"
    "  --help          this text\n";

struct ls_dump *open_dump(const char *cmd, const char *path, struct symbolizer **sym)
{
    struct ls_dump *d;
    char err[512];

    if (dump_read(path, &d, err, sizeof err) != 0) {
        fprintf(stderr, "leakscope: %s\n", err);
        return NULL;
    }
    *sym = symbolizer_open(d);
    if (!*sym) {
        fprintf(stderr, "leakscope %s: %s: cannot start the symbolizer (out of memory)\n", cmd, path);
        dump_free(d);
        return NULL;
    }
    return d;
}

int cmd_pprof(int argc, char **argv)
{
    const char *path, *output;
    int status = parse_dump_and_output("pprof", argc, argv, pprof_help, "-o FILE.pb.gz (or -o - for standard output)", &path, &output);
    if (status >= 0)
        return status;

    struct symbolizer *sym;
    struct ls_dump *d = open_dump("pprof", path, &sym);
    if (!d)
        return 2;
    int fd = strcmp(output, "-") == 0 ? 1 : open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    char err[512];
    if (fd < 0) {
        fprintf(stderr, "leakscope pprof: cannot create %s: %s\n", output, strerror(errno));
        rc = 2;
    } else if (pprof_write(fd, d, sym, err, sizeof err) != 0) {
        fprintf(stderr, "leakscope pprof: %s: %s\n", output, err);
        rc = 2;
    }
    if (fd > 1)
        close(fd);
    symbolizer_close(sym);
    dump_free(d);
    return rc;
}

/* ---- folded stacks ---- */

struct folded {
    UT_hash_handle hh;
    int64_t value;
    char stack[];
};

static void append(char **buf, size_t *len, size_t *cap, const char *text)
{
    size_t n = strlen(text);
    if (*len + n + 2 > *cap) {
        *cap = (*len + n + 2) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* "outer;...;inner" for a site: frames outermost first, inlined frames included. */
char *folded_stack(const struct ls_dump *d, struct symbolizer *sym, const struct ls_site *s)
{
    char *buf = NULL, name[1100];
    size_t len = 0, cap = 0;

    append(&buf, &len, &cap, "");
    for (int k = s->depth - 1; k >= 0; k--) {
        const struct sym_frame *frames;
        int n = symbolizer_lookup(sym, s->pcs[k], &frames);
        for (int f = n - 1; f >= 0; f--) {
            if (frames[f].function)
                snprintf(name, sizeof name, "%s", frames[f].function);
            else if (frames[f].module)
                snprintf(name, sizeof name, "%s+0x%llx",
                         strrchr(frames[f].module, '/') ? strrchr(frames[f].module, '/') + 1 : frames[f].module,
                         (unsigned long long)frames[f].module_offset);
            else
                snprintf(name, sizeof name, "0x%llx", (unsigned long long)s->pcs[k]);
            for (char *c = name; *c; c++)
                if (*c == ';' || *c == '\n')
                    *c = ':';                  /* the format's separators */
            if (len)
                append(&buf, &len, &cap, ";");
            append(&buf, &len, &cap, name);
        }
    }
    if (!len)
        append(&buf, &len, &cap, d->sites && s->depth == 0 ? "[allocated before leakscope started]" : "[no stack]");
    return buf;
}

void folded_for_each(const struct ls_dump *d, struct symbolizer *sym, enum sample_type type,
                     void (*emit)(const char *stack, long long value, void *arg), void *arg)
{
    struct folded *all = NULL, *f, *tmp;

    /* Different addresses can fold to the same names: add them up. */
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        int64_t v = s->kind > 1 ? 0 : site_sample(s, type);
        if (v <= 0)
            continue;
        char *stack = folded_stack(d, sym, s);
        HASH_FIND_STR(all, stack, f);
        if (!f) {
            f = malloc(sizeof *f + strlen(stack) + 1);
            strcpy(f->stack, stack);
            f->value = 0;
            HASH_ADD_STR(all, stack, f);
        }
        f->value += v;
        free(stack);
    }
    HASH_ITER(hh, all, f, tmp) {
        emit(f->stack, (long long)f->value, arg);
        HASH_DEL(all, f);
        free(f);
    }
}

static void print_folded(const char *stack, long long value, void *arg)
{
    (void)arg;
    printf("%s %lld\n", stack, value);
}

int cmd_flame(int argc, char **argv)
{
    const char *path = NULL;
    enum sample_type type = SAMPLE_INUSE_SPACE;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(flame_help, stdout);
            return 0;
        } else if (strcmp(a, "--sample") == 0) {
            int t = i + 1 < argc ? sample_type_parse(argv[i + 1]) : -1;
            if (t < 0)
                return usage_error("flame", "--sample '%s' is not inuse_space, inuse_objects, alloc_space or "
                                   "alloc_objects", i + 1 < argc ? argv[i + 1] : "");
            type = (enum sample_type)t;
            i++;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("flame", "unknown option '%s'", a);
        } else if (path) {
            return usage_error("flame", "one dump at a time ('%s' and '%s' given)", path, a);
        } else {
            path = a;
        }
    }
    if (!path)
        return usage_error("flame", "no dump given");
    struct symbolizer *sym;
    struct ls_dump *d = open_dump("flame", path, &sym);
    if (!d)
        return 2;
    folded_for_each(d, sym, type, print_folded, NULL);
    symbolizer_close(sym);
    dump_free(d);
    return 0;
}
