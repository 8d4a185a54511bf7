/*
 * redis.h - one asynchronous Redis connection on the libevent loop (hiredis 0.14).
 *
 * hiredis 0.14 has neither command timeouts nor reconnects; this wrapper adds both:
 *   - every command has its own deadline (redis.timeout, default 250 ms); when it passes,
 *     that command's callback gets REDIS_RESULT_TIMEOUT at once, and if nothing at all came
 *     back on the connection since the command was sent, the connection is declared stuck,
 *     dropped, and rebuilt;
 *   - a lost or failed connection is re-opened from a timer with exponential backoff
 *     (redis.reconnect_min doubling up to redis.reconnect_max); commands issued while there is
 *     no connection fail with REDIS_RESULT_DOWN on the next loop turn, never inside the call;
 *   - each new connection first loads every registered Lua script (SCRIPT LOAD) and sends a
 *     PING; only the PING's answer makes the state UP, so a Redis that accepts connections but
 *     never answers (SIGSTOP) stays DOWN instead of flapping;
 *   - scripts are called with EVALSHA, and a NOSCRIPT answer (empty cache after a Redis
 *     restart) is retried once as EVAL under the same handle and deadline.
 * Every request returns a handle; redis_cancel() guarantees that its callback never runs,
 * so a session that dies while waiting is safe.
 * With redis.sentinels the master is found through Redis Sentinel (lib/redis_sentinel.h)
 * before each connect; a READONLY answer, or a server that says (ROLE) it is not the
 * master, drops the connection and the sentinels are asked again: a failover is followed
 * within one reconnect. redis.password (and username) are sent with AUTH first.
 *
 * Who calls it: the daemon creates one client at startup and passes it to the modules that
 * share state in Redis (policy/ratelimit, auth/authfail, greylisting ...).
 * Threading: loop thread only. All callbacks run on the loop thread.
 */
#ifndef POSTERN_REDIS_H
#define POSTERN_REDIS_H

#include <stddef.h>

#include "lib/conf.h"
#include "lib/redis_key.h"   /* redis_key_escape(): many users of this header need it */

struct event_base;
struct redisReply;
struct redisContext;
struct conf_section;

struct redis_conf {
    char *socket;           /* unix socket path; when set it wins over address */
    char *address;          /* "127.0.0.1:6379" or "[::1]:6379": IP literal only */
    long long timeout_ms;   /* deadline of each command */
    long long reconnect_min_ms;
    long long reconnect_max_ms;
    struct conf_strlist sentinels;  /* "IP:PORT" of Redis Sentinels; when set they say
                                       where the master is, and address is not used */
    char *master_name;      /* the master's name at the sentinels */
    char *username;         /* AUTH username (Redis 6 ACL), or NULL */
    char *password;         /* AUTH password, or NULL */
};

/* The "redis" config section (socket, address, timeout, reconnect_min, reconnect_max). */
extern const struct conf_section redis_conf_section;

enum redis_result {
    REDIS_RESULT_OK,          /* reply is a normal reply */
    REDIS_RESULT_REPLY_ERROR, /* reply is an error reply (reply->str has Redis's text) */
    REDIS_RESULT_TIMEOUT,     /* no answer before the deadline; reply is NULL */
    REDIS_RESULT_DOWN         /* no connection, or it broke: outcome unknown; reply is NULL */
};

enum redis_state { REDIS_STATE_UP, REDIS_STATE_DOWN };

struct redis;
struct redis_req;
struct redis_script;

/* Result of one request; loop thread. `reply` is owned by hiredis and freed when the
 * callback returns: copy what you need. The request's handle is dead once this runs. */
typedef void (*redis_reply_fn)(enum redis_result res, const struct redisReply *reply,
                               void *arg);

/* Called on the loop thread when the connection becomes usable (UP) or is lost or cannot
 * be made (DOWN): once per change, never twice in a row with the same state. */
typedef void (*redis_state_fn)(enum redis_state state, const char *why, void *arg);

/* Start a client for conf (not copied: it must outlive the client). The first connect is
 * started on the next loop turn; no callback runs inside this call. state_fn may be NULL. */
struct redis *redis_new(struct event_base *base, const struct redis_conf *conf,
                        redis_state_fn state_fn, void *state_arg);

/* A key watch (Redis >= 6 client-side caching): a connection of its own that turns on
 * CLIENT TRACKING ... BCAST PREFIX prefix redirected to itself and subscribes to
 * __redis__:invalidate, so Redis tells it about every write, deletion or expiry of a key
 * under prefix, by any client (a script, another node, redis-cli). cb(key, len, arg) per
 * changed key; key NULL: anything under the prefix may have changed (the watch has just
 * (re)started, or Redis was flushed). state_fn(UP): subscribed; DOWN: not, and changes may
 * be missed until the next UP (which calls cb(NULL) first). Same reconnects, AUTH and
 * sentinels as redis_new; it sends no other commands. Free with redis_free. Loop thread. */
typedef void (*redis_watch_fn)(const char *key, size_t len, void *arg);
struct redis *redis_watch_new(struct event_base *base, const struct redis_conf *conf,
                              const char *prefix, redis_watch_fn cb,
                              redis_state_fn state_fn, void *arg);

/* Apply what the watch has already received, without waiting: a change that Redis
 * announced before this call is reported (cb) before it returns, so a cache checked right
 * after it is not older than the caller's own view of time. One poll(2). Never from
 * inside this watch's own callbacks. */
void redis_watch_sync(struct redis *r);

/* Close the connection and free everything. Pending requests are dropped WITHOUT their
 * callbacks (cancel them first if their owners need to know). Call before event_base_free,
 * and never from inside one of this client's callbacks. */
void redis_free(struct redis *r);

/* Current state (DOWN until the first PING has been answered). */
enum redis_state redis_state(const struct redis *r);

/* Where it connects, as in its log lines: "127.0.0.1:6379" or "unix:/path/redis.sock". */
const char *redis_where(const struct redis *r);

/* Send one command given as an argument vector (binary safe; argvlen may be NULL for C
 * strings). The callback runs exactly once, later, unless the handle is cancelled first. */
struct redis_req *redis_command_argv(struct redis *r, int argc, const char *const *argv,
                                     const size_t *argvlen, redis_reply_fn cb, void *arg);

/* Register a Lua script with the client (copied). It is loaded with SCRIPT LOAD on every
 * (re)connect. The script object is owned by the client and freed by redis_free; the same
 * source registered twice gives the same object. */
struct redis_script *redis_script_new(struct redis *r, const char *source);

/* Hex SHA-1 of the script's source, as Redis names it. */
const char *redis_script_sha(const struct redis_script *s);

/* Run a script: EVALSHA sha nkeys keys... args..., and on NOSCRIPT the same as EVAL.
 * keys and args are copied. Same callback contract as redis_command_argv. */
struct redis_req *redis_script_call(struct redis *r, const struct redis_script *s,
                                    int nkeys, const char *const *keys,
                                    int nargs, const char *const *args,
                                    redis_reply_fn cb, void *arg);

/* A callback for fire-and-forget commands (a lost update is acceptable to the caller). */
void redis_reply_ignore(enum redis_result res, const struct redisReply *reply, void *arg);

/* Forget a pending request: its callback will never run and the handle is freed. It is an
 * error to cancel a handle whose callback has already started; doing so from inside that
 * very callback is harmless. */
void redis_cancel(struct redis_req *req);


/* Split "A.B.C.D:PORT" or "[V6]:PORT" into a numeric host and port (pure). Returns 0, or
 * -1 when the text is not an IP literal with a port in 1..65535. */
int redis_parse_address(const char *text, char *host, size_t hostlen, int *port);

/* Blocking connection for admin tools (posternctl), never for the daemon's loop: connects
 * to the configured socket or address with timeout_ms as connect and I/O timeout. Returns
 * NULL after printing the reason to stderr. Free with redisFree(). */
struct redisContext *redis_connect_blocking(const struct redis_conf *conf);

#endif
