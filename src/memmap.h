/*
 * memmap.h - the process's mappings as /proc/self/maps lists them, read
 * without malloc (the reachability scan runs while other threads are
 * stopped, possibly inside malloc).  Used to clip every root range to memory
 * that can be read.
 */
#ifndef LEAKSCOPE_MEMMAP_H
#define LEAKSCOPE_MEMMAP_H

#include <stddef.h>
#include <stdint.h>

enum {
    MAPPING_READ = 1,
    MAPPING_WRITE = 2,
    MAPPING_HEAP = 4,          /* [heap]: the brk area, where malloc's chunks live */
    MAPPING_SPECIAL = 8,       /* [vvar], [vdso], [vsyscall] */
    MAPPING_FILE = 16,         /* backed by a file */
    MAPPING_STACK = 32,        /* [stack]: the main thread's */
    MAPPING_SHARED = 64,       /* MAP_SHARED: other processes may write its pages */
};

struct mapping {
    uintptr_t start, end;
    unsigned flags;
};

struct memory_map {
    struct mapping *items;
    size_t count, capacity;
    char *text;                /* the read buffer, kept: see memory_map_read */
    int grew;                  /* items were reallocated during this read */
};

/*
 * 0 on success, -1 if /proc/self/maps cannot be read. Reuses m's memory.
 * Nothing is unmapped after the kernel has listed it: a buffer unmapped after
 * the read would still be listed as readable (the kernel merges it with its
 * neighbours, so leakscope's registry no longer cuts it out) and scanning it
 * would fault.  The read buffer is kept, and a read during which the items had
 * to grow is done again.
 */
int memory_map_read(struct memory_map *m);
/* The mapping containing addr, or NULL. */
const struct mapping *memory_map_find(const struct memory_map *m, uintptr_t addr);
void memory_map_release(struct memory_map *m);

/* Call visit for each readable piece of [start, end), with its mapping's flags. */
void memory_map_readable(const struct memory_map *m, uintptr_t start, uintptr_t end,
                         void (*visit)(uintptr_t start, uintptr_t end, unsigned flags, void *arg), void *arg);

#endif
