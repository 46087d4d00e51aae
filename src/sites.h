/*
 * sites.h - call sites: interned allocation stacks and their pprof counters.
 *
 * A site is one distinct stack (up to the configured depth) of one kind (heap
 * block or anonymous mapping).  Sites are created on first sight, never freed,
 * and numbered densely from 0, so a 32-bit id names a site in the live-block
 * table and in dumps.  Counters are updated with relaxed atomics, so no lock is
 * held while counting.
 */
#ifndef LEAKSCOPE_SITES_H
#define LEAKSCOPE_SITES_H

#include <stdatomic.h>
#include <stdint.h>

#include "uthash_meta.h"

enum site_kind { SITE_HEAP = 0, SITE_MMAP = 1, SITE_THREAD = 2 };   /* thread sites: alloc = started, inuse = alive */

#define SITE_NONE UINT32_MAX
#define SITE_MAX_DEPTH 256

/*
 * The first 64 bytes hold all that an allocation or a free reads and counts (sites are 64-byte
 * aligned): one cache line per site touched on the hot path.
 */
struct site {
    uint64_t hash, check;        /* the stack's 128-bit fingerprint (stack_hash) */
    _Atomic uint64_t alloc_objects;
    _Atomic uint64_t alloc_space;
    _Atomic int64_t inuse_objects;
    _Atomic int64_t inuse_space;
    _Atomic int64_t peak_inuse_space;
    uint32_t id;
    uint16_t depth;
    uint8_t kind;
    UT_hash_handle hh;
    uintptr_t key_kind;          /* the hash key starts here: kind, then the pcs */
    uintptr_t pcs[];
};

/* The stack's hash (shard, front slot, uthash) and, in *check, a second word of the fingerprint. */
uint64_t stack_hash(const uintptr_t *pcs, int depth, int kind, uint64_t *check);

/* The site for this stack, created if new; NULL only when out of memory. */
struct site *site_intern(const uintptr_t *pcs, int depth, int kind);
/* Ids below site_count() exist, but a site being created by another thread may
   still read as NULL for a moment: callers skip NULL. */
struct site *site_by_id(uint32_t id);
uint32_t site_count(void);
static inline int site_kind(const struct site *s) { return s->kind; }

/* objects and bytes: 1 and the size, or what one sampled block stands for (LEAKSCOPE_SAMPLE). */
void site_count_alloc(struct site *s, uint64_t objects, uint64_t bytes);   /* + alloc and inuse */
void site_count_free(struct site *s, uint64_t objects, uint64_t bytes);    /* - inuse */
void site_count_resize(struct site *s, int64_t bytes, int64_t objects); /* inuse only (mmap splits) */

void sites_lock_for_fork(void);
void sites_unlock_after_fork(int in_child);

#endif
