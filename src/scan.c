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

/* Where page's probe starts in the page index. */
static inline size_t page_home(const struct scan_heap *h, uint64_t page)
{
    return page_hash(page) & (h->page_capacity - 1);
}

/* page's slot, or the empty slot where it would go, probing from slot i on. */
static inline struct page_slot *page_probe(const struct scan_heap *h, size_t i, uint64_t page)
{
    size_t mask = h->page_capacity - 1;

    while (h->pages[i].page != 0 && h->pages[i].page != page + 1)
        i = (i + 1) & mask;
    return &h->pages[i];
}

static struct page_slot *page_slot(const struct scan_heap *h, uint64_t page)
{
    return page_probe(h, page_home(h, page), page);
}

void scan_index_pages(struct scan_heap *h)
{
    struct page_slot *slot = NULL;

    for (size_t i = 0; i < h->count; i++) {
        uint64_t first = h->blocks[i].addr >> 12, last = last_page(&h->blocks[i]);
        for (uint64_t page = first; page <= last; page++) {
            if (!slot || slot->page != page + 1)        /* sorted: most blocks share the last one's page */
                slot = page_slot(h, page);
            if (slot->page == 0) {
                slot->page = page + 1;
                slot->first = (uint32_t)i;
            }
            slot->count++;
            if (page == first) {
                unsigned granule = (unsigned)(h->blocks[i].addr & 4095) >> 4;
                uint64_t bit = (uint64_t)1 << (granule & 63);
                if (slot->starts[granule >> 6] & bit)
                    slot->count |= PAGE_SLOT_SEARCH;
                slot->starts[granule >> 6] |= bit;
            }
        }
    }
    for (size_t i = 0; i < h->page_capacity; i++) {
        slot = &h->pages[i];
        if (slot->page == 0 || (slot->count & PAGE_SLOT_SEARCH))
            continue;
        unsigned starting = 0;
        for (unsigned k = 0; k < 4; k++)
            starting += (unsigned)__builtin_popcountll(slot->starts[k]);
        unsigned before = slot->count - starting;      /* 1 when a block begun on an earlier page reaches in */
        for (unsigned k = 0; k < 4; k++) {             /* at most 1 + 3 * 64 */
            slot->before[k] = (uint8_t)before;
            before += (unsigned)__builtin_popcountll(slot->starts[k]);
        }
    }
}

/* last_start_at_or_below for a page whose start bits are ambiguous. */
static __attribute__((noinline)) size_t search_page(const struct scan_heap *h, const struct page_slot *slot,
                                                     uintptr_t addr)
{
    size_t lo = slot->first, hi = slot->first + (slot->count & ~PAGE_SLOT_SEARCH);

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->blocks[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - slot->first;
}

/* Index of the last block of slot's page starting at or below addr (addr's granule included), or -1. */
static inline long last_start_at_or_below(const struct scan_heap *h, const struct page_slot *slot,
                                          uintptr_t addr)
{
    unsigned granule = (unsigned)(addr & 4095) >> 4, word = granule >> 6;
    size_t n;

    if (__builtin_expect(slot->count & PAGE_SLOT_SEARCH, 0))
        n = search_page(h, slot, addr);
    else
        n = slot->before[word] +
            (size_t)__builtin_popcountll(slot->starts[word] & (~(uint64_t)0 >> (63 - (granule & 63))));
    return n ? (long)(slot->first + n - 1) : -1;
}

/* Whether block i (from last_start_at_or_below) or the one before it covers addr: its index, or -1. */
static inline long covering(const struct scan_heap *h, const struct page_slot *slot, long i, uintptr_t addr,
                            int *interior)
{
    const struct live_block *b = &h->blocks[i];

    if (addr < b->addr) {                     /* a block not 16-aligned starts past addr in its granule: */
        if (i == (long)slot->first)           /* the one before it (in an earlier granule) may cover addr */
            return -1;
        b = &h->blocks[--i];
    }
    if (addr == b->addr) {
        *interior = 0;
        return i;
    }
    if (addr - b->addr < b->size) {
        *interior = 1;
        return i;
    }
    return -1;
}

long scan_find_block(const struct scan_heap *h, uintptr_t addr, int *interior)
{
    const struct page_slot *slot = page_slot(h, addr >> 12);

    if (slot->page == 0)
        return -1;
    long i = last_start_at_or_below(h, slot, addr);
    return i < 0 ? -1 : covering(h, slot, i, addr, interior);
}

/* Each block is pushed at most once per phase (on a state change), so count slots suffice. */
static void push(struct scan_heap *h, size_t i)
{
    h->stack[h->stack_top++] = (uint32_t)i;
}

/* What a word pointing into block i (at its start, or interior) does, in each phase. */
typedef void (*mark_fn)(struct scan_heap *, size_t i, int interior);

/* Phase 1: a word seen from a root or a reachable block. */
static inline void mark_from_reachable(struct scan_heap *h, size_t i, int interior)
{
    if (!interior) {
        if (h->state[i] != BLOCK_REACHABLE) {
            h->state[i] = BLOCK_REACHABLE;
            push(h, i);
        }
    } else if (h->state[i] == UNREACHED) {
        h->state[i] = BLOCK_POSSIBLY;      /* scanned in the possibly phase unless reached later */
    }
}

/* Phase 2: anything reached from a possibly-reached block is possibly reached. */
static inline void mark_from_possibly(struct scan_heap *h, size_t i, int interior)
{
    (void)interior;
    if (h->state[i] == UNREACHED) {
        h->state[i] = BLOCK_POSSIBLY;
        push(h, i);
    }
}

/* Phase 3: the flood of one clique. */
static inline void mark_from_leaked(struct scan_heap *h, size_t i, int interior)
{
    (void)interior;
    if (i == h->leader)
        return;
    if (h->state[i] == UNREACHED) {
        h->state[i] = BLOCK_INDIRECT;
        push(h, i);
    } else if (h->state[i] == BLOCK_DIRECT) {
        h->state[i] = BLOCK_INDIRECT;      /* an earlier leader: its clique is already indirect */
    }
}

/*
 * Resolve the words collected in h->pending to blocks and mark them.  In a heap larger than the cache
 * each word costs a miss on its page's slot, then one on its block and one on the block's state; done
 * a batch at a time, each step's loads are issued for every word before any is waited on, so the
 * misses overlap (marking 4 million blocks held by one table: 0.59-0.85 s one word at a time, 0.28-0.38 s
 * in batches).  A chain of blocks each reached only from the one before gives batches of one word:
 * there the word's target is fetched too, since a word pointing at a block start is that block's first
 * word, scanned next (2 million leaked list nodes in random order: 1.51 s -> 0.97 s).  Full batches
 * do not: their blocks wait on the stack, and fetching them early cost the table's marking 25%.
 */
static inline __attribute__((always_inline)) void resolve_pending(struct scan_heap *h, mark_fn mark)
{
    const struct page_slot *slots[SCAN_BATCH];
    size_t home[SCAN_BATCH];
    long found[SCAN_BATCH];
    size_t n = h->npending;

    h->npending = 0;
    for (size_t k = 0; k < n; k++) {
        home[k] = page_home(h, h->pending[k] >> 12);
        __builtin_prefetch(&h->pages[home[k]]);
        if (n < SCAN_BATCH)         /* few words: following a chain, whose next block is scanned next */
            __builtin_prefetch((const void *)h->pending[k]);
    }
    for (size_t k = 0; k < n; k++) {
        const struct page_slot *slot = page_probe(h, home[k], h->pending[k] >> 12);
        slots[k] = slot;
        found[k] = slot->page ? last_start_at_or_below(h, slot, h->pending[k]) : -1;
        if (found[k] >= 0) {
            __builtin_prefetch(&h->blocks[found[k]]);
            __builtin_prefetch(&h->state[found[k]]);
        }
    }
    for (size_t k = 0; k < n; k++) {
        int interior;
        long i = found[k] < 0 ? -1 : covering(h, slots[k], found[k], h->pending[k], &interior);
        if (i >= 0)
            mark(h, (size_t)i, interior);
    }
}

/* Collect one word for resolve_pending; a full batch is resolved at once. */
static inline __attribute__((always_inline)) void collect(struct scan_heap *h, uintptr_t word, mark_fn mark)
{
    h->pending[h->npending++] = word;
    if (h->npending == SCAN_BATCH)
        resolve_pending(h, mark);
}

/* always_inline: each caller passes a constant mark, which the compiler then inlines into the loop. */
static inline __attribute__((always_inline)) void scan_words(struct scan_heap *h, uintptr_t start,
                                                             uintptr_t end, mark_fn mark)
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
            collect(h, w, mark);
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
                                                             int shared, mark_fn mark)
{
    if (h->pagemap < 0 || shared || end - start < SPARSE_MIN) {
        scan_words(h, start, end, mark);
        return;
    }
    while (start < end) {
        uintptr_t stop;
        if (written_run(h, start, end, &stop))
            scan_words(h, start, stop, mark);
        else
            h->bytes_unwritten += stop - start;
        start = stop;
    }
}

static inline __attribute__((always_inline)) void scan_block_words(struct scan_heap *h, size_t i, mark_fn mark)
{
    scan_range(h, h->blocks[i].addr, h->blocks[i].addr + h->blocks[i].size, 0, mark);
}

/*
 * Blocks are popped from the mark stack in an order unrelated to their addresses: each pop waits on its
 * block's entry and its first words.  The entry of the block popped 16 pops from now and the contents of
 * the one 8 from now are fetched ahead (stress, 4M live blocks held by one array: exit scan 1.33 s ->
 * 0.80-0.91 s; 4 ahead read the same, 16 worse).
 */
#define SCAN_AHEAD 8

/* Scan every block pushed, and resolve every word collected, until neither is left. */
static inline __attribute__((always_inline)) void drain(struct scan_heap *h, mark_fn mark)
{
    for (;;) {
        if (h->stack_top > 0) {
            size_t top = --h->stack_top;
            if (top >= 2 * SCAN_AHEAD) {        /* blocks scanned soon: their entries, then their contents */
                __builtin_prefetch(&h->blocks[h->stack[top - 2 * SCAN_AHEAD]]);
                __builtin_prefetch((const void *)h->blocks[h->stack[top - SCAN_AHEAD]].addr);
            }
            scan_block_words(h, h->stack[top], mark);
        } else if (h->npending > 0) {
            resolve_pending(h, mark);
        } else {
            return;
        }
    }
}

static void drain_reachable(struct scan_heap *h)
{
    drain(h, mark_from_reachable);
}

void scan_root_range(struct scan_heap *h, uintptr_t start, uintptr_t end, int shared)
{
    scan_range(h, start, end, shared, mark_from_reachable);
    drain_reachable(h);
}

void scan_root_word(struct scan_heap *h, uintptr_t word)
{
    collect(h, word, mark_from_reachable);
    drain_reachable(h);
}

void scan_root_block(struct scan_heap *h, size_t i)
{
    scan_block_words(h, i, mark_from_reachable);
    drain_reachable(h);
}

void scan_classify(struct scan_heap *h)
{
    h->stack_top = 0;
    for (size_t i = 0; i < h->count; i++)
        if (h->state[i] == BLOCK_POSSIBLY)
            push(h, i);
    drain(h, mark_from_possibly);

    for (size_t i = 0; i < h->count; i++) {
        if (h->state[i] != UNREACHED)
            continue;
        h->leader = i;
        h->state[i] = BLOCK_DIRECT;
        push(h, i);
        drain(h, mark_from_leaked);
    }
}
