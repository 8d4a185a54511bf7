/*
 * result.c - disposition names and the per-recipient result's memory (see result.h).
 */
#include "policy/result.h"

#include <stdlib.h>
#include <string.h>

static const char *const disp_names[DISP_COUNT] = {
    [DISP_NONE] = "none", [DISP_PASS] = "pass", [DISP_TAG] = "tag", [DISP_MARK] = "mark",
    [DISP_WRAP] = "wrap", [DISP_DISCARD] = "discard", [DISP_QUARANTINE] = "quarantine",
    [DISP_DEFER] = "defer", [DISP_REFUSE] = "refuse",
};

const char *disposition_name(enum disposition d)
{
    return (unsigned)d < DISP_COUNT ? disp_names[d] : "none";
}

enum disposition disposition_from_name(const char *name)
{
    int d;

    for (d = DISP_PASS; d < DISP_COUNT; d++)
        if (strcmp(disp_names[d], name) == 0)
            return (enum disposition)d;
    return DISP_NONE;
}

bool symbol_name_valid(const char *s)
{
    size_t n;

    if (s[0] < 'A' || s[0] > 'Z')
        return false;
    for (n = 0; s[n] != '\0'; n++)
        if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n <= SYMBOL_NAME_MAX;
}

void rcpt_result_clear(struct rcpt_result *r)
{
    size_t i;

    for (i = 0; i < r->nsyms; i++) {
        free(r->syms[i].name);
        free(r->syms[i].text);
    }
    for (i = 0; i < r->nadd; i++)
        free(r->add_headers[i]);
    free(r->syms);
    free(r->add_headers);
    free(r->level);
    free(r->subject_prefix);
    free(r->reason);
    memset(r, 0, sizeof(*r));
}
