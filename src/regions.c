/*
 * regions.c - tracked anonymous mappings (see regions.h).
 *
 * Programs make few mappings compared with mallocs, and mmap is a system call
 * anyway, so a sorted array under one mutex is enough: binary search to find
 * the first overlapping region, memmove to insert or delete.
 */
#define _GNU_SOURCE
#include "regions.h"

#include <pthread.h>
#include <string.h>

#include "arena.h"
#include "sites.h"

static pthread_mutex_t regions_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct region *items;
static size_t count, capacity;
static uint64_t total_bytes;

/* First index whose region ends after addr. */
static size_t first_ending_after(uintptr_t addr)
{
    size_t lo = 0, hi = count;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (items[mid].start + items[mid].len <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int reserve(size_t want)
{
    if (want <= capacity)
        return 0;
    size_t fresh_capacity = capacity ? capacity * 2 : 256;
    while (fresh_capacity < want)
        fresh_capacity *= 2;
    struct region *fresh = meta_map(fresh_capacity * sizeof *fresh);
    if (!fresh)
        return -1;
    if (items)
        memcpy(fresh, items, count * sizeof *items);
    meta_unmap(items, capacity * sizeof *items);
    items = fresh;
    capacity = fresh_capacity;
    return 0;
}

static void insert_at(size_t i, const struct region *r)
{
    memmove(&items[i + 1], &items[i], (count - i) * sizeof *items);
    items[i] = *r;
    count++;
}

static void erase_at(size_t i)
{
    memmove(&items[i], &items[i + 1], (count - i - 1) * sizeof *items);
    count--;
}

/* Cut [start, end) out of every region. Caller holds the mutex. */
static void cut(uintptr_t start, uintptr_t end)
{
    size_t i = first_ending_after(start);

    while (i < count && items[i].start < end) {
        struct region *r = &items[i];
        uintptr_t r_end = r->start + r->len;
        uintptr_t lo = r->start > start ? r->start : start;
        uintptr_t hi = r_end < end ? r_end : end;
        struct site *s = site_by_id(r->site);
        uint64_t removed = hi - lo;

        total_bytes -= removed;
        if (lo == r->start && hi == r_end) {            /* whole region */
            if (s)
                site_count_resize(s, -(int64_t)removed, -1);
            erase_at(i);
            continue;
        }
        if (s)
            site_count_resize(s, -(int64_t)removed, 0);
        if (lo == r->start) {                           /* head cut off */
            r->start = hi;
            r->len = r_end - hi;
        } else if (hi == r_end) {                       /* tail cut off */
            r->len = lo - r->start;
        } else {                                        /* hole: split in two */
            struct region tail = { hi, r_end - hi, r->site, r->birth };
            r->len = lo - r->start;
            if (reserve(count + 1) != 0) {              /* keep the head only */
                total_bytes -= tail.len;
                if (s)
                    site_count_resize(s, -(int64_t)tail.len, 0);
                return;
            }
            insert_at(i + 1, &tail);
            if (s)
                site_count_resize(s, 0, 1);
            return;
        }
        i++;
    }
}

int regions_add(uintptr_t start, uint64_t len, uint32_t site, uint32_t birth)
{
    struct region r = { start, len, site, birth };
    int rc = 0;

    pthread_mutex_lock(&regions_mutex);
    cut(start, start + len);
    if (reserve(count + 1) != 0) {
        rc = -1;
    } else {
        insert_at(first_ending_after(start), &r);
        total_bytes += len;
    }
    pthread_mutex_unlock(&regions_mutex);
    return rc;
}

void regions_remove(uintptr_t start, uint64_t len)
{
    pthread_mutex_lock(&regions_mutex);
    cut(start, start + len);
    pthread_mutex_unlock(&regions_mutex);
}

int regions_find(uintptr_t start, struct region *out)
{
    int found = 0;

    pthread_mutex_lock(&regions_mutex);
    size_t i = first_ending_after(start);
    if (i < count && items[i].start == start) {
        *out = items[i];
        found = 1;
    }
    pthread_mutex_unlock(&regions_mutex);
    return found;
}

size_t regions_count(void)
{
    return count;
}

uint64_t regions_bytes(void)
{
    return total_bytes;
}

static int ensure(struct region **buf, size_t *cap, size_t want)
{
    if (want <= *cap)
        return 0;
    struct region *fresh = meta_map((want + 64) * sizeof *fresh);
    if (!fresh)
        return -1;
    meta_unmap(*buf, *cap * sizeof **buf);
    *buf = fresh;
    *cap = want + 64;
    return 0;
}

size_t regions_copy_locked(struct region **buf, size_t *cap)
{
    if (ensure(buf, cap, count) != 0)
        return 0;
    if (count)
        memcpy(*buf, items, count * sizeof *items);
    return count;
}

size_t regions_copy(struct region **buf, size_t *cap)
{
    size_t n;

    for (;;) {
        pthread_mutex_lock(&regions_mutex);
        size_t want = count;
        if (want <= *cap)
            break;
        pthread_mutex_unlock(&regions_mutex);
        if (ensure(buf, cap, want) != 0)
            return 0;
    }
    n = regions_copy_locked(buf, cap);
    pthread_mutex_unlock(&regions_mutex);
    return n;
}

void regions_lock(void)
{
    pthread_mutex_lock(&regions_mutex);
}

void regions_unlock(int reinitialise)
{
    if (reinitialise)
        pthread_mutex_init(&regions_mutex, NULL);
    else
        pthread_mutex_unlock(&regions_mutex);
}
