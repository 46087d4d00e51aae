/*
 * dump_fuzz.c - libFuzzer target for the dump reader, the one door through
 * which untrusted files enter leakscope.  Whatever the bytes, dump_parse must
 * either refuse them with a message or return a dump every accessor can walk.
 * Built and run by `make fuzz` (clang, with ASan and UBSan).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dump_read.h"
#include "leaks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ls_dump *d;
    char err[512];

    if (dump_parse(data, size, "fuzz", &d, err, sizeof err) != 0) {
        if (memchr(err, '\n', strnlen(err, sizeof err)))
            __builtin_trap();                  /* errors are one line */
        return 0;
    }
    /* Walk everything a report would. */
    volatile int64_t sum = 0;
    for (size_t i = 0; i < d->nsites; i++)
        for (int k = 0; k < d->sites[i].depth; k++)
            sum += (int64_t)d->sites[i].pcs[k];
    for (size_t i = 0; i < d->nblocks; i++)
        sum += dump_site(d, d->blocks[i].site) ? 1 : 0;
    for (size_t i = 0; i < d->nseries; i++)
        for (size_t k = 0; k < d->series[i].count; k++)
            sum += d->series[i].samples[k].inuse_space;
    for (size_t i = 0; i < d->ntimeline * d->ntimeline_fields; i++)
        sum += d->timeline[i];
    sum += dump_stat(d, "rss_bytes", 0) + dump_scan_value(d, "pause_ns", 0) + dump_rss_value(d, "rss", 0);
    sum += dump_timeline_field(d, "rss");
    struct leak_report lr;
    if (leaks_analyse(d, NULL, NULL, 0, &lr) == 0)
        leaks_free(&lr);
    dump_free(d);
    return 0;
}
