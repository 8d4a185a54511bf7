/*
 * queue_index.c - which queued messages still have a recipient in a given domain: the
 * in-memory index behind ETRN, "posternctl flush --domain" and the backup-MX probe's
 * "the primary is back" (queue_int.h, "queue_index.c").
 *
 * The runner learns a message's recipients when it reads its file: at the start-up scan
 * and at each load. It then files the message under the domain of every recipient still
 * pending, and again after each attempt (delivered and bounced recipients drop out); a
 * message leaves the index when it leaves the table (qmsg_forget). A flush by domain then
 * reads no file: it walks the domain's list. A message that was never loaded (it arrived
 * while the queue was paused, or waits for a delivery slot) is not in the index; it is
 * already due.
 *
 * One struct qdomain per domain (lower case) in a hash; one struct qlink per (domain,
 * message) in the domain's doubly linked list, owned by the message (m->links), with the
 * domain's count of messages and bytes (queue_backlog: the backup-domain cap). Loop
 * thread only.
 */
#include "relay/queue/queue_int.h"

#include "lib/xalloc.h"
#include "relay/queue/queue_file.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QINDEX_BUCKETS_MIN 64

struct qdomain {
    struct qdomain *hnext;
    char *name;                   /* lower case */
    struct qlink *head;
    size_t nmsgs;                 /* messages filed under it */
    unsigned long long bytes;     /* their sizes (as known when they were filed) */
};

struct qlink {
    struct qlink *prev, *next;    /* the other messages of its domain */
    struct qdomain *d;
    struct qmsg *m;
    unsigned long long bytes;     /* the message's size counted in d->bytes */
};

static size_t hash_domain(const char *s, size_t n)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)tolower((unsigned char)*s++);
    return h & (n - 1);
}

static struct qdomain *domain_get(struct queue *q, const char *name, bool create)
{
    size_t b;
    struct qdomain *d;
    char *p;

    if (q->domains == NULL) {
        if (!create)
            return NULL;
        q->ndbuckets = QINDEX_BUCKETS_MIN;
        q->domains = xcalloc(q->ndbuckets, sizeof(*q->domains));
    }
    b = hash_domain(name, q->ndbuckets);
    for (d = q->domains[b]; d; d = d->hnext)
        if (strcasecmp(d->name, name) == 0)
            return d;
    if (!create)
        return NULL;
    if (q->ndomains >= q->ndbuckets * 2) {  /* grow: rehash every domain */
        size_t n = q->ndbuckets * 2, i;
        struct qdomain **h = xcalloc(n, sizeof(*h)), *next;
        for (i = 0; i < q->ndbuckets; i++)
            for (d = q->domains[i]; d; d = next) {
                size_t nb = hash_domain(d->name, n);
                next = d->hnext;
                d->hnext = h[nb];
                h[nb] = d;
            }
        free(q->domains);
        q->domains = h;
        q->ndbuckets = n;
        b = hash_domain(name, n);
    }
    d = xcalloc(1, sizeof(*d));
    d->name = xstrdup(name);
    for (p = d->name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    d->hnext = q->domains[b];
    q->domains[b] = d;
    q->ndomains++;
    return d;
}

static void domain_drop_if_empty(struct queue *q, struct qdomain *d)
{
    struct qdomain **pp;

    if (d->head)
        return;
    for (pp = &q->domains[hash_domain(d->name, q->ndbuckets)]; *pp; pp = &(*pp)->hnext)
        if (*pp == d) {
            *pp = d->hnext;
            break;
        }
    q->ndomains--;
    free(d->name);
    free(d);
}

void qindex_clear(struct qmsg *m)
{
    size_t i;

    for (i = 0; i < m->nlinks; i++) {
        struct qlink *l = &m->links[i];
        if (l->prev)
            l->prev->next = l->next;
        else
            l->d->head = l->next;
        if (l->next)
            l->next->prev = l->prev;
        l->d->nmsgs--;
        l->d->bytes -= l->bytes;
        domain_drop_if_empty(m->q, l->d);
    }
    free(m->links);
    m->links = NULL;
    m->nlinks = 0;
}

void qindex_set(struct qmsg *m, const char *const *domains, size_t n,
                unsigned long long bytes)
{
    size_t i, j;

    qindex_clear(m);
    if (n == 0)
        return;
    /* links are pointed to by their neighbours: the array is allocated once, at its size */
    m->links = xcalloc(n, sizeof(*m->links));
    for (i = 0; i < n; i++) {
        struct qlink *l;
        for (j = 0; j < i && strcasecmp(domains[j], domains[i]) != 0; j++)
            ;
        if (j < i || domains[i][0] == '\0')
            continue;                     /* the same domain twice, or no domain */
        l = &m->links[m->nlinks++];
        l->m = m;
        l->d = domain_get(m->q, domains[i], true);
        l->bytes = bytes;
        l->d->nmsgs++;
        l->d->bytes += bytes;
        l->next = l->d->head;
        if (l->next)
            l->next->prev = l;
        l->d->head = l;
    }
}

void qindex_set_file(struct qmsg *m, const struct queue_file *qf)
{
    const char **d = xcalloc(qf->nrcpt + 1, sizeof(*d));
    size_t i, n = 0;

    for (i = 0; i < qf->nrcpt; i++)
        if (qf->rcpts[i].state == QF_PENDING)
            d[n++] = qres_domain(qf->rcpts[i].addr);
    qindex_set(m, d, n, qf->msg_size);
    free(d);
}

/* name is domain or below it ("a.example.org" for "example.org"). */
static bool domain_at_or_below(const char *name, const char *domain)
{
    size_t len = strlen(name), dlen = strlen(domain);

    if (strcasecmp(name, domain) == 0)
        return true;
    return len > dlen && name[len - dlen - 1] == '.' &&
           strcasecmp(name + len - dlen, domain) == 0;
}

static void visit_domain(struct queue *q, struct qdomain *d, qindex_fn fn, void *arg)
{
    struct qlink *l;

    for (l = d->head; l; l = l->next)
        if (l->m->index_visit != q->index_visit) { /* once, whatever its domains */
            l->m->index_visit = q->index_visit;
            fn(l->m, arg);
        }
}

void qindex_each(struct queue *q, const char *domain, bool subdomains, qindex_fn fn,
                 void *arg)
{
    struct qdomain *d;
    size_t i;

    q->index_visit++;
    if (!subdomains) {
        if ((d = domain_get(q, domain, false)) != NULL)
            visit_domain(q, d, fn, arg);
        return;
    }
    for (i = 0; q->domains && i < q->ndbuckets; i++)
        for (d = q->domains[i]; d; d = d->hnext)
            if (domain_at_or_below(d->name, domain))
                visit_domain(q, d, fn, arg);
}

void queue_backlog(struct queue *q, const char *domain, unsigned long long *msgs,
                   unsigned long long *bytes)
{
    struct qdomain *d = q ? domain_get(q, domain, false) : NULL;

    *msgs = d ? d->nmsgs : 0;
    *bytes = d ? d->bytes : 0;
}

void qindex_free(struct queue *q)
{
    free(q->domains);  /* every message cleared its links: the domains are gone with them */
    q->domains = NULL;
    q->ndbuckets = q->ndomains = 0;
}
