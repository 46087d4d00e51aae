/*
 * scan.h - the conservative reachability scan: which tracked blocks can the
 * program still reach, and how are the others lost.
 *
 * Rules (valgrind memcheck's, so answers can be compared):
 *  - roots are given as address ranges and register words;
 *  - a word equal to a block's start reaches it; a word inside a block only
 *    "possibly" reaches it;
 *  - reached blocks are scanned in turn (flood fill): start pointers from a
 *    reachable block make reachable, anything from a possibly-reached block
 *    makes possibly reached;
 *  - the rest is leaked: walking the leaked blocks in address order, each one
 *    not yet claimed leads a clique and everything it reaches is indirect;
 *    a leader reached from a later clique becomes indirect too.  What leads
 *    at the end is direct: one block per unreferenced structure or cycle.
 *
 * The scan reads memory only; it never allocates through malloc.
 */
#ifndef LEAKSCOPE_SCAN_H
#define LEAKSCOPE_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "live.h"

enum block_state {
    BLOCK_UNSCANNED = 0,
    BLOCK_REACHABLE = 1,
    BLOCK_POSSIBLY = 2,
    BLOCK_INDIRECT = 3,
    BLOCK_DIRECT = 4,
};
#define BLOCK_STATES 5

const char *block_state_name(int state);   /* "reachable", "possibly", ... */

/*
 * One heap page in the scan's page index.  A word is resolved to its block without a binary search:
 * the block covering an address is the last one starting at or below it, and its index is the page's
 * first plus how many blocks start between the page's start and the address (a count kept for each
 * 64 granules plus a popcount of the start bits), one slot read instead of a search through the
 * sorted blocks.
 */
struct page_slot {
    uint64_t page;               /* address >> 12, plus one (0 = empty) */
    uint32_t first;              /* the first block overlapping that page */
    uint32_t count;              /* how many overlap it; PAGE_SLOT_SEARCH: find by binary search */
    uint64_t starts[4];          /* bit k: a block starts in the page's 16-byte granule k */
    uint8_t before[4];           /* blocks begun before starts[k]'s granules (on this page or earlier) */
};
/* Set in count when two blocks start in one granule (never for malloc's blocks, 16-aligned and at least
   32 bytes apart): the start bits cannot tell them apart, so that page is searched. */
#define PAGE_SLOT_SEARCH (1u << 31)

#define SCAN_BATCH 16              /* words resolved together (see scan.c's resolve_pending) */

struct scan_heap {
    struct live_block *blocks;   /* sorted by address (scan_sort_blocks) */
    struct page_slot *pages;     /* page index (scan_index_pages), capacity a power of two */
    size_t page_capacity;
    uint8_t *state;              /* one per block */
    size_t count;
    uint32_t *stack;             /* mark stack, capacity count */
    size_t stack_top;
    size_t leader;               /* the clique being flooded */
    uintptr_t pending[SCAN_BATCH];   /* words seen, not yet resolved to blocks */
    size_t npending;
    uint64_t bytes_scanned;      /* roots and blocks read */
    uint64_t bytes_unwritten;    /* skipped: pages the process never wrote (see scan_root_range) */
    int pagemap;                 /* /proc/self/pagemap open for reading, or -1: every page is read */
};

/* Sort by address; scratch must hold count blocks. */
void scan_sort_blocks(struct live_block *blocks, struct live_block *scratch, size_t count);

/* Slots the page index needs for these (sorted) blocks, to size h->pages. */
size_t scan_page_slots_needed(const struct live_block *blocks, size_t count);
/* Build the page index into h->pages (h->page_capacity slots, a power of two, zeroed). */
void scan_index_pages(struct scan_heap *h);

/* Index of the block containing addr, or -1; *interior says whether addr is past its start. */
long scan_find_block(const struct scan_heap *h, uintptr_t addr, int *interior);

/*
 * Treat [start, end) as a root: every aligned word in it.  With h->pagemap, pages of a private range
 * (and of any block) that the process never wrote, neither in memory nor swapped out, are skipped:
 * they hold zeros or what a file holds, never the address of a block malloc handed out while the
 * program ran, and reading them would fault each one in.  Pass shared = 1 for a MAP_SHARED range
 * (another process may have written its pages).
 */
void scan_root_range(struct scan_heap *h, uintptr_t start, uintptr_t end, int shared);
/* Treat one word (a register) as a root. */
void scan_root_word(struct scan_heap *h, uintptr_t word);
/* The contents of block i as a root, without changing its own state (TLS blocks). */
void scan_root_block(struct scan_heap *h, size_t i);

/* After all roots: finish marking and classify every block. */
void scan_classify(struct scan_heap *h);

#endif
