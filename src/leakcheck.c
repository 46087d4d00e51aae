/*
 * leakcheck.c - a whole-process reachability scan (see leakcheck.h).
 *
 * Order matters: the region and live-table locks are taken *before* the
 * other threads are stopped, so no stopped thread can be holding one; while
 * the world stands still this code makes system calls only (no malloc, no
 * loader lock), since a stopped thread may hold malloc's or the loader's.
 * The loaded objects' writable segments are listed before stopping.
 */
#define _GNU_SOURCE
#include "leakcheck.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "arena.h"
#include "memmap.h"
#include "modules.h"
#include "regions.h"
#include "sites.h"
#include "suppress.h"
#include "world.h"

#define STOP_TIMEOUT_MS 500
#define RED_ZONE 128
#define TCB_WINDOW_BELOW (64 * 1024)   /* static TLS sits below the thread pointer */
#define TCB_WINDOW_ABOVE (4 * 1024)    /* struct pthread above it */

struct range {
    uintptr_t start, end;
};

struct segments {
    struct range *items;
    size_t count, capacity;
    uintptr_t skip_start, skip_end;    /* leakscope's own object */
};

static int64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int collect_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct segments *segs = arg;

    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        if (start >= segs->skip_start && end <= segs->skip_end)
            continue;                  /* leakscope's own data is never a root */
        if (segs->count == segs->capacity) {
            size_t cap = segs->capacity ? segs->capacity * 2 : 256;
            struct range *fresh = meta_map(cap * sizeof *fresh);
            if (!fresh)
                return 1;
            if (segs->items)
                memcpy(fresh, segs->items, segs->count * sizeof *fresh);
            meta_unmap(segs->items, segs->capacity * sizeof *segs->items);
            segs->items = fresh;
            segs->capacity = cap;
        }
        segs->items[segs->count++] = (struct range){ start, end };
    }
    return 0;
}

struct root_ctx {
    struct scan_heap *heap;
    uint64_t root_bytes;
    const struct meta_range *own;     /* leakscope's mappings, sorted: never roots */
    size_t nown;
};

/* A readable piece of a root range, less leakscope's own mappings. */
static void scan_piece(uintptr_t start, uintptr_t end, unsigned flags, void *arg)
{
    struct root_ctx *ctx = arg;
    int shared = (flags & MAPPING_SHARED) != 0;

    for (size_t i = 0; i < ctx->nown && start < end; i++) {
        const struct meta_range *own = &ctx->own[i];
        if (own->end <= start)
            continue;
        if (own->start >= end)
            break;
        if (own->start > start) {
            ctx->root_bytes += own->start - start;
            scan_root_range(ctx->heap, start, own->start, shared);
        }
        start = own->end;
    }
    if (start < end) {
        ctx->root_bytes += end - start;
        scan_root_range(ctx->heap, start, end, shared);
    }
}

static void root(struct root_ctx *ctx, const struct memory_map *map, uintptr_t start, uintptr_t end)
{
    if (start < end)
        memory_map_readable(map, start, end, scan_piece, ctx);
}

/* A thread's stack from sp (less the red zone) to the top of its mapping. */
static void root_stack(struct root_ctx *ctx, const struct memory_map *map, uintptr_t sp, uintptr_t *top)
{
    const struct mapping *m = memory_map_find(map, sp);

    *top = 0;
    if (!m)
        return;
    uintptr_t from = sp - RED_ZONE >= m->start ? sp - RED_ZONE : m->start;
    *top = m->end;
    root(ctx, map, from, m->end);
}

/*
 * Thread-local storage: static TLS lies just below the thread pointer (for
 * threads other than the main one it is inside the stack mapping, above sp,
 * and already scanned); dynamically allocated TLS blocks hang off the DTV,
 * which the TCB references only through an interior pointer (dtv + 1).
 */
static void root_tls(struct root_ctx *ctx, const struct memory_map *map, uintptr_t tcb, uintptr_t sp,
                     uintptr_t stack_top)
{
    if (!tcb)
        return;
    if (!(tcb >= sp && tcb < stack_top)) {
        const struct mapping *m = memory_map_find(map, tcb);
        if (m && !(m->flags & MAPPING_HEAP) && m->end - m->start <= 16u << 20)
            root(ctx, map, m->start, m->end);
        else
            root(ctx, map, tcb - TCB_WINDOW_BELOW, tcb + TCB_WINDOW_ABOVE);
    }
    const struct mapping *m = memory_map_find(map, tcb + 8);
    if (!m || !(m->flags & MAPPING_READ))
        return;
    uintptr_t dtv = ((const uintptr_t *)tcb)[1];
    int interior;
    long i = scan_find_block(ctx->heap, dtv, &interior);
    if (i >= 0) {
        scan_root_block(ctx->heap, (size_t)i);
        return;
    }
    /* The main thread's DTV comes from the loader's start-up allocator: not a tracked block. */
    m = memory_map_find(map, dtv - 16);
    if (!m || !(m->flags & MAPPING_READ) || dtv - 16 < m->start)
        return;
    size_t entries = ((const size_t *)dtv)[-2];
    if (entries > 4096)
        entries = 4096;
    uintptr_t end = dtv + (entries + 1) * 16;
    root(ctx, map, dtv - 16, end < m->end ? end : m->end);
}

static void root_registers(struct root_ctx *ctx, const uintptr_t *regs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        scan_root_word(ctx->heap, regs[i]);
}

static void tally(struct leak_scan *out)
{
    memset(out->bytes, 0, sizeof out->bytes);
    memset(out->blocks_in, 0, sizeof out->blocks_in);
    for (size_t i = 0; i < out->count; i++) {
        out->bytes[out->state[i]] += out->blocks[i].size;
        out->blocks_in[out->state[i]]++;
    }
}

/* Buffers reused from scan to scan, in leakscope's own memory. */
static struct {
    struct live_block *blocks, *scratch;
    size_t blocks_cap, states_cap, pages_cap, regions_cap;
    uint8_t *states;
    uint32_t *stack;
    struct page_slot *pages;
    struct region *regions;
    struct memory_map map;
} buf;

static struct copy_result *shared;     /* a fork()ed scan's results (see fork_scan) */
static size_t shared_bytes;

size_t leakcheck_buffer_bytes(void)
{
    return meta_map_size(buf.blocks_cap * sizeof *buf.blocks) +
           meta_map_size(buf.states_cap * sizeof *buf.scratch) + meta_map_size(buf.states_cap) +
           meta_map_size(buf.states_cap * sizeof *buf.stack) + meta_map_size(buf.pages_cap * sizeof *buf.pages) +
           meta_map_size(buf.regions_cap * sizeof *buf.regions) + meta_map_size(shared_bytes);
}

void leakcheck_release_buffers(void)
{
    meta_unmap(buf.blocks, buf.blocks_cap * sizeof *buf.blocks);
    meta_unmap(buf.scratch, buf.states_cap * sizeof *buf.scratch);
    meta_unmap(buf.states, buf.states_cap);
    meta_unmap(buf.stack, buf.states_cap * sizeof *buf.stack);
    meta_unmap(buf.pages, buf.pages_cap * sizeof *buf.pages);
    meta_unmap(buf.regions, buf.regions_cap * sizeof *buf.regions);
    buf.blocks = buf.scratch = NULL;
    buf.states = NULL;
    buf.stack = NULL;
    buf.pages = NULL;
    buf.regions = NULL;
    buf.blocks_cap = buf.states_cap = buf.pages_cap = buf.regions_cap = 0;
    if (shared)
        syscall(SYS_munmap, shared, shared_bytes);
    shared = NULL;
    shared_bytes = 0;
}

struct frozen {
    const struct segments *segs;
    const struct world *world;
    int scanner_is_program_thread;
    uintptr_t own_sp, own_tcb;
};

/*
 * Snapshot, index and classify, while nothing else runs: either the world is
 * stopped, or this is the fork()ed copy.  System calls only.  Returns 0 and
 * fills out's blocks, states and byte counts; -1 when out of memory.
 */
static int scan_frozen(const struct frozen *f, struct leak_scan *out)
{
    size_t count = live_copy_locked(&buf.blocks, &buf.blocks_cap);
    size_t nregions = regions_copy_locked(&buf.regions, &buf.regions_cap);
    if (count > buf.states_cap) {
        meta_unmap(buf.states, buf.states_cap);
        meta_unmap(buf.stack, buf.states_cap * sizeof *buf.stack);
        meta_unmap(buf.scratch, buf.states_cap * sizeof *buf.scratch);
        buf.states_cap = count + count / 4 + 1024;
        /* The states and the sort's scratch are written for every block while the world is stopped:
           faulted in by one call each; the mark stack only as deep as it gets. */
        buf.states = meta_map_filled(buf.states_cap);
        buf.stack = meta_map(buf.states_cap * sizeof *buf.stack);
        buf.scratch = meta_map_filled(buf.states_cap * sizeof *buf.scratch);
    }
    if (!buf.states || !buf.stack || !buf.scratch)
        return -1;
    scan_sort_blocks(buf.blocks, buf.scratch, count);
    size_t page_capacity = scan_page_slots_needed(buf.blocks, count);
    if (page_capacity > buf.pages_cap) {
        meta_unmap(buf.pages, buf.pages_cap * sizeof *buf.pages);
        buf.pages_cap = page_capacity;
        buf.pages = meta_map_filled(buf.pages_cap * sizeof *buf.pages);     /* zeroed whole below */
    }
    if (!buf.pages)
        return -1;

    struct scan_heap heap = { .blocks = buf.blocks, .state = buf.states, .count = count, .stack = buf.stack,
                              .pages = buf.pages, .page_capacity = page_capacity, .pagemap = -1 };
    struct root_ctx ctx = { .heap = &heap };
    static struct meta_range own[4096];
    /* What is readable, read once every buffer of this scan is in place: a buffer replaced after the
       read would be listed as readable memory that is gone. */
    if (memory_map_read(&buf.map) != 0)
        return -1;
    heap.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);   /* without it, every page is read */
    ctx.own = own;
    ctx.nown = meta_registry_copy(own, sizeof own / sizeof *own);   /* after our own buffers exist */
    memset(buf.states, 0, count);
    memset(buf.pages, 0, page_capacity * sizeof *buf.pages);
    scan_index_pages(&heap);

    for (size_t i = 0; i < f->segs->count; i++)
        root(&ctx, &buf.map, f->segs->items[i].start, f->segs->items[i].end);
    for (size_t i = 0; i < nregions; i++)
        root(&ctx, &buf.map, buf.regions[i].start, buf.regions[i].start + buf.regions[i].len);
    for (size_t i = 0; i < f->world->count; i++) {
        const struct stopped_thread *t = &f->world->threads[i];
        uintptr_t top = 0;
        if (t->answered)
            root_registers(&ctx, t->regs, WORLD_REGS);
        if (t->sp)
            root_stack(&ctx, &buf.map, t->sp, &top);
        else
            out->unresponsive_no_stack++;
        if (t->answered)
            root_tls(&ctx, &buf.map, t->tcb, t->sp, top);
    }
    if (f->scanner_is_program_thread) {
        uintptr_t top;
        root_stack(&ctx, &buf.map, f->own_sp, &top);
        root_tls(&ctx, &buf.map, f->own_tcb, f->own_sp, top);
    }
    scan_classify(&heap);
    if (heap.pagemap >= 0)
        close(heap.pagemap);
    out->blocks = buf.blocks;
    out->state = buf.states;
    out->count = count;
    out->bytes_scanned = heap.bytes_scanned;
    out->bytes_unwritten = heap.bytes_unwritten;
    out->root_bytes = ctx.root_bytes;
    return 0;
}

/* What the fork()ed copy hands back, at the start of a shared mapping; blocks and states follow. */
struct copy_result {
    int done;
    size_t count;
    uint64_t bytes_scanned, bytes_unwritten, root_bytes;
    size_t unresponsive_no_stack;
    int64_t scan_ns;
};

static size_t shared_size(size_t count)
{
    return sizeof(struct copy_result) + count * (sizeof(struct live_block) + 1) + 4096;
}

/*
 * Fork a copy of the stopped process and scan it there.  Returns the child's
 * pid (the parent resumes the world right away), or -1 if no copy could be
 * made.  The child is created with a raw clone and exit signal 0: no atfork
 * handler runs, no SIGCHLD reaches the program and its waitpid(-1) never
 * sees the child.
 */
static pid_t fork_scan(const struct frozen *f, size_t live_blocks)
{
    size_t need = shared_size(live_blocks);

    if (need > shared_bytes) {
        if (shared)
            syscall(SYS_munmap, shared, shared_bytes);
        long p = syscall(SYS_mmap, NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p < 0 && p > -4096) {
            shared = NULL;
            shared_bytes = 0;
            return -1;
        }
        shared = (struct copy_result *)p;
        shared_bytes = need;
    }
    shared->done = 0;
    long child = syscall(SYS_clone, 0, NULL, NULL, NULL, NULL);    /* fork(), exit signal 0 */
    if (child != 0)
        return (pid_t)child;

    /* The copy: only this thread exists; every lock is as the parent held it, so take none. */
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    struct leak_scan result;
    memset(&result, 0, sizeof result);
    if (scan_frozen(f, &result) == 0 && result.count <= live_blocks) {
        struct live_block *blocks = (struct live_block *)(shared + 1);
        uint8_t *states = (uint8_t *)(blocks + result.count);
        memcpy(blocks, result.blocks, result.count * sizeof *blocks);
        memcpy(states, result.state, result.count);
        shared->count = result.count;
        shared->bytes_scanned = result.bytes_scanned;
        shared->bytes_unwritten = result.bytes_unwritten;
        shared->root_bytes = result.root_bytes;
        shared->unresponsive_no_stack = result.unresponsive_no_stack;
        shared->scan_ns = now_ns(CLOCK_MONOTONIC) - t0;
        __atomic_store_n(&shared->done, 1, __ATOMIC_RELEASE);
    }
    syscall(SYS_exit_group, 0);
    return 0;
}

int leakcheck_run(int scanner_is_program_thread, pid_t skip_tid, int stop_method, int in_copy,
                  struct leak_scan *out)
{
    struct segments segs = { 0 };
    struct world world;
    int64_t started = now_ns(CLOCK_MONOTONIC);
    uintptr_t self_start = 0, self_end = 0;

    memset(out, 0, sizeof *out);
    /* Without /proc there is no telling which memory is readable, nor which threads exist: every root
       would be clipped away and every block would look leaked.  No scan beats a wrong one. */
    if (access("/proc/self/maps", R_OK) != 0 || access("/proc/self/task", R_OK) != 0)
        return -2;
    module_range_of((const void *)leakcheck_run, &self_start, &self_end);
    segs.skip_start = self_start;
    segs.skip_end = self_end;
    dl_iterate_phdr(collect_segment, &segs);

    /* The scanner's own registers land in its stack frame, which is scanned from here up. */
    ucontext_t own;
    getcontext(&own);
    struct frozen f = { &segs, &world, scanner_is_program_thread, (uintptr_t)&own, (uintptr_t)pthread_self() };

    meta_registry_lock();          /* before the world stops: no stopped thread may hold it */
    regions_lock();
    live_lock_all();
    out->time_unix_ns = now_ns(CLOCK_REALTIME);
    int64_t stop_started = now_ns(CLOCK_MONOTONIC);
    if (world_stop(&world, skip_tid, STOP_TIMEOUT_MS, stop_method) != 0) {
        live_unlock_all();
        regions_unlock(0);
        meta_registry_unlock();
        meta_unmap(segs.items, segs.capacity * sizeof *segs.items);
        return -1;
    }
    out->signal = world.signal;
    out->stop_method = world.method;
    out->threads = world.count;
    out->unresponsive = world.unresponsive;

    pid_t child = in_copy ? fork_scan(&f, live_count()) : -1;
    int rc = 0;
    if (child < 0)
        rc = scan_frozen(&f, out);
    world_resume(&world);
    out->pause_ns = now_ns(CLOCK_MONOTONIC) - stop_started;
    live_unlock_all();
    regions_unlock(0);
    meta_registry_unlock();
    meta_unmap(segs.items, segs.capacity * sizeof *segs.items);

    if (child > 0) {
        int status = 0;
        while (syscall(SYS_wait4, child, &status, __WALL, NULL) < 0 && errno == EINTR)
            ;
        if (!__atomic_load_n(&shared->done, __ATOMIC_ACQUIRE))
            return -1;                     /* the copy failed (out of memory, or killed) */
        out->blocks = (struct live_block *)(shared + 1);
        out->state = (uint8_t *)(out->blocks + shared->count);
        out->count = shared->count;
        out->bytes_scanned = shared->bytes_scanned;
        out->bytes_unwritten = shared->bytes_unwritten;
        out->root_bytes = shared->root_bytes;
        out->unresponsive_no_stack = shared->unresponsive_no_stack;
        out->in_copy = 1;
    }
    if (rc != 0)
        return -1;
    tally(out);
    out->total_ns = now_ns(CLOCK_MONOTONIC) - started;
    return 0;
}

struct loader_range {
    uintptr_t start, end;
};

static void find_loader(const struct module_info *mod, void *arg)
{
    struct loader_range *r = arg;

    if (mod->is_loader) {
        r->start = mod->start;
        r->end = mod->end;
    }
}

static int site_suppressed(const struct site *s, const char *const *patterns, int npatterns,
                           const struct loader_range *loader)
{
    if (s->depth > 0 && s->pcs[0] >= loader->start && s->pcs[0] < loader->end)
        return 1;
    for (int f = 0; f < s->depth && npatterns > 0; f++) {
        Dl_info info;
        if (!dladdr((void *)(s->pcs[f] - 1), &info))
            continue;
        for (int p = 0; p < npatterns; p++)
            if (suppression_matches(patterns[p], info.dli_sname) ||
                suppression_matches(patterns[p], info.dli_fname))
                return 1;
    }
    return 0;
}

void leakcheck_totals(const struct leak_scan *scan, const char *const *patterns, int npatterns,
                      struct leak_totals *out)
{
    struct loader_range loader = { 0, 0 };
    uint32_t nsites = site_count();
    uint8_t *verdict = meta_map(nsites + 1);              /* 0 unknown, 1 kept, 2 suppressed */
    uint64_t *leaked = meta_map((nsites + 1) * 2 * sizeof *leaked);

    memset(out, 0, sizeof *out);
    modules_for_each(find_loader, &loader);
    for (size_t i = 0; i < scan->count; i++) {
        const struct live_block *b = &scan->blocks[i];
        int state = scan->state[i];
        if (state == BLOCK_POSSIBLY || state == BLOCK_INDIRECT || state == BLOCK_DIRECT) {
            if (verdict && b->site < nsites && verdict[b->site] == 0) {
                const struct site *s = site_by_id(b->site);
                verdict[b->site] = s && site_suppressed(s, patterns, npatterns, &loader) ? 2 : 1;
            }
            if (verdict && b->site < nsites && verdict[b->site] == 2) {
                out->suppressed_bytes += b->size;
                out->suppressed_blocks++;
                continue;
            }
            if (leaked && b->site < nsites && state != BLOCK_POSSIBLY) {
                leaked[2 * b->site] += b->size;
                leaked[2 * b->site + 1]++;
            }
        }
        out->bytes[state] += b->size;
        out->blocks[state]++;
    }
    for (uint32_t id = 0; leaked && id < nsites; id++) {
        if (leaked[2 * id] > out->top_bytes) {
            out->top_bytes = leaked[2 * id];
            out->top_blocks = leaked[2 * id + 1];
            out->top_site = id;
        }
    }
    meta_unmap(verdict, nsites + 1);
    meta_unmap(leaked, (nsites + 1) * 2 * sizeof *leaked);
}
