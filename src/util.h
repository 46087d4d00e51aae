/*
 * util.h - small formatting helpers shared by the in-process summary and the
 * tool.  None of them allocates.
 */
#ifndef LEAKSCOPE_UTIL_H
#define LEAKSCOPE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* "97.7 KiB", "1.0 GiB", "512 B". */
const char *format_bytes(uint64_t bytes, char *buf, size_t len);
/* "1,234,567". */
const char *format_count(uint64_t n, char *buf, size_t len);

#endif
