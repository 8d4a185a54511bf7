/*
 * dmarc_org.c - organizational domains through libpsl, and alignment (see dmarc_org.h).
 */
#include "mailauth/dmarc_org.h"

#include <libpsl.h>
#include <pthread.h>
#include <string.h>

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void psl_load(void)
{
    /* psl_latest() takes the newer of the built-in list and the distribution's file
     * (Debian: /usr/share/publicsuffix); it returns NULL only when neither exists. */
    const psl_ctx_t *p = psl_latest(NULL);
    psl = p != NULL ? p : psl_builtin();
}

int dmarc_domain_normalize(const char *domain, char *out, size_t out_size)
{
    size_t n, i;

    if (domain == NULL)
        return -1;
    n = strlen(domain);
    if (n > 0 && domain[n - 1] == '.')
        n--;
    if (n == 0 || n > DMARC_DOMAIN_MAX || n + 1 > out_size)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)domain[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                   c == '.' || c >= 0x80))
            return -1;
        if (c == '.' && (i == 0 || out[i - 1] == '.'))
            return -1;
        out[i] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

int dmarc_org_domain(const char *domain, char *out, size_t out_size)
{
    char norm[DMARC_DOMAIN_MAX + 1];
    const char *reg;

    if (dmarc_domain_normalize(domain, norm, sizeof(norm)) < 0)
        return -1;
    pthread_once(&psl_once, psl_load);
    reg = psl != NULL ? psl_registrable_domain(psl, norm) : NULL;
    /* NULL: the name is a public suffix itself (or there is no list): its own org. */
    if (reg == NULL)
        reg = norm;
    if (strlen(reg) + 1 > out_size)
        return -1;
    memcpy(out, reg, strlen(reg) + 1);
    return 0;
}

bool dmarc_aligned(const char *from_domain, const char *auth_domain, enum dmarc_align mode)
{
    char a[DMARC_DOMAIN_MAX + 1], b[DMARC_DOMAIN_MAX + 1];

    if (mode == DMARC_ALIGN_STRICT)
        return dmarc_domain_normalize(from_domain, a, sizeof(a)) == 0 &&
               dmarc_domain_normalize(auth_domain, b, sizeof(b)) == 0 && strcmp(a, b) == 0;
    return dmarc_org_domain(from_domain, a, sizeof(a)) == 0 &&
           dmarc_org_domain(auth_domain, b, sizeof(b)) == 0 && strcmp(a, b) == 0;
}
