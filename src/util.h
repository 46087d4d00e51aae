/*
 * util.h - small helpers shared by the in-process summary and the tool:
 * formatting (none of it allocates) and leakscope's own threads.
 */
#ifndef LEAKSCOPE_UTIL_H
#define LEAKSCOPE_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* "97.7 KiB", "1.0 GiB", "512 B". */
const char *format_bytes(uint64_t bytes, char *buf, size_t len);
/* "1,234,567". */
const char *format_count(uint64_t n, char *buf, size_t len);

/*
 * A detached thread of leakscope's own with stack_bytes of stack, born with
 * every signal blocked so that no signal meant for the program lands on it.
 * 0, or the error number pthread_create returned.
 */
int service_thread_start(pthread_t *tid, size_t stack_bytes, void *(*fn)(void *), void *arg);

#endif
