/*
 * log.h - Postfix-shaped logging to syslog (mail facility) or stderr.
 *
 * Every line is "postern/COMPONENT[PID]: text", where COMPONENT names the part of the
 * daemon the way Postfix names its programs (smtpd, cleanup, qmgr, smtp, ...), so that
 * pflogsumm --syslog-name=postern and Postfix grok patterns read Postern's logs unchanged.
 * In foreground mode (postern -d) lines go to stderr with a timestamp; otherwise they are
 * sent to the local syslog socket (/dev/log) with facility mail. Safe to call from any
 * thread: each line is formatted into a local buffer and written with one call.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stddef.h>
#include <syslog.h>

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

/* Set the program name ("postern"), where lines go, and whether debug lines are shown. */
void log_init(const char *progname, enum log_target target, int verbose);

/* Log one line at syslog priority prio (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG).
 * Errors and warnings get Postfix's "error: " / "warning: " prefix. */
void log_msg(int prio, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(comp, ...) log_msg(LOG_ERR, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_WARNING, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) log_msg(LOG_DEBUG, comp, __VA_ARGS__)

/* Copy client-supplied text for a log line: control characters and non-printable bytes
 * become '?', the result is cut to dst_len - 1 bytes and always NUL-terminated.
 * Returns dst. */
char *log_sanitize(char *dst, size_t dst_len, const char *src, size_t src_len);

#endif
