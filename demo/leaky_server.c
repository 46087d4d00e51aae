/*
 * leaky_server.c - the `make demo` program: a toy request loop with one real
 * leak (a reply buffer never freed), one bounded cache kept on purpose, and
 * temporary buffers that are freed properly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUESTS 2000
#define CACHE_SLOTS 64

static char *cache[CACHE_SLOTS];

static char *format_reply(int id)
{
    char *reply = malloc(512);            /* returned to the caller, who forgets to free it */
    snprintf(reply, 512, "reply %d", id);
    return reply;
}

static void remember(int id)
{
    free(cache[id % CACHE_SLOTS]);        /* bounded: at most CACHE_SLOTS entries */
    cache[id % CACHE_SLOTS] = calloc(1, 256);
}

static size_t parse_request(int id)
{
    char *scratch = malloc(4096);         /* freed: shows up in alloc_space only */
    memset(scratch, 'x', 4096);
    size_t n = strlen(scratch) + (size_t)id;
    free(scratch);
    return n;
}

int main(void)
{
    size_t total = 0;

    for (int id = 0; id < REQUESTS; id++) {
        total += parse_request(id);
        char *reply = format_reply(id);
        total += strlen(reply);           /* BUG: free(reply) is missing */
        remember(id);
    }
    printf("served %d requests (%zu bytes of replies)\n", REQUESTS, total);
    return 0;
}
