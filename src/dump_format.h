/*
 * dump_format.h - the .lsd dump file format, version 1.
 *
 * The dump is the only interface between a traced process and every report.
 * This header is its specification; the writer is dump_write.c and the one
 * reader is dump_read.c.
 *
 * All integers are little-endian.  A file is a 16-byte header followed by
 * sections; the last section is END.
 *
 *   header:   u8  magic[8] = 89 'L' 'S' 'D' 0d 0a 1a 0a
 *             u16 version            (1; a reader refuses a newer major version)
 *             u16 header_size        (16; a reader skips any bytes beyond the ones it knows)
 *             u32 byte_order         (0x01020304 as written by the producer)
 *
 *   section:  u32 type               (DUMP_SECTION_*; unknown types are skipped)
 *             u32 crc32              (zlib crc32 of the 4 type bytes, then the payload:
 *                                     a damaged type cannot pass for an unknown section)
 *             u64 length             (payload bytes)
 *             u8  payload[length]
 *
 * Sections, in the order they are written:
 *
 *   META     text, one "key=value\n" per line (values never contain '\n'):
 *            format, version, pid, ppid, exe, cmdline, reason (exit | signal | periodic |
 *            scavenge | crash | interval), signal, seq, time_unix_ns, start_unix_ns, depth, interval_ms,
 *            stale_age_s, leakscope_version, sample_period (LEAKSCOPE_SAMPLE: mean bytes between
 *            sampled allocations, 0 or absent = every allocation recorded; when sampled, every
 *            SITES counter is an estimate already scaled to all allocations, and BLOCKS holds only
 *            the sampled blocks).
 *   STATS    text "key=value\n" lines, all decimal integers: rss_bytes,
 *            anon_bytes, lazyfree_bytes (absent when the kernel has no
 *            smaps_rollup), mallinfo_arena, mallinfo_hblkhd, mallinfo_uordblks,
 *            mallinfo_fordblks, mallinfo_keepcost, mallinfo_ns (how long the mallinfo2() call
 *            behind them took: it walks every free chunk under malloc's lock; all six absent
 *            when it was not asked), mallinfo_abandoned_ns (exit dumps of programs that freed 50,000
 *            blocks or more: the walk had not ended after this long, 1% of the run and at least
 *            5 ms, and the dump went on without it), madv_free_calls,
 *            madv_free_bytes, madv_dontneed_calls, madv_dontneed_bytes,
 *            madv_other_calls, madv_other_bytes, live_blocks, mapped_regions,
 *            mapped_bytes, sites, meta_bytes (memory leakscope itself holds), scan_buffer_bytes (the
 *            part of meta_bytes that is this dump's scan buffers, released once it is written),
 *            stacks_walked (by learnt frame rules), stacks_by_libunwind (both in batches of 256
 *            per thread), frame_rules_judged (src/unwind.c).
 *   MODULES  repeated until the payload ends:
 *              u64 base (load bias), u64 start, u64 end (runtime address range),
 *              u32 flags (bit 0: the main executable, bit 1: the dynamic loader),
 *              u16 path_len, u16 build_id_len, path bytes, build_id bytes.
 *   SITES    u32 fixed_size (bytes of the fixed part of each record, 48 in v1),
 *            u32 reserved, then repeated until the payload ends:
 *              u32 id, u8 kind (0 heap, 1 mmap, 2 thread creation), u8 reserved, u16 depth,
 *              u64 alloc_objects, u64 alloc_space,
 *              i64 inuse_objects, i64 inuse_space, i64 peak_inuse_space
 *              (for thread sites: alloc_objects = threads started, inuse_objects
 *              = still alive, the space fields 0),
 *              [fixed_size - 48 bytes of fields added by later versions],
 *              u64 pcs[depth]  (return addresses, innermost first; the
 *                               allocator call itself is not included)
 *   BLOCKS   u32 record_size (32 in v1), u32 reserved, then records of
 *            record_size bytes: u64 address, u64 size, u32 site id,
 *            u32 birth (centiseconds after start), u32 state (0 not scanned,
 *            1 reachable, 2 possibly lost, 3 indirectly leaked, 4 directly
 *            leaked), u32 reserved.  Live heap blocks; when a scan ran, exactly
 *            the blocks it saw with the world stopped, sorted by address.
 *   REGIONS  u32 record_size (24 in v1), u32 reserved, then u64 start,
 *            u64 length, u32 site id, u32 birth.  Anonymous mappings the
 *            program made itself.
 *   SCAN     (only when a reachability scan ran) text "key=value\n" lines:
 *            time_unix_ns, pause_ns, total_ns, bytes_scanned, bytes_unwritten
 *            (not read: pages the process never wrote), root_bytes,
 *            threads, unresponsive_threads, unresponsive_without_stack,
 *            stop_signal, and {reachable,possibly,indirect,direct}_{bytes,blocks}
 *            as classified in the process (before suppressions).
 *   SUPPRESSIONS  (only when LEAKSCOPE_SUPPRESSIONS was given) the text of
 *            that file, so reports apply the same suppressions.
 *   TIMELINE the background thread's samples, oldest first: u32 nfields,
 *            u32 reserved, nfields names (u16 length + bytes each: time_ns,
 *            rss, anon, lazy_free, arena, hblkhd, uordblks, fordblks, keepcost,
 *            heap_inuse, heap_objects, mapped_bytes, madv_free_bytes,
 *            madv_dontneed_bytes, threads, ...), then records of nfields i64.
 *            time_ns counts from the process's start; -1 means unknown.
 *   SERIES   per-site history: u32 sample_size (24), u32 reserved, then
 *            repeated: u32 site id, u32 count, count samples of
 *            i64 time_ns, i64 inuse_space, i64 inuse_objects (oldest first).
 *            Only sites that ever held 64 KiB have one.
 *   RSS      text "key=value\n" lines, the process's account of its RSS at the
 *            dump: rss, live_reachable, live_growing, live_stale, leaked,
 *            allocator_retained, lazy_free, program_mmap, leakscope, other (bytes, the
 *            decomposition of rss.h), allocator_free, mapped_resident, scanned,
 *            leaked_direct_indirect; repeated "growing=SITE BYTES BLOCKS RATE"
 *            (bytes/s) and "stale=SITE BYTES BLOCKS" lines; top_leak=SITE,
 *            top_mapped=SITE, threads_never_exit=SITE ALIVE; verdict=TEXT.
 *   END      u32 number of sections before it.  A file without END is truncated.
 *
 * Sizes are the sizes the program asked for, without malloc's chunk headers.
 */
#ifndef LEAKSCOPE_DUMP_FORMAT_H
#define LEAKSCOPE_DUMP_FORMAT_H

#define DUMP_MAGIC "\x89LSD\r\n\x1a\n"
#define DUMP_MAGIC_LEN 8
#define DUMP_VERSION 1
#define DUMP_HEADER_SIZE 16
#define DUMP_BYTE_ORDER 0x01020304u
#define DUMP_SECTION_HEADER_SIZE 16

enum dump_section {
    DUMP_SECTION_META = 1,
    DUMP_SECTION_STATS = 2,
    DUMP_SECTION_MODULES = 3,
    DUMP_SECTION_SITES = 4,
    DUMP_SECTION_BLOCKS = 5,
    DUMP_SECTION_REGIONS = 6,
    DUMP_SECTION_SCAN = 7,
    DUMP_SECTION_SUPPRESSIONS = 8,
    DUMP_SECTION_TIMELINE = 9,
    DUMP_SECTION_SERIES = 10,
    DUMP_SECTION_RSS = 11,
    DUMP_SECTION_END = 0x7fff,
};

#define DUMP_SITE_FIXED_SIZE 48
#define DUMP_BLOCK_RECORD_SIZE 32
#define DUMP_REGION_RECORD_SIZE 24
#define DUMP_MODULE_FLAG_MAIN 1u
#define DUMP_MODULE_FLAG_LOADER 2u

#define LEAKSCOPE_VERSION "0.1.0"

#endif
