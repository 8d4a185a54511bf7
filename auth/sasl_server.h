/*
 * sasl_server.h - the SMTP AUTH backend: Cyrus SASL server glue with protocol-neutral
 * results (like Postfix's xsasl). auth/ says OK / MORE / FAIL / TEMP / BADMECH / BADPROT;
 * only relay/ turns that into 235 / 334 / 535 / 454 / 504 / 501 and does the base64.
 *
 * Life cycle:
 *   sasl_server_setup(conf)            once, at startup, before privileges are dropped
 *                                      (it loads the plugins), before any worker runs;
 *   sasl_server_check_access()         after dropping them (warns if the sasldb is
 *                                      unreadable for the daemon's user).
 *   auth_sess_new(...)                 per SMTP session that may authenticate
 *   auth_sess_set_tls(...)             once TLS is up (STARTTLS done, or port 465)
 *   auth_sess_mechs(...)               for the EHLO "AUTH ..." line ("" = do not offer)
 *   auth_sess_start / auth_sess_step   one exchange step each; the callback comes later
 *   auth_sess_reset(...)               the client cancelled an exchange with "*"
 *   auth_op_cancel / auth_sess_free    the session is going away
 *   sasl_server_teardown()             at exit, after every session is freed and the
 *                                      worker pool is gone
 *
 * Users (sasldb, pwcheck_method auxprop): logins are full addresses. Cyrus splits a login
 * at its first '@' into user and realm, so login demo@example.test is the sasldb entry
 * made by either of
 *     saslpasswd2 -f /etc/postern/sasldb2 -c demo@example.test
 *     saslpasswd2 -f /etc/postern/sasldb2 -u example.test -c demo
 * (add -p to read the password from stdin without a prompt). A login without '@' is looked
 * up in realm auth.realm, or, when that is unset, in the server's hostname (the
 * serverFQDN given to auth_sess_new): saslpasswd2 without -u uses the host name of the
 * machine it runs on. The daemon's user must be able to read the sasldb file.
 * Logins are case-sensitive (sasldb keys are bytes).
 *
 * Threading: every function here runs on the loop thread. Each start/step runs Cyrus on
 * a worker thread of the given workpool (SCRAM costs ~5 ms of CPU, saslauthd blocks);
 * a session's sasl_conn_t is only ever used by one thread at a time, because a session
 * has at most one step in flight and the loop thread does not touch the connection
 * while it is. Callbacks run on the loop thread.
 */
#ifndef POSTERN_SASL_SERVER_H
#define POSTERN_SASL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct auth_conf;
struct workpool;
struct auth_sess;
struct auth_op;

enum auth_status {
    AUTH_OK,        /* authenticated: username is set */
    AUTH_MORE,      /* send the challenge (possibly empty) and pass the answer to step */
    AUTH_FAIL,      /* wrong password, unknown user, not authorised: the same for all */
    AUTH_TEMP,      /* backend trouble (saslauthd down, out of memory): try later */
    AUTH_BADMECH,   /* mechanism not offered on this session (or no AUTH before TLS) */
    AUTH_BADPROT,   /* malformed client data for the mechanism */
};

struct auth_result {
    enum auth_status status;
    const unsigned char *challenge;  /* AUTH_MORE: raw bytes for the client (not base64),
                                        followed by a NUL not counted in challenge_len */
    size_t challenge_len;
    const char *username;            /* AUTH_OK: the authenticated login; AUTH_FAIL: the
                                        login tried, when the exchange named one; always
                                        canonical (auth_login_canonical), e.g.
                                        "demo@example.test" */
    const char *reason;              /* for the log line, never for the client; sanitised */
};

/* Result of one start or step. Loop thread. res and everything it points to are valid
 * during the call only; the op handle is dead once this runs. The callback may free the
 * session or start the next step. */
typedef void (*auth_cb)(const struct auth_result *res, void *arg);

/* Longest client response accepted per step, in decoded bytes (RFC 4954 4: 12288 octets
 * of base64 per line). Longer responses get AUTH_BADPROT. */
#define AUTH_DATA_MAX 9216

/* Longest canonical login, in bytes (a login is an address: 64 + "@" + 255). */
#define AUTH_LOGIN_MAX 320

/* The canonical form of a login: the one name that limits, failure counters, sender
 * ownership, logs and the spool envelope use, however the client spelled it. A login
 * without '@' gets "@" realm (realm: auth.realm, or the server's name: where Cyrus looks
 * it up), so "bare" and "bare@REALM" are one login; ASCII letters are lower-cased, so
 * that spellings a case-insensitive backend (saslauthd on LDAP) accepts alike are one
 * login too (sasldb itself still wants the exact case of its entry). Writes it into out
 * (size > AUTH_LOGIN_MAX). Returns 0, or -1 when login is empty, longer than
 * AUTH_LOGIN_MAX with the realm, or holds a control character (it would inject lines
 * into logs and the spool envelope). Pure. */
int auth_login_canonical(const char *login, const char *realm, char *out, size_t size);

/* Initialise Cyrus SASL for the whole process (mutexes, options, plugins), with app name
 * "postern". Options come from conf (copied): restart to change mechanisms, sasldb,
 * pwcheck_method, saslauthd_path. Returns 0, or -1 (logged) when SASL cannot start or no
 * configured mechanism is available. */
int sasl_server_setup(const struct auth_conf *conf);

/* Check that the sasldb (auxprop) is readable by the current user; logs a warning and
 * returns -1 when not. setup calls it; call it again after dropping privileges. */
int sasl_server_check_access(void);

/* Release Cyrus SASL. Only after every session is freed and the workpool has stopped. */
void sasl_server_teardown(void);

/* The mechanisms in effect after setup, space-separated ("PLAIN LOGIN"), for logs. */
const char *sasl_server_mechanisms(void);

/* A new AUTH context for one SMTP session. conf (realm, require_tls) must outlive it;
 * server_fqdn is this server's name; local/remote are "ip;port" (auth_ipport()).
 * Returns NULL (logged) when SASL is not set up or refuses. */
struct auth_sess *auth_sess_new(struct workpool *wp, const struct auth_conf *conf,
                                const char *server_fqdn, const char *local_ipport,
                                const char *remote_ipport);

/* Format ip and port the way Cyrus wants ("192.0.2.1;25", "2001:db8::1;587"). */
void auth_ipport(char *buf, size_t size, const char *ip, unsigned port);

/* TLS is up with strength ssf (cipher bits), peer_cn the client certificate's name or
 * NULL. Enables PLAIN and LOGIN. Not while a step is in flight. 0, or -1 (logged). */
int auth_sess_set_tls(struct auth_sess *sess, unsigned ssf, const char *peer_cn);

/* The mechanisms to advertise now, "PLAIN LOGIN"; "" when AUTH must not be offered
 * (none available, or require_tls before TLS). Owned by sess, valid until the next
 * auth_sess_set_tls or auth_sess_free. */
const char *auth_sess_mechs(const struct auth_sess *sess);

/* True when AUTH is refused only because TLS is required and not active yet (relay/
 * answers 530 5.7.0 instead of 504). */
bool auth_sess_needs_tls(const struct auth_sess *sess);

/* Begin an exchange with mech (any case). ir_present says whether the client sent an
 * initial response: absent (no argument) and empty ("=") differ for SASL. cb runs later
 * on the loop thread, exactly once unless the op is cancelled. One exchange step at a
 * time per session (a second one while one is in flight is a programming error). */
struct auth_op *auth_sess_start(struct auth_sess *sess, const char *mech,
                                const unsigned char *ir, size_t ir_len, int ir_present,
                                auth_cb cb, void *arg);

/* Continue the exchange with the client's decoded answer to a challenge. */
struct auth_op *auth_sess_step(struct auth_sess *sess, const unsigned char *data, size_t len,
                               auth_cb cb, void *arg);

/* The client cancelled the exchange ("*"): forget it; the next start begins afresh.
 * Not while a step is in flight. */
void auth_sess_reset(struct auth_sess *sess);

/* The owner of op is going away: its callback will never run. NULL is ignored. The
 * worker may still be running the step; the session stays valid until it is done. */
void auth_op_cancel(struct auth_op *op);

/* Free the session (cancelling its pending step, if any). When a worker still uses the
 * SASL connection, the release is deferred until it is done. NULL is ignored. */
void auth_sess_free(struct auth_sess *sess);

/* The name of a status ("ok", "more", ...), for logs and tests. */
const char *auth_status_name(enum auth_status st);

#endif
