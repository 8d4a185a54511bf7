/*
 * authfail.h - failed-login throttling, shared by every node through Redis.
 *
 * Three counters, in fixed windows (authfail.window, default 15m, starting at the first
 * count; the TTL is never extended, so every block ends):
 *   - the client address (IPv6 per authfail.ipv6_prefix, default /64), any login:
 *     pt:authfail:ip:{ADDR}. Hard limit: at authfail.ip_threshold attempts that failed or
 *     are still running, AUTH from that address is refused before SASL runs, so the reply
 *     cannot depend on the password. An attempt is reserved (counted) atomically when AUTH
 *     starts and given back when it succeeds or ends without a verdict, so parallel
 *     sessions get no more guesses than one session.
 *   - the (login, address) pair: pt:authfail:login:{LOGIN}:ip:ADDR. Hard limit: after
 *     authfail.login_ip_threshold failures, that login is refused from that address
 *     whatever the password (a right one is then counted as a failure too, so that no
 *     counter or delay tells it apart).
 *   - the login, from every address: pt:authfail:login:{LOGIN}. Never a block: from
 *     authfail.login_threshold failures on, every verdict for that login (right or wrong
 *     password) is held back by a delay that doubles with each failure, from
 *     authfail.login_delay up to authfail.login_delay_max, and crossing the threshold
 *     raises the alert. Anyone can make a login slow for a while; nobody can lock it out.
 * LOGIN is the canonical login (auth_login_canonical); the two login keys share their
 * hash tag and the address keys theirs, so each script touches one Redis Cluster slot.
 * Each counter reaching its threshold gives its "crossed" flag to exactly one caller per
 * window, on any number of nodes: raise ONE auth.bruteforce event per crossed counter.
 *
 * Use by relay/: at AUTH, authfail_begin(); refuse (421 4.7.0, close) when res->refused
 * by AUTHFAIL_IP, or 454 4.7.0 when refused on a Redis error. After an exchange with a
 * verdict (SASL OK or FAIL), authfail_end() with the login (NULL when the exchange named
 * none) and res->reserved from begin; then wait res->delay_ms (a timer, never blocking),
 * and reply: 421 when refused by AUTHFAIL_LOGIN_IP, 454 when refused on error, else the
 * SASL verdict. After an exchange without a verdict (cancelled, malformed, mechanism not
 * offered, backend trouble), authfail_release() when an attempt was reserved.
 * On Redis errors this module applies authfail.fail_mode (open: AUTH goes on without
 * counting; closed: refused) and logs one line.
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
    long long window_ms;           /* length of a counting window, and of a block */
    long long ip_threshold;        /* attempts per address and window that block it */
    long long login_ip_threshold;  /* failures per (login, address) that block the pair */
    long long login_threshold;     /* failures per login that start its delay, and alert */
    long long login_delay_ms;      /* first delay; doubles with each further failure */
    long long login_delay_max_ms;  /* the delay never exceeds this */
    int fail_mode;                 /* enum authfail_fail_mode */
    long long ipv6_prefix;         /* IPv6 clients are counted per this prefix */
};

/* The "authfail" config section. */
extern const struct conf_section authfail_conf_section;

enum authfail_error { AUTHFAIL_OK, AUTHFAIL_ERR_TIMEOUT, AUTHFAIL_ERR_DOWN,
                      AUTHFAIL_ERR_SCRIPT };

enum authfail_scope { AUTHFAIL_NONE, AUTHFAIL_IP, AUTHFAIL_LOGIN_IP, AUTHFAIL_LOGIN };

/* One counter as this call left it. */
struct authfail_count {
    long long count;      /* in the current window (the address's: failed or running) */
    long long left_s;     /* seconds until its window ends (0: no window) */
    bool crossed;         /* this call made it reach its threshold: raise ONE event */
};

struct authfail_result {
    enum authfail_error error;
    bool refused;                  /* refuse this AUTH */
    enum authfail_scope blocked_by; /* AUTHFAIL_IP or AUTHFAIL_LOGIN_IP; NONE when refused
                                      only because Redis failed (fail_mode closed) */
    long long retry_s;             /* blocked: seconds until that block ends */
    bool reserved;                 /* begin: an attempt is reserved: pass it to end */
    long long delay_ms;            /* end: hold the reply back this long */
    struct authfail_count ip, login_ip, login;  /* 0 for counters this call did not see */
};

struct authfail;
struct authfail_req;

/* Result of begin or end; loop thread. The handle is dead once this runs. */
typedef void (*authfail_done_fn)(const struct authfail_result *res, void *arg);

/* A throttle over conf (not copied) using the shared Redis client. */
struct authfail *authfail_new(const struct authfail_conf *conf, struct redis *redis);

/* Free it; requests still pending are cancelled without callbacks. */
void authfail_free(struct authfail *af);

/* AUTH starts from ip: refused when the address is blocked, else one attempt is
 * reserved (res->reserved). */
struct authfail_req *authfail_begin(struct authfail *af, const char *ip, authfail_done_fn cb,
                                    void *arg);

/* The exchange ended with a verdict: success (SASL OK) or not, for login (canonical; NULL
 * only when a failed exchange named none: then only the address counts it); reserved is
 * res->reserved of the begin. Counts the failure (or gives the reservation back), decides
 * the (login, address) block and the login's delay. */
struct authfail_req *authfail_end(struct authfail *af, const char *ip, const char *login,
                                  bool success, bool reserved, authfail_done_fn cb,
                                  void *arg);

/* The exchange ended without a verdict: give back the attempt reserved at begin. No
 * callback; cancelled by authfail_free. */
void authfail_release(struct authfail *af, const char *ip);

/* Forget a pending request: its callback never runs. NULL is ignored. */
void authfail_cancel(struct authfail_req *req);

/* The delay for a verdict on a login that had `failures` failures in the window before
 * this attempt: 0 below login_threshold, then login_delay doubling per failure, capped at
 * login_delay_max. Pure. */
long long authfail_delay_ms(const struct authfail_conf *conf, long long failures);

/* The address part of the IP key: an IPv4 address (also from ::ffff:a.b.c.d), or the
 * IPv6 network "2001:db8:1:2::/64" for prefix 64. Pure. 0, or -1 if ip is not an address. */
int authfail_ip_text(const char *ip, int ipv6_prefix, char *buf, size_t len);

#endif
