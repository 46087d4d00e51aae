/*
 * leaks MODE: one reachability situation per mode, each allocated from a
 * named function so tests can find its blocks, then the program exits and
 * the exit scan classifies them.  Dead stack is scrubbed after pointers are
 * dropped (as the shared scenarios do), so stale copies cannot pass for
 * references.
 *
 *   lost      lose_block: 1 block of 100 bytes, pointer dropped          -> direct
 *   tree      tree_node: a root and 6 descendants (64 B), root dropped   -> 1 direct, 6 indirect
 *   cycles    cycle_node: a 2-cycle and a 10-ring (32 B), all dropped    -> 2 direct, 10 indirect
 *   interior  interior_block: 256 B, only ptr+16 kept in a global        -> possibly
 *   register  register_block: 128 B, held only in a register of a spinning thread -> reachable
 *   stack     stack_block: 128 B, held only on a blocked thread's stack  -> reachable
 *   tls       tls_block: 2 x 128 B, held only in __thread variables (main and a thread) -> reachable
 *   arena     arena_block: 128 B, held only in an anonymous mmap region  -> reachable
 *   global    global_block: 128 B, held only in a global                 -> reachable
 *   xor       xor_block: 128 B, its address kept XORed with a key        -> direct
 *   clean     clean_block: 100 blocks, all freed                          -> nothing at that site
 *   list      list_node: 100,000 nodes of a list hanging off a global     -> all reachable
 *   masked    masked_block: 128 B on the stack of a thread that blocks every signal
 *             (it cannot stop for the scan; its stack is found through /proc) -> reachable
 *   sparse    sparse_block: 3 x 128 B, each held only by one word far into 64 MiB that is
 *             otherwise never written: a private mmap region, a malloc'd block, and a
 *             MAP_SHARED region (1 MiB)                                   -> reachable
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *volatile keep;
static volatile uintptr_t keep_xor;    /* volatile: compilers may not drop the allocation */
static __thread void *volatile tls_slot;   /* volatile: never read, the store must stay */
static volatile int ready;

__attribute__((noinline)) static void scrub_stack(void)
{
    char pad[64 * 1024];
    explicit_bzero(pad, sizeof pad);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void *lose_block(void) { return malloc(100); }
__attribute__((noinline)) static void *tree_node(void) { return calloc(1, 64); }
__attribute__((noinline)) static void *cycle_node(void) { return calloc(1, 32); }
__attribute__((noinline)) static void *interior_block(void) { return malloc(256); }
__attribute__((noinline)) static void *register_block(void) { return malloc(128); }
__attribute__((noinline)) static void *stack_block(void) { return malloc(128); }
__attribute__((noinline)) static void *tls_block(void) { return malloc(128); }
__attribute__((noinline)) static void *arena_block(void) { return malloc(128); }
__attribute__((noinline)) static void *global_block(void) { return malloc(128); }
__attribute__((noinline)) static void *xor_block(void) { return malloc(128); }
__attribute__((noinline)) static void *clean_block(void) { return malloc(64); }
__attribute__((noinline)) static void *list_node(void) { return calloc(1, 16); }
__attribute__((noinline)) static void *masked_block(void) { return malloc(128); }
__attribute__((noinline)) static void *sparse_block(void) { return malloc(128); }

/* The stores into blocks that are about to be leaked must happen: -O1 would drop them. */
#define PUBLISH(p) __asm__ volatile("" ::"r"(p) : "memory")

__attribute__((noinline)) static void make_lost(void)
{
    char *p = lose_block();
    memset(p, 1, 100);
}

__attribute__((noinline)) static void make_tree(void)
{
    void **root = tree_node();
    for (int i = 0; i < 2; i++) {
        void **child = tree_node();
        root[i] = child;
        for (int k = 0; k < 2; k++)
            child[k] = tree_node();
    }
    PUBLISH(root);
}

__attribute__((noinline)) static void make_cycles(void)
{
    void **a = cycle_node(), **b = cycle_node();
    a[0] = b;
    b[0] = a;
    void **first = cycle_node(), **prev = first;
    for (int i = 1; i < 10; i++) {
        void **node = cycle_node();
        prev[0] = node;
        prev = node;
    }
    prev[0] = first;
    PUBLISH(a);
    PUBLISH(first);
}

__attribute__((noinline)) static void make_interior(void)
{
    keep = (char *)interior_block() + 16;
}

static void *spin_with_register(void *arg)
{
    (void)arg;
    register void *p __asm__("r12") = register_block();
    __asm__ volatile("" : "+r"(p));
    scrub_stack();              /* the malloc call left copies of p in the dead stack (and red zone) */
    __asm__ volatile("" : "+r"(p));
    ready = 1;
    for (;;)
        __asm__ volatile("pause" : "+r"(p));     /* p lives in r12 only */
    return NULL;
}

static void *block_on_stack(void *arg)
{
    int *fds = arg;
    void *volatile on_stack = stack_block();
    char c;
    scrub_stack();
    ready = 1;
    (void)read(fds[0], &c, 1);                    /* never returns: nobody writes */
    return (void *)on_stack;
}

static void *block_with_tls(void *arg)
{
    int *fds = arg;
    char c;
    tls_slot = tls_block();
    scrub_stack();
    ready = 1;
    (void)read(fds[0], &c, 1);
    return NULL;
}

static void *block_all_signals(void *arg)
{
    int *fds = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    void *volatile on_stack = masked_block();
    char c;
    scrub_stack();
    ready = 1;
    (void)read(fds[0], &c, 1);
    return (void *)on_stack;
}

static void wait_ready(void)
{
    while (!ready)
        usleep(1000);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    static int fds[2];
    pthread_t t;

    if (strcmp(mode, "lost") == 0) {
        make_lost();
    } else if (strcmp(mode, "tree") == 0) {
        make_tree();
    } else if (strcmp(mode, "cycles") == 0) {
        make_cycles();
    } else if (strcmp(mode, "interior") == 0) {
        make_interior();
    } else if (strcmp(mode, "register") == 0) {
        pthread_create(&t, NULL, spin_with_register, NULL);
        wait_ready();
    } else if (strcmp(mode, "stack") == 0) {
        pipe(fds);
        pthread_create(&t, NULL, block_on_stack, fds);
        wait_ready();
    } else if (strcmp(mode, "tls") == 0) {
        pipe(fds);
        tls_slot = tls_block();
        pthread_create(&t, NULL, block_with_tls, fds);
        wait_ready();
    } else if (strcmp(mode, "masked") == 0) {
        pipe(fds);
        pthread_create(&t, NULL, block_all_signals, fds);
        wait_ready();
    } else if (strcmp(mode, "arena") == 0) {
        void **arena = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        arena[1000] = arena_block();
    } else if (strcmp(mode, "sparse") == 0) {
        void **region = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        region[(40 << 20) / sizeof *region] = sparse_block();
        void **big = malloc(64 << 20);
        big[(48 << 20) / sizeof *big] = sparse_block();
        keep = big;
        void **shared = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        shared[(512 << 10) / sizeof *shared] = sparse_block();
    } else if (strcmp(mode, "global") == 0) {
        keep = global_block();
    } else if (strcmp(mode, "xor") == 0) {
        keep_xor = (uintptr_t)xor_block() ^ 0x5a5a5a5a5a5a5a5aull;
    } else if (strcmp(mode, "clean") == 0) {
        void *blocks[100];
        for (int i = 0; i < 100; i++)
            blocks[i] = clean_block();
        for (int i = 0; i < 100; i++)
            free(blocks[i]);
    } else if (strcmp(mode, "list") == 0) {
        void **head = NULL;
        for (int i = 0; i < 100000; i++) {
            void **node = list_node();
            node[0] = head;
            head = node;
        }
        keep = head;
    } else {
        fprintf(stderr, "usage: leaks lost|tree|cycles|interior|register|stack|tls|arena|global|xor|clean|list|masked|sparse\n");
        return 2;
    }
    scrub_stack();
    printf("%s done\n", mode);
    fflush(stdout);
    exit(0);       /* threads still running are part of the root set */
}
