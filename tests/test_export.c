/*
 * test_export.c - formats others read: the pprof profile (proved with go
 * tool pprof), folded stacks for flame graphs, and diff between two dumps.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* The exit dump of argv run under the preload; the caller frees the path and dir. */
static char *dump_of(char *const argv[], char **dir)
{
    size_t n;
    *dir = make_temp_dir();
    struct proc_result r = run_program(argv, NULL, 1, *dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char **dumps = dumps_of(*dir, r.pid, &n);
    cr_assert_eq(n, 1);
    char *path = strdup(dumps[0]);
    free_paths(dumps);
    free_result(&r);
    return path;
}

static int have_go(void)
{
    return system("command -v go >/dev/null 2>&1") == 0;
}

/* Sum of one value column of `go tool pprof -raw`, with extra pprof options. */
static long long pprof_raw_sum(const char *profile, int column, const char *options)
{
    char *cmd;
    asprintf(&cmd, "go tool pprof -raw %s %s 2>/dev/null", options, profile);
    FILE *p = popen(cmd, "r");
    char line[4096];
    long long sum = 0;
    int in_samples = 0;
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "Samples:", 8) == 0) {
            in_samples = 1;
            if (!fgets(line, sizeof line, p))           /* the sample types line */
                break;
            continue;
        }
        if (in_samples && strncmp(line, "Locations", 9) == 0)
            break;
        long long v[4];
        if (in_samples && sscanf(line, " %lld %lld %lld %lld:", &v[0], &v[1], &v[2], &v[3]) == 4)
            sum += v[column];
    }
    pclose(p);
    free(cmd);
    return sum;
}

/* inuse_space selected by -tagfocus, in bytes ("Showing nodes accounting for 64B, ..."); -raw ignores filters. */
static long long pprof_focused_bytes(const char *profile, const char *focus)
{
    char *cmd, line[4096];
    long long bytes = -1;
    asprintf(&cmd, "go tool pprof -top -unit=B -sample_index=inuse_space -tagfocus %s %s 2>&1", focus, profile);
    FILE *p = popen(cmd, "r");
    while (fgets(line, sizeof line, p)) {
        const char *at = strstr(line, "accounting for ");
        if (at)
            sscanf(at, "accounting for %lldB", &bytes);
    }
    pclose(p);
    free(cmd);
    return bytes;
}

Test(export, go_tool_pprof_reads_the_same_sites_and_totals, .timeout = 120)
{
    if (!have_go())
        cr_skip_test("go is not installed (Debian package golang-go)");
    char *dir, *argv[] = { PROG("widgets"), NULL };
    char *dump = dump_of(argv, &dir), *profile;
    asprintf(&profile, "%s/heap.pb.gz", dir);
    char *cmd[] = { TOOL_PATH, "pprof", dump, "-o", profile, NULL };
    struct proc_result r = run_program(cmd, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    free_result(&r);

    /* The totals leakscope reports, from its JSON: heap in use plus the program's mappings. */
    char *json[] = { TOOL_PATH, "report", "--format", "json", dump, NULL };
    r = run_program(json, NULL, 0, dir);
    long long inuse = 0, mapped = 0, alloc_objects = 0;
    sscanf(strstr(r.out, "\"totals\": {\"inuse_space\": "), "\"totals\": {\"inuse_space\": %lld", &inuse);
    sscanf(strstr(r.out, "\"mapped_bytes\": "), "\"mapped_bytes\": %lld", &mapped);
    sscanf(strstr(r.out, "\"alloc_objects\": "), "\"alloc_objects\": %lld", &alloc_objects);
    free_result(&r);
    cr_assert_eq(pprof_raw_sum(profile, 3, "-sample_index=inuse_space"), inuse + mapped);
    cr_assert_eq(pprof_raw_sum(profile, 0, ""), alloc_objects, "alloc_objects (heap)");

    char *top;
    asprintf(&top, "go tool pprof -top -sample_index=inuse_space %s 2>&1", profile);
    char *text = command_output(top);
    cr_assert_not_null(strstr(text, "make_widgets"), "%s", text);
    cr_assert_not_null(strstr(text, "Build ID: "), "the mapping carries the build-id: %s", text);
    cr_assert_not_null(strstr(text, "Type: inuse_space"), "%s", text);
    free(text);
    free(top);
    free(profile);
    free(dump);
    free(dir);
}

Test(export, leaked_memory_is_selected_with_tagfocus, .timeout = 120)
{
    if (!have_go())
        cr_skip_test("go is not installed (Debian package golang-go)");
    char *dir, *argv[] = { PROG("leaks"), "tree", NULL };
    char *dump = dump_of(argv, &dir), *profile;
    asprintf(&profile, "%s/leaks.pb.gz", dir);
    char *cmd[] = { TOOL_PATH, "pprof", dump, "-o", profile, NULL };
    struct proc_result r = run_program(cmd, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(pprof_focused_bytes(profile, "'leak=^direct$'"), 64, "the tree's root");
    cr_assert_eq(pprof_focused_bytes(profile, "'leak=^indirect$'"), 6 * 64);
    free_result(&r);
    free(profile);
    free(dump);
    free(dir);
}

Test(export, flame_prints_folded_stacks_outermost_first)
{
    char *dir, *argv[] = { PROG("widgets"), NULL };
    char *dump = dump_of(argv, &dir);
    char *flame[] = { TOOL_PATH, "flame", dump, NULL };
    struct proc_result r = run_program(flame, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, ";main;make_widgets 100000\n"), "%s", r.out);
    cr_assert_eq(strncmp(r.out, "_start;", 7), 0, "outermost frame first: %s", r.out);
    free_result(&r);
    char *objects[] = { TOOL_PATH, "flame", "--sample", "alloc_objects", dump, NULL };
    r = run_program(objects, NULL, 0, dir);
    cr_assert_not_null(strstr(r.out, ";main;scratch 50\n"), "%s", r.out);
    free_result(&r);
    free(dump);
    free(dir);
}

Test(export, diff_shows_what_grew_between_two_runs, .timeout = 60)
{
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/scenarios/plain_leak", LEAKSCOPE_BUILD_DIR);
    if (access(bin, X_OK) != 0)
        cr_skip_test("../shared/scenarios is not beside this repository");
    char *d1, *d2, *a[] = { bin, "--requests", "1000", NULL }, *b[] = { bin, "--requests", "3000", NULL };
    char *base = dump_of(a, &d1), *newer = dump_of(b, &d2);
    char *diff[] = { TOOL_PATH, "diff", base, newer, NULL };
    struct proc_result r = run_program(diff, NULL, 0, d1);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "#1 +7.8 MiB: 3.9 MiB -> 11.7 MiB  handle_request (plain_leak.c:"), "%s", r.out);
    free_result(&r);
    char *json[] = { TOOL_PATH, "diff", "--format", "json", "--sort", "inuse_objects", base, newer, NULL };
    r = run_program(json, NULL, 0, d1);
    cr_assert_not_null(strstr(r.out, "\"delta\": {\"inuse_space\": 8192000, \"inuse_objects\": 2000"), "%s", r.out);
    free_result(&r);

    char *widgets[] = { PROG("widgets"), NULL };
    char *d3, *other = dump_of(widgets, &d3);
    char *mixed[] = { TOOL_PATH, "diff", base, other, NULL };
    r = run_program(mixed, NULL, 0, d1);
    cr_assert_eq(r.exit_code, 2);
    cr_assert_not_null(strstr(r.err, "are dumps of different programs"), "%s", r.err);
    free_result(&r);
    free(base);
    free(newer);
    free(other);
    free(d1);
    free(d2);
    free(d3);
}

Test(export, bad_input_gets_one_line_and_status_2)
{
    struct { char *argv[6]; const char *expect; } cases[] = {
        { { TOOL_PATH, "pprof", "/nonexistent.lsd", "-o", "/tmp/x.pb.gz", NULL }, "cannot open" },
        { { TOOL_PATH, "pprof", "/etc/hostname", NULL }, "no output file given" },
        { { TOOL_PATH, "flame", "--sample", "bytes", "x.lsd", NULL }, "--sample 'bytes'" },
        { { TOOL_PATH, "diff", "/etc/hostname", NULL }, "give two dumps" },
        { { TOOL_PATH, "diff", "/etc/hostname", "/etc/hostname", NULL }, "not a leakscope dump" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct proc_result r = run_program(cases[i].argv, NULL, 0, "/tmp");
        cr_assert_eq(r.exit_code, 2, "%s %s", cases[i].argv[1], r.err);
        cr_assert_not_null(strstr(r.err, cases[i].expect), "%s", r.err);
        cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
        free_result(&r);
    }
}

static int have_chromium(void)
{
    return system("command -v chromium >/dev/null 2>&1") == 0;
}

/* The DOM after the page's scripts ran, from headless Chromium. */
static char *rendered_dom(const char *html_path, const char *dir)
{
    char *url, *profile;
    asprintf(&url, "file://%s", html_path);
    asprintf(&profile, "--user-data-dir=%s/chromium-profile", dir);
    char *argv[] = { "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-quic", profile, "--dump-dom", url, NULL };
    struct proc_result r = run_program(argv, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "chromium: %s", r.err);
    char *dom = r.out;
    r.out = NULL;
    free_result(&r);
    free(url);
    free(profile);
    return dom;
}

Test(export, html_report_draws_everything_in_a_real_browser, .timeout = 180)
{
    if (!have_chromium())
        cr_skip_test("chromium is not installed (Debian package chromium)");
    char *dir, *argv[] = { PROG("leaks"), "tree", NULL };
    char *dump = dump_of(argv, &dir), *html;
    asprintf(&html, "%s/report.html", dir);
    char *cmd[] = { TOOL_PATH, "html", dump, "-o", html, NULL };
    struct proc_result r = run_program(cmd, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    free_result(&r);

    /* Self-contained: no external script, style or image. */
    char *page = slurp(html);
    cr_assert_null(strstr(page, "<script src"), "no external script");
    cr_assert_null(strstr(page, "<link"), "no external style");
    cr_assert_null(strstr(page, "https://"), "nothing fetched");
    free(page);

    char *dom = rendered_dom(html, dir);
    cr_assert_not_null(strstr(dom, "data-rendered=\"meta,rss,timeline,table,flame,leaks\""), "%.400s",
                       strstr(dom, "<body") ? strstr(dom, "<body") : dom);
    cr_assert_not_null(strstr(dom, "data-errors=\"\""), "no script error: %.400s", strstr(dom, "<body"));
    cr_assert_geq(occurrences(dom, "class=\"rss-part\""), 2, "the RSS chart has its parts");
    cr_assert_geq(occurrences(dom, "class=\"series\""), 2, "the timeline has its lines");
    cr_assert_geq(occurrences(dom, "class=\"frame\""), 5, "the flame graph has frames");
    cr_assert_not_null(strstr(dom, "tree_node (leaks.c:"), "the site table names the allocation site");
    cr_assert_not_null(strstr(dom, "Direct leak of 64 byte(s) in 1 object(s) allocated from:"), "the leak list");
    free(dom);
    free(html);
    free(dump);
    free(dir);
}

Test(export, html_needs_an_output_and_a_dump)
{
    char *no_out[] = { TOOL_PATH, "html", "/etc/hostname", NULL };
    struct proc_result r = run_program(no_out, NULL, 0, "/tmp");
    cr_assert_eq(r.exit_code, 2);
    cr_assert_not_null(strstr(r.err, "no output file given"), "%s", r.err);
    free_result(&r);
    char *bad[] = { TOOL_PATH, "html", "/etc/hostname", "-o", "/tmp/x.html", NULL };
    r = run_program(bad, NULL, 0, "/tmp");
    cr_assert_eq(r.exit_code, 2);
    cr_assert_not_null(strstr(r.err, "not a leakscope dump"), "%s", r.err);
    free_result(&r);
}

Test(export, html_report_of_a_sampled_run_says_its_figures_are_estimates, .timeout = 180)
{
    if (!have_chromium())
        cr_skip_test("chromium is not installed (Debian package chromium)");
    char *argv[] = { PROG("widgets"), NULL };
    const char *env[] = { "LEAKSCOPE_SAMPLE=4K", NULL };
    struct traced t = run_traced(argv, env);
    char *html;
    asprintf(&html, "%s/report.html", t.dir);
    char *cmd[] = { TOOL_PATH, "html", t.dump->path, "-o", html, NULL };
    struct proc_result r = run_program(cmd, NULL, 0, t.dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    free_result(&r);

    char *dom = rendered_dom(html, t.dir);
    cr_assert_not_null(strstr(dom, "data-errors=\"\""), "no script error: %.400s", strstr(dom, "<body"));
    cr_assert_not_null(strstr(dom, "sampled, one allocation per 4.0 KiB on average: figures are estimates"),
                       "%.600s", strstr(dom, "<body") ? strstr(dom, "<body") : dom);
    cr_assert_not_null(strstr(dom, "This dump has no reachability scan (the program ran with LEAKSCOPE_SAMPLE"),
                       "the leak box says why there is no list");
    free(dom);
    free(html);
    untrace(&t);
}
