/*
 * many_returns: 3,000 functions, each allocating from its own call site, so
 * the walk meets 3,000 return addresses it has not seen: more than the first
 * frame-rule table keeps (4,096 slots, grown when half full).  Each is called three
 * times; prints how many blocks it allocated.
 */
#include <stdio.h>
#include <stdlib.h>

static volatile int sink;
static void *blocks[3 * 3000];
static int count;

/* The barrier after the call keeps it from becoming a tail call. */
#define F(n) __attribute__((noinline)) static void f##n(void) { blocks[count++] = malloc(16 + n % 32); sink++; }
#define F10(n) F(n##0) F(n##1) F(n##2) F(n##3) F(n##4) F(n##5) F(n##6) F(n##7) F(n##8) F(n##9)
#define F100(n) F10(n##0) F10(n##1) F10(n##2) F10(n##3) F10(n##4) F10(n##5) F10(n##6) F10(n##7) F10(n##8) F10(n##9)
#define F1000(n) F100(n##0) F100(n##1) F100(n##2) F100(n##3) F100(n##4) F100(n##5) F100(n##6) F100(n##7) \
                 F100(n##8) F100(n##9)
F1000(1) F1000(2) F1000(3)

#define P(n) f##n,
#define P10(n) P(n##0) P(n##1) P(n##2) P(n##3) P(n##4) P(n##5) P(n##6) P(n##7) P(n##8) P(n##9)
#define P100(n) P10(n##0) P10(n##1) P10(n##2) P10(n##3) P10(n##4) P10(n##5) P10(n##6) P10(n##7) P10(n##8) P10(n##9)
#define P1000(n) P100(n##0) P100(n##1) P100(n##2) P100(n##3) P100(n##4) P100(n##5) P100(n##6) P100(n##7) \
                 P100(n##8) P100(n##9)
static void (*const functions[])(void) = { P1000(1) P1000(2) P1000(3) };

int main(void)
{
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof functions / sizeof *functions; i++)
            functions[i]();
    printf("%d\n", count);
    for (int i = 0; i < count; i++)
        free(blocks[i]);
    return 0;
}
