/* Per-source connection counts of one server (see net_int.h): open
 * addressing with linear probing and backward-shift deletion. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_int.h"
#include "omasec/buf.h"
#include "omasec/config.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/metrics.h"
#include "omasec/net.h"
#include "omasec/util.h"

struct slot {
    uint64_t v;
    uint32_t count; /* 0: free */
    uint8_t fam;
};

struct net_src_table {
    pthread_mutex_t mu;
    struct slot *slots;
    size_t mask;    /* slots - 1; the number of slots is a power of two */
    size_t used;    /* slots in use (sources) */
    size_t conns;   /* sum of the counts */
    uint64_t seed;
};

#define NO_SLOT ((size_t)-1)

/* MurmurHash3's finalizer: a bijection that spreads every input bit. */
static uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static size_t home(const struct net_src_table *t, uint64_t v, uint8_t fam)
{
    return (size_t)fmix64(fmix64(v ^ t->seed) ^ fam) & t->mask;
}

int net_src_new(size_t max_conns, struct net_src_table **out)
{
    struct net_src_table *t = calloc(1, sizeof(*t));
    size_t n = 64;

    *out = NULL;
    OSEC_ENSURE(t != NULL, OSEC_ENOMEM, "out of memory");
    while (n < 2 * max_conns && n < ((size_t)1 << 30))
        n <<= 1;
    t->slots = calloc(n, sizeof(*t->slots));
    if (!t->slots || osec_rand_bytes(&t->seed, sizeof(t->seed)) < 0 ||
        pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t->slots);
        free(t);
        OSEC_BAIL(OSEC_ENOMEM, "cannot make the per-source table");
    }
    t->mask = n - 1;
    *out = t;
    return 0;
}

void net_src_free(struct net_src_table **pt)
{
    struct net_src_table *t = *pt;

    if (!t)
        return;
    (void)pthread_mutex_destroy(&t->mu);
    free(t->slots);
    free(t);
    *pt = NULL;
}

void net_src_key_of(const struct sockaddr *sa, struct net_src_key *k)
{
    k->v = 0;
    k->fam = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;

        k->v = ntohl(a->sin_addr.s_addr);
        k->fam = 4;
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        /* an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) is an
         * IPv4 source: it has one address, not a /64 */
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        bool v4 = memcmp(b, mapped, sizeof(mapped)) == 0;

        for (size_t i = v4 ? 12 : 0; i < (v4 ? 16u : 8u); i++)
            k->v = k->v << 8 | b[i];
        k->fam = v4 ? 4 : 6;
    }
}

/* The slot holding k, or the free slot where it would go (found false);
 * NO_SLOT when neither exists (a full table: cannot happen when sized). */
static size_t probe(const struct net_src_table *t, const struct net_src_key *k, bool *found)
{
    size_t i = home(t, k->v, k->fam);

    *found = false;
    for (size_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
        const struct slot *s = &t->slots[i];

        if (!s->count)
            return i;
        if (s->v == k->v && s->fam == k->fam) {
            *found = true;
            return i;
        }
    }
    return NO_SLOT;
}

bool net_src_acquire(struct net_src_table *t, const struct net_src_key *k, unsigned limit)
{
    bool found, ok;
    size_t i;

    (void)pthread_mutex_lock(&t->mu);
    i = probe(t, k, &found);
    ok = i != NO_SLOT && (!found || !limit || t->slots[i].count < limit);
    if (ok) {
        if (!found) {
            t->slots[i].v = k->v;
            t->slots[i].fam = k->fam;
            t->used++;
        }
        t->slots[i].count++;
        t->conns++;
    }
    (void)pthread_mutex_unlock(&t->mu);
    return ok;
}

/* Close the gap a freed slot leaves in the probe chains after it: an
 * entry moves back into the hole when its home slot is not between the
 * hole and where it sits. */
static void shift_back(struct net_src_table *t, size_t hole)
{
    for (size_t i = (hole + 1) & t->mask; t->slots[i].count; i = (i + 1) & t->mask) {
        struct slot *s = &t->slots[i];
        size_t h = home(t, s->v, s->fam);

        if (((i - h) & t->mask) >= ((i - hole) & t->mask)) {
            t->slots[hole] = *s;
            s->count = 0;
            hole = i;
        }
    }
}

void net_src_release(struct net_src_table *t, const struct net_src_key *k)
{
    bool found;
    size_t i;

    (void)pthread_mutex_lock(&t->mu);
    i = probe(t, k, &found);
    if (found) {
        t->conns--;
        if (--t->slots[i].count == 0) {
            t->used--;
            shift_back(t, i);
        }
    }
    (void)pthread_mutex_unlock(&t->mu);
    if (!found)
        osec_error("conn.source_untracked", "fam=%u", (unsigned)k->fam); /* a bug */
}

void net_src_totals(struct net_src_table *t, size_t *sources, size_t *conns)
{
    (void)pthread_mutex_lock(&t->mu);
    *sources = t->used;
    *conns = t->conns;
    (void)pthread_mutex_unlock(&t->mu);
}

void net_src_format(const struct net_src_key *k, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (k->fam == 4) {
        struct in_addr a = { htonl((uint32_t)k->v) };

        if (inet_ntop(AF_INET, &a, out, (socklen_t)len))
            return;
    } else if (k->fam == 6) {
        struct in6_addr a;

        memset(&a, 0, sizeof(a));
        for (size_t i = 0; i < 8; i++)
            a.s6_addr[i] = (uint8_t)(k->v >> (56 - 8 * i));
        if (inet_ntop(AF_INET6, &a, ip, sizeof(ip)) &&
            osec_snprintf(out, len, "%s/64", ip) == 0)
            return;
    }
    (void)osec_strlcpy(out, "-", len);
}

int osec_net_config_per_source(const struct osec_config *cfg, const char *section,
                               unsigned *out)
{
    int64_t v;

    OSEC_GUARD(osec_config_get_int(cfg, section, "max_conns_per_source", 0,
                                   OSEC_NET_PER_SOURCE_MAX, OSEC_NET_PER_SOURCE_DEFAULT, &v));
    *out = (unsigned)v;
    return 0;
}

bool net_refusal_due(struct net_refusals *r, uint64_t *since)
{
    uint64_t n = atomic_fetch_add(&r->n, 1) + 1;
    uint64_t now = osec_time_mono_ms(), next = atomic_load(&r->next_ms);

    if (now < next || !atomic_compare_exchange_strong(&r->next_ms, &next, now + 1000))
        return false;
    *since = n - atomic_exchange(&r->logged, n);
    return true;
}

void net_src_log_refused(const struct net_src_key *k, unsigned limit, uint64_t since)
{
    char src[INET6_ADDRSTRLEN + 4];

    net_src_format(k, src, sizeof(src));
    osec_warn("conn.refused", "reason=per_source source=%s limit=%u refused=%llu", src, limit,
              (unsigned long long)since);
}

/* ---- the public wrapper, for daemons with their own accept loop ---------- */

struct osec_net_srclimit {
    struct net_src_table *t;
    atomic_uint limit;
    struct osec_metric *refused;
    struct net_refusals ref;
};

int osec_net_srclimit_new(size_t max_conns, unsigned limit, struct osec_metric *refused,
                          struct osec_net_srclimit **out)
{
    struct osec_net_srclimit *l = calloc(1, sizeof(*l));
    int rc;

    *out = NULL;
    OSEC_ENSURE(l != NULL, OSEC_ENOMEM, "out of memory");
    if ((rc = net_src_new(max_conns, &l->t)) < 0) {
        free(l);
        return rc;
    }
    atomic_init(&l->limit, limit);
    l->refused = refused;
    *out = l;
    return 0;
}

void osec_net_srclimit_set(struct osec_net_srclimit *l, unsigned limit)
{
    atomic_store(&l->limit, limit);
}

bool osec_net_srclimit_acquire(struct osec_net_srclimit *l, const struct sockaddr *sa)
{
    struct net_src_key k;
    unsigned limit = atomic_load(&l->limit);
    uint64_t n;

    net_src_key_of(sa, &k);
    if (net_src_acquire(l->t, &k, limit))
        return true;
    osec_metric_inc(l->refused);
    if (net_refusal_due(&l->ref, &n))
        net_src_log_refused(&k, limit, n);
    return false;
}

void osec_net_srclimit_release(struct osec_net_srclimit *l, const struct sockaddr *sa)
{
    struct net_src_key k;

    net_src_key_of(sa, &k);
    net_src_release(l->t, &k);
}

void osec_net_srclimit_stats(struct osec_net_srclimit *l, struct osec_net_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->refused_source = atomic_load(&l->ref.n);
    net_src_totals(l->t, &out->sources, &out->source_conns);
}

void osec_net_srclimit_free(struct osec_net_srclimit **pl)
{
    struct osec_net_srclimit *l = *pl;
    size_t sources, conns;

    if (!l)
        return;
    net_src_totals(l->t, &sources, &conns);
    if (sources || conns)
        osec_error("conn.source_leak", "sources=%zu conns=%zu", sources, conns);
    net_src_free(&l->t);
    free(l);
    *pl = NULL;
}
