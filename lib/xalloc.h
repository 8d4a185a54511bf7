/*
 * xalloc.h - allocation that never returns NULL.
 *
 * Postern treats running out of memory as fatal (like Postfix's mymalloc and OpenSMTPD's
 * xmalloc): these wrappers log and abort instead of returning NULL, so callers need no
 * error path for allocation. Everything they return is freed with free().
 */
#ifndef POSTERN_XALLOC_H
#define POSTERN_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
