/*
 * test_reliability.c - leakscope never breaks the program: its signals,
 * its crashes, its file descriptors, its threads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

Test(reliability, the_programs_own_signal_handlers_win_and_snapshots_move, .timeout = 60)
{
    char *dir = make_temp_dir(), *log_path;
    asprintf(&log_path, "%s/log", dir);
    struct child c = start_child(PROG("own_handler"), dir, log_path, NULL);
    char line[128];
    cr_assert_not_null(fgets(line, sizeof line, c.out));
    cr_assert_str_eq(line, "USR1 1 USR2 1\n", "the program's handlers got its signals");
    cr_assert_not_null(fgets(line, sizeof line, c.out));             /* READY */

    char *log = slurp(log_path);
    cr_assert_not_null(log);
    const char *moved = strstr(log, "leakscope's snapshots are now on signal ");
    cr_assert_not_null(moved, "%s", log);
    int sig = atoi(moved + strlen("leakscope's snapshots are now on signal "));
    cr_assert(sig >= SIGRTMIN && sig <= SIGRTMAX, "moved to a real-time signal: %d", sig);
    cr_assert_not_null(strstr(log, "scavenging is now on signal "), "%s", log);
    free(log);

    kill(c.pid, sig);
    cr_assert_eq(wait_for_dump(dir, c.pid, 10000), 1, "a snapshot on the new signal");
    write(c.in, "x\n", 2);
    cr_assert_not_null(fgets(line, sizeof line, c.out));
    cr_assert_str_eq(line, "done ok\n");
    int status = finish_child(&c);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(log_path);
    free(dir);
}

/* Run crasher MODE plainly and under leakscope: same stdout, same death; returns the traced run's dumps. */
static char **crash_both_ways(const char *mode, const char *const env[], char **dir, int *traced_exit, size_t *n)
{
    char *argv[] = { PROG("crasher"), (char *)mode, NULL };
    *dir = make_temp_dir();
    struct proc_result plain = run_program(argv, NULL, 0, *dir);
    struct proc_result traced = run_program(argv, env, 1, *dir);
    cr_assert_eq(traced.exit_code, plain.exit_code, "%s: %d vs %d", mode, traced.exit_code, plain.exit_code);
    cr_assert_str_eq(traced.out, plain.out);
    *traced_exit = traced.exit_code;
    char **dumps = dumps_of(*dir, traced.pid, n);
    free_result(&plain);
    free_result(&traced);
    return dumps;
}

Test(reliability, a_crash_leaves_a_post_mortem_dump_and_the_same_death)
{
    struct { const char *mode; int sig; } cases[] = {
        { "segv", SIGSEGV }, { "abort", SIGABRT }, { "fpe", SIGFPE }, { "kill", SIGSEGV },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *dir;
        int exit_code;
        size_t n;
        char **dumps = crash_both_ways(cases[i].mode, NULL, &dir, &exit_code, &n);
        cr_assert_eq(exit_code, 128 + cases[i].sig, "%s died of signal %d", cases[i].mode, exit_code - 128);
        cr_assert_eq(n, 1, "%s: one post-mortem dump", cases[i].mode);
        struct ls_dump *d = load_dump(dumps[0]);
        struct symbolizer *sym = symbolizer_open(d);
        cr_assert_str_eq(dump_meta(d, "reason"), "crash");
        cr_assert_eq(atoi(dump_meta(d, "signal")), cases[i].sig);
        const struct ls_site *s = site_calling(d, sym, "before_crash", 1, 0);
        cr_assert_not_null(s);
        cr_assert_eq(s->inuse_space, 5000, "what was live when it died");
        symbolizer_close(sym);
        dump_free(d);
        free_paths(dumps);
        free(dir);
    }
}

Test(reliability, a_fault_the_program_handles_itself_is_left_to_it)
{
    char *dir;
    int exit_code;
    size_t n;
    char **dumps = crash_both_ways("handled", NULL, &dir, &exit_code, &n);
    cr_assert_eq(exit_code, 0);
    cr_assert_eq(n, 1, "only the exit dump");
    struct ls_dump *d = load_dump(dumps[0]);
    cr_assert_str_eq(dump_meta(d, "reason"), "exit");
    dump_free(d);
    free_paths(dumps);
    free(dir);
}

Test(reliability, crash_dumps_can_be_turned_off)
{
    char *dir;
    int exit_code;
    size_t n;
    const char *env[] = { "LEAKSCOPE_CRASH_DUMP=0", NULL };
    char **dumps = crash_both_ways("segv", env, &dir, &exit_code, &n);
    cr_assert_eq(exit_code, 128 + SIGSEGV);
    cr_assert_eq(n, 0);
    free_paths(dumps);
    free(dir);
}

Test(reliability, periodic_dumps_leave_a_recent_snapshot_even_after_sigkill, .timeout = 60)
{
    char *dir = make_temp_dir();
    const char *env[] = { "LEAKSCOPE_DUMP_INTERVAL=0.05", "LEAKSCOPE_DUMP_KEEP=2", NULL };
    struct child c = start_child(PROG("snapshot"), dir, NULL, env);
    pid_t pid = c.pid;
    char line[128];
    cr_assert_not_null(fgets(line, sizeof line, c.out));   /* READY */
    usleep(500000);                                       /* about ten periodic dumps */
    kill(pid, SIGKILL);                                   /* the OOM killer's way: no exit dump */
    finish_child(&c);

    size_t n;
    char **dumps = dumps_of(dir, pid, &n);
    cr_assert_eq(n, 2, "the last LEAKSCOPE_DUMP_KEEP=2 periodic dumps are kept, the older ones removed");
    struct ls_dump *d = load_dump(dumps[1]);
    struct symbolizer *sym = symbolizer_open(d);
    cr_assert_str_eq(dump_meta(d, "reason"), "interval");
    cr_assert_eq(d->nscan, 0, "periodic dumps skip the scan");
    const struct ls_site *held = site_calling(d, sym, "hold_blocks", 1, 0);
    cr_assert_not_null(held);
    cr_assert_eq(held->inuse_space, 40960, "what the killed process held");
    int dump_pid;
    unsigned seq = 0;
    sscanf(strrchr(dumps[1], '/') + 1, "leakscope.%d.%u.lsd", &dump_pid, &seq);
    cr_assert_gt(seq, 1, "not among the first dumps: older ones were rotated out (%s)", dumps[1]);
    symbolizer_close(sym);
    dump_free(d);
    free_paths(dumps);
    free(dir);
}

Test(reliability, programs_rough_on_their_environment_are_unaffected, .timeout = 120)
{
    const char *modes[] = { "closefds", "exit", "threads", "vfork" };
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        char *argv[] = { PROG("hostile"), (char *)modes[i], NULL };
        free(assert_preload_changes_nothing(argv, NULL));
    }
    /* Scans every 20 ms while 1000 threads come and go. */
    char *threads[] = { PROG("hostile"), "threads", NULL };
    const char *scans[] = { "LEAKSCOPE_SCAN_INTERVAL=0.02", NULL };
    free(assert_preload_changes_nothing(threads, scans));
}

Test(reliability, an_address_space_limit_costs_the_program_nothing, .timeout = 60)
{
    /* 300 MB of address space: leakscope's own mappings may fail; the program must not. */
    char *argv[] = { "sh", "-c", "ulimit -v 300000 && exec \"$0\"", PROG("widgets"), NULL };
    free(assert_preload_changes_nothing(argv, NULL));
}

/* Root and unshare(1): the tests below mount filesystems in a private mount namespace. */
static int can_mount_privately(void)
{
    return geteuid() == 0 && system("unshare -m true 2>/dev/null") == 0;
}

Test(reliability, without_proc_the_leak_check_is_skipped_not_wrong, .timeout = 60)
{
    /* Containers sometimes run without /proc.  Then neither the readable memory nor the threads are
       known, and a scan would call every block leaked; leakscope must say it skipped the check. */
    if (!can_mount_privately())
        cr_skip_test("needs root and unshare(1) to hide /proc in a private mount namespace");
    char *dir = make_temp_dir();
    char *argv[] = { "unshare", "-m", "sh", "-c",
                     "mount -t tmpfs none /proc && LD_PRELOAD=\"$0\" exec \"$1\" global",
                     LIB_PATH, PROG("leaks"), NULL };
    char out_env[PATH_MAX + 16];
    snprintf(out_env, sizeof out_env, "LEAKSCOPE_OUT=%s", dir);
    const char *env[] = { out_env, NULL };
    struct proc_result r = run_program(argv, env, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "global done\n");
    cr_assert_not_null(strstr(r.err, "leak check at exit skipped: /proc cannot be read"), "%s", r.err);
    cr_assert_null(strstr(r.err, "directly leaked"), "no leak report built on a blind scan: %s", r.err);
    cr_assert_eq(count_dumps(dir), 1, "the dump is still written");
    free_result(&r);
    free(dir);
}

Test(reliability, a_full_disk_is_said_once_and_dumps_resume_when_space_returns, .timeout = 60)
{
    if (!can_mount_privately())
        cr_skip_test("needs root and unshare(1) to mount a small tmpfs in a private mount namespace");
    char *dir = make_temp_dir();
    /* A 64 KiB filesystem with 4 KiB free: too little for a dump.  The exit dump of widgets fails; then
       snapshot's periodic dumps fail until the filler is removed, and succeed after. */
    char *argv[] = { "unshare", "-m", "sh", "-c",
                     "d=$3; mount -t tmpfs -o size=64k none \"$d\" || exit 99\n"
                     "dd if=/dev/zero of=\"$d/fill\" bs=1k count=60 2>/dev/null\n"
                     "LEAKSCOPE_OUT=\"$d\" LD_PRELOAD=\"$0\" \"$1\" || exit 98\n"
                     "ls \"$d\" | grep -c lsd\n"
                     "(sleep 0.5; rm \"$d/fill\"; sleep 0.5; echo) | LEAKSCOPE_OUT=\"$d\" LEAKSCOPE_DUMP_INTERVAL=0.02 "
                     "LEAKSCOPE_DUMP_KEEP=2 LD_PRELOAD=\"$0\" \"$2\" || exit 97\n"
                     "ls \"$d\" | grep -c '^leakscope.*lsd$'\n",
                     LIB_PATH, PROG("widgets"), PROG("snapshot"), dir, NULL };
    struct proc_result r = run_program(argv, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    /* widgets' output, no dump; snapshot's output, two periodic dumps and the exit dump. */
    int pid;
    cr_assert_eq(sscanf(r.out, "widgets ready\n0\nREADY %d\nread ok\n3\n", &pid), 1, "%s", r.out);
    cr_assert_str_eq(strstr(r.out, "read ok"), "read ok\n3\n");
    cr_assert_eq(occurrences(r.err, "exit dump not written: cannot write a dump in"), 1, "%s", r.err);
    cr_assert_eq(occurrences(r.err, "No space left on device"), 2, "%s", r.err);
    cr_assert_eq(occurrences(r.err, "periodic dumps not written"), 1, "said once, not every 20 ms: %s", r.err);
    cr_assert_eq(occurrences(r.err, "periodic dumps written again"), 1, "%s", r.err);
    free_result(&r);
    free(dir);
}

Test(reliability, two_hundred_exit_scans_in_a_row_never_fault, .timeout = 120)
{
    /* The map of readable memory was once read before the scan's own buffers were replaced: a buffer
       gone since, merged by the kernel with the main thread's TLS mapping, was scanned and faulted in
       about one run in twenty. */
    char *dir = make_temp_dir();
    const char *env[] = { "LEAKSCOPE_CRASH_DUMP=0", "LEAKSCOPE_QUIET=1", NULL };
    char *argv[] = { PROG("leaks"), "lost", NULL };
    for (int i = 0; i < 200; i++) {
        struct proc_result r = run_program(argv, env, 1, dir);
        cr_assert_eq(r.exit_code, 0, "run %d: exit %d: %s", i, r.exit_code, r.err);
        free_result(&r);
    }
    free(dir);
}

Test(reliability, a_read_only_output_directory_costs_one_line_and_the_dump_goes_to_the_cwd, .timeout = 60)
{
    if (!can_mount_privately())
        cr_skip_test("needs root and unshare(1) to mount a read-only tmpfs in a private mount namespace");
    char *dir = make_temp_dir(), *ro;
    asprintf(&ro, "%s/ro", dir);
    mkdir(ro, 0755);
    char *argv[] = { "unshare", "-m", "sh", "-c",
                     "mount -t tmpfs -o ro none \"$3\" || exit 99\n"
                     "cd \"$2\" && LEAKSCOPE_OUT=\"$3\" LD_PRELOAD=\"$0\" exec \"$1\"",
                     LIB_PATH, PROG("widgets"), dir, ro, NULL };
    struct proc_result r = run_program(argv, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "widgets ready\n");
    cr_assert_not_null(strstr(r.err, "is not writable; dumps go to the current directory"), "%s", r.err);
    cr_assert_eq(count_dumps(dir), 1, "the dump is in the directory the program started in");
    free_result(&r);
    free(ro);
    free(dir);
}

/* The scan's buffers (about 64 bytes a block) are given back once its dump is written. */
Test(reliability, scan_buffers_are_released_after_the_dump, .timeout = 60)
{
    char *dir = make_temp_dir();
    const char *env[] = { "LEAKSCOPE_DUMP_INTERVAL=0.1", "LEAKSCOPE_DUMP_KEEP=1000", NULL };
    struct child c = start_child(PROG("snapshot"), dir, NULL, env);
    pid_t pid = c.pid;
    char line[128];
    cr_assert_not_null(fgets(line, sizeof line, c.out));   /* READY */
    kill(pid, SIGUSR1);                                    /* a dump with a scan */
    usleep(600000);                                        /* periodic dumps, without scans, after it */
    kill(pid, SIGKILL);
    finish_child(&c);

    size_t n;
    char **dumps = dumps_of(dir, pid, &n);
    int seen_scan = 0, interval_after = 0;
    for (size_t i = 0; i < n; i++) {
        struct ls_dump *d = load_dump(dumps[i]);
        long long held = dump_stat(d, "scan_buffer_bytes", -1);
        if (strcmp(dump_meta(d, "reason"), "signal") == 0) {
            cr_assert_gt(d->nscan, 0);
            cr_assert_gt(held, 0, "the scan's buffers are counted in its dump");
            seen_scan = 1;
        } else if (seen_scan) {
            cr_assert_eq(held, 0, "%s: buffers still held after the scan's dump", dumps[i]);
            interval_after++;
        }
        dump_free(d);
    }
    cr_assert(seen_scan && interval_after > 0, "a scan dump, then dumps without a scan (%zu dumps)", n);
    free_paths(dumps);
    free(dir);
}
