/*
 * test_web_conf.c - unit tests of admin/web_conf.c: the page's URL as users reach it
 * (web_base_url), which the web page's origin check and the quarantine digests' links use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "admin/web.h"

static void expect_base(const char *base_url, const char *want)
{
    struct web_conf c = { .address = (char *)"127.0.0.1:8025", .base_url = (char *)base_url };
    char *got = web_base_url(&c);

    assert_string_equal(got, want);
    free(got);
}

static void without_base_url_the_page_is_on_its_address(void **state)
{
    (void)state;
    expect_base(NULL, "http://127.0.0.1:8025/ui/");
}

static void an_origin_alone_means_its_ui_path(void **state)
{
    (void)state;
    expect_base("https://mail.example.net", "https://mail.example.net/ui/");
    expect_base("https://mail.example.net/", "https://mail.example.net/ui/");
    expect_base("http://[::1]:8025", "http://[::1]:8025/ui/");
}

static void a_path_is_kept_and_ends_in_a_slash(void **state)
{
    (void)state;
    expect_base("https://mail.example.net/ui/", "https://mail.example.net/ui/");
    expect_base("https://example.net/quarantine", "https://example.net/quarantine/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_base_url_the_page_is_on_its_address),
        cmocka_unit_test(an_origin_alone_means_its_ui_path),
        cmocka_unit_test(a_path_is_kept_and_ends_in_a_slash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
