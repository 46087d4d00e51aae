/*
 * live.c - the live-block table (see live.h).
 *
 * Each shard is a power-of-two array of entries with linear probing; address
 * 0 marks an empty slot.  Deletion shifts following entries back (no
 * tombstones), so probe chains stay short under malloc/free churn.  Tables
 * grow at 70 % load into a fresh mapping; the old one is unmapped.
 */
#define _GNU_SOURCE
#include "live.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "arena.h"

#define LIVE_INITIAL_CAPACITY 128      /* 3 KiB: one page (most shards of a short program hold a few blocks) */

struct live_shard {
    pthread_mutex_t mutex;
    struct live_block *slots;
    size_t capacity;     /* power of two, or 0 before first use */
    size_t count;
} __attribute__((aligned(64)));

static struct live_shard shards[LIVE_SHARDS] = {
    [0 ... LIVE_SHARDS - 1] = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 }
};

/* The sampling filter (see live.h): each bucket's top six bits are its shard's. */
_Atomic uint32_t live_filter[1 << LIVE_FILTER_BITS];
int live_filter_on;

static inline uint64_t addr_hash(uintptr_t addr)
{
    return live_addr_hash(addr);
}

static inline struct live_shard *shard_of(uintptr_t addr)
{
    return &shards[addr_hash(addr) >> 58];
}

static void filter_add(uintptr_t addr, int delta)
{
    _Atomic uint32_t *b = &live_filter[live_filter_bucket(addr)];

    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + (uint32_t)delta,
                          memory_order_relaxed);
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

static inline size_t slot_in(uintptr_t addr, size_t capacity)
{
    return (size_t)(addr_hash(addr) * 0xbf58476d1ce4e5b9ull >> 7) & (capacity - 1);
}

static inline size_t slot_of(const struct live_shard *sh, uintptr_t addr)
{
    return slot_in(addr, sh->capacity);
}

void live_prefetch(uintptr_t addr)
{
    const struct live_shard *sh = shard_of(addr);
    const struct live_block *slots = __atomic_load_n(&sh->slots, __ATOMIC_RELAXED);
    size_t capacity = __atomic_load_n(&sh->capacity, __ATOMIC_RELAXED);

    /* A hint only: a stale pointer or capacity (a table growing) just prefetches the wrong line. */
    if (slots && capacity)
        __builtin_prefetch(&slots[slot_in(addr, capacity)], 1);
}

static void place(struct live_shard *sh, const struct live_block *b)
{
    size_t i = slot_of(sh, b->addr);

    while (sh->slots[i].addr != 0)
        i = (i + 1) & (sh->capacity - 1);
    sh->slots[i] = *b;
}

static int grow(struct live_shard *sh)
{
    size_t new_capacity = sh->capacity ? sh->capacity * 2 : LIVE_INITIAL_CAPACITY;
    /* Faulted in at once: at 35% load after doubling, every page of the table holds entries, and the
       first table is one page.  (Page by page, a page is first read, which maps the shared zero page,
       then written, which replaces it and flushes the other threads' TLBs: two faults and an IPI.) */
    struct live_block *fresh = meta_map_filled(new_capacity * sizeof *fresh);
    struct live_block *old = sh->slots;
    size_t old_capacity = sh->capacity;

    if (!fresh)
        return -1;
    sh->slots = fresh;
    sh->capacity = new_capacity;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].addr != 0)
            place(sh, &old[i]);
    meta_unmap(old, old_capacity * sizeof *old);
    return 0;
}

int live_insert(uintptr_t addr, uint64_t size, uint32_t site, uint32_t birth,
                struct live_block *replaced)
{
    struct live_shard *sh = shard_of(addr);
    struct live_block b = { addr, size, site, birth };
    int rc = 0;

    pthread_mutex_lock(&sh->mutex);
    if ((sh->count + 1) * 10 > sh->capacity * 7 && grow(sh) != 0) {
        rc = -1;
    } else {
        size_t i = slot_of(sh, addr);
        while (sh->slots[i].addr != 0 && sh->slots[i].addr != addr)
            i = (i + 1) & (sh->capacity - 1);
        if (sh->slots[i].addr == 0) {
            shard_count_add(sh, 1);
            if (live_filter_on)
                filter_add(addr, 1);
        } else {
            if (replaced)
                *replaced = sh->slots[i];
            rc = 1;
        }
        sh->slots[i] = b;
    }
    pthread_mutex_unlock(&sh->mutex);
    return rc;
}

/* Index of addr in the shard, or capacity if absent.  Caller holds the lock. */
static size_t find(const struct live_shard *sh, uintptr_t addr)
{
    if (sh->capacity == 0)
        return 0;
    size_t i = slot_of(sh, addr);
    while (sh->slots[i].addr != 0) {
        if (sh->slots[i].addr == addr)
            return i;
        i = (i + 1) & (sh->capacity - 1);
    }
    return sh->capacity;
}

int live_remove(uintptr_t addr, struct live_block *out)
{
    struct live_shard *sh = shard_of(addr);
    int found = 0;

    pthread_mutex_lock(&sh->mutex);
    size_t i = find(sh, addr);
    if (i < sh->capacity) {
        size_t mask = sh->capacity - 1;
        found = 1;
        if (out)
            *out = sh->slots[i];
        /* Backward-shift deletion: pull later members of the chain into the hole. */
        size_t hole = i, j = i;
        for (;;) {
            j = (j + 1) & mask;
            if (sh->slots[j].addr == 0)
                break;
            size_t home = slot_of(sh, sh->slots[j].addr);
            /* Move j into the hole unless its home lies cyclically in (hole, j]. */
            int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (!stays) {
                sh->slots[hole] = sh->slots[j];
                hole = j;
            }
        }
        sh->slots[hole].addr = 0;
        shard_count_add(sh, -1);
        if (live_filter_on)
            filter_add(addr, -1);
    }
    pthread_mutex_unlock(&sh->mutex);
    return found;
}

int live_lookup(uintptr_t addr, struct live_block *out)
{
    struct live_shard *sh = shard_of(addr);
    int found = 0;

    pthread_mutex_lock(&sh->mutex);
    size_t i = find(sh, addr);
    if (i < sh->capacity) {
        found = 1;
        if (out)
            *out = sh->slots[i];
    }
    pthread_mutex_unlock(&sh->mutex);
    return found;
}

size_t live_count(void)
{
    size_t n = 0;

    for (int i = 0; i < LIVE_SHARDS; i++)
        n += shard_count(&shards[i]);
    return n;
}

void live_filter_enable(void)
{
    live_lock_all();
    for (int s = 0; s < LIVE_SHARDS; s++)
        for (size_t i = 0; i < shards[s].capacity; i++)
            if (shards[s].slots[i].addr != 0)
                filter_add(shards[s].slots[i].addr, 1);
    live_filter_on = 1;
    live_unlock_all(0);
}

size_t live_table_bytes(void)
{
    size_t bytes = 0;

    for (int i = 0; i < LIVE_SHARDS; i++)
        bytes += shards[i].capacity * sizeof(struct live_block);
    return bytes;
}

size_t live_copy_shard(int shard, struct live_block **buf, size_t *cap)
{
    struct live_shard *sh = &shards[shard];
    size_t n = 0;

    for (;;) {
        pthread_mutex_lock(&sh->mutex);
        if (sh->count <= *cap)
            break;
        size_t want = sh->count + sh->count / 4 + 64;
        pthread_mutex_unlock(&sh->mutex);
        struct live_block *fresh = meta_map(want * sizeof *fresh);
        if (!fresh)
            return 0;
        meta_unmap(*buf, *cap * sizeof **buf);
        *buf = fresh;
        *cap = want;
    }
    for (size_t i = 0; i < sh->capacity; i++)
        if (sh->slots[i].addr != 0)
            (*buf)[n++] = sh->slots[i];
    pthread_mutex_unlock(&sh->mutex);
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
        for (size_t i = 0; i < shards[s].capacity && n < *cap; i++)
            if (shards[s].slots[i].addr != 0)
                (*buf)[n++] = shards[s].slots[i];
    return n;
}

void live_lock_all(void)
{
    for (int i = 0; i < LIVE_SHARDS; i++)
        pthread_mutex_lock(&shards[i].mutex);
}

void live_unlock_all(int reinitialise)
{
    for (int i = 0; i < LIVE_SHARDS; i++) {
        if (reinitialise)
            pthread_mutex_init(&shards[i].mutex, NULL);
        else
            pthread_mutex_unlock(&shards[i].mutex);
    }
}
