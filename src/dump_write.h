/*
 * dump_write.h - writes the engine's current state as a .lsd dump (see
 * dump_format.h).  Runs inside the traced process: allocates only from the
 * private arena, holds each table lock only while copying that table.
 */
#ifndef LEAKSCOPE_DUMP_WRITE_H
#define LEAKSCOPE_DUMP_WRITE_H

struct leak_scan;

/*
 * Write a whole dump to fd.  meta and stats are the text payloads of the META
 * and STATS sections ("key=value\n" lines).  With a scan, BLOCKS holds the
 * scanned blocks and their states and a SCAN section follows (scan_text);
 * suppressions and rss_text (the RSS section; each may be NULL) are stored as
 * given.  Returns 0, or -errno.
 */
int dump_write(int fd, const char *meta, const char *stats, const struct leak_scan *scan,
               const char *scan_text, const char *suppressions, const char *rss_text);

#endif
