/*
 * unwind.c - stack capture (see unwind.h).
 *
 * The walk goes from frame to frame with three registers, the return address
 * (ra), rsp and rbp of each frame at its call, and one rule per return
 * address saying how the caller's frame follows:
 *
 *   cfa = (rsp or rbp) + offset;  caller's ra = cfa[-1];  caller's rsp = cfa;
 *   caller's rbp = *(cfa + slot), or rbp unchanged when the frame did not save it.
 *
 * That is the form of the DWARF call-frame rules compilers emit for x86-64
 * at call sites: code keeping a frame pointer has cfa = rbp + 16 with rbp
 * saved at cfa - 16, code without one (Debian's packages) cfa = rsp + its
 * frame size.  A rule is learnt once per return address from libunwind,
 * which reads the DWARF tables: one unw_step from that frame's registers
 * gives the caller's rsp, ra and rbp and where rbp was saved.
 *
 *  - rbp-based (a frame pointer): rbp must be exactly the frame's base,
 *    16 bytes under the caller's rsp, holding the caller's rbp under the
 *    return address.  A function whose frame is addressed from rsp passes
 *    only by coincidence: its rbp holds either an outer frame's base, which
 *    lies above its own frame (so it cannot pass), or a value it uses for
 *    something else, which would have to equal that stack address and the
 *    two words there.
 *  - rsp-based: an offset from rsp is a property of the code at that
 *    address only if the rule really is rsp plus a constant, not an
 *    expression of other registers or of memory (functions that realign
 *    their stack compute it from a saved pointer; the kernel's signal
 *    trampoline from the signal frame).  So the frame is copied elsewhere
 *    and stepped again from the copy: only a rule of rsp alone moves with
 *    it, by the same offset, to the same return address and rbp.
 *  - a step that ends is the end of the stack only where rbp is 0 too (as
 *    _start and clone leave it): a signal handler's return into the
 *    kernel's trampoline can also step to nothing, and that stack goes on.
 *
 * Anything else, and any frame whose rule could not be learnt, ends the walk
 * and the whole stack is taken by libunwind's unw_backtrace instead, so
 * every stack is one unwinder's answer, never a mixture.  Rules live in a
 * table that starts at 4,096 return addresses and grows fourfold when half
 * full, up to a million, emptied when the program unloads code (dlclose:
 * other code may be loaded at the same addresses); an address that finds no
 * room is judged again each time (correct, slower).
 */
#define _GNU_SOURCE
#include "unwind.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "arena.h"

#define SKIP_SLACK 16          /* room for leakscope's own frames above the caller */
#define MAX_FRAME_SPAN (1u << 26)
#define MAX_MOVED_FRAME (256 * 1024)   /* larger rsp-based frames are left to libunwind */

static uintptr_t self_start, self_end;
static int method;

/* leakscope's own frames, dropped from the top of every stack. */
static inline int own_frame(uintptr_t pc)
{
    return pc >= self_start && pc < self_end;
}

/*
 * A rule in one word: bits 0-2 its kind; for RULE_FROM_RSP, bits 8-47 the frame's size (CFA - rsp)
 * and bits 48-63 where the caller's rbp was saved, as a signed offset from the CFA (0: rbp is
 * unchanged).  A frame pointer's rule needs nothing more: CFA = rbp + 16, rbp saved at CFA - 16.
 * 0 = not known yet.
 */
enum rule_kind { RULE_UNKNOWN = 0, RULE_FRAME_POINTER = 1, RULE_FROM_RSP = 2, RULE_LIBUNWIND = 3, RULE_OUTERMOST = 4 };
#define RULE_KIND(r) ((int)((r) & 7))
#define RULE_FRAME_SIZE(r) ((uintptr_t)((r) >> 8 & 0xffffffffffull))
#define RULE_RBP_SLOT(r) ((intptr_t)(int16_t)(uint16_t)((r) >> 48))

static inline uint64_t rsp_rule_word(uintptr_t frame_size, intptr_t rbp_slot)
{
    return RULE_FROM_RSP | (uint64_t)frame_size << 8 | (uint64_t)(uint16_t)(int16_t)rbp_slot << 48;
}

#define RULE_PROBES 16
#define RULES_FIRST_BITS 12     /* 4,096 return addresses, 64 KiB, static: what a small program learns */
#define RULES_MAX_BITS 20       /* 1M return addresses, 16 MiB */
struct rule_entry {
    _Atomic uintptr_t ra;       /* 0 = empty */
    _Atomic uint64_t rule;      /* 0 while the first judge has not stored it */
};
/*
 * The rules, open addressing by return address.  A table half full (or with no room within
 * RULE_PROBES of a new address) is copied into one four times larger, which then replaces it;
 * the old one stays mapped for walks still reading it, and a rule stored into it meanwhile is
 * only judged again.  Starting small keeps a short program from faulting in a megabyte (each
 * page of a table read before written faults twice); larger tables are populated when mapped.
 */
struct rule_table {
    struct rule_entry *slots;
    size_t mask;
    unsigned shift;             /* 64 - log2 of the slot count */
    _Atomic size_t filled;
};
static struct rule_entry first_rule_slots[(size_t)1 << RULES_FIRST_BITS];
static struct rule_table first_rules = {
    first_rule_slots, ((size_t)1 << RULES_FIRST_BITS) - 1, 64 - RULES_FIRST_BITS, 0
};
static struct rule_table *_Atomic rules = &first_rules;
static atomic_flag rules_growing = ATOMIC_FLAG_INIT;
static _Atomic int rules_used;

/* Stacks walked and taken by libunwind (each thread adds its count every 256), judgements. */
static _Atomic uint64_t counts[3];
static __thread uint32_t local_counts[2] __attribute__((tls_model("initial-exec")));

/* Where a frame is copied to be stepped again (one judge at a time; a busy one gives way to libunwind).
   Only the pages a frame of that size needs are ever touched. */
static unsigned char moved[MAX_MOVED_FRAME + 64 + 4096] __attribute__((aligned(64)));
static atomic_flag moved_busy = ATOMIC_FLAG_INIT;

/*
 * The registers a judgement does not know (all but rip, rsp and rbp) point into a block of words that
 * each point back into it: a rule that counts the CFA from one of them (hand-written assembly can)
 * then reads there, not wherever the judging code left that register, and fails the checks.
 */
#define DECOY_WORDS 64
static uintptr_t decoy[DECOY_WORDS];
static const int decoy_registers[] = { REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_R8, REG_R9,
                                       REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15 };

/*
 * libunwind masks every signal around its caches and around dl_iterate_phdr, with a system call on each
 * side: about 11 a judgement (python3 -c pass judges 2,200 frames, and those calls were a third of its
 * time under leakscope).  A walk that judges masks every signal once itself; while it holds them,
 * leakscope's sigprocmask (preload.c) answers libunwind's calls without one: each would leave the mask
 * as it is (every signal blocked), so what libunwind protects stays protected.
 */
__thread int unwind_signals_held __attribute__((tls_model("initial-exec")));
static sigset_t all_signals;

static void hold_signals(sigset_t *saved)
{
    pthread_sigmask(SIG_SETMASK, &all_signals, saved);
    unwind_signals_held = 1;
}

static void release_signals(const sigset_t *saved)
{
    unwind_signals_held = 0;
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

void unwind_init(uintptr_t start, uintptr_t end, int how)
{
    sigfillset(&all_signals);
    for (size_t i = 0; i < DECOY_WORDS; i++)
        decoy[i] = (uintptr_t)&decoy[DECOY_WORDS / 2];
    self_start = start;
    self_end = end;
    method = how;
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

void unwind_fork_child(void)
{
    atomic_flag_clear(&moved_busy);     /* another thread may have held them at the fork */
    atomic_flag_clear(&rules_growing);
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
    out->walked = atomic_load_explicit(&counts[0], memory_order_relaxed);
    out->libunwind = atomic_load_explicit(&counts[1], memory_order_relaxed);
    out->judged = atomic_load_explicit(&counts[2], memory_order_relaxed);
}

static inline size_t rule_slot(const struct rule_table *t, uintptr_t ra)
{
    return (size_t)((ra * 0x9e3779b97f4a7c15ull) >> t->shift);
}

static inline uint64_t rule_of(const struct rule_table *t, uintptr_t ra)
{
    size_t i = rule_slot(t, ra);

    for (int k = 0; k < RULE_PROBES; k++, i = (i + 1) & t->mask) {
        uintptr_t at = atomic_load_explicit(&t->slots[i].ra, memory_order_acquire);
        if (at == ra)
            return atomic_load_explicit(&t->slots[i].rule, memory_order_acquire);
        if (at == 0)
            break;
    }
    return 0;
}

/* The table t, copied into one four times larger that replaces it (unless another thread is at it). */
static void rules_grow(struct rule_table *t)
{
    if (atomic_flag_test_and_set_explicit(&rules_growing, memory_order_acquire))
        return;
    size_t n = (t->mask + 1) * 4;
    if (atomic_load_explicit(&rules, memory_order_acquire) == t && n <= (size_t)1 << RULES_MAX_BITS) {
        struct rule_table *bigger = meta_map_filled(sizeof *bigger + n * sizeof(struct rule_entry));
        if (bigger) {
            bigger->slots = (struct rule_entry *)(bigger + 1);
            bigger->mask = n - 1;
            bigger->shift = t->shift - 2;
            size_t filled = 0;
            for (size_t i = 0; i <= t->mask; i++) {
                uintptr_t ra = atomic_load_explicit(&t->slots[i].ra, memory_order_acquire);
                uint64_t rule = atomic_load_explicit(&t->slots[i].rule, memory_order_acquire);
                if (!ra || !rule)
                    continue;
                size_t j = rule_slot(bigger, ra);
                while (bigger->slots[j].ra)
                    j = (j + 1) & bigger->mask;
                bigger->slots[j].ra = ra;
                bigger->slots[j].rule = rule;
                filled++;
            }
            bigger->filled = filled;
            atomic_store_explicit(&rules, bigger, memory_order_release);
        }
    }
    atomic_flag_clear_explicit(&rules_growing, memory_order_release);
}

/* Record a rule; the first one stays, except that "leave it to libunwind" overrides. */
static void rule_store(uintptr_t ra, uint64_t rule)
{
    struct rule_table *t = atomic_load_explicit(&rules, memory_order_acquire);
    size_t i = rule_slot(t, ra);

    atomic_store_explicit(&rules_used, 1, memory_order_relaxed);
    for (int k = 0; k < RULE_PROBES; k++, i = (i + 1) & t->mask) {
        uintptr_t at = 0;
        int claimed = atomic_compare_exchange_strong(&t->slots[i].ra, &at, ra);
        if (claimed || at == ra) {
            uint64_t none = 0;
            if (!atomic_compare_exchange_strong(&t->slots[i].rule, &none, rule) && RULE_KIND(rule) == RULE_LIBUNWIND)
                atomic_store(&t->slots[i].rule, rule);
            if (claimed && (atomic_fetch_add(&t->filled, 1) + 1) * 2 > t->mask + 1)
                rules_grow(t);
            return;
        }
    }
    rules_grow(t);        /* no room near its slot: judged again next time, in a larger table */
}

void unwind_code_unloaded(void)
{
    if (!atomic_exchange(&rules_used, 0))
        return;
    while (atomic_flag_test_and_set_explicit(&rules_growing, memory_order_acquire))
        sched_yield();      /* a copy in progress would bring the old rules back */
    struct rule_table *t = atomic_load_explicit(&rules, memory_order_acquire);
    for (size_t i = 0; i <= t->mask; i++) {
        atomic_store_explicit(&t->slots[i].rule, 0, memory_order_relaxed);
        atomic_store_explicit(&t->slots[i].ra, 0, memory_order_release);
    }
    atomic_store_explicit(&t->filled, 0, memory_order_relaxed);
    atomic_flag_clear_explicit(&rules_growing, memory_order_release);
}

/* What one libunwind step from a frame's registers gives: the caller's, and where its rbp was. */
struct step {
    uintptr_t sp, ra, bp;
    enum { RBP_UNCHANGED, RBP_SAVED, RBP_ELSEWHERE } rbp_was;
    uintptr_t rbp_at;           /* RBP_SAVED: the address it was saved at */
};

/* 1 with *out filled, 0 at the end of the stack, -1 when libunwind cannot step. */
static int step_from(uintptr_t ra, uintptr_t sp, uintptr_t bp, struct step *out)
{
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t v;
    unw_save_loc_t loc;

    if (unw_getcontext(&uc) != 0)
        return -1;
    for (size_t r = 0; r < sizeof decoy_registers / sizeof *decoy_registers; r++)
        uc.uc_mcontext.gregs[decoy_registers[r]] = (greg_t)(uintptr_t)&decoy[DECOY_WORDS / 2];
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(ra - 1);     /* inside the call: the caller's state during it */
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)bp;
    if (unw_init_local(&c, &uc) != 0)
        return -1;
    int ret = unw_step(&c);
    if (ret <= 0)
        return ret < 0 ? -1 : 0;
    if (unw_get_reg(&c, UNW_REG_SP, &v) != 0)
        return -1;
    out->sp = (uintptr_t)v;
    if (unw_get_reg(&c, UNW_REG_IP, &v) != 0)
        return -1;
    out->ra = (uintptr_t)v;
    if (unw_get_reg(&c, UNW_X86_64_RBP, &v) != 0 || unw_get_save_loc(&c, UNW_X86_64_RBP, &loc) != 0)
        return -1;
    out->bp = (uintptr_t)v;
    /* Local unwinding keeps a register that no frame saved at its slot of the context it started from. */
    if (loc.type == UNW_SLT_MEMORY && loc.u.addr == (unw_word_t)(uintptr_t)&uc.uc_mcontext.gregs[REG_RBP])
        out->rbp_was = RBP_UNCHANGED;
    else if (loc.type == UNW_SLT_MEMORY && loc.u.addr >= sp && loc.u.addr < out->sp && (loc.u.addr & 7) == 0) {
        out->rbp_was = RBP_SAVED;
        out->rbp_at = (uintptr_t)loc.u.addr;
    } else
        out->rbp_was = RBP_ELSEWHERE;
    return 1;
}

/* A word-by-word copy: the frame's words include a sanitizer's poisoned redzones. */
__attribute__((no_sanitize_address)) static void copy_frame(uintptr_t *to, const uintptr_t *from, size_t words)
{
    for (size_t i = 0; i < words; i++)
        to[i] = from[i];
}

/* The rule for a frame addressed from rsp whose step gave *s, if it is one (see the top). */
static uint64_t rsp_rule(uintptr_t ra, uintptr_t sp, uintptr_t bp, const struct step *s)
{
    uintptr_t size = s->sp - sp;
    intptr_t slot = 0;

    if (s->sp <= sp || size > MAX_MOVED_FRAME || (size & 7) || ((const uintptr_t *)s->sp)[-1] != s->ra)
        return RULE_LIBUNWIND;
    if (s->rbp_was == RBP_SAVED)
        slot = (intptr_t)(s->rbp_at - s->sp);
    else if (s->rbp_was != RBP_UNCHANGED || s->bp != bp)
        return RULE_LIBUNWIND;
    if (slot < INT16_MIN)                       /* the rule's word has 16 bits for it */
        return RULE_LIBUNWIND;

    if (atomic_flag_test_and_set_explicit(&moved_busy, memory_order_acquire))
        return RULE_UNKNOWN;                    /* judged again next time */
    uintptr_t to = (uintptr_t)moved + (sp & 63);
    struct step m;
    copy_frame((uintptr_t *)to, (const uintptr_t *)sp, size / 8);
    int same = step_from(ra, to, bp, &m) == 1 && m.sp == to + size && m.ra == s->ra && m.bp == s->bp &&
               m.rbp_was == s->rbp_was && (m.rbp_was != RBP_SAVED || (intptr_t)(m.rbp_at - m.sp) == slot);
    atomic_flag_clear_explicit(&moved_busy, memory_order_release);
    return same ? rsp_rule_word(size, slot) : RULE_LIBUNWIND;
}

/*
 * Whether ra is where a signal handler returns to: the trampoline that calls rt_sigreturn (mov $15, %rax;
 * syscall, the sequence libunwind looks for).  A handler's return address is the trampoline's first
 * instruction, not one after a call, so the step from ra - 1 can miss its unwind entry and fall back
 * on rbp, which holds whatever the interrupted code left there: with 0 the stack "ended" there, with
 * a frame pointer it went on past the interrupted function.  ra - 1 is code libunwind stepped from, so
 * its page is mapped: bytes on that page are read directly, others with process_vm_readv, which fails
 * instead of faulting if they are not mapped.
 */
static int signal_trampoline(uintptr_t ra)
{
    static const unsigned char sigreturn[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
    unsigned char code[sizeof sigreturn];
    struct iovec local = { code, sizeof code }, remote = { (void *)ra, sizeof code };

    if ((ra - 1) / 4096 == (ra + sizeof code - 1) / 4096)
        return memcmp((const void *)ra, sigreturn, sizeof sigreturn) == 0;
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)sizeof code &&
           memcmp(code, sigreturn, sizeof code) == 0;
}

/* Learn the rule for return address ra in a frame whose registers at the call were sp and bp. */
static uint64_t judge(uintptr_t ra, uintptr_t sp, uintptr_t bp)
{
    struct step s;
    uint64_t rule = RULE_LIBUNWIND;

    atomic_fetch_add_explicit(&counts[2], 1, memory_order_relaxed);
    int ret = step_from(ra, sp, bp, &s);
    if (ret == 0)
        rule = bp == 0 ? RULE_OUTERMOST : RULE_LIBUNWIND;
    else if (ret > 0) {
        /* rbp is the frame base: 16 bytes under the CFA (checked first: then it points into the stack). */
        if (bp + 16 == s.sp && s.rbp_was == RBP_SAVED && s.rbp_at == bp && ((const uintptr_t *)bp)[1] == s.ra)
            rule = RULE_FRAME_POINTER;
        else
            rule = rsp_rule(ra, sp, bp, &s);
    }
    /* Past a signal frame the stack goes on in the interrupted code: libunwind's to follow. */
    if ((rule == RULE_OUTERMOST || rule == RULE_FRAME_POINTER) && signal_trampoline(ra))
        rule = RULE_LIBUNWIND;
    if (rule != RULE_UNKNOWN)
        rule_store(ra, rule);
    return rule;
}

/* The walk; -1 when some frame's rule is not known to hold (the stack is then libunwind's).  The first
   judgement holds every signal (the old mask in *saved) until the caller releases them. */
static int walk(uintptr_t *pcs, int max_depth, sigset_t *saved)
{
    const uintptr_t *fp = __builtin_frame_address(0);   /* leakscope is built with frame pointers */
    uintptr_t ra = fp[1], sp = (uintptr_t)(fp + 2), bp = fp[0];
    int n = 0, own = 0;
    const struct rule_table *t = atomic_load_explicit(&rules, memory_order_acquire);

    for (;;) {
        if (n == 0 && own_frame(ra)) {
            if (++own > SKIP_SLACK)
                return -1;
        } else {
            pcs[n++] = ra;
            if (n == max_depth)
                return n;
        }
        uint64_t rule = rule_of(t, ra);
        if (rule == RULE_UNKNOWN) {
            if (!unwind_signals_held)
                hold_signals(saved);
            rule = judge(ra, sp, bp);
            t = atomic_load_explicit(&rules, memory_order_acquire);     /* it may have grown */
        }
        /* Through a frame pointer the next frame is bp[1], bp[0]: tested first, with a branch, so such
           frames need not wait for the rule to be loaded (as a plain frame-pointer walk does not). */
        uintptr_t cfa;
        if (__builtin_expect(RULE_KIND(rule) == RULE_FRAME_POINTER, 1)) {
            cfa = bp + 16;
            if (cfa <= sp || cfa - sp > MAX_FRAME_SPAN || (cfa & 7) != 0)
                return -1;
            ra = ((const uintptr_t *)bp)[1];
            bp = ((const uintptr_t *)bp)[0];
        } else if (RULE_KIND(rule) == RULE_FROM_RSP) {
            /* No check needed: judged sizes are whole words up to MAX_MOVED_FRAME, and sp stays aligned. */
            cfa = sp + RULE_FRAME_SIZE(rule);
            intptr_t slot = RULE_RBP_SLOT(rule);
            ra = ((const uintptr_t *)cfa)[-1];
            if (slot)
                bp = *(const uintptr_t *)(cfa + (uintptr_t)slot);
        } else {
            return RULE_KIND(rule) == RULE_OUTERMOST ? n : -1;
        }
        sp = cfa;
        if (ra == 0)
            return -1;
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
    sigset_t saved;
    int n = -1;

    if (method == UNWIND_AUTO) {
        n = walk(pcs, max_depth, &saved);
        if (unwind_signals_held)
            release_signals(&saved);
    }
    if (n >= 0) {
        count(0);
        return n;
    }
    count(1);
    return with_libunwind(pcs, max_depth);
}
