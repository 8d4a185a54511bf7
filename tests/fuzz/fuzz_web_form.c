// fuzz-sources: admin/web_parse.c lib/xalloc.c lib/log.c
/*
 * fuzz_web_form.c - libFuzzer target for the web page's parsers of browser input
 * (admin/web_parse.c): the input is a form body, a Cookie header and a template at once.
 * Decoded fields must hold no NUL, HTML escaping must leave no markup character, and
 * nothing may read outside the input.
 */
#include "admin/web_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *b = (const char *)data;
    static const char *const names[] = { "csrf", "login", "password", "user", "a" };
    const struct web_var vars[] = { { "a", "<x>" }, { "body", "raw" } };
    struct wstr s = { 0 }, t = { 0 };
    char *z = malloc(size + 1), out[80];
    size_t i;

    if (z == NULL)
        return 0;
    memcpy(z, data, size);
    z[size] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *v = web_form_get(b, size, names[i]);
        if (v != NULL) {
            wstr_add_html(&s, v);
            free(v);
        }
    }
    if (s.p && strpbrk(s.p, "<>\"'") != NULL)
        abort();
    (void)web_cookie_get(z, "postern_session", out, sizeof(out));
    web_template(&t, b, size, vars, 2);
    (void)web_is_hex_token(z, 8);
    free(s.p);
    free(t.p);
    free(z);
    return 0;
}
