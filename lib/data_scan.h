/*
 * data_scan.h - pure scanner for the SMTP DATA stream (RFC 5321 4.1.1.4, 4.5.2).
 *
 * Feed it the raw bytes that follow "354"; it removes dot-stuffing, finds the one and only
 * end marker <CRLF>.<CRLF>, and reports what the stream contained (bare LF, bare CR, NUL,
 * over-long lines). It never decides anything: the session reads the flags at the end
 * and replies. This is the SMTP-smuggling defence, so it is deliberately strict:
 *   - only CR LF '.' CR LF ends the data (the first CR LF belongs to the last line; the
 *     data may also end with ". CR LF" right at the start, an empty message);
 *   - "\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r" and any other variant never end it and never
 *     start a new line for dot-unstuffing purposes;
 *   - in DATA_NORMALIZE mode a bare LF or bare CR is written out as CR LF, but still does
 *     not count as a line break for end detection or dot-unstuffing.
 * Resumable: the state survives across feeds split at any byte. No allocation, no I/O.
 *
 * Raw mode (BDAT, RFC 3030) is the same scanner without the DATA framing: the caller
 * counts the bytes, so a '.' is content wherever it is (no unstuffing, no end marker) and
 * the data ends when the caller says so with data_scan_finish(). Bare LF, bare CR, NUL
 * and long lines are flagged and normalized exactly as in DATA, so the spool gets the
 * same bytes whichever command carried them.
 */
#ifndef POSTERN_DATA_SCAN_H
#define POSTERN_DATA_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define DATA_BARE_LF    0x01u  /* saw an LF not preceded by CR */
#define DATA_BARE_CR    0x02u  /* saw a CR not followed by LF */
#define DATA_LONG_LINE  0x04u  /* a line exceeded max_line bytes (CRLF excluded) */
#define DATA_NUL        0x08u  /* saw a NUL byte */

struct data_scan {
    /* set by data_scan_init */
    size_t max_line;      /* 0: no limit */
    bool normalize;       /* write bare LF / bare CR as CR LF */
    bool raw;             /* BDAT: no dot-unstuffing, no end marker (data_scan_init_raw) */
    /* results, read by the caller */
    unsigned flags;       /* DATA_* bits seen so far */
    unsigned long long out_total; /* bytes written to out so far */
    /* private */
    int state;
    size_t line_len;      /* input bytes in the current line so far, CR LF excluded */
    char pend;            /* an output byte that did not fit the last call (see .c) */
    bool has_pend;
    bool lf_last;         /* the last byte was a bare LF (raw mode's finish reads it) */
};

void data_scan_init(struct data_scan *s, size_t max_line, bool normalize);

/* The same for BDAT content (raw mode, see above): data_scan_feed() consumes all input
 * and never sets *done; call data_scan_finish() after the last chunk. */
void data_scan_init_raw(struct data_scan *s, size_t max_line, bool normalize);

/* Raw mode: the content has ended. Writes at most 2 bytes to out (*out_len gets the
 * count), what the last line needs: a trailing CR is a bare CR (flagged; completed
 * with LF in normalize mode), and a last line without CR LF gets one (a message is lines, RFC 5322 2.1; every MTA that stores lines does the same). */
void data_scan_finish(struct data_scan *s, char *out, size_t *out_len);

/*
 * Scan in[0..in_len). Unstuffed content is written to out, which must have room for
 * 2 * in_len bytes; *out_len receives the number written. Returns the number of input
 * bytes consumed: all of them, unless the end marker was found, in which case *done is
 * set and the return value is the offset just past the final CR LF (the rest of the
 * input belongs to the next command, e.g. pipelined QUIT). The output never contains the
 * terminating ".\r\n"; it does contain the CR LF that ends the last line.
 * Bytes held back (a line-start '.', or the CR after it, whose meaning depends on the
 * next byte) are kept in the state and written by a later call; in normalize mode one
 * output byte may also be carried to the next call so that the 2 * in_len bound holds.
 * Once *done has been set, further calls consume nothing and set *done again.
 * DATA_LONG_LINE counts input bytes between line starts (a stuffing dot, bare CR and
 * bare LF included, the CR LF excluded).
 */
size_t data_scan_feed(struct data_scan *s, const char *in, size_t in_len,
                      char *out, size_t *out_len, bool *done);

#endif
