/*
 * proxy_proto.c - the PROXY protocol v1/v2 header parser (see proxy_proto.h).
 */
#include "lib/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const unsigned char v2_sig[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};
static const char v1_sig[] = "PROXY ";

#define V2_FIXED 16      /* signature, version/command, family/protocol, length */

static enum proxy_status bad(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return PROXY_BAD;
}

/* A decimal port: "0" or 1-5 digits without a leading zero, at most 65535. */
static int v1_port(const char *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    size_t i;

    if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* One address of a v1 line into out (family af). */
static int v1_addr(int af, const char *p, size_t n, unsigned char *out)
{
    char tmp[INET6_ADDRSTRLEN + 1];

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return inet_pton(af, tmp, out) == 1 ? 0 : -1;
}

/* The next space-separated field of line[*pos..end); the last one runs to end. */
static int v1_field(const char *line, size_t end, size_t *pos, const char **f, size_t *n,
                    bool last)
{
    const char *sp;
    size_t start = *pos;

    if (start >= end)
        return -1;
    sp = memchr(line + start, ' ', end - start);
    if (last ? sp != NULL : sp == NULL)
        return -1;
    *f = line + start;
    *n = (last ? end : (size_t)(sp - line)) - start;
    *pos = start + *n + 1;
    return *n > 0 ? 0 : -1;
}

static enum proxy_status parse_v1(const unsigned char *buf, size_t len, struct proxy_hdr *out,
                                  const char **why)
{
    const char *line = (const char *)buf, *f;
    size_t i, end, pos = sizeof(v1_sig) - 1, n;
    int af;

    for (i = 0; i < len; i++) {
        if (buf[i] == '\n')
            return bad(why, "v1: bare LF");
        if (buf[i] == '\r')
            break;
        if (buf[i] < ' ' || buf[i] > '~')
            return bad(why, "v1: control or 8-bit byte");
    }
    if (i >= PROXY_V1_MAX - 1)
        return bad(why, "v1: line too long");
    if (i + 1 >= len)
        return PROXY_NEED_MORE;        /* no CR yet, or CR without what follows */
    if (buf[i + 1] != '\n')
        return bad(why, "v1: bare CR");
    end = i;
    memset(out, 0, sizeof(*out));
    out->version = 1;
    out->len = end + 2;
    if (end - pos >= 7 && memcmp(line + pos, "UNKNOWN", 7) == 0 &&
        (end - pos == 7 || line[pos + 7] == ' ')) {
        out->local = true;   /* the rest of the line is to be ignored */
        return PROXY_OK;
    }
    if (v1_field(line, end, &pos, &f, &n, false) < 0 || n != 4)
        return bad(why, "v1: bad protocol");
    if (memcmp(f, "TCP4", 4) == 0)
        af = AF_INET;
    else if (memcmp(f, "TCP6", 4) == 0)
        af = AF_INET6;
    else
        return bad(why, "v1: bad protocol");
    out->family = af;
    if (v1_field(line, end, &pos, &f, &n, false) < 0 || v1_addr(af, f, n, out->src) < 0)
        return bad(why, "v1: bad source address");
    if (v1_field(line, end, &pos, &f, &n, false) < 0 || v1_addr(af, f, n, out->dst) < 0)
        return bad(why, "v1: bad destination address");
    if (v1_field(line, end, &pos, &f, &n, false) < 0 || v1_port(f, n, &out->src_port) < 0)
        return bad(why, "v1: bad source port");
    if (v1_field(line, end, &pos, &f, &n, true) < 0 || v1_port(f, n, &out->dst_port) < 0)
        return bad(why, "v1: bad destination port");
    return PROXY_OK;
}

/* Walk the TLVs of tlv[0..n): each header (type, 2-byte length) and value must fit. */
static int v2_tlvs(const unsigned char *tlv, size_t n, unsigned *count)
{
    size_t off = 0;

    while (off < n) {
        size_t vlen;
        if (n - off < 3)
            return -1;
        vlen = (size_t)tlv[off + 1] << 8 | tlv[off + 2];
        if (n - off - 3 < vlen)
            return -1;
        off += 3 + vlen;
        (*count)++;
    }
    return 0;
}

static enum proxy_status parse_v2(const unsigned char *buf, size_t len, struct proxy_hdr *out,
                                  const char **why)
{
    size_t body, addr_len;
    unsigned cmd, fam, proto;

    if (len >= 13 && (buf[12] >> 4) != 2)
        return bad(why, "v2: bad version");
    cmd = len >= 13 ? buf[12] & 0x0f : 0;
    if (cmd > 1)
        return bad(why, "v2: bad command");
    if (len < V2_FIXED)
        return PROXY_NEED_MORE;
    body = (size_t)buf[14] << 8 | buf[15];
    if (V2_FIXED + body > PROXY_HDR_MAX)
        return bad(why, "v2: header too long");
    fam = buf[13] >> 4;
    proto = buf[13] & 0x0f;
    if (cmd == 1 && fam > 3)
        return bad(why, "v2: bad address family");
    if (cmd == 1 && proto > 2)
        return bad(why, "v2: bad transport protocol");
    if (len < V2_FIXED + body)
        return PROXY_NEED_MORE;
    memset(out, 0, sizeof(*out));
    out->version = 2;
    out->len = V2_FIXED + body;
    if (cmd == 0 || fam == 0) {   /* LOCAL (health check) or UNSPEC: keep the real ones */
        out->local = true;
        return PROXY_OK;
    }
    if (proto != 1)
        return bad(why, "v2: not a TCP connection");
    if (fam == 1) {
        addr_len = 12;
        out->family = AF_INET;
    } else if (fam == 2) {
        addr_len = 36;
        out->family = AF_INET6;
    } else {
        return bad(why, "v2: UNIX socket addresses");
    }
    if (body < addr_len)
        return bad(why, "v2: address block too short");
    if (fam == 1) {
        memcpy(out->src, buf + 16, 4);
        memcpy(out->dst, buf + 20, 4);
        out->src_port = (unsigned)buf[24] << 8 | buf[25];
        out->dst_port = (unsigned)buf[26] << 8 | buf[27];
    } else {
        memcpy(out->src, buf + 16, 16);
        memcpy(out->dst, buf + 32, 16);
        out->src_port = (unsigned)buf[48] << 8 | buf[49];
        out->dst_port = (unsigned)buf[50] << 8 | buf[51];
    }
    if (v2_tlvs(buf + V2_FIXED + addr_len, body - addr_len, &out->ntlv) < 0)
        return bad(why, "v2: malformed TLV");
    return PROXY_OK;
}

enum proxy_status proxy_parse(const unsigned char *buf, size_t len, struct proxy_hdr *out,
                              const char **why)
{
    size_t n;

    if (len == 0)
        return PROXY_NEED_MORE;
    if (buf[0] == v2_sig[0]) {
        n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
        if (memcmp(buf, v2_sig, n) != 0)
            return bad(why, "not a PROXY header");
        if (len < sizeof(v2_sig))
            return PROXY_NEED_MORE;
        return parse_v2(buf, len, out, why);
    }
    n = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
    if (memcmp(buf, v1_sig, n) != 0)
        return bad(why, "not a PROXY header");
    if (len < sizeof(v1_sig) - 1)
        return PROXY_NEED_MORE;
    return parse_v1(buf, len, out, why);
}

int proxy_src_text(const struct proxy_hdr *h, char *buf, size_t size)
{
    if (h->local || (h->family != AF_INET && h->family != AF_INET6))
        return -1;
    return inet_ntop(h->family, h->src, buf, (socklen_t)size) ? 0 : -1;
}
