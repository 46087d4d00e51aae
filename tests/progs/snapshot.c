/*
 * snapshot: hold_blocks() keeps 10 blocks of 4096 bytes, prints READY and
 * waits for a line on stdin (the test sends SIGUSR1 meanwhile), then frees
 * them and exits.  Blocked in read(), the program must see no EINTR failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *held[10];

__attribute__((noinline)) static void hold_blocks(void)
{
    for (int i = 0; i < 10; i++)
        held[i] = malloc(4096);
}

int main(void)
{
    char buf[16];
    hold_blocks();
    printf("READY %d\n", (int)getpid());
    fflush(stdout);
    ssize_t n = read(0, buf, sizeof buf);
    for (int i = 0; i < 10; i++)
        free(held[i]);
    printf("read %s\n", n >= 0 ? "ok" : "failed");
    return 0;
}
