/*
 * test_engine.c - the engine's tables and options, without LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "live.h"
#include "options.h"
#include "regions.h"
#include "scan.h"
#include "sites.h"

Test(sites, same_stack_interns_to_the_same_site)
{
    uintptr_t a[] = { 0x1000, 0x2000, 0x3000 };
    uintptr_t b[] = { 0x1000, 0x2000, 0x3000 };
    struct site *s1 = site_intern(a, 3, SITE_HEAP);
    struct site *s2 = site_intern(b, 3, SITE_HEAP);

    cr_assert_not_null(s1);
    cr_assert_eq(s1, s2);
    cr_assert_eq(site_count(), 1);
    cr_assert_eq(site_by_id(s1->id), s1);
}

Test(sites, different_stacks_depths_and_kinds_are_different_sites)
{
    uintptr_t a[] = { 0x1000, 0x2000, 0x3000 };
    uintptr_t c[] = { 0x1000, 0x2000, 0x3001 };
    struct site *base = site_intern(a, 3, SITE_HEAP);

    cr_assert_neq(site_intern(c, 3, SITE_HEAP), base);
    cr_assert_neq(site_intern(a, 2, SITE_HEAP), base);
    cr_assert_neq(site_intern(a, 3, SITE_MMAP), base);
    cr_assert_eq(site_count(), 4);
    cr_assert_eq(site_kind(site_intern(a, 3, SITE_MMAP)), SITE_MMAP);
}

Test(sites, ten_thousand_sites_keep_dense_ids)
{
    for (uintptr_t i = 0; i < 10000; i++) {
        uintptr_t pcs[] = { 0x400000 + i * 16, 0x500000 };
        struct site *s = site_intern(pcs, 2, SITE_HEAP);
        cr_assert_eq(s->id, i);
    }
    for (uint32_t id = 0; id < 10000; id++)
        cr_assert_eq(site_by_id(id)->pcs[0], 0x400000 + (uintptr_t)id * 16);
}

Test(sites, counters_follow_allocations_and_frees)
{
    uintptr_t pcs[] = { 0xabc };
    struct site *s = site_intern(pcs, 1, SITE_HEAP);

    site_count_alloc(s, 1, 100);
    site_count_alloc(s, 1, 300);
    site_count_free(s, 1, 100);
    site_count_alloc(s, 1, 50);
    cr_assert_eq(s->alloc_objects, 3);
    cr_assert_eq(s->alloc_space, 450);
    cr_assert_eq(s->inuse_objects, 2);
    cr_assert_eq(s->inuse_space, 350);
    cr_assert_eq(s->peak_inuse_space, 400);
}

Test(live, insert_lookup_remove)
{
    struct live_block b;

    cr_assert_eq(live_insert(0x10000, 42, 7, 99, NULL), 0);
    cr_assert_eq(live_lookup(0x10000, &b), 1);
    cr_assert_eq(b.size, 42);
    cr_assert_eq(b.site, 7);
    cr_assert_eq(b.birth, 99);
    cr_assert_eq(live_remove(0x10000, &b), 1);
    cr_assert_eq(live_lookup(0x10000, &b), 0);
    cr_assert_eq(live_remove(0x10000, &b), 0, "a second free of the same address finds nothing");
    cr_assert_eq(live_count(), 0);
}

Test(live, insert_over_a_tracked_address_reports_the_stale_block)
{
    struct live_block stale;

    live_insert(0x20000, 10, 1, 0, NULL);
    cr_assert_eq(live_insert(0x20000, 20, 2, 0, &stale), 1);
    cr_assert_eq(stale.size, 10);
    cr_assert_eq(stale.site, 1);
    cr_assert_eq(live_count(), 1);
}

/* Random inserts and removes against a reference bitmap: deletion must keep every chain intact. */
Test(live, matches_a_reference_under_random_churn)
{
    enum { N = 200000, SPACE = 50000 };
    unsigned char *present = calloc(SPACE, 1);
    unsigned seed = 12345;
    size_t expected = 0;

    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245 + 12345;
        unsigned k = (seed >> 8) % SPACE;
        uintptr_t addr = 0x7f0000000000 + (uintptr_t)k * 16;
        if (present[k]) {
            cr_assert_eq(live_remove(addr, NULL), 1, "block %u lost", k);
            present[k] = 0;
            expected--;
        } else {
            cr_assert_eq(live_insert(addr, k, k, 0, NULL), 0);
            present[k] = 1;
            expected++;
        }
    }
    cr_assert_eq(live_count(), expected);
    for (unsigned k = 0; k < SPACE; k++) {
        struct live_block b;
        int found = live_lookup(0x7f0000000000 + (uintptr_t)k * 16, &b);
        cr_assert_eq(found, present[k], "block %u: found=%d expected=%d", k, found, present[k]);
        if (found)
            cr_assert_eq(b.size, k);
    }
    free(present);
}

Test(live, copying_the_shards_yields_every_block_once)
{
    struct live_block *buf = NULL;
    size_t cap = 0, total = 0;

    for (uintptr_t i = 1; i <= 5000; i++)
        live_insert(i * 32, i, 0, 0, NULL);
    uint64_t sum = 0;
    for (int s = 0; s < LIVE_SHARDS; s++) {
        size_t n = live_copy_shard(s, &buf, &cap);
        total += n;
        for (size_t i = 0; i < n; i++)
            sum += buf[i].size;
    }
    cr_assert_eq(total, 5000);
    cr_assert_eq(sum, 5000ull * 5001 / 2);
}

/* A page of 8-byte-aligned blocks (512 of them, more than 16-byte alignment allows) fills its page's
   table to the largest size; removing half in a scattered order keeps the others' chains intact. */
Test(live, a_page_full_of_blocks_keeps_every_one)
{
    const uintptr_t page = 0x5555a000;
    struct live_block b;

    for (uintptr_t off = 0; off < 4096; off += 8)
        cr_assert_eq(live_insert(page + off, off + 1, (uint32_t)off, 0, NULL), 0, "offset %lu", (unsigned long)off);
    cr_assert_eq(live_count(), 512);
    for (uintptr_t k = 0; k < 512; k += 2) {
        uintptr_t off = (k * 167 % 512) * 8;        /* 167 is odd: every other slot of a permutation */
        cr_assert_eq(live_remove(page + off, &b), 1, "offset %lu lost", (unsigned long)off);
        cr_assert_eq(b.size, off + 1);
    }
    cr_assert_eq(live_count(), 256);
    for (uintptr_t k = 0; k < 512; k++) {
        uintptr_t off = (k * 167 % 512) * 8;
        cr_assert_eq(live_lookup(page + off, &b), k % 2, "offset %lu", (unsigned long)off);
        if (k % 2)
            cr_assert_eq(b.site, (uint32_t)off);
    }
}

/* Four threads insert and remove blocks interleaved on the same eight pages, so they share shard locks
   and grow the same pages' tables; every block a thread left in must be there, and no other. */
enum { CHURN_THREADS = 4, CHURN_PAGES = 8, CHURN_SLOTS = CHURN_PAGES * 4096 / 16 / CHURN_THREADS };
static const uintptr_t churn_base = 0x6000000000;

static uintptr_t churn_addr(uintptr_t t, unsigned k)
{
    return churn_base + ((uintptr_t)k * CHURN_THREADS + t) * 16;
}

static void *churn_thread(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    unsigned char *present = calloc(CHURN_SLOTS, 1);
    unsigned seed = (unsigned)t + 1;

    for (int i = 0; i < 300000; i++) {
        seed = seed * 1103515245 + 12345;
        unsigned k = (seed >> 8) % CHURN_SLOTS;
        if (present[k]) {
            if (live_remove(churn_addr(t, k), NULL) != 1)
                return (void *)1;
        } else if (live_insert(churn_addr(t, k), k, (uint32_t)t, 0, NULL) != 0) {
            return (void *)1;
        }
        present[k] ^= 1;
    }
    return present;
}

Test(live, threads_sharing_pages_keep_each_others_blocks)
{
    pthread_t tid[CHURN_THREADS];
    unsigned char *present[CHURN_THREADS];
    size_t expected = 0;

    for (uintptr_t t = 0; t < CHURN_THREADS; t++)
        cr_assert_eq(pthread_create(&tid[t], NULL, churn_thread, (void *)t), 0);
    for (int t = 0; t < CHURN_THREADS; t++) {
        void *r;
        pthread_join(tid[t], &r);
        cr_assert_neq(r, (void *)1, "thread %d found its table out of step", t);
        present[t] = r;
    }
    for (uintptr_t t = 0; t < CHURN_THREADS; t++) {
        for (unsigned k = 0; k < CHURN_SLOTS; k++) {
            struct live_block b;
            int found = live_lookup(churn_addr(t, k), &b);
            cr_assert_eq(found, present[t][k], "thread %lu block %u: found=%d", (unsigned long)t, k, found);
            if (found)
                cr_assert(b.size == k && b.site == t, "thread %lu block %u holds another's entry", (unsigned long)t, k);
            expected += present[t][k];
        }
        free(present[t]);
    }
    cr_assert_eq(live_count(), expected);
}

/* Pages far apart (other branches of the page tree), the highest user page, and beyond it. */
Test(live, blocks_anywhere_in_the_address_space_round_trip)
{
    const uintptr_t addrs[] = { 0x10, 0xfff0, 0x1000000, 0xfffff0, 0x1000000000, 0x7f12345678f0, 0x7ffffffffff0 };
    const size_t n = sizeof addrs / sizeof *addrs;
    struct live_block b, *buf = NULL;
    size_t cap = 0, copied = 0;

    for (size_t i = 0; i < n; i++)
        cr_assert_eq(live_insert(addrs[i], 100 + i, (uint32_t)i, 0, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(live_lookup(addrs[i], &b), 1, "0x%lx", (unsigned long)addrs[i]);
        cr_assert_eq(b.addr, addrs[i]);
        cr_assert_eq(b.size, 100 + i);
    }
    for (int s = 0; s < LIVE_SHARDS; s++)
        copied += live_copy_shard(s, &buf, &cap);
    cr_assert_eq(copied, n);
    cr_assert_eq(live_insert((uintptr_t)1 << 47, 1, 0, 0, NULL), -1, "above user space: left untracked");
    cr_assert_eq(live_remove((uintptr_t)1 << 47, NULL), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(live_remove(addrs[i], NULL), 1);
    cr_assert_eq(live_count(), 0);
    cr_assert_eq(live_insert(addrs[0], 7, 1, 0, NULL), 0, "an emptied page takes blocks again");
    cr_assert_eq(live_lookup(addrs[0], &b), 1);
    cr_assert_eq(b.size, 7);
}

static struct site *mmap_site(void)
{
    uintptr_t pcs[] = { 0x777 };
    struct site *s = site_intern(pcs, 1, SITE_MMAP);
    return s;
}

/* Marsaglia's xorshift64: the scan tests' reproducible stream of addresses and choices. */
static uint64_t xorshift64(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Both digit widths (8 bits under 8,192 blocks, 16 from there) sort by address, every block kept. */
static void check_sorted(size_t count)
{
    struct live_block *blocks = calloc(count, sizeof *blocks), *scratch = calloc(count, sizeof *scratch);
    uint64_t x = 88172645463325252ull, sum = 0, sorted_sum = 0;
    for (size_t i = 0; i < count; i++) {
        xorshift64(&x);
        blocks[i].addr = (x & 0x7fffffffffffull) & ~(uint64_t)15;   /* 47-bit, 16-aligned; duplicates too */
        blocks[i].size = i;
        sum += blocks[i].addr ^ i;
    }
    scan_sort_blocks(blocks, scratch, count);
    for (size_t i = 0; i < count; i++) {
        sorted_sum += blocks[i].addr ^ blocks[i].size;
        if (i > 0)
            cr_assert_leq(blocks[i - 1].addr, blocks[i].addr, "out of order at %zu of %zu", i, count);
    }
    cr_assert_eq(sum, sorted_sum, "the same blocks come out (%zu)", count);
    free(blocks);
    free(scratch);
}

Test(scan, blocks_sort_by_address_small_and_large)
{
    check_sorted(2);
    check_sorted(3);
    check_sorted(168);
    check_sorted(8191);
    check_sorted(8192);
    check_sorted(300000);
}

/* The block containing addr by binary search over the sorted blocks: what the page index must answer. */
static long reference_find(const struct live_block *blocks, size_t count, uintptr_t addr, int *interior)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (blocks[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const struct live_block *b = &blocks[lo - 1];
    if (addr != b->addr && addr - b->addr >= b->size)
        return -1;
    *interior = addr != b->addr;
    return (long)(lo - 1);
}

/*
 * Blocks as malloc lays them out (16-aligned, gaps between), blocks spanning pages, empty blocks, and on
 * some pages blocks only 8-aligned: two to a 16-byte granule, or one starting mid-granule after a block
 * that covers the granule's start.  Every address near every block resolves to the block a binary
 * search finds.
 */
Test(scan, page_index_finds_the_block_a_binary_search_finds)
{
    enum { COUNT = 20000 };
    struct live_block *blocks = calloc(COUNT, sizeof *blocks);
    uint64_t x = 88172645463325252ull;
    uintptr_t at = 0x10000;
    for (size_t i = 0; i < COUNT; i++) {
        xorshift64(&x);
        int packed = (at >> 12) % 7 == 3;                  /* every seventh page: 8-byte spacing */
        int odd = (at >> 12) % 7 == 5;                     /* and another: 24-byte blocks back to back */
        uint64_t size = x % 11 == 0 ? (x >> 8) % 20000 : (x >> 8) % 200;
        if (x % 13 == 0)
            size = 0;
        blocks[i].addr = at;
        blocks[i].size = packed ? size % 8 : odd ? 24 : size;
        at += packed ? 8 : odd ? 24 : ((blocks[i].size + 15) & ~(uint64_t)15) + (x >> 40) % 3 * 16;
    }
    size_t capacity = scan_page_slots_needed(blocks, COUNT);
    struct page_slot *pages = calloc(capacity, sizeof *pages);
    struct scan_heap h = { .blocks = blocks, .pages = pages, .page_capacity = capacity, .count = COUNT };
    scan_index_pages(&h);

    size_t searched_pages = 0, hits = 0;
    for (size_t i = 0; i < capacity; i++)
        searched_pages += pages[i].page && (pages[i].count & PAGE_SLOT_SEARCH);
    cr_assert_gt(searched_pages, 0, "the packed pages take the binary search");
    for (uintptr_t addr = 0x10000 - 64; addr < at + 64; addr += (addr & 7) ? 5 : 3) {
        int interior = -1, expected_interior = -1;
        long got = scan_find_block(&h, addr, &interior);
        long expected = reference_find(blocks, COUNT, addr, &expected_interior);
        cr_assert_eq(got, expected, "address %#lx: block %ld, expected %ld", (unsigned long)addr, got, expected);
        if (expected >= 0) {
            cr_assert_eq(interior, expected_interior, "address %#lx", (unsigned long)addr);
            hits++;
        }
    }
    cr_assert_gt(hits, COUNT, "most addresses land in blocks");
    free(pages);
    free(blocks);
}

/* scan.h's rules applied one word at a time, with a binary search: what the batched scan must agree with. */
struct reference_scan {
    const struct live_block *blocks;
    size_t count, top, leader;
    uint8_t *state;
    size_t *stack;
};

static void reference_visit(struct reference_scan *r, uintptr_t word, int phase)
{
    int interior;
    long i = reference_find(r->blocks, r->count, word, &interior);

    if (i < 0)
        return;
    uint8_t *st = &r->state[i];
    if (phase == 1 && !interior && *st != BLOCK_REACHABLE) {
        *st = BLOCK_REACHABLE;
        r->stack[r->top++] = (size_t)i;
    } else if (phase == 1 && interior && *st == 0) {
        *st = BLOCK_POSSIBLY;
    } else if (phase == 2 && *st == 0) {
        *st = BLOCK_POSSIBLY;
        r->stack[r->top++] = (size_t)i;
    } else if (phase == 3 && (size_t)i != r->leader && *st == 0) {
        *st = BLOCK_INDIRECT;
        r->stack[r->top++] = (size_t)i;
    } else if (phase == 3 && (size_t)i != r->leader && *st == BLOCK_DIRECT) {
        *st = BLOCK_INDIRECT;
    }
}

static void reference_drain(struct reference_scan *r, int phase)
{
    while (r->top > 0) {
        const struct live_block *b = &r->blocks[r->stack[--r->top]];
        for (size_t k = 0; k < b->size / 8; k++)
            reference_visit(r, ((const uintptr_t *)b->addr)[k], phase);
    }
}

/*
 * Random heaps of 6,000 blocks (some spanning pages) holding start pointers, interior pointers and
 * near misses, reached from a few roots: the batched scan classifies every block as the reference
 * does, and every class occurs.
 */
Test(scan, batched_marking_classifies_as_one_word_at_a_time)
{
    enum { COUNT = 6000, ROOTS = 12 };
    size_t arena_bytes = 16u << 20;
    char *arena = mmap(NULL, arena_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(arena, MAP_FAILED);
    struct live_block *blocks = calloc(COUNT, sizeof *blocks), *scratch = calloc(COUNT, sizeof *scratch);
    uint8_t *state = calloc(COUNT, 1), *expected = calloc(COUNT, 1);
    uint32_t *stack = calloc(COUNT, sizeof *stack);
    size_t *ref_stack = calloc(COUNT, sizeof *ref_stack);
    uint64_t x = 0x243f6a8885a308d3ull;

    for (unsigned round = 0; round < 4; round++) {
        memset(arena, 0, arena_bytes);
        size_t at = 0;
        for (size_t i = 0; i < COUNT; i++) {
            uint64_t size = xorshift64(&x) % 50 == 0 ? 4096 + 16 * (xorshift64(&x) % 600)
                                                     : 16 * (1 + xorshift64(&x) % 12);
            blocks[i].addr = (uintptr_t)arena + at;
            blocks[i].size = size;
            at += size + 16 * (xorshift64(&x) % 3);
        }
        cr_assert_lt(at, arena_bytes);
        for (size_t i = 0; i < COUNT; i++) {
            uintptr_t *words = (uintptr_t *)blocks[i].addr;
            for (size_t k = 0; k < blocks[i].size / 8; k++) {
                const struct live_block *to = &blocks[xorshift64(&x) % COUNT];
                unsigned dice = (unsigned)(xorshift64(&x) % 100);
                if (dice < 6 + round * 2)
                    words[k] = to->addr;                                /* a start pointer */
                else if (dice < 9 + round * 2)
                    words[k] = to->addr + 8 * (1 + xorshift64(&x) % (to->size / 8));   /* interior, or just past */
                else if (dice < 11 + round * 2)
                    words[k] = xorshift64(&x);                                  /* noise */
            }
        }
        /* The scan sorts what the live table gives it: hand it the blocks shuffled. */
        for (size_t i = COUNT - 1; i > 0; i--) {
            size_t j = xorshift64(&x) % (i + 1);
            struct live_block t = blocks[i];
            blocks[i] = blocks[j];
            blocks[j] = t;
        }
        scan_sort_blocks(blocks, scratch, COUNT);
        uintptr_t roots[ROOTS];
        for (int k = 0; k < ROOTS; k++)
            roots[k] = blocks[xorshift64(&x) % COUNT].addr + (k % 4 == 3 ? 8 : 0);

        size_t capacity = scan_page_slots_needed(blocks, COUNT);
        struct page_slot *pages = calloc(capacity, sizeof *pages);
        struct scan_heap h = { .blocks = blocks, .pages = pages, .page_capacity = capacity, .state = state,
                               .count = COUNT, .stack = stack, .pagemap = -1 };
        memset(state, 0, COUNT);
        scan_index_pages(&h);
        for (int k = 0; k < ROOTS; k++)
            scan_root_word(&h, roots[k]);
        scan_classify(&h);

        struct reference_scan r = { .blocks = blocks, .count = COUNT, .state = expected, .stack = ref_stack };
        memset(expected, 0, COUNT);
        for (int k = 0; k < ROOTS; k++) {
            reference_visit(&r, roots[k], 1);
            reference_drain(&r, 1);
        }
        for (size_t i = 0; i < COUNT; i++)
            if (expected[i] == BLOCK_POSSIBLY)
                r.stack[r.top++] = i;
        reference_drain(&r, 2);
        for (size_t i = 0; i < COUNT; i++) {
            if (expected[i] != 0)
                continue;
            r.leader = i;
            expected[i] = BLOCK_DIRECT;
            r.stack[r.top++] = i;
            reference_drain(&r, 3);
        }

        size_t classes[BLOCK_STATES] = { 0 };
        for (size_t i = 0; i < COUNT; i++) {
            cr_assert_eq(state[i], expected[i], "round %u, block %zu of %zu: %s, expected %s", round, i, (size_t)COUNT,
                         block_state_name(state[i]), block_state_name(expected[i]));
            classes[state[i]]++;
        }
        for (int c = BLOCK_REACHABLE; c < BLOCK_STATES; c++)
            cr_assert_gt(classes[c], 0, "round %u: no block is %s", round, block_state_name(c));
        free(pages);
    }
    munmap(arena, arena_bytes);
    free(blocks);
    free(scratch);
    free(state);
    free(expected);
    free(stack);
    free(ref_stack);
}

Test(regions, partial_unmaps_trim_and_split_regions)
{
    struct site *s = mmap_site();
    struct region r;

    regions_add(0x100000, 16 * 4096, s->id, 0);
    site_count_alloc(s, 1, 16 * 4096);
    regions_remove(0x100000, 4096);                     /* head */
    regions_remove(0x100000 + 15 * 4096, 4096);         /* tail */
    regions_remove(0x100000 + 6 * 4096, 4 * 4096);      /* middle: split */
    cr_assert_eq(regions_count(), 2);
    cr_assert_eq(regions_bytes(), 10 * 4096);
    cr_assert_eq(s->inuse_space, 10 * 4096);
    cr_assert_eq(s->inuse_objects, 2);
    cr_assert_eq(regions_find(0x100000 + 4096, &r), 1);
    cr_assert_eq(r.len, 5 * 4096);
    cr_assert_eq(regions_find(0x100000 + 10 * 4096, &r), 1);
    cr_assert_eq(r.len, 5 * 4096);
    regions_remove(0, 0x200000);                        /* covers both */
    cr_assert_eq(regions_count(), 0);
    cr_assert_eq(s->inuse_space, 0);
    cr_assert_eq(s->inuse_objects, 0);
}

Test(regions, mapping_over_a_tracked_range_replaces_it)
{
    struct site *s = mmap_site();

    regions_add(0x100000, 8 * 4096, s->id, 0);
    site_count_alloc(s, 1, 8 * 4096);
    regions_add(0x100000 + 4096, 2 * 4096, s->id, 0);   /* MAP_FIXED over the middle */
    site_count_alloc(s, 1, 2 * 4096);
    cr_assert_eq(regions_count(), 3);
    cr_assert_eq(regions_bytes(), 8 * 4096);
    cr_assert_eq(s->inuse_space, 8 * 4096);
}

static char warnings[4096];

static void collect(const char *line, void *arg)
{
    (void)arg;
    strcat(warnings, line);
    strcat(warnings, "\n");
}

Test(options, defaults_without_environment)
{
    struct leakscope_options o;

    unsetenv("LEAKSCOPE_DEPTH");
    unsetenv("LEAKSCOPE_OUT");
    options_from_env(&o, collect, NULL);
    cr_assert_eq(o.depth, 64);
    cr_assert_eq(o.signal, SIGUSR1);
    cr_assert_eq(o.follow_exec, 1);
    cr_assert_eq(o.out_dir[0], '/', "the output directory is made absolute: %s", o.out_dir);
    cr_assert_str_empty(warnings);
}

Test(options, bad_values_warn_once_each_and_keep_defaults)
{
    struct leakscope_options o;

    setenv("LEAKSCOPE_DEPTH", "lots", 1);
    setenv("LEAKSCOPE_SIGNAL", "KILL", 1);
    setenv("LEAKSCOPE_OUT", "/nonexistent/dir", 1);
    setenv("LEAKSCOPE_FOLLOW_EXEC", "maybe", 1);
    options_from_env(&o, collect, NULL);
    cr_assert_eq(o.depth, 64);
    cr_assert_eq(o.signal, SIGUSR1);
    cr_assert_eq(o.follow_exec, 1);
    cr_assert_not_null(strstr(warnings, "LEAKSCOPE_DEPTH='lots' is not a whole number from 1 to 256"));
    cr_assert_not_null(strstr(warnings, "LEAKSCOPE_SIGNAL='KILL'"));
    cr_assert_not_null(strstr(warnings, "LEAKSCOPE_OUT='/nonexistent/dir' is not an existing directory"));
    cr_assert_not_null(strstr(warnings, "LEAKSCOPE_FOLLOW_EXEC='maybe'"));
    int lines = 0;
    for (char *p = warnings; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 4);
}

Test(options, every_setting_rejects_a_bad_value_by_name_and_keeps_its_default)
{
    static const char *const bad[][2] = {
        { "DEPTH", "0" }, { "SIGNAL", "SEGV" }, { "FOLLOW_EXEC", "maybe" }, { "LEAK_CHECK", "2" },
        { "EXITCODE", "300" }, { "SCAN_INTERVAL", "soon" }, { "SUPPRESSIONS", "/no/such/file" },
        { "STOP", "gdb" }, { "INTERVAL", "-1" }, { "STALE_AGE", "0" }, { "SCAVENGE", "1e9" },
        { "SCAVENGE_SIGNAL", "USR1" }, { "MADV_DONTNEED", "sometimes" }, { "DUMP_INTERVAL", "0.0001" },
        { "DUMP_KEEP", "0" }, { "CRASH_DUMP", "x" }, { "FORK_SCAN", "-" }, { "QUIET", "7" },
        { "OUT", "/no/such/dir" }, { "SAMPLE", "12X" },
    };
    const size_t n = sizeof bad / sizeof *bad;
    struct leakscope_options defaults, o;
    char name[64], expect[128];

    options_from_env(&defaults, collect, NULL);
    cr_assert_str_empty(warnings);
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "LEAKSCOPE_%s", bad[i][0]);
        setenv(name, bad[i][1], 1);
    }
    setenv("LEAKSCOPE_DEPHT", "3", 1);   /* a misspelt name */
    options_from_env(&o, collect, NULL);
    cr_assert_eq(memcmp(&o, &defaults, sizeof o), 0, "every default is kept");
    for (size_t i = 0; i < n; i++) {
        snprintf(expect, sizeof expect, "LEAKSCOPE_%s='%s' ", bad[i][0], bad[i][1]);
        cr_assert_not_null(strstr(warnings, expect), "no line for %s in:\n%s", expect, warnings);
    }
    cr_assert_not_null(strstr(warnings, "LEAKSCOPE_DEPHT is not a leakscope setting; ignored"), "%s", warnings);
    int lines = 0;
    for (char *p = warnings; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, (int)n + 1, "one line each:\n%s", warnings);
}

Test(options, signal_names_and_numbers)
{
    cr_assert_eq(options_parse_signal("USR2"), SIGUSR2);
    cr_assert_eq(options_parse_signal("SIGUSR1"), SIGUSR1);
    cr_assert_eq(options_parse_signal("12"), 12);
    cr_assert_eq(options_parse_signal("RTMIN+2"), SIGRTMIN + 2);
    cr_assert_eq(options_parse_signal("RTMAX-1"), SIGRTMAX - 1);
    cr_assert_eq(options_parse_signal("none"), 0);
    cr_assert_eq(options_parse_signal("SEGV"), -1);
    cr_assert_eq(options_parse_signal("9"), -1);
    cr_assert_eq(options_parse_signal("RTMIN+99"), -1);
}
