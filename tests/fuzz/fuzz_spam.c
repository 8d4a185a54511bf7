// fuzz-sources: content/spam_msg.c content/spam_tok.c content/spam_model.c content/spam_score.c content/mime.c content/mime_header.c content/charset.c lib/utf8.c lib/base64.c lib/xalloc.c lib/log.c content/spam_digest.c -lcrypto
/*
 * fuzz_spam.c - libFuzzer target for the spam code's message parsing: the MIME walker
 * (content/spam_msg.c over content/mime.c: headers, multipart, base64/quoted-printable, charsets, encoded
 * words), the tokenizer (content/spam_tok.c: HTML, URLs, words) and scoring.
 *
 * Input: a message. It is learned into an empty model as spam, then scored with it.
 * Checked: the features are sorted, unique and non-zero, and no more than the maximum;
 * the score is a finite number; the probability is in [0, 1] or -1; the autolearn digest
 * (content/spam_digest.c: the header walk to the Message-ID and the body) is 32 hex digits.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/spam/.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "content/spam_autolearn.h"
#include "content/spam_score.h"
#include "content/spam_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spam_features f = { 0 };
    struct spam_facts facts;
    struct spam_model m;
    struct spam_score sc;
    size_t i;

    spam_analyze((const char *)data, size, &f, &facts);
    if (f.n > SPAM_FEATURES_MAX)
        abort();
    for (i = 0; i < f.n; i++)
        if (f.v[i] == 0 || (i > 0 && f.v[i - 1] >= f.v[i]))
            abort();
    spam_features_free(&f);
    spam_model_init(&m, 0);
    spam_score_learn(&m, (const char *)data, size, true, 1);
    spam_score_message(&m, (const char *)data, size, &sc);
    if (!isfinite(sc.total) || !(sc.bayes_prob == -1 || (sc.bayes_prob >= 0 &&
                                                          sc.bayes_prob <= 1)))
        abort();
    spam_model_clear(&m);
    {
        char d[SPAM_AL_DIGEST_LEN + 1];
        spam_al_digest((const char *)data, size, d);
        if (strlen(d) != SPAM_AL_DIGEST_LEN || strspn(d, "0123456789abcdef") != strlen(d))
            abort();
    }
    return 0;
}
