/*
 * dump_read.h - the one reader of .lsd dumps (format: dump_format.h).
 *
 * Every command of the tool and every test reads dumps through this.  Input
 * is untrusted: every length is checked against the file, every section's
 * crc32 is verified, and any problem yields a one-line message naming the
 * file and what is wrong, never a crash.
 */
#ifndef LEAKSCOPE_DUMP_READ_H
#define LEAKSCOPE_DUMP_READ_H

#include <stddef.h>
#include <stdint.h>

struct ls_module {
    char *path;
    uint64_t base, start, end;
    uint8_t build_id[64];
    size_t build_id_len;
    int is_main;
    int is_loader;
};

struct ls_site {
    uint32_t id;
    int kind;                  /* 0 heap, 1 mmap */
    uint64_t alloc_objects, alloc_space;
    int64_t inuse_objects, inuse_space, peak_inuse_space;
    int depth;
    const uint64_t *pcs;       /* innermost first */
};

enum ls_block_state { LS_UNSCANNED = 0, LS_REACHABLE = 1, LS_POSSIBLY = 2, LS_INDIRECT = 3, LS_DIRECT = 4 };

struct ls_block {
    uint64_t addr, size;
    uint32_t site, birth_cs;
    uint32_t state;            /* enum ls_block_state; regions: always 0 */
};

struct ls_keyval {
    char *key, *value;
};

struct ls_series {
    uint32_t site;
    size_t count;
    struct ls_site_sample { int64_t time_ns, inuse_space, inuse_objects; } *samples;   /* oldest first */
};

struct ls_dump {
    char *path;
    int version;
    struct ls_keyval *meta, *stats, *scan, *rss;
    size_t nmeta, nstats, nscan, nrss;   /* nscan == 0: no reachability scan; nrss == 0: no RSS account */
    char *suppressions;            /* the suppression file used in the process, or NULL */
    struct ls_module *modules;
    size_t nmodules;
    struct ls_site *sites;     /* sorted by id */
    size_t nsites;
    struct ls_block *blocks;
    size_t nblocks;
    struct ls_block *regions;  /* addr = start, size = length */
    size_t nregions;
    uint64_t *pc_pool;
    /* The background thread's samples: ntimeline records of ntimeline_fields values each. */
    char **timeline_fields;
    size_t ntimeline_fields, ntimeline;
    int64_t *timeline;
    struct ls_series *series;
    size_t nseries;
};

/* 0 and *out on success; -1 and a one-line message in err otherwise. */
int dump_read(const char *path, struct ls_dump **out, char *err, size_t errlen);
/* The same from memory (the fuzz target and tests use it); name is used in messages. */
int dump_parse(const unsigned char *data, size_t len, const char *name, struct ls_dump **out,
               char *err, size_t errlen);
void dump_free(struct ls_dump *d);

const char *dump_meta(const struct ls_dump *d, const char *key);    /* NULL if absent */
/* LEAKSCOPE_SAMPLE's period in bytes, or 0 when every allocation was recorded. */
uint64_t dump_sample_period(const struct ls_dump *d);
/* A SCAN value, or fallback when absent. */
int64_t dump_scan_value(const struct ls_dump *d, const char *key, int64_t fallback);
/* An RSS value (first of that key), or fallback. */
int64_t dump_rss_value(const struct ls_dump *d, const char *key, int64_t fallback);
/* A STATS value, or fallback when absent or not a number. */
int64_t dump_stat(const struct ls_dump *d, const char *key, int64_t fallback);
const struct ls_site *dump_site(const struct ls_dump *d, uint32_t id);   /* NULL if absent */
/* Index of a timeline field ("rss", "fordblks", ...), or -1. */
int dump_timeline_field(const struct ls_dump *d, const char *name);
const struct ls_series *dump_series(const struct ls_dump *d, uint32_t site);   /* NULL if none */

#endif
