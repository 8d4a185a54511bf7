/*
 * callout.h - recipient verification by callout: ask the next hop of a domain whether it
 * takes a recipient (MAIL FROM:<sender> and RCPT TO:<rcpt>, never DATA), as a service the
 * policy engine is given (struct engine_env.callout).
 *
 * policy/checks/check_rcpt_verify.c asks; relay/deliver/callout.c answers (it knows the
 * transport table, the backup-MX probe's view of each primary and the SMTP client). The
 * service decides nothing about the reply to give: it reports what the next hop said.
 * Threading: loop thread only.
 */
#ifndef POSTERN_POLICY_CALLOUT_H
#define POSTERN_POLICY_CALLOUT_H

#include <stddef.h>

enum callout_answer {
    CALLOUT_VALID,      /* the next hop accepted the RCPT (2xx) */
    CALLOUT_INVALID,    /* it refused it permanently (5xx to RCPT) */
    CALLOUT_TEMP,       /* anything else: 4xx, MAIL refused, no connection, timeout, the
                           primary of a backup domain known to be down, no next hop that
                           speaks SMTP/LMTP (maildir) */
};

#define CALLOUT_TEXT_MAX 256

struct callout_result {
    enum callout_answer answer;
    int code;                       /* the next hop's reply code, 0 when none */
    char text[CALLOUT_TEXT_MAX];    /* what happened, one line, for logs */
};

/* Runs once on the loop thread with one result per recipient given to start (same
 * order); res is valid during the call. The request handle is gone by then. */
typedef void (*callout_fn)(void *arg, const struct callout_result *res, size_t n);

struct callout_req;

struct callout_service {
    /* Probe rcpts (all of domain) with sender ("" for <>). Everything is over within
       timeout_ms: what has no answer then is CALLOUT_TEMP. The strings are copied. Never
       NULL; cb never runs before start returns. */
    struct callout_req *(*start)(void *svc, const char *domain, const char *sender,
                                 const char *const *rcpts, size_t n, long long timeout_ms,
                                 callout_fn cb, void *arg);
    /* Stop a request whose callback has not run; the callback never runs then. */
    void (*cancel)(struct callout_req *req);
    void *svc;
};

#endif
