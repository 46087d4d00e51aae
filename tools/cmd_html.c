/*
 * cmd_html.c - `leakscope html DUMP -o report.html`: one self-contained page
 * (no network, no external script) with the RSS decomposition as a chart,
 * the timeline, a sortable table of call sites, an interactive flame graph
 * and the leak list.  The page is tools/report_template.html with the dump's
 * data spliced in as JSON; its script draws everything in the browser.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dump_read.h"
#include "report.h"
#include "rssreport.h"
#include "symbolize.h"

static const char template_text[] =
#include "report_template.inc"
    ;

#define DATA_MARK "/*LEAKSCOPE_DATA*/"

static const char help_text[] =
    "usage: leakscope html DUMP -o report.html\n"
    "\n"
    "Write one self-contained HTML file (no network, no external scripts): why RSS is\n"
    "high as a chart, the timeline of RSS, live heap, malloc's free memory and more, a\n"
    "sortable table of call sites (the four sample types, growth rate, leak state), an\n"
    "interactive flame graph of inuse_space and alloc_space, and the leaks with stacks.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   where to write\n"
    "  --help              this text\n";

struct json_list {
    FILE *out;
    int first;
};

static void emit_pair(const char *stack, long long value, void *arg)
{
    struct json_list *l = arg;
    fputs(l->first ? "[" : ",[", l->out);
    json_string(l->out, stack);
    fprintf(l->out, ",%lld]", value);
    l->first = 0;
}

/* The page's data; "</" is written "<\/" so no string can end the <script> element. */
static int write_data(FILE *out, const struct ls_dump *d, struct symbolizer *sym)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    struct report_options opt = { .top = 0, .sort = SAMPLE_ALLOC_SPACE, .format = FORMAT_JSON };

    if (!m)
        return -1;
    fputs("{\"report\": ", m);
    report_write(m, d, sym, &opt);
    fputs(", \"leaks\": ", m);
    opt.leaks = 1;
    if (d->nscan == 0 || report_write(m, d, sym, &opt) != 0)
        fputs("null", m);
    fputs(", \"no_scan\": ", m);
    json_string(m, d->nscan ? "" : report_why_no_scan(d));
    fputs(", \"timeline\": ", m);
    timeline_report(m, d, 1);
    fputs(", \"flame\": {", m);
    static const enum sample_type types[2] = { SAMPLE_INUSE_SPACE, SAMPLE_ALLOC_SPACE };
    for (int t = 0; t < 2; t++) {
        struct json_list l = { m, 1 };
        fprintf(m, "%s\"%s\": [", t ? ", " : "", sample_type_name(types[t]));
        folded_for_each(d, sym, types[t], emit_pair, &l);
        fputs("]", m);
    }
    fputs("}}", m);
    fclose(m);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '<' && i + 1 < len && buf[i + 1] == '/')
            fputs("<\\", out);
        else
            fputc(buf[i], out);
    }
    free(buf);
    return 0;
}

int cmd_html(int argc, char **argv)
{
    const char *path, *output;
    int status = parse_dump_and_output("html", argc, argv, help_text, "-o report.html", &path, &output);
    if (status >= 0)
        return status;

    struct symbolizer *sym;
    struct ls_dump *d = open_dump("html", path, &sym);
    if (!d)
        return 2;
    const char *mark = strstr(template_text, DATA_MARK);
    FILE *out = fopen(output, "w");
    int rc = 0;
    if (!out) {
        fprintf(stderr, "leakscope html: cannot create %s: %s\n", output, strerror(errno));
        rc = 2;
    } else {
        fwrite(template_text, 1, (size_t)(mark - template_text), out);
        write_data(out, d, sym);
        fputs(mark + strlen(DATA_MARK), out);
        if (fclose(out) != 0) {
            fprintf(stderr, "leakscope html: cannot write %s: %s\n", output, strerror(errno));
            rc = 2;
        }
    }
    symbolizer_close(sym);
    dump_free(d);
    return rc;
}
