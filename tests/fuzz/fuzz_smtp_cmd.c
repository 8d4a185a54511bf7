// fuzz-sources: lib/smtp_parse.c lib/utf8.c
/*
 * fuzz_smtp_cmd.c - libFuzzer target for lib/smtp_parse.c, the command-channel parsers.
 *
 * Input: byte 0 picks the reader's line limit, byte 1 the size of the chunks the
 * simulated session reads; the rest is the client's byte stream. Like a session, the
 * target appends a chunk, calls smtp_line_next until NEED_MORE and drains *consumed bytes
 * after every call. Every good line goes through smtp_cmd_parse, and its argument (or the
 * whole line when there is no known verb) through smtp_path_parse as MAIL and as RCPT and
 * through smtp_helo_valid. Besides the sanitizers, it checks the framing invariants
 * (bounded memory, lines without CR/LF/NUL) and that a parsed address is canonical:
 * parsing the canonical form again gives the same address.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/smtp_cmd/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
         abort(); } } while (0)

static bool within(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && p + n <= base + len;
}

/* Parsing "FROM:<addr>" / "TO:<addr>" for a parsed address gives the same address. */
static void check_canonical(const struct smtp_addr *a, bool rcpt)
{
    char arg[SMTP_ADDR_MAX + 8];
    struct smtp_path_args again;
    int n = snprintf(arg, sizeof arg, "%s<%s>", rcpt ? "TO:" : "FROM:", a->addr);
    CHECK(n > 0 && (size_t)n < sizeof arg);
    CHECK(smtp_path_parse(arg, (size_t)n, rcpt, &again) == SMTP_PATH_OK);
    CHECK(strcmp(again.path.addr, a->addr) == 0);
    CHECK(strcmp(again.path.local, a->local) == 0);
    CHECK(strcmp(again.path.domain, a->domain) == 0);
    CHECK(again.path.utf8 == a->utf8 && again.path.literal == a->literal);
}

static void check_params(const struct smtp_path_args *out, const char *arg, size_t len)
{
    size_t i;
    CHECK(out->nparams <= SMTP_PARAMS_MAX);
    for (i = 0; i < out->nparams; i++) {
        const struct smtp_param *p = &out->params[i];
        char key[256];
        unsigned long long size;
        CHECK(p->key_len > 0 && within(p->key, p->key_len, arg, len));
        CHECK(p->value == NULL ? p->value_len == 0
                               : p->value_len > 0 && within(p->value, p->value_len, arg, len));
        if (p->key_len < sizeof key) {
            memcpy(key, p->key, p->key_len);
            key[p->key_len] = '\0';
            CHECK(smtp_param_find(out, key) != NULL);
        }
        (void)smtp_param_size(p, &size);
    }
}

static void check_path(const char *arg, size_t len, bool rcpt)
{
    struct smtp_path_args out;
    const struct smtp_addr *a = &out.path;
    size_t i;

    if (smtp_path_parse(arg, len, rcpt, &out) != SMTP_PATH_OK)
        return;
    CHECK(strlen(a->addr) < sizeof a->addr);
    CHECK(strlen(a->local) <= SMTP_LOCAL_MAX);
    CHECK(strlen(a->domain) <= SMTP_DOMAIN_MAX);
    CHECK(!a->null_path || (!rcpt && a->addr[0] == '\0'));
    for (i = 0; a->domain[i] != '\0'; i++)
        CHECK(a->literal || a->domain[i] < 'A' || a->domain[i] > 'Z');
    check_params(&out, arg, len);
    check_canonical(a, rcpt);
}

static void check_line(const char *line, size_t len)
{
    struct smtp_cmd cmd;
    const char *arg = line;
    size_t arg_len = len;

    if (smtp_cmd_parse(line, len, &cmd) == 0) {
        CHECK(cmd.verb != SMTP_VERB_UNKNOWN && within(cmd.arg, cmd.arg_len, line, len));
        CHECK(cmd.arg_len == 0 || (cmd.arg[0] != ' ' && cmd.arg[cmd.arg_len - 1] != ' '));
        arg = cmd.arg;
        arg_len = cmd.arg_len;
    } else {
        CHECK(cmd.verb == SMTP_VERB_UNKNOWN);
    }
    check_path(arg, arg_len, false);
    check_path(arg, arg_len, true);
    (void)smtp_helo_valid(arg, arg_len);
}

/* One call of the reader on buf[0..len); *drain gets the bytes to drain. False when the
 * reader needs more input. */
static bool frame_one(struct smtp_line_reader *rd, const char *buf, size_t len, size_t *drain)
{
    size_t line_len, consumed;
    bool was_discarding = rd->discarding;
    enum smtp_line_status st = smtp_line_next(rd, buf, len, &line_len, &consumed);

    CHECK(consumed <= len);
    *drain = consumed;
    if (st == SMTP_LINE_NEED_MORE) {
        CHECK(rd->discarding ? consumed == len : consumed == 0 && len <= rd->max + 1);
        return false;
    }
    CHECK(consumed > 0 && buf[consumed - 1] == '\n');
    CHECK(!rd->discarding);
    CHECK(!was_discarding || st == SMTP_LINE_TOO_LONG);
    if (st == SMTP_LINE_OK) {
        CHECK(line_len <= rd->max && consumed == line_len + 2 && buf[line_len] == '\r');
        CHECK(memchr(buf, '\r', line_len) == NULL && memchr(buf, '\n', line_len) == NULL);
        CHECK(memchr(buf, '\0', line_len) == NULL);
        check_line(buf, line_len);
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_line_reader rd = { 0 };
    const char *in = (const char *)data + 2;
    size_t chunk, n, pos = 0, avail = 0;

    if (size < 2)
        return 0;
    rd.max = 8 + data[0] % 200;
    chunk = 1 + data[1] % 64;
    n = size - 2;
    while (avail < n) {
        bool more = true;
        avail = avail + chunk < n ? avail + chunk : n;
        /* the session's buffer is in[pos..avail); draining advances pos */
        while (more) {
            size_t drain;
            more = frame_one(&rd, in + pos, avail - pos, &drain);
            pos += drain;
        }
    }
    return 0;
}
