/*
 * commands.h - the subcommands of the `leakscope` tool.  Each returns the
 * process exit status: 0 success, 2 bad usage or unreadable input (one line
 * on stderr saying what was wrong), or the traced program's status for run.
 */
#ifndef LEAKSCOPE_COMMANDS_H
#define LEAKSCOPE_COMMANDS_H

#include "report.h"

int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_pprof(int argc, char **argv);
int cmd_flame(int argc, char **argv);
int cmd_diff(int argc, char **argv);

struct ls_dump;
struct ls_site;
struct symbolizer;
/* "outer;...;inner" names of a site's stack (malloc'd), as flame graphs want them. */
char *folded_stack(const struct ls_dump *d, struct symbolizer *sym, const struct ls_site *s);
/* Every distinct folded stack with its summed value of one sample type. */
void folded_for_each(const struct ls_dump *d, struct symbolizer *sym, enum sample_type type,
                     void (*emit)(const char *stack, long long value, void *arg), void *arg);
/* Read a dump and open its symbolizer; NULL after a one-line error. */
struct ls_dump *open_dump(const char *cmd, const char *path, struct symbolizer **sym);
int cmd_html(int argc, char **argv);

/* Shared by commands: print "leakscope CMD: message" and return 2. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The arguments of a command that turns one dump into one file: `DUMP -o FILE`
 * (and --help, which prints help).  Returns -1 when both were given, else the
 * exit status to return (0 after --help, 2 after a one-line error, which for a
 * missing -o ends with missing_output).
 */
int parse_dump_and_output(const char *cmd, int argc, char **argv, const char *help, const char *missing_output,
                          const char **path, const char **output);
/* Parse a --top / --sort / --format value into opt; 0 if ok, else prints and returns 2. */
int parse_report_option(const char *cmd, const char *name, const char *value, struct report_options *opt);
/*
 * The newest dump (highest sequence number) of pid in dir: its sequence
 * number and path, or -1.  *others (if not NULL) counts the dumps of other
 * processes modified at or after since.
 */
long newest_dump(const char *dir, int pid, long since, char *path, size_t len, int *others);
/* Read, symbolize and print a dump; 0, or 2 with a one-line error. */
int print_report(const char *path, const struct report_options *opt, FILE *out);

#endif
