/*
 * leakscope.c - the `leakscope` command: dispatches to its subcommands.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dump_format.h"

static const char usage_text[] =
    "usage: leakscope COMMAND [OPTIONS]\n"
    "\n"
    "Find out why a program's memory grows, without recompiling it.\n"
    "\n"
    "commands:\n"
    "  run [OPTIONS] -- CMD [ARGS]   run CMD under libleakscope.so, then print the report of its exit dump\n"
    "  report [OPTIONS] DUMP         why RSS is high, leaks, top call sites with symbolized stacks\n"
    "  top [OPTIONS] PID             follow a running process live, snapshot after snapshot\n"
    "  diff [OPTIONS] BASE NEW       what grew between two dumps, per call site\n"
    "  pprof DUMP -o FILE.pb.gz      the dump as a pprof profile (go tool pprof, Pyroscope, Parca)\n"
    "  flame [--sample TYPE] DUMP    folded stacks for flame graphs (flamegraph.pl, speedscope)\n"
    "  html DUMP -o report.html      one self-contained page: charts, sites, flame graph, leaks\n"
    "\n"
    "`leakscope COMMAND --help` describes a command's options.\n"
    "In a running program: kill -USR1 PID writes a dump (leakscope.PID.N.lsd) and prints a summary.\n";

int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "leakscope %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see: leakscope %s --help)\n", cmd);
    return 2;
}

int parse_dump_and_output(const char *cmd, int argc, char **argv, const char *help, const char *missing_output,
                          const char **path, const char **output)
{
    *path = *output = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc)
                return usage_error(cmd, "%s needs a file name", a);
            *output = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return usage_error(cmd, "unknown option '%s'", a);
        } else if (*path) {
            return usage_error(cmd, "one dump at a time ('%s' and '%s' given)", *path, a);
        } else {
            *path = a;
        }
    }
    if (!*path)
        return usage_error(cmd, "no dump given");
    if (!*output)
        return usage_error(cmd, "no output file given: %s", missing_output);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("leakscope %s (dump format %d)\n", LEAKSCOPE_VERSION, DUMP_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "top") == 0)
        return cmd_top(argc - 1, argv + 1);
    if (strcmp(cmd, "pprof") == 0)
        return cmd_pprof(argc - 1, argv + 1);
    if (strcmp(cmd, "flame") == 0)
        return cmd_flame(argc - 1, argv + 1);
    if (strcmp(cmd, "diff") == 0)
        return cmd_diff(argc - 1, argv + 1);
    if (strcmp(cmd, "html") == 0)
        return cmd_html(argc - 1, argv + 1);
    fprintf(stderr, "leakscope: unknown command '%s' (commands: run, report, top, diff, pprof, flame, html; see leakscope --help)\n", cmd);
    return 2;
}
