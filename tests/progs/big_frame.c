/*
 * big_frame: 3,000 allocations made under a function with a 200 KB buffer
 * on its stack (as I/O loops and parsers often have), built without frame
 * pointers: its caller's frame is 200 KB above rsp.  Prints a checksum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *blocks[3000];

__attribute__((noinline)) static void *allocate(int i)
{
    void *p = malloc(16 + (size_t)i % 100);
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) static unsigned with_big_buffer(int i)
{
    char buffer[200 * 1024];

    memset(buffer, i, sizeof buffer);
    __asm__ volatile("" : : "r"(buffer) : "memory");
    blocks[i] = allocate(i);
    return (unsigned char)buffer[i * 37 % sizeof buffer];
}

int main(void)
{
    unsigned sum = 0;
    for (int i = 0; i < 3000; i++)
        sum += with_big_buffer(i);
    printf("%u\n", sum);
    for (int i = 0; i < 3000; i++)
        free(blocks[i]);
    return 0;
}
