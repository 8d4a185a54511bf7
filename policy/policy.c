/*
 * policy.c - the verdict helper of policy.h.
 */
#include "policy/policy.h"

#include <stdarg.h>
#include <stdio.h>

void policy_verdict_set(struct policy_verdict *v, enum policy_action action, const char *check,
                        int code, const char *ecode, const char *fmt, ...)
{
    va_list ap;
    v->action = action;
    v->code = code;
    snprintf(v->ecode, sizeof(v->ecode), "%s", ecode);
    v->check = check;
    va_start(ap, fmt);
    vsnprintf(v->text, sizeof(v->text), fmt, ap);
    va_end(ap);
}
