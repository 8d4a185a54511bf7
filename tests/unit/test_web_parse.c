/*
 * test_web_parse.c - unit tests of admin/web_parse.c: HTML escaping, templates (escaped
 * and raw placeholders, malformed ones copied), urlencoded forms, cookies, tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "admin/web_parse.h"

static void html_escape_writes_entities_for_markup(void **state)
{
    struct wstr s = { 0 };

    (void)state;
    wstr_add_html(&s, "<script>alert('x' & \"y\")</script>");
    assert_string_equal(s.p, "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)"
                             "&lt;/script&gt;");
    free(s.p);
}

static void template_escapes_double_and_keeps_triple_braces_raw(void **state)
{
    const char tpl[] = "<p>{{name}}</p>{{{frag}}}{{unknown}}{{ bad }}{{";
    const struct web_var vars[] = { { "name", "<b>" }, { "frag", "<i>ok</i>" } };
    struct wstr s = { 0 };

    (void)state;
    web_template(&s, tpl, sizeof(tpl) - 1, vars, 2);
    assert_string_equal(s.p, "<p>&lt;b&gt;</p><i>ok</i>{{ bad }}{{");
    free(s.p);
}

static void form_fields_are_decoded(void **state)
{
    const char body[] = "a=1&login=alice%40example.test&pw=a+b%26c&empty=&flag";
    char *v;

    (void)state;
    v = web_form_get(body, strlen(body), "login");
    assert_string_equal(v, "alice@example.test");
    free(v);
    v = web_form_get(body, strlen(body), "pw");
    assert_string_equal(v, "a b&c");
    free(v);
    v = web_form_get(body, strlen(body), "empty");
    assert_string_equal(v, "");
    free(v);
    v = web_form_get(body, strlen(body), "flag");
    assert_string_equal(v, "");
    free(v);
    assert_null(web_form_get(body, strlen(body), "missing"));
    assert_null(web_form_get("x=%zz", 5, "x"));
    assert_null(web_form_get("x=%00", 5, "x"));      /* no NUL smuggled into C strings */
    assert_null(web_form_get("x=%4", 4, "x"));
}

static void cookies_are_found_by_exact_name(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(web_cookie_get("a=1; postern_session=abc; b=2", "postern_session", out,
                                    sizeof(out)), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(web_cookie_get("xpostern_session=abc", "postern_session", out,
                                    sizeof(out)), -1);
    assert_int_equal(web_cookie_get("s=0123456789abcdef0", "s", out, sizeof(out)), -1);
}

static void tokens_are_checked_for_form_and_compared(void **state)
{
    (void)state;
    assert_true(web_is_hex_token("00ff", 4));
    assert_false(web_is_hex_token("00FF", 4));
    assert_false(web_is_hex_token("00f", 4));
    assert_false(web_is_hex_token("00ff0", 4));
    assert_true(web_token_equal("abc", "abc"));
    assert_false(web_token_equal("abc", "abd"));
    assert_false(web_token_equal("abc", "abcd"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(html_escape_writes_entities_for_markup),
        cmocka_unit_test(template_escapes_double_and_keeps_triple_braces_raw),
        cmocka_unit_test(form_fields_are_decoded),
        cmocka_unit_test(cookies_are_found_by_exact_name),
        cmocka_unit_test(tokens_are_checked_for_form_and_compared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
