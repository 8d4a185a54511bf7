/*
 * sender_owner.h - which envelope senders (and From: addresses) an authenticated login
 * may use on submission, like Postfix's smtpd_sender_login_maps read the other way round.
 *
 * The map is auth_conf.senders: login -> addresses, where an address is "user@domain"
 * or "@domain" (every address in that domain, not its subdomains). Comparison is
 * case-insensitive for the whole address. A login without an entry owns only itself,
 * when the login is an address. The null sender is never owned.
 *
 * relay/ calls sender_owned() at MAIL FROM after a successful AUTH (and refuses with
 * 553 5.7.1 when it is false) and, when auth.header_from_must_match is set,
 * sender_header_from_matches() on the From: header value at end of DATA.
 * Everything here is pure (sender_map_read reads one file at config load); any thread.
 */
#ifndef POSTERN_SENDER_OWNER_H
#define POSTERN_SENDER_OWNER_H

#include <stdbool.h>
#include <stddef.h>

struct auth_conf;
struct conf_array;

/* Longest line of a sender_map file (longer lines are an error). */
#define SENDER_MAP_LINE_MAX 4096

/* True when login may use mail_from_addr (a bare address, no angle brackets) as the
 * envelope sender. conf->senders must be sorted (sender_map_sort; the config load does). */
bool sender_owned(const struct auth_conf *conf, const char *login, const char *mail_from_addr);

enum sender_from_status {
    SENDER_FROM_OK,
    SENDER_FROM_EMPTY,      /* no address in the value */
    SENDER_FROM_MULTIPLE,   /* several mailboxes, or group syntax */
    SENDER_FROM_SYNTAX,     /* unbalanced <>, quotes or comments; not local@domain */
    SENDER_FROM_TOO_LONG,   /* the address does not fit in the caller's buffer */
};

/* Extract the one address of a From: header value (unfolded or not): "Name <a@b>",
 * "\"a, b\" <a@b> (comment)", "a@b (Name)". Comments, whitespace and line folding are
 * dropped; quoted local parts are kept with their quotes. out gets a NUL-terminated
 * "local@domain" of at most out_size - 1 bytes. Pure. */
enum sender_from_status sender_from_address(const char *value, size_t len, char *out,
                                            size_t out_size);

/* True when the From: value holds exactly one address and login owns it. */
bool sender_header_from_matches(const struct auth_conf *conf, const char *login,
                                const char *from_value, size_t len);

/* True when s is a valid map address: "local@domain" or "@domain", no spaces or
 * control characters. */
bool sender_pattern_valid(const char *s);

/* Append the entries of a sender_map file to senders (struct auth_sender elements).
 * Lines: "login  addr1, addr2 @domain3" (commas and/or spaces separate addresses);
 * blank lines and lines starting with '#' are skipped. Returns 0, or -1 with a message
 * "PATH:LINE: text" in err (entries before the bad line are kept; conf_free frees them). */
int sender_map_read(const char *path, struct conf_array *senders, char *err, size_t errlen);

/* Sort senders by login, case-insensitively, so sender_owned() can search it. */
void sender_map_sort(struct conf_array *senders);

#endif
