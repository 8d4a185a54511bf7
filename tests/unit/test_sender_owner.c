/*
 * test_sender_owner.c - unit tests of auth/sender_owner.c (which senders a login owns,
 * the From: header address, the sender_map file) and of the "auth" config section in
 * auth/auth_conf.c, loaded through the config engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth_conf.h"
#include "auth/sender_owner.h"
#include "lib/conf.h"
#include "lib/xalloc.h"

#define T_ADDR_MAX 256

/* ---- a hand-built map ---------------------------------------------------------------------- */

static char *demo_addrs[] = { "demo@example.test", "Sales@Example.Test", "@example.org" };
static char *alice_addrs[] = { "alice@example.net" };
static char *alice_more[] = { "@lists.example.net" };
static char *news_addrs[] = { "@news.example.test" };
static char *carl_addrs[] = { "carl@other.test" };

static struct auth_sender entries[] = {
    { "news", { news_addrs, 1 } },
    { "demo@example.test", { demo_addrs, 3 } },
    { "alice@example.net", { alice_addrs, 1 } },
    { "ALICE@example.net", { alice_more, 1 } },   /* a second entry (e.g. from the file) */
    { "carl@example.test", { carl_addrs, 1 } },
};

static struct auth_conf conf;


static void login_without_entry_owns_only_itself(void **state)
{
    (void)state;
    assert_true(sender_owned(&conf, "bob@example.test", "bob@example.test"));
    assert_true(sender_owned(&conf, "bob@example.test", "BOB@EXAMPLE.TEST"));
    assert_false(sender_owned(&conf, "bob@example.test", "bob2@example.test"));
    assert_false(sender_owned(&conf, "bob@example.test", "demo@example.test"));
    assert_false(sender_owned(&conf, "bob@example.test", "bob@example.test.evil"));
}

static void bare_login_without_entry_owns_nothing(void **state)
{
    (void)state;
    assert_false(sender_owned(&conf, "bob", "bob"));
    assert_false(sender_owned(&conf, "bob", "bob@example.test"));
}

static void listed_addresses_are_owned_case_insensitively(void **state)
{
    (void)state;
    assert_true(sender_owned(&conf, "demo@example.test", "demo@example.test"));
    assert_true(sender_owned(&conf, "demo@example.test", "sales@example.test"));
    assert_true(sender_owned(&conf, "DEMO@example.TEST", "SALES@EXAMPLE.TEST"));
    assert_false(sender_owned(&conf, "demo@example.test", "other@example.test"));
    assert_false(sender_owned(&conf, "demo@example.test", "sales@example.test.org"));
}

static void catch_all_covers_the_domain_but_not_subdomains(void **state)
{
    (void)state;
    assert_true(sender_owned(&conf, "demo@example.test", "anyone@example.org"));
    assert_true(sender_owned(&conf, "demo@example.test", "Anyone@EXAMPLE.ORG"));
    assert_false(sender_owned(&conf, "demo@example.test", "anyone@sub.example.org"));
    assert_false(sender_owned(&conf, "demo@example.test", "anyone@example.org.evil"));
    assert_false(sender_owned(&conf, "demo@example.test", "anyone@xexample.org"));
    assert_true(sender_owned(&conf, "news", "bulletin@news.example.test"));
    assert_false(sender_owned(&conf, "news", "news"));
}

static void an_entry_replaces_the_default(void **state)
{
    (void)state;
    /* carl's entry does not list carl@example.test, so he may not use it */
    assert_true(sender_owned(&conf, "carl@example.test", "carl@other.test"));
    assert_false(sender_owned(&conf, "carl@example.test", "carl@example.test"));
}

static void every_entry_of_a_login_counts(void **state)
{
    (void)state;
    assert_true(sender_owned(&conf, "alice@example.net", "alice@example.net"));
    assert_true(sender_owned(&conf, "alice@example.net", "team@lists.example.net"));
    assert_true(sender_owned(&conf, "Alice@Example.Net", "team@lists.example.net"));
    assert_false(sender_owned(&conf, "alice@example.net", "team@example.net"));
}

static void null_sender_and_broken_addresses_are_never_owned(void **state)
{
    (void)state;
    assert_false(sender_owned(&conf, "demo@example.test", ""));
    assert_false(sender_owned(&conf, "bob@example.test", ""));
    assert_false(sender_owned(&conf, "demo@example.test", "@example.org"));
    assert_false(sender_owned(&conf, "demo@example.test", "demo"));
    assert_false(sender_owned(&conf, "demo@example.test", "anyone@"));
    assert_false(sender_owned(&conf, "demo@example.test", NULL));
    assert_false(sender_owned(&conf, NULL, "demo@example.test"));
}

static void empty_map_gives_the_default(void **state)
{
    struct auth_conf empty;
    (void)state;
    memset(&empty, 0, sizeof(empty));
    assert_true(sender_owned(&empty, "demo@example.test", "demo@example.test"));
    assert_false(sender_owned(&empty, "demo@example.test", "x@example.test"));
}

#define BIG_MAP 2000
static void a_large_map_is_searched_correctly(void **state)
{
    static struct auth_sender big[BIG_MAP];
    static char logins[BIG_MAP][32], addrs[BIG_MAP][40];
    static char *addr_ptrs[BIG_MAP];
    struct auth_conf c;
    int i;
    (void)state;
    for (i = 0; i < BIG_MAP; i++) {
        snprintf(logins[i], sizeof(logins[i]), "user%d@example.test", (i * 7919) % BIG_MAP);
        snprintf(addrs[i], sizeof(addrs[i]), "alias%d@example.test", (i * 7919) % BIG_MAP);
        addr_ptrs[i] = addrs[i];
        big[i].login = logins[i];
        big[i].addresses.v = &addr_ptrs[i];
        big[i].addresses.n = 1;
    }
    memset(&c, 0, sizeof(c));
    c.senders.items = big;
    c.senders.n = BIG_MAP;
    sender_map_sort(&c.senders);
    for (i = 0; i < BIG_MAP; i++) {
        char login[32], mine[40], other[40];
        snprintf(login, sizeof(login), "user%d@example.test", i);
        snprintf(mine, sizeof(mine), "alias%d@example.test", i);
        snprintf(other, sizeof(other), "alias%d@example.test", (i + 1) % BIG_MAP);
        assert_true(sender_owned(&c, login, mine));
        assert_false(sender_owned(&c, login, other));
        assert_false(sender_owned(&c, login, login));
    }
}

static void patterns_are_validated(void **state)
{
    (void)state;
    assert_true(sender_pattern_valid("a@b"));
    assert_true(sender_pattern_valid("@example.test"));
    assert_true(sender_pattern_valid("first.last+tag@example.test"));
    assert_false(sender_pattern_valid("example.test"));
    assert_false(sender_pattern_valid("a@"));
    assert_false(sender_pattern_valid("@"));
    assert_false(sender_pattern_valid(""));
    assert_false(sender_pattern_valid("a b@example.test"));
    assert_false(sender_pattern_valid("<a@example.test>"));
    assert_false(sender_pattern_valid("a@example.test,b@example.test"));
    assert_false(sender_pattern_valid("a@exa\tmple.test"));
}

/* ---- From: header --------------------------------------------------------------------------- */

static enum sender_from_status from(const char *value, char *out)
{
    return sender_from_address(value, strlen(value), out, T_ADDR_MAX);
}

static void from_bare_and_angle_addresses(void **state)
{
    static const struct { const char *value, *addr; } ok[] = {
        { "demo@example.test", "demo@example.test" },
        { "  demo@example.test  ", "demo@example.test" },
        { "<demo@example.test>", "demo@example.test" },
        { "Demo User <demo@example.test>", "demo@example.test" },
        { "\"User, Demo\" <demo@example.test>", "demo@example.test" },
        { "\"evil@attacker.test\" <demo@example.test>", "demo@example.test" },
        { "\"a \\\" <x@y> b\" <demo@example.test>", "demo@example.test" },
        { "demo@example.test (Demo User)", "demo@example.test" },
        { "(comment <evil@x>) demo@example.test", "demo@example.test" },
        { "Demo (a (nested) comment) <demo@example.test> (trailing)", "demo@example.test" },
        { "=?utf-8?q?D=C3=A9mo?= <demo@example.test>", "demo@example.test" },
        { "Demo\r\n <demo@example.test>", "demo@example.test" },
        { "Demo <\r\n demo@example.test\r\n >", "demo@example.test" },
        { "demo . user @ example.test", "demo.user@example.test" },
        { "\"quoted local\"@example.test", "\"quoted local\"@example.test" },
        { "Mr. Demo <demo@example.test>", "demo@example.test" },
        { "demo@[192.0.2.1]", "demo@[192.0.2.1]" },
    };
    char out[T_ADDR_MAX];
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(from(ok[i].value, out), SENDER_FROM_OK);
        assert_string_equal(out, ok[i].addr);
    }
}

static void from_with_several_mailboxes_or_groups_is_refused(void **state)
{
    static const char *const multi[] = {
        "a@example.test, b@example.test",
        "A <a@example.test>, B <b@example.test>",
        "<a@example.test>, evil@attacker.test",
        "undisclosed-recipients:;",
        "group: a@example.test;",
        "a@example.test; b@example.test",
    };
    char out[T_ADDR_MAX];
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(multi) / sizeof(multi[0]); i++)
        assert_int_equal(from(multi[i], out), SENDER_FROM_MULTIPLE);
}

static void from_syntax_errors_are_refused(void **state)
{
    static const char *const bad[] = {
        "Demo <demo@example.test",
        "Demo demo@example.test>",
        "<demo@example.test> <evil@attacker.test>",
        "<demo@example.test> trailing",
        "Demo User demo@example.test",
        "\"unterminated <demo@example.test>",
        "(unterminated comment demo@example.test",
        "demo",
        "<demo>",
        "@example.test",
        "<demo@>",
        "a@b@example.test",
        "<@relay.test:demo@example.test>",
        "<a,b@example.test>",
        "de\\mo@example.test",
        "demo@exa\x01mple.test",
    };
    char out[T_ADDR_MAX];
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum sender_from_status st = from(bad[i], out);
        if (st != SENDER_FROM_SYNTAX)
            fail_msg("\"%s\": got %d", bad[i], st);
    }
}

static void from_empty_values(void **state)
{
    char out[T_ADDR_MAX];
    (void)state;
    assert_int_equal(from("", out), SENDER_FROM_EMPTY);
    assert_int_equal(from("   ", out), SENDER_FROM_EMPTY);
    assert_int_equal(from("(just a comment)", out), SENDER_FROM_EMPTY);
    assert_int_equal(from("<>", out), SENDER_FROM_EMPTY);
    assert_int_equal(from("Nobody <>", out), SENDER_FROM_EMPTY);
}

static void from_address_longer_than_the_buffer_is_refused(void **state)
{
    char out[16];
    (void)state;
    assert_int_equal(sender_from_address("abcdefgh@example.test", 21, out, sizeof(out)),
                     SENDER_FROM_TOO_LONG);
    assert_int_equal(sender_from_address("a@example.test", 14, out, sizeof(out)), SENDER_FROM_OK);
    /* a long display name does not count */
    assert_int_equal(sender_from_address("A very long display name indeed <a@b.test>", 42, out,
                                         sizeof(out)), SENDER_FROM_OK);
    assert_string_equal(out, "a@b.test");
    assert_int_equal(sender_from_address("a@b", 3, out, 0), SENDER_FROM_TOO_LONG);
}

static void from_value_is_bounded_by_len_not_nul(void **state)
{
    char out[T_ADDR_MAX];
    (void)state;
    assert_int_equal(sender_from_address("demo@example.test, evil@x", 17, out, sizeof(out)),
                     SENDER_FROM_OK);
    assert_string_equal(out, "demo@example.test");
}

static void header_from_must_be_owned(void **state)
{
    static const char v1[] = "Demo <sales@example.test>";
    static const char v2[] = "Demo <someone@example.org>";
    static const char v3[] = "Demo <boss@example.com>";
    static const char v4[] = "Demo <demo@example.test>, Boss <boss@example.com>";
    static const char v5[] = "\"demo@example.test\" <boss@example.com>";
    (void)state;
    assert_true(sender_header_from_matches(&conf, "demo@example.test", v1, strlen(v1)));
    assert_true(sender_header_from_matches(&conf, "demo@example.test", v2, strlen(v2)));
    assert_false(sender_header_from_matches(&conf, "demo@example.test", v3, strlen(v3)));
    assert_false(sender_header_from_matches(&conf, "demo@example.test", v4, strlen(v4)));
    assert_false(sender_header_from_matches(&conf, "demo@example.test", v5, strlen(v5)));
    assert_true(sender_header_from_matches(&conf, "bob@example.test", "bob@example.test", 16));
}

/* ---- sender_map files ------------------------------------------------------------------------ */

static char tmpdir[64];

static int group_setup(void **state)
{
    (void)state;
    memset(&conf, 0, sizeof(conf));
    conf.senders.items = entries;
    conf.senders.n = sizeof(entries) / sizeof(entries[0]);
    sender_map_sort(&conf.senders);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sender_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Free what sender_map_read allocated. */
static void free_senders(struct conf_array *a)
{
    struct auth_sender *e = a->items;
    size_t i, j;
    for (i = 0; i < a->n; i++) {
        for (j = 0; j < e[i].addresses.n; j++)
            free(e[i].addresses.v[j]);
        free(e[i].addresses.v);
        free(e[i].login);
    }
    free(a->items);
    memset(a, 0, sizeof(*a));
}

static void map_file_lines_become_entries(void **state)
{
    struct auth_conf c;
    char err[256] = "";
    const char *path = write_file("map1",
                                  "# sender map\n"
                                  "\n"
                                  "demo@example.test  demo@example.test, sales@example.test\n"
                                  "   # indented comment\n"
                                  "news\t@news.example.test,@letters.example.test\r\n"
                                  "carol@example.net carol@example.net   @carol.example\n"
                                  "last@example.test last@example.test");
    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(sender_map_read(path, &c.senders, err, sizeof(err)), 0);
    assert_int_equal(c.senders.n, 4);
    sender_map_sort(&c.senders);
    assert_true(sender_owned(&c, "demo@example.test", "sales@example.test"));
    assert_true(sender_owned(&c, "news", "x@letters.example.test"));
    assert_true(sender_owned(&c, "carol@example.net", "y@carol.example"));
    assert_true(sender_owned(&c, "last@example.test", "last@example.test"));
    assert_false(sender_owned(&c, "news", "x@example.test"));
    free_senders(&c.senders);
}

static void map_file_errors_name_the_line(void **state)
{
    struct conf_array a = { NULL, 0 };
    char err[256] = "";
    const char *path = write_file("map2", "ok@example.test ok@example.test\n"
                                          "bad@example.test not-an-address\n");
    (void)state;
    assert_int_equal(sender_map_read(path, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "map2:2:"));
    assert_non_null(strstr(err, "user@domain"));
    free_senders(&a);

    path = write_file("map3", "lonely@example.test\n");
    assert_int_equal(sender_map_read(path, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "map3:1: a login needs at least one address"));
    free_senders(&a);

    path = write_file("map4", "x@example.test <x@example.test>\n");
    assert_int_equal(sender_map_read(path, &a, err, sizeof(err)), -1);
    free_senders(&a);

    assert_int_equal(sender_map_read("/nonexistent/map", &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/map: No such file"));
}

static void map_file_line_too_long_is_an_error(void **state)
{
    struct conf_array a = { NULL, 0 };
    char err[256] = "";
    char *text = xmalloc(SENDER_MAP_LINE_MAX + 64);
    const char *path;
    size_t n;
    (void)state;
    n = (size_t)snprintf(text, SENDER_MAP_LINE_MAX + 64, "long@example.test ");
    memset(text + n, 'a', SENDER_MAP_LINE_MAX);
    strcpy(text + n + SENDER_MAP_LINE_MAX - 20, "@example.test\n");
    path = write_file("map5", text);
    free(text);
    assert_int_equal(sender_map_read(path, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "map5:1: line too long"));
    free_senders(&a);
}

/* ---- the "auth" config section -------------------------------------------------------------- */

static int load(const char *json, struct auth_conf *c)
{
    struct conf_errors errs = { NULL, 0, NULL };
    FILE *devnull = fopen("/dev/null", "w");
    int rc;
    errs.out = devnull;
    memset(c, 0, sizeof(*c));
    rc = conf_load_buffer("test.json", json, strlen(json), &auth_conf_section, c, &errs);
    fclose(devnull);
    return rc < 0 ? -errs.count : 0;
}

static void config_defaults(void **state)
{
    struct auth_conf c;
    (void)state;
    assert_int_equal(load("{}", &c), 0);
    assert_int_equal(c.mechanisms.n, 2);
    assert_string_equal(c.mechanisms.v[0], "PLAIN");
    assert_string_equal(c.mechanisms.v[1], "LOGIN");
    assert_int_equal(c.pwcheck_method, AUTH_PWCHECK_AUXPROP);
    assert_true(c.require_tls);
    assert_false(c.header_from_must_match);
    assert_null(c.realm);
    assert_null(c.sender_map);
    assert_non_null(c.sasldb);
    assert_int_equal(c.senders.n, 0);
    conf_free(&auth_conf_section, &c);
}

static void config_mechanisms_are_upper_cased_and_checked(void **state)
{
    struct auth_conf c;
    (void)state;
    assert_int_equal(load("{\"mechanisms\": [\"plain\", \"Scram-Sha-256\", \"cram-md5\"]}", &c),
                     0);
    assert_string_equal(c.mechanisms.v[0], "PLAIN");
    assert_string_equal(c.mechanisms.v[1], "SCRAM-SHA-256");
    assert_string_equal(c.mechanisms.v[2], "CRAM-MD5");
    conf_free(&auth_conf_section, &c);
    assert_int_equal(load("{\"mechanisms\": [\"PLAIN\", \"GSSAPI\", \"ANONYMOUS\"]}", &c), -2);
    conf_free(&auth_conf_section, &c);
    assert_int_equal(load("{\"pwcheck_method\": \"pam\"}", &c), -1);
    conf_free(&auth_conf_section, &c);
}

static void config_senders_and_sender_map_are_merged_and_sorted(void **state)
{
    struct auth_conf c;
    char json[512];
    const char *path = write_file("map6", "zed@example.test @zed.example\n"
                                          "demo@example.test @from-file.example\n");
    (void)state;
    snprintf(json, sizeof(json),
             "{\"senders\": {\"demo@example.test\": {\"addresses\": [\"@example.org\"]},"
             " \"amy@example.test\": {\"addresses\": [\"amy@example.test\", \"a@x.test\"]}},"
             " \"sender_map\": \"%s\"}", path);
    assert_int_equal(load(json, &c), 0);
    assert_int_equal(c.senders.n, 4);
    assert_string_equal(((struct auth_sender *)c.senders.items)[0].login, "amy@example.test");
    assert_true(sender_owned(&c, "demo@example.test", "x@example.org"));
    assert_true(sender_owned(&c, "demo@example.test", "x@from-file.example"));
    assert_true(sender_owned(&c, "zed@example.test", "q@zed.example"));
    assert_true(sender_owned(&c, "amy@example.test", "a@x.test"));
    assert_false(sender_owned(&c, "demo@example.test", "demo2@example.test"));
    conf_free(&auth_conf_section, &c);
}

static void config_bad_sender_entries_are_reported(void **state)
{
    struct auth_conf c;
    char json[256];
    (void)state;
    assert_int_equal(load("{\"senders\": {\"demo@example.test\": {\"addresses\": "
                          "[\"ok@example.test\", \"bad\", \"also bad@x\"]}}}", &c), -2);
    conf_free(&auth_conf_section, &c);
    assert_int_equal(load("{\"senders\": {\"demo@example.test\": {}}}", &c), -1);
    conf_free(&auth_conf_section, &c);
    snprintf(json, sizeof(json), "{\"sender_map\": \"%s/missing\"}", tmpdir);
    assert_int_equal(load(json, &c), -1);
    conf_free(&auth_conf_section, &c);
}

/* Logins are canonical "user@realm": an entry for "bob" would never match. */
static void config_sender_logins_without_domain_are_reported(void **state)
{
    struct auth_conf c;
    char json[256];
    const char *path = write_file("map7", "carol @carol.example\n");
    (void)state;
    assert_int_equal(load("{\"senders\": {\"bob\": {\"addresses\": [\"@b.example\"]}}}", &c),
                     -1);
    conf_free(&auth_conf_section, &c);
    snprintf(json, sizeof(json), "{\"sender_map\": \"%s\"}", path);
    assert_int_equal(load(json, &c), -1);
    conf_free(&auth_conf_section, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(login_without_entry_owns_only_itself),
        cmocka_unit_test(bare_login_without_entry_owns_nothing),
        cmocka_unit_test(listed_addresses_are_owned_case_insensitively),
        cmocka_unit_test(catch_all_covers_the_domain_but_not_subdomains),
        cmocka_unit_test(an_entry_replaces_the_default),
        cmocka_unit_test(every_entry_of_a_login_counts),
        cmocka_unit_test(null_sender_and_broken_addresses_are_never_owned),
        cmocka_unit_test(empty_map_gives_the_default),
        cmocka_unit_test(a_large_map_is_searched_correctly),
        cmocka_unit_test(patterns_are_validated),
        cmocka_unit_test(from_bare_and_angle_addresses),
        cmocka_unit_test(from_with_several_mailboxes_or_groups_is_refused),
        cmocka_unit_test(from_syntax_errors_are_refused),
        cmocka_unit_test(from_empty_values),
        cmocka_unit_test(from_address_longer_than_the_buffer_is_refused),
        cmocka_unit_test(from_value_is_bounded_by_len_not_nul),
        cmocka_unit_test(header_from_must_be_owned),
        cmocka_unit_test(map_file_lines_become_entries),
        cmocka_unit_test(map_file_errors_name_the_line),
        cmocka_unit_test(map_file_line_too_long_is_an_error),
        cmocka_unit_test(config_defaults),
        cmocka_unit_test(config_mechanisms_are_upper_cased_and_checked),
        cmocka_unit_test(config_senders_and_sender_map_are_merged_and_sorted),
        cmocka_unit_test(config_bad_sender_entries_are_reported),
        cmocka_unit_test(config_sender_logins_without_domain_are_reported),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
