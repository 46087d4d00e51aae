/* widgets: make_widgets() keeps 100 blocks of 1000 bytes; scratch() allocates and frees 50 of 300. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *kept[100];
static void *volatile escape;   /* makes scratch's blocks observable, so -O1 keeps the mallocs */

__attribute__((noinline)) static void make_widgets(int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        kept[i] = malloc(size);
        memset(kept[i], i, size);
    }
}

__attribute__((noinline)) static void scratch(int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        char *p = malloc(size);
        escape = p;
        free(p);
    }
}

int main(void)
{
    make_widgets(100, 1000);
    scratch(50, 300);
    printf("widgets ready\n");
    return 0;
}
