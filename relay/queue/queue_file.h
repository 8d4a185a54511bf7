/*
 * queue_file.h - reading a queue file and appending delivery records to it.
 *
 * A queue file (format: docs/spool.md) is the envelope, the message, then status records
 * appended by the queue runner, one text line each. The file is never rewritten: records
 * only ever grow it, so a reader (the queue runner after a restart, posternctl) sees a
 * consistent prefix at any time. What the records mean:
 *
 *   done IDX TIME DSN RELAY TEXT       recipient IDX was delivered (2xx)
 *   bounced IDX TIME DSN RELAY TEXT    recipient IDX failed for good; its DSN (if one was
 *                                      due) was queued before this record was written
 *   deferred IDX TIME DSN RELAY TEXT   the latest temporary failure of recipient IDX
 *   try COUNT NEXT                     COUNT attempts made so far; next one at NEXT
 *   hold TIME / release TIME           the admin held / released the message
 *   suspended TIME / unsuspended TIME  held because its login (auth) is suspended by the
 *                                      compromised-account breaker / no longer held;
 *                                      the time in between does not count towards the
 *                                      queue lifetime (queue_file_age)
 *   warned TIME                        the delay warning was sent
 *   policy IDX DISP ...                the policy result of recipient IDX, written at
 *                                      acceptance (policy/result_record.h)
 *   released IDX TIME                  the admin released held recipient IDX
 *
 * IDX is the recipient's position among the "rcpt" lines (from 0), TIME and NEXT unix
 * seconds, DSN an RFC 3463 code, RELAY "host[ip]:port" or a word such as "none", TEXT the
 * rest of the line (the reply, sanitised: printable ASCII). A line that does not end in a
 * newline was cut by a crash and is ignored; the writer starts a new line before its own
 * record in that case. Unknown or malformed lines are counted and skipped.
 *
 * The parse functions are pure (bytes in, struct out). The I/O functions block and belong
 * on the worker pool (or in posternctl).
 */
#ifndef POSTERN_QUEUE_FILE_H
#define POSTERN_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/qid.h"
#include "policy/result.h"

#define QF_DSN_MAX   12
#define QF_TEXT_MAX  600
#define QF_RELAY_MAX 320

enum qf_state { QF_PENDING, QF_DONE, QF_BOUNCED };

/* Largest message size a queue file may declare (1 TiB, far above any size limit). */
#define QF_MSG_SIZE_MAX (1ULL << 40)

struct qf_rcpt {
    char *addr;
    enum qf_state state;
    long long time;              /* of the last record about it; 0: none */
    char dsn[QF_DSN_MAX];        /* of the last record about it; "" when none */
    char *relay;                 /* ditto; NULL when none */
    char *text;                  /* ditto (the reply or our reason); NULL when none */
    bool deferred;               /* the last record was "deferred" */
    struct rcpt_result *policy;  /* its "policy" record (the last one), or NULL */
    bool released;               /* "released": a held recipient goes out as is */
    char *verp;                  /* its "verp" record: the envelope sender of its copy
                                    (a per-recipient bounce address), or NULL */
};

struct queue_file {
    char qid[QID_MAX];
    double arrival;
    char *client, *client_name, *helo, *listener, *proto, *auth, *body;
    char *profile;               /* the listener's profile; NULL in files made before it
                                    was recorded, and in DSNs (listener "bounce") */
    bool smtputf8;
    char *sender;                /* "" for the null sender */
    struct qf_rcpt *rcpts;
    size_t nrcpt;
    uint64_t msg_offset;         /* where the message starts in the file */
    uint64_t msg_size;           /* its length */
    /* from the records */
    unsigned tries;
    long long next_try;          /* 0: never scheduled */
    bool held;
    bool suspended;              /* "suspended" without "unsuspended" after it */
    long long suspended_since;   /* TIME of that "suspended" record */
    long long suspended_s;       /* seconds of the spells that ended (unsuspended) */
    bool warned;
    char sender_auth[16];        /* how the sender was authenticated at receipt ("spf",
                                    "dkim", "spf+dkim"), "" when it was not */
    unsigned bad_records;        /* lines skipped as malformed (not counting a cut tail) */
};

enum qf_parse { QF_PARSE_OK, QF_PARSE_MORE, QF_PARSE_BAD };

/*
 * Parse the envelope at the start of buf[0..len) into qf (zeroed by the caller).
 * QF_PARSE_OK: *env_len is the length of the envelope including the "data" line, and
 * qf->msg_offset/msg_size are set. QF_PARSE_MORE: the "data" line has not been seen yet
 * (give more bytes). QF_PARSE_BAD: not a queue file of a known version; why says so.
 * Fields allocated into qf are released by queue_file_free() in every case.
 */
enum qf_parse queue_file_parse_envelope(const char *buf, size_t len, struct queue_file *qf,
                                        size_t *env_len, const char **why);

/* Apply the records in buf[0..len) (the bytes after the message) to qf, in order. */
void queue_file_apply_records(struct queue_file *qf, const char *buf, size_t len);

/* Count of recipients still pending. */
size_t queue_file_pending(const struct queue_file *qf);

/*
 * Record lines, malloc'd, newline included. kind is "done", "bounced" or "deferred";
 * relay and text may be NULL ("none" / "-"); text is sanitised and cut to QF_TEXT_MAX.
 */
char *queue_file_rec_rcpt(const char *kind, size_t idx, long long t, const char *dsn,
                          const char *relay, const char *text);
char *queue_file_rec_try(unsigned count, long long next);
char *queue_file_rec_mark(const char *kind, long long t);   /* hold, release, warned */
/* (The records written at receipt, "sender_auth" and "verp", are made by
 * relay/spool/spool.h: spool_rec_sender_auth(), spool_rec_verp().) */
/* The envelope sender for recipient idx: its verp address, else the file's sender. */
const char *queue_file_rcpt_sender(const struct queue_file *qf, size_t idx);

void queue_file_free(struct queue_file *qf);

/* The age of the message at now (unix s) as the queue lifetime and the delay warning
 * count it: since arrival, less the time it was held because its login was suspended. */
long long queue_file_age(const struct queue_file *qf, long long now);

/* Is recipient r held (pending, its policy says quarantine, and the admin has not
 * released it)? Held recipients are not delivered and never expire; posternctl held
 * release|delete decides. */
bool queue_file_rcpt_held(const struct qf_rcpt *r);

/* "released IDX TIME\n", malloc'd. */
char *queue_file_rec_released(size_t idx, long long t);

/* ---- blocking I/O ---------------------------------------------------------------------- */

/*
 * Open and read queue file qid in directory dirfd. Returns the parsed file (envelope and
 * records) or NULL with errno set (EINVAL: not a queue file). When fd_out is not NULL the
 * file stays open read-only and the descriptor is stored there (the caller closes it).
 */
struct queue_file *queue_file_load(int dirfd, const char *qid, int *fd_out);

/* Move a file that queue_file_load() cannot parse (EINVAL) from the queue directory to
 * the corrupt/ directory, durably (both directories fsynced). -1 with errno on failure. */
int queue_file_quarantine(int dirfd, int corrupt_fd, const char *qid);

/* Append records (complete lines) to the file and fdatasync it. 0, or -1 with errno. */
int queue_file_append(int dirfd, const char *qid, const char *recs, size_t len);

/* Unlink the file and fsync the directory. 0, or -1 with errno (ENOENT counts as done). */
int queue_file_remove(int dirfd, const char *qid);

#endif
