/*
 * test_leaks.c - the reachability scan: exact classification of each
 * situation, the shared scenarios' verdicts, agreement with valgrind, and
 * what users get (exit status, suppressions, periodic scans, reports).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define SCENARIO(name) LEAKSCOPE_BUILD_DIR "/scenarios/" name

struct verdict {
    long long bytes[5], blocks[5];    /* by enum ls_block_state */
};

/* States of the blocks at sites whose innermost frame is `function` (NULL: all blocks). */
static struct verdict verdict_of(const struct ls_dump *d, struct symbolizer *sym, const char *function)
{
    struct verdict v = { { 0 }, { 0 } };

    for (size_t i = 0; i < d->nblocks; i++) {
        const struct ls_block *b = &d->blocks[i];
        if (function) {
            const struct ls_site *s = dump_site(d, b->site);
            const struct sym_frame *f;
            if (!s || s->depth == 0)
                continue;
            symbolizer_lookup(sym, s->pcs[0], &f);
            if (!f->function || strcmp(f->function, function) != 0)
                continue;
        }
        v.bytes[b->state] += (long long)b->size;
        v.blocks[b->state]++;
    }
    return v;
}

/* Run argv under the preload; its exit dump must carry a scan. */
static struct traced scan_at_exit(char *const argv[], const char *const env[])
{
    struct traced e = run_traced(argv, env);

    cr_assert_gt(e.dump->nscan, 0, "the exit dump has no scan");
    return e;
}

static struct verdict leaks_mode(const char *mode, const char *function)
{
    char *argv[] = { PROG("leaks"), (char *)mode, NULL };
    struct traced e = scan_at_exit(argv, NULL);
    cr_assert_eq(e.run.exit_code, 0, "%s: %s", mode, e.run.err);
    struct verdict v = verdict_of(e.dump, e.sym, function);
    untrace(&e);
    return v;
}

Test(leaks, lost_pointer_is_a_direct_leak)
{
    struct verdict v = leaks_mode("lost", "lose_block");
    cr_assert_eq(v.blocks[LS_DIRECT], 1);
    cr_assert_eq(v.bytes[LS_DIRECT], 100);
}

Test(leaks, tree_with_lost_root_is_one_direct_rest_indirect)
{
    struct verdict v = leaks_mode("tree", "tree_node");
    cr_assert_eq(v.blocks[LS_DIRECT], 1);
    cr_assert_eq(v.blocks[LS_INDIRECT], 6);
    cr_assert_eq(v.bytes[LS_INDIRECT], 6 * 64);
}

Test(leaks, each_unreferenced_cycle_has_one_direct_leader)
{
    struct verdict v = leaks_mode("cycles", "cycle_node");
    cr_assert_eq(v.blocks[LS_DIRECT], 2, "a 2-cycle and a 10-ring: one leader each");
    cr_assert_eq(v.blocks[LS_INDIRECT], 10);
}

Test(leaks, interior_pointer_only_is_possibly_lost)
{
    struct verdict v = leaks_mode("interior", "interior_block");
    cr_assert_eq(v.blocks[LS_POSSIBLY], 1);
    cr_assert_eq(v.bytes[LS_POSSIBLY], 256);
}

Test(leaks, pointer_only_in_another_threads_register_keeps_the_block)
{
    struct verdict v = leaks_mode("register", "register_block");
    cr_assert_eq(v.blocks[LS_REACHABLE], 1, "direct=%lld", v.blocks[LS_DIRECT]);
}

Test(leaks, pointer_only_on_a_blocked_threads_stack_keeps_the_block)
{
    struct verdict v = leaks_mode("stack", "stack_block");
    cr_assert_eq(v.blocks[LS_REACHABLE], 1, "direct=%lld", v.blocks[LS_DIRECT]);
}

Test(leaks, pointers_only_in_thread_local_storage_keep_their_blocks)
{
    struct verdict v = leaks_mode("tls", "tls_block");
    cr_assert_eq(v.blocks[LS_REACHABLE], 2, "main thread's and a pthread's __thread; direct=%lld",
                 v.blocks[LS_DIRECT]);
}

Test(leaks, pointer_only_in_an_mmap_arena_keeps_the_block)
{
    struct verdict v = leaks_mode("arena", "arena_block");
    cr_assert_eq(v.blocks[LS_REACHABLE], 1);
}

/* The scan skips pages the program never wrote (about 128 MiB here) and still finds the one word
   written in each region; a MAP_SHARED region is read whole. */
Test(leaks, pointers_far_into_mostly_unwritten_memory_keep_their_blocks)
{
    char *argv[] = { PROG("leaks"), "sparse", NULL };
    struct traced e = scan_at_exit(argv, NULL);

    cr_assert_eq(e.run.exit_code, 0, "%s", e.run.err);
    struct verdict v = verdict_of(e.dump, e.sym, "sparse_block");
    cr_assert_eq(v.blocks[LS_REACHABLE], 3, "reachable %lld, direct %lld", v.blocks[LS_REACHABLE],
                 v.blocks[LS_DIRECT]);
    long long unwritten = dump_scan_value(e.dump, "bytes_unwritten", -1);
    cr_assert_geq(unwritten, 120ll << 20, "never-written pages were read: %lld bytes skipped", unwritten);
    untrace(&e);
}

Test(leaks, pointer_only_in_a_global_keeps_the_block)
{
    struct verdict v = leaks_mode("global", "global_block");
    cr_assert_eq(v.blocks[LS_REACHABLE], 1);
}

Test(leaks, obfuscated_pointer_is_a_leak)
{
    struct verdict v = leaks_mode("xor", "xor_block");
    cr_assert_eq(v.blocks[LS_DIRECT], 1);
}

Test(leaks, program_that_frees_everything_has_no_leaks)
{
    char *argv[] = { PROG("leaks"), "clean", NULL };
    struct traced e = scan_at_exit(argv, NULL);
    struct verdict all = verdict_of(e.dump, e.sym, NULL);
    cr_assert_eq(all.blocks[LS_DIRECT] + all.blocks[LS_INDIRECT] + all.blocks[LS_POSSIBLY], 0);
    cr_assert_eq(verdict_of(e.dump, e.sym, "clean_block").blocks[LS_REACHABLE], 0, "all 100 were freed");
    untrace(&e);
}

Test(leaks, hundred_thousand_reachable_list_nodes_are_not_leaks)
{
    struct verdict v = leaks_mode("list", "list_node");
    cr_assert_eq(v.blocks[LS_REACHABLE], 100000);
    cr_assert_eq(v.blocks[LS_DIRECT] + v.blocks[LS_INDIRECT] + v.blocks[LS_POSSIBLY], 0);
}

Test(leaks, ptrace_stops_even_a_thread_that_blocks_every_signal)
{
    char *argv[] = { PROG("leaks"), "masked", NULL };
    struct traced e = scan_at_exit(argv, NULL);
    cr_assert_eq(verdict_of(e.dump, e.sym, "masked_block").blocks[LS_REACHABLE], 1);
    cr_assert_eq(dump_scan_value(e.dump, "unresponsive_threads", -1), 0);
    cr_assert_eq(dump_scan_value(e.dump, "threads", -1), 1);
    untrace(&e);
}

Test(leaks, with_signals_a_thread_that_blocks_them_is_scanned_from_its_syscall_stack)
{
    char *argv[] = { PROG("leaks"), "masked", NULL };
    const char *env[] = { "LEAKSCOPE_STOP=signal", NULL };
    struct traced e = scan_at_exit(argv, env);
    cr_assert_eq(verdict_of(e.dump, e.sym, "masked_block").blocks[LS_REACHABLE], 1);
    cr_assert_eq(dump_scan_value(e.dump, "unresponsive_threads", -1), 1);
    cr_assert_eq(dump_scan_value(e.dump, "unresponsive_without_stack", -1), 0);
    cr_assert_not_null(strstr(e.run.err, "1 of 1 threads did not stop for the scan"), "%s", e.run.err);
    untrace(&e);
}

static const char blocked_threads_output[] =
    "read 5 'hello' errno=0\naccept ok\ncond woken flag=1\nslept in full\n";

/* Run `blocked` with scans every 50 ms; returns its output and checks the scans themselves. */
static char *blocked_under_scans(const char *stop, long long expect_threads_early)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("blocked"), NULL };
    const char *env[] = { "LEAKSCOPE_SCAN_INTERVAL=0.05", stop, NULL };
    struct proc_result traced = run_program(argv, env, 1, dir);

    cr_assert_eq(traced.exit_code, 0, "%s", traced.err);
    size_t n;
    char **dumps = dumps_of(dir, traced.pid, &n);
    cr_assert_geq(n, 5, "periodic scans every 50 ms for ~1 s: got %zu dumps", n);
    struct ls_dump *d = load_dump(dumps[1]);
    cr_assert_str_eq(dump_meta(d, "reason"), "periodic");
    if (expect_threads_early >= 0)
        cr_assert_eq(dump_scan_value(d, "threads", -1), expect_threads_early,
                     "main and the four blocked threads were stopped (%lld)",
                     (long long)dump_scan_value(d, "threads", -1));
    cr_assert_eq(dump_scan_value(d, "unresponsive_threads", -1), 0);
    cr_assert_gt(dump_scan_value(d, "time_unix_ns", 0), 0, "the dump says when it was scanned");
    dump_free(d);
    free_paths(dumps);
    char *out = traced.out;
    traced.out = NULL;
    free_result(&traced);
    free(dir);
    return out;
}

/* With ptrace the program cannot tell it was stopped: even main's usleep(800 ms) runs in full. */
Test(leaks, ptrace_stops_are_invisible_to_threads_blocked_in_system_calls, .timeout = 60)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("blocked"), NULL };
    struct proc_result plain = run_program(argv, NULL, 0, dir);
    cr_assert_not_null(strstr(plain.out, "main usleep in full\n"));
    char *out = blocked_under_scans("LEAKSCOPE_STOP=ptrace", 5);
    cr_assert_str_eq(out, plain.out);
    free(out);
    free_result(&plain);
    free(dir);
}

/* With signals restartable calls restart and the rest return EINTR, as glibc's wrappers do; the threads
   that retry on EINTR get exactly their results (main's own usleep, which does not retry, may end early). */
Test(leaks, signal_stops_resume_threads_blocked_in_system_calls_correctly, .timeout = 60)
{
    char *out = blocked_under_scans("LEAKSCOPE_STOP=signal", -1);
    cr_assert_eq(strncmp(out, blocked_threads_output, strlen(blocked_threads_output)), 0, "%s", out);
    free(out);
}

/* ---- the shared scenarios ---- */

struct scenario_expect {
    const char *name;
    const char *args[4];
    long long direct_bytes, direct_blocks, indirect_bytes, indirect_blocks, possibly_bytes, possibly_blocks;
};

static void check_scenario(const struct scenario_expect *x)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.c", SCENARIO_DIR, x->name);
    if (access(path, R_OK) != 0)
        cr_skip_test("../shared/scenarios is not beside this repository");
    char *argv[6] = { SCENARIO(""), NULL };
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/scenarios/%s", LEAKSCOPE_BUILD_DIR, x->name);
    argv[0] = bin;
    for (int i = 0; i < 4 && x->args[i]; i++)
        argv[i + 1] = (char *)x->args[i];
    struct traced e = scan_at_exit(argv, NULL);
    cr_assert_eq(e.run.exit_code, 0);
    /* Counted over every block, as the scenario's expectation is for the whole program; blocks the
       dynamic loader allocated for itself (thread DTVs) are leakscope's "suppressed", not the program's. */
    struct verdict v = { { 0 }, { 0 } };
    for (size_t i = 0; i < e.dump->nblocks; i++) {
        const struct ls_block *b = &e.dump->blocks[i];
        const struct ls_site *s = dump_site(e.dump, b->site);
        int loader = 0;
        for (size_t m = 0; m < e.dump->nmodules && s->depth; m++)
            loader |= e.dump->modules[m].is_loader && s->pcs[0] >= e.dump->modules[m].start &&
                      s->pcs[0] < e.dump->modules[m].end;
        if (loader)
            continue;
        v.bytes[b->state] += (long long)b->size;
        v.blocks[b->state]++;
    }
    cr_assert_eq(v.bytes[LS_DIRECT], x->direct_bytes, "%s direct bytes %lld", x->name, v.bytes[LS_DIRECT]);
    cr_assert_eq(v.blocks[LS_DIRECT], x->direct_blocks, "%s direct blocks %lld", x->name, v.blocks[LS_DIRECT]);
    cr_assert_eq(v.bytes[LS_INDIRECT], x->indirect_bytes, "%s indirect bytes", x->name);
    cr_assert_eq(v.blocks[LS_INDIRECT], x->indirect_blocks, "%s indirect blocks", x->name);
    cr_assert_eq(v.bytes[LS_POSSIBLY], x->possibly_bytes, "%s possibly bytes %lld", x->name, v.bytes[LS_POSSIBLY]);
    cr_assert_eq(v.blocks[LS_POSSIBLY], x->possibly_blocks, "%s possibly blocks", x->name);
    untrace(&e);
}

/* Figures from each NAME.expect.json (direct, indirect, interior_only). */
Test(scenarios, unreachable_cycle) { struct scenario_expect x = { "unreachable_cycle", { NULL }, 64064, 1001, 1151936, 2999, 0, 0 }; check_scenario(&x); }
Test(scenarios, plain_leak) { struct scenario_expect x = { "plain_leak", { NULL }, 81920000, 20000, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, plain_leak_1000_requests) { struct scenario_expect x = { "plain_leak", { "--requests", "1000", NULL }, 4096000, 1000, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, interior_retention) { struct scenario_expect x = { "interior_retention", { NULL }, 0, 0, 0, 0, 268435456, 4 }; check_scenario(&x); }
Test(scenarios, interior_retention_copy) { struct scenario_expect x = { "interior_retention", { "--copy", NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, blocked_producer) { struct scenario_expect x = { "blocked_producer", { NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, cleared_table) { struct scenario_expect x = { "cleared_table", { NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, retained_after_free) { struct scenario_expect x = { "retained_after_free", { NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, madv_free_arena) { struct scenario_expect x = { "madv_free_arena", { NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, resources_in_loop) { struct scenario_expect x = { "resources_in_loop", { NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, unstopped_ticker) { struct scenario_expect x = { "unstopped_ticker", { NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }
Test(scenarios, timer_accumulation, .timeout = 120) { struct scenario_expect x = { "timer_accumulation", { NULL }, 0, 0, 0, 0, 0, 0 }; check_scenario(&x); }

Test(scenarios, blocked_producer_items_are_reachable_through_the_blocked_threads)
{
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/scenarios/blocked_producer", LEAKSCOPE_BUILD_DIR);
    if (access(bin, X_OK) != 0)
        cr_skip_test("../shared/scenarios is not beside this repository");
    char *argv[] = { bin, NULL };
    struct traced e = scan_at_exit(argv, NULL);
    struct verdict all = verdict_of(e.dump, e.sym, NULL);
    /* 268,435,848 bytes in 9 blocks (expect.json), plus glibc's 4096-byte stdout buffer. */
    cr_assert_eq(all.bytes[LS_REACHABLE], 268435848 + 4096);
    cr_assert_eq(all.blocks[LS_REACHABLE], 9 + 1);
    cr_assert_eq(dump_scan_value(e.dump, "threads", -1), 4);
    untrace(&e);
}

/* ---- agreement with valgrind memcheck ---- */

static long long valgrind_lost(char *const argv[], const char *kind)
{
    char log[] = "/tmp/leakscope-vg-XXXXXX";
    int fd = mkstemp(log);
    close(fd);
    char *logopt;
    asprintf(&logopt, "--log-file=%s", log);
    /* A minimal environment: what lies in valgrind's low pages depends on it (see below). */
    char *vg[16] = { "env", "-i", "PATH=/usr/bin:/bin", "valgrind", "--leak-check=full", logopt, NULL };
    int n = 6;
    for (int i = 0; argv[i] && n < 15; i++)
        vg[n++] = argv[i];
    vg[n] = NULL;
    struct proc_result r = run_program(vg, NULL, 0, "/tmp");
    char *text = slurp(log);
    unlink(log);
    long long bytes = -1;
    char needle[64];
    snprintf(needle, sizeof needle, "%s: ", kind);
    char *at = text ? strstr(text, needle) : NULL;
    if (at) {
        bytes = 0;
        for (at += strlen(needle); *at && *at != ' '; at++)
            if (*at >= '0' && *at <= '9')
                bytes = bytes * 10 + (*at - '0');
    } else if (text && strstr(text, "All heap blocks were freed")) {
        bytes = 0;
    }
    free(text);
    free(logopt);
    free_result(&r);
    return bytes;
}

/* allowance: bytes valgrind may move out of "definitely lost" through its false pointers (see below). */
static void assert_agrees_with_valgrind(char *const argv[], long long allowance)
{
    if (system("command -v valgrind >/dev/null 2>&1") != 0)
        cr_skip_test("valgrind is not installed");
    struct traced e = scan_at_exit(argv, NULL);
    struct verdict v = verdict_of(e.dump, e.sym, NULL);
    long long definitely = valgrind_lost(argv, "definitely lost");
    long long indirectly = valgrind_lost(argv, "indirectly lost");
    cr_assert_geq(definitely, 0, "no valgrind leak summary");
    /* Under valgrind the heap lies below 4 GiB, where a few small integers in valgrind's own pages look
       like pointers into it, so it may call some leaked blocks possibly lost or even reachable: the
       scenarios' README documents this and verify.py allows 8 blocks of plain_leak to move. */
    cr_assert_eq(v.bytes[LS_INDIRECT], indirectly, "%s: indirect %lld vs %lld", argv[0], v.bytes[LS_INDIRECT], indirectly);
    cr_assert_geq(v.bytes[LS_DIRECT], definitely, "%s: direct %lld vs definitely %lld", argv[0], v.bytes[LS_DIRECT],
                  definitely);
    cr_assert_leq(v.bytes[LS_DIRECT] - definitely, allowance, "%s: direct %lld vs definitely %lld", argv[0],
                  v.bytes[LS_DIRECT], definitely);
    untrace(&e);
}

Test(valgrind, agrees_on_a_tree_and_cycles, .timeout = 120)
{
    char *tree[] = { PROG("leaks"), "tree", NULL };
    char *cycles[] = { PROG("leaks"), "cycles", NULL };
    assert_agrees_with_valgrind(tree, 0);
    assert_agrees_with_valgrind(cycles, 0);
}

Test(valgrind, agrees_on_the_leaking_scenarios, .timeout = 180)
{
    char plain[4096], cycle[4096];
    snprintf(plain, sizeof plain, "%s/scenarios/plain_leak", LEAKSCOPE_BUILD_DIR);
    snprintf(cycle, sizeof cycle, "%s/scenarios/unreachable_cycle", LEAKSCOPE_BUILD_DIR);
    if (access(plain, X_OK) != 0)
        cr_skip_test("../shared/scenarios is not beside this repository");
    char *a[] = { plain, "--requests", "1000", NULL };
    char *b[] = { cycle, NULL };
    assert_agrees_with_valgrind(a, 8 * 4096);    /* plain_leak.expect.json: valgrind_false_interior_blocks_max */
    assert_agrees_with_valgrind(b, 0);
}

/* ---- what users get ---- */

Test(leaks, exitcode_reports_leaks_to_test_suites)
{
    char *dir = make_temp_dir();
    char *lost[] = { PROG("leaks"), "lost", NULL };
    char *clean[] = { PROG("leaks"), "clean", NULL };
    const char *env[] = { "LEAKSCOPE_EXITCODE=23", NULL };
    struct proc_result a = run_program(lost, env, 1, dir), b = run_program(clean, env, 1, dir);

    cr_assert_eq(a.exit_code, 23);
    cr_assert_str_eq(a.out, "lost done\n", "stdout was flushed before the early exit");
    cr_assert_eq(b.exit_code, 0);
    free_result(&a);
    free_result(&b);
    free(dir);
}

Test(leaks, exit_summary_is_one_paragraph_on_stderr)
{
    char *argv[] = { PROG("leaks"), "tree", NULL };
    struct traced e = scan_at_exit(argv, NULL);
    cr_assert_not_null(strstr(e.run.err, "leak check at exit: 64 bytes in 1 blocks directly leaked, 384 bytes in 6 "
                                         "blocks indirectly leaked"), "%s", e.run.err);
    cr_assert_not_null(strstr(e.run.err, "details: leakscope report --leaks "), "%s", e.run.err);
    untrace(&e);
}

Test(leaks, leak_check_can_be_turned_off)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("leaks"), "lost", NULL };
    const char *env[] = { "LEAKSCOPE_LEAK_CHECK=0", NULL };
    struct proc_result r = run_program(argv, env, 1, dir);
    size_t n;
    char **dumps = dumps_of(dir, r.pid, &n);
    cr_assert_eq(n, 1);
    struct ls_dump *d = load_dump(dumps[0]);
    cr_assert_eq(d->nscan, 0);
    cr_assert_null(strstr(r.err, "leak check"));
    char *report[] = { TOOL_PATH, "report", "--leaks", dumps[0], NULL };
    struct proc_result t = run_program(report, NULL, 0, dir);
    cr_assert_eq(t.exit_code, 2);
    cr_assert_not_null(strstr(t.err, "has no reachability scan (the program ran with LEAKSCOPE_LEAK_CHECK=0"),
                       "%s", t.err);
    dump_free(d);
    free_paths(dumps);
    free_result(&t);
    free_result(&r);
    free(dir);
}

Test(leaks, suppressions_count_separately_and_travel_with_the_dump)
{
    char *dir = make_temp_dir(), *supp;
    asprintf(&supp, "%s/leaks.supp", dir);
    FILE *f = fopen(supp, "w");
    fputs("# the tree is known\nleak:tree_node\n\nleak:^make_cy*s$\n", f);
    fclose(f);
    char *env_line;
    asprintf(&env_line, "LEAKSCOPE_SUPPRESSIONS=%s", supp);
    const char *env[] = { env_line, NULL };
    char *argv[] = { PROG("leaks"), "tree", NULL };
    struct traced e = scan_at_exit(argv, env);
    cr_assert_not_null(e.dump->suppressions, "the dump keeps the suppressions it ran with");

    size_t n;
    char **dumps = dumps_of(e.dir, e.run.pid, &n);
    char *json[] = { TOOL_PATH, "report", "--leaks", "--format", "json", dumps[0], NULL };
    struct proc_result t = run_program(json, NULL, 0, dir);
    cr_assert_eq(t.exit_code, 0, "%s", t.err);
    cr_assert_not_null(strstr(t.out, "\"direct\": {\"bytes\": 0, \"blocks\": 0}"), "%s", t.out);
    cr_assert_not_null(strstr(t.out, "\"suppressed\": {\"bytes\": 448, \"blocks\": 7}"), "%s", t.out);
    cr_assert_not_null(strstr(t.out, "\"suppressed_by\": \"tree_node\""), "%s", t.out);
    free_result(&t);

    /* The same file given to the tool for a dump made without it. */
    struct traced plain = scan_at_exit(argv, NULL);
    char **pd = dumps_of(plain.dir, plain.run.pid, &n);
    char *text[] = { TOOL_PATH, "report", "--leaks", "--suppressions", supp, pd[0], NULL };
    t = run_program(text, NULL, 0, dir);
    cr_assert_eq(t.exit_code, 0, "%s", t.err);
    cr_assert_not_null(strstr(t.out, "SUMMARY: leakscope: 0 byte(s) leaked in 0 allocation(s)."), "%s", t.out);
    cr_assert_not_null(strstr(t.out, "by leak:tree_node"), "%s", t.out);
    free_result(&t);

    /* A malformed suppressions file: one line, status 2. */
    FILE *bad = fopen(supp, "w");
    fputs("leak:fine\nnonsense here\n", bad);
    fclose(bad);
    t = run_program(text, NULL, 0, dir);
    cr_assert_eq(t.exit_code, 2);
    cr_assert_not_null(strstr(t.err, "line 2: 'nonsense here' is not leak:PATTERN"), "%s", t.err);
    free_result(&t);
    free_paths(pd);
    free_paths(dumps);
    untrace(&plain);
    untrace(&e);
    free(env_line);
    free(supp);
    free(dir);
}

Test(leaks, in_process_suppressions_decide_the_exit_status)
{
    char *dir = make_temp_dir(), *supp, *env_line;
    asprintf(&supp, "%s/leaks.supp", dir);
    FILE *f = fopen(supp, "w");
    fputs("leak:tests/progs/leaks$\n", f);          /* every stack passes through the program itself */
    fclose(f);
    asprintf(&env_line, "LEAKSCOPE_SUPPRESSIONS=%s", supp);
    const char *env[] = { env_line, "LEAKSCOPE_EXITCODE=23", NULL };
    char *argv[] = { PROG("leaks"), "lost", NULL };
    struct proc_result r = run_program(argv, env, 1, dir);
    cr_assert_eq(r.exit_code, 0, "the only leak is suppressed: %s", r.err);
    cr_assert_not_null(strstr(r.err, "100 bytes in 1 blocks suppressed"), "%s", r.err);
    free_result(&r);
    free(env_line);
    free(supp);
    free(dir);
}

Test(leaks, leak_listing_reads_like_leaksanitizer)
{
    char *argv[] = { PROG("leaks"), "tree", NULL };
    struct traced e = scan_at_exit(argv, NULL);
    size_t n;
    char **dumps = dumps_of(e.dir, e.run.pid, &n);
    char *report[] = { TOOL_PATH, "report", "--leaks", dumps[0], NULL };
    struct proc_result t = run_program(report, NULL, 0, e.dir);
    cr_assert_eq(t.exit_code, 0, "%s", t.err);
    const char *direct = strstr(t.out, "Direct leak of 64 byte(s) in 1 object(s) allocated from:\n    #0 0x");
    /* The descendants come from two lines of make_tree, unrolled or not: two to six stacks, as many records. */
    const char *indirect = strstr(t.out, "\nIndirect leak of ");
    cr_assert_not_null(direct, "%s", t.out);
    cr_assert_not_null(indirect, "%s", t.out);
    cr_assert_lt(direct, indirect, "direct leaks come first");
    cr_assert_not_null(strstr(direct, " in tree_node "), "%s", t.out);
    cr_assert_not_null(strstr(t.out, "SUMMARY: leakscope: 448 byte(s) leaked in 7 allocation(s)."), "%s", t.out);

    char *json[] = { TOOL_PATH, "report", "--leaks", "--format", "json", dumps[0], NULL };
    struct proc_result j = run_program(json, NULL, 0, e.dir);
    char path[] = "/tmp/leakscope-leaks-XXXXXX";
    int fd = mkstemp(path);
    write(fd, j.out, strlen(j.out));
    close(fd);
    char *check[] = { "python3", "-c",
                      "import json,sys\n"
                      "d = json.load(open(sys.argv[1]))\n"
                      "assert d['leaks']['direct'] == {'bytes': 64, 'blocks': 1}, d['leaks']\n"
                      "assert d['leaks']['indirect'] == {'bytes': 384, 'blocks': 6}\n"
                      "assert set(d['leaks']) == {'direct', 'indirect', 'possibly', 'reachable', 'suppressed'}\n"
                      "r = d['records'][0]\n"
                      "assert r['kind'] == 'direct' and r['bytes'] == 64 and r['blocks'] == 1\n"
                      "assert r['stack'][0]['function'] == 'tree_node' and r['stack'][0]['line'] > 0\n"
                      "assert {'function', 'file', 'line', 'module'} <= set(r['stack'][0])\n",
                      path, NULL };
    struct proc_result c = run_program(check, NULL, 0, e.dir);
    cr_assert_eq(c.exit_code, 0, "%s\n%s", c.err, j.out);
    unlink(path);
    free_result(&c);
    free_result(&j);
    free_result(&t);
    free_paths(dumps);
    untrace(&e);
}

Test(leaks, snapshot_signal_scans_while_running, .timeout = 60)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("snapshot"), NULL };
    /* snapshot waits on stdin; /dev/null ends the wait at once, so use the periodic path instead. */
    const char *env[] = { "LEAKSCOPE_SCAN_INTERVAL=0.01", NULL };
    struct proc_result r = run_program(argv, env, 1, dir);
    cr_assert_eq(r.exit_code, 0);
    size_t n;
    char **dumps = dumps_of(dir, r.pid, &n);
    cr_assert_geq(n, 1);
    struct ls_dump *d = load_dump(dumps[n - 1]);
    cr_assert_gt(d->nscan, 0);
    dump_free(d);
    free_paths(dumps);
    free_result(&r);
    free(dir);
}

Test(leaks, run_gives_its_suppressions_to_the_program)
{
    char *dir = make_temp_dir(), *supp;
    asprintf(&supp, "%s/s.supp", dir);
    FILE *f = fopen(supp, "w");
    fputs("leak:tests/progs/leaks$\n", f);
    fclose(f);
    const char *env[] = { "LEAKSCOPE_EXITCODE=23", NULL };
    char *argv[] = { TOOL_PATH, "run", "--out", dir, "--suppressions", supp, "--", PROG("leaks"), "lost", NULL };
    struct proc_result r = run_program(argv, env, 0, dir);
    cr_assert_eq(r.exit_code, 0, "the leak is suppressed in the process too: %s", r.err);
    cr_assert_not_null(strstr(r.err, "suppressed                                           100 bytes in 1 block"),
                       "%s", r.err);
    free_result(&r);
    free(supp);
    free(dir);
}
