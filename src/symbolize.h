/*
 * symbolize.h - turns a dump's return addresses into functions, files and
 * lines with libdw, after the process is gone, from the module map the dump
 * carries.  Inlined calls become frames of their own (marked inlined).
 * Separate debug info (/usr/lib/debug/.build-id/...) is used when installed;
 * a module whose file is missing or whose build-id no longer matches the
 * dump shows as module+offset.
 */
#ifndef LEAKSCOPE_SYMBOLIZE_H
#define LEAKSCOPE_SYMBOLIZE_H

#include <stdint.h>

#include "dump_read.h"

struct sym_frame {
    const char *function;      /* NULL when unknown */
    const char *file;          /* NULL when unknown */
    int line;                  /* 0 when unknown */
    const char *module;        /* path of the module, NULL if the address is in none */
    uint64_t module_offset;    /* address minus the module's load bias */
    int inlined;               /* 1: inlined into the next frame */
};

struct symbolizer;

struct symbolizer *symbolizer_open(const struct ls_dump *d);
/*
 * The frames for one return address, innermost first (more than one when
 * calls were inlined).  Returns how many; *frames stays valid until close.
 */
int symbolizer_lookup(struct symbolizer *s, uint64_t pc, const struct sym_frame **frames);
/* One line per module that could not be read, for a note under the report. */
int symbolizer_problems(struct symbolizer *s, const char ***lines);
void symbolizer_close(struct symbolizer *s);

#endif
