/*
 * authfail.h - failed-login throttling, shared by every node through Redis.
 *
 * Failed AUTH attempts are counted per client address and per login in fixed windows
 * (authfail.window, default 15m, starting at the first failure): keys
 * pt:authfail:ip:{ADDR} and pt:authfail:login:{LOGIN} (separate namespaces, so a login
 * that looks like an IP address cannot lock out that address). IPv6 clients are counted
 * per prefix (authfail.ipv6_prefix, default /64), since one host owns a whole /64.
 * Once a counter reaches authfail.threshold (default 5), AUTH is refused for the rest
 * of that window.
 *
 * Suggested use by relay/: at AUTH, authfail_check(ip, NULL) and refuse with 454 4.7.0 /
 * 421 when blocked; once SASL has named the login, authfail_check(ip, login) again (a
 * blocked login is refused even with the right password, or brute force would go on);
 * after a failed exchange, authfail_record_failure(ip, login) and raise ONE
 * auth.bruteforce event when res->crossed (exactly one caller per window and counter
 * sees it, on any number of nodes). On Redis errors this module applies
 * authfail.fail_mode itself (default open: AUTH proceeds) and logs one line.
 * Threading: loop thread; callbacks run on the loop thread.
 */
#ifndef POSTERN_AUTHFAIL_H
#define POSTERN_AUTHFAIL_H

#include <stdbool.h>
#include <stddef.h>

struct redis;
struct conf_section;

enum authfail_fail_mode { AUTHFAIL_FAIL_OPEN, AUTHFAIL_FAIL_CLOSED };

struct authfail_conf {
    bool enabled;
    long long window_ms;       /* length of a counting window */
    long long threshold;       /* failures per window that block */
    int fail_mode;             /* enum authfail_fail_mode */
    long long ipv6_prefix;     /* IPv6 clients are counted per this prefix */
};

/* The "authfail" config section. */
extern const struct conf_section authfail_conf_section;

enum authfail_error { AUTHFAIL_OK, AUTHFAIL_ERR_TIMEOUT, AUTHFAIL_ERR_DOWN,
                      AUTHFAIL_ERR_SCRIPT };

enum authfail_scope { AUTHFAIL_NONE, AUTHFAIL_IP, AUTHFAIL_LOGIN };

struct authfail_result {
    enum authfail_error error;   /* on error, blocked follows fail_mode */
    int blocked;                 /* refuse AUTH */
    enum authfail_scope by;      /* the counter that blocks (IP first) */
    long long retry_s;           /* seconds until that counter's window ends */
    long long ip_failures;       /* in the current window */
    long long login_failures;    /* 0 without a login */
    int crossed;                 /* record: this failure made a counter reach the
                                    threshold: raise ONE auth.bruteforce event */
    int crossed_ip, crossed_login;  /* which counter(s) reached it just now */
};

struct authfail;
struct authfail_req;

/* Result of a check or record; loop thread. The handle is dead once this runs. */
typedef void (*authfail_done_fn)(const struct authfail_result *res, void *arg);

/* A throttle over conf (not copied) using the shared Redis client. */
struct authfail *authfail_new(const struct authfail_conf *conf, struct redis *redis);

/* Free it; requests still pending are cancelled without callbacks. */
void authfail_free(struct authfail *af);

/* Is ip (or login, when not NULL) blocked? Nothing is counted. */
struct authfail_req *authfail_check(struct authfail *af, const char *ip, const char *login,
                                    authfail_done_fn cb, void *arg);

/* Count one failed AUTH for ip and login (login may be NULL when the exchange failed
 * before naming one). res->crossed tells the one caller that reached the threshold. */
struct authfail_req *authfail_record_failure(struct authfail *af, const char *ip,
                                             const char *login, authfail_done_fn cb,
                                             void *arg);

/* Forget a pending request: its callback never runs. NULL is ignored. */
void authfail_cancel(struct authfail_req *req);

/* The address part of the IP key: an IPv4 address (also from ::ffff:a.b.c.d), or the
 * IPv6 network "2001:db8:1:2::/64" for prefix 64. Pure. 0, or -1 if ip is not an address. */
int authfail_ip_text(const char *ip, int ipv6_prefix, char *buf, size_t len);

#endif
