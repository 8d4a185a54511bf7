/*
 * smtp_reply_format.c - one SMTP reply line from the reply table (see smtp_replies.h).
 */
#include "lib/smtp_replies.h"

#include <stdarg.h>
#include <stdio.h>

size_t smtp_reply_vformat(char *buf, size_t len, int code, const char *ecode, const char *fmt,
                          va_list ap)
{
    int n = ecode ? snprintf(buf, len, "%d %s ", code, ecode) : snprintf(buf, len, "%d ", code);
    int m = vsnprintf(buf + n, len - (size_t)n - 2, fmt, ap);
    size_t used = (size_t)n + (m < 0 ? 0 : (size_t)m);

    if (used > len - 3)
        used = len - 3; /* cut, but always end with CRLF */
    buf[used++] = '\r';
    buf[used++] = '\n';
    buf[used] = '\0';
    return used;
}

size_t smtp_reply_format(char *buf, size_t len, int code, const char *ecode, const char *fmt, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    n = smtp_reply_vformat(buf, len, code, ecode, fmt, ap);
    va_end(ap);
    return n;
}
