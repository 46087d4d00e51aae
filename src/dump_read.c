/*
 * dump_read.c - the dump reader (see dump_read.h).
 */
#define _GNU_SOURCE
#include "dump_read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "dump_format.h"

#define MAX_DUMP_BYTES ((size_t)1 << 40)

struct cursor {
    const unsigned char *p, *end;
};

struct parse {
    const char *name;
    char *err;
    size_t errlen;
    struct ls_dump *d;
};

static int fail(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *ps, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%s: %s", ps->name, what);
    return -1;
}

static int take(struct cursor *c, void *out, size_t n)
{
    if ((size_t)(c->end - c->p) < n)
        return -1;
    memcpy(out, c->p, n);
    c->p += n;
    return 0;
}

static size_t left(const struct cursor *c)
{
    return (size_t)(c->end - c->p);
}

static const char *section_name(uint32_t type)
{
    switch (type) {
    case DUMP_SECTION_META: return "META";
    case DUMP_SECTION_STATS: return "STATS";
    case DUMP_SECTION_MODULES: return "MODULES";
    case DUMP_SECTION_SITES: return "SITES";
    case DUMP_SECTION_BLOCKS: return "BLOCKS";
    case DUMP_SECTION_REGIONS: return "REGIONS";
    case DUMP_SECTION_SCAN: return "SCAN";
    case DUMP_SECTION_SUPPRESSIONS: return "SUPPRESSIONS";
    case DUMP_SECTION_TIMELINE: return "TIMELINE";
    case DUMP_SECTION_SERIES: return "SERIES";
    case DUMP_SECTION_RSS: return "RSS";
    case DUMP_SECTION_END: return "END";
    default: return "unknown";
    }
}

/* "key=value\n" lines into a fresh array. */
static int parse_text(struct parse *ps, const char *section, const unsigned char *p, size_t len,
                      struct ls_keyval **out, size_t *count)
{
    size_t lines = 0, n = 0;

    for (size_t i = 0; i < len; i++)
        if (p[i] == '\n')
            lines++;
    struct ls_keyval *kv = calloc(lines + 1, sizeof *kv);
    if (!kv)
        return fail(ps, "out of memory reading %s", section);
    *out = kv;
    const unsigned char *line = p, *end = p + len;
    while (line < end) {
        const unsigned char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            return fail(ps, "corrupt %s section: last line has no newline", section);
        const unsigned char *eq = memchr(line, '=', (size_t)(nl - line));
        if (!eq || memchr(line, '\0', (size_t)(nl - line)))
            return fail(ps, "corrupt %s section: a line is not key=value", section);
        kv[n].key = strndup((const char *)line, (size_t)(eq - line));
        kv[n].value = strndup((const char *)eq + 1, (size_t)(nl - eq - 1));
        if (!kv[n].key || !kv[n].value)
            return fail(ps, "out of memory reading %s", section);
        n++;
        *count = n;
        line = nl + 1;
    }
    return 0;
}

static int parse_modules(struct parse *ps, struct cursor c)
{
    size_t cap = 0;

    while (left(&c) > 0) {
        uint64_t base, start, end;
        uint32_t flags;
        uint16_t path_len, id_len;
        if (take(&c, &base, 8) || take(&c, &start, 8) || take(&c, &end, 8) || take(&c, &flags, 4) ||
            take(&c, &path_len, 2) || take(&c, &id_len, 2) || left(&c) < (size_t)path_len + id_len)
            return fail(ps, "corrupt MODULES section: a record runs past the section's end");
        if (id_len > sizeof ps->d->modules[0].build_id)
            return fail(ps, "corrupt MODULES section: build-id of %u bytes (at most 64)", id_len);
        if (ps->d->nmodules == cap) {
            cap = cap ? cap * 2 : 32;
            struct ls_module *m = realloc(ps->d->modules, cap * sizeof *m);
            if (!m)
                return fail(ps, "out of memory reading MODULES");
            ps->d->modules = m;
        }
        struct ls_module *m = &ps->d->modules[ps->d->nmodules];
        memset(m, 0, sizeof *m);
        m->path = strndup((const char *)c.p, path_len);
        if (!m->path)
            return fail(ps, "out of memory reading MODULES");
        ps->d->nmodules++;
        c.p += path_len;
        memcpy(m->build_id, c.p, id_len);
        c.p += id_len;
        m->build_id_len = id_len;
        m->base = base;
        m->start = start;
        m->end = end;
        m->is_main = (flags & DUMP_MODULE_FLAG_MAIN) != 0;
        m->is_loader = (flags & DUMP_MODULE_FLAG_LOADER) != 0;
    }
    return 0;
}

static int compare_site_id(const void *a, const void *b)
{
    const struct ls_site *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int parse_sites(struct parse *ps, struct cursor c)
{
    uint32_t fixed, reserved;
    size_t cap = 0, pool_used = 0;

    if (take(&c, &fixed, 4) || take(&c, &reserved, 4))
        return fail(ps, "corrupt SITES section: shorter than its 8-byte header");
    if (fixed < DUMP_SITE_FIXED_SIZE || fixed > 4096)
        return fail(ps, "corrupt SITES section: record size %u (expected at least %d)", fixed,
                    DUMP_SITE_FIXED_SIZE);
    /* Every pc is 8 bytes of the section, so the section's size bounds the pool. */
    ps->d->pc_pool = malloc(left(&c) / 8 * sizeof(uint64_t) + 8);
    if (!ps->d->pc_pool)
        return fail(ps, "out of memory reading SITES");
    while (left(&c) > 0) {
        struct ls_site s;
        uint8_t kind, pad;
        uint16_t depth;
        uint64_t inuse_objects, inuse_space, peak;
        memset(&s, 0, sizeof s);
        if (left(&c) < fixed || take(&c, &s.id, 4) || take(&c, &kind, 1) || take(&c, &pad, 1) ||
            take(&c, &depth, 2) || take(&c, &s.alloc_objects, 8) || take(&c, &s.alloc_space, 8) ||
            take(&c, &inuse_objects, 8) || take(&c, &inuse_space, 8) || take(&c, &peak, 8))
            return fail(ps, "corrupt SITES section: a record runs past the section's end");
        c.p += fixed - DUMP_SITE_FIXED_SIZE;
        if (kind > 2)
            return fail(ps, "corrupt SITES section: site %u has unknown kind %u", s.id, kind);
        if (left(&c) < (size_t)depth * 8)
            return fail(ps, "corrupt SITES section: site %u's stack runs past the section's end", s.id);
        s.kind = kind;
        s.depth = depth;
        s.inuse_objects = (int64_t)inuse_objects;
        s.inuse_space = (int64_t)inuse_space;
        s.peak_inuse_space = (int64_t)peak;
        memcpy(ps->d->pc_pool + pool_used, c.p, (size_t)depth * 8);   /* the pool never moves */
        c.p += (size_t)depth * 8;
        s.pcs = ps->d->pc_pool + pool_used;
        pool_used += depth;
        if (ps->d->nsites == cap) {
            cap = cap ? cap * 2 : 256;
            struct ls_site *grown = realloc(ps->d->sites, cap * sizeof *grown);
            if (!grown)
                return fail(ps, "out of memory reading SITES");
            ps->d->sites = grown;
        }
        ps->d->sites[ps->d->nsites++] = s;
    }
    qsort(ps->d->sites, ps->d->nsites, sizeof *ps->d->sites, compare_site_id);
    for (size_t i = 1; i < ps->d->nsites; i++)
        if (ps->d->sites[i].id == ps->d->sites[i - 1].id)
            return fail(ps, "corrupt SITES section: site %u appears twice", ps->d->sites[i].id);
    return 0;
}

static int parse_records(struct parse *ps, const char *section, struct cursor c,
                         struct ls_block **out, size_t *count)
{
    uint32_t size, reserved;

    if (take(&c, &size, 4) || take(&c, &reserved, 4))
        return fail(ps, "corrupt %s section: shorter than its 8-byte header", section);
    if (size < 24 || size > 4096)
        return fail(ps, "corrupt %s section: record size %u (expected at least 24)", section, size);
    if (left(&c) % size != 0)
        return fail(ps, "corrupt %s section: %zu bytes is not a whole number of %u-byte records",
                    section, left(&c), size);
    size_t n = left(&c) / size;
    *out = calloc(n + 1, sizeof **out);
    if (!*out)
        return fail(ps, "out of memory reading %s", section);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *r = c.p + i * size;
        memcpy(&(*out)[i].addr, r, 8);
        memcpy(&(*out)[i].size, r + 8, 8);
        memcpy(&(*out)[i].site, r + 16, 4);
        memcpy(&(*out)[i].birth_cs, r + 20, 4);
        if (size >= 28)
            memcpy(&(*out)[i].state, r + 24, 4);
        if ((*out)[i].state > LS_DIRECT)
            return fail(ps, "corrupt %s section: record %zu has unknown state %u", section, i, (*out)[i].state);
    }
    *count = n;
    return 0;
}

static int parse_timeline(struct parse *ps, struct cursor c)
{
    uint32_t nfields, reserved;

    if (take(&c, &nfields, 4) || take(&c, &reserved, 4) || nfields == 0 || nfields > 256)
        return fail(ps, "corrupt TIMELINE section: bad header");
    ps->d->timeline_fields = calloc(nfields, sizeof(char *));
    if (!ps->d->timeline_fields)
        return fail(ps, "out of memory reading TIMELINE");
    ps->d->ntimeline_fields = nfields;
    for (uint32_t f = 0; f < nfields; f++) {
        uint16_t len;
        if (take(&c, &len, 2) || left(&c) < len)
            return fail(ps, "corrupt TIMELINE section: a field name runs past the section's end");
        ps->d->timeline_fields[f] = strndup((const char *)c.p, len);
        if (!ps->d->timeline_fields[f])
            return fail(ps, "out of memory reading TIMELINE");
        c.p += len;
    }
    size_t record = (size_t)nfields * 8;
    if (left(&c) % record != 0)
        return fail(ps, "corrupt TIMELINE section: %zu bytes is not a whole number of records", left(&c));
    ps->d->ntimeline = left(&c) / record;
    ps->d->timeline = malloc(left(&c) + 8);
    if (!ps->d->timeline)
        return fail(ps, "out of memory reading TIMELINE");
    memcpy(ps->d->timeline, c.p, left(&c));
    return 0;
}

static int parse_series(struct parse *ps, struct cursor c)
{
    uint32_t sample_size, reserved;
    size_t cap = 0;

    if (take(&c, &sample_size, 4) || take(&c, &reserved, 4) || sample_size < 24 || sample_size > 1024)
        return fail(ps, "corrupt SERIES section: bad header");
    while (left(&c) > 0) {
        uint32_t site, count;
        if (take(&c, &site, 4) || take(&c, &count, 4) || left(&c) / sample_size < count)
            return fail(ps, "corrupt SERIES section: a series runs past the section's end");
        if (ps->d->nseries == cap) {
            cap = cap ? cap * 2 : 64;
            struct ls_series *grown = realloc(ps->d->series, cap * sizeof *grown);
            if (!grown)
                return fail(ps, "out of memory reading SERIES");
            ps->d->series = grown;
        }
        struct ls_series *s = &ps->d->series[ps->d->nseries++];
        s->site = site;
        s->count = count;
        s->samples = calloc(count + 1, sizeof *s->samples);
        if (!s->samples)
            return fail(ps, "out of memory reading SERIES");
        for (uint32_t i = 0; i < count; i++) {
            memcpy(&s->samples[i], c.p, 24);
            c.p += sample_size;
        }
    }
    return 0;
}

static int check_references(struct parse *ps)
{
    struct ls_dump *d = ps->d;

    for (size_t i = 0; i < d->nblocks; i++)
        if (!dump_site(d, d->blocks[i].site))
            return fail(ps, "corrupt BLOCKS section: block at 0x%llx names site %u, which is not in SITES",
                        (unsigned long long)d->blocks[i].addr, d->blocks[i].site);
    for (size_t i = 0; i < d->nseries; i++)
        if (!dump_site(d, d->series[i].site))
            return fail(ps, "corrupt SERIES section: a series names site %u, which is not in SITES", d->series[i].site);
    for (size_t i = 0; i < d->nregions; i++)
        if (!dump_site(d, d->regions[i].site))
            return fail(ps, "corrupt REGIONS section: region at 0x%llx names site %u, which is not in SITES",
                        (unsigned long long)d->regions[i].addr, d->regions[i].site);
    return 0;
}

static int parse_all(struct parse *ps, const unsigned char *data, size_t len)
{
    struct cursor c = { data, data + len };
    uint16_t version, header_size;
    uint32_t byte_order, sections = 0;
    int seen_end = 0, seen[16] = { 0 };

    if (len < DUMP_MAGIC_LEN || memcmp(data, DUMP_MAGIC, DUMP_MAGIC_LEN) != 0)
        return fail(ps, "not a leakscope dump (no LSD signature at the start)");
    c.p += DUMP_MAGIC_LEN;
    if (take(&c, &version, 2) || take(&c, &header_size, 2) || take(&c, &byte_order, 4))
        return fail(ps, "truncated: the file ends inside its header");
    if (byte_order != DUMP_BYTE_ORDER)
        return fail(ps, "written on a machine of the other byte order; read it there");
    if (version > DUMP_VERSION)
        return fail(ps, "dump format version %u is newer than this leakscope reads (%d); upgrade leakscope",
                    version, DUMP_VERSION);
    if (version == 0)
        return fail(ps, "corrupt header: format version 0");
    if (header_size < DUMP_HEADER_SIZE || header_size > len)
        return fail(ps, "corrupt header: header size %u", header_size);
    c.p = data + header_size;
    ps->d->version = version;

    while (!seen_end) {
        uint32_t type, crc;
        uint64_t length;
        if (left(&c) == 0)
            return fail(ps, "truncated: the file ends after %u sections, before the END section", sections);
        if (take(&c, &type, 4) || take(&c, &crc, 4) || take(&c, &length, 8))
            return fail(ps, "truncated: the file ends inside a section header");
        if (length > left(&c))
            return fail(ps, "truncated: section %s says %llu bytes but only %zu remain",
                        section_name(type), (unsigned long long)length, left(&c));
        struct cursor body = { c.p, c.p + length };
        c.p += length;
        uint32_t expected = (uint32_t)crc32(crc32(0, Z_NULL, 0), (const Bytef *)&type, sizeof type);
        if ((uint32_t)crc32_z(expected, body.p, (z_size_t)length) != crc)
            return fail(ps, "corrupt: checksum mismatch in section %s", section_name(type));
        if (type < 16) {
            if (seen[type])
                return fail(ps, "corrupt: section %s appears twice", section_name(type));
            seen[type] = 1;
        }
        int rc = 0;
        switch (type) {
        case DUMP_SECTION_META:
            rc = parse_text(ps, "META", body.p, length, &ps->d->meta, &ps->d->nmeta);
            break;
        case DUMP_SECTION_STATS:
            rc = parse_text(ps, "STATS", body.p, length, &ps->d->stats, &ps->d->nstats);
            break;
        case DUMP_SECTION_MODULES:
            rc = parse_modules(ps, body);
            break;
        case DUMP_SECTION_SITES:
            rc = parse_sites(ps, body);
            break;
        case DUMP_SECTION_BLOCKS:
            rc = parse_records(ps, "BLOCKS", body, &ps->d->blocks, &ps->d->nblocks);
            break;
        case DUMP_SECTION_REGIONS:
            rc = parse_records(ps, "REGIONS", body, &ps->d->regions, &ps->d->nregions);
            break;
        case DUMP_SECTION_SCAN:
            rc = parse_text(ps, "SCAN", body.p, length, &ps->d->scan, &ps->d->nscan);
            break;
        case DUMP_SECTION_SUPPRESSIONS:
            ps->d->suppressions = strndup((const char *)body.p, length);
            if (!ps->d->suppressions)
                rc = fail(ps, "out of memory reading SUPPRESSIONS");
            break;
        case DUMP_SECTION_TIMELINE:
            rc = parse_timeline(ps, body);
            break;
        case DUMP_SECTION_RSS:
            rc = parse_text(ps, "RSS", body.p, length, &ps->d->rss, &ps->d->nrss);
            break;
        case DUMP_SECTION_SERIES:
            rc = parse_series(ps, body);
            break;
        case DUMP_SECTION_END: {
            uint32_t declared;
            if (take(&body, &declared, 4))
                return fail(ps, "corrupt END section");
            if (declared != sections)
                return fail(ps, "corrupt: END counts %u sections but %u precede it", declared, sections);
            seen_end = 1;
            break;
        }
        default:
            break;                    /* a section from a later version: skip it */
        }
        if (rc)
            return rc;
        sections++;
    }
    /* Version 1 writers always write every section: a missing one means damage. */
    for (uint32_t type = DUMP_SECTION_META; type <= DUMP_SECTION_REGIONS; type++)
        if (!seen[type])
            return fail(ps, "corrupt: the %s section is missing", section_name(type));
    return check_references(ps);
}

int dump_parse(const unsigned char *data, size_t len, const char *name, struct ls_dump **out,
               char *err, size_t errlen)
{
    struct ls_dump *d = calloc(1, sizeof *d);
    struct parse ps = { name, err, errlen, d };

    *out = NULL;
    if (!d || !(d->path = strdup(name))) {
        free(d);
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    if (parse_all(&ps, data, len) != 0) {
        dump_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

int dump_read(const char *path, struct ls_dump **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;

    *out = NULL;
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return -1;
    }
    if ((size_t)st.st_size > MAX_DUMP_BYTES) {
        snprintf(err, errlen, "%s: %lld bytes is larger than any dump leakscope writes", path,
                 (long long)st.st_size);
        fclose(f);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    unsigned char *data = malloc(len ? len : 1);
    if (!data) {
        snprintf(err, errlen, "%s: out of memory (%zu bytes)", path, len);
        fclose(f);
        return -1;
    }
    size_t got = fread(data, 1, len, f);
    fclose(f);
    if (got != len) {
        snprintf(err, errlen, "%s: read error", path);
        free(data);
        return -1;
    }
    int rc = dump_parse(data, len, path, out, err, errlen);
    free(data);
    return rc;
}

static void free_keyvals(struct ls_keyval *kv, size_t n)
{
    if (!kv)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void dump_free(struct ls_dump *d)
{
    if (!d)
        return;
    free_keyvals(d->meta, d->nmeta);
    free_keyvals(d->stats, d->nstats);
    free_keyvals(d->scan, d->nscan);
    free_keyvals(d->rss, d->nrss);
    free(d->suppressions);
    for (size_t i = 0; i < d->nmodules; i++)
        free(d->modules[i].path);
    free(d->modules);
    free(d->sites);
    free(d->pc_pool);
    for (size_t i = 0; d->timeline_fields && i < d->ntimeline_fields; i++)
        free(d->timeline_fields[i]);
    free(d->timeline_fields);
    free(d->timeline);
    for (size_t i = 0; i < d->nseries; i++)
        free(d->series[i].samples);
    free(d->series);
    free(d->blocks);
    free(d->regions);
    free(d->path);
    free(d);
}

static const char *lookup(const struct ls_keyval *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

const char *dump_meta(const struct ls_dump *d, const char *key)
{
    return lookup(d->meta, d->nmeta, key);
}

static int64_t number_or(const char *v, int64_t fallback)
{
    char *end;

    if (!v || !*v)
        return fallback;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return (errno || *end) ? fallback : n;
}

uint64_t dump_sample_period(const struct ls_dump *d)
{
    int64_t period = number_or(dump_meta(d, "sample_period"), 0);

    return period > 0 ? (uint64_t)period : 0;
}

int64_t dump_stat(const struct ls_dump *d, const char *key, int64_t fallback)
{
    return number_or(lookup(d->stats, d->nstats, key), fallback);
}

int64_t dump_rss_value(const struct ls_dump *d, const char *key, int64_t fallback)
{
    return number_or(lookup(d->rss, d->nrss, key), fallback);
}

int64_t dump_scan_value(const struct ls_dump *d, const char *key, int64_t fallback)
{
    return number_or(lookup(d->scan, d->nscan, key), fallback);
}

const struct ls_site *dump_site(const struct ls_dump *d, uint32_t id)
{
    size_t lo = 0, hi = d->nsites;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d->sites[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nsites && d->sites[lo].id == id ? &d->sites[lo] : NULL;
}

int dump_timeline_field(const struct ls_dump *d, const char *name)
{
    for (size_t f = 0; f < d->ntimeline_fields; f++)
        if (strcmp(d->timeline_fields[f], name) == 0)
            return (int)f;
    return -1;
}

const struct ls_series *dump_series(const struct ls_dump *d, uint32_t site)
{
    for (size_t i = 0; i < d->nseries; i++)
        if (d->series[i].site == site)
            return &d->series[i];
    return NULL;
}
