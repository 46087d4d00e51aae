/*
 * test_dump.c - the dump format: what the writer writes the reader reads
 * back exactly, and the reader refuses damaged or foreign input with one line.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "dump_format.h"
#include "dump_read.h"
#include "dump_write.h"
#include "live.h"
#include "regions.h"
#include "sites.h"

/* Populate the engine tables with known content and write a dump to a buffer. */
static unsigned char *sample_dump(size_t *len)
{
    uintptr_t a[] = { 0x401000, 0x402000 }, b[] = { 0x403000 }, m[] = { 0x404000, 0x405000, 0x406000 };
    struct site *sa = site_intern(a, 2, SITE_HEAP);
    struct site *sb = site_intern(b, 1, SITE_HEAP);
    struct site *sm = site_intern(m, 3, SITE_MMAP);

    for (int i = 0; i < 100; i++) {
        live_insert(0x10000000 + (uintptr_t)i * 1024, 1000, sa->id, (uint32_t)i, NULL);
        site_count_alloc(sa, 1, 1000);
    }
    site_count_alloc(sb, 1, 77);
    site_count_free(sb, 1, 77);
    regions_add(0x7f0000000000, 65536, sm->id, 5);
    site_count_alloc(sm, 1, 65536);

    char path[] = "/tmp/leakscope-dump-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(dump_write(fd, "format=leakscope-dump\npid=42\nreason=exit\n", "rss_bytes=123456\n", NULL, NULL,
                            NULL, NULL), 0);
    close(fd);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *data = malloc(*len);
    cr_assert_eq(fread(data, 1, *len, f), *len);
    fclose(f);
    unlink(path);
    return data;
}

static int parse(const unsigned char *data, size_t len, struct ls_dump **d, char *err)
{
    return dump_parse(data, len, "test.lsd", d, err, 512);
}

Test(dump, round_trip_keeps_sites_blocks_regions_and_text)
{
    size_t len;
    unsigned char *data = sample_dump(&len);
    struct ls_dump *d;
    char err[512];

    cr_assert_eq(parse(data, len, &d, err), 0, "%s", err);
    cr_assert_str_eq(dump_meta(d, "pid"), "42");
    cr_assert_str_eq(dump_meta(d, "reason"), "exit");
    cr_assert_eq(dump_stat(d, "rss_bytes", -1), 123456);
    cr_assert_eq(dump_stat(d, "no_such_key", -1), -1);
    cr_assert_eq(d->nsites, 3);
    const struct ls_site *s0 = dump_site(d, 0), *s1 = dump_site(d, 1), *s2 = dump_site(d, 2);
    cr_assert_eq(s0->depth, 2);
    cr_assert_eq(s0->pcs[0], 0x401000);
    cr_assert_eq(s0->pcs[1], 0x402000);
    cr_assert_eq(s0->inuse_space, 100000);
    cr_assert_eq(s0->inuse_objects, 100);
    cr_assert_eq(s1->alloc_space, 77);
    cr_assert_eq(s1->inuse_space, 0);
    cr_assert_eq(s2->kind, 1);
    cr_assert_eq(s2->depth, 3);
    cr_assert_eq(s2->pcs[2], 0x406000);
    cr_assert_eq(d->nblocks, 100);
    uint64_t sum = 0;
    for (size_t i = 0; i < d->nblocks; i++) {
        cr_assert_eq(d->blocks[i].site, 0);
        sum += d->blocks[i].size;
    }
    cr_assert_eq(sum, 100000);
    cr_assert_eq(d->nregions, 1);
    cr_assert_eq(d->regions[0].addr, 0x7f0000000000);
    cr_assert_eq(d->regions[0].size, 65536);
    cr_assert_eq(d->regions[0].birth_cs, 5);
    cr_assert_gt(d->nmodules, 0, "the module map of the test process is recorded");
    int main_seen = 0;
    for (size_t i = 0; i < d->nmodules; i++)
        main_seen |= d->modules[i].is_main && d->modules[i].build_id_len > 0;
    cr_assert(main_seen, "the executable is recorded with its build-id");
    dump_free(d);
    free(data);
}

Test(dump, every_truncation_is_refused_with_one_line)
{
    size_t len;
    unsigned char *data = sample_dump(&len);
    struct ls_dump *d;
    char err[512];

    for (size_t cut = 0; cut < len; cut += (cut < 256 ? 1 : 97)) {
        cr_assert_eq(parse(data, cut, &d, err), -1, "a dump cut at %zu bytes of %zu was accepted", cut, len);
        cr_assert_null(d);
        cr_assert_null(strchr(err, '\n'), "one line: %s", err);
        cr_assert_eq(strncmp(err, "test.lsd: ", 10), 0, "names the file: %s", err);
    }
    free(data);
}

Test(dump, flipped_bits_are_caught)
{
    size_t len;
    unsigned char *data = sample_dump(&len);
    struct ls_dump *d;
    char err[512];

    for (size_t at = 0; at < len; at += 13) {
        data[at] ^= 0x20;
        int rc = parse(data, len, &d, err);
        data[at] ^= 0x20;
        if (rc == 0) {
            /* Only bytes no check covers may flip unnoticed: the header's reserved bits do not exist,
               so anything accepted must be byte-identical in meaning - fail loudly. */
            dump_free(d);
            cr_assert_fail("a flipped bit at offset %zu of %zu was accepted", at, len);
        }
    }
    free(data);
}

Test(dump, foreign_and_newer_files_get_clear_errors)
{
    size_t len;
    unsigned char *data = sample_dump(&len);
    struct ls_dump *d;
    char err[512];
    const char *text = "just some text file\n";

    cr_assert_eq(parse((const unsigned char *)text, strlen(text), &d, err), -1);
    cr_assert_str_eq(err, "test.lsd: not a leakscope dump (no LSD signature at the start)");

    data[8] = DUMP_VERSION + 1;
    cr_assert_eq(parse(data, len, &d, err), -1);
    cr_assert_not_null(strstr(err, "is newer than this leakscope reads"), "%s", err);
    free(data);
}

Test(dump, oversized_section_length_is_refused)
{
    size_t len;
    unsigned char *data = sample_dump(&len);
    struct ls_dump *d;
    char err[512];
    uint64_t huge = UINT64_MAX - 5;

    memcpy(data + DUMP_HEADER_SIZE + 8, &huge, 8);   /* the first section's length */
    cr_assert_eq(parse(data, len, &d, err), -1);
    cr_assert_not_null(strstr(err, "truncated: section META says"), "%s", err);
    free(data);
}

/* Structure confusion, which checksums cannot catch: every section relabelled as every other type, with a
   checksum made valid for the new label.  Each file is either read (and released) or refused with one
   line; never a crash, which Criterion would report. */
Test(dump, a_section_under_another_sections_label_is_read_safely_or_refused)
{
    size_t len;
    unsigned char *data = sample_dump(&len);
    struct ls_dump *d;
    char err[512];
    int refused = 0, tried = 0;

    for (size_t off = DUMP_HEADER_SIZE; off + DUMP_SECTION_HEADER_SIZE <= len;) {
        uint32_t type, crc;
        uint64_t length;
        memcpy(&type, data + off, 4);
        memcpy(&crc, data + off + 4, 4);
        memcpy(&length, data + off + 8, 8);
        if (type == DUMP_SECTION_END)
            break;
        for (uint32_t label = DUMP_SECTION_META; label <= DUMP_SECTION_RSS; label++) {
            if (label == type)
                continue;
            uint32_t forged;
            memcpy(data + off, &label, 4);
            forged = (uint32_t)crc32(0, data + off, 4);
            forged = (uint32_t)crc32(forged, data + off + DUMP_SECTION_HEADER_SIZE, (uInt)length);
            memcpy(data + off + 4, &forged, 4);
            tried++;
            if (parse(data, len, &d, err) == 0) {
                dump_free(d);
            } else {
                refused++;
                cr_assert_null(strchr(err, '\n'), "one line: %s", err);
                cr_assert_eq(strncmp(err, "test.lsd: ", 10), 0, "names the file: %s", err);
            }
        }
        memcpy(data + off, &type, 4);
        memcpy(data + off + 4, &crc, 4);
        off += DUMP_SECTION_HEADER_SIZE + length;
    }
    cr_assert_gt(tried, 40, "every section of the sample was relabelled (%d)", tried);
    cr_assert_gt(refused, 0, "binary payloads under the wrong label are noticed");
    free(data);
}

Test(dump, unknown_sections_are_skipped)
{
    size_t len;
    unsigned char *data = sample_dump(&len);
    struct ls_dump *d;
    char err[512];
    /* Insert a section of a type from the future right after the header, and fix END's count. */
    unsigned char extra[DUMP_SECTION_HEADER_SIZE + 3] = { 0 };
    uint32_t type = 999;
    extern unsigned long crc32(unsigned long, const unsigned char *, unsigned);
    uint32_t crc = (uint32_t)crc32(crc32(crc32(0, NULL, 0), (const unsigned char *)&type, 4),
                                   (const unsigned char *)"abc", 3);
    uint64_t elen = 3;
    memcpy(extra, &type, 4);
    memcpy(extra + 4, &crc, 4);
    memcpy(extra + 8, &elen, 8);
    memcpy(extra + 16, "abc", 3);
    unsigned char *grown = malloc(len + sizeof extra);
    memcpy(grown, data, DUMP_HEADER_SIZE);
    memcpy(grown + DUMP_HEADER_SIZE, extra, sizeof extra);
    memcpy(grown + DUMP_HEADER_SIZE + sizeof extra, data + DUMP_HEADER_SIZE, len - DUMP_HEADER_SIZE);
    size_t glen = len + sizeof extra;
    /* END's payload is its last 4 bytes; its crc sits 8 bytes before the payload. */
    uint32_t count;
    memcpy(&count, grown + glen - 4, 4);
    count++;
    memcpy(grown + glen - 4, &count, 4);
    uint32_t end_type = 0x7fff;
    uint32_t end_crc = (uint32_t)crc32(crc32(crc32(0, NULL, 0), (const unsigned char *)&end_type, 4),
                                       grown + glen - 4, 4);
    memcpy(grown + glen - 4 - 12, &end_crc, 4);

    cr_assert_eq(parse(grown, glen, &d, err), 0, "%s", err);
    cr_assert_eq(d->nsites, 3);
    dump_free(d);
    free(grown);
    free(data);
}

Test(dump, reading_a_missing_file_names_it)
{
    struct ls_dump *d;
    char err[512];

    cr_assert_eq(dump_read("/nonexistent/x.lsd", &d, err, sizeof err), -1);
    cr_assert_str_eq(err, "/nonexistent/x.lsd: cannot open: No such file or directory");
}
