/*
 * helpers.c - shared test helpers (see helpers.h).
 */
#define _GNU_SOURCE
#include "helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *make_temp_dir(void)
{
    char *dir = strdup("/tmp/leakscope-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
    return dir;
}

char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;

    if (!f)
        return NULL;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

struct proc_result run_program(char *const argv[], const char *const extra_env[], int preload,
                               const char *out_dir)
{
    struct proc_result r = { 0 };
    char out_path[] = "/tmp/leakscope-out-XXXXXX", err_path[] = "/tmp/leakscope-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);

    cr_assert(out_fd >= 0 && err_fd >= 0, "mkstemp failed");
    r.pid = fork();
    cr_assert(r.pid >= 0, "fork failed");
    if (r.pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        if (preload) {
            setenv("LD_PRELOAD", LIB_PATH, 1);
            setenv("LEAKSCOPE_OUT", out_dir, 1);
        }
        for (const char *const *e = extra_env; e && *e; e++)
            putenv(strdup(*e));
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s failed\n", argv[0]);
        _exit(127);
    }
    int status;
    waitpid(r.pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    close(out_fd);
    close(err_fd);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    return r;
}

void free_result(struct proc_result *r)
{
    free(r->out);
    free(r->err);
}

char *without_leakscope_lines(const char *err)
{
    char *result = malloc(strlen(err) + 1), *o = result;

    for (const char *line = err; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (strncmp(line, "leakscope[", 10) != 0) {
            memcpy(o, line, len);
            o += len;
        }
        line += len;
    }
    *o = '\0';
    return result;
}

static int compare_seq(const void *a, const void *b)
{
    unsigned sa = 0, sb = 0;
    int pid;
    sscanf(strrchr(*(char *const *)a, '/') + 1, "leakscope.%d.%u", &pid, &sa);
    sscanf(strrchr(*(char *const *)b, '/') + 1, "leakscope.%d.%u", &pid, &sb);
    return (sa > sb) - (sa < sb);
}

char **dumps_of(const char *dir, pid_t pid, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **paths = calloc(1024, sizeof *paths);
    size_t n = 0;

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((e = readdir(d)) && n < 1023) {
        int p;
        unsigned seq;
        if (sscanf(e->d_name, "leakscope.%d.%u.lsd", &p, &seq) == 2 && p == pid &&
            strstr(e->d_name, ".lsd") && !strstr(e->d_name, ".tmp"))
            asprintf(&paths[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(paths, n, sizeof *paths, compare_seq);
    *count = n;
    return paths;
}

void free_paths(char **paths)
{
    for (size_t i = 0; paths[i]; i++)
        free(paths[i]);
    free(paths);
}

size_t count_dumps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "leakscope.", 10) == 0 && strstr(e->d_name, ".lsd"))
            n++;
    closedir(d);
    return n;
}

struct ls_dump *load_dump(const char *path)
{
    struct ls_dump *d;
    char err[512];

    cr_assert_eq(dump_read(path, &d, err, sizeof err), 0, "reading dump: %s", err);
    return d;
}

const struct ls_site *site_calling(const struct ls_dump *d, struct symbolizer *sym, const char *function,
                                   int within, int kind)
{
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        int seen = 0;
        if (s->kind != kind)
            continue;
        for (int k = 0; k < s->depth && seen < within; k++) {
            const struct sym_frame *frames;
            int n = symbolizer_lookup(sym, s->pcs[k], &frames);
            for (int f = 0; f < n && seen < within; f++, seen++)
                if (frames[f].function && strcmp(frames[f].function, function) == 0)
                    return s;
        }
    }
    return NULL;
}

struct site_sum sum_sites_in(const struct ls_dump *d, struct symbolizer *sym, const char *function, int kind)
{
    struct site_sum sum = { 0 };

    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        const struct sym_frame *f;
        if (s->kind != kind || s->depth == 0)
            continue;
        symbolizer_lookup(sym, s->pcs[0], &f);
        if (!f->function || strcmp(f->function, function) != 0)
            continue;
        sum.sites++;
        sum.alloc_objects += (long long)s->alloc_objects;
        sum.alloc_space += (long long)s->alloc_space;
        sum.inuse_objects += s->inuse_objects;
        sum.inuse_space += s->inuse_space;
    }
    return sum;
}

long long heap_inuse(const struct ls_dump *d)
{
    long long total = 0;

    for (size_t i = 0; i < d->nsites; i++)
        if (d->sites[i].kind == 0)
            total += d->sites[i].inuse_space;
    return total;
}

struct child start_child(const char *prog, const char *out_dir, const char *log, const char *const extra_env[])
{
    int to_child[2], from_child[2];
    struct child c;

    cr_assert(pipe(to_child) == 0 && pipe(from_child) == 0, "pipe failed");
    c.pid = fork();
    cr_assert(c.pid >= 0, "fork failed");
    if (c.pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        setenv("LD_PRELOAD", LIB_PATH, 1);
        setenv("LEAKSCOPE_OUT", out_dir, 1);
        if (log)
            setenv("LEAKSCOPE_LOG", log, 1);
        for (const char *const *e = extra_env; e && *e; e++)
            putenv(strdup(*e));
        execl(prog, prog, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    c.in = to_child[1];
    c.out = fdopen(from_child[0], "r");
    return c;
}

int finish_child(struct child *c)
{
    int status = 0;

    if (c->in >= 0)
        close(c->in);
    c->in = -1;
    waitpid(c->pid, &status, 0);
    fclose(c->out);
    return status;
}

size_t wait_for_dump(const char *dir, pid_t pid, int timeout_ms)
{
    size_t n = 0;

    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        free_paths(dumps_of(dir, pid, &n));
        if (n)
            break;
        usleep(10000);
    }
    return n;
}

char *assert_preload_changes_nothing(char *const argv[], const char *const extra_env[])
{
    char *dir = make_temp_dir();
    struct proc_result plain = run_program(argv, extra_env, 0, dir);
    struct proc_result traced = run_program(argv, extra_env, 1, dir);
    char *err = without_leakscope_lines(traced.err);

    cr_assert_eq(traced.exit_code, plain.exit_code, "%s %s: exit %d vs %d", argv[0], argv[1] ? argv[1] : "",
                 traced.exit_code, plain.exit_code);
    cr_assert_str_eq(traced.out, plain.out, "%s: stdout differs", argv[0]);
    cr_assert_str_eq(err, plain.err, "%s: stderr differs", argv[0]);
    free(err);
    free_result(&plain);
    free_result(&traced);
    return dir;
}

struct traced run_traced(char *const argv[], const char *const extra_env[])
{
    struct traced t = { .dir = make_temp_dir() };
    size_t n;

    t.run = run_program(argv, extra_env, 1, t.dir);
    char **dumps = dumps_of(t.dir, t.run.pid, &n);
    cr_assert_geq(n, 1, "%s left no dump (exit %d); stderr: %s", argv[0], t.run.exit_code, t.run.err);
    t.dump = load_dump(dumps[n - 1]);
    t.sym = symbolizer_open(t.dump);
    free_paths(dumps);
    return t;
}

void untrace(struct traced *t)
{
    symbolizer_close(t->sym);
    dump_free(t->dump);
    free_result(&t->run);
    free(t->dir);
}

char *command_output(const char *shell_command)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len), *p = popen(shell_command, "r");
    char chunk[4096];
    size_t n;

    cr_assert(out && p, "cannot run %s", shell_command);
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        fwrite(chunk, 1, n, out);
    pclose(p);
    fclose(out);
    return text;
}

size_t occurrences(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}
