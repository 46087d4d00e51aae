/*
 * test_preload.c - programs run under libleakscope.so: exact figures per call
 * site in the dumps they leave, and unchanged behaviour of the programs.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* Run argv under the preload; it must exit 0 and its last dump be the exit dump. */
static struct traced trace(char *const argv[], const char *const env[])
{
    struct traced t = run_traced(argv, env);

    cr_assert_eq(t.run.exit_code, 0, "%s exited %d: %s", argv[0], t.run.exit_code, t.run.err);
    cr_assert_str_eq(dump_meta(t.dump, "reason"), "exit");
    return t;
}

Test(preload, make_widgets_site_holds_exactly_its_blocks)
{
    char *argv[] = { PROG("widgets"), NULL };
    struct traced t = trace(argv, NULL);
    const struct ls_site *w = site_calling(t.dump, t.sym, "make_widgets", 1, 0);
    const struct ls_site *s = site_calling(t.dump, t.sym, "scratch", 1, 0);

    cr_assert_not_null(w, "no site whose top frame is make_widgets");
    cr_assert_eq(w->inuse_space, 100000);
    cr_assert_eq(w->inuse_objects, 100);
    cr_assert_eq(w->alloc_objects, 100);
    cr_assert_eq(w->peak_inuse_space, 100000);
    cr_assert_not_null(s);
    cr_assert_eq(s->inuse_space, 0);
    cr_assert_eq(s->alloc_space, 15000);
    cr_assert_eq(s->alloc_objects, 50);
    size_t at_site = 0;
    for (size_t i = 0; i < t.dump->nblocks; i++)
        if (t.dump->blocks[i].site == w->id) {
            at_site++;
            cr_assert_eq(t.dump->blocks[i].size, 1000);
        }
    cr_assert_eq(at_site, 100, "the live-block table holds the 100 blocks");
    const struct sym_frame *f;
    symbolizer_lookup(t.sym, w->pcs[0], &f);
    cr_assert_not_null(f[0].file);
    cr_assert_not_null(strstr(f[0].file, "widgets.c"), "file: %s", f[0].file);
    cr_assert_eq(f[0].line, 12, "the malloc line of make_widgets (tests/progs/widgets.c:12)");
    cr_assert_not_null(site_calling(t.dump, t.sym, "main", 2, 0), "main is the caller");
    untrace(&t);
}

Test(preload, realloc_moves_block_to_new_site)
{
    char *argv[] = { PROG("heap_calls"), "realloc", NULL };
    struct traced t = trace(argv, NULL);
    struct site_sum first = sum_sites_in(t.dump, t.sym, "first_alloc", 0);
    const struct ls_site *grow = site_calling(t.dump, t.sym, "grow_block", 1, 0);
    const struct ls_site *from_null = site_calling(t.dump, t.sym, "realloc_from_null", 1, 0);

    cr_assert_eq(first.sites, 2, "first_alloc is called from two lines of mode_realloc: two stacks");
    cr_assert_eq(first.alloc_objects, 2, "100 then 50 bytes");
    cr_assert_eq(first.alloc_space, 150);
    cr_assert_eq(first.inuse_objects, 0, "both left: one moved by realloc, one freed by realloc(p, 0)");
    cr_assert_eq(first.inuse_space, 0);
    cr_assert_not_null(grow);
    cr_assert_eq(grow->inuse_space, 200000);
    cr_assert_eq(grow->inuse_objects, 1);
    cr_assert_not_null(from_null);
    cr_assert_eq(from_null->inuse_space, 300, "the failed huge realloc left the block in place");
    cr_assert_eq(from_null->inuse_objects, 1);
    cr_assert_str_eq(t.run.out, "realloc(p, 0) -> NULL\nhuge realloc -> NULL errno=ENOMEM\n");
    untrace(&t);
}

Test(preload, every_allocation_api_is_recorded_with_its_size)
{
    char *argv[] = { PROG("heap_calls"), "apis", NULL };
    struct traced t = trace(argv, NULL);
    struct { const char *fn; long long size; } want[] = {
        { "do_calloc", 300 }, { "do_posix_memalign", 1000 }, { "do_aligned_alloc", 1024 },
        { "do_memalign", 2000 }, { "do_valloc", 3000 }, { "do_pvalloc", 5000 }, { "do_reallocarray", 77 },
    };

    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const struct ls_site *s = site_calling(t.dump, t.sym, want[i].fn, 1, 0);
        cr_assert_not_null(s, "no site for %s", want[i].fn);
        cr_assert_eq(s->inuse_space, want[i].size, "%s: %lld", want[i].fn, (long long)s->inuse_space);
        cr_assert_eq(s->inuse_objects, 1);
    }
    cr_assert_str_eq(t.run.out, "aligned=1 calloc_zeroed=1 reallocarray_overflow=NULL/ENOMEM\n");
    untrace(&t);
}

Test(preload, libc_semantics_are_unchanged)
{
    char *libc[] = { PROG("heap_calls"), "libc", NULL };
    char *apis[] = { PROG("heap_calls"), "apis", NULL };
    char *re[] = { PROG("heap_calls"), "realloc", NULL };

    free(assert_preload_changes_nothing(libc, NULL));
    free(assert_preload_changes_nothing(apis, NULL));
    free(assert_preload_changes_nothing(re, NULL));
}

Test(preload, anonymous_mappings_are_tracked_by_site_with_partial_unmaps)
{
    char *argv[] = { PROG("mappings"), NULL };
    struct traced t = trace(argv, NULL);
    const struct ls_site *arena = site_calling(t.dump, t.sym, "map_arena", 1, 1);

    cr_assert_not_null(arena);
    cr_assert_eq(arena->alloc_space, 16 * 4096);
    cr_assert_eq(arena->inuse_space, 12 * 4096, "4 of 16 pages unmapped");
    cr_assert_eq(arena->inuse_objects, 2, "the hole split the region in two");
    size_t arena_regions = 0;
    for (size_t i = 0; i < t.dump->nregions; i++)
        arena_regions += t.dump->regions[i].site == arena->id;
    cr_assert_eq(arena_regions, 2);

    /* grow_table: the mmap of 2 pages (gone) and the mremap to 8 pages (held) are two sites. */
    long long table_inuse = 0, table_regions = 0, table_alloc = 0;
    for (size_t i = 0; i < t.dump->nsites; i++) {
        const struct ls_site *s = &t.dump->sites[i];
        const struct sym_frame *f;
        symbolizer_lookup(t.sym, s->pcs[0], &f);
        if (s->kind == 1 && s->depth && f->function && strcmp(f->function, "grow_table") == 0) {
            table_inuse += s->inuse_space;
            table_regions += s->inuse_objects;
            table_alloc += (long long)s->alloc_space;
        }
    }
    cr_assert_eq(table_inuse, 8 * 4096, "mremap'd from 2 to 8 pages");
    cr_assert_eq(table_regions, 1);
    cr_assert_eq(table_alloc, 10 * 4096);
    cr_assert_eq(dump_stat(t.dump, "mapped_bytes", -1), 20 * 4096, "the file mapping is not counted");
    cr_assert_eq(dump_stat(t.dump, "madv_free_calls", -1), 1);
    cr_assert_eq(dump_stat(t.dump, "madv_free_bytes", -1), 2 * 4096);
    cr_assert_eq(dump_stat(t.dump, "madv_dontneed_calls", -1), 1);
    cr_assert_eq(dump_stat(t.dump, "madv_dontneed_bytes", -1), 4096);
    cr_assert_str_eq(t.run.out, "mapped ok file-ok\n");
    untrace(&t);
}

Test(preload, threads_record_every_block_exactly)
{
    char *argv[] = { PROG("threads"), NULL };
    struct traced t = trace(argv, NULL);
    const struct ls_site *w = site_calling(t.dump, t.sym, "worker_alloc", 1, 0);

    cr_assert_not_null(w);
    cr_assert_eq(w->alloc_objects, 8000);
    cr_assert_eq(w->inuse_objects, 4000);
    cr_assert_eq(w->inuse_space, 4000 * 64);
    const struct ls_site *churn = site_calling(t.dump, t.sym, "worker", 1, 0);
    cr_assert_not_null(churn);
    cr_assert_eq(churn->alloc_objects, 8 * 20 * 1000);
    cr_assert_eq(churn->inuse_objects, 0);
    untrace(&t);
}

/* A child forked before the background thread said its tid, exiting without allocating, must not
   wait for that thread at exit (it hung 21 times in 30 when it did). */
Test(preload, child_forked_at_start_exits_at_once, .timeout = 60)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("forker"), "at-start", NULL };
    const char *env[] = { "LEAKSCOPE_QUIET=1", NULL };

    for (int i = 0; i < 20; i++) {
        struct proc_result r = run_program(argv, env, 1, dir);
        cr_assert_eq(r.exit_code, 0, "run %d: exit %d", i, r.exit_code);
        cr_assert_str_eq(r.out, "child exited 0\n", "run %d", i);
        free_result(&r);
    }
    free(dir);
}

Test(preload, fork_child_writes_its_own_dump)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("forker"), "fork", NULL };
    struct proc_result r = run_program(argv, NULL, 1, dir);
    int parent, child, status;
    size_t np, nc;

    cr_assert_eq(r.exit_code, 0);
    cr_assert_eq(sscanf(strstr(r.out, "parent "), "parent %d child %d status %d", &parent, &child, &status), 3);
    char **pd = dumps_of(dir, parent, &np), **cd = dumps_of(dir, child, &nc);
    cr_assert_eq(np, 1);
    cr_assert_eq(nc, 1);
    struct ls_dump *pdump = load_dump(pd[0]), *cdump = load_dump(cd[0]);
    struct symbolizer *ps = symbolizer_open(pdump), *cs = symbolizer_open(cdump);
    cr_assert_not_null(site_calling(pdump, ps, "parent_alloc", 1, 0));
    cr_assert_null(site_calling(pdump, ps, "child_alloc", 1, 0), "the parent never saw the child's malloc");
    const struct ls_site *inherited = site_calling(cdump, cs, "parent_alloc", 1, 0);
    cr_assert_not_null(inherited, "the child inherits the parent's live blocks");
    cr_assert_eq(inherited->inuse_space, 1111);
    const struct ls_site *own = site_calling(cdump, cs, "child_alloc", 1, 0);
    cr_assert_not_null(own);
    cr_assert_eq(own->inuse_space, 2222);
    cr_assert_eq(atoi(dump_meta(cdump, "pid")), child);
    cr_assert_eq(atoi(dump_meta(cdump, "ppid")), parent);
    symbolizer_close(ps);
    symbolizer_close(cs);
    dump_free(pdump);
    dump_free(cdump);
    free_paths(pd);
    free_paths(cd);
    free_result(&r);
    free(dir);
}

Test(preload, exec_is_followed_unless_disabled)
{
    char *argv[] = { PROG("forker"), "exec", PROG("widgets"), NULL };
    const char *no_follow[] = { "LEAKSCOPE_FOLLOW_EXEC=0", NULL };
    char *dir = make_temp_dir(), *dir2 = make_temp_dir();

    struct proc_result r = run_program(argv, NULL, 1, dir);
    cr_assert_eq(r.exit_code, 0);
    cr_assert_eq(count_dumps(dir), 2, "forker and the widgets it exec'd");
    struct proc_result r2 = run_program(argv, no_follow, 1, dir2);
    cr_assert_eq(r2.exit_code, 0);
    cr_assert_eq(count_dumps(dir2), 1, "only forker itself");
    cr_assert_not_null(strstr(r.out, "widgets ready\nparent "), "%s", r.out);
    cr_assert_not_null(strstr(r2.out, "widgets ready\nparent "), "the exec'd program still runs: %s", r2.out);
    free_result(&r);
    free_result(&r2);
    free(dir);
    free(dir2);
}

Test(preload, cxx_new_is_seen_through_malloc)
{
    char *argv[] = { PROG("cxx_objects"), NULL };
    struct traced t = trace(argv, NULL);
    /* make_nodes() has two sites: `new Node` and the vector's growth; the Node one holds 50 x 48 bytes. */
    const struct ls_site *news = NULL;
    for (size_t i = 0; i < t.dump->nsites; i++) {
        const struct ls_site *s = &t.dump->sites[i];
        const struct sym_frame *f0, *f1;
        if (s->depth < 2 || s->kind)
            continue;
        symbolizer_lookup(t.sym, s->pcs[0], &f0);
        symbolizer_lookup(t.sym, s->pcs[1], &f1);
        if (f0->function && strcmp(f0->function, "operator new(unsigned long)") == 0 && f1->function &&
            strcmp(f1->function, "make_nodes()") == 0)
            news = s;
    }
    cr_assert_not_null(news, "operator new called from make_nodes()");
    cr_assert_eq(news->inuse_objects, 50);
    cr_assert_eq(news->inuse_space, 50 * 48);
    cr_assert_str_eq(t.run.out, "map=1000 caught=100 nodes=50\n");
    untrace(&t);
    char *same[] = { PROG("cxx_objects"), NULL };
    free(assert_preload_changes_nothing(same, NULL));
}

Test(preload, snapshot_signal_writes_a_dump_mid_run, .timeout = 60)
{
    char *dir = make_temp_dir(), *log_path;
    asprintf(&log_path, "%s/leakscope.log", dir);
    struct child c = start_child(PROG("snapshot"), dir, log_path, NULL);
    pid_t pid = c.pid;
    char line[128];
    cr_assert_not_null(fgets(line, sizeof line, c.out));
    cr_assert_eq(strncmp(line, "READY", 5), 0);

    /* The background thread is there, named for ps and top. */
    char *comm_cmd;
    asprintf(&comm_cmd, "cat /proc/%d/task/*/comm | grep -qx leakscope", (int)pid);
    cr_assert_eq(system(comm_cmd), 0, "no thread named leakscope in pid %d", (int)pid);
    free(comm_cmd);

    kill(pid, SIGUSR1);
    size_t n = wait_for_dump(dir, pid, 10000);
    cr_assert_eq(n, 1, "SIGUSR1 produced a dump while the program runs");
    write(c.in, "go\n", 3);
    cr_assert_not_null(fgets(line, sizeof line, c.out));
    cr_assert_str_eq(line, "read ok\n", "the program's blocked read() was not disturbed");
    int status = finish_child(&c);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The summary went to LEAKSCOPE_LOG: totals and the top site. */
    char *log = slurp(log_path);
    cr_assert_not_null(log);
    cr_assert_not_null(strstr(log, "snapshot on signal 10 -> "), "%s", log);
    cr_assert_not_null(strstr(log, "top sites by inuse_space:"), "%s", log);
    cr_assert_not_null(strstr(log, "40.0 KiB in 10 blocks  snapshot+0x"), "static functions show as "
                       "module+offset through dladdr: %s", log);
    cr_assert_not_null(strstr(log, "exit dump "), "%s", log);
    free(log);
    free(log_path);

    char **dumps = dumps_of(dir, pid, &n);
    cr_assert_eq(n, 2, "the snapshot and the exit dump");
    struct ls_dump *snap = load_dump(dumps[0]), *fin = load_dump(dumps[1]);
    struct symbolizer *s1 = symbolizer_open(snap), *s2 = symbolizer_open(fin);
    cr_assert_str_eq(dump_meta(snap, "reason"), "signal");
    cr_assert_eq(atoi(dump_meta(snap, "signal")), SIGUSR1);
    cr_assert_str_eq(dump_meta(fin, "reason"), "exit");
    const struct ls_site *held = site_calling(snap, s1, "hold_blocks", 1, 0);
    cr_assert_not_null(held);
    cr_assert_eq(held->inuse_space, 40960);
    cr_assert_eq(held->inuse_objects, 10);
    held = site_calling(fin, s2, "hold_blocks", 1, 0);
    cr_assert_eq(held->inuse_space, 0, "freed before exit");
    symbolizer_close(s1);
    symbolizer_close(s2);
    dump_free(snap);
    dump_free(fin);
    free_paths(dumps);
    free(dir);
}

Test(preload, bad_settings_warn_in_one_line_and_change_nothing)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("widgets"), NULL };
    const char *env[] = { "LEAKSCOPE_DEPTH=-3", NULL };
    struct proc_result plain = run_program(argv, NULL, 0, dir);
    struct proc_result r = run_program(argv, env, 1, dir);

    cr_assert_eq(r.exit_code, 0);
    cr_assert_str_eq(r.out, plain.out);
    cr_assert_not_null(strstr(r.err, "LEAKSCOPE_DEPTH='-3' is not a whole number from 1 to 256; using 64\n"),
                       "%s", r.err);
    free_result(&r);
    free_result(&plain);
    free(dir);
}

Test(preload, unwritable_output_directory_loses_nothing_of_the_program)
{
    char *dir = make_temp_dir();
    char *argv[] = { PROG("widgets"), NULL };
    const char *env[] = { "LEAKSCOPE_OUT=/proc", NULL };   /* exists, not writable */
    struct proc_result r = run_program(argv, env, 1, dir);

    cr_assert_eq(r.exit_code, 0);
    cr_assert_str_eq(r.out, "widgets ready\n");
    free_result(&r);
    free(dir);
}

Test(preload, depth_limits_the_recorded_stack)
{
    char *argv[] = { PROG("widgets"), NULL };
    const char *env[] = { "LEAKSCOPE_DEPTH=2", NULL };
    struct traced t = trace(argv, env);

    for (size_t i = 0; i < t.dump->nsites; i++)
        cr_assert_leq(t.dump->sites[i].depth, 2);
    cr_assert_str_eq(dump_meta(t.dump, "depth"), "2");
    untrace(&t);
}
