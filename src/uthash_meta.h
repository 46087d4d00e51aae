/*
 * uthash_meta.h - uthash configured to keep its buckets and nodes in
 * leakscope's private arena, never in the program's malloc heap.
 * Include this instead of <uthash.h> in engine code that runs in the process.
 */
#ifndef LEAKSCOPE_UTHASH_META_H
#define LEAKSCOPE_UTHASH_META_H

#include "arena.h"

#define uthash_malloc(sz) meta_alloc(sz)
#define uthash_free(ptr, sz) meta_free((ptr), (sz))
#define uthash_nonfatal_oom(obj) ((void)(obj))   /* a failed insert leaves the item out; never abort the program */
#include <uthash.h>

#endif
