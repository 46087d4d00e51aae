/*
 * memmap.c - /proc/self/maps, parsed into a sorted array (see memmap.h).
 */
#define _GNU_SOURCE
#include "memmap.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena.h"

#define READ_CHUNK 65536

static int grow(struct memory_map *m)
{
    size_t capacity = m->capacity ? m->capacity * 2 : 1024;
    struct mapping *fresh = meta_map(capacity * sizeof *fresh);

    if (!fresh)
        return -1;
    if (m->items)
        memcpy(fresh, m->items, m->count * sizeof *fresh);
    meta_unmap(m->items, m->capacity * sizeof *m->items);
    m->items = fresh;
    m->capacity = capacity;
    m->grew = 1;
    return 0;
}

static uintptr_t parse_hex(const char **p)
{
    uintptr_t v = 0;

    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* One line: "start-end perms offset dev inode   path". */
static int parse_line(struct memory_map *m, const char *line, const char *end)
{
    struct mapping map = { 0 };
    const char *p = line;

    map.start = parse_hex(&p);
    if (*p++ != '-')
        return 0;
    map.end = parse_hex(&p);
    if (*p++ != ' ' || end - p < 4)
        return 0;
    if (p[0] == 'r')
        map.flags |= MAPPING_READ;
    if (p[1] == 'w')
        map.flags |= MAPPING_WRITE;
    if (p[3] == 's')
        map.flags |= MAPPING_SHARED;
    /* Skip perms, offset, dev, inode: the path (if any) starts after them. */
    int fields = 0;
    while (p < end && fields < 4) {
        while (p < end && *p != ' ')
            p++;
        while (p < end && *p == ' ')
            p++;
        fields++;
    }
    size_t path_len = (size_t)(end - p);
    if (path_len > 0 && p[0] == '/')
        map.flags |= MAPPING_FILE;
    else if (path_len == 6 && memcmp(p, "[heap]", 6) == 0)
        map.flags |= MAPPING_HEAP;
    else if (path_len == 7 && memcmp(p, "[stack]", 7) == 0)
        map.flags |= MAPPING_STACK;
    else if (path_len > 0 && p[0] == '[' && (memcmp(p, "[vvar", 5) == 0 || memcmp(p, "[vdso", 5) == 0 ||
                                              memcmp(p, "[vsyscall", 9) == 0))
        map.flags |= MAPPING_SPECIAL;
    if (m->count == m->capacity && grow(m) != 0)
        return -1;
    m->items[m->count++] = map;
    return 0;
}

static int read_once(struct memory_map *m)
{
    char *buf = m->text;
    size_t have = 0;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);

    m->count = 0;
    m->grew = 0;
    if (fd < 0)
        return -1;
    for (;;) {
        long n = syscall(SYS_read, fd, buf + have, READ_CHUNK - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        /* Parse every complete line, keep the partial one for the next read. */
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            parse_line(m, line, nl);
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == READ_CHUNK)
            have = 0;                  /* an absurdly long line: drop it */
    }
    syscall(SYS_close, fd);
    return 0;
}

int memory_map_read(struct memory_map *m)
{
    if (!m->text && !(m->text = meta_map(READ_CHUNK)))
        return -1;
    for (int tries = 0; tries < 8; tries++) {
        if (read_once(m) != 0)
            return -1;
        if (!m->grew)
            return 0;
    }
    m->count = 0;                      /* never settled: nothing is known readable */
    return -1;
}

const struct mapping *memory_map_find(const struct memory_map *m, uintptr_t addr)
{
    size_t lo = 0, hi = m->count;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->items[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->count && m->items[lo].start <= addr ? &m->items[lo] : NULL;
}

void memory_map_readable(const struct memory_map *m, uintptr_t start, uintptr_t end,
                         void (*visit)(uintptr_t start, uintptr_t end, unsigned flags, void *arg), void *arg)
{
    size_t lo = 0, hi = m->count;

    while (lo < hi) {                       /* first mapping that ends after start */
        size_t mid = (lo + hi) / 2;
        if (m->items[mid].end <= start)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < m->count && m->items[i].start < end; i++) {
        const struct mapping *map = &m->items[i];
        if (map->end <= start || !(map->flags & MAPPING_READ) || (map->flags & MAPPING_SPECIAL))
            continue;
        uintptr_t lo = map->start > start ? map->start : start;
        uintptr_t hi = map->end < end ? map->end : end;
        if (lo < hi)
            visit(lo, hi, map->flags, arg);
    }
}

void memory_map_release(struct memory_map *m)
{
    meta_unmap(m->items, m->capacity * sizeof *m->items);
    meta_unmap(m->text, READ_CHUNK);
    m->items = NULL;
    m->text = NULL;
    m->count = m->capacity = 0;
}
