/*
 * test_proxy_proto.c - unit tests of lib/proxy_proto.c: PROXY protocol v1 text and v2
 * binary headers (IPv4, IPv6, LOCAL, UNKNOWN, TLVs), incomplete headers that need more
 * bytes, and the malformed ones that a listener must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/proxy_proto.h"

static enum proxy_status parse_str(const char *s, struct proxy_hdr *h)
{
    return proxy_parse((const unsigned char *)s, strlen(s), h, NULL);
}

static void v1_tcp4_gives_addresses_and_length(void **state)
{
    const char *in = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\nEHLO x\r\n";
    struct proxy_hdr h;
    char ip[INET6_ADDRSTRLEN];
    (void)state;
    assert_int_equal(parse_str(in, &h), PROXY_OK);
    assert_int_equal(h.version, 1);
    assert_false(h.local);
    assert_int_equal(h.family, AF_INET);
    assert_int_equal(h.len, strlen("PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n"));
    assert_int_equal(h.src_port, 56324);
    assert_int_equal(h.dst_port, 25);
    assert_int_equal(proxy_src_text(&h, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "192.0.2.7");
}

static void v1_tcp6_and_unknown(void **state)
{
    struct proxy_hdr h;
    char ip[INET6_ADDRSTRLEN];
    (void)state;
    assert_int_equal(parse_str("PROXY TCP6 2001:db8::5 2001:db8::1 65535 0\r\n", &h), PROXY_OK);
    assert_int_equal(h.family, AF_INET6);
    assert_int_equal(h.src_port, 65535);
    assert_int_equal(h.dst_port, 0);
    assert_int_equal(proxy_src_text(&h, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "2001:db8::5");
    assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &h), PROXY_OK);
    assert_true(h.local);
    assert_int_equal(h.len, 15);
    assert_int_equal(proxy_src_text(&h, ip, sizeof(ip)), -1);
    assert_int_equal(parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &h), PROXY_OK);
    assert_true(h.local);
    assert_int_equal(parse_str("PROXY UNKNOWNX\r\n", &h), PROXY_BAD);
}

static void v1_every_prefix_needs_more(void **state)
{
    const char *in = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n";
    size_t n = strlen(in), i;
    struct proxy_hdr h;
    (void)state;
    for (i = 0; i < n; i++)
        assert_int_equal(proxy_parse((const unsigned char *)in, i, &h, NULL), PROXY_NEED_MORE);
}

static void v1_malformed_lines_are_bad(void **state)
{
    static const char *const bad[] = {
        "EHLO client.example\r\n",
        "proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\rX",
        "PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 2 \r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 -1 2\r\n",
        "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",
        "PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n",
        "PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n",
        "PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
        "PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n",
        "PROXY \r\n",
    };
    struct proxy_hdr h;
    const char *why = NULL;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (proxy_parse((const unsigned char *)bad[i], strlen(bad[i]), &h, &why) != PROXY_BAD)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(why);
    }
}

static void v1_refused_early_and_bounded(void **state)
{
    char longline[200];
    struct proxy_hdr h;
    (void)state;
    /* an SMTP client's first bytes are refused at once, not after 107 bytes */
    assert_int_equal(parse_str("E", &h), PROXY_BAD);
    assert_int_equal(parse_str("PROXX", &h), PROXY_BAD);
    memset(longline, 'A', sizeof(longline));
    memcpy(longline, "PROXY UNKNOWN ", 14);
    assert_int_equal(proxy_parse((unsigned char *)longline, 105, &h, NULL), PROXY_NEED_MORE);
    assert_int_equal(proxy_parse((unsigned char *)longline, 106, &h, NULL), PROXY_BAD);
    memcpy(longline + 105, "\r\n", 2);   /* 107 bytes: the longest allowed */
    assert_int_equal(proxy_parse((unsigned char *)longline, 107, &h, NULL), PROXY_OK);
    assert_int_equal(h.len, 107);
}

/* A v2 header: signature, ver/cmd, fam/proto, the rest of len bytes from body. */
static size_t v2(unsigned char *out, unsigned char vercmd, unsigned char famproto,
                 const unsigned char *body, size_t len)
{
    static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51,
                                           0x55, 0x49, 0x54, 0x0A };
    memcpy(out, sig, 12);
    out[12] = vercmd;
    out[13] = famproto;
    out[14] = (unsigned char)(len >> 8);
    out[15] = (unsigned char)len;
    memcpy(out + 16, body, len);
    return 16 + len;
}

static void v2_ipv4_with_tlvs(void **state)
{
    unsigned char body[64], buf[128];
    struct proxy_hdr h;
    char ip[INET6_ADDRSTRLEN];
    size_t n, i;
    (void)state;
    memcpy(body, "\xc0\x00\x02\x07" "\xc6\x33\x64\x01" "\xdc\x04" "\x00\x19", 12);
    /* an ALPN TLV, a NOOP TLV of length 0, a CRC32C TLV */
    memcpy(body + 12, "\x01\x00\x04smtp" "\x04\x00\x00" "\x03\x00\x04\x01\x02\x03\x04", 17);
    n = v2(buf, 0x21, 0x11, body, 29);
    memcpy(buf + n, "EHLO", 4);
    assert_int_equal(proxy_parse(buf, n + 4, &h, NULL), PROXY_OK);
    assert_int_equal(h.version, 2);
    assert_int_equal(h.len, n);
    assert_int_equal(h.ntlv, 3);
    assert_int_equal(h.src_port, 56324);
    assert_int_equal(h.dst_port, 25);
    assert_int_equal(proxy_src_text(&h, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "192.0.2.7");
    for (i = 0; i < n; i++)
        assert_int_equal(proxy_parse(buf, i, &h, NULL), PROXY_NEED_MORE);
}

static void v2_ipv6_and_local(void **state)
{
    unsigned char body[36], buf[128];
    struct proxy_hdr h;
    char ip[INET6_ADDRSTRLEN];
    size_t n;
    (void)state;
    memset(body, 0, sizeof(body));
    inet_pton(AF_INET6, "2001:db8::42", body);
    inet_pton(AF_INET6, "2001:db8::1", body + 16);
    body[32] = 0x12; body[33] = 0x34; body[34] = 0; body[35] = 25;
    n = v2(buf, 0x21, 0x21, body, 36);
    assert_int_equal(proxy_parse(buf, n, &h, NULL), PROXY_OK);
    assert_int_equal(h.family, AF_INET6);
    assert_int_equal(h.src_port, 0x1234);
    assert_int_equal(proxy_src_text(&h, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "2001:db8::42");
    /* LOCAL (a balancer's health check), with or without an address block */
    n = v2(buf, 0x20, 0x00, body, 0);
    assert_int_equal(proxy_parse(buf, n, &h, NULL), PROXY_OK);
    assert_true(h.local);
    assert_int_equal(h.len, 16);
    n = v2(buf, 0x20, 0x11, body, 12);
    assert_int_equal(proxy_parse(buf, n, &h, NULL), PROXY_OK);
    assert_true(h.local);
    /* PROXY with UNSPEC: the real addresses stand */
    n = v2(buf, 0x21, 0x00, body, 0);
    assert_int_equal(proxy_parse(buf, n, &h, NULL), PROXY_OK);
    assert_true(h.local);
}

static void v2_malformed_headers_are_bad(void **state)
{
    unsigned char body[64], buf[4200];
    struct proxy_hdr h;
    const char *why;
    size_t n;
    (void)state;
    memset(body, 0, sizeof(body));
    n = v2(buf, 0x11, 0x11, body, 12);                  /* version 1 in binary */
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    assert_int_equal(proxy_parse(buf, 13, &h, &why), PROXY_BAD);   /* said at once */
    n = v2(buf, 0x22, 0x11, body, 12);                  /* command 2 */
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    n = v2(buf, 0x21, 0x11, body, 11);                  /* IPv4 block too short */
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    n = v2(buf, 0x21, 0x21, body, 30);                  /* IPv6 block too short */
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    n = v2(buf, 0x21, 0x12, body, 12);                  /* UDP */
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    n = v2(buf, 0x21, 0x31, body, 64);                  /* AF_UNIX */
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    n = v2(buf, 0x21, 0x41, body, 12);                  /* family 4 */
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    memcpy(body + 12, "\x01\x00\x05" "abcd", 7);          /* TLV longer than the header */
    n = v2(buf, 0x21, 0x11, body, 19);
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    assert_string_equal(why, "v2: malformed TLV");
    memcpy(body + 12, "\x01\x00", 2);                     /* TLV header cut */
    n = v2(buf, 0x21, 0x11, body, 14);
    assert_int_equal(proxy_parse(buf, n, &h, &why), PROXY_BAD);
    buf[14] = 0x10; buf[15] = 0x00;                       /* 4096 + 16: too long */
    assert_int_equal(proxy_parse(buf, 16, &h, &why), PROXY_BAD);
    memcpy(buf, "\r\n\r\nX", 5);                          /* broken signature */
    assert_int_equal(proxy_parse(buf, 5, &h, &why), PROXY_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_tcp4_gives_addresses_and_length),
        cmocka_unit_test(v1_tcp6_and_unknown),
        cmocka_unit_test(v1_every_prefix_needs_more),
        cmocka_unit_test(v1_malformed_lines_are_bad),
        cmocka_unit_test(v1_refused_early_and_bounded),
        cmocka_unit_test(v2_ipv4_with_tlvs),
        cmocka_unit_test(v2_ipv6_and_local),
        cmocka_unit_test(v2_malformed_headers_are_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
