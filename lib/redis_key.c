/*
 * redis_key.c - the escaping of client-chosen names inside Redis keys (see redis_key.h).
 */
#include "lib/redis_key.h"

#include "lib/xalloc.h"

#include <ctype.h>
#include <string.h>

static int redis_key_byte_plain(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != '%' && c != '{' && c != '}';
}

char *redis_key_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    char *out = xmalloc(3 * strlen(s) + 1), *p = out;

    for (; *u; u++) {
        if (redis_key_byte_plain(*u)) {
            *p++ = (char)tolower(*u);
        } else {
            *p++ = '%';
            *p++ = hex[*u >> 4];
            *p++ = hex[*u & 0xf];
        }
    }
    *p = '\0';
    return out;
}
