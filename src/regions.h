/*
 * regions.h - anonymous mappings the program made itself (mmap, mremap),
 * attributed to call sites like heap blocks.
 *
 * A region is a [start, start+len) range with its site and birth time.
 * Unmapping part of a region trims or splits it; mapping over a tracked range
 * (MAP_FIXED) replaces it.  Site counters for SITE_MMAP sites are kept here:
 * inuse_space is the bytes still mapped, inuse_objects the number of regions.
 */
#ifndef LEAKSCOPE_REGIONS_H
#define LEAKSCOPE_REGIONS_H

#include <stddef.h>
#include <stdint.h>

struct region {
    uintptr_t start;
    uint64_t len;
    uint32_t site;
    uint32_t birth;
};

int regions_add(uintptr_t start, uint64_t len, uint32_t site, uint32_t birth);
void regions_remove(uintptr_t start, uint64_t len);
/* 1 and *out filled when a tracked region starts exactly at start. */
int regions_find(uintptr_t start, struct region *out);
size_t regions_count(void);
uint64_t regions_bytes(void);

/* Copy all regions into *buf (grown with meta_map); returns how many. */
size_t regions_copy(struct region **buf, size_t *cap);

/* The same while the caller holds the lock (regions_lock). */
size_t regions_copy_locked(struct region **buf, size_t *cap);

void regions_lock(void);
void regions_unlock(int reinitialise);

#endif
