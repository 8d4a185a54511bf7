/*
 * scan_proto.h - the wire protocol between the daemon (content/scan_client.c) and the
 * scanner program postern-scan (content/scanner/).
 *
 * One AF_UNIX SOCK_SEQPACKET socketpair; the scanner gets its end as descriptor 3. Every
 * packet is one fixed struct, so there is no framing to get wrong.
 *   daemon -> scanner: struct scan_request; SCAN carries the spooled file as one SCM_RIGHTS
 *                      descriptor, and the offset and length of the message inside it.
 *   scanner -> daemon: struct scan_reply; text is NUL-terminated:
 *                      id != 0: "clean" | "virus NAME" | "unscanned REASON" |
 *                               "encrypted NAME" | "error REASON"
 *                      id == 0: "log PRIO TEXT" (a log line for the daemon to write:
 *                               the scanner cannot reach syslog), "ready SIGS LOAD_MS
 *                               RSS_KB" (an engine is loaded, or a new one
 *                               swapped in), "noengine REASON" (none could be loaded)
 * The scanner answers requests in any order (several scan threads); ids match them.
 */
#ifndef POSTERN_CONTENT_SCAN_PROTO_H
#define POSTERN_CONTENT_SCAN_PROTO_H

#include <stdint.h>

#define SCAN_PROTO_FD     3          /* the scanner's end of the socketpair */
#define SCAN_REPLY_TEXT   512

enum scan_op { SCAN_OP_SCAN = 1, SCAN_OP_RELOAD = 2 };

struct scan_request {
    uint32_t op;            /* enum scan_op */
    uint32_t pad;
    uint64_t id;            /* SCAN: nonzero, echoed in the reply */
    uint64_t offset;        /* where the message starts in the file */
    uint64_t length;        /* its length */
};

struct scan_reply {
    uint64_t id;
    char text[SCAN_REPLY_TEXT];
};

#endif
