/*
 * scan.c - marking and classification (see scan.h).
 */
#define _GNU_SOURCE
#include "scan.h"

#include <string.h>
#include <unistd.h>

enum { UNREACHED = 0 };    /* before classification, state 0 means not reached yet */

const char *block_state_name(int state)
{
    static const char *names[] = { "unscanned", "reachable", "possibly", "indirect", "direct" };
    return state >= 0 && state < BLOCK_STATES ? names[state] : "unknown";
}

/* One stable pass of LSD radix sort on `bits` address bits from `shift`, counting in histogram. */
static void radix_pass(const struct live_block *from, struct live_block *to, size_t count, int shift, int bits,
                       uint32_t *histogram)
{
    size_t digits = (size_t)1 << bits, mask = digits - 1;

    memset(histogram, 0, digits * sizeof *histogram);
    for (size_t i = 0; i < count; i++)
        histogram[(from[i].addr >> shift) & mask]++;
    uint32_t sum = 0;
    for (size_t d = 0; d < digits; d++) {
        uint32_t c = histogram[d];
        histogram[d] = sum;
        sum += c;
    }
    for (size_t i = 0; i < count; i++)
        to[histogram[(from[i].addr >> shift) & mask]++] = from[i];
}

/*
 * LSD radix sort on address bits 4..51 (malloc aligns to 16; user space is 47 bits): 3 passes of 16
 * bits, or for fewer than 8,192 blocks 6 passes of 8 (a 1 KiB histogram, not 256 KiB cleared three
 * times over: 64 pages faulted in to sort the few hundred blocks of a short program; from about 8,000
 * blocks the three extra passes cost more than the clearing).
 */
void scan_sort_blocks(struct live_block *blocks, struct live_block *scratch, size_t count)
{
    static uint32_t wide[1 << 16];
    uint32_t narrow[1 << 8];
    struct live_block *from = blocks, *to = scratch;
    int bits = count < 8192 ? 8 : 16;

    if (count < 2)
        return;
    for (int shift = 4; shift < 52; shift += bits) {
        radix_pass(from, to, count, shift, bits, bits == 8 ? narrow : wide);
        struct live_block *t = from;
        from = to;
        to = t;
    }
    if (from != blocks)
        memcpy(blocks, from, count * sizeof *blocks);
    /* Addresses use at most 52 bits here; a block higher up (never on x86-64 Linux) would be missorted. */
}

static inline uint64_t page_hash(uint64_t key)
{
    key *= 0x9e3779b97f4a7c15ull;
    return key ^ (key >> 29);
}

static inline uint64_t last_page(const struct live_block *b)
{
    return (b->addr + (b->size ? b->size - 1 : 0)) >> 12;
}

size_t scan_page_slots_needed(const struct live_block *blocks, size_t count)
{
    size_t pages = 0;
    uint64_t previous = UINT64_MAX;

    for (size_t i = 0; i < count; i++) {
        uint64_t first = blocks[i].addr >> 12, last = last_page(&blocks[i]);
        pages += last - first + 1 - (first == previous);
        previous = last;
    }
    size_t capacity = 1024;
    while (capacity < pages * 2)
        capacity *= 2;
    return capacity;
}

static struct page_slot *page_slot(const struct scan_heap *h, uint64_t page)
{
    size_t mask = h->page_capacity - 1;
    size_t i = page_hash(page) & mask;

    while (h->pages[i].page != 0 && h->pages[i].page != page + 1)
        i = (i + 1) & mask;
    return &h->pages[i];
}

void scan_index_pages(struct scan_heap *h)
{
    for (size_t i = 0; i < h->count; i++) {
        uint64_t last = last_page(&h->blocks[i]);
        for (uint64_t page = h->blocks[i].addr >> 12; page <= last; page++) {
            struct page_slot *slot = page_slot(h, page);
            if (slot->page == 0) {
                slot->page = page + 1;
                slot->first = (uint32_t)i;
            }
            slot->count++;
        }
    }
}

long scan_find_block(const struct scan_heap *h, uintptr_t addr, int *interior)
{
    const struct page_slot *slot = page_slot(h, addr >> 12);

    if (slot->page == 0)
        return -1;
    size_t lo = slot->first, hi = (size_t)slot->first + slot->count;
    while (lo < hi) {                       /* last block of the page starting at or below addr */
        size_t mid = (lo + hi) / 2;
        if (h->blocks[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == slot->first)
        return -1;
    const struct live_block *b = &h->blocks[lo - 1];
    if (addr == b->addr) {
        *interior = 0;
        return (long)(lo - 1);
    }
    if (addr - b->addr < b->size) {
        *interior = 1;
        return (long)(lo - 1);
    }
    return -1;
}

/* Each block is pushed at most once per phase (on a state change), so count slots suffice. */
static void push(struct scan_heap *h, size_t i)
{
    h->stack[h->stack_top++] = (uint32_t)i;
}

/* A word seen from a root or a reachable block. */
static inline void visit_from_reachable(struct scan_heap *h, uintptr_t word)
{
    int interior;
    long i = scan_find_block(h, word, &interior);

    if (i < 0)
        return;
    if (!interior) {
        if (h->state[i] != BLOCK_REACHABLE) {
            h->state[i] = BLOCK_REACHABLE;
            push(h, (size_t)i);
        }
    } else if (h->state[i] == UNREACHED) {
        h->state[i] = BLOCK_POSSIBLY;      /* scanned in the possibly phase unless reached later */
    }
}

typedef void (*visit_fn)(struct scan_heap *, uintptr_t);

/* always_inline: each caller passes a constant visit, which the compiler then inlines into the loop. */
static inline __attribute__((always_inline)) void scan_words(struct scan_heap *h, uintptr_t start,
                                                             uintptr_t end, visit_fn visit)
{
    uintptr_t lo = h->count ? h->blocks[0].addr : 1, hi = 0;

    if (h->count)
        hi = h->blocks[h->count - 1].addr + h->blocks[h->count - 1].size;
    start = (start + 7) & ~(uintptr_t)7;
    if (end < start + 8)
        return;
    h->bytes_scanned += end - start;
    for (const uintptr_t *p = (const uintptr_t *)start; (uintptr_t)(p + 1) <= end; p++) {
        uintptr_t w = *p;
        if (w >= lo && w <= hi)
            visit(h, w);
    }
}

/* Ranges this long or longer are checked against the pagemap first (one read covers 2 MiB). */
#define SPARSE_MIN (64 * 1024)
#define PAGEMAP_BATCH 512

/*
 * Whether the pages from addr on were written by the process (present or swapped out: pagemap bits 63
 * and 62), and in *stop where the run of pages in that same state ends (at most end).  If the pagemap
 * cannot be read, the whole range counts as written.
 */
static int written_run(const struct scan_heap *h, uintptr_t addr, uintptr_t end, uintptr_t *stop)
{
    uint64_t entries[PAGEMAP_BATCH];
    uintptr_t page = addr & ~(uintptr_t)4095;
    size_t want = (end - page + 4095) / 4096;

    if (want > PAGEMAP_BATCH)
        want = PAGEMAP_BATCH;
    ssize_t got = pread(h->pagemap, entries, want * sizeof *entries, (off_t)(page / 4096 * sizeof *entries));
    if (got < (ssize_t)sizeof *entries) {
        *stop = end;
        return 1;
    }
    size_t n = (size_t)got / sizeof *entries, k = 1;
    int written = (entries[0] >> 62) != 0;
    while (k < n && ((entries[k] >> 62) != 0) == written)
        k++;
    uintptr_t run_end = page + k * 4096;
    *stop = run_end < end ? run_end : end;
    return written;
}

static inline __attribute__((always_inline)) void scan_range(struct scan_heap *h, uintptr_t start, uintptr_t end,
                                                             int shared, visit_fn visit)
{
    if (h->pagemap < 0 || shared || end - start < SPARSE_MIN) {
        scan_words(h, start, end, visit);
        return;
    }
    while (start < end) {
        uintptr_t stop;
        if (written_run(h, start, end, &stop))
            scan_words(h, start, stop, visit);
        else
            h->bytes_unwritten += stop - start;
        start = stop;
    }
}

static inline __attribute__((always_inline)) void scan_block_words(struct scan_heap *h, size_t i, visit_fn visit)
{
    scan_range(h, h->blocks[i].addr, h->blocks[i].addr + h->blocks[i].size, 0, visit);
}

static void drain_reachable(struct scan_heap *h)
{
    while (h->stack_top > 0)
        scan_block_words(h, h->stack[--h->stack_top], visit_from_reachable);
}

void scan_root_range(struct scan_heap *h, uintptr_t start, uintptr_t end, int shared)
{
    scan_range(h, start, end, shared, visit_from_reachable);
    drain_reachable(h);
}

void scan_root_word(struct scan_heap *h, uintptr_t word)
{
    visit_from_reachable(h, word);
    drain_reachable(h);
}

void scan_root_block(struct scan_heap *h, size_t i)
{
    scan_block_words(h, i, visit_from_reachable);
    drain_reachable(h);
}

/* Phase 2: anything reached from a possibly-reached block is possibly reached. */
static inline void visit_from_possibly(struct scan_heap *h, uintptr_t word)
{
    int interior;
    long i = scan_find_block(h, word, &interior);

    if (i >= 0 && h->state[i] == UNREACHED) {
        h->state[i] = BLOCK_POSSIBLY;
        push(h, (size_t)i);
    }
}

/* Phase 3: the flood of one clique. */
static inline void visit_from_leaked(struct scan_heap *h, uintptr_t word)
{
    int interior;
    long i = scan_find_block(h, word, &interior);

    if (i < 0 || (size_t)i == h->leader)
        return;
    if (h->state[i] == UNREACHED) {
        h->state[i] = BLOCK_INDIRECT;
        push(h, (size_t)i);
    } else if (h->state[i] == BLOCK_DIRECT) {
        h->state[i] = BLOCK_INDIRECT;      /* an earlier leader: its clique is already indirect */
    }
}

void scan_classify(struct scan_heap *h)
{
    h->stack_top = 0;
    for (size_t i = 0; i < h->count; i++)
        if (h->state[i] == BLOCK_POSSIBLY)
            push(h, i);
    while (h->stack_top > 0)
        scan_block_words(h, h->stack[--h->stack_top], visit_from_possibly);

    for (size_t i = 0; i < h->count; i++) {
        if (h->state[i] != UNREACHED)
            continue;
        h->leader = i;
        h->state[i] = BLOCK_DIRECT;
        push(h, i);
        while (h->stack_top > 0)
            scan_block_words(h, h->stack[--h->stack_top], visit_from_leaked);
    }
}
