/*
 * test_conf.c - unit tests of the table-driven configuration engine (lib/conf.c,
 * lib/conf_print.c) against a small schema that uses every key type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/conf.h"

/* ---- the test schema ----------------------------------------------------------------- */

struct t_limits {
    long long recipients;
    unsigned long long max_size;
    long long timeout_ms;
};

struct t_listener {
    char *address;
    long long port;
    int profile;
    struct conf_strlist tags;
};

struct t_class {
    char *name;
    long long weight;
    char *note;
};

struct t_root {
    bool enabled;
    long long workers;
    unsigned long long message_size;
    long long idle_ms;
    char *hostname;
    char *spool;
    int mode;
    struct conf_strlist domains;
    char *password;
    struct t_limits limits;
    struct conf_array listeners;
    struct conf_array classes;
};

/* What the validate callbacks saw, in call order. */
static struct {
    char pointers[16][64];
    char names[16][32];
    int n;
} seen;

static void record(const char *pointer, const char *name)
{
    if (seen.n < 16) {
        snprintf(seen.pointers[seen.n], sizeof seen.pointers[0], "%s", pointer);
        snprintf(seen.names[seen.n], sizeof seen.names[0], "%s", name ? name : "");
        seen.n++;
    }
}

static int validate_listener(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct t_listener *l = obj;

    record(pointer, l->address);
    if (l->profile == 2 && l->port == 25)
        return conf_error(errs, pointer, "profile submissions needs implicit TLS, not port 25");
    return 0;
}

static int validate_class(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct t_class *c = obj;

    (void)errs;
    record(pointer, c->name);
    return 0;
}

static const char *const modes[] = { "accept", "reject", "defer", NULL };
static const char *const profiles[] = { "inbound", "submission", "submissions", NULL };

static const struct conf_key limits_keys[] = {
    { .name = "recipients", .type = CONF_INT, .offset = offsetof(struct t_limits, recipients),
      .def = "1000", .min = 1, .max = 100000, .help = "recipients per message" },
    { .name = "max_size", .type = CONF_SIZE, .offset = offsetof(struct t_limits, max_size),
      .def = "10M", .help = "largest message" },
    { .name = "timeout", .type = CONF_DURATION, .offset = offsetof(struct t_limits, timeout_ms),
      .def = "300ms", .min = 0, .max = 3600000, .help = "lookup timeout" },
    { .name = NULL },
};
static const struct conf_section limits_sec = { .name = "limits", .keys = limits_keys };

static const struct conf_key listener_keys[] = {
    { .name = "address", .type = CONF_STRING, .offset = offsetof(struct t_listener, address),
      .flags = CONF_REQUIRED, .help = "address to bind" },
    { .name = "port", .type = CONF_INT, .offset = offsetof(struct t_listener, port),
      .def = "25", .min = 1, .max = 65535, .help = "TCP port" },
    { .name = "profile", .type = CONF_ENUM, .offset = offsetof(struct t_listener, profile),
      .def = "inbound", .choices = profiles, .help = "what the listener is for" },
    { .name = "tags", .type = CONF_STRLIST, .offset = offsetof(struct t_listener, tags),
      .help = "labels for logs" },
    { .name = NULL },
};
static const struct conf_section listener_sec = {
    .name = "listener", .keys = listener_keys, .validate = validate_listener,
};

static const struct conf_key class_keys[] = {
    { .name = "weight", .type = CONF_INT, .offset = offsetof(struct t_class, weight),
      .def = "1", .min = 0, .max = 100, .help = "share of the queue" },
    { .name = "note", .type = CONF_STRING, .offset = offsetof(struct t_class, note),
      .help = "free text | with a pipe" },
    { .name = NULL },
};
static const struct conf_section class_sec = {
    .name = "class", .keys = class_keys, .validate = validate_class,
};

static const struct conf_key root_keys[] = {
    { .name = "enabled", .type = CONF_BOOL, .offset = offsetof(struct t_root, enabled),
      .def = "true", .help = "accept mail" },
    { .name = "workers", .type = CONF_INT, .offset = offsetof(struct t_root, workers),
      .def = "4", .min = 1, .max = 64, .help = "worker threads" },
    { .name = "message_size", .type = CONF_SIZE, .offset = offsetof(struct t_root, message_size),
      .def = "25M", .min = 1024, .max = 1LL << 30, .help = "largest message" },
    { .name = "idle_timeout", .type = CONF_DURATION, .offset = offsetof(struct t_root, idle_ms),
      .def = "5m", .min = 1000, .max = 86400000, .help = "idle session timeout" },
    { .name = "hostname", .type = CONF_STRING, .offset = offsetof(struct t_root, hostname),
      .flags = CONF_REQUIRED, .help = "name in the greeting" },
    { .name = "spool", .type = CONF_PATH, .offset = offsetof(struct t_root, spool),
      .def = "/var/spool/postern", .help = "queue directory" },
    { .name = "mode", .type = CONF_ENUM, .offset = offsetof(struct t_root, mode),
      .def = "reject", .choices = modes, .help = "what to do with spam" },
    { .name = "domains", .type = CONF_STRLIST, .offset = offsetof(struct t_root, domains),
      .def = "[\"localhost\"]", .help = "local domains" },
    { .name = "password", .type = CONF_STRING, .offset = offsetof(struct t_root, password),
      .flags = CONF_SECRET, .help = "redis password" },
    { .name = "limits", .type = CONF_SECTION, .offset = offsetof(struct t_root, limits),
      .sub = &limits_sec, .help = "message limits" },
    { .name = "listeners", .type = CONF_ARRAY, .offset = offsetof(struct t_root, listeners),
      .sub = &listener_sec, .elem_size = sizeof(struct t_listener), .help = "sockets" },
    { .name = "classes", .type = CONF_MAP, .offset = offsetof(struct t_root, classes),
      .sub = &class_sec, .elem_size = sizeof(struct t_class), .help = "delivery classes" },
    { .name = NULL },
};
static const struct conf_section root_sec = { .name = "postern", .keys = root_keys };

/* ---- helpers ------------------------------------------------------------------------- */

/* One load with its captured messages. */
struct run {
    char *text;     /* everything printed to errs.out */
    size_t len;
    FILE *out;
    struct conf_errors errs;
    struct t_root cfg;
    int rc;
};

static struct run *load(const char *json)
{
    struct run *r = calloc(1, sizeof *r);

    assert_non_null(r);
    r->out = open_memstream(&r->text, &r->len);
    assert_non_null(r->out);
    r->errs.out = r->out;
    r->rc = conf_load_buffer("etc/x.json", json, strlen(json), &root_sec, &r->cfg, &r->errs);
    fflush(r->out);
    return r;
}

static void done(struct run *r)
{
    conf_free(&root_sec, &r->cfg);
    fclose(r->out);
    free(r->text);
    free(r);
}

/* Load json, expect failure with exactly `messages` printed and counted. */
static void expect_errors(const char *json, int count, const char *messages)
{
    struct run *r = load(json);

    assert_int_equal(r->rc, -1);
    assert_string_equal(r->text, messages);
    assert_int_equal(r->errs.count, count);
    done(r);
}

static struct t_listener *listener(struct t_root *cfg, size_t i)
{
    return (struct t_listener *)cfg->listeners.items + i;
}

static struct t_class *class_at(struct t_root *cfg, size_t i)
{
    return (struct t_class *)cfg->classes.items + i;
}

static char *print_to_string(const struct t_root *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    conf_print(f, &root_sec, cfg);
    fclose(f);
    return text;
}

static int reset_seen(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    return 0;
}

/* ---- defaults and values ------------------------------------------------------------- */

static void defaults_are_filled_when_keys_are_absent(void **state)
{
    struct run *r = load("{\"hostname\": \"mx.example\"}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->text, "");
    assert_true(r->cfg.enabled);
    assert_int_equal(r->cfg.workers, 4);
    assert_int_equal(r->cfg.message_size, 25ULL << 20);
    assert_int_equal(r->cfg.idle_ms, 300000);
    assert_string_equal(r->cfg.spool, "/var/spool/postern");
    assert_int_equal(r->cfg.mode, 1);
    assert_int_equal(r->cfg.domains.n, 1);
    assert_string_equal(r->cfg.domains.v[0], "localhost");
    assert_null(r->cfg.password);
    assert_int_equal(r->cfg.limits.recipients, 1000);
    assert_int_equal(r->cfg.limits.max_size, 10ULL << 20);
    assert_int_equal(r->cfg.limits.timeout_ms, 300);
    assert_int_equal(r->cfg.listeners.n, 0);
    assert_null(r->cfg.listeners.items);
    assert_int_equal(r->cfg.classes.n, 0);
    done(r);
}

static void every_type_is_parsed(void **state)
{
    struct run *r = load("{\"enabled\": false, \"workers\": 16, \"message_size\": \"50M\","
                         " \"idle_timeout\": \"90s\", \"hostname\": \"mx.example\","
                         " \"spool\": \"/srv/q\", \"mode\": \"defer\","
                         " \"domains\": [\"a.example\", \"b.example\"], \"password\": \"pw\","
                         " \"limits\": {\"recipients\": 50},"
                         " \"listeners\": [{\"address\": \"::\", \"port\": 587,"
                         "   \"profile\": \"submission\", \"tags\": [\"sub\"]}],"
                         " \"classes\": {\"bulk\": {\"weight\": 5, \"note\": \"slow\"}}}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_false(r->cfg.enabled);
    assert_int_equal(r->cfg.workers, 16);
    assert_int_equal(r->cfg.message_size, 50ULL << 20);
    assert_int_equal(r->cfg.idle_ms, 90000);
    assert_string_equal(r->cfg.hostname, "mx.example");
    assert_string_equal(r->cfg.spool, "/srv/q");
    assert_int_equal(r->cfg.mode, 2);
    assert_int_equal(r->cfg.domains.n, 2);
    assert_string_equal(r->cfg.domains.v[1], "b.example");
    assert_string_equal(r->cfg.password, "pw");
    assert_int_equal(r->cfg.limits.recipients, 50);
    assert_int_equal(r->cfg.limits.max_size, 10ULL << 20);
    assert_int_equal(r->cfg.listeners.n, 1);
    assert_string_equal(listener(&r->cfg, 0)->address, "::");
    assert_int_equal(listener(&r->cfg, 0)->port, 587);
    assert_int_equal(listener(&r->cfg, 0)->profile, 1);
    assert_string_equal(listener(&r->cfg, 0)->tags.v[0], "sub");
    assert_int_equal(r->cfg.classes.n, 1);
    assert_string_equal(class_at(&r->cfg, 0)->name, "bulk");
    assert_int_equal(class_at(&r->cfg, 0)->weight, 5);
    assert_string_equal(class_at(&r->cfg, 0)->note, "slow");
    done(r);
}

static void integer_size_is_bytes_and_integer_duration_is_seconds(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"message_size\": 2048, \"idle_timeout\": 30}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.message_size, 2048);
    assert_int_equal(r->cfg.idle_ms, 30000);
    done(r);
}

static void size_suffixes_are_powers_of_1024(void **state)
{
    unsigned long long v;

    (void)state;
    assert_int_equal(conf_parse_size("512", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(conf_parse_size("512K", &v), 0);
    assert_int_equal(v, 512ULL << 10);
    assert_int_equal(conf_parse_size("25M", &v), 0);
    assert_int_equal(v, 25ULL << 20);
    assert_int_equal(conf_parse_size("25MB", &v), 0);
    assert_int_equal(v, 25ULL << 20);
    assert_int_equal(conf_parse_size("25mb", &v), 0);
    assert_int_equal(v, 25ULL << 20);
    assert_int_equal(conf_parse_size("1g", &v), 0);
    assert_int_equal(v, 1ULL << 30);
    assert_int_equal(conf_parse_size("100B", &v), 0);
    assert_int_equal(v, 100);
}

static void size_bad_values_are_rejected(void **state)
{
    unsigned long long v;
    const char *bad[] = { "", "M", "-1K", "+1K", " 1K", "1K ", "1.5M", "25X", "25MBB", "1T",
                          "9223372036854775808", "8589934592G", "99999999999999999999" };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(conf_parse_size(bad[i], &v), -1);
}

static void duration_suffixes_convert_to_ms(void **state)
{
    long long ms;

    (void)state;
    assert_int_equal(conf_parse_duration_ms("300ms", &ms), 0);
    assert_int_equal(ms, 300);
    assert_int_equal(conf_parse_duration_ms("10s", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(conf_parse_duration_ms("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(conf_parse_duration_ms("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(conf_parse_duration_ms("8d", &ms), 0);
    assert_int_equal(ms, 8LL * 86400000);
    assert_int_equal(conf_parse_duration_ms("0", &ms), 0);
    assert_int_equal(ms, 0);
}

static void duration_bad_values_are_rejected(void **state)
{
    long long ms;
    const char *bad[] = { "", "s", "10", "-5s", "5 m", "5M", "1.5h", "5w", "5mss",
                          "9223372036854775807d" };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(conf_parse_duration_ms(bad[i], &ms), -1);
}

static void formats_pick_the_largest_exact_unit(void **state)
{
    char buf[32];

    (void)state;
    conf_format_size(buf, sizeof buf, 25ULL << 20);
    assert_string_equal(buf, "25M");
    conf_format_size(buf, sizeof buf, 3072);
    assert_string_equal(buf, "3K");
    conf_format_size(buf, sizeof buf, 1536);
    assert_string_equal(buf, "1536");
    conf_format_size(buf, sizeof buf, 1000);
    assert_string_equal(buf, "1000");
    conf_format_size(buf, sizeof buf, 0);
    assert_string_equal(buf, "0");
    conf_format_duration(buf, sizeof buf, 7200000);
    assert_string_equal(buf, "2h");
    conf_format_duration(buf, sizeof buf, 90000);
    assert_string_equal(buf, "90s");
    conf_format_duration(buf, sizeof buf, 300);
    assert_string_equal(buf, "300ms");
    conf_format_duration(buf, sizeof buf, 0);
    assert_string_equal(buf, "0s");
}

static void zero_duration_string_is_accepted_within_bounds(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"limits\": {\"timeout\": \"0\"}}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.limits.timeout_ms, 0);
    done(r);
    expect_errors("{\"hostname\": \"h\", \"idle_timeout\": \"0\"}", 1,
                  "etc/x.json: error: /idle_timeout: expected duration 1s..1d, got \"0\"\n");
}

static void bad_size_and_duration_strings_are_reported_with_the_syntax(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": \"h\", \"message_size\": \"25X\", \"idle_timeout\": \"10\"}", 2,
                  "etc/x.json: error: /message_size: expected size 1K..1G (integer bytes or a"
                  " string like \"512K\", \"25M\", \"1G\"), got string \"25X\"\n"
                  "etc/x.json: error: /idle_timeout: expected duration 1s..1d (integer seconds"
                  " or a string like \"300ms\", \"10s\", \"5m\", \"2h\", \"8d\"), got string"
                  " \"10\"\n");
}

static void relative_path_is_made_absolute(void **state)
{
    char cwd[4096], want[4200];
    struct run *r = load("{\"hostname\": \"h\", \"spool\": \"./queue/in\"}");

    (void)state;
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/queue/in", cwd);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->cfg.spool, want);
    done(r);
}

static void optional_string_accepts_null_as_unset(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"password\": null, \"spool\": null}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_null(r->cfg.password);
    assert_null(r->cfg.spool);
    done(r);
    expect_errors("{\"hostname\": null}", 1,
                  "etc/x.json: error: /hostname: expected string, got null\n");
}

/* ---- semantic errors ----------------------------------------------------------------- */

static void out_of_bounds_values_are_reported_with_pointer_and_range(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": \"h\", \"workers\": 65, \"message_size\": \"2G\","
                  " \"idle_timeout\": \"500ms\", \"limits\": {\"recipients\": 0}}", 4,
                  "etc/x.json: error: /workers: expected integer 1..64, got 65\n"
                  "etc/x.json: error: /message_size: expected size 1K..1G, got \"2G\"\n"
                  "etc/x.json: error: /idle_timeout: expected duration 1s..1d, got \"500ms\"\n"
                  "etc/x.json: error: /limits/recipients: expected integer 1..100000, got 0\n");
}

static void bad_value_falls_back_to_the_default(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"workers\": 65, \"mode\": \"x\"}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_int_equal(r->cfg.workers, 4);
    assert_int_equal(r->cfg.mode, 1);
    done(r);
}

static void wrong_types_are_reported_with_what_was_found(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": 5, \"enabled\": \"yes\", \"workers\": 1.5,"
                  " \"limits\": {\"recipients\": \"x\"}, \"domains\": [\"a\", 3],"
                  " \"listeners\": {}, \"classes\": [], \"spool\": \"\"}", 8,
                  "etc/x.json: error: /enabled: expected true or false, got string \"yes\"\n"
                  "etc/x.json: error: /workers: expected integer 1..64, got number 1.5\n"
                  "etc/x.json: error: /hostname: expected string, got integer 5\n"
                  "etc/x.json: error: /spool: expected path, got empty string\n"
                  "etc/x.json: error: /domains/1: expected string, got integer 3\n"
                  "etc/x.json: error: /limits/recipients: expected integer 1..100000,"
                  " got string \"x\"\n"
                  "etc/x.json: error: /listeners: expected array of objects, got object\n"
                  "etc/x.json: error: /classes: expected object of named objects, got array\n");
}

static void section_that_is_not_an_object_gets_defaults(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"limits\": [1]}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_string_equal(r->text, "etc/x.json: error: /limits: expected object, got array\n");
    assert_int_equal(r->cfg.limits.recipients, 1000);
    done(r);
}

static void long_bad_string_is_cut_in_the_message(void **state)
{
    char json[300];

    (void)state;
    snprintf(json, sizeof json, "{\"hostname\": \"h\", \"mode\": \"%0100d\"}", 0);
    expect_errors(json, 1,
                  "etc/x.json: error: /mode: expected one of accept, reject, defer, got "
                  "\"000000000000000000000000000000000000000000000000000000000000...\"\n");
}

static void unknown_key_gets_did_you_mean_hint(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": \"h\", \"limits\": {\"recipent\": 5}, \"work\": 2,"
                  " \"frobnicate\": 1}", 3,
                  "etc/x.json: error: /limits/recipent: unknown key (did you mean"
                  " \"recipients\"?)\n"
                  "etc/x.json: error: /work: unknown key (did you mean \"workers\"?)\n"
                  "etc/x.json: error: /frobnicate: unknown key\n");
}

static void unknown_key_in_array_element_reports_the_element_pointer(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": \"h\", \"listeners\": [{\"address\": \"a\"},"
                  " {\"address\": \"b\", \"prot\": 587}]}", 1,
                  "etc/x.json: error: /listeners/1/prot: unknown key (did you mean"
                  " \"port\"?)\n");
}

static void pointer_escapes_tilde_and_slash(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": \"h\", \"classes\": {\"a/b~c\": {\"weight\": 101}}}", 1,
                  "etc/x.json: error: /classes/a~1b~0c/weight: expected integer 0..100,"
                  " got 101\n");
}

static void required_key_missing_is_reported(void **state)
{
    (void)state;
    expect_errors("{\"listeners\": [{\"port\": 25}]}", 2,
                  "etc/x.json: error: /hostname: required key missing\n"
                  "etc/x.json: error: /listeners/0/address: required key missing\n");
}

static void enum_bad_value_lists_the_choices(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": \"h\", \"listeners\": [{\"address\": \"a\","
                  " \"profile\": \"smtp\"}, {\"address\": \"b\", \"profile\": 1}]}", 2,
                  "etc/x.json: error: /listeners/0/profile: expected one of inbound,"
                  " submission, submissions, got \"smtp\"\n"
                  "etc/x.json: error: /listeners/1/profile: expected one of inbound,"
                  " submission, submissions, got integer 1\n");
}

static void multiple_errors_are_all_counted(void **state)
{
    struct run *r = load("{\"workers\": 0, \"mode\": \"x\", \"limits\": {\"typo\": 1},"
                         " \"classes\": {\"a\": 1, \"b\": {\"weight\": -1}}}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_int_equal(r->errs.count, 6);
    done(r);
}

static void root_must_be_an_object(void **state)
{
    (void)state;
    expect_errors("[1, 2]", 1, "etc/x.json: error: the top level must be an object, got array\n");
}

static void enum_with_true_and_false_takes_json_booleans(void **state)
{
    struct tri { int verify; } obj = { 0 };
    static const char *const choices[] = { "auto", "false", "true", NULL };
    static const struct conf_key keys[] = {
        { .name = "verify", .type = CONF_ENUM, .offset = offsetof(struct tri, verify),
          .def = "auto", .choices = choices },
        { .name = NULL },
    };
    static const struct conf_section sec = { .name = "tri", .keys = keys };
    static const struct { const char *json; int want; } cases[] = {
        { "{}", 0 }, { "{\"verify\": \"auto\"}", 0 }, { "{\"verify\": false}", 1 },
        { "{\"verify\": true}", 2 }, { "{\"verify\": \"true\"}", 2 },
    };
    char *text = NULL;
    size_t len = 0, i;
    FILE *f;
    struct conf_errors errs = { .out = stderr };

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(conf_load_buffer("t.json", cases[i].json, strlen(cases[i].json), &sec,
                                          &obj, &errs), 0);
        assert_int_equal(obj.verify, cases[i].want);
    }
    f = open_memstream(&text, &len);
    conf_print(f, &sec, &obj);     /* printed as the boolean it was written as */
    fclose(f);
    assert_non_null(strstr(text, "\"verify\": true"));
    free(text);
    errs.out = f = open_memstream(&text, &len);
    assert_int_equal(conf_load_buffer("t.json", "{\"verify\": 1}", 13, &sec, &obj, &errs), -1);
    fclose(f);
    assert_non_null(strstr(text, "expected one of auto, false, true, got integer 1"));
    free(text);
}

static void a_removed_key_is_refused_with_what_to_use_instead(void **state)
{
    struct moved { char *url; } obj = { 0 };
    static const struct conf_key keys[] = {      /* the removed key first: printing copes */
        { .name = "old_url", .flags = CONF_REMOVED, .help = "use new_url" },
        { .name = "new_url", .type = CONF_STRING, .offset = offsetof(struct moved, url),
          .def = "http://x/" },
        { .name = NULL },
    };
    static const struct conf_section sec = { .name = "moved", .keys = keys };
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    struct conf_errors errs = { 0 };

    (void)state;
    errs.out = f = open_memstream(&text, &len);
    assert_int_equal(conf_load_buffer("t.json", "{\"old_url\": \"http://y/\"}", 24, &sec,
                                      &obj, &errs), -1);
    fclose(f);
    assert_string_equal(text, "t.json: error: /old_url: removed key: use new_url\n");
    free(text);
    conf_free(&sec, &obj);
    errs.count = 0;
    errs.out = stderr;
    assert_int_equal(conf_load_buffer("t.json", "{}", 2, &sec, &obj, &errs), 0);
    assert_string_equal(obj.url, "http://x/");
    f = open_memstream(&text, &len);
    conf_print(f, &sec, &obj);
    fclose(f);
    assert_string_equal(text, "{\n  \"new_url\": \"http://x/\"\n}\n");
    free(text);
    f = open_memstream(&text, &len);
    conf_print_reference(f, &sec);
    fclose(f);
    assert_null(strstr(text, "old_url"));
    free(text);
    conf_free(&sec, &obj);
}

static void bad_default_in_the_table_is_reported(void **state)
{
    struct bad { long long n; struct conf_strlist l; } obj = { 0 };
    static const struct conf_key keys[] = {
        { .name = "n", .type = CONF_INT, .offset = offsetof(struct bad, n), .def = "abc" },
        { .name = "l", .type = CONF_STRLIST, .offset = offsetof(struct bad, l), .def = "[1" },
        { .name = NULL },
    };
    static const struct conf_section sec = { .name = "bad", .keys = keys };
    char *text = NULL;
    size_t len = 0;
    struct conf_errors errs = { .out = open_memstream(&text, &len) };

    (void)state;
    assert_int_equal(conf_load_buffer("b.json", "{}", 2, &sec, &obj, &errs), -1);
    fclose(errs.out);
    assert_string_equal(text,
                        "b.json: error: /n: built-in default \"abc\" is invalid (bug in the"
                        " key table)\n"
                        "b.json: error: /l: built-in default [1 is invalid (bug in the key"
                        " table)\n");
    free(text);
    conf_free(&sec, &obj);
}

/* ---- syntax errors and comments ------------------------------------------------------ */

static void duplicate_key_is_a_syntax_error_with_line_and_column(void **state)
{
    (void)state;
    expect_errors("{\n  \"hostname\": \"h\",\n  \"limits\": {\n    \"recipients\": 1,\n"
                  "    \"recipients\": 2\n  }\n}\n", 1,
                  "etc/x.json:5:16: error: duplicate object key near '\"recipients\"'\n");
}

static void trailing_comma_is_a_syntax_error(void **state)
{
    (void)state;
    expect_errors("{\n  \"hostname\": \"h\",\n}\n", 1,
                  "etc/x.json:3:1: error: string or '}' expected near '}'\n");
}

static void comments_are_accepted(void **state)
{
    struct run *r = load("// Postern\n# main file\n{\n  // the name\n\t# tabbed\n"
                         "  \"hostname\": \"h\", # not a comment inside the string: \"#\"\n"
                         "  \"workers\": 2\n}\n");

    (void)state;
    assert_int_not_equal(r->rc, 0); /* '#' after a value is not a whole-line comment */
    done(r);
    r = load("// Postern\n# main file\n{\n  // the name\n\t# tabbed\n  \"hostname\": \"#h//\",\n"
             "  \"workers\": 2\r\n# last\n}\n");
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->cfg.hostname, "#h//");
    assert_int_equal(r->cfg.workers, 2);
    done(r);
}

static void line_numbers_stay_right_after_comments(void **state)
{
    (void)state;
    expect_errors("{\n  // one\n  # two\n  \"hostname\": \"h\",\n  // three\n"
                  "  \"workers\": 2,\n}\n", 1,
                  "etc/x.json:7:1: error: string or '}' expected near '}'\n");
}

static void missing_file_reports_cannot_open(void **state)
{
    struct t_root cfg = { 0 };
    char *text = NULL;
    size_t len = 0;
    struct conf_errors errs = { .out = open_memstream(&text, &len) };

    (void)state;
    assert_int_equal(conf_load_file("/nonexistent/postern.json", &root_sec, &cfg, &errs), -1);
    fclose(errs.out);
    assert_string_equal(text, "/nonexistent/postern.json: error: cannot open:"
                              " No such file or directory\n");
    assert_int_equal(errs.count, 1);
    free(text);
    conf_free(&root_sec, &cfg);
}

static void file_is_read_whole(void **state)
{
    char path[] = "/tmp/test_conf_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    struct t_root cfg = { 0 };
    struct conf_errors errs = { .out = stderr };
    int i;

    (void)state;
    assert_non_null(f);
    fputs("{\n", f);
    for (i = 0; i < 2000; i++) /* longer than the first read buffer */
        fprintf(f, "  // padding line %d\n", i);
    fputs("  \"hostname\": \"from-file\"\n}\n", f);
    fclose(f);
    assert_int_equal(conf_load_file(path, &root_sec, &cfg, &errs), 0);
    assert_string_equal(cfg.hostname, "from-file");
    assert_string_equal(errs.file, path);
    unlink(path);
    conf_free(&root_sec, &cfg);
}

/* A relative path in a file is relative to the file's directory, not to the directory the
 * program was started in; "./" and "../" are resolved; a buffer keeps the working
 * directory; an absolute path is kept as it is. */
static void relative_paths_resolve_against_the_file_directory(void **state)
{
    char dir[] = "/tmp/test_conf_dir_XXXXXX", path[256], want[512], *cwd;
    struct t_root cfg;
    struct conf_errors errs = { .out = stderr };
    const char *cases[][2] = {
        { "spool", "%s/spool" }, { "./run/spool", "%s/run/spool" },
        { "../spool", "/tmp/spool" }, { "/abs/spool", "/abs/spool" }, { ".", "%s" },
    };
    struct run *r;
    size_t i;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/postern.json", dir);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_non_null(f = fopen(path, "w"));
        fprintf(f, "{\"hostname\": \"h\", \"spool\": \"%s\"}\n", cases[i][0]);
        fclose(f);
        memset(&cfg, 0, sizeof(cfg));
        assert_int_equal(conf_load_file(path, &root_sec, &cfg, &errs), 0);
        snprintf(want, sizeof(want), cases[i][1], dir);
        assert_string_equal(cfg.spool, want);
        conf_free(&root_sec, &cfg);
    }
    /* conf_load_buffer: the working directory, as before */
    cwd = getcwd(NULL, 0);
    r = load("{\"hostname\": \"h\", \"spool\": \"rel\"}");
    snprintf(want, sizeof(want), "%s/rel", cwd);
    assert_string_equal(r->cfg.spool, want);
    done(r);
    free(cwd);
    unlink(path);
    rmdir(dir);
}

/* ---- arrays, maps, validate ---------------------------------------------------------- */

static void map_elements_get_their_key_as_name(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"classes\": {\"bulk\": {\"weight\": 2},"
                         " \"priority\": {}}}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.classes.n, 2);
    assert_string_equal(class_at(&r->cfg, 0)->name, "bulk");
    assert_int_equal(class_at(&r->cfg, 0)->weight, 2);
    assert_string_equal(class_at(&r->cfg, 1)->name, "priority");
    assert_int_equal(class_at(&r->cfg, 1)->weight, 1);
    done(r);
}

static void map_element_rejects_a_name_key_the_table_does_not_declare(void **state)
{
    (void)state;
    expect_errors("{\"hostname\": \"h\", \"classes\": {\"bulk\": {\"name\": \"x\"}}}", 1,
                  "etc/x.json: error: /classes/bulk/name: unknown key (did you mean"
                  " \"note\"?)\n");
}

static void validate_is_called_with_the_element_pointer(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"listeners\": [{\"address\": \"a\"},"
                         " {\"address\": \"b\", \"profile\": \"submissions\"}],"
                         " \"classes\": {\"bulk\": {}}}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_string_equal(r->text, "etc/x.json: error: /listeners/1: profile submissions needs"
                                 " implicit TLS, not port 25\n");
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.pointers[0], "/listeners/0");
    assert_string_equal(seen.names[0], "a");
    assert_string_equal(seen.pointers[1], "/listeners/1");
    assert_string_equal(seen.pointers[2], "/classes/bulk");
    assert_string_equal(seen.names[2], "bulk");
    done(r);
}

static void validate_is_skipped_for_an_element_with_errors(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"listeners\": [{\"address\": \"a\","
                         " \"port\": 0}, {\"address\": \"b\"}]}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_int_equal(r->errs.count, 1);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.pointers[0], "/listeners/1");
    done(r);
}

/* ---- printing ------------------------------------------------------------------------ */

static void print_round_trip_is_stable(void **state)
{
    struct run *r = load("{\"enabled\": false, \"workers\": 16, \"message_size\": 2000,"
                         " \"idle_timeout\": \"90s\", \"hostname\": \"mx \\\"q\\\" \\u00e9\\n\","
                         " \"spool\": \"q\", \"domains\": [], \"password\": \"pw\","
                         " \"listeners\": [{\"address\": \"::\", \"port\": 587,"
                         "   \"profile\": \"submission\", \"tags\": [\"a\", \"b\"]}],"
                         " \"classes\": {\"bulk\": {\"weight\": 5}, \"x/y\": {}}}");
    char *first, *second;
    struct run *again;

    (void)state;
    assert_int_equal(r->rc, 0);
    first = print_to_string(&r->cfg);
    again = load(first);
    assert_int_equal(again->rc, 0);
    second = print_to_string(&again->cfg);
    assert_string_equal(first, second);
    free(first);
    free(second);
    done(again);
    done(r);
}

static void print_shows_every_key_in_human_units(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"password\": \"secret\","
                         " \"classes\": {\"bulk\": {}}}");
    char *text;

    (void)state;
    assert_int_equal(r->rc, 0);
    text = print_to_string(&r->cfg);
    assert_string_equal(text,
                        "{\n"
                        "  \"enabled\": true,\n"
                        "  \"workers\": 4,\n"
                        "  \"message_size\": \"25M\",\n"
                        "  \"idle_timeout\": \"5m\",\n"
                        "  \"hostname\": \"h\",\n"
                        "  \"spool\": \"/var/spool/postern\",\n"
                        "  \"mode\": \"reject\",\n"
                        "  \"domains\": [\n"
                        "    \"localhost\"\n"
                        "  ],\n"
                        "  \"password\": \"********\",\n"
                        "  \"limits\": {\n"
                        "    \"recipients\": 1000,\n"
                        "    \"max_size\": \"10M\",\n"
                        "    \"timeout\": \"300ms\"\n"
                        "  },\n"
                        "  \"listeners\": [],\n"
                        "  \"classes\": {\n"
                        "    \"bulk\": {\n"
                        "      \"weight\": 1,\n"
                        "      \"note\": null\n"
                        "    }\n"
                        "  }\n"
                        "}\n");
    free(text);
    done(r);
}

static void reference_lists_every_key_by_section(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    conf_print_reference(f, &root_sec);
    fclose(f);
    assert_non_null(strstr(text, "## Top level (postern)\n\n| Key | Type | Default |"
                                 " Bounds / choices | Description |\n|---|---|---|---|---|\n"
                                 "| /enabled | bool | true |  | accept mail |\n"));
    assert_non_null(strstr(text, "| /hostname | string, required |  |  | name in the"
                                 " greeting |\n"));
    assert_non_null(strstr(text, "| /message_size | size | 25M | 1K..1G | largest message |\n"));
    assert_non_null(strstr(text, "| /mode | enum | reject | accept, reject, defer |"));
    assert_non_null(strstr(text, "| /password | string, secret |  |  | redis password |\n"));
    assert_non_null(strstr(text, "## /limits (limits)\n"));
    assert_non_null(strstr(text, "| /limits/timeout | duration | 300ms | 0s..1h |"));
    assert_non_null(strstr(text, "## /listeners/N (listener)\n"));
    assert_non_null(strstr(text, "| /listeners/N/port | integer | 25 | 1..65535 | TCP port |\n"));
    assert_non_null(strstr(text, "## /classes/NAME (class)\n"));
    assert_non_null(strstr(text, "| /classes/NAME/note | string |  |  | free text \\| with a"
                                 " pipe |\n"));
    free(text);
}

/* ---- freeing ------------------------------------------------------------------------- */

static void conf_free_on_a_zeroed_struct_is_safe(void **state)
{
    struct t_root cfg = { 0 };

    (void)state;
    conf_free(&root_sec, &cfg);
    conf_free(&root_sec, &cfg);
    assert_null(cfg.hostname);
}

static void conf_free_on_a_partly_filled_struct_frees_and_zeroes(void **state)
{
    struct t_root cfg = { 0 };
    struct t_class *classes = calloc(2, sizeof *classes);
    struct t_listener *listeners = calloc(2, sizeof *listeners);

    (void)state;
    assert_non_null(classes);
    assert_non_null(listeners);
    cfg.hostname = strdup("h");
    cfg.domains.v = calloc(2, sizeof(char *));
    cfg.domains.n = 2;
    cfg.domains.v[0] = strdup("a"); /* second slot still NULL */
    listeners[0].address = strdup("x");
    cfg.listeners.items = listeners;
    cfg.listeners.n = 2;
    classes[0].name = strdup("bulk");
    classes[0].note = strdup("n");
    cfg.classes.items = classes;
    cfg.classes.n = 2;
    conf_free(&root_sec, &cfg);
    assert_null(cfg.hostname);
    assert_null(cfg.domains.v);
    assert_int_equal(cfg.domains.n, 0);
    assert_null(cfg.listeners.items);
    assert_int_equal(cfg.classes.n, 0);
    conf_free(&root_sec, &cfg);
}

static void failed_load_leaves_a_struct_conf_free_releases(void **state)
{
    struct run *r = load("{\"hostname\": \"h\", \"domains\": [\"a\"], \"listeners\":"
                         " [{\"address\": \"a\", \"tags\": [\"t\", 1]}, 5],"
                         " \"classes\": {\"c\": {\"note\": \"n\", \"weight\": \"w\"}}}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_int_equal(r->errs.count, 3);
    assert_int_equal(r->cfg.listeners.n, 2);
    done(r); /* leak-free under valgrind/ASan */
}

/* ---- numbers, built-in and inherited map entries, named maps -------------------------- */

struct t_level {
    char *name;
    double low, high;
};

struct t_alpha { long long n; };
struct t_beta { bool on; char *word; };

struct t_ext {
    double score;
    struct t_level defaults;       /* the object "inherited" entries start from */
    struct conf_array levels;      /* built-in entries */
    struct conf_array inherited;   /* "@defaults" */
    struct conf_array plugins;     /* CONF_NAMED */
};

static const struct conf_key level_keys[] = {
    { .name = "low", .type = CONF_NUMBER, .offset = offsetof(struct t_level, low), .def = "5",
      .min = -100, .max = 100, .help = "low mark" },
    { .name = "high", .type = CONF_NUMBER, .offset = offsetof(struct t_level, high),
      .def = "8", .min = -100, .max = 100, .help = "high mark" },
    { .name = NULL },
};
static const struct conf_section level_sec = { .name = "level", .keys = level_keys };

static const struct conf_key alpha_keys[] = {
    { .name = "n", .type = CONF_INT, .offset = offsetof(struct t_alpha, n), .def = "1",
      .min = 0, .max = 9, .help = "count" },
    { .name = NULL },
};
static const struct conf_section alpha_sec = { .name = "alpha", .keys = alpha_keys };
static const struct conf_key beta_keys[] = {
    { .name = "on", .type = CONF_BOOL, .offset = offsetof(struct t_beta, on), .def = "true",
      .help = "switch" },
    { .name = "word", .type = CONF_STRING, .offset = offsetof(struct t_beta, word),
      .def = "hello", .help = "a word" },
    { .name = NULL },
};
static const struct conf_section beta_sec = { .name = "beta", .keys = beta_keys };

static const char *plugin_at(size_t i, const struct conf_section **sec, size_t *size)
{
    switch (i) {
    case 0: *sec = &alpha_sec; *size = sizeof(struct t_alpha); return "alpha";
    case 1: *sec = &beta_sec; *size = sizeof(struct t_beta); return "beta";
    default: return NULL;
    }
}
static const struct conf_key no_keys[] = { { .name = NULL } };
static const struct conf_named_schema plugins_schema = {
    .sec = { .name = "plugin", .keys = no_keys }, .at = plugin_at,
};

static const struct conf_key ext_keys[] = {
    { .name = "score", .type = CONF_NUMBER, .offset = offsetof(struct t_ext, score),
      .def = "1.5", .min = -10, .max = 10, .help = "a score" },
    { .name = "defaults", .type = CONF_SECTION, .offset = offsetof(struct t_ext, defaults),
      .sub = &level_sec, .help = "what inherited entries start from" },
    { .name = "levels", .type = CONF_MAP, .offset = offsetof(struct t_ext, levels),
      .def = "{\"high\": {\"low\": 3, \"high\": 5}, \"low\": {\"low\": 8, \"high\": 12}}",
      .sub = &level_sec, .elem_size = sizeof(struct t_level), .help = "levels" },
    { .name = "inherited", .type = CONF_MAP, .offset = offsetof(struct t_ext, inherited),
      .def = "@defaults", .sub = &level_sec, .elem_size = sizeof(struct t_level),
      .help = "entries that start from defaults" },
    { .name = "plugins", .type = CONF_NAMED, .offset = offsetof(struct t_ext, plugins),
      .sub = &plugins_schema.sec, .help = "plugins with their settings" },
    { .name = NULL },
};
static const struct conf_section ext_sec = { .name = "ext", .keys = ext_keys };

struct ext_run {
    char *text;
    size_t len;
    FILE *out;
    struct conf_errors errs;
    struct t_ext cfg;
    int rc;
};

static struct ext_run *ext_load(const char *json)
{
    struct ext_run *r = calloc(1, sizeof *r);

    assert_non_null(r);
    r->out = open_memstream(&r->text, &r->len);
    r->errs.out = r->out;
    r->rc = conf_load_buffer("e.json", json, strlen(json), &ext_sec, &r->cfg, &r->errs);
    fflush(r->out);
    return r;
}

static void ext_done(struct ext_run *r)
{
    conf_free(&ext_sec, &r->cfg);
    fclose(r->out);
    free(r->text);
    free(r);
}

static const struct t_level *level_named(const struct conf_array *a, const char *name)
{
    const struct t_level *l = a->items;
    size_t i;

    for (i = 0; i < a->n; i++)
        if (strcmp(l[i].name, name) == 0)
            return &l[i];
    return NULL;
}

static void numbers_are_parsed_bounded_and_printed_shortest(void **state)
{
    struct ext_run *r = ext_load("{}");
    char buf[40];

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_true(r->cfg.score == 1.5);
    ext_done(r);
    r = ext_load("{\"score\": -2}");
    assert_int_equal(r->rc, 0);
    assert_true(r->cfg.score == -2.0);
    ext_done(r);
    r = ext_load("{\"score\": 10.5}");
    assert_int_equal(r->rc, -1);
    assert_string_equal(r->text, "e.json: error: /score: expected number -10..10, got 10.5\n");
    assert_true(r->cfg.score == 1.5);
    ext_done(r);
    r = ext_load("{\"score\": \"3\"}");
    assert_string_equal(r->text,
                        "e.json: error: /score: expected number -10..10, got string \"3\"\n");
    ext_done(r);
    conf_format_number(buf, sizeof buf, 0.1);
    assert_string_equal(buf, "0.1");
    conf_format_number(buf, sizeof buf, 5);
    assert_string_equal(buf, "5");
    conf_format_number(buf, sizeof buf, -2.25);
    assert_string_equal(buf, "-2.25");
    conf_format_number(buf, sizeof buf, 20);
    assert_string_equal(buf, "20");
    conf_format_number(buf, sizeof buf, 1.0 / 3);
    assert_true(strtod(buf, NULL) == 1.0 / 3);
}

static void map_built_in_entries_are_there_and_merged_key_by_key(void **state)
{
    struct ext_run *r = ext_load("{}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.levels.n, 2);
    assert_true(level_named(&r->cfg.levels, "high")->low == 3);
    assert_true(level_named(&r->cfg.levels, "low")->high == 12);
    ext_done(r);
    /* a file entry with a built-in name changes only the keys it gives; a new entry
     * starts from the table defaults */
    r = ext_load("{\"levels\": {\"high\": {\"high\": 6}, \"mine\": {\"low\": 1}}}");
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.levels.n, 3);
    assert_true(level_named(&r->cfg.levels, "high")->low == 3);
    assert_true(level_named(&r->cfg.levels, "high")->high == 6);
    assert_true(level_named(&r->cfg.levels, "low")->low == 8);
    assert_true(level_named(&r->cfg.levels, "mine")->low == 1);
    assert_true(level_named(&r->cfg.levels, "mine")->high == 8);
    ext_done(r);
}

static void map_entries_inherit_from_the_root_key_they_name(void **state)
{
    struct ext_run *r = ext_load("{\"defaults\": {\"low\": 7},"
                                 " \"inherited\": {\"a\": {}, \"b\": {\"low\": 1}}}");

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_true(level_named(&r->cfg.inherited, "a")->low == 7);
    assert_true(level_named(&r->cfg.inherited, "a")->high == 8);
    assert_true(level_named(&r->cfg.inherited, "b")->low == 1);
    ext_done(r);
    /* no entries: nothing to inherit into */
    r = ext_load("{\"defaults\": {\"low\": 7}}");
    assert_int_equal(r->cfg.inherited.n, 0);
    ext_done(r);
}

static void a_bad_inherited_value_is_reported_once_at_its_place(void **state)
{
    struct ext_run *r = ext_load("{\"defaults\": {\"low\": \"x\"},"
                                 " \"inherited\": {\"a\": {}, \"b\": {}}}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_int_equal(r->errs.count, 1);
    assert_string_equal(r->text, "e.json: error: /defaults/low: expected number -100..100,"
                                 " got string \"x\"\n");
    ext_done(r);
}

static void named_map_fills_each_entry_with_the_section_of_its_name(void **state)
{
    struct ext_run *r = ext_load("{\"plugins\": {\"beta\": {\"word\": \"w\"},"
                                 " \"alpha\": {\"n\": 3}}}");
    const struct conf_named *p;

    (void)state;
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->cfg.plugins.n, 2);
    p = r->cfg.plugins.items;
    assert_string_equal(p[0].name, "beta");
    assert_ptr_equal(p[0].sec, &beta_sec);
    assert_true(((struct t_beta *)p[0].obj)->on);
    assert_string_equal(((struct t_beta *)p[0].obj)->word, "w");
    assert_string_equal(p[1].name, "alpha");
    assert_int_equal(((struct t_alpha *)p[1].obj)->n, 3);
    ext_done(r);
}

static void named_map_refuses_unknown_names_with_a_hint(void **state)
{
    struct ext_run *r = ext_load("{\"plugins\": {\"alpah\": {}, \"zzz\": {},"
                                 " \"beta\": {\"on\": 1}}}");

    (void)state;
    assert_int_equal(r->rc, -1);
    assert_string_equal(r->text,
                        "e.json: error: /plugins/alpah: unknown name (did you mean \"alpha\"?)\n"
                        "e.json: error: /plugins/zzz: unknown name\n"
                        "e.json: error: /plugins/beta/on: expected true or false, got integer 1\n");
    assert_int_equal(r->cfg.plugins.n, 1);
    ext_done(r);
}

static void ext_print_round_trips_and_reference_lists_named_sections(void **state)
{
    struct ext_run *r = ext_load("{\"score\": 0.1, \"levels\": {\"x\": {\"low\": 2.5}},"
                                 " \"defaults\": {\"high\": 9},"
                                 " \"inherited\": {\"d\": {\"low\": -1}},"
                                 " \"plugins\": {\"alpha\": {}}}");
    char *first = NULL, *second = NULL, *ref = NULL;
    size_t len = 0;
    struct ext_run *again;
    FILE *f;

    (void)state;
    assert_int_equal(r->rc, 0);
    f = open_memstream(&first, &len);
    conf_print(f, &ext_sec, &r->cfg);
    fclose(f);
    assert_non_null(strstr(first, "\"score\": 0.1,"));
    assert_non_null(strstr(first, "\"alpha\": {\n      \"n\": 1\n    }"));
    again = ext_load(first);
    assert_int_equal(again->rc, 0);
    f = open_memstream(&second, &len);
    conf_print(f, &ext_sec, &again->cfg);
    fclose(f);
    assert_string_equal(first, second);
    f = open_memstream(&ref, &len);
    conf_print_reference(f, &ext_sec);
    fclose(f);
    assert_non_null(strstr(ref, "## /plugins/alpha (alpha)"));
    assert_non_null(strstr(ref, "| /plugins/beta/word | string | hello |"));
    assert_non_null(strstr(ref, "| /score | number | 1.5 | -10..10 | a score |"));
    assert_non_null(strstr(ref, "| /levels | map of objects | {\"high\""));
    free(first);
    free(second);
    free(ref);
    ext_done(again);
    ext_done(r);
}

#define T(f) cmocka_unit_test_setup(f, reset_seen)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(defaults_are_filled_when_keys_are_absent),
        T(every_type_is_parsed),
        T(integer_size_is_bytes_and_integer_duration_is_seconds),
        T(size_suffixes_are_powers_of_1024),
        T(size_bad_values_are_rejected),
        T(duration_suffixes_convert_to_ms),
        T(duration_bad_values_are_rejected),
        T(formats_pick_the_largest_exact_unit),
        T(zero_duration_string_is_accepted_within_bounds),
        T(bad_size_and_duration_strings_are_reported_with_the_syntax),
        T(relative_path_is_made_absolute),
        T(optional_string_accepts_null_as_unset),
        T(out_of_bounds_values_are_reported_with_pointer_and_range),
        T(bad_value_falls_back_to_the_default),
        T(wrong_types_are_reported_with_what_was_found),
        T(section_that_is_not_an_object_gets_defaults),
        T(long_bad_string_is_cut_in_the_message),
        T(unknown_key_gets_did_you_mean_hint),
        T(a_removed_key_is_refused_with_what_to_use_instead),
        T(unknown_key_in_array_element_reports_the_element_pointer),
        T(pointer_escapes_tilde_and_slash),
        T(required_key_missing_is_reported),
        T(enum_bad_value_lists_the_choices),
        T(enum_with_true_and_false_takes_json_booleans),
        T(multiple_errors_are_all_counted),
        T(root_must_be_an_object),
        T(bad_default_in_the_table_is_reported),
        T(duplicate_key_is_a_syntax_error_with_line_and_column),
        T(trailing_comma_is_a_syntax_error),
        T(comments_are_accepted),
        T(line_numbers_stay_right_after_comments),
        T(missing_file_reports_cannot_open),
        T(file_is_read_whole),
        T(relative_paths_resolve_against_the_file_directory),
        T(map_elements_get_their_key_as_name),
        T(map_element_rejects_a_name_key_the_table_does_not_declare),
        T(validate_is_called_with_the_element_pointer),
        T(validate_is_skipped_for_an_element_with_errors),
        T(print_round_trip_is_stable),
        T(print_shows_every_key_in_human_units),
        T(reference_lists_every_key_by_section),
        T(conf_free_on_a_zeroed_struct_is_safe),
        T(conf_free_on_a_partly_filled_struct_frees_and_zeroes),
        T(failed_load_leaves_a_struct_conf_free_releases),
        T(numbers_are_parsed_bounded_and_printed_shortest),
        T(map_built_in_entries_are_there_and_merged_key_by_key),
        T(map_entries_inherit_from_the_root_key_they_name),
        T(a_bad_inherited_value_is_reported_once_at_its_place),
        T(named_map_fills_each_entry_with_the_section_of_its_name),
        T(named_map_refuses_unknown_names_with_a_hint),
        T(ext_print_round_trips_and_reference_lists_named_sections),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
