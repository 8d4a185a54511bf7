// fuzz-sources: lib/dnscheck.c
/*
 * fuzz_dnscheck.c - libFuzzer target for the helpers of the inbound DNS checks that read
 * what a client or the network sends: HELO names (helo_classify), PTR names
 * (ptr_is_dynamic, both families), DNSBL code rules (dnsbl_code_parse, the admin's) and
 * zone symbols. The input is split at its first NUL into the text and an address.
 */
#include "lib/dnscheck.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "mx.example.test", NULL };
    static const char *const addrs[] = { "192.0.2.1", "2001:db8::1", NULL };
    char *s = malloc(size + 1), out[64];
    const char *ip, *why;
    struct dnsbl_code c;

    memcpy(s, data, size);
    s[size] = '\0';
    ip = strlen(s) < size ? s + strlen(s) + 1 : "192.0.2.7";
    (void)helo_classify(s, ip, names, addrs);
    (void)dns_hostname_valid(s);
    (void)ptr_is_dynamic(s, ip, NULL, NULL, &why);
    (void)ptr_is_dynamic(s, "2001:db8::1:2:3:4", NULL, NULL, &why);
    (void)ptr_is_dynamic(s, "1.2.3.4", NULL, NULL, &why);
    if (dnsbl_code_parse(s, &c, &why) == 0)
        (void)dnsbl_code_match(&c, 0x7f000002u);
    (void)dnsbl_default_symbol(s, false, out, sizeof(out));
    free(s);
    return 0;
}
