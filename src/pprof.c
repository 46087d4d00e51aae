/*
 * pprof.c - profile.proto encoding (see pprof.h).
 *
 * A small hand encoder, like google/pprof's own profile/encode.go: the
 * messages are few and flat (varints, length-delimited strings and nested
 * messages), and nothing needs generating or parsing.  Field numbers are
 * those of pprof's proto/profile.proto.
 */
#define _GNU_SOURCE
#include "pprof.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>
#include <zlib.h>

#include "leaks.h"

/* ---- protobuf wire format ---- */

struct buf {
    unsigned char *data;
    size_t len, cap;
    int failed;
};

static void put_bytes(struct buf *b, const void *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_varint(struct buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;

    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    put_bytes(b, tmp, n);
}

static void field_varint(struct buf *b, int field, uint64_t v)
{
    put_varint(b, (uint64_t)field << 3 | 0);
    put_varint(b, v);
}

static void field_bytes(struct buf *b, int field, const void *p, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    put_bytes(b, p, n);
}

/* A nested message: its encoding, then reset for the next one. */
static void field_message(struct buf *b, int field, struct buf *msg)
{
    field_bytes(b, field, msg->data, msg->len);
    b->failed |= msg->failed;
    msg->len = 0;
}

/* Packed repeated varints. */
static void field_packed(struct buf *b, int field, const uint64_t *v, size_t n, struct buf *scratch)
{
    scratch->len = 0;
    for (size_t i = 0; i < n; i++)
        put_varint(scratch, v[i]);
    field_message(b, field, scratch);
}

/* ---- ids for strings, functions and locations ---- */

struct keyed_id {
    UT_hash_handle hh;
    uint64_t id;
    char key[];
};

/* The id of key in table, numbered from 1 in order of first sight; *fresh says it was new. 0: no memory. */
static uint64_t id_for(struct keyed_id **table, const char *key, int *fresh)
{
    struct keyed_id *e;

    HASH_FIND_STR(*table, key, e);
    *fresh = !e;
    if (e)
        return e->id;
    size_t len = strlen(key);
    e = malloc(sizeof *e + len + 1);
    if (!e)
        return 0;
    memcpy(e->key, key, len + 1);
    e->id = (uint64_t)HASH_COUNT(*table) + 1;
    HASH_ADD_STR(*table, key, e);
    return e->id;
}

static void free_ids(struct keyed_id **table)
{
    struct keyed_id *e, *t;
    HASH_ITER(hh, *table, e, t) {
        HASH_DEL(*table, e);
        free(e);
    }
}

struct encoder {
    const struct ls_dump *d;
    struct symbolizer *sym;
    struct buf profile, msg, inner, scratch;
    struct keyed_id *strings, *functions, *locations;
    int64_t k_leak, k_kind, v_heap, v_mmap, v_state[5];
};

/* A string's index in the table (0 is ""), written to the Profile the first time it is seen. */
static int64_t intern(struct encoder *e, const char *text)
{
    int fresh;

    if (!text)
        text = "";
    uint64_t id = id_for(&e->strings, text, &fresh);
    if (!id)
        return 0;
    if (fresh)
        field_bytes(&e->profile, 6, text, strlen(text));
    return (int64_t)id - 1;
}

static uint64_t mapping_of(const struct ls_dump *d, uint64_t pc)
{
    for (size_t m = 0; m < d->nmodules; m++)
        if (pc - 1 >= d->modules[m].start && pc - 1 < d->modules[m].end)
            return m + 1;
    return 0;
}

/* The Location for a return address: written the first time it is seen. */
static uint64_t location(struct encoder *e, uint64_t pc)
{
    char key[32];
    int fresh;

    snprintf(key, sizeof key, "%llx", (unsigned long long)pc);
    uint64_t id = id_for(&e->locations, key, &fresh);
    if (!fresh)
        return id;
    const struct sym_frame *frames;
    int n = symbolizer_lookup(e->sym, pc, &frames);
    struct buf loc = { 0 };
    field_varint(&loc, 1, id);
    uint64_t mapping = mapping_of(e->d, pc);
    if (mapping)
        field_varint(&loc, 2, mapping);
    field_varint(&loc, 3, pc);
    for (int f = 0; f < n; f++) {             /* innermost first: pprof's order for inlined frames */
        char fname[1024];
        if (!frames[f].function)
            continue;
        snprintf(fname, sizeof fname, "%s\x1f%s", frames[f].function, frames[f].file ? frames[f].file : "");
        int new_function;
        uint64_t fid = id_for(&e->functions, fname, &new_function);
        if (new_function) {
            field_varint(&e->msg, 1, fid);
            field_varint(&e->msg, 2, (uint64_t)intern(e, frames[f].function));
            field_varint(&e->msg, 3, (uint64_t)intern(e, frames[f].function));
            field_varint(&e->msg, 4, (uint64_t)intern(e, frames[f].file));
            field_message(&e->profile, 5, &e->msg);
        }
        field_varint(&e->inner, 1, fid);
        field_varint(&e->inner, 2, (uint64_t)(frames[f].line > 0 ? frames[f].line : 0));
        field_message(&loc, 4, &e->inner);
    }
    field_message(&e->profile, 4, &loc);
    free(loc.data);
    return id;
}

static void sample(struct encoder *e, const struct ls_site *s, const int64_t values[4], int64_t state_value,
                   int64_t kind_value)
{
    uint64_t *ids = calloc((size_t)s->depth + 1, sizeof *ids);
    uint64_t vals[4];

    if (!ids) {
        e->profile.failed = 1;
        return;
    }
    for (int k = 0; k < s->depth; k++)
        ids[k] = location(e, s->pcs[k]);
    for (int i = 0; i < 4; i++)
        vals[i] = (uint64_t)values[i];
    field_packed(&e->msg, 1, ids, (size_t)s->depth, &e->scratch);
    field_packed(&e->msg, 2, vals, 4, &e->scratch);
    field_varint(&e->inner, 1, (uint64_t)e->k_kind);
    field_varint(&e->inner, 2, (uint64_t)kind_value);
    field_message(&e->msg, 3, &e->inner);
    if (state_value) {
        field_varint(&e->inner, 1, (uint64_t)e->k_leak);
        field_varint(&e->inner, 2, (uint64_t)state_value);
        field_message(&e->msg, 3, &e->inner);
    }
    field_message(&e->profile, 2, &e->msg);
    free(ids);
}

static void value_type(struct encoder *e, int field, const char *type, const char *unit)
{
    field_varint(&e->inner, 1, (uint64_t)intern(e, type));
    field_varint(&e->inner, 2, (uint64_t)intern(e, unit));
    field_message(&e->profile, field, &e->inner);
}

static int compare_block_site(const void *a, const void *b)
{
    const struct ls_block *x = *(const struct ls_block *const *)a, *y = *(const struct ls_block *const *)b;
    return x->site < y->site ? -1 : x->site > y->site;
}

static void encode(struct encoder *e)
{
    const struct ls_dump *d = e->d;

    intern(e, "");                   /* string 0 is always "" */
    value_type(e, 1, "alloc_objects", "count");
    value_type(e, 1, "alloc_space", "bytes");
    value_type(e, 1, "inuse_objects", "count");
    value_type(e, 1, "inuse_space", "bytes");
    e->k_leak = intern(e, "leak");
    e->k_kind = intern(e, "kind");
    e->v_heap = intern(e, "heap");
    e->v_mmap = intern(e, "mmap");
    for (int st = 1; st < 5; st++)
        e->v_state[st] = intern(e, leak_kind_name(st));

    /* Mappings: one per module. */
    for (size_t m = 0; m < d->nmodules; m++) {
        const struct ls_module *mod = &d->modules[m];
        char build_id[2 * 64 + 1] = "";
        for (size_t i = 0; i < mod->build_id_len; i++)
            snprintf(build_id + 2 * i, 3, "%02x", mod->build_id[i]);
        field_varint(&e->msg, 1, m + 1);
        field_varint(&e->msg, 2, mod->start);
        field_varint(&e->msg, 3, mod->end);
        field_varint(&e->msg, 4, 0);
        field_varint(&e->msg, 5, (uint64_t)intern(e, mod->path));
        field_varint(&e->msg, 6, (uint64_t)intern(e, build_id));
        for (int flag = 7; flag <= 10; flag++)
            field_varint(&e->msg, flag, 1);    /* functions, file names, line numbers, inlined frames */
        field_message(&e->profile, 3, &e->msg);
    }

    /* Live blocks grouped by site, to split each site's in-use values by leak state. */
    const struct ls_block **by_site = calloc(d->nblocks + 1, sizeof *by_site);
    if (!by_site) {
        e->profile.failed = 1;
        return;
    }
    for (size_t i = 0; i < d->nblocks; i++)
        by_site[i] = &d->blocks[i];
    qsort(by_site, d->nblocks, sizeof *by_site, compare_block_site);
    size_t cursor = 0;
    for (size_t i = 0; i < d->nsites; i++) {
        const struct ls_site *s = &d->sites[i];
        if (s->kind > 1 || (s->alloc_objects == 0 && s->inuse_objects == 0))
            continue;
        int64_t kind = s->kind ? e->v_mmap : e->v_heap;
        int64_t objects[5] = { 0 }, bytes[5] = { 0 };
        while (cursor < d->nblocks && by_site[cursor]->site < s->id)
            cursor++;
        for (; cursor < d->nblocks && by_site[cursor]->site == s->id; cursor++) {
            objects[by_site[cursor]->state]++;
            bytes[by_site[cursor]->state] += (int64_t)by_site[cursor]->size;
        }
        /* The allocation counts go with the first sample; in-use values per state (mmap: as counted). */
        int64_t values[4] = { (int64_t)s->alloc_objects, (int64_t)s->alloc_space, 0, 0 };
        int written = 0;
        if (s->kind == 0 && d->nscan > 0) {
            for (int st = 1; st < 5; st++) {
                if (!objects[st])
                    continue;
                values[2] = objects[st];
                values[3] = bytes[st];
                sample(e, s, values, e->v_state[st], kind);
                values[0] = values[1] = 0;
                written = 1;
            }
        }
        if (!written) {
            values[2] = s->inuse_objects;
            values[3] = s->inuse_space;
            sample(e, s, values, 0, kind);
        }
    }
    free(by_site);

    const char *t = dump_meta(d, "time_unix_ns"), *start = dump_meta(d, "start_unix_ns");
    if (t)
        field_varint(&e->profile, 9, (uint64_t)strtoll(t, NULL, 10));
    if (t && start)
        field_varint(&e->profile, 10, (uint64_t)(strtoll(t, NULL, 10) - strtoll(start, NULL, 10)));
    /* Like Go's heap profiles: the period is the mean bytes between samples (1: every allocation). */
    uint64_t period = dump_sample_period(d);
    value_type(e, 11, "space", "bytes");
    field_varint(&e->profile, 12, period ? period : 1);
    if (period) {
        char note[160];
        snprintf(note, sizeof note, "leakscope sampled one allocation per %llu bytes on average; "
                 "values are estimates scaled to every allocation", (unsigned long long)period);
        field_varint(&e->profile, 13, (uint64_t)intern(e, note));
    }
    field_varint(&e->profile, 14, (uint64_t)intern(e, "inuse_space"));
}

int pprof_write(int fd, const struct ls_dump *d, struct symbolizer *sym, char *err, size_t errlen)
{
    struct encoder e = { .d = d, .sym = sym };
    int rc = 0;

    encode(&e);
    if (e.profile.failed || e.msg.failed || e.inner.failed) {
        snprintf(err, errlen, "out of memory encoding the profile");
        rc = -1;
    } else {
        int copy = dup(fd);
        gzFile gz = copy >= 0 ? gzdopen(copy, "wb9") : NULL;
        if (!gz || gzwrite(gz, e.profile.data, (unsigned)e.profile.len) != (int)e.profile.len) {
            snprintf(err, errlen, "cannot write the profile: %s", strerror(errno));
            rc = -1;
        }
        if (gz && gzclose(gz) != Z_OK && rc == 0) {
            snprintf(err, errlen, "cannot finish the profile: %s", strerror(errno));
            rc = -1;
        }
        if (!gz && copy >= 0)
            close(copy);
    }
    free_ids(&e.strings);
    free_ids(&e.functions);
    free_ids(&e.locations);
    free(e.profile.data);
    free(e.msg.data);
    free(e.inner.data);
    free(e.scratch.data);
    return rc;
}
