/*
 * unwind.h - capturing the calling thread's stack.
 *
 * Frames are followed by a rule per return address (the caller's frame is
 * at rsp or rbp plus a constant, rbp saved at a constant place or not at
 * all: about 1 ns a frame), learnt once per address from libunwind's
 * DWARF tables; stacks through code no such rule describes are unwound by
 * libunwind itself (about 6 ns a frame): see unwind.c.
 */
#ifndef LEAKSCOPE_UNWIND_H
#define LEAKSCOPE_UNWIND_H

#include <stdint.h>

#include "options.h"      /* UNWIND_AUTO, UNWIND_LIBUNWIND */

/* method: UNWIND_AUTO or UNWIND_LIBUNWIND (LEAKSCOPE_UNWIND).  Frames whose return address lies in [self_start, self_end) are leakscope's own and dropped. */
void unwind_init(uintptr_t self_start, uintptr_t self_end, int method);

/*
 * The caller's return addresses, innermost first, leakscope's own frames
 * left out: at most max_depth of them (max_depth <= UNWIND_MAX_DEPTH).
 */
#define UNWIND_MAX_DEPTH 256
int unwind_capture(uintptr_t *pcs, int max_depth);

/* Set while a walk that learns rules holds every signal (see unwind.c): sigprocmask may then answer
   without a system call. */
extern __thread int unwind_signals_held __attribute__((tls_model("initial-exec")));

/* The program unloaded code (dlclose): forget what was learnt about its addresses. */
void unwind_code_unloaded(void);

/* In a fork child: the one-at-a-time learning step may have been busy in another thread. */
void unwind_fork_child(void);

/* Stacks walked by learnt rules and taken by libunwind (counted per thread, published every 256), rules judged. */
struct unwind_counts {
    uint64_t walked, libunwind, judged;
};
void unwind_counts(struct unwind_counts *out);

#endif
