/*
 * smtp_client_conf.c - the "smtp_client" config section (struct smtp_client_conf) and the
 * names of the per-route TLS policies (see smtp_client.h).
 *
 * Timeouts default to RFC 5321 4.5.3.2's client values where the RFC gives one, and to
 * Postfix's smtp_*_timeout defaults elsewhere. The root config embeds the section; the
 * queue runner passes the loaded struct to every client in smtp_client_opts.conf.
 */
#include "relay/deliver/smtp_client.h"

#include <stddef.h>

#define MIN_TIMEOUT_MS   100
#define MAX_TIMEOUT_MS   3600000
#define MIN_LINE         512          /* RFC 5321 4.5.3.1.5: replies are up to 512 octets */
#define MAX_LINE         65536
#define MIN_CHUNK        1024
#define MAX_CHUNK        (16 * 1024 * 1024)

const char *const smtp_tls_policy_names[] = { "none", "opportunistic", "required", NULL };

#define K(f) offsetof(struct smtp_client_conf, f)
#define TIMEOUT(name, field, def, help) \
    { name, CONF_DURATION, K(field), def, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, NULL, NULL, 0, 0, help }
static const struct conf_key smtp_client_keys[] = {
    TIMEOUT("connect_timeout", connect_ms, "30s", "TCP connect to a next hop"),
    TIMEOUT("greeting_timeout", greeting_ms, "5m",
            "wait for the 220 greeting (RFC 5321 4.5.3.2.1: 5 minutes)"),
    TIMEOUT("helo_timeout", helo_ms, "5m", "wait for the reply to EHLO, HELO or LHLO"),
    TIMEOUT("starttls_timeout", starttls_ms, "5m",
            "wait for the reply to STARTTLS, and for the TLS handshake"),
    TIMEOUT("auth_timeout", auth_ms, "5m", "wait for each reply of the AUTH exchange"),
    TIMEOUT("mail_timeout", mail_ms, "5m", "wait for the reply to MAIL (RFC 5321 4.5.3.2.2)"),
    TIMEOUT("rcpt_timeout", rcpt_ms, "5m", "wait for each reply to RCPT (RFC 5321 4.5.3.2.3)"),
    TIMEOUT("data_timeout", data_ms, "2m", "wait for the 354 reply to DATA (RFC 5321 4.5.3.2.4)"),
    TIMEOUT("data_block_timeout", data_block_ms, "3m",
            "longest time without progress while sending the body (RFC 5321 4.5.3.2.5)"),
    TIMEOUT("data_done_timeout", data_done_ms, "10m",
            "wait for the reply to the final dot (RFC 5321 4.5.3.2.6)"),
    TIMEOUT("rset_timeout", rset_ms, "20s", "wait for the reply to RSET between messages"),
    TIMEOUT("quit_timeout", quit_ms, "5m",
            "wait for the reply to QUIT in the background before closing"),
    { "reply_line_max", CONF_INT, K(reply_line_max), "2048", MIN_LINE, MAX_LINE, NULL, NULL, 0,
      0, "longest reply line accepted from a server, CRLF excluded; longer ends the session" },
    { "reply_lines_max", CONF_INT, K(reply_lines_max), "100", 1, SMTP_REPLY_LINES_CAP, NULL,
      NULL, 0, 0, "most lines in one server reply (EHLO lists); more ends the session" },
    { "data_chunk", CONF_SIZE, K(data_chunk), "64K", MIN_CHUNK, MAX_CHUNK, NULL, NULL, 0, 0,
      "bytes read from the queue file at a time; about three chunks are held per connection" },
    { .name = "chunking", .type = CONF_BOOL, .offset = K(chunking), .def = "true",
      .help = "send a message as one BDAT chunk (RFC 3030: its exact bytes, no dot-stuffing) "
              "when the next hop offers CHUNKING, else with DATA; false: always DATA (not "
              "for LMTP, which always uses DATA)" },
    { NULL }
};
#undef TIMEOUT
#undef K

const struct conf_section smtp_client_conf_section = { "smtp_client", smtp_client_keys, NULL };
