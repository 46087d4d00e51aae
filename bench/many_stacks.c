/*
 * many_stacks BITS: 2^BITS blocks, each allocated through a different call
 * path (a and b call each other BITS levels deep, choosing by the bits of
 * the block's number), so the dump holds 2^BITS distinct stacks: the
 * symbolization benchmark's input.
 */
#include <stdlib.h>

static void *volatile *keep;
static volatile int sink;

__attribute__((noinline)) static void *leaf(void) { return malloc(16); }
__attribute__((noinline)) static void *b(unsigned bits, int depth);

/* The barrier after each call keeps it from becoming a tail call, which would merge the stacks. */
__attribute__((noinline)) static void *a(unsigned bits, int depth)
{
    void *r = depth == 0 ? leaf() : (bits & 1) ? a(bits >> 1, depth - 1) : b(bits >> 1, depth - 1);
    sink++;
    return r;
}

__attribute__((noinline)) static void *b(unsigned bits, int depth)
{
    void *r = depth == 0 ? leaf() : (bits & 1) ? a(bits >> 1, depth - 1) : b(bits >> 1, depth - 1);
    sink++;
    return r;
}

int main(int argc, char **argv)
{
    int bits = argc > 1 ? atoi(argv[1]) : 14;
    unsigned n = 1u << bits;

    keep = malloc(n * sizeof *keep);
    for (unsigned i = 0; i < n; i++)
        keep[i] = a(i, bits);
    return 0;
}
