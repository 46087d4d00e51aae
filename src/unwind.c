/*
 * unwind.c - stack capture (see unwind.h).
 *
 * A frame-pointer walk reads two words a frame: at a frame base fp, fp[1] is
 * the return address into the caller and fp[0] the caller's rbp, which is
 * the caller's own frame base only if the caller's code keeps rbp as one at
 * that call.  Code built with -fno-omit-frame-pointer (Fedora, Ubuntu 24.04,
 * many companies' builds) does; Debian's binaries mostly do not, and a walk
 * through them would read garbage.  So the walk asks, for each return
 * address, a verdict learnt once from libunwind: a context at the caller
 * (rsp just above the return address, rbp as the callee saved it) is
 * stepped once with the DWARF tables, and the address is judged to keep a
 * frame pointer only if rbp is then exactly the caller's frame base: 16
 * bytes below its canonical frame address, holding the caller's caller's
 * rbp, under its return address.  A function whose frame is addressed from
 * rsp passes only by coincidence: its rbp holds either an outer frame's base,
 * which lies above its own frame (so it cannot pass), or a value it uses for
 * something else, which would have to equal that stack address and the two
 * words there.  Only where the frame-pointer chain ends too (rbp 0, as _start
 * and clone leave it) does a step that ends end the walk: a signal handler's
 * return into the kernel's trampoline can also step to nothing.
 *
 * The first return address without that verdict ends the walk and the whole
 * stack is taken by libunwind's unw_backtrace instead, so every stack is one
 * of the two unwinders' own answers, never a mixture.  Verdicts live in a
 * table of 65,536 return addresses, emptied when the program unloads code
 * (dlclose: other code may be loaded at the same addresses); an address that
 * finds no room is judged again each time (correct, slower).
 */
#define _GNU_SOURCE
#include "unwind.h"

#include <stdatomic.h>
#include <stddef.h>
#include <ucontext.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define SKIP_SLACK 16     /* room for leakscope's own frames above the caller */

static uintptr_t self_start, self_end;
static int method;

/* leakscope's own frames, dropped from the top of every stack. */
static inline int own_frame(uintptr_t pc)
{
    return pc >= self_start && pc < self_end;
}

enum verdict { UNKNOWN = 0, KEEPS_FRAME_POINTER = 1, NO_FRAME_POINTER = 2, OUTERMOST = 3 };

/* Each entry: the return address shifted left by two, with the verdict in the low bits; 0 = empty. */
#define VERDICT_BITS 16
#define VERDICT_PROBES 16
#define VERDICT_MASK ((1u << VERDICT_BITS) - 1)
static _Atomic uintptr_t verdicts[1 << VERDICT_BITS];
static _Atomic int verdicts_used;

/* Stacks taken by frame pointers and by libunwind (each thread adds its count every 256), judgements. */
static _Atomic uint64_t counts[3];
static __thread uint32_t local_counts[2] __attribute__((tls_model("initial-exec")));

void unwind_init(uintptr_t start, uintptr_t end, int how)
{
    self_start = start;
    self_end = end;
    method = how;
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

static inline void count(int which)
{
    if (++local_counts[which] == 256) {
        atomic_fetch_add_explicit(&counts[which], 256, memory_order_relaxed);
        local_counts[which] = 0;
    }
}

void unwind_counts(struct unwind_counts *out)
{
    out->frame_pointers = atomic_load_explicit(&counts[0], memory_order_relaxed);
    out->libunwind = atomic_load_explicit(&counts[1], memory_order_relaxed);
    out->learning = atomic_load_explicit(&counts[2], memory_order_relaxed);
}

static inline size_t verdict_slot(uintptr_t ip)
{
    return (size_t)((ip * 0x9e3779b97f4a7c15ull) >> (64 - VERDICT_BITS));
}

static inline int verdict_of(uintptr_t ip)
{
    size_t i = verdict_slot(ip);

    for (int k = 0; k < VERDICT_PROBES; k++, i = (i + 1) & VERDICT_MASK) {
        uintptr_t entry = atomic_load_explicit(&verdicts[i], memory_order_relaxed);
        if (entry >> 2 == ip)
            return (int)(entry & 3);
        if (entry == 0)
            break;
    }
    return UNKNOWN;
}

/* Record a verdict; a later NO_FRAME_POINTER overrides, anything else keeps the first. */
static void verdict_store(uintptr_t ip, int v)
{
    size_t i = verdict_slot(ip);
    uintptr_t want = ip << 2 | (uintptr_t)v;

    if (ip >> 61)                       /* no room for the verdict bits: judged every time */
        return;
    for (int k = 0; k < VERDICT_PROBES; k++, i = (i + 1) & VERDICT_MASK) {
        uintptr_t entry = 0;
        if (atomic_compare_exchange_strong(&verdicts[i], &entry, want)) {
            atomic_store_explicit(&verdicts_used, 1, memory_order_relaxed);
            return;
        }
        if (entry >> 2 == ip) {
            if (v == NO_FRAME_POINTER)
                atomic_store(&verdicts[i], want);
            return;
        }
    }
}

void unwind_code_unloaded(void)
{
    if (!atomic_exchange(&verdicts_used, 0))
        return;
    for (size_t i = 0; i <= VERDICT_MASK; i++)
        atomic_store_explicit(&verdicts[i], 0, memory_order_relaxed);
}

/*
 * Judge the code at return address ra, whose frame starts right above the
 * callee's frame base fp (rsp = fp + 2 words after the return, rbp = fp[0]).
 */
static int judge(uintptr_t ra, const uintptr_t *fp)
{
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t sp, bp, up_ip, up_bp;
    uintptr_t bp_here = fp[0];
    int v = NO_FRAME_POINTER;

    atomic_fetch_add_explicit(&counts[2], 1, memory_order_relaxed);
    if (unw_getcontext(&uc) != 0)
        return NO_FRAME_POINTER;
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(ra - 1);     /* inside the call: the caller's state during it */
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)(fp + 2);
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)bp_here;
    if (unw_init_local(&c, &uc) == 0) {
        int step = unw_step(&c);
        if (step == 0) {
            /* The end of the stack only where the frame-pointer chain ends too (_start and clone leave
               rbp 0).  A context at a signal handler's return into the kernel's trampoline can also step
               to nothing: that stack goes on, and is left to libunwind, which knows signal frames. */
            v = bp_here == 0 ? OUTERMOST : NO_FRAME_POINTER;
        } else if (step > 0 && unw_get_reg(&c, UNW_REG_SP, &sp) == 0 && unw_get_reg(&c, UNW_REG_IP, &up_ip) == 0 &&
                   unw_get_reg(&c, UNW_X86_64_RBP, &bp) == 0) {
            up_bp = bp;
            /* rbp is the frame base: 16 bytes under the CFA (checked first: then it points into the stack). */
            if (bp_here + 16 == (uintptr_t)sp && ((const uintptr_t *)bp_here)[1] == (uintptr_t)up_ip &&
                ((const uintptr_t *)bp_here)[0] == (uintptr_t)up_bp)
                v = KEEPS_FRAME_POINTER;
        }
    }
    verdict_store(ra, v);
    return v;
}

/* The walk; -1 when some frame's code does not keep a frame pointer. */
static int walk_frame_pointers(uintptr_t *pcs, int max_depth)
{
    const uintptr_t *fp = __builtin_frame_address(0);
    int n = 0, own = 0;

    for (;;) {
        uintptr_t ra = fp[1];
        if (n == 0 && own_frame(ra)) {
            if (++own > SKIP_SLACK)
                return -1;
        } else {
            pcs[n++] = ra;
            if (n == max_depth)
                return n;
        }
        int v = verdict_of(ra);
        if (v == UNKNOWN)
            v = judge(ra, fp);
        if (v == OUTERMOST)
            return n;
        if (v != KEEPS_FRAME_POINTER)
            return -1;
        const uintptr_t *next = (const uintptr_t *)fp[0];
        if (next <= fp || ((uintptr_t)next & 7) != 0 || (uintptr_t)next - (uintptr_t)fp > ((uintptr_t)1 << 26))
            return -1;
        fp = next;
    }
}

static int with_libunwind(uintptr_t *pcs, int max_depth)
{
    void *raw[UNWIND_MAX_DEPTH + SKIP_SLACK];
    int n = unw_backtrace(raw, max_depth + SKIP_SLACK);
    int first = 0;

    while (first < n && own_frame((uintptr_t)raw[first]))
        first++;
    int depth = n - first;
    if (depth > max_depth)
        depth = max_depth;
    for (int i = 0; i < depth; i++)
        pcs[i] = (uintptr_t)raw[first + i];
    return depth;
}

int unwind_capture(uintptr_t *pcs, int max_depth)
{
    if (method == UNWIND_AUTO) {
        int n = walk_frame_pointers(pcs, max_depth);
        if (n >= 0) {
            count(0);
            return n;
        }
    }
    count(1);
    return with_libunwind(pcs, max_depth);
}
