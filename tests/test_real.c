/*
 * test_real.c - programs nobody here wrote, run with and without the
 * preload: same output, same exit status, and readable dumps.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* Every dump in dir reads cleanly; returns how many there were. */
static size_t assert_dumps_readable(const char *dir, size_t min_sites_in_some)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0, biggest = 0;

    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "leakscope.", 10) != 0)
            continue;
        char *path;
        asprintf(&path, "%s/%s", dir, e->d_name);
        struct ls_dump *dump = load_dump(path);
        if (dump->nsites > biggest)
            biggest = dump->nsites;
        dump_free(dump);
        free(path);
        n++;
    }
    closedir(d);
    cr_assert_geq(biggest, min_sites_in_some, "the largest dump has only %zu sites", biggest);
    return n;
}

static void assert_same_with_preload(char *const argv[], const char *const env[], size_t min_sites)
{
    char *dir = assert_preload_changes_nothing(argv, env);
    cr_assert_geq(assert_dumps_readable(dir, min_sites), 1, "%s left no dump", argv[0]);
    free(dir);
}

Test(real, python3, .timeout = 120)
{
    char *argv[] = { "/usr/bin/python3", "-c",
                     "import json\n"
                     "d = {str(i): [i] * 10 for i in range(50000)}\n"
                     "s = json.dumps(d)\n"
                     "print(len(d), len(s), sum(len(v) for v in d.values()))\n", NULL };
    const char *env[] = { "PYTHONMALLOC=malloc", NULL };
    assert_same_with_preload(argv, env, 100);
}

Test(real, perl, .timeout = 120)
{
    char *argv[] = { "perl", "-e",
                     "my %h; $h{$_} = 'x' x ($_ % 50) for 1..100000; "
                     "my $t = 0; $t += length $h{$_} for keys %h; print scalar(keys %h), \" $t\\n\"", NULL };
    assert_same_with_preload(argv, NULL, 20);
}

Test(real, sqlite3, .timeout = 120)
{
    char *argv[] = { "sqlite3", ":memory:",
                     "create table t(id integer primary key, name text);"
                     "with recursive n(i) as (select 1 union all select i + 1 from n where i < 50000) "
                     "insert into t select i, 'name ' || i from n;"
                     "create index t_name on t(name);"
                     "select count(*), sum(length(name)) from t where name like 'name 1%';", NULL };
    assert_same_with_preload(argv, NULL, 20);
}

Test(real, gcc_compiling_a_file, .timeout = 180)
{
    char *dir = make_temp_dir();
    char *src, *obj_plain, *obj_traced;
    asprintf(&src, "%s/unit.c", dir);
    asprintf(&obj_plain, "%s/plain.o", dir);
    asprintf(&obj_traced, "%s/traced.o", dir);
    FILE *f = fopen(src, "w");
    fputs("#include <stdio.h>\n#include <stdlib.h>\n", f);
    for (int i = 0; i < 300; i++)
        fprintf(f, "int f%d(int x) { int a[16]; for (int i = 0; i < 16; i++) a[i] = x * i + %d; "
                   "return a[x & 15]; }\n", i, i);
    fputs("int main(void) { printf(\"%d\\n\", f1(3)); return 0; }\n", f);
    fclose(f);

    char *plain_argv[] = { "gcc", "-O1", "-c", src, "-o", obj_plain, NULL };
    char *traced_argv[] = { "gcc", "-O1", "-c", src, "-o", obj_traced, NULL };
    char *dumps = make_temp_dir();
    struct proc_result plain = run_program(plain_argv, NULL, 0, dumps);
    struct proc_result traced = run_program(traced_argv, NULL, 1, dumps);
    cr_assert_eq(plain.exit_code, 0, "%s", plain.err);
    cr_assert_eq(traced.exit_code, 0, "%s", traced.err);
    char *err = without_leakscope_lines(traced.err);
    cr_assert_str_eq(err, plain.err);
    char *a = slurp(obj_plain), *b = slurp(obj_traced);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_str_eq(a, b, "the object files differ");   /* ELF starts with no NUL before byte 4 */
    size_t n = assert_dumps_readable(dumps, 100);
    cr_assert_geq(n, 3, "gcc, cc1 and as each leave a dump (exec is followed); got %zu", n);
    free(a);
    free(b);
    free(err);
    free_result(&plain);
    free_result(&traced);
    free(src);
    free(obj_plain);
    free(obj_traced);
    free(dumps);
    free(dir);
}

Test(real, git, .timeout = 120)
{
    char *argv[] = { "git", "-C", LEAKSCOPE_SOURCE_DIR, "log", "--oneline", "-5", NULL };
    assert_same_with_preload(argv, NULL, 20);
}

Test(real, a_multithreaded_cxx_program, .timeout = 60)
{
    char *argv[] = { PROG("cxx_objects"), NULL };   /* std::thread, std::string, map, vector, exceptions */
    assert_same_with_preload(argv, NULL, 3);
}

Test(real, a_program_that_forks_and_execs, .timeout = 60)
{
    /* The shell forks and execs each command of the pipeline; every one of them runs under the preload. */
    char *argv[] = { "sh", "-c", "printf 'b\\na\\nb\\n' | sort | uniq -c; cat /no/such/file; expr 2 + 3", NULL };
    assert_same_with_preload(argv, NULL, 3);
}
