/*
 * unwind.h - capturing the calling thread's stack.
 *
 * Frames are followed through their frame pointers where the code is known
 * to keep one (about 1 ns a frame), and unwound with libunwind's DWARF
 * tables everywhere else (about 5 ns a frame).  Whether a return address
 * belongs to code that keeps a frame pointer is learnt from libunwind
 * itself, once per address: see unwind.c.
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

/* The program unloaded code (dlclose): forget what was learnt about its addresses. */
void unwind_code_unloaded(void);

/* How many stacks were taken each way (counted per thread, published every 256). */
struct unwind_counts {
    uint64_t frame_pointers, libunwind, learning;
};
void unwind_counts(struct unwind_counts *out);

#endif
