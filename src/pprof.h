/*
 * pprof.h - a dump as a gzipped pprof profile.proto, the Go heap profile's
 * format: sample types alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes; symbolized functions with file and
 * line, inlined frames as extra Line entries of a Location, one Mapping per
 * module with its build-id, and labels: "leak" (the block state from the
 * reachability scan: reachable, direct, indirect, possibly; absent when not
 * scanned) and "kind" (heap or mmap), so `go tool pprof -tagfocus 'leak=^direct$'`
 * selects leaked memory.
 */
#ifndef LEAKSCOPE_PPROF_H
#define LEAKSCOPE_PPROF_H

#include "dump_read.h"
#include "symbolize.h"

/* Write the profile gzipped to fd.  0, or -1 with a one-line reason in err. */
int pprof_write(int fd, const struct ls_dump *d, struct symbolizer *sym, char *err, size_t errlen);

#endif
