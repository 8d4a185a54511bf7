/*
 * qid.h - queue IDs in the style of Postfix's long queue IDs.
 *
 * An ID is the arrival time in seconds (base 51, at least 6 characters), the microseconds
 * (base 51, 4 characters), the letter 'z', then the spool file's inode number (base 51).
 * The alphabet is digits and consonants except z (no vowels, so no words), 51 characters,
 * the shape admins' tools already match: ([0-9a-zA-Z]{12,}). Unique per spool because no
 * two existing files share an inode and IDs are time-ordered. Pure function, no I/O.
 */
#ifndef POSTERN_QID_H
#define POSTERN_QID_H

#include <stddef.h>
#include <stdint.h>

#define QID_MAX 32  /* buffer size that always fits an ID and its NUL */

/* Write the ID for (sec, usec, inode) into out (QID_MAX bytes). Returns out. */
char *qid_format(char out[QID_MAX], uint64_t sec, uint32_t usec, uint64_t inode);

/* The arrival time (unix seconds) encoded in a queue ID; -1 when s is not one. */
long long qid_arrival(const char *s);

/* True if s looks like a queue ID (safe to use as a file name: alphabet only). */
int qid_valid(const char *s);

#endif
