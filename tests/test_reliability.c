/*
 * test_reliability.c - leakscope never breaks the program: its signals,
 * its crashes, its file descriptors, its threads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

Test(reliability, the_programs_own_signal_handlers_win_and_snapshots_move, .timeout = 60)
{
    char *dir = make_temp_dir(), *log_path;
    asprintf(&log_path, "%s/log", dir);
    int to_child[2], from_child[2];
    pipe(to_child);
    pipe(from_child);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        setenv("LD_PRELOAD", LIB_PATH, 1);
        setenv("LEAKSCOPE_OUT", dir, 1);
        setenv("LEAKSCOPE_LOG", log_path, 1);
        execl(PROG("own_handler"), PROG("own_handler"), (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    FILE *out = fdopen(from_child[0], "r");
    char line[128];
    cr_assert_not_null(fgets(line, sizeof line, out));
    cr_assert_str_eq(line, "USR1 1 USR2 1\n", "the program's handlers got its signals");
    cr_assert_not_null(fgets(line, sizeof line, out));             /* READY */

    char *log = slurp(log_path);
    cr_assert_not_null(log);
    const char *moved = strstr(log, "leakscope's snapshots are now on signal ");
    cr_assert_not_null(moved, "%s", log);
    int sig = atoi(moved + strlen("leakscope's snapshots are now on signal "));
    cr_assert(sig >= SIGRTMIN && sig <= SIGRTMAX, "moved to a real-time signal: %d", sig);
    cr_assert_not_null(strstr(log, "scavenging is now on signal "), "%s", log);
    free(log);

    kill(pid, sig);
    size_t n = 0;
    for (int i = 0; i < 1000 && n == 0; i++) {
        char **d = dumps_of(dir, pid, &n);
        free_paths(d);
        if (!n)
            usleep(10000);
    }
    cr_assert_eq(n, 1, "a snapshot on the new signal");
    write(to_child[1], "x\n", 2);
    close(to_child[1]);
    cr_assert_not_null(fgets(line, sizeof line, out));
    cr_assert_str_eq(line, "done ok\n");
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fclose(out);
    free(log_path);
    free(dir);
}
