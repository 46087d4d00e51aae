/*
 * live.c - the live-block table (see live.h).
 *
 * Blocks are filed by the heap page they start in, so that the table's memory
 * follows the heap's: blocks malloc hands out next to each other, or frees
 * next to each other, have their entries on the same cache line, as their
 * headers are.  (A table hashed by address puts every entry on a line of its
 * own: a cache and TLB miss on each malloc and each free once the program
 * holds a few hundred thousand blocks, about half of what leakscope cost on
 * python3.)
 *
 *  - A radix tree over the 35-bit page number (11 + 12 + 12 bits; user
 *    addresses are below 2^47) leads from a page to its leaf.  Inner nodes
 *    are created on first use, by compare-and-swap, and never freed.
 *  - A leaf is a small open-addressing table of the page's blocks, 16 bytes
 *    an entry, keyed by the block's offset in the page.  A key's first probe
 *    is its offset scaled to the leaf's capacity, so entries lie in address
 *    order and neighbours share lines; linear probing, deletion by shifting
 *    later entries back (no tombstones).  A leaf is 2^k 16-byte cells, the
 *    first its header: capacities 1, 3, 7, ... 1023 (enough for a page of
 *    8-byte-aligned blocks).  A page's first leaf is sized from its first
 *    block (first_cap).  It doubles at 3/4 full; a leaf of a page that
 *    held one block at most (a large block) is released when it empties, so
 *    pages of freed mmap'd chunks do not accumulate.  The tree holds a
 *    leaf's address with its size class in the low bits, so a lookup
 *    computes the entry's address without first loading the header.
 *  - A page belongs to one of LIVE_SHARDS shards by a hash of its address;
 *    the shard's lock guards its leaves and their entries, and it lists
 *    them for copying.  Leaves are recycled within their shard, never
 *    unmapped, so a stale leaf pointer read without the lock (the prefetch)
 *    still points at mapped memory.
 */
#define _GNU_SOURCE
#include "live.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "arena.h"

#define PAGE_SHIFT 12
#define PAGE_MASK (((uintptr_t)1 << PAGE_SHIFT) - 1)
#define TOP_BITS 11
#define NODE_BITS 12
#define NODE_ENTRIES ((size_t)1 << NODE_BITS)
#define ADDR_LIMIT ((uintptr_t)1 << (PAGE_SHIFT + 2 * NODE_BITS + TOP_BITS))    /* 2^47 */
#define SIZE_LIMIT ((uint64_t)1 << 48)
#define LEAF_CLASSES 10            /* 32 B .. 16 KiB: capacity 1 .. 1023 */
#define LEAF_MAX_CAP (((size_t)2 << (LEAF_CLASSES - 1)) - 1)

struct entry {
    uint64_t key;              /* ENTRY_USED | offset in the page << 48 | size; 0 = empty */
    uint32_t site, birth;
};
#define ENTRY_USED ((uint64_t)1 << 63)
#define ENTRY_OFFSET(k) ((uintptr_t)((k) >> 48) & PAGE_MASK)
#define ENTRY_SIZE(k) ((k) & (SIZE_LIMIT - 1))

struct leaf {
    uintptr_t page;            /* the page's address */
    uint16_t count, cap;
    uint32_t index;            /* in its shard's list */
    struct entry e[];
};
_Static_assert(sizeof(struct leaf) == sizeof(struct entry), "a leaf's header is one cell");

struct live_shard {
    _Atomic int locked;
    struct leaf **leaves;      /* every leaf of the shard's pages */
    size_t nleaves, leaves_cap;
    size_t count;              /* blocks */
    struct leaf *spare[LEAF_CLASSES];   /* released leaves, linked through their page field */
} __attribute__((aligned(64)));

static struct live_shard shards[LIVE_SHARDS];

/*
 * The shard lock is held for a few dozen instructions (a probe, sometimes a
 * leaf's growth; once per megabyte of leaves, the mmap of a new metadata
 * chunk), and with 64 shards two threads rarely want the same one:
 * a test-and-set lock released by a plain store, where a mutex's release is a
 * second locked instruction and two calls (pthread_mutex_lock and unlock were
 * 3.8% of python3's run).  A waiter spins briefly, then yields the CPU, so a
 * holder that was preempted (more threads than cores) gets it back.
 */
static inline void shard_lock(struct live_shard *sh)
{
    while (atomic_exchange_explicit(&sh->locked, 1, memory_order_acquire)) {
        for (unsigned spins = 0; atomic_load_explicit(&sh->locked, memory_order_relaxed); spins++) {
            if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            } else {
                sched_yield();
            }
        }
    }
}

static inline void shard_unlock(struct live_shard *sh)
{
    atomic_store_explicit(&sh->locked, 0, memory_order_release);
}

/* page number bits 23..34 -> 24..35 -> leaf pointers by bits 0..11 */
static void **top[(size_t)1 << TOP_BITS];

/* The sampling filter (see live.h): each bucket's top bits are its shard's. */
_Atomic uint32_t live_filter[1 << LIVE_FILTER_BITS];
int live_filter_on;

static void filter_add(uintptr_t addr, int delta)
{
    _Atomic uint32_t *b = &live_filter[live_filter_bucket(addr)];

    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + (uint32_t)delta,
                          memory_order_relaxed);
}

static inline struct live_shard *shard_of(uintptr_t addr)
{
    return &shards[live_shard_index(addr)];
}

/* The shard's entry count, read without its lock (for statistics). */
static inline size_t shard_count(const struct live_shard *sh)
{
    return __atomic_load_n(&sh->count, __ATOMIC_RELAXED);
}

static inline void shard_count_add(struct live_shard *sh, long delta)
{
    __atomic_store_n(&sh->count, sh->count + (size_t)delta, __ATOMIC_RELAXED);
}

/* ---- the radix tree ---- */

/* The child at index i of *slot's node, creating the node if asked; NULL if absent (or out of memory). */
static void **node_child(void ***slot, int create)
{
    void **node = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

    if (!node && create) {
        void **fresh = meta_alloc(NODE_ENTRIES * sizeof *fresh);
        if (!fresh)
            return NULL;
        if (__atomic_compare_exchange_n(slot, &node, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            node = fresh;
        else
            meta_free(fresh, NODE_ENTRIES * sizeof *fresh);     /* another thread's won; node is it */
    }
    return node;
}

/*
 * Where addr's leaf hangs; NULL if no node on the way exists (and create is 0).  The word there is the
 * leaf's address with its size class in the low bits (leaves are aligned to 32 bytes at least), so a
 * lookup finds the entry it wants without waiting for the leaf's header: the two loads overlap.
 */
static uintptr_t *leaf_slot(uintptr_t addr, int create)
{
    uintptr_t page = addr >> PAGE_SHIFT;
    void **mid = node_child(&top[page >> (2 * NODE_BITS)], create);

    if (!mid)
        return NULL;
    void **bottom = node_child((void ***)&mid[(page >> NODE_BITS) & (NODE_ENTRIES - 1)], create);
    return bottom ? (uintptr_t *)&bottom[page & (NODE_ENTRIES - 1)] : NULL;
}

#define LEAF_TAG 31u

static inline struct leaf *tagged_leaf(uintptr_t v)
{
    return (struct leaf *)(v & ~(uintptr_t)LEAF_TAG);
}

static inline size_t tagged_cap(uintptr_t v)
{
    return ((size_t)2 << (v & LEAF_TAG)) - 1;
}

/* ---- leaves ---- */

static inline size_t leaf_bytes(size_t cap)
{
    return (cap + 1) * sizeof(struct entry);
}

static inline int leaf_class(size_t cap)
{
    int k = 0;

    while (((size_t)2 << k) - 1 < cap)
        k++;
    return k;
}

static inline size_t home(uintptr_t offset, size_t cap)
{
    return (offset * cap) >> PAGE_SHIFT;
}

static inline size_t next(size_t i, size_t cap)
{
    return i + 1 == cap ? 0 : i + 1;
}

/* Entries a leaf of capacity cap takes before it doubles; the largest takes all it has. */
static inline size_t leaf_fill(size_t cap)
{
    return cap == LEAF_MAX_CAP || cap < 4 ? cap : cap - cap / 4;
}

/* Index of offset's entry in leaf l of capacity cap, or cap if absent. */
static size_t leaf_find(const struct leaf *l, size_t cap, uintptr_t offset)
{
    size_t i = home(offset, cap);

    for (size_t k = 0; k < cap && l->e[i].key; k++, i = next(i, cap))
        if (ENTRY_OFFSET(l->e[i].key) == offset)
            return i;
    return cap;
}

/* Put an entry whose offset is not in the leaf, which has room. */
static void leaf_place(struct leaf *l, const struct entry *e)
{
    size_t i = home(ENTRY_OFFSET(e->key), l->cap);

    while (l->e[i].key)
        i = next(i, l->cap);
    l->e[i] = *e;
}

/* A zeroed leaf of capacity cap (2^k - 1), from the shard's spares or new (its caller lists it). */
static struct leaf *leaf_new(struct live_shard *sh, uintptr_t page, size_t cap, uint32_t index)
{
    int cls = leaf_class(cap);
    struct leaf *l = sh->spare[cls];

    if (l) {
        sh->spare[cls] = (struct leaf *)l->page;
        memset(l, 0, leaf_bytes(cap));
    } else if (!(l = meta_alloc(leaf_bytes(cap)))) {
        return NULL;
    }
    l->page = page;
    l->cap = (uint16_t)cap;
    l->index = index;
    return l;
}

static void leaf_release(struct live_shard *sh, struct leaf *l)
{
    int cls = leaf_class(l->cap);

    l->page = (uintptr_t)sh->spare[cls];
    sh->spare[cls] = l;
}

/*
 * A new page's first capacity, from its first block's size: a page of blocks that size holds
 * about PAGE_SIZE / (size + 16) of them (malloc's header and alignment), and the leaf starts
 * with room for a quarter of those, so a page malloc tiles with small blocks grows its leaf two
 * or three times instead of through every size from 1 (each growth copies the leaf into cold
 * memory).  Room for half cost stress 4 bytes more per live block; a quarter costs python3
 * and stress nothing and perl's peak of 1.6 million blocks 4.2 MiB (2.7 bytes a block).
 */
static size_t first_cap(uint64_t size)
{
    size_t want = ((size_t)1 << PAGE_SHIFT) / ((size_t)size + 16) / 4, cap = 1;

    while (cap < LEAF_MAX_CAP && leaf_fill(cap) < want)
        cap = cap * 2 + 1;
    return cap;
}

/* A new leaf for page, listed in its shard and hung in the tree at *slot. */
static struct leaf *leaf_add(struct live_shard *sh, uintptr_t *slot, uintptr_t page, size_t cap)
{
    if (sh->nleaves == sh->leaves_cap) {
        size_t want = sh->leaves_cap ? sh->leaves_cap * 2 : 64;
        struct leaf **fresh = meta_alloc(want * sizeof *fresh);
        if (!fresh)
            return NULL;
        if (sh->nleaves)
            memcpy(fresh, sh->leaves, sh->nleaves * sizeof *fresh);
        meta_free(sh->leaves, sh->leaves_cap * sizeof *sh->leaves);
        sh->leaves = fresh;
        sh->leaves_cap = want;
    }
    struct leaf *l = leaf_new(sh, page, cap, (uint32_t)sh->nleaves);
    if (!l)
        return NULL;
    sh->leaves[sh->nleaves++] = l;
    __atomic_store_n(slot, (uintptr_t)l | (uintptr_t)leaf_class(cap), __ATOMIC_RELEASE);
    return l;
}

/* Unhang and unlist an empty leaf. */
static void leaf_drop(struct live_shard *sh, uintptr_t *slot, struct leaf *l)
{
    struct leaf *last = sh->leaves[--sh->nleaves];

    sh->leaves[l->index] = last;
    last->index = l->index;
    __atomic_store_n(slot, 0, __ATOMIC_RELEASE);
    leaf_release(sh, l);
}

/* The leaf at *slot, doubled; NULL (the old one kept) when it is the largest or out of memory. */
static struct leaf *leaf_grow(struct live_shard *sh, uintptr_t *slot, struct leaf *old)
{
    struct leaf *l = old->cap < LEAF_MAX_CAP ? leaf_new(sh, old->page, (size_t)old->cap * 2 + 1, old->index) : NULL;

    if (!l)
        return NULL;
    for (size_t i = 0; i < old->cap; i++)
        if (old->e[i].key)
            leaf_place(l, &old->e[i]);
    l->count = old->count;
    sh->leaves[l->index] = l;
    __atomic_store_n(slot, (uintptr_t)l | (uintptr_t)leaf_class(l->cap), __ATOMIC_RELEASE);
    leaf_release(sh, old);
    return l;
}

/* addr's page's leaf (NULL if it has none) and its capacity; *slot is where it hangs (NULL if no node). */
static inline struct leaf *leaf_at(uintptr_t addr, int create, uintptr_t **slot, size_t *cap)
{
    *slot = leaf_slot(addr, create);
    uintptr_t v = *slot ? **slot : 0;
    *cap = tagged_cap(v);
    return tagged_leaf(v);
}

static inline uintptr_t entry_addr(uintptr_t page, const struct entry *e)
{
    return page + ENTRY_OFFSET(e->key);
}

static void entry_to_block(uintptr_t page, const struct entry *e, struct live_block *out)
{
    out->addr = entry_addr(page, e);
    out->size = ENTRY_SIZE(e->key);
    out->site = e->site;
    out->birth = e->birth;
}

/* ---- the table ---- */

void live_prefetch(uintptr_t addr)
{
    /* A hint only: nodes are never freed and leaves never unmapped, so a leaf being replaced
       just prefetches the wrong line. */
    if (addr >= ADDR_LIMIT)
        return;
    uintptr_t *slot = leaf_slot(addr, 0);
    uintptr_t v = slot ? __atomic_load_n(slot, __ATOMIC_RELAXED) : 0;

    if (v) {
        __builtin_prefetch(tagged_leaf(v), 1);
        __builtin_prefetch(&tagged_leaf(v)->e[home(addr & PAGE_MASK, tagged_cap(v))], 1);
    }
}

int live_insert(uintptr_t addr, uint64_t size, uint32_t site, uint32_t birth,
                struct live_block *replaced)
{
    if (addr >= ADDR_LIMIT || size >= SIZE_LIMIT)
        return -1;
    struct live_shard *sh = shard_of(addr);
    uintptr_t offset = addr & PAGE_MASK;
    struct entry e = { ENTRY_USED | (uint64_t)offset << 48 | size, site, birth };
    int rc = -1;

    shard_lock(sh);
    uintptr_t *slot;
    size_t cap;
    struct leaf *l = leaf_at(addr, 1, &slot, &cap);
    if (slot && !l && (l = leaf_add(sh, slot, addr & ~PAGE_MASK, first_cap(size))))
        cap = l->cap;
    if (l) {
        size_t i = leaf_find(l, cap, offset);
        if (i < cap) {
            if (replaced)
                entry_to_block(addr & ~PAGE_MASK, &l->e[i], replaced);
            l->e[i] = e;
            rc = 1;
        } else if ((size_t)l->count + 1 <= leaf_fill(cap) || (l = leaf_grow(sh, slot, l))) {
            leaf_place(l, &e);
            l->count++;
            shard_count_add(sh, 1);
            if (live_filter_on)
                filter_add(addr, 1);
            rc = 0;
        }
    }
    shard_unlock(sh);
    return rc;
}

int live_remove(uintptr_t addr, struct live_block *out)
{
    if (addr >= ADDR_LIMIT)
        return 0;
    struct live_shard *sh = shard_of(addr);
    uintptr_t offset = addr & PAGE_MASK;
    int found = 0;

    shard_lock(sh);
    uintptr_t *slot;
    size_t cap;
    struct leaf *l = leaf_at(addr, 0, &slot, &cap);
    size_t i = l ? leaf_find(l, cap, offset) : 0;
    if (l && i < cap) {
        found = 1;
        if (out)
            entry_to_block(addr & ~PAGE_MASK, &l->e[i], out);
        /* Backward-shift deletion: pull later members of the chain into the hole. */
        size_t hole = i, j = i;
        for (;;) {
            j = next(j, cap);
            if (!l->e[j].key || j == i)
                break;
            size_t h = home(ENTRY_OFFSET(l->e[j].key), cap);
            /* Move j into the hole unless its home lies cyclically in (hole, j]. */
            int stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
            if (!stays) {
                l->e[hole] = l->e[j];
                hole = j;
            }
        }
        l->e[hole].key = 0;
        shard_count_add(sh, -1);
        if (live_filter_on)
            filter_add(addr, -1);
        if (--l->count == 0 && cap == 1)
            leaf_drop(sh, slot, l);
    }
    shard_unlock(sh);
    return found;
}

int live_lookup(uintptr_t addr, struct live_block *out)
{
    if (addr >= ADDR_LIMIT)
        return 0;
    struct live_shard *sh = shard_of(addr);
    int found = 0;

    shard_lock(sh);
    uintptr_t *slot;
    size_t cap;
    struct leaf *l = leaf_at(addr, 0, &slot, &cap);
    size_t i = l ? leaf_find(l, cap, addr & PAGE_MASK) : 0;
    if (l && i < cap) {
        found = 1;
        if (out)
            entry_to_block(addr & ~PAGE_MASK, &l->e[i], out);
    }
    shard_unlock(sh);
    return found;
}

size_t live_count(void)
{
    size_t n = 0;

    for (int i = 0; i < LIVE_SHARDS; i++)
        n += shard_count(&shards[i]);
    return n;
}

/* The shard's blocks into buf (room for all of them); how many.  Caller holds the lock. */
static size_t copy_shard_locked(const struct live_shard *sh, struct live_block *buf)
{
    size_t n = 0;

    for (size_t k = 0; k < sh->nleaves; k++) {
        const struct leaf *l = sh->leaves[k];
        for (size_t i = 0; i < l->cap; i++)
            if (l->e[i].key)
                entry_to_block(l->page, &l->e[i], &buf[n++]);
    }
    return n;
}

void live_filter_enable(void)
{
    live_lock_all();
    for (int s = 0; s < LIVE_SHARDS; s++)
        for (size_t k = 0; k < shards[s].nleaves; k++) {
            const struct leaf *l = shards[s].leaves[k];
            for (size_t i = 0; i < l->cap; i++)
                if (l->e[i].key)
                    filter_add(entry_addr(l->page, &l->e[i]), 1);
        }
    live_filter_on = 1;
    live_unlock_all();
}

size_t live_copy_shard(int shard, struct live_block **buf, size_t *cap)
{
    struct live_shard *sh = &shards[shard];

    for (;;) {
        shard_lock(sh);
        if (sh->count <= *cap)
            break;
        size_t want = sh->count + sh->count / 4 + 64;
        shard_unlock(sh);
        struct live_block *fresh = meta_map(want * sizeof *fresh);
        if (!fresh)
            return 0;
        meta_unmap(*buf, *cap * sizeof **buf);
        *buf = fresh;
        *cap = want;
    }
    size_t n = copy_shard_locked(sh, *buf);
    shard_unlock(sh);
    return n;
}

size_t live_copy_locked(struct live_block **buf, size_t *cap)
{
    size_t total = live_count(), n = 0;

    if (total > *cap) {
        size_t want = total + 64;
        struct live_block *fresh = meta_map_filled(want * sizeof *fresh);   /* all written, world stopped */
        if (!fresh)
            return 0;
        meta_unmap(*buf, *cap * sizeof **buf);
        *buf = fresh;
        *cap = want;
    }
    for (int s = 0; s < LIVE_SHARDS; s++)
        n += copy_shard_locked(&shards[s], *buf + n);
    return n;
}

void live_lock_all(void)
{
    for (int i = 0; i < LIVE_SHARDS; i++)
        shard_lock(&shards[i]);
}

void live_unlock_all(void)
{
    for (int i = 0; i < LIVE_SHARDS; i++)
        shard_unlock(&shards[i]);
}
