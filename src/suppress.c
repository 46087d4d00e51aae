/*
 * suppress.c - suppression files and pattern matching (see suppress.h).
 */
#define _GNU_SOURCE
#include "suppress.h"

#include <stdio.h>
#include <string.h>

int suppressions_parse(char *text, const char **patterns, int max,
                       void (*warn)(const char *line, void *arg), void *arg)
{
    int count = 0, lineno = 0;
    char *line = text;

    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        /* Trim spaces and a Windows line end. */
        while (*line == ' ' || *line == '\t')
            line++;
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len > 0 && line[0] != '#') {
            char message[300];
            if (strncmp(line, "leak:", 5) != 0 || line[5] == '\0') {
                snprintf(message, sizeof message, "line %d: '%.200s' is not leak:PATTERN; line ignored", lineno,
                         line);
                if (warn)
                    warn(message, arg);
            } else if (count < max) {
                patterns[count++] = line + 5;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return count;
}

/* '*' glob over [p, p_end) against the whole of s. */
static int glob(const char *p, const char *p_end, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s) {
        if (p < p_end && *p == '*') {
            star = p++;
            resume = s;
        } else if (p < p_end && *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (p < p_end && *p == '*')
        p++;
    return p == p_end;
}

int suppression_matches(const char *pattern, const char *name)
{
    char buf[1024];
    size_t len = strlen(pattern);
    int anchored_start = pattern[0] == '^';
    int anchored_end = len > 0 && pattern[len - 1] == '$';
    const char *core = pattern + anchored_start;
    size_t core_len = len - (size_t)anchored_start - (size_t)anchored_end;

    if (!name || core_len + 3 > sizeof buf)
        return 0;
    size_t n = 0;
    if (!anchored_start)
        buf[n++] = '*';
    memcpy(buf + n, core, core_len);
    n += core_len;
    if (!anchored_end)
        buf[n++] = '*';
    return glob(buf, buf + n, name);
}
