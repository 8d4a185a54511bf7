/*
 * spam_report.c - format the X-Spam-* headers and the policy log line (see spam_report.h).
 */
#include "policy/spam_report.h"

#include "lib/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SpamAssassin's one decimal, without "-0.0". */
static void one_decimal(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.1f", v);
    if (strcmp(buf, "-0.0") == 0)
        snprintf(buf, len, "0.0");
}

/* One or two decimals ("4.0", "1.5", "0.25"), for the log. */
static void log_score(char *buf, size_t len, double v)
{
    size_t n;

    snprintf(buf, len, "%.2f", v);
    n = strlen(buf);
    if (n >= 4 && buf[n - 1] == '0')
        buf[n - 1] = '\0';
    if (strcmp(buf, "-0.0") == 0)
        snprintf(buf, len, "0.0");
}

/* A threshold as short as exact, up to two decimals ("8", "7.5"). */
static void log_threshold(char *buf, size_t len, double v)
{
    char *dot;
    size_t n;

    snprintf(buf, len, "%.2f", v);
    dot = strchr(buf, '.');
    if (dot != NULL) {
        for (n = strlen(buf); buf[n - 1] == '0'; n--)
            buf[n - 1] = '\0';
        if (buf[n - 1] == '.')
            buf[n - 1] = '\0';
    }
    if (strcmp(buf, "-0") == 0)
        snprintf(buf, len, "0");
}

static void status_field(FILE *f, const struct rcpt_result *r)
{
    char score[32], req[32];
    size_t line, i;

    one_decimal(score, sizeof(score), r->score);
    one_decimal(req, sizeof(req), r->tag);
    line = (size_t)fprintf(f, "X-Spam-Status: %s, score=%s required=%s tests=",
                           r->spam_flag ? "Yes" : "No", score, req);
    if (r->nsyms == 0)
        fputs("none", f);
    for (i = 0; i < r->nsyms; i++) {
        size_t n = strlen(r->syms[i].name) + (i + 1 < r->nsyms ? 1 : 0);
        if (i > 0 && line + n > SPAM_HEADER_LINE_MAX) {
            fputs("\r\n\t", f);
            line = 1;
        }
        fprintf(f, "%s%s", r->syms[i].name, i + 1 < r->nsyms ? "," : "");
        line += n;
    }
    fputs("\r\n", f);
}

char *spam_headers_format(const struct rcpt_result *r)
{
    char *out = NULL, score[32];
    size_t len = 0;
    FILE *f;
    int stars;

    if (!r->headers)
        return xstrdup("");
    f = open_memstream(&out, &len);
    if (f == NULL)
        abort(); /* out of memory: fatal in Postern */
    status_field(f, r);
    one_decimal(score, sizeof(score), r->score);
    fprintf(f, "X-Spam-Score: %s\r\n", score);
    if (r->spam_flag) {
        fputs("X-Spam-Flag: YES\r\n", f);
        stars = r->score >= SPAM_LEVEL_STARS_MAX ? SPAM_LEVEL_STARS_MAX
                : r->score >= 1 ? (int)floor(r->score) : 0;
        fprintf(f, "X-Spam-Level: %.*s\r\n", stars,
                "**************************************************");
    }
    fclose(f);
    return out;
}

char *spam_log_format(const char *queue_id, const struct rcpt_result *r, const char *rcpts)
{
    char *out = NULL, score[32], thr[32], s[32];
    size_t len = 0, i;
    FILE *f = open_memstream(&out, &len);

    if (f == NULL)
        abort();
    log_score(score, sizeof(score), r->score);
    log_threshold(thr, sizeof(thr), r->spam);
    fprintf(f, "%s: action=%s score=%s/%s symbols=", queue_id ? queue_id : "NOQUEUE",
            disposition_name(r->disp), score, thr);
    if (r->nsyms == 0)
        fputs("none", f);
    for (i = 0; i < r->nsyms; i++) {
        log_score(s, sizeof(s), r->syms[i].score);
        fprintf(f, "%s%s(%s)", i ? "," : "", r->syms[i].name, s);
    }
    if (rcpts != NULL)
        fprintf(f, " to=%s", rcpts);
    fclose(f);
    return out;
}
