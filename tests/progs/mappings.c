/*
 * mappings: map_arena() maps 16 pages; 4 pages in the middle are unmapped
 * (12 pages left in 2 regions).  grow_table() maps 2 pages and mremaps them
 * to 8.  release_pages() madvises 2 pages MADV_FREE and 1 MADV_DONTNEED.
 * A file mapping is made and is not tracked.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

__attribute__((noinline)) static char *map_arena(void)
{
    return mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

__attribute__((noinline)) static char *grow_table(void)
{
    char *t = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return mremap(t, 2 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
}

__attribute__((noinline)) static void release_pages(char *arena)
{
    madvise(arena, 2 * PAGE, MADV_FREE);
    madvise(arena + 12 * PAGE, PAGE, MADV_DONTNEED);
}

int main(void)
{
    char *arena = map_arena();
    memset(arena, 1, 16 * PAGE);
    munmap(arena + 6 * PAGE, 4 * PAGE);
    char *table = grow_table();
    memset(table, 2, 8 * PAGE);
    release_pages(arena);
    int fd = open("/proc/self/exe", O_RDONLY);
    void *file = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("mapped %s %s\n", arena != MAP_FAILED && table != MAP_FAILED ? "ok" : "failed",
           file != MAP_FAILED ? "file-ok" : "file-failed");
    return 0;
}
