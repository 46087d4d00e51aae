/*
 * test_sample.c - sampling mode (LEAKSCOPE_SAMPLE): how often an allocation
 * is recorded, that the scaled counters estimate full tracking, and that the
 * period reaches the dump, the report and the pprof profile.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "helpers.h"
#include "options.h"

#define STRESS LEAKSCOPE_BUILD_DIR "/bench/stress"

Test(sampling, an_allocation_is_recorded_with_probability_one_minus_exp_of_size_over_period)
{
    static const size_t sizes[] = { 64, 1000, 4096, 40000 };
    const int calls = 200000;

    engine_sample_period = 4096;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int sampled = 0;
        for (int i = 0; i < calls; i++)
            sampled += engine_sampled(sizes[k]);
        double p = 1 - exp(-(double)sizes[k] / 4096), got = (double)sampled / calls;
        double sigma = sqrt(p * (1 - p) / calls);
        cr_assert(fabs(got - p) <= 5 * sigma + 1e-4, "size %zu: sampled %.4f of the calls, expected %.4f",
                  sizes[k], got, p);
    }
    engine_sample_period = 0;
    cr_assert_eq(engine_sampled(1), 1, "without a period every allocation is recorded");
}

Test(sampling, the_period_is_read_with_units_and_bad_values_are_named)
{
    cr_assert_eq(options_parse_bytes("524288"), 524288);
    cr_assert_eq(options_parse_bytes("512K"), 524288);
    cr_assert_eq(options_parse_bytes("512KiB"), 524288);
    cr_assert_eq(options_parse_bytes("4m"), 4 << 20);
    cr_assert_eq(options_parse_bytes("1G"), 1 << 30);
    cr_assert_eq(options_parse_bytes("0"), 0);
    cr_assert_eq(options_parse_bytes("1025G"), -1);
    cr_assert_eq(options_parse_bytes("-1"), -1);
    cr_assert_eq(options_parse_bytes("12X"), -1);
    cr_assert_eq(options_parse_bytes("K"), -1);
}

/* The stress program (300k allocations, a live set of 100k blocks) run with extra settings. */
static struct traced run_stress(const char *const env[])
{
    char *argv[] = { STRESS, "1", "300000", "16", "100000", NULL };
    struct traced t = run_traced(argv, env);
    cr_assert_eq(t.run.exit_code, 0, "%s", t.run.err);
    return t;
}

struct heap_totals {
    double v[4];            /* alloc_objects, alloc_space, inuse_objects, inuse_space */
};

static struct heap_totals heap_totals(const struct ls_dump *d)
{
    struct heap_totals t = { { 0 } };
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        if (s->kind != 0)
            continue;
        t.v[0] += (double)s->alloc_objects;
        t.v[1] += (double)s->alloc_space;
        t.v[2] += (double)s->inuse_objects;
        t.v[3] += (double)s->inuse_space;
    }
    return t;
}

/*
 * At 1 KiB the run records about one block in four; each estimate's standard
 * error is then 0.1 % (alloc) to 1.0 % (inuse_objects: sizes from 16 to 527
 * bytes weigh 64 to 2 blocks each), so 5 % is 5 standard errors or more.
 */
Test(sampling, scaled_counters_are_within_5_percent_of_full_tracking, .timeout = 120)
{
    static const char *const names[] = { "alloc_objects", "alloc_space", "inuse_objects", "inuse_space" };
    const char *full_env[] = { "LEAKSCOPE_LEAK_CHECK=0", NULL };
    const char *sampled_env[] = { "LEAKSCOPE_SAMPLE=1K", NULL };
    struct traced full_run = run_stress(full_env), sampled_run = run_stress(sampled_env);
    const struct ls_dump *full = full_run.dump, *sampled = sampled_run.dump;

    struct heap_totals f = heap_totals(full), s = heap_totals(sampled);
    for (int k = 0; k < 4; k++)
        cr_assert(fabs(s.v[k] / f.v[k] - 1) <= 0.05, "%s: sampled estimate %.0f, full tracking %.0f (%+.1f %%)",
                  names[k], s.v[k], f.v[k], (s.v[k] / f.v[k] - 1) * 100);
    cr_assert(sampled->nblocks * 2 < full->nblocks, "only the sampled blocks are kept: %zu of %zu",
              sampled->nblocks, full->nblocks);
    cr_assert_eq(dump_sample_period(sampled), 1024);
    cr_assert_eq(dump_sample_period(full), 0);
    cr_assert_eq(sampled->nscan, 0, "no reachability scan when sampling");

    char *diff[] = { TOOL_PATH, "diff", full->path, sampled->path, NULL };
    struct proc_result r = run_program(diff, NULL, 0, full_run.dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "NEW was sampled (one allocation per 1.0 KiB on average): its figures are "
                                     "estimates"), "%s", r.out);
    cr_assert_null(strstr(r.out, "BASE was sampled"), "%s", r.out);
    free_result(&r);
    untrace(&full_run);
    untrace(&sampled_run);
}

Test(sampling, the_period_is_in_the_report_and_the_pprof_profile, .timeout = 120)
{
    const char *env[] = { "LEAKSCOPE_SAMPLE=512K", NULL };
    struct traced t = run_stress(env);
    const struct ls_dump *d = t.dump;
    const char *dir = t.dir;
    char *profile;
    asprintf(&profile, "%s/heap.pb.gz", dir);

    char *report[] = { TOOL_PATH, "report", d->path, NULL };
    struct proc_result r = run_program(report, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "sampled:   one allocation per 512.0 KiB on average (LEAKSCOPE_SAMPLE)"),
                       "%s", r.out);
    free_result(&r);

    char *leaks[] = { TOOL_PATH, "report", "--leaks", d->path, NULL };
    r = run_program(leaks, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 2);
    cr_assert_not_null(strstr(r.err, "has no reachability scan (the program ran with LEAKSCOPE_SAMPLE, which turns "
                                     "the leak check off)"), "%s", r.err);
    free_result(&r);

    char *json[] = { TOOL_PATH, "report", "--format", "json", d->path, NULL };
    r = run_program(json, NULL, 0, dir);
    cr_assert_not_null(strstr(r.out, "\"sample_period\": 524288"), "%s", r.out);
    free_result(&r);

    char *pprof[] = { TOOL_PATH, "pprof", d->path, "-o", profile, NULL };
    r = run_program(pprof, NULL, 0, dir);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    free_result(&r);
    if (system("command -v go >/dev/null 2>&1") == 0) {
        char *cmd;
        asprintf(&cmd, "go tool pprof -raw %s 2>&1 | head -5", profile);
        char *text = command_output(cmd);
        cr_assert_not_null(strstr(text, "Period: 524288"), "%s", text);
        cr_assert_not_null(strstr(text, "sampled one allocation per 524288 bytes"), "%s", text);
        free(text);
        free(cmd);
    }
    free(profile);
    untrace(&t);
}

Test(sampling, asking_for_the_leak_check_too_says_in_one_line_why_it_is_off, .timeout = 60)
{
    const char *env[] = { "LEAKSCOPE_SAMPLE=64K", "LEAKSCOPE_LEAK_CHECK=1", NULL };
    char *argv[] = { PROG("leaks"), "lost", NULL }, *dir = make_temp_dir();
    struct proc_result r = run_program(argv, env, 1, dir);

    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(occurrences(r.err, "LEAKSCOPE_LEAK_CHECK=1 needs every allocation"), 1, "%s", r.err);
    cr_assert_null(strstr(r.err, "leak check at exit"), "no leak verdict from a sampled run:\n%s", r.err);
    cr_assert_not_null(strstr(r.err, "(estimated: one allocation sampled per 64.0 KiB)"), "%s", r.err);
    free_result(&r);
    free(dir);
}

Test(sampling, real_programs_run_unchanged, .timeout = 120)
{
    const char *env[] = { "LEAKSCOPE_SAMPLE=16K", "PYTHONMALLOC=malloc", NULL };
    char *python[] = { "python3", "-c", "d = {str(i): [i] * (i % 7) for i in range(50000)}; print(len(d))", NULL };
    char *perl[] = { "perl", "-e", "my %h; $h{$_} = [$_] for 1..50000; print scalar(keys %h), qq(\\n)", NULL };

    free(assert_preload_changes_nothing(python, env));
    free(assert_preload_changes_nothing(perl, env));
}

/* A sampled run still finds the growing site of timer_accumulation, with an estimate within 5%. */
Test(sampling, a_growing_site_is_found_in_a_sampled_run, .timeout = 120)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/scenarios/timer_accumulation", LEAKSCOPE_BUILD_DIR);
    if (access(bin, X_OK) != 0)
        cr_skip_test("../shared/scenarios is not beside this repository");
    char *argv[] = { bin, NULL };
    const char *env[] = { "LEAKSCOPE_SAMPLE=64K", "LEAKSCOPE_INTERVAL=0.1", NULL };
    struct traced t = run_traced(argv, env);
    cr_assert_eq(t.run.exit_code, 0, "%s", t.run.err);

    /* 4,000,000 timers of 192 bytes: 768,000,000 bytes; one sample per 64 KiB is about 11,700 samples,
       a standard error of 0.9%, so 5% is 5.4 of them. */
    struct site_sum timers = sum_sites_in(t.dump, t.sym, "timer_after", 0);
    cr_assert(fabs((double)timers.inuse_space / 768000000.0 - 1) < 0.05, "estimated %lld bytes", timers.inuse_space);
    cr_assert(fabs((double)timers.inuse_objects / 4000000.0 - 1) < 0.05, "estimated %lld timers",
              timers.inuse_objects);
    char *report[] = { TOOL_PATH, "report", t.dump->path, NULL };
    struct proc_result r = run_program(report, NULL, 0, t.dir);
    cr_assert_not_null(strstr(r.out, "keeps growing at timer_after"), "%s", r.out);
    free_result(&r);
    untrace(&t);
}

/*
 * Reallocs whose new block is not sampled while the old one was: the old block leaves the table (a
 * bug once put it back, and the estimate of grow's 81,920,000 bytes read 129,708,312).
 */
Test(sampling, reallocs_are_estimated_within_5_percent, .timeout = 60)
{
    char *argv[] = { PROG("grow"), NULL };
    const char *env[] = { "LEAKSCOPE_SAMPLE=4K", NULL };
    struct traced t = run_traced(argv, env);
    cr_assert_eq(t.run.exit_code, 0, "%s", t.run.err);
    cr_assert_str_eq(t.run.out, "20000\n");

    /* Each final 4,096-byte block is sampled with probability 63%: about 12,600 of them, a standard
       error of 0.5%. */
    long long space = 0, objects = 0;
    for (size_t i = 0; i < t.dump->nsites; i++) {
        space += t.dump->sites[i].kind == 0 ? t.dump->sites[i].inuse_space : 0;
        objects += t.dump->sites[i].kind == 0 ? t.dump->sites[i].inuse_objects : 0;
    }
    cr_assert(fabs((double)space / 81920000.0 - 1) < 0.05, "estimated %lld bytes in use", space);
    cr_assert(fabs((double)objects / 20000.0 - 1) < 0.05, "estimated %lld blocks in use", objects);
    untrace(&t);
}
