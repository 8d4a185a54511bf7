/*
 * checks.h - the shipped policy checks, one file each in this folder; listed in the
 * registry table (policy/check_registry.c). See docs/policy.md to write one.
 *
 * Phase 2 of the policy engine moves the existing decisions here: relay_access,
 * submission_auth, ratelimit, sender_owner (MAIL and header From), then the checks of
 * the later issues (rdns, helo, dnsbl, sender_domain, spf, dkim, dmarc, greylist,
 * rcpt_verify, backscatter, virus, filetype, spam, bulk, newsletter rules).
 */
#ifndef POSTERN_POLICY_CHECKS_H
#define POSTERN_POLICY_CHECKS_H

#include "policy/check_api.h"

extern const struct check_def check_greylist;     /* greylist.c */
extern const struct check_def check_spf;          /* check_spf.c */
extern const struct check_def check_dkim;         /* check_dkim.c */
extern const struct check_def check_dmarc;        /* check_dmarc.c */
extern const struct check_def check_rcpt_verify;  /* rcpt_verify.c */
extern const struct check_def check_backscatter;  /* backscatter.c */
extern const struct check_def check_account;      /* account.c */
extern const struct check_def check_newsletter;   /* newsletter.c */
extern const struct check_def check_spam;         /* check_spam.c */
extern const struct check_def check_bulk;         /* check_bulk.c */

#endif
