/*
 * suppress.h - LeakSanitizer-style suppressions: "leak:PATTERN" lines, '#'
 * comments and blank lines.  A pattern matches a function, file or module
 * name anywhere in a leaked block's allocation stack; '*' matches any run of
 * characters, a leading '^' or trailing '$' anchors it, and without anchors
 * it may match any part of the name.  No allocation: parsing works in place.
 */
#ifndef LEAKSCOPE_SUPPRESS_H
#define LEAKSCOPE_SUPPRESS_H

#include <stddef.h>

/*
 * Split text (modified in place) into patterns; at most max are kept.
 * Returns how many, and reports each malformed line through warn (one line
 * naming the line number and what was wrong), skipping it.
 */
int suppressions_parse(char *text, const char **patterns, int max,
                       void (*warn)(const char *line, void *arg), void *arg);

/* 1 if pattern matches name (see above). */
int suppression_matches(const char *pattern, const char *name);

#endif
