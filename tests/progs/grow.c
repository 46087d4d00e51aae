/*
 * grow: 20,000 buffers, each grown by realloc from 16 to 4,096 bytes in
 * 16-byte steps (256 reallocs each), then kept: 81,920,000 bytes in 20,000
 * blocks at exit.  Prints 20000.
 */
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    static char *buf[20000];
    for (int i = 0; i < 20000; i++) {
        buf[i] = NULL;
        for (size_t n = 16; n <= 4096; n += 16) {
            char *p = realloc(buf[i], n);
            if (!p)
                return 1;
            p[n - 1] = 1;
            buf[i] = p;
        }
    }
    long sum = 0;
    for (int i = 0; i < 20000; i++)
        sum += buf[i][4095];
    printf("%ld\n", sum);
    return 0;
}
