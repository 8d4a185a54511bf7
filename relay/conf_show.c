/*
 * conf_show.c - the non-default view of a configuration (see conf_show.h).
 *
 * Both the loaded configuration and a configuration of defaults only are printed by
 * conf_print() (so both use exactly the same text for every value), read back with
 * jansson and compared key by key.
 */
#include "relay/conf_show.h"

#include "relay/relay_conf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The effective JSON of obj, as conf_print writes it; NULL on failure. */
static json_t *printed(const struct relay_conf *obj)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    json_t *j;

    if (mem == NULL)
        return NULL;
    conf_print(mem, &relay_conf_root, obj);
    fclose(mem);
    j = json_loadb(buf, len, 0, NULL);
    free(buf);
    return j;
}

/* The keys of have that differ from def (new reference), or NULL when none differs. */
static json_t *difference(json_t *have, json_t *def)
{
    json_t *out = json_object(), *v, *d, *sub;
    const char *key;

    json_object_foreach(have, key, v) {
        d = json_object_get(def, key);
        if (d != NULL && json_equal(v, d))
            continue;
        if (d != NULL && json_is_object(v) && json_is_object(d)) {
            if ((sub = difference(v, d)) != NULL)
                json_object_set_new(out, key, sub);
            continue;
        }
        json_object_set(out, key, v);
    }
    if (json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void conf_show_changed(FILE *out, const struct relay_conf *c)
{
    static const char empty[] = "{\"listeners\": []}";
    struct relay_conf *defaults = calloc(1, sizeof(*defaults));
    FILE *devnull = fopen("/dev/null", "w");
    struct conf_errors errs = { .out = devnull ? devnull : stderr };
    json_t *have, *def, *diff;
    char *text;

    if (defaults == NULL)
        return;
    /* missing required keys are reported (to /dev/null); every other key has its default */
    (void)conf_load_buffer("(defaults)", empty, strlen(empty), &relay_conf_root, defaults,
                           &errs);
    if (devnull)
        fclose(devnull);
    have = printed(c);
    def = printed(defaults);
    conf_free(&relay_conf_root, defaults);
    free(defaults);
    diff = have && def ? difference(have, def) : NULL;
    if (diff == NULL)
        diff = json_object();
    text = json_dumps(diff, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL) {
        fprintf(out, "%s\n", text);
        free(text);
    }
    json_decref(diff);
    json_decref(have);
    json_decref(def);
}
