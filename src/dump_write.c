/*
 * dump_write.c - the dump writer (see dump_write.h and dump_format.h).
 *
 * Output goes through a 256 KiB buffer; each section's header is written as a
 * placeholder and filled in with pwrite once the payload's length and crc32
 * are known, so tables are streamed without knowing their size first.
 */
#define _GNU_SOURCE
#include "dump_write.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "arena.h"
#include "dump_format.h"
#include "leakcheck.h"
#include "live.h"
#include "modules.h"
#include "regions.h"
#include "sites.h"
#include "timeline.h"

#define WRITE_BUFFER (256 * 1024)

struct writer {
    int fd;
    int error;                 /* first errno seen, 0 if none */
    unsigned char *buf;
    size_t used;
    uint64_t offset;           /* file offset of buf[0] */
    uint64_t section_at;       /* file offset of the open section's header */
    uint64_t section_len;
    uint32_t section_type;
    uint32_t crc;
    uint32_t sections;
};

static void flush(struct writer *w)
{
    size_t done = 0;

    while (done < w->used && !w->error) {
        ssize_t n = write(w->fd, w->buf + done, w->used - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->error = n < 0 ? errno : EIO;
        else
            done += (size_t)n;
    }
    w->offset += w->used;
    w->used = 0;
}

static void put_raw(struct writer *w, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0 && !w->error) {
        size_t room = WRITE_BUFFER - w->used;
        size_t take = len < room ? len : room;
        memcpy(w->buf + w->used, p, take);
        w->used += take;
        p += take;
        len -= take;
        if (w->used == WRITE_BUFFER)
            flush(w);
    }
}

static void put(struct writer *w, const void *data, size_t len)
{
    w->crc = (uint32_t)crc32_z(w->crc, data, (z_size_t)len);
    w->section_len += len;
    put_raw(w, data, len);
}

static void put_u16(struct writer *w, uint16_t v) { put(w, &v, sizeof v); }
static void put_u32(struct writer *w, uint32_t v) { put(w, &v, sizeof v); }
static void put_u64(struct writer *w, uint64_t v) { put(w, &v, sizeof v); }

static void section_header(unsigned char out[DUMP_SECTION_HEADER_SIZE], uint32_t type,
                           uint32_t crc, uint64_t len)
{
    memcpy(out, &type, 4);
    memcpy(out + 4, &crc, 4);
    memcpy(out + 8, &len, 8);
}

static void section_begin(struct writer *w, uint32_t type)
{
    unsigned char placeholder[DUMP_SECTION_HEADER_SIZE] = { 0 };

    w->section_at = w->offset + w->used;
    w->section_type = type;
    w->section_len = 0;
    w->crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), (const Bytef *)&type, sizeof type);
    put_raw(w, placeholder, sizeof placeholder);
}

static void section_end(struct writer *w)
{
    unsigned char header[DUMP_SECTION_HEADER_SIZE];

    section_header(header, w->section_type, w->crc, w->section_len);
    if (w->section_at >= w->offset) {
        memcpy(w->buf + (w->section_at - w->offset), header, sizeof header);   /* still buffered */
    } else {
        flush(w);
        if (!w->error && pwrite(w->fd, header, sizeof header, (off_t)w->section_at) != sizeof header)
            w->error = errno ? errno : EIO;
    }
    w->sections++;
}

static void write_text_section(struct writer *w, uint32_t type, const char *text)
{
    section_begin(w, type);
    put(w, text, strlen(text));
    section_end(w);
}

static void write_module(const struct module_info *mod, void *arg)
{
    struct writer *w = arg;
    size_t path_len = strlen(mod->path);

    if (path_len > UINT16_MAX)
        path_len = UINT16_MAX;
    put_u64(w, mod->base);
    put_u64(w, mod->start);
    put_u64(w, mod->end);
    put_u32(w, (mod->is_main ? DUMP_MODULE_FLAG_MAIN : 0) | (mod->is_loader ? DUMP_MODULE_FLAG_LOADER : 0));
    put_u16(w, (uint16_t)path_len);
    put_u16(w, (uint16_t)mod->build_id_len);
    put(w, mod->path, path_len);
    put(w, mod->build_id, mod->build_id_len);
}

static void write_sites(struct writer *w)
{
    uint32_t n = site_count();

    section_begin(w, DUMP_SECTION_SITES);
    put_u32(w, DUMP_SITE_FIXED_SIZE);
    put_u32(w, 0);
    for (uint32_t id = 0; id < n && !w->error; id++) {
        struct site *s = site_by_id(id);
        if (!s)
            continue;
        uint8_t kind_pad[2] = { (uint8_t)site_kind(s), 0 };
        put_u32(w, s->id);
        put(w, kind_pad, 2);
        put_u16(w, s->depth);
        put_u64(w, atomic_load_explicit(&s->alloc_objects, memory_order_relaxed));
        put_u64(w, atomic_load_explicit(&s->alloc_space, memory_order_relaxed));
        put_u64(w, (uint64_t)atomic_load_explicit(&s->inuse_objects, memory_order_relaxed));
        put_u64(w, (uint64_t)atomic_load_explicit(&s->inuse_space, memory_order_relaxed));
        put_u64(w, (uint64_t)atomic_load_explicit(&s->peak_inuse_space, memory_order_relaxed));
        for (int i = 0; i < s->depth; i++)
            put_u64(w, s->pcs[i]);
    }
    section_end(w);
}

static void put_block(struct writer *w, const struct live_block *b, uint32_t state)
{
    unsigned char rec[DUMP_BLOCK_RECORD_SIZE] = { 0 };

    memcpy(rec, &b->addr, 8);
    memcpy(rec + 8, &b->size, 8);
    memcpy(rec + 16, &b->site, 4);
    memcpy(rec + 20, &b->birth, 4);
    memcpy(rec + 24, &state, 4);
    put(w, rec, sizeof rec);
}

static void write_blocks(struct writer *w, const struct leak_scan *scan)
{
    struct live_block *buf = NULL;
    size_t cap = 0;

    section_begin(w, DUMP_SECTION_BLOCKS);
    put_u32(w, DUMP_BLOCK_RECORD_SIZE);
    put_u32(w, 0);
    if (scan) {
        for (size_t i = 0; i < scan->count && !w->error; i++)
            put_block(w, &scan->blocks[i], scan->state[i]);
    } else {
        for (int shard = 0; shard < LIVE_SHARDS && !w->error; shard++) {
            size_t n = live_copy_shard(shard, &buf, &cap);
            for (size_t i = 0; i < n; i++)
                put_block(w, &buf[i], 0);
        }
        meta_unmap(buf, cap * sizeof *buf);
    }
    section_end(w);
}

static void write_regions(struct writer *w)
{
    struct region *buf = NULL;
    size_t cap = 0;
    size_t n = regions_copy(&buf, &cap);

    section_begin(w, DUMP_SECTION_REGIONS);
    put_u32(w, DUMP_REGION_RECORD_SIZE);
    put_u32(w, 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char rec[DUMP_REGION_RECORD_SIZE];
        memcpy(rec, &buf[i].start, 8);
        memcpy(rec + 8, &buf[i].len, 8);
        memcpy(rec + 16, &buf[i].site, 4);
        memcpy(rec + 20, &buf[i].birth, 4);
        put(w, rec, sizeof rec);
    }
    meta_unmap(buf, cap * sizeof *buf);
    section_end(w);
}

static void write_timeline(struct writer *w)
{
    struct process_sample *samples = meta_map(TIMELINE_CAPACITY * sizeof *samples);
    size_t n = samples ? timeline_copy(samples, TIMELINE_CAPACITY) : 0;

    section_begin(w, DUMP_SECTION_TIMELINE);
    put_u32(w, PROCESS_SAMPLE_FIELDS);
    put_u32(w, 0);
    for (int f = 0; f < PROCESS_SAMPLE_FIELDS; f++) {
        size_t len = strlen(process_sample_fields[f]);
        put_u16(w, (uint16_t)len);
        put(w, process_sample_fields[f], len);
    }
    for (size_t i = 0; i < n; i++)
        put(w, &samples[i], sizeof samples[i]);
    meta_unmap(samples, TIMELINE_CAPACITY * sizeof *samples);
    section_end(w);
}

static void write_series(struct writer *w)
{
    uint32_t *sites = meta_map(SERIES_MAX_SITES * sizeof *sites);
    struct site_sample samples[SERIES_SAMPLES];
    size_t n = sites ? series_sites(sites, SERIES_MAX_SITES) : 0;

    section_begin(w, DUMP_SECTION_SERIES);
    put_u32(w, sizeof(struct site_sample));
    put_u32(w, 0);
    for (size_t i = 0; i < n; i++) {
        size_t count = series_copy(sites[i], samples, SERIES_SAMPLES);
        put_u32(w, sites[i]);
        put_u32(w, (uint32_t)count);
        put(w, samples, count * sizeof *samples);
    }
    meta_unmap(sites, SERIES_MAX_SITES * sizeof *sites);
    section_end(w);
}

int dump_write(int fd, const char *meta, const char *stats, const struct leak_scan *scan,
               const char *scan_text, const char *suppressions, const char *rss_text)
{
    struct writer w = { .fd = fd };
    unsigned char header[DUMP_HEADER_SIZE];
    uint16_t version = DUMP_VERSION, header_size = DUMP_HEADER_SIZE;
    uint32_t byte_order = DUMP_BYTE_ORDER;

    w.buf = meta_map(WRITE_BUFFER);
    if (!w.buf)
        return -ENOMEM;
    memcpy(header, DUMP_MAGIC, DUMP_MAGIC_LEN);
    memcpy(header + 8, &version, 2);
    memcpy(header + 10, &header_size, 2);
    memcpy(header + 12, &byte_order, 4);
    put_raw(&w, header, sizeof header);

    write_text_section(&w, DUMP_SECTION_META, meta);
    write_text_section(&w, DUMP_SECTION_STATS, stats);

    section_begin(&w, DUMP_SECTION_MODULES);
    modules_for_each(write_module, &w);
    section_end(&w);

    write_sites(&w);
    write_blocks(&w, scan);
    write_regions(&w);
    if (scan && scan_text)
        write_text_section(&w, DUMP_SECTION_SCAN, scan_text);
    if (suppressions)
        write_text_section(&w, DUMP_SECTION_SUPPRESSIONS, suppressions);
    write_timeline(&w);
    write_series(&w);
    if (rss_text)
        write_text_section(&w, DUMP_SECTION_RSS, rss_text);

    uint32_t before_end = w.sections;
    section_begin(&w, DUMP_SECTION_END);
    put_u32(&w, before_end);
    section_end(&w);
    flush(&w);

    meta_unmap(w.buf, WRITE_BUFFER);
    return w.error ? -w.error : 0;
}
