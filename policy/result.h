/*
 * result.h - what the policy engine decided for one accepted recipient, as plain data.
 *
 * The engine fills one struct rcpt_result per accepted recipient at the end of DATA.
 * Everything downstream is made from it with pure functions: the X-Spam-* headers and the
 * policy log line (spam_report.h), and the record stored in the queue file so that the
 * delivery side, after a restart too, applies exactly the same actions (result_record.h).
 * It also names the dispositions, the one vocabulary of the engine, the config and the
 * records.
 *
 * Threading: plain data; the engine builds it on the loop thread, readers may be anywhere.
 */
#ifndef POSTERN_POLICY_RESULT_H
#define POSTERN_POLICY_RESULT_H

#include <stdbool.h>
#include <stddef.h>

/* What happens to a recipient's copy, by increasing severity (when several sources give
 * one, the most severe wins). DISP_NONE means "not set" (a default applies). */
enum disposition {
    DISP_NONE,
    DISP_PASS,        /* deliver as is (plus the X-Spam-Status/Score headers if on) */
    DISP_TAG,         /* deliver with X-Spam-Flag: YES and X-Spam-Level too */
    DISP_MARK,        /* also prefix the Subject (the level's subject_prefix) */
    DISP_WRAP,        /* deliver a warning message with the original attached, defanged */
    DISP_DISCARD,     /* accept and drop (logged) */
    DISP_QUARANTINE,  /* keep aside for review (until quarantine exists: held) */
    DISP_DEFER,       /* 4xx during the SMTP dialogue */
    DISP_REFUSE,      /* 5xx during the SMTP dialogue */
    DISP_COUNT
};

/* "pass", "tag", ...; "none" for DISP_NONE. */
const char *disposition_name(enum disposition d);

/* DISP_* for a name, or DISP_NONE when it is not one. */
enum disposition disposition_from_name(const char *name);

/* The longest symbol name (A-Z, 0-9, _), and the most symbols kept per recipient. */
#define SYMBOL_NAME_MAX  63
#define RESULT_SYMBOLS_MAX 256

/* True when s is a valid symbol name: 1..SYMBOL_NAME_MAX of [A-Z0-9_], starting A-Z. */
bool symbol_name_valid(const char *s);

struct result_symbol {
    char *name;
    double score;     /* what it added to this recipient's score (override and weight applied) */
    char *text;       /* the check's short detail ("zen.example: 127.0.0.4"), or NULL; shown
                         by posternctl check, not kept in the queue file */
};

struct rcpt_result {
    size_t rcpt;               /* position among the accepted recipients (queue file rcpt lines) */
    enum disposition disp;     /* DISP_PASS .. DISP_QUARANTINE */
    double score;              /* sum of the symbols' scores */
    double tag;                /* the recipient's tag score: X-Spam-Status required= */
    double spam;               /* its spam score: the log line's score=S/R */
    bool spam_flag;            /* X-Spam-Status: Yes (and X-Spam-Flag, X-Spam-Level) */
    bool headers;              /* add the X-Spam-* headers at all */
    char *level;               /* the level's name, for logs */
    char *subject_prefix;      /* DISP_MARK: the Subject prefix; NULL otherwise */
    char *reason;              /* short why for wrap/quarantine/discard ("virus Eicar"), or NULL */
    struct result_symbol *syms;  /* sorted by name, no duplicates */
    size_t nsyms;
    char **add_headers;        /* "Name: value" fields checks asked for (X-Virus-Status ...) */
    size_t nadd;
};

/* Free what r owns and zero it (r itself is the caller's). */
void rcpt_result_clear(struct rcpt_result *r);

#endif
