/*
 * checks.h - the shipped policy checks, one file each in this folder; listed in the
 * registry table (policy/check_registry.c). See docs/policy.md to write one.
 *
 * The decisions that were made in relay/ are here: relay_access, submission_auth,
 * ratelimit, sender_owner (MAIL and header From); then the checks of the later issues
 * (rdns, helo, dnsbl, sender_domain, spf, dkim, dmarc, greylist, rcpt_verify,
 * backscatter, account, newsletter, virus, filetype, spam).
 */
#ifndef POSTERN_POLICY_CHECKS_H
#define POSTERN_POLICY_CHECKS_H

#include "policy/check_api.h"

extern const struct check_def check_greylist;     /* check_greylist.c */
extern const struct check_def check_spf;          /* check_spf.c */
extern const struct check_def check_dkim;         /* check_dkim.c */
extern const struct check_def check_dmarc;        /* check_dmarc.c */
extern const struct check_def check_rcpt_verify;  /* check_rcpt_verify.c */
extern const struct check_def check_backscatter;  /* check_backscatter.c */
extern const struct check_def check_account;      /* check_account.c */
extern const struct check_def check_newsletter;   /* check_newsletter.c */
extern const struct check_def check_relay_access;     /* check_relay_access.c */
extern const struct check_def check_submission_auth;  /* check_submission_auth.c */
extern const struct check_def check_sender_owner;     /* check_sender_owner.c */
extern const struct check_def check_ratelimit;        /* check_ratelimit.c */
extern const struct check_def check_rdns;         /* check_rdns.c */
extern const struct check_def check_helo;         /* check_helo.c */
extern const struct check_def check_dnsbl;        /* check_dnsbl.c */
extern const struct check_def check_sender_domain; /* check_sender_domain.c */
extern const struct check_def check_early_talker; /* check_early_talker.c */
extern const struct check_def check_virus;        /* check_virus.c */
extern const struct check_def check_filetype;     /* check_filetype.c */
extern const struct check_def check_spam;             /* check_spam.c */
extern const struct check_def check_bulk;             /* check_bulk.c */
extern const struct check_def check_backlog;          /* check_backlog.c */

#endif
