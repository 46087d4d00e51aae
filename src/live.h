/*
 * live.h - the live-block table: every heap block the program holds now.
 *
 * Keyed by address; each entry records the requested size, the allocating
 * site and the block's birth time.  Filed by the heap page a block starts in
 * (a radix tree of pages, a small table per page: see live.c), the pages
 * sharded by a hash of their address, each shard under its own lock.
 * 16 bytes per entry.
 */
#ifndef LEAKSCOPE_LIVE_H
#define LEAKSCOPE_LIVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct live_block {
    uintptr_t addr;
    uint64_t size;
    uint32_t site;
    uint32_t birth;      /* centiseconds since the engine started */
};

#define LIVE_SHARD_BITS 6
#define LIVE_SHARDS (1 << LIVE_SHARD_BITS)

/*
 * 0 on success, -1 when out of memory (the block then stays untracked), 1 when
 * addr was already tracked: the stale entry (a free leakscope did not see) is
 * replaced and copied to *replaced so its site can be corrected.
 */
int live_insert(uintptr_t addr, uint64_t size, uint32_t site, uint32_t birth,
                struct live_block *replaced);
/* Start loading the table line where addr's entry goes (before work that does not need it). */
void live_prefetch(uintptr_t addr);
/* 1 and *out filled if addr was tracked (and is removed now), else 0. */
int live_remove(uintptr_t addr, struct live_block *out);
int live_lookup(uintptr_t addr, struct live_block *out);
size_t live_count(void);

/*
 * Sampling mode: from now on keep a filter that answers "not tracked" without
 * a lock for most addresses that are not (the frees of blocks that were not
 * sampled): a count of tracked blocks per 4,096 buckets of page-address hash (16 KiB:
 * it stays in the first-level cache).  A bucket's top bits are its shard's, so
 * the shard lock serialises its writers; readers load it without a lock, which
 * is safe because a block's insertion happens before anyone can free it.
 */
void live_filter_enable(void);

#define LIVE_FILTER_BITS 12
extern _Atomic uint32_t live_filter[1 << LIVE_FILTER_BITS];
extern int live_filter_on;

static inline uint64_t live_addr_hash(uintptr_t addr)
{
    uint64_t h = (uint64_t)addr >> 4;    /* malloc alignment: low bits carry nothing */
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

/* The hash of addr's page: its top bits choose the page's shard and, when sampling, its filter bucket. */
static inline uint64_t live_page_hash(uintptr_t addr)
{
    return live_addr_hash(addr & ~(uintptr_t)4095);
}

/* The shard of addr's page. */
static inline size_t live_shard_index(uintptr_t addr)
{
    return (size_t)(live_page_hash(addr) >> (64 - LIVE_SHARD_BITS));
}

/* The top bits of the page's hash: its first bits are the shard's.  One bucket per page at most, which
   costs no precision that matters: a page holding a sampled block is rare, and buckets are shared anyway. */
static inline size_t live_filter_bucket(uintptr_t addr)
{
    return (size_t)(live_page_hash(addr) >> (64 - LIVE_FILTER_BITS));
}

/* 0: addr is certainly not in the table.  Inline, so that the free of an unsampled block costs only
   this: the preload asks it before calling into the engine at all (live_remove does not ask again). */
static inline int live_may_hold(uintptr_t addr)
{
    return !live_filter_on ||
           atomic_load_explicit(&live_filter[live_filter_bucket(addr)], memory_order_relaxed) != 0;
}

/*
 * Copy shard `shard` into *buf (grown with meta_map as needed; *cap counts
 * entries).  Returns the number of entries copied.  The shard lock is held
 * only while copying.
 */
size_t live_copy_shard(int shard, struct live_block **buf, size_t *cap);

/* Every block, copied while the caller holds all shard locks (live_lock_all). */
size_t live_copy_locked(struct live_block **buf, size_t *cap);

/*
 * All shard locks, in shard order: for fork() (the child, holding them as its
 * parent did, releases them the same way) and for the scan's stopped world.
 */
void live_lock_all(void);
void live_unlock_all(void);

#endif
