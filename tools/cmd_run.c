/*
 * cmd_run.c - `leakscope run`: run a command under libleakscope.so, pass its
 * exit status through, and print the report of its exit dump.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "dump_read.h"
#include "options.h"

static const char help_text[] =
    "usage: leakscope run [OPTIONS] [--] CMD [ARGS...]\n"
    "\n"
    "Run CMD with libleakscope.so preloaded (programs it execs are traced too),\n"
    "then print the report of its exit dump on stderr.  The exit status is CMD's\n"
    "(128+N when a signal N killed it).  While it runs, `kill -USR1 PID` takes a snapshot.\n"
    "\n"
    "options:\n"
    "  --out DIR         where dumps go (default: the current directory; created if missing)\n"
    "  --depth N         stack frames recorded per allocation, 1..256 (default 64)\n"
    "  --sample BYTES    record one allocation per BYTES on average (512K, 4M), figures scaled to\n"
    "                    estimates; no leak check (LEAKSCOPE_SAMPLE)\n"
    "  --signal SIG      snapshot signal: USR1 (default), USR2, RTMIN+N, or 0 for none\n"
    "  --log FILE        in-process summaries go to FILE instead of stderr\n"
    "  --no-follow-exec  do not trace programs that CMD execs\n"
    "  --no-report       print no report at the end (the dumps are still written)\n"
    "  --suppressions FILE  LEAKSCOPE_SUPPRESSIONS: leak:PATTERN lines, applied in the process and the report\n"
    "  --top N, --sort TYPE, --format text|json   as for `leakscope report`\n"
    "  --help            this text\n"
    "\n"
    "The library is found next to this program, in ../lib/leakscope/, or at $LEAKSCOPE_LIB.\n";

static pid_t child_pid;

/* Whether a dump's scan found direct or indirect leaks (before suppressions). */
static int dump_has_leaks(const char *path)
{
    struct ls_dump *d;
    char err[512];
    int found = 0;

    if (dump_read(path, &d, err, sizeof err) != 0)
        return 0;
    for (size_t i = 0; i < d->nblocks && !found; i++)
        found = d->blocks[i].state == LS_DIRECT || d->blocks[i].state == LS_INDIRECT;
    dump_free(d);
    return found;
}

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

static int find_library(char *out, size_t len)
{
    const char *env = getenv("LEAKSCOPE_LIB");
    char self[PATH_MAX - 64];
    static const char *relative[] = { "libleakscope.so", "../lib/leakscope/libleakscope.so",
                                      "../lib/libleakscope.so" };

    if (env && *env) {
        if (access(env, R_OK) != 0)
            return -1;
        snprintf(out, len, "%s", env);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    for (size_t i = 0; i < sizeof relative / sizeof *relative; i++) {
        snprintf(out, len, "%s/%s", self, relative[i]);
        if (access(out, R_OK) == 0)
            return 0;
    }
    return -1;
}

long newest_dump(const char *dir, int pid, long since, char *path, size_t len, int *others)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long best = -1;

    if (others)
        *others = 0;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        int p;
        unsigned seq;
        char tail[8];
        if (sscanf(e->d_name, "leakscope.%d.%u.%7s", &p, &seq, tail) != 3 || strcmp(tail, "lsd") != 0)
            continue;
        if (p != pid) {
            struct stat st;
            char other[PATH_MAX + 300];
            snprintf(other, sizeof other, "%s/%s", dir, e->d_name);
            if (others && stat(other, &st) == 0 && st.st_mtime >= since)
                (*others)++;
            continue;
        }
        if ((long)seq > best) {
            best = seq;
            snprintf(path, len, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return best;
}

int cmd_run(int argc, char **argv)
{
    struct report_options opt = { .top = 10, .sort = SAMPLE_INUSE_SPACE, .format = FORMAT_TEXT };
    const char *out_dir = ".";
    int report = 1, i;
    char lib[PATH_MAX], out_abs[PATH_MAX];

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-')
            break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            return 0;
        } else if (strcmp(a, "--no-report") == 0) {
            report = 0;
        } else if (strcmp(a, "--no-follow-exec") == 0) {
            setenv("LEAKSCOPE_FOLLOW_EXEC", "0", 1);
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "--depth") == 0 || strcmp(a, "--signal") == 0 ||
                   strcmp(a, "--log") == 0 || strcmp(a, "--sample") == 0) {
            if (!v)
                return usage_error("run", "%s needs a value", a);
            i++;
            if (strcmp(a, "--out") == 0) {
                out_dir = v;
            } else if (strcmp(a, "--depth") == 0) {
                char *end;
                long n = strtol(v, &end, 10);
                if (end == v || *end || n < 1 || n > 256)
                    return usage_error("run", "--depth '%s' is not a whole number from 1 to 256", v);
                setenv("LEAKSCOPE_DEPTH", v, 1);
            } else if (strcmp(a, "--signal") == 0) {
                if (options_parse_signal(v) < 0)
                    return usage_error("run", "--signal '%s' is not USR1, USR2, RTMIN+N, RTMAX-N, "
                                       "their number, or 0", v);
                setenv("LEAKSCOPE_SIGNAL", v, 1);
            } else if (strcmp(a, "--sample") == 0) {
                if (options_parse_bytes(v) < 0)
                    return usage_error("run", "--sample '%s' is not a number of bytes from 0 to 1024G "
                                       "(512K, 4M: powers of 1024)", v);
                setenv("LEAKSCOPE_SAMPLE", v, 1);
            } else {
                setenv("LEAKSCOPE_LOG", v, 1);
            }
        } else if (strcmp(a, "--top") == 0 || strcmp(a, "--sort") == 0 || strcmp(a, "--format") == 0 ||
                   strcmp(a, "--suppressions") == 0) {
            if (parse_report_option("run", a, v, &opt) != 0)
                return 2;
            i++;
            if (strcmp(a, "--suppressions") == 0) {
                char abs[PATH_MAX];
                if (!realpath(v, abs) || access(abs, R_OK) != 0)
                    return usage_error("run", "cannot read --suppressions '%s'", v);
                setenv("LEAKSCOPE_SUPPRESSIONS", abs, 1);   /* the process applies them too */
                opt.suppressions_file = NULL;                /* and records them in its dumps */
            }
        } else {
            return usage_error("run", "unknown option '%s'", a);
        }
    }
    if (i >= argc)
        return usage_error("run", "no command given");
    if (find_library(lib, sizeof lib) != 0)
        return usage_error("run", "cannot find libleakscope.so next to this program; set LEAKSCOPE_LIB");
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        return usage_error("run", "cannot create --out directory '%s': %s", out_dir, strerror(errno));
    if (!realpath(out_dir, out_abs) || access(out_abs, W_OK | X_OK) != 0)
        return usage_error("run", "--out directory '%s' is not writable", out_dir);

    const char *old = getenv("LD_PRELOAD");
    char *preload;
    if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "") < 0)
        return usage_error("run", "out of memory");
    setenv("LD_PRELOAD", preload, 1);
    setenv("LEAKSCOPE_OUT", out_abs, 1);
    if (report)
        setenv("LEAKSCOPE_QUIET", "1", 1);       /* the report below replaces the exit notice */
    free(preload);

    time_t started = time(NULL);
    fflush(NULL);
    child_pid = fork();
    if (child_pid < 0)
        return usage_error("run", "cannot fork: %s", strerror(errno));
    if (child_pid == 0) {
        execvp(argv[i], argv + i);
        fprintf(stderr, "leakscope run: cannot run '%s': %s\n", argv[i], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    /* The terminal's ^C and ^\ reach the child directly; other signals sent to us go on to it. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);

    int status;
    while (waitpid(child_pid, &status, 0) < 0) {
        if (errno != EINTR)
            return usage_error("run", "cannot wait for '%s': %s", argv[i], strerror(errno));
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (!report)
        return code;

    char dump[PATH_MAX + 300];
    int others = 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "leakscope run: %s was killed by signal %d (%s)\n", argv[i], WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    if (newest_dump(out_abs, child_pid, started, dump, sizeof dump, &others) < 0) {
        fprintf(stderr, "leakscope run: %s (pid %d) wrote no dump in %s: it ended before leakscope could "
                "write one (killed, _exit, or a statically linked program)\n", argv[i], (int)child_pid, out_abs);
    } else {
        fputc('\n', stderr);
        print_report(dump, &opt, stderr);
        if (opt.format == FORMAT_TEXT && dump_has_leaks(dump)) {
            struct report_options leaks = opt;
            leaks.leaks = 1;
            fputc('\n', stderr);
            print_report(dump, &leaks, stderr);
        }
    }
    if (others)
        fprintf(stderr, "\nleakscope run: %d more dump%s from processes it started are in %s\n", others,
                others == 1 ? "" : "s", out_abs);
    return code;
}
