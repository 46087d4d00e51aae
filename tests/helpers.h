/*
 * helpers.h - what the end-to-end tests share: run a program (optionally
 * under libleakscope.so) with its output captured, find the dumps it wrote,
 * and find call sites by the functions on their symbolized stacks.
 */
#ifndef LEAKSCOPE_TEST_HELPERS_H
#define LEAKSCOPE_TEST_HELPERS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "dump_read.h"
#include "symbolize.h"

#define LIB_PATH LEAKSCOPE_BUILD_DIR "/libleakscope.so"
#define TOOL_PATH LEAKSCOPE_BUILD_DIR "/leakscope"
#define PROG(name) LEAKSCOPE_BUILD_DIR "/tests/progs/" name

struct proc_result {
    pid_t pid;
    int exit_code;             /* exit status, or 128 + signal */
    char *out, *err;           /* captured stdout and stderr (NUL-terminated) */
};

/* A fresh empty directory under /tmp; the caller owns the string. */
char *make_temp_dir(void);

/*
 * Run argv with the extra "NAME=VALUE" environment entries (NULL-terminated
 * list, may be NULL).  With preload, LD_PRELOAD is the library and
 * LEAKSCOPE_OUT is out_dir.  stdin is /dev/null.
 */
struct proc_result run_program(char *const argv[], const char *const extra_env[], int preload,
                               const char *out_dir);
void free_result(struct proc_result *r);

/*
 * Run argv (with the extra environment entries) without and with the preload
 * and fail unless stdout, stderr (less leakscope's own lines) and the exit
 * status are the same.  Returns the directory holding the traced run's dumps;
 * the caller frees the string.
 */
char *assert_preload_changes_nothing(char *const argv[], const char *const extra_env[]);

/* stderr without the lines leakscope itself printed ("leakscope[PID]: ..."). */
char *without_leakscope_lines(const char *err);

/* A run under the preload with its last dump loaded and symbolizer open. */
struct traced {
    char *dir;
    struct proc_result run;
    struct ls_dump *dump;      /* the last dump the process wrote (its exit dump) */
    struct symbolizer *sym;
};
/* Run argv under the preload; fails the test if it left no dump. */
struct traced run_traced(char *const argv[], const char *const extra_env[]);
void untrace(struct traced *t);

/* Paths of pid's dumps in dir, in sequence order; NULL-terminated, caller frees. */
char **dumps_of(const char *dir, pid_t pid, size_t *count);
void free_paths(char **paths);
/* Every leakscope.*.lsd file in dir. */
size_t count_dumps(const char *dir);

/* Read a dump or fail the test with the reader's message. */
struct ls_dump *load_dump(const char *path);

/* The heap/mmap site with `function` among its first `within` symbolized frames; NULL if none. */
const struct ls_site *site_calling(const struct ls_dump *d, struct symbolizer *sym, const char *function,
                                   int within, int kind);
/* The four counters summed over every site of `kind` whose innermost frame is `function`. */
struct site_sum {
    int sites;
    long long alloc_objects, alloc_space, inuse_objects, inuse_space;
};
struct site_sum sum_sites_in(const struct ls_dump *d, struct symbolizer *sym, const char *function, int kind);
/* Sum of inuse_space over heap sites. */
long long heap_inuse(const struct ls_dump *d);

/*
 * A program running under the preload that the test talks to: `in` is its
 * stdin, `out` its stdout.  LEAKSCOPE_OUT is out_dir, LEAKSCOPE_LOG is log
 * (unless NULL), then the extra "NAME=VALUE" entries (may be NULL).
 */
struct child {
    pid_t pid;
    int in;
    FILE *out;
};
struct child start_child(const char *prog, const char *out_dir, const char *log, const char *const extra_env[]);
/* Close its stdin and stdout; wait for it and return its wait status. */
int finish_child(struct child *c);

/* Wait up to timeout_ms for pid's first dump in dir; returns how many it has. */
size_t wait_for_dump(const char *dir, pid_t pid, int timeout_ms);

/* How many times needle occurs in text, without overlaps. */
size_t occurrences(const char *text, const char *needle);

/* What a shell command prints on stdout (the caller frees it). */
char *command_output(const char *shell_command);
/* Read a whole file; NULL if it cannot. */
char *slurp(const char *path);

#endif
