/*
 * queue_policy.h - the delivery side of the policy engine: each recipient's copy made
 * from its "policy" record (policy/result_record.h).
 *
 * A loaded message's pending recipients are sorted by what their record asks for:
 *   no record            the stored bytes as they are (files from before the engine, DSNs),
 *                        or, when the header holds Authentication-Results fields that claim
 *                        our authserv-id (the host name), a copy without them
 *   pass, tag, mark      a copy: X-Spam-* fields and forged Authentication-Results (RFC
 *                        8601 5) from outside removed, the record's X-Spam-*
 *                        fields (when its flags say H) and hdr= fields added below our
 *                        Received:,
 *                        and for mark the Subject prefix (prefix=) once
 *   discard              not delivered: "done IDX TIME 2.0.0 none discarded: REASON"
 *   wrap                 a new message (content/wrap.h): the warning naming reason=, the
 *                        original attached as message/rfc822 with its dangerous parts
 *                        replaced by notices, then the record's X-Spam-* and hdr= fields;
 *                        one copy per recipient (its To:)
 *   quarantine           moved to the quarantine store when the file is loaded
 *                        (queue_quar.h); until then held (queue_file_rcpt_held): not
 *                        delivered, never expired
 *   released             (files of older versions) as tag/pass: headers only, no prefix
 * Recipients whose records are equal apart from IDX share one copy (a "variant") and so
 * one transaction; copies live in memfds made on the worker pool while the file loads.
 */
#ifndef POSTERN_QUEUE_POLICY_H
#define POSTERN_QUEUE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/result.h"

struct queue_file;
struct queue;

/* The longest header section edited (a message with a longer one goes as it is). */
#define QPOLICY_HEADER_MAX (1024 * 1024)
/* The largest message wrapped (read whole into memory); a larger one is held instead. */
#define QPOLICY_WRAP_MAX (256ULL * 1024 * 1024)

struct qvariant {
    int fd;                       /* memfd with the whole message, from offset 0 */
    size_t len;
};

struct qpolicy {
    struct qvariant *v;
    size_t nv;
    int *rcpt_variant;            /* per rcpt: index into v, or -1 for the stored bytes */
    size_t nrcpt;
    char err[160];                /* why copies could not be made (then every rcpt is -1 and
                                     the attempt is deferred), "" when fine */
};

/* The header section fields[0..len) edited for result r (released: no Subject prefix;
 * r NULL: no record) with the Authentication-Results fields claiming authserv_id removed
 * (NULL: none removed). malloc'd, *out_len its length. Pure. */
char *qpolicy_header(const char *fields, size_t len, const struct rcpt_result *r,
                     bool released, const char *authserv_id, size_t *out_len);

/* Make the copies for qf's pending, deliverable recipients from the message in fd
 * (hostname: for wrapped messages' From and Message-ID). Blocking: worker pool. */
void qpolicy_build(struct qpolicy *p, const struct queue_file *qf, int fd,
                   const char *hostname);

/* Close the copies and free. */
void qpolicy_free(struct qpolicy *p);

/* Is this pending recipient to be discarded? */
bool qpolicy_discard(const struct queue_file *qf, size_t idx);

#endif
