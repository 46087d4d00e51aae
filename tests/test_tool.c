/*
 * test_tool.c - the `leakscope` command as a user runs it: run passes the
 * program's status through and prints the report; report reads dumps in text
 * and JSON and refuses bad input with one line and status 2.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static char *first_dump(const char *dir)
{
    char *cmd, *path = NULL;
    asprintf(&cmd, "ls %s/leakscope.*.lsd 2>/dev/null | head -1", dir);
    FILE *p = popen(cmd, "r");
    char line[4096];
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        path = strdup(line);
    }
    pclose(p);
    free(cmd);
    return path;
}

Test(tool, run_prints_the_report_and_keeps_the_exit_status)
{
    char *dir = make_temp_dir();
    char *argv[] = { TOOL_PATH, "run", "--out", dir, "--", PROG("widgets"), NULL };
    struct proc_result r = run_program(argv, NULL, 0, dir);

    cr_assert_eq(r.exit_code, 0);
    cr_assert_str_eq(r.out, "widgets ready\n", "the program's stdout is untouched");
    cr_assert_not_null(strstr(r.err, "heap in use:        "), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "97.7 KiB in use in 100 blocks"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, " in make_widgets "), "%s", r.err);
    cr_assert_null(strstr(r.err, "leakscope["), "the in-process exit notice is replaced by the report");
    free_result(&r);

    char *fail[] = { TOOL_PATH, "run", "--out", dir, "--", "sh", "-c", "exit 3", NULL };
    r = run_program(fail, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 3);
    free_result(&r);

    char *killed[] = { TOOL_PATH, "run", "--out", dir, "--", "sh", "-c", "kill -TERM $$", NULL };
    r = run_program(killed, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 128 + 15);
    cr_assert_not_null(strstr(r.err, "was killed by signal 15"), "%s", r.err);
    free_result(&r);

    char *sampled[] = { TOOL_PATH, "run", "--out", dir, "--sample", "4K", "--", PROG("widgets"), NULL };
    r = run_program(sampled, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0);
    cr_assert_not_null(strstr(r.err, "sampled:   one allocation per 4.0 KiB on average"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "leaks were not checked"), "%s", r.err);
    free_result(&r);

    char *missing[] = { TOOL_PATH, "run", "--out", dir, "--", "/nonexistent/program", NULL };
    r = run_program(missing, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 127);
    cr_assert_not_null(strstr(r.err, "cannot run '/nonexistent/program'"), "%s", r.err);
    free_result(&r);
    free(dir);
}

Test(tool, report_sorts_limits_and_speaks_json)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("widgets"), NULL };
    struct proc_result r = run_program(argv, NULL, 1, dir);
    char *dump = first_dump(dir);
    cr_assert_not_null(dump);

    char *top[] = { TOOL_PATH, "report", "--top", "1", "--sort", "alloc_objects", dump, NULL };
    struct proc_result t = run_program(top, NULL, 0, dir);
    cr_assert_eq(t.exit_code, 0, "%s", t.err);
    cr_assert_not_null(strstr(t.out, "Top 1 sites by alloc_objects"), "%s", t.out);
    cr_assert_not_null(strstr(t.out, "#1 97.7 KiB in use in 100 blocks"), "%s", t.out);
    cr_assert_null(strstr(t.out, "\n#2 "), "only one site listed");
    free_result(&t);

    char *json[] = { TOOL_PATH, "report", "--format", "json", "--top", "0", dump, NULL };
    t = run_program(json, NULL, 0, dir);
    cr_assert_eq(t.exit_code, 0, "%s", t.err);
    cr_assert_not_null(strstr(t.out, "\"inuse_space\": 100000, \"inuse_objects\": 100"), "%s", t.out);
    cr_assert_not_null(strstr(t.out, "\"function\": \"make_widgets\""), "%s", t.out);
    /* Valid JSON, checked by a real parser. */
    char path[] = "/tmp/leakscope-json-XXXXXX";
    int fd = mkstemp(path);
    write(fd, t.out, strlen(t.out));
    close(fd);
    char *check[] = { "python3", "-c",
                      "import json,sys; d=json.load(open(sys.argv[1])); "
                      "assert d['totals']['inuse_objects'] >= 100; assert d['dump']['reason'] == 'exit'",
                      path, NULL };
    struct proc_result c = run_program(check, NULL, 0, dir);
    cr_assert_eq(c.exit_code, 0, "python3 rejected the JSON: %s", c.err);
    unlink(path);
    free_result(&c);
    free_result(&t);
    free_result(&r);
    free(dump);
    free(dir);
}

/* Each bad input: status 2 and exactly one line on stderr containing `expect`. */
static void assert_refused(char *const argv[], const char *expect)
{
    struct proc_result r = run_program(argv, NULL, 0, "/tmp");
    cr_assert_eq(r.exit_code, 2, "%s: status %d", argv[1], r.exit_code);
    cr_assert_not_null(strstr(r.err, expect), "expected '%s' in: %s", expect, r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    free_result(&r);
}

Test(tool, bad_input_gets_one_line_and_status_2)
{
    char *dir = make_temp_dir();
    char *text, *cut, *cmd;
    asprintf(&text, "%s/notes.txt", dir);
    FILE *f = fopen(text, "w");
    fputs("not a dump\n", f);
    fclose(f);

    char *argv[] = { PROG("widgets"), NULL };
    struct proc_result r = run_program(argv, NULL, 1, dir);
    char *dump = first_dump(dir);
    asprintf(&cut, "%s/cut.lsd", dir);
    asprintf(&cmd, "head -c 300 %s > %s", dump, cut);
    cr_assert_eq(system(cmd), 0);

    char *missing[] = { TOOL_PATH, "report", "/nonexistent.lsd", NULL };
    assert_refused(missing, "/nonexistent.lsd: cannot open: No such file or directory");
    char *notdump[] = { TOOL_PATH, "report", text, NULL };
    assert_refused(notdump, "not a leakscope dump");
    char *trunc[] = { TOOL_PATH, "report", cut, NULL };
    assert_refused(trunc, "truncated");
    char *sort[] = { TOOL_PATH, "report", "--sort", "bytes", dump, NULL };
    assert_refused(sort, "--sort 'bytes' is not inuse_space, inuse_objects, alloc_space or alloc_objects");
    char *top[] = { TOOL_PATH, "report", "--top", "x", dump, NULL };
    assert_refused(top, "--top 'x' is not a whole number");
    char *unknown[] = { TOOL_PATH, "report", "--colour", dump, NULL };
    assert_refused(unknown, "unknown option '--colour'");
    char *nothing[] = { TOOL_PATH, "report", NULL };
    assert_refused(nothing, "no dump given");
    char *cmdbad[] = { TOOL_PATH, "frobnicate", NULL };
    assert_refused(cmdbad, "unknown command 'frobnicate'");
    char *depth[] = { TOOL_PATH, "run", "--depth", "0", "--", "true", NULL };
    assert_refused(depth, "--depth '0' is not a whole number from 1 to 256");
    char *sig[] = { TOOL_PATH, "run", "--signal", "KILL", "--", "true", NULL };
    assert_refused(sig, "--signal 'KILL'");
    char *sample[] = { TOOL_PATH, "run", "--sample", "12X", "--", "true", NULL };
    assert_refused(sample, "--sample '12X' is not a number of bytes");
    char *nocmd[] = { TOOL_PATH, "run", NULL };
    assert_refused(nocmd, "no command given");

    free_result(&r);
    free(dump);
    free(cut);
    free(cmd);
    free(text);
    free(dir);
}

Test(tool, help_is_available_on_every_command)
{
    const char *cmds[][3] = { { "--help", NULL, NULL }, { "run", "--help", NULL }, { "report", "--help", NULL } };

    for (size_t i = 0; i < 3; i++) {
        char *argv[] = { TOOL_PATH, (char *)cmds[i][0], (char *)cmds[i][1], NULL };
        struct proc_result r = run_program(argv, NULL, 0, "/tmp");
        cr_assert_eq(r.exit_code, 0);
        cr_assert_not_null(strstr(r.out, "usage: leakscope"), "%s", r.out);
        free_result(&r);
    }
}

Test(tool, installed_tool_finds_its_library, .timeout = 60)
{
    char *dir = make_temp_dir(), *cmd;
    /* -o: install the library and tool this run is testing, never rebuild them (a source edited since
       the build would have make rewrite the library while other tests are preloading it). */
    asprintf(&cmd, "make -s -C %s BUILD=%s -o %s/libleakscope.so -o %s/leakscope install PREFIX=%s/prefix "
             ">/dev/null 2>&1", LEAKSCOPE_SOURCE_DIR, LEAKSCOPE_BUILD_DIR, LEAKSCOPE_BUILD_DIR, LEAKSCOPE_BUILD_DIR, dir);
    cr_assert_eq(system(cmd), 0, "make install failed");
    char *tool;
    asprintf(&tool, "%s/prefix/bin/leakscope", dir);
    char *argv[] = { tool, "run", "--out", dir, "--top", "1", "--", PROG("widgets"), NULL };
    const char *env[] = { "LEAKSCOPE_LIB=", NULL };
    struct proc_result r = run_program(argv, env, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, " in make_widgets "), "%s", r.err);
    free_result(&r);
    free(tool);
    free(cmd);
    free(dir);
}

Test(tool, top_follows_a_running_process, .timeout = 60)
{
    char *dir = make_temp_dir();
    struct child c = start_child(PROG("snapshot"), dir, "/dev/null", NULL);
    char line[128];
    cr_assert_not_null(fgets(line, sizeof line, c.out));            /* READY */

    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "%d", (int)c.pid);
    char *argv[] = { TOOL_PATH, "top", "--count", "2", "--interval", "0.1", pid_text, NULL };
    struct proc_result r = run_program(argv, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    const char *first = strstr(r.out, "why RSS is "), *second = first ? strstr(first + 1, "why RSS is ") : NULL;
    cr_assert_not_null(second, "two snapshots shown: %s", r.out);
    cr_assert_not_null(strstr(r.out, "hold_blocks (snapshot.c:"), "%s", r.out);
    cr_assert_eq(count_dumps(dir), 2);
    free_result(&r);

    char *self[] = { TOOL_PATH, "top", "1", NULL };
    r = run_program(self, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 2);
    cr_assert_not_null(strstr(r.err, "is not running under leakscope"), "%s", r.err);
    free_result(&r);

    write(c.in, "x", 1);
    finish_child(&c);
    free(dir);
}

/* The first frame line of the make_widgets site in the report of argv's exit dump. */
static char *widgets_frame(const char *program)
{
    char *dir = make_temp_dir();
    char *argv[] = { TOOL_PATH, "run", "--out", dir, "--top", "1", "--", (char *)program, NULL };
    struct proc_result r = run_program(argv, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    const char *frame = strstr(r.err, "    #0 0x");
    cr_assert_not_null(frame, "%s", r.err);
    char *line = strndup(frame, strcspn(frame, "\n"));
    free_result(&r);
    free(dir);
    return line;
}

Test(tool, non_pie_executables_are_symbolized)
{
    char *frame = widgets_frame(PROG("widgets-nopie"));
    cr_assert_not_null(strstr(frame, " in make_widgets "), "%s", frame);
    cr_assert_not_null(strstr(frame, "widgets.c:12"), "%s", frame);
    free(frame);
}

Test(tool, stripped_code_shows_module_and_offset)
{
    char *frame = widgets_frame(PROG("widgets-stripped"));
    cr_assert_not_null(strstr(frame, "(widgets-stripped+0x"), "%s", frame);
    free(frame);
}

Test(tool, separate_debug_info_is_found_through_debuglink)
{
    char *frame = widgets_frame(PROG("debuglink/widgets"));
    cr_assert_not_null(strstr(frame, " in make_widgets "), "%s", frame);
    cr_assert_not_null(strstr(frame, "widgets.c:12"), "%s", frame);
    free(frame);
}
