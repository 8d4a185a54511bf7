// fuzz-sources: lib/proxy_proto.c
/*
 * fuzz_proxy.c - libFuzzer target for lib/proxy_proto.c, the PROXY protocol v1/v2 parser.
 *
 * The input is what a balancer (or anyone) sends first on a connection. It is parsed in
 * one piece and prefix by prefix, the way the listener reads it. Checked: a complete
 * header's length lies within the input and within PROXY_HDR_MAX (v1: PROXY_V1_MAX);
 * every proper prefix of a complete header asks for more; once a prefix is refused, no
 * longer prefix is accepted (a refusal is final); the result does not depend on the
 * bytes after the header; a header with addresses prints its source address.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/proxy/.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/proxy_proto.h"
#include "tests/fuzz/fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_hdr h, p;
    enum proxy_status st, sp;
    const char *why = NULL;
    char ip[INET6_ADDRSTRLEN];
    size_t i;
    bool refused = false;

    st = proxy_parse(data, size, &h, &why);
    if (st == PROXY_BAD)
        CHECK(why != NULL);
    if (st == PROXY_OK) {
        CHECK(h.len > 0 && h.len <= size && h.len <= PROXY_HDR_MAX);
        CHECK(h.version == 1 || h.version == 2);
        if (h.version == 1)
            CHECK(h.len <= PROXY_V1_MAX);
        CHECK(h.src_port <= 65535 && h.dst_port <= 65535);
        if (!h.local) {
            CHECK(h.family == AF_INET || h.family == AF_INET6);
            CHECK(proxy_src_text(&h, ip, sizeof(ip)) == 0);
        }
    }
    /* prefix by prefix, as bytes arrive */
    for (i = 0; i <= size && i <= PROXY_HDR_MAX + 1; i++) {
        sp = proxy_parse(data, i, &p, NULL);
        if (refused)
            CHECK(sp == PROXY_BAD);
        if (sp == PROXY_BAD)
            refused = true;
        if (st == PROXY_OK && i < h.len)
            CHECK(sp == PROXY_NEED_MORE);
        if (st == PROXY_OK && i >= h.len) {
            CHECK(sp == PROXY_OK && p.len == h.len && p.local == h.local);
            CHECK(memcmp(p.src, h.src, sizeof(p.src)) == 0 && p.src_port == h.src_port);
            break;   /* longer prefixes differ only after the header */
        }
        if (sp == PROXY_OK)
            CHECK(st == PROXY_OK);   /* a complete prefix: the whole input agrees */
    }
    if (st == PROXY_NEED_MORE)
        CHECK(size < PROXY_HDR_MAX);
    return 0;
}
