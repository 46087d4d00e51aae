/*
 * scan_heap N: builds N live blocks of 64 bytes (each pointing at another,
 * all held through one table reachable from a global, 1% of them dropped
 * from the table: leaked), asks for a snapshot with SIGUSR1, waits until its
 * dump exists, then exits (leakscope then scans again, at exit, in place).
 * scan_heap N chain: the same blocks linked into one list in a random order,
 * its head in a global for the snapshot and dropped before exit, so the exit
 * scan finds one direct leak and N - 1 indirect ones: the scan follows one
 * pointer at a time.  The scan benchmark reads both dumps' SCAN sections.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *chain_head;
void **table;                     /* not static: the compiler must keep it (a static one only main reads
                                     was kept in a register and dropped once dead: every block leaked) */

static int snapshot_written(const char *dir, int pid)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char prefix[64];
    int found = 0;

    snprintf(prefix, sizeof prefix, "leakscope.%d.", pid);
    while (d && (e = readdir(d)))
        found |= strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return found;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int chain = argc > 2 && strcmp(argv[2], "chain") == 0;
    const char *dir = getenv("LEAKSCOPE_OUT") ? getenv("LEAKSCOPE_OUT") : ".";
    unsigned seed = 1;

    table = malloc((size_t)n * sizeof *table);
    for (long i = 0; i < n; i++)
        table[i] = calloc(1, 64);
    if (!chain) {
        for (long i = 0; i < n; i++) {
            seed = seed * 1103515245 + 12345;
            ((void **)table[i])[0] = table[(seed >> 4) % (unsigned long)n];
        }
        for (long i = 0; i < n; i += 100)
            table[i] = NULL;              /* leaked, unless another block points at it */
    } else {
        for (long i = n - 1; i > 0; i--) {                /* a random order */
            seed = seed * 1103515245 + 12345;
            long j = (long)((seed >> 4) % (unsigned long)(i + 1));
            void *t = table[i];
            table[i] = table[j];
            table[j] = t;
        }
        for (long i = 0; i + 1 < n; i++)
            ((void **)table[i])[0] = table[i + 1];
        chain_head = table[0];
        free(table);
        table = NULL;
    }
    raise(SIGUSR1);
    for (int waited = 0; waited < 6000 && !snapshot_written(dir, getpid()); waited++)
        usleep(10000);
    chain_head = NULL;                    /* the chain, if any, leaks at exit */
    printf("%ld blocks\n", n);
    return 0;
}
