/*
 * sites.c - the call-site table (see sites.h).
 *
 * 64 shards, chosen by the top bits of the stack hash, each a uthash table
 * under its own mutex; a lookup locks one shard for a hash probe and a memcmp.
 * Sites are also reachable by id through a two-level directory whose pages are
 * allocated once and never move, so readers need no lock.
 */
#define _GNU_SOURCE
#include "sites.h"

#include <pthread.h>
#include <string.h>

#include "arena.h"

#define SITE_SHARDS 64
#define DIR_PAGE_BITS 12
#define DIR_PAGE (1u << DIR_PAGE_BITS)
#define DIR_PAGES 4096               /* 16M sites at most */

struct site_shard {
    pthread_mutex_t mutex;
    struct site *table;
} __attribute__((aligned(64)));

static struct site_shard shards[SITE_SHARDS] = {
    [0 ... SITE_SHARDS - 1] = { PTHREAD_MUTEX_INITIALIZER, NULL }
};
static struct site *_Atomic *_Atomic directory[DIR_PAGES];
static _Atomic uint32_t next_id;

uint64_t stack_hash(const uintptr_t *pcs, int depth, int kind, uint64_t *check)
{
    /* Multiply-xorshift in four independent lanes, so the multiplies of a 64-frame stack overlap
       instead of forming one chain of 64 (a third of the cost of interning, measured). */
    const uint64_t m = 0xc4ceb9fe1a85ec53ull;
    uint64_t h0 = 0x9e3779b97f4a7c15ull ^ (uint64_t)(kind + 1) * 0xff51afd7ed558ccdull;
    uint64_t h1 = 0x6a09e667f3bcc909ull, h2 = 0xbb67ae8584caa73bull, h3 = 0x3c6ef372fe94f82bull;
    int i = 0;

    for (; i + 4 <= depth; i += 4) {
        h0 = (h0 ^ (uint64_t)pcs[i]) * m;
        h1 = (h1 ^ (uint64_t)pcs[i + 1]) * m;
        h2 = (h2 ^ (uint64_t)pcs[i + 2]) * m;
        h3 = (h3 ^ (uint64_t)pcs[i + 3]) * m;
        h0 ^= h0 >> 29;
        h1 ^= h1 >> 29;
        h2 ^= h2 >> 29;
        h3 ^= h3 >> 29;
    }
    for (; i < depth; i++) {
        h0 = (h0 ^ (uint64_t)pcs[i]) * m;
        h0 ^= h0 >> 29;
    }
    uint64_t h = h0 ^ ((h1 << 17) | (h1 >> 47)) ^ ((h2 << 31) | (h2 >> 33)) ^ ((h3 << 47) | (h3 >> 17));
    /* A second, differently mixed word of the four lanes: with the hash, a 128-bit fingerprint. */
    uint64_t c = h3 ^ ((h2 << 13) | (h2 >> 51)) ^ ((h1 << 29) | (h1 >> 35)) ^ ((h0 << 43) | (h0 >> 21));
    c = (c ^ (uint64_t)depth) * 0x9fb21c651e98df25ull;
    *check = c ^ (c >> 28);
    h *= m;
    h ^= (uint64_t)depth;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h;
}

static int directory_store(uint32_t id, struct site *s)
{
    uint32_t page = id >> DIR_PAGE_BITS;

    if (page >= DIR_PAGES)
        return -1;
    struct site *_Atomic *slots = atomic_load_explicit(&directory[page], memory_order_acquire);
    if (!slots) {
        struct site *_Atomic *fresh = meta_alloc(DIR_PAGE * sizeof *fresh);
        if (!fresh)
            return -1;
        struct site *_Atomic *expected = NULL;
        if (atomic_compare_exchange_strong(&directory[page], &expected, fresh))
            slots = fresh;
        else {
            meta_free(fresh, DIR_PAGE * sizeof *fresh);
            slots = expected;
        }
    }
    atomic_store_explicit(&slots[id & (DIR_PAGE - 1)], s, memory_order_release);
    return 0;
}

struct site *site_by_id(uint32_t id)
{
    uint32_t page = id >> DIR_PAGE_BITS;

    if (page >= DIR_PAGES)
        return NULL;
    struct site *_Atomic *slots = atomic_load_explicit(&directory[page], memory_order_acquire);
    return slots ? atomic_load_explicit(&slots[id & (DIR_PAGE - 1)], memory_order_acquire) : NULL;
}

uint32_t site_count(void)
{
    return atomic_load_explicit(&next_id, memory_order_acquire);
}

/*
 * A lock-free front for the shards: slots each holding the site last interned with that hash's low
 * bits.  A hit compares the 128-bit fingerprint (hash and check word), depth and kind, not the
 * stored stack: reading 64 stored frames for every allocation cost 5-8% of the stress run, and two
 * stacks with the same fingerprint (about 2^-64 for any one lookup: it takes the colliding stacks to
 * agree in a lane's 64-bit state) are no likelier than a bit flip in the table.  A hit returns
 * without a lock, a key copy or uthash's probe (the shards compare whole stacks); a miss
 * (or a slot taken by another stack) goes to the shard and takes the slot.  Sites are never freed,
 * so a slot's pointer stays valid; a race only costs a miss.
 *
 * The front starts at 4,096 slots (32 KiB) and is replaced by one four times larger, populated when
 * mapped, whenever the sites outnumber a quarter of its slots, up to a million slots; the old one
 * stays mapped for lookups still reading it.  (A fixed 512 KiB front was read before it was written:
 * a program with a few hundred stacks faulted each of its 128 pages twice.)
 */
_Static_assert(offsetof(struct site, hh) == 64, "a site's hot fields fill its first cache line");

#define FRONT_FIRST_SLOTS 4096
#define FRONT_MAX_SLOTS ((size_t)1 << 20)
struct front {
    struct site *_Atomic *slots;
    size_t mask;
};
static struct site *_Atomic first_front_slots[FRONT_FIRST_SLOTS];
static struct front first_front = { first_front_slots, FRONT_FIRST_SLOTS - 1 };
static struct front *_Atomic front = &first_front;
static atomic_flag front_growing = ATOMIC_FLAG_INIT;

static int same_stack(const struct site *s, int depth, int kind, uint64_t hash, uint64_t check)
{
    return s->hash == hash && s->check == check && s->depth == depth && s->kind == kind;
}

/* Replace front f by one four times larger holding the same sites (unless another thread is at it). */
static void front_grow(struct front *f)
{
    size_t n = (f->mask + 1) * 4;

    if (n > FRONT_MAX_SLOTS || atomic_flag_test_and_set_explicit(&front_growing, memory_order_acquire))
        return;
    if (atomic_load_explicit(&front, memory_order_acquire) == f) {
        struct front *bigger = meta_map_filled(sizeof *bigger + n * sizeof *bigger->slots);
        if (bigger) {
            bigger->slots = (struct site *_Atomic *)(bigger + 1);
            bigger->mask = n - 1;
            for (size_t i = 0; i <= f->mask; i++) {
                struct site *s = atomic_load_explicit(&f->slots[i], memory_order_acquire);
                if (s)
                    atomic_store_explicit(&bigger->slots[s->hash & bigger->mask], s, memory_order_relaxed);
            }
            atomic_store_explicit(&front, bigger, memory_order_release);
        }
    }
    atomic_flag_clear_explicit(&front_growing, memory_order_release);
}

static struct site *intern_locked(const uintptr_t *pcs, int depth, int kind, uint64_t hash, uint64_t check);

struct site *site_intern(const uintptr_t *pcs, int depth, int kind)
{
    uint64_t check, hash = stack_hash(pcs, depth, kind, &check);
    struct front *f = atomic_load_explicit(&front, memory_order_acquire);
    struct site *_Atomic *slot = &f->slots[hash & f->mask];
    struct site *s = atomic_load_explicit(slot, memory_order_acquire);

    if (s && same_stack(s, depth, kind, hash, check))
        return s;
    s = intern_locked(pcs, depth, kind, hash, check);
    if (s)
        atomic_store_explicit(slot, s, memory_order_release);
    if ((size_t)atomic_load_explicit(&next_id, memory_order_relaxed) * 4 > f->mask + 1)
        front_grow(f);
    return s;
}

static struct site *intern_locked(const uintptr_t *pcs, int depth, int kind, uint64_t hash, uint64_t check)
{
    uintptr_t key[SITE_MAX_DEPTH + 1];
    size_t keylen = (size_t)(depth + 1) * sizeof(uintptr_t);
    struct site_shard *shard = &shards[hash >> 58];
    struct site *s = NULL;

    key[0] = (uintptr_t)kind;
    memcpy(key + 1, pcs, (size_t)depth * sizeof(uintptr_t));

    pthread_mutex_lock(&shard->mutex);
    HASH_FIND_BYHASHVALUE(hh, shard->table, key, keylen, (unsigned)hash, s);
    if (!s) {
        /* Kept for the process's life, so sized to the stack, not to a power of two (a 30-frame site
           takes 384 bytes, not 512). */
        s = meta_alloc_lasting(sizeof *s + (size_t)depth * sizeof(uintptr_t));
        if (s) {
            s->hash = hash;
            s->check = check;
            s->depth = (uint16_t)depth;
            s->kind = (uint8_t)kind;
            s->key_kind = (uintptr_t)kind;
            memcpy(s->pcs, pcs, (size_t)depth * sizeof(uintptr_t));
            s->id = atomic_fetch_add(&next_id, 1);
            if (directory_store(s->id, s) != 0) {
                s = NULL;          /* 16M sites: this record stays unused, as the ones after it fail */
            } else {
                HASH_ADD_KEYPTR_BYHASHVALUE(hh, shard->table, &s->key_kind, keylen,
                                            (unsigned)hash, s);
            }
        }
    }
    pthread_mutex_unlock(&shard->mutex);
    return s;
}

void site_count_alloc(struct site *s, uint64_t objects, uint64_t bytes)
{
    atomic_fetch_add_explicit(&s->alloc_objects, objects, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->alloc_space, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->inuse_objects, (int64_t)objects, memory_order_relaxed);
    int64_t now = atomic_fetch_add_explicit(&s->inuse_space, (int64_t)bytes,
                                            memory_order_relaxed) + (int64_t)bytes;
    int64_t peak = atomic_load_explicit(&s->peak_inuse_space, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&s->peak_inuse_space, &peak, now,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void site_count_free(struct site *s, uint64_t objects, uint64_t bytes)
{
    atomic_fetch_sub_explicit(&s->inuse_objects, (int64_t)objects, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->inuse_space, (int64_t)bytes, memory_order_relaxed);
}

void site_count_resize(struct site *s, int64_t bytes, int64_t objects)
{
    atomic_fetch_add_explicit(&s->inuse_objects, objects, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->inuse_space, bytes, memory_order_relaxed);
}

void sites_lock_for_fork(void)
{
    for (int i = 0; i < SITE_SHARDS; i++)
        pthread_mutex_lock(&shards[i].mutex);
}

void sites_unlock_after_fork(int in_child)
{
    if (in_child)
        atomic_flag_clear(&front_growing);      /* another thread may have held it at the fork */
    for (int i = 0; i < SITE_SHARDS; i++) {
        if (in_child)
            pthread_mutex_init(&shards[i].mutex, NULL);
        else
            pthread_mutex_unlock(&shards[i].mutex);
    }
}
