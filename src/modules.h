/*
 * modules.h - the loaded objects of the process (executable, shared
 * libraries, vdso) with their load addresses and build-ids, so that addresses
 * captured now can be symbolized after the process is gone.
 */
#ifndef LEAKSCOPE_MODULES_H
#define LEAKSCOPE_MODULES_H

#include <stddef.h>
#include <stdint.h>

#define MODULE_BUILD_ID_MAX 64

struct module_info {
    const char *path;          /* absolute path, or the loader's name (e.g. linux-vdso.so.1) */
    uintptr_t base;            /* load bias: runtime address = link-time address + base */
    uintptr_t start, end;      /* lowest and highest runtime address of its PT_LOAD segments */
    uint8_t build_id[MODULE_BUILD_ID_MAX];
    size_t build_id_len;
    int is_main;               /* the executable itself */
    int is_loader;             /* the dynamic loader (the executable's PT_INTERP) */
};

typedef void (*module_visit_fn)(const struct module_info *mod, void *arg);

/* Calls visit once per loaded object. Does not allocate. */
void modules_for_each(module_visit_fn visit, void *arg);

/* Runtime address range of the object that contains addr; 0 on success. */
int module_range_of(const void *addr, uintptr_t *start, uintptr_t *end);

#endif
