/*
 * charset.c - bounded charset conversion to UTF-8 (see charset.h). UTF-8 and US-ASCII
 * input is checked and copied without iconv; everything else goes through iconv(3) with
 * an output buffer that never grows.
 */
#include "content/charset.h"

#include "lib/utf8.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

/* Copy valid UTF-8, '?' for each invalid byte. */
static size_t copy_utf8(const char *in, size_t len, char *out, size_t out_size, bool *lossy)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;

    while (i < len) {
        size_t k = utf8_seq_len(s + i, len - i);
        if (k == 0 || (k == 1 && s[i] == 0)) {
            if (o + 1 >= out_size)
                goto cut;
            out[o++] = '?';
            *lossy = true;
            i++;
            continue;
        }
        if (o + k >= out_size)
            goto cut;
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    return o;
cut:
    *lossy = true;
    out[o] = '\0';
    return o;
}

static bool is_ascii_name(const char *cs)
{
    return strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0 ||
           strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

size_t charset_to_utf8(const char *cs, const char *in, size_t len, char *out, size_t out_size,
                       bool *lossy)
{
    bool dummy;
    iconv_t cd;
    char *ip = (char *)in, *op = out;
    size_t il = len, ol;

    if (lossy == NULL)
        lossy = &dummy;
    *lossy = false;
    if (out_size == 0)
        return 0;
    if (cs == NULL || cs[0] == '\0' || is_ascii_name(cs))
        return copy_utf8(in, len, out, out_size, lossy);
    cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1)
        return copy_utf8(in, len, out, out_size, lossy);
    ol = out_size - 1;
    while (il > 0) {
        if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1)
            break;
        if (errno == E2BIG) {
            *lossy = true;
            break;
        }
        /* EILSEQ or EINVAL: replace one input byte */
        *lossy = true;
        if (ol < 1)
            break;
        *op++ = '?';
        ol--;
        ip++;
        il--;
    }
    iconv(cd, NULL, NULL, &op, &ol);   /* shift state back; harmless when stateless */
    iconv_close(cd);
    *op = '\0';
    /* the converter may write a NUL from the input: keep the string a string */
    return strlen(out);
}
