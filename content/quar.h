/*
 * quar.h - the quarantine's shared index in Redis, and the C API over it that the web page
 * (/ui/), posternctl's daemon side and the digest use.
 *
 * Every node keeps the messages it quarantined in its own durable store beside the spool
 * (relay/quar/quar_store.h); the index is shared, so listing, the web page and the digest see
 * every node's entries, and a release or delete asked on any node is handed to the node that
 * holds the file through that node's job list, which it pops on its loop (relay/quar/).
 * Redis keys (each with one hash tag; see DESIGN.md):
 *   pt:q:{ENTRY}        hash: the entry's fields (struct quar_entry), TTL retention + 1 day
 *   pt:qr:{RCPT}        zset: the recipient's entries, score = date
 *   pt:qd:{DOMAIN}      zset: the recipient domain's entries
 *   pt:qa:{all}         zset: every entry (posternctl quarantine list)
 *   pt:qj:{NODE}        list: jobs for NODE, "release ENTRY FLAGS" or "delete ENTRY"
 *   pt:qres:{ENTRY}     "released NEWQID" or "deleted", for an hour after the holder did it
 * A release or delete first sets the entry's "job" field with HSETNX: only the first one asked
 * is carried out, so a link used twice (or two admins at once) releases the mail once; the
 * entry leaves the listings at once and its hash goes when the holder has done the job
 * (a request after that finds pt:qres and answers EALREADY too).
 *
 * Threading: loop thread only; every callback runs on the loop thread, later, never inside
 * the call that started it. Each call returns a handle; quar_cancel() guarantees that the
 * callback never runs (a web request that goes away while waiting is safe).
 * Who calls it: relay/ creates one struct quar per daemon (server.h: srv->quar) and hands it
 * to the web page and the admin socket; the store glue (relay/quar/) writes the index.
 */
#ifndef POSTERN_QUAR_H
#define POSTERN_QUAR_H

#include <stdbool.h>
#include <stddef.h>

#include "content/quar_token.h"

struct event_base;
struct redis;
struct quar;
struct quar_op;

#define QUAR_ID_MAX 64               /* an entry ID and its NUL: "QUEUEID.IDX" */
#define QUAR_LIST_SCAN_MAX 5000      /* a listing looks at the newest this many entries */
#define QUAR_FIELD_MAX 998           /* From and Subject are kept cut to this many bytes */

/* One quarantine entry: one (message, recipient). Strings are never NULL ("" when absent). */
struct quar_entry {
    char id[QUAR_ID_MAX];
    char *rcpt;                      /* envelope recipient */
    char *sender;                    /* envelope sender, "" for the null sender */
    char *from;                      /* the From: field's text (RFC 2047 words as sent) */
    char *subject;                   /* the Subject: field's text (likewise) */
    char *reason;                    /* "spam", "virus", "file", "dmarc", "list", "other" */
    char *detail;                    /* the engine's reason ("virus Eicar-Signature") */
    char *symbols;                   /* "NAME(SCORE) NAME(SCORE) ..." */
    char *node;                      /* the node that holds the message */
    char *qid;                       /* the queue ID it arrived with */
    double score;
    long long date;                  /* when it was quarantined (unix seconds) */
    unsigned long long size;         /* message bytes */
};

/* The reason word for an engine's reason text and symbols ("virus Eicar" -> "virus",
 * "blocked file" -> "file", "dmarc" -> "dmarc", a list symbol -> "list", otherwise "spam"). */
const char *quar_reason_of(const char *detail, const char *symbols);

/* The Redis key PREFIX{NAME} of the layout above, NAME escaped (redis_key_escape);
 * malloc'd. quar_key("pt:qr:", "bob@example.test") is the recipient's zset. */
char *quar_key(const char *prefix, const char *name);

/* True when s is a valid entry ID (letters, digits and '.', 1..QUAR_ID_MAX-1 bytes). */
bool quar_id_valid(const char *s);

/* A client over redis on base (both borrowed: they must outlive the quar). node is this
 * node's name (copied): the entries it adds name it as their holder, and quar_jobs_pop()
 * pops its list. */
struct quar *quar_new(struct event_base *base, struct redis *redis, const char *node);
void quar_free(struct quar *q);            /* pending operations are dropped, no callbacks */
const char *quar_node(const struct quar *q);

/* Forget a pending operation: its callback will not run. Harmless from inside it. */
void quar_cancel(struct quar_op *op);

/* ---- reading ------------------------------------------------------------------------------ */

enum quar_sort { QUAR_SORT_DATE, QUAR_SORT_SCORE, QUAR_SORT_SENDER, QUAR_SORT_SUBJECT };

struct quar_query {
    const char *rcpt;                /* one recipient's entries, or NULL */
    const char *domain;              /* else one recipient domain's, or NULL: every entry */
    const char *reason;              /* only this reason word, or NULL */
    const char *search;              /* case-insensitive substring of sender, From or
                                        Subject, or NULL */
    long long since;                 /* only entries dated after this (0: all) */
    enum quar_sort sort;
    bool ascending;                  /* default newest / highest / A-Z last... first: false */
    size_t offset, limit;            /* a page of the matches; limit 0: all */
};

/* The result of a listing: err 0, or EIO (Redis unreachable, timeout). e[0..n) is the page
 * (borrowed for the callback), total the number of matches over all pages. */
typedef void (*quar_list_fn)(void *arg, int err, const struct quar_entry *e, size_t n,
                             size_t total);
struct quar_op *quar_list(struct quar *q, const struct quar_query *query, quar_list_fn cb,
                          void *arg);

/* One entry: err 0 and e (borrowed), ENOENT (no such entry, or its release or delete was
 * asked already), EIO. */
typedef void (*quar_get_fn)(void *arg, int err, const struct quar_entry *e);
struct quar_op *quar_get(struct quar *q, const char *id, quar_get_fn cb, void *arg);

/* ---- acting ------------------------------------------------------------------------------- */

#define QUAR_F_LEARN 1u              /* release: and train the spam classifier as ham */
#define QUAR_F_ADMIN 2u              /* asked by an admin: may release virus entries */

/* The outcome of a release or delete request: err 0 (queued for the holder, text says which
 * node), ENOENT (no such entry), EALREADY (released or deleted already: harmless),
 * EPERM (owner does not match, or a virus entry without QUAR_F_ADMIN), EIO. text is a short
 * English sentence for the user. */
typedef void (*quar_done_fn)(void *arg, int err, const char *text);

/* Release entry id: delivered as it arrived to its recipient, with an X-Postern-Released
 * field, through the normal queue. owner: NULL for anyone (admin), "user@domain" for that
 * recipient only, "@domain" for the domain's admin. flags: QUAR_F_*. */
struct quar_op *quar_release(struct quar *q, const char *id, const char *owner,
                             unsigned flags, quar_done_fn cb, void *arg);

/* Delete entry id (same owner rule, virus entries too). */
struct quar_op *quar_delete(struct quar *q, const char *id, const char *owner,
                            quar_done_fn cb, void *arg);

/* A digest link: verify token (quar_token.h) with key at now, then release its entry as its
 * recipient (never QUAR_F_ADMIN: a virus entry is refused with EPERM), learning when the
 * token says so. A bad token: EINVAL, "invalid link"; an expired one: ETIMEDOUT. */
struct quar_op *quar_release_token(struct quar *q, const void *key, size_t keylen,
                                   const char *token, long long now, quar_done_fn cb,
                                   void *arg);

/* ---- the holder's side (relay/quar/) ------------------------------------------------------- */

/* Index entry e (e->node is set to this node) with a TTL of ttl_s seconds; cb may be NULL. */
struct quar_op *quar_index_add(struct quar *q, const struct quar_entry *e, long long ttl_s,
                               quar_done_fn cb, void *arg);

/* Remove entry id (with its recipient rcpt) from the index; cb may be NULL. */
struct quar_op *quar_index_remove(struct quar *q, const char *id, const char *rcpt,
                                  quar_done_fn cb, void *arg);

/* Pop this node's next job: cb gets err 0 and the job's text ("release ID FLAGS" or
 * "delete ID"), or err 0 and NULL when there is none, or EIO. */
typedef void (*quar_job_fn)(void *arg, int err, const char *job);
struct quar_op *quar_jobs_pop(struct quar *q, quar_job_fn cb, void *arg);

/* Free the strings of an entry filled by the functions of this module (not e itself). */
void quar_entry_clear(struct quar_entry *e);

#endif
