/*
 * arena.c - leakscope's private allocator (see arena.h).
 *
 * Small requests (<= META_SMALL_MAX) are rounded up to a power of two and
 * served from per-class free lists, refilled by bump allocation in 1 MiB
 * chunks.  Freed small objects go back to their class list; chunks are never
 * returned, which suits metadata that mostly grows.  Larger requests are
 * separate mappings.  One mutex guards the lists; it is only taken when a new
 * call site is seen or a hash table grows, never per allocation.
 */
#define _GNU_SOURCE
#include "arena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define META_MIN_SHIFT 4                     /* 16 bytes */
#define META_SMALL_MAX (64 * 1024)
#define META_CLASSES 13                      /* 16 B .. 64 KiB */
#define META_CHUNK (1024 * 1024)

struct free_node {
    struct free_node *next;
};

static pthread_mutex_t meta_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Every mapping leakscope holds, so its resident size can be measured (mincore). */
#define MAPPINGS_MAX 4096
static struct { void *addr; size_t len; } mappings[MAPPINGS_MAX];
static size_t nmappings;
static int mappings_overflowed;
static pthread_mutex_t mappings_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void remember(void *addr, size_t len)
{
    pthread_mutex_lock(&mappings_mutex);
    if (nmappings < MAPPINGS_MAX)
        mappings[nmappings++].addr = addr, mappings[nmappings - 1].len = len;
    else
        mappings_overflowed = 1;
    pthread_mutex_unlock(&mappings_mutex);
}

static void forget(void *addr)
{
    pthread_mutex_lock(&mappings_mutex);
    for (size_t i = 0; i < nmappings; i++)
        if (mappings[i].addr == addr) {
            mappings[i] = mappings[--nmappings];
            break;
        }
    pthread_mutex_unlock(&mappings_mutex);
}

size_t meta_bytes_resident(void)
{
    static unsigned char vec[4096];
    size_t resident = 0;

    pthread_mutex_lock(&mappings_mutex);
    if (mappings_overflowed) {
        pthread_mutex_unlock(&mappings_mutex);
        return meta_bytes_mapped();
    }
    for (size_t i = 0; i < nmappings; i++) {
        char *at = mappings[i].addr, *end = at + mappings[i].len;
        while (at < end) {
            size_t len = (size_t)(end - at) < sizeof vec * 4096 ? (size_t)(end - at) : sizeof vec * 4096;
            if (syscall(SYS_mincore, at, len, vec) != 0)
                break;
            for (size_t k = 0; k < (len + 4095) / 4096; k++)
                resident += (vec[k] & 1) * 4096;
            at += len;
        }
    }
    pthread_mutex_unlock(&mappings_mutex);
    return resident;
}
static struct free_node *free_lists[META_CLASSES];
static char *chunk_cursor, *chunk_end;
static atomic_size_t bytes_mapped;

size_t meta_map_size(size_t size)
{
    size_t page = 4096;
    return (size + page - 1) & ~(page - 1);
}

static void *map_pages(size_t size, int flags)
{
    size = meta_map_size(size);
    long p = syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (p < 0 && p > -4096)
        return NULL;
    atomic_fetch_add_explicit(&bytes_mapped, size, memory_order_relaxed);
    remember((void *)p, size);
    return (void *)p;
}

void *meta_map(size_t size)
{
    return map_pages(size, 0);
}

void *meta_map_filled(size_t size)
{
    return map_pages(size, MAP_POPULATE);
}

void meta_unmap(void *ptr, size_t size)
{
    if (!ptr)
        return;
    size = meta_map_size(size);
    forget(ptr);
    syscall(SYS_munmap, ptr, size);
    atomic_fetch_sub_explicit(&bytes_mapped, size, memory_order_relaxed);
}

static int size_class(size_t size)
{
    int cls = 0;
    size_t cap = (size_t)1 << META_MIN_SHIFT;

    while (cap < size) {
        cap <<= 1;
        cls++;
    }
    return cls;
}

/* bytes from the current chunk at an alignment up to 64 (meta_mutex held); chunks are page-aligned and
   a megabyte, a multiple of every alignment, so aligning never passes the end. */
static void *bump(size_t bytes, size_t align)
{
    if (chunk_cursor)
        chunk_cursor = (char *)(((uintptr_t)chunk_cursor + align - 1) & ~(uintptr_t)(align - 1));
    if (chunk_cursor == NULL || (size_t)(chunk_end - chunk_cursor) < bytes) {
        /* The first chunk is faulted in as it is used (a short program touches a few pages of it); a
           program that needs a second will fill it too, and populating it at once costs half as much. */
        static int chunks_made;
        char *chunk = chunks_made++ ? meta_map_filled(META_CHUNK) : meta_map(META_CHUNK);
        if (chunk) {
            chunk_cursor = chunk;
            chunk_end = chunk + META_CHUNK;
        }
    }
    if (!chunk_cursor || (size_t)(chunk_end - chunk_cursor) < bytes)
        return NULL;
    void *result = chunk_cursor;      /* fresh mapping: already zero */
    chunk_cursor += bytes;
    return result;
}

void *meta_alloc_lasting(size_t size)
{
    size = (size + 63) & ~(size_t)63;
    if (size > META_SMALL_MAX)
        return meta_map(size);
    pthread_mutex_lock(&meta_mutex);
    void *result = bump(size, 64);
    pthread_mutex_unlock(&meta_mutex);
    return result;
}

void *meta_alloc(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > META_SMALL_MAX)
        return meta_map(size);

    int cls = size_class(size);
    size_t cap = (size_t)1 << (cls + META_MIN_SHIFT);
    void *result = NULL;

    pthread_mutex_lock(&meta_mutex);
    if (free_lists[cls]) {
        struct free_node *node = free_lists[cls];
        free_lists[cls] = node->next;
        result = node;
        memset(result, 0, cap);
    } else {
        /* Aligned to the size class up to a cache line (a 64-byte header is one line). */
        result = bump(cap, cap < 64 ? cap : 64);
    }
    pthread_mutex_unlock(&meta_mutex);
    return result;
}

void meta_free(void *ptr, size_t size)
{
    if (!ptr)
        return;
    if (size == 0)
        size = 1;
    if (size > META_SMALL_MAX) {
        meta_unmap(ptr, size);
        return;
    }
    int cls = size_class(size);
    struct free_node *node = ptr;

    pthread_mutex_lock(&meta_mutex);
    node->next = free_lists[cls];
    free_lists[cls] = node;
    pthread_mutex_unlock(&meta_mutex);
}

size_t meta_bytes_mapped(void)
{
    return atomic_load_explicit(&bytes_mapped, memory_order_relaxed);
}

void meta_lock_for_fork(void)
{
    pthread_mutex_lock(&meta_mutex);
    pthread_mutex_lock(&mappings_mutex);
}

void meta_unlock_after_fork(int in_child)
{
    if (in_child) {
        pthread_mutexattr_t recursive;
        pthread_mutexattr_init(&recursive);
        pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&meta_mutex, NULL);
        pthread_mutex_init(&mappings_mutex, &recursive);
        pthread_mutexattr_destroy(&recursive);
    } else {
        pthread_mutex_unlock(&mappings_mutex);
        pthread_mutex_unlock(&meta_mutex);
    }
}

void meta_registry_lock(void)
{
    pthread_mutex_lock(&mappings_mutex);
}

void meta_registry_unlock(void)
{
    pthread_mutex_unlock(&mappings_mutex);
}

size_t meta_registry_copy(struct meta_range *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < nmappings && n < max; i++, n++) {
        /* Insertion sort: the registry is small. */
        struct meta_range r = { (uintptr_t)mappings[i].addr, (uintptr_t)mappings[i].addr + mappings[i].len };
        size_t at = n;
        while (at > 0 && out[at - 1].start > r.start) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = r;
    }
    return n;
}
