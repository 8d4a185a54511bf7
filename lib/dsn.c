/*
 * dsn.c - RFC 3464 delivery status notifications, built in memory (see dsn.h).
 *
 * The text grows in one malloc'd buffer (struct sb). Every header and field written here
 * comes either from the report (checked for CR/LF first, so nothing the caller passes can
 * add a line) or from constants. The boundary is derived from the queue ID, the time and
 * our host name (Postfix's shape "QID.TIME/HOST") and lengthened until it occurs in
 * nothing the report copies (attached headers, addresses, replies), so the result
 * depends on the input only.
 *
 * A report about internationalized mail (RFC 6533: a non-ASCII address, or attached
 * headers in UTF-8) uses the "global" types: report-type=global-delivery-status,
 * message/global-delivery-status with the utf-8 address type for non-ASCII addresses,
 * text/plain in UTF-8 when the human part names such an address, and
 * message/global-headers for UTF-8 headers. Headers with 8-bit bytes that are not UTF-8
 * (legacy mail) stay text/rfc822-headers, marked 8bit.
 */
#include "lib/dsn.h"

#include "lib/utf8.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DSN_BOUNDARY_MAX 200
#define ASCII_SPACE      0x20
#define ASCII_DEL        0x7f

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    char small[512];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        sb_add(b, small, (size_t)n);
        return;
    }
    {
        char *big = xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        sb_add(b, big, (size_t)n);
        free(big);
    }
}

char *dsn_format_date(char *buf, size_t len, long long t)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    return buf;
}

size_t dsn_header_section_len(const char *msg, size_t len)
{
    size_t i;
    if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
        return 2;
    for (i = 0; i + 3 < len; i++)
        if (msg[i] == '\r' && msg[i + 1] == '\n' && msg[i + 2] == '\r' && msg[i + 3] == '\n')
            return i + 4;
    return len;
}

static bool has_crlf(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

static bool is_ascii(const char *s)
{
    return utf8_is_ascii(s, strlen(s));
}

/* "TYPE; ADDRESS" of a DSN address field: rfc822 for ASCII, else RFC 6533's utf-8 type
 * in its utf-8-addr-unitext form (ASCII controls, space, '\', '+' and '=' become
 * \x{HH}; the rest stays as it is). */
static void put_address(struct sb *b, const char *addr)
{
    const unsigned char *p;

    if (is_ascii(addr)) {
        sb_printf(b, "rfc822; %s", addr);
        return;
    }
    sb_puts(b, "utf-8; ");
    for (p = (const unsigned char *)addr; *p; p++) {
        if (*p <= ASCII_SPACE || *p == ASCII_DEL || *p == '\\' || *p == '+' || *p == '=')
            sb_printf(b, "\\x{%02X}", *p);
        else
            sb_add(b, (const char *)p, 1);
    }
}

static bool mem_contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;
    if (k == 0 || k > n)
        return false;
    for (i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

static bool str_contains(const char *s, const char *needle)
{
    return s != NULL && mem_contains(s, strlen(s), needle);
}

/* Does dashed ("--" boundary) occur in anything of r that the report copies? */
static bool boundary_clashes(const struct dsn_report *r, size_t hlen, const char *dashed)
{
    size_t i;
    if (mem_contains(r->headers ? r->headers : "", hlen, dashed) ||
        str_contains(r->sender, dashed))
        return true;
    for (i = 0; i < r->nrcpt; i++) {
        const struct dsn_rcpt *rc = &r->rcpts[i];
        if (str_contains(rc->addr, dashed) || str_contains(rc->remote_mta, dashed) ||
            str_contains(rc->diagnostic, dashed) || str_contains(rc->reason, dashed))
            return true;
    }
    return false;
}

/* The attached part: whole lines only, at most max bytes, without the empty line. */
static size_t headers_cut(const char *h, size_t len, size_t max)
{
    size_t n = dsn_header_section_len(h, len);
    if ((n == 2 && h[0] == '\r' && h[1] == '\n') ||
        (n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0))
        n -= 2; /* drop the empty line that ends the section */
    if (n > max) {
        n = max;
        while (n > 0 && !(n >= 2 && h[n - 2] == '\r' && h[n - 1] == '\n'))
            n--;
    }
    return n;
}

static void human_part(struct sb *b, const struct dsn_report *r)
{
    size_t i;

    sb_printf(b, "This is the mail system at host %s.\r\n\r\n", r->reporting_mta);
    if (r->action == DSN_FAILED)
        sb_puts(b, "I'm sorry to have to inform you that your message could not\r\n"
                   "be delivered to one or more recipients. It's attached below.\r\n\r\n"
                   "For further assistance, please send mail to postmaster.\r\n\r\n"
                   "If you do so, please include this problem report. You can\r\n"
                   "delete your own text from the attached returned message.\r\n\r\n");
    else
        sb_puts(b, "####################################################################\r\n"
                   "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
                   "####################################################################\r\n"
                   "\r\n"
                   "Your message could not be delivered for some time yet. The mail\r\n"
                   "system will keep trying; it will tell you if it finally gives up.\r\n\r\n");
    sb_puts(b, "                   The mail system\r\n\r\n");
    for (i = 0; i < r->nrcpt; i++) {
        const struct dsn_rcpt *rc = &r->rcpts[i];
        const char *why = rc->reason ? rc->reason : rc->diagnostic;
        sb_printf(b, "<%s>: %s\r\n", rc->addr, why ? why : "delivery failed");
        /* the reason usually quotes the remote reply already ("host X said: ...") */
        if (rc->remote_mta && rc->diagnostic && rc->reason &&
            strstr(rc->reason, rc->diagnostic) == NULL)
            sb_printf(b, "    host %s said: %s\r\n", rc->remote_mta, rc->diagnostic);
        sb_puts(b, "\r\n");
    }
}

static void status_part(struct sb *b, const struct dsn_report *r)
{
    char date[40];
    size_t i;

    sb_printf(b, "Reporting-MTA: dns; %s\r\n", r->reporting_mta);
    sb_printf(b, "X-Postern-Queue-ID: %s\r\n", r->qid);
    sb_puts(b, "X-Postern-Sender: ");
    put_address(b, r->sender);
    sb_puts(b, "\r\n");
    sb_printf(b, "Arrival-Date: %s\r\n", dsn_format_date(date, sizeof(date), r->arrival));
    for (i = 0; i < r->nrcpt; i++) {
        const struct dsn_rcpt *rc = &r->rcpts[i];
        sb_puts(b, "\r\n");
        sb_puts(b, "Final-Recipient: ");
        put_address(b, rc->addr);
        sb_puts(b, "\r\n");
        sb_printf(b, "Action: %s\r\n", r->action == DSN_FAILED ? "failed" : "delayed");
        sb_printf(b, "Status: %s\r\n", rc->status);
        if (rc->remote_mta)
            sb_printf(b, "Remote-MTA: dns; %s\r\n", rc->remote_mta);
        if (rc->diagnostic)
            sb_printf(b, "Diagnostic-Code: smtp; %s\r\n", rc->diagnostic);
        if (rc->last_attempt)
            sb_printf(b, "Last-Attempt-Date: %s\r\n",
                      dsn_format_date(date, sizeof(date), rc->last_attempt));
        if (r->action == DSN_DELAYED && r->retry_until)
            sb_printf(b, "Will-Retry-Until: %s\r\n",
                      dsn_format_date(date, sizeof(date), r->retry_until));
    }
}

static bool report_valid(const struct dsn_report *r)
{
    size_t i;
    if (r->nrcpt == 0 || r->rcpts == NULL || r->sender == NULL || r->sender[0] == '\0' ||
        r->reporting_mta == NULL || r->qid == NULL || r->message_id == NULL)
        return false;
    if (has_crlf(r->reporting_mta) || has_crlf(r->qid) || has_crlf(r->sender) ||
        has_crlf(r->message_id))
        return false;
    for (i = 0; i < r->nrcpt; i++) {
        const struct dsn_rcpt *rc = &r->rcpts[i];
        if (rc->addr == NULL || rc->status == NULL || has_crlf(rc->addr) ||
            has_crlf(rc->status) || has_crlf(rc->remote_mta) || has_crlf(rc->diagnostic) ||
            has_crlf(rc->reason))
            return false;
    }
    return true;
}

int dsn_build(const struct dsn_report *r, struct dsn_message *out)
{
    struct sb b = { NULL, 0, 0 };
    char boundary[DSN_BOUNDARY_MAX], dashed[DSN_BOUNDARY_MAX + 2], date[40];
    size_t hlen = 0, i;
    int extra = 0;
    bool addr_utf8, head_8bit, head_utf8, global;

    memset(out, 0, sizeof(*out));
    if (!report_valid(r))
        return -1;
    if (r->headers)
        hlen = headers_cut(r->headers, r->headers_len, r->headers_max);
    do {
        if (extra)
            snprintf(boundary, sizeof(boundary), "%.64s.%lld.%d/%.100s", r->qid, r->now,
                     extra, r->reporting_mta);
        else
            snprintf(boundary, sizeof(boundary), "%.64s.%lld/%.100s", r->qid, r->now,
                     r->reporting_mta);
        snprintf(dashed, sizeof(dashed), "--%s", boundary);
        extra++;
    } while (boundary_clashes(r, hlen, dashed));

    /* RFC 6533: a report about internationalized mail uses the global types */
    addr_utf8 = !is_ascii(r->sender);
    for (i = 0; i < r->nrcpt; i++)
        if (!is_ascii(r->rcpts[i].addr))
            addr_utf8 = true;
    head_8bit = !utf8_is_ascii(r->headers ? r->headers : "", hlen);
    head_utf8 = head_8bit && utf8_is_valid(r->headers, hlen);
    global = addr_utf8 || head_utf8;
    out->eightbit = addr_utf8 || head_8bit;

    sb_printf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", r->reporting_mta);
    sb_printf(&b, "To: <%s>\r\n", r->sender);
    sb_printf(&b, "Subject: %s\r\n", r->action == DSN_FAILED
                                         ? "Undelivered Mail Returned to Sender"
                                         : "Delayed Mail (still being retried)");
    sb_printf(&b, "Date: %s\r\n", dsn_format_date(date, sizeof(date), r->now));
    sb_printf(&b, "Message-ID: <%s>\r\n", r->message_id);
    sb_puts(&b, "Auto-Submitted: auto-replied\r\n");
    sb_puts(&b, "MIME-Version: 1.0\r\n");
    sb_printf(&b, "Content-Type: multipart/report; report-type=%s;\r\n"
                  "\tboundary=\"%s\"\r\n",
              global ? "global-delivery-status" : "delivery-status", boundary);
    if (out->eightbit)
        sb_puts(&b, "Content-Transfer-Encoding: 8bit\r\n");
    sb_puts(&b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

    sb_printf(&b, "%s\r\n", dashed);
    sb_printf(&b, "Content-Description: Notification\r\n"
                  "Content-Type: text/plain; charset=%s\r\n%s\r\n",
              addr_utf8 ? "utf-8" : "us-ascii",
              addr_utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "");
    human_part(&b, r);

    sb_printf(&b, "%s\r\n", dashed);
    sb_printf(&b, "Content-Description: Delivery report\r\n"
                  "Content-Type: message/%s\r\n%s\r\n",
              global ? "global-delivery-status" : "delivery-status",
              addr_utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "");
    status_part(&b, r);
    sb_puts(&b, "\r\n");

    sb_printf(&b, "%s\r\n", dashed);
    sb_printf(&b, "Content-Description: Undelivered Message Headers\r\n"
                  "Content-Type: %s\r\n%s\r\n",
              head_utf8 ? "message/global-headers" : "text/rfc822-headers",
              head_8bit ? "Content-Transfer-Encoding: 8bit\r\n" : "");
    if (hlen)
        sb_add(&b, r->headers, hlen);
    if (hlen == 0 || r->headers[hlen - 1] != '\n')
        sb_puts(&b, "\r\n");
    sb_printf(&b, "\r\n%s--\r\n", dashed);

    out->text = b.p;
    out->len = b.len;
    return 0;
}

void dsn_format_age(char *buf, size_t len, long long seconds)
{
    static const struct { long long secs; const char *one, *many; } units[] = {
        { 86400, "day", "days" }, { 3600, "hour", "hours" }, { 60, "minute", "minutes" },
    };
    long long n = 0;
    size_t i;

    if (seconds < 60)
        seconds = 60; /* "less than a minute" reads worse than "1 minute" here */
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if ((n = seconds / units[i].secs) >= 1)
            break;
    snprintf(buf, len, "%lld %s", n, n == 1 ? units[i].one : units[i].many);
}
