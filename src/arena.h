/*
 * arena.h - leakscope's own memory, never taken from the program's malloc.
 *
 * Everything the engine keeps (site records, uthash buckets, live-block tables,
 * dump staging buffers) comes from here: small objects from size-class free
 * lists carved out of mmap'd chunks, large ones straight from mmap.  Memory is
 * obtained with the raw mmap system call so that it never passes through the
 * interposed mmap and can be used before anything else is initialised.
 */
#ifndef LEAKSCOPE_ARENA_H
#define LEAKSCOPE_ARENA_H

#include <stddef.h>
#include <stdint.h>

void *meta_alloc(size_t size);             /* zero-filled; NULL when out of memory */
void meta_free(void *ptr, size_t size);    /* size must be the size passed to meta_alloc */
/* Zero-filled, 64-byte aligned, its size rounded up to 64 bytes, not a power of two; never freed
   (meta_free must not be given it).  For records kept for the process's life, as sites. */
void *meta_alloc_lasting(size_t size);

void *meta_map(size_t size);               /* page-granular zeroed mapping, NULL on failure */
size_t meta_map_size(size_t size);         /* what meta_map(size) really maps: whole pages */
/* The same, every page faulted in by the one mmap call (MAP_POPULATE): for a table about to be written
   all over, as a grown rule table or site front, or the scan's copies.  Half the cost of faulting page
   by page. */
void *meta_map_filled(size_t size);
void meta_unmap(void *ptr, size_t size);

size_t meta_bytes_mapped(void);            /* all memory leakscope has mapped, for the benchmark */
size_t meta_bytes_resident(void);          /* the part of it in RAM (mincore) */

/*
 * leakscope's own mappings, so the reachability scan can cut them out of its
 * roots: the kernel merges adjacent anonymous mappings, so a thread's TLS
 * mapping can share a VMA with leakscope's tables.  The scanner holds the
 * registry lock (recursive) from before it stops the world until after.
 */
struct meta_range {
    uintptr_t start, end;
};
void meta_registry_lock(void);
void meta_registry_unlock(void);
/* The mappings, sorted by address, into out (at most max); how many.  Caller holds the registry lock. */
size_t meta_registry_copy(struct meta_range *out, size_t max);

/* fork(): the parent takes the lock before fork, both sides release it after. */
void meta_lock_for_fork(void);
void meta_unlock_after_fork(int in_child);

#endif
