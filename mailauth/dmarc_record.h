/*
 * dmarc_record.h - the DMARC policy record (RFC 7489 section 6.3 and 6.4), parsed from
 * the text of one TXT record at _dmarc.DOMAIN.
 *
 * Strict where the RFC requires: "v=DMARC1" must be the first tag (any other start means
 * "not a DMARC record": the record is discarded, 6.6.3 step 3); the tag-list must be
 * well-formed (RFC 6376 3.2 grammar, shared with DKIM: mailauth/dkim_tags.h) and name no
 * tag twice, else the record is invalid (permerror). A p= that is missing or not one of
 * none/quarantine/reject makes the record a "no policy" record, unless rua= holds at
 * least one syntactically valid URI, in which case p=none applies (6.6.3 step 6).
 * Tolerant where the RFC says so ("Syntax errors in the remainder of the record SHOULD be
 * discarded in favor of default values", 6.3): unknown tags are ignored; a bad sp=,
 * adkim=, aspf=, pct=, fo=, rf= or ri= falls back to its default. Keywords are compared
 * case-insensitively (ABNF literals), tag names too.
 *
 * Pure: no allocation, no I/O. Called by mailauth/dmarc.c and the fuzz target.
 */
#ifndef POSTERN_DMARC_RECORD_H
#define POSTERN_DMARC_RECORD_H

#include <stdbool.h>
#include <stddef.h>

enum dmarc_policy { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };
enum dmarc_align { DMARC_ALIGN_RELAXED, DMARC_ALIGN_STRICT };

enum dmarc_record_status {
    DMARC_REC_OK,
    DMARC_REC_NOT_DMARC,    /* does not start with v=DMARC1: not a DMARC record */
    DMARC_REC_NO_POLICY,    /* v=DMARC1, but no usable p= and no valid rua=: ignored */
    DMARC_REC_INVALID,      /* v=DMARC1, but the tag-list is malformed: permerror */
};

struct dmarc_record {
    enum dmarc_policy p;
    bool p_implied;           /* p= missing or bad, but rua= valid: p=none (6.6.3) */
    enum dmarc_policy sp;     /* = p when sp= is absent or bad */
    bool has_sp;
    enum dmarc_align adkim, aspf;
    unsigned pct;             /* 0..100; 100 when absent or bad */
    bool has_rua, has_ruf;    /* a syntactically valid URI was given */
    unsigned ignored;         /* tags ignored: unknown, or a bad value replaced */
};

/* Parse txt[0..len) into out (always filled with the defaults first). why: a static
 * text saying what was wrong or ignored (NULL when nothing), may be NULL. */
enum dmarc_record_status dmarc_record_parse(const char *txt, size_t len,
                                            struct dmarc_record *out, const char **why);

/* "none", "quarantine", "reject". */
const char *dmarc_policy_name(enum dmarc_policy p);

/* True when s[0..len) is a DMARC reporting URI list with at least one valid entry
 * (URI [ "!" size ] , ...). */
bool dmarc_uri_list_valid(const char *s, size_t len);

#endif
