/*
 * spam_rules_list.h - the spam rules, one row each: SPAM_RULE(SYMBOL, score, description,
 * condition over `const struct spam_facts *fa`). Included by content/spam_score.c (which
 * evaluates them) and by policy/checks/check_spam.c (which declares them as the check's
 * symbols), so both always agree. No include guard: it is meant to be included with
 * SPAM_RULE defined.
 */
SPAM_RULE(GTUBE, 500.0, "the GTUBE test string: certain spam (passes every kill threshold)",
          fa->gtube)
SPAM_RULE(MISSING_DATE, 1.0, "no Date header field", !fa->has_date)
SPAM_RULE(INVALID_DATE, 1.5, "a Date that is not RFC 5322", fa->has_date && !fa->date_ok)
SPAM_RULE(MISSING_MID, 1.0, "no Message-ID header field", !fa->has_msgid)
SPAM_RULE(INVALID_MSGID, 1.0, "a Message-ID that is not <local@domain>",
          fa->has_msgid && !fa->msgid_ok)
SPAM_RULE(MISSING_FROM, 2.0, "no From header field", !fa->has_from)
SPAM_RULE(INVALID_FROM, 1.5, "a From without an address", fa->has_from && !fa->from_ok)
SPAM_RULE(FORGED_MUA_OUTLOOK, 2.0, "claims Microsoft Outlook, lacks its header fields",
          fa->forged_outlook)
SPAM_RULE(FORGED_MUA_OE, 1.0, "claims Outlook Express, lacks X-MimeOLE", fa->forged_oe)
SPAM_RULE(SUBJ_ALL_CAPS, 1.0, "Subject in capitals only", fa->subject_caps)
SPAM_RULE(HTML_ONLY_LITTLE_TEXT, 1.5, "HTML only, with little text (< 200 letters)",
          fa->html_parts > 0 && fa->text_parts == 0 && fa->html_chars < 200)
SPAM_RULE(IMAGES_ONLY, 2.0, "images and (almost) no text",
          (fa->image_parts > 0 || fa->html_images > 0) &&
          fa->plain_chars + fa->html_chars < 50)
SPAM_RULE(LINK_TEXT_MISMATCH, 2.0, "link text shows one URL, the link goes to another host",
          fa->link_mismatch > 0)
SPAM_RULE(URL_SHORTENER, 1.0, "links through a URL shortener", fa->shortener_links > 0)
SPAM_RULE(CHARSET_MISMATCH, 0.5, "text whose bytes do not fit its declared charset",
          fa->charset_mismatch)
SPAM_RULE(BASE64_TEXT, 1.0, "plain text sent as base64", fa->base64_text)
