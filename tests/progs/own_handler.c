/*
 * own_handler: takes SIGUSR1 with signal() and SIGUSR2 with sigaction(),
 * raises both and counts them, prints READY, then waits for a line on
 * stdin.  leakscope uses both signals by default: the program must get
 * them, and leakscope must move elsewhere.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_usr2;

static void on_usr1(int sig) { (void)sig; got_usr1++; }
static void on_usr2(int sig) { (void)sig; got_usr2++; }

int main(void)
{
    struct sigaction sa;
    char line[16];

    signal(SIGUSR1, on_usr1);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR1);
    raise(SIGUSR2);
    printf("USR1 %d USR2 %d\n", (int)got_usr1, (int)got_usr2);
    printf("READY %d\n", (int)getpid());
    fflush(stdout);
    ssize_t n = read(0, line, sizeof line);
    printf("done %s\n", n >= 0 ? "ok" : "failed");
    return 0;
}
