/* Registrar bindings, in memory (docs/cpm-sip.md explains why not in the
 * store on one instance; on a shared store shared.c is used instead):
 * AOR -> bindings, in shards each under its own mutex so workers
 * registering different users do not contend. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"
#include "sipd.h"

#define SHARDS 64
#define SHARD_BUCKETS 4096

struct rb {
    struct rb *next;
    struct sipd_binding b;
};

struct raor {
    struct raor *next;
    uint64_t h;
    struct rb *list; /* newest first */
    size_t n;
    char aor[];
};

struct shard {
    pthread_mutex_t lock;
    struct raor *b[SHARD_BUCKETS];
};

struct sipd_reg {
    struct shard s[SHARDS];
    uint8_t key[16];
    size_t max_bindings, max_contacts;
    atomic_size_t count;
};

int sipd_reg_new(size_t max_bindings, size_t max_contacts, struct sipd_reg **out)
{
    struct sipd_reg *r = calloc(1, sizeof(*r));

    *out = NULL;
    OSEC_ENSURE(r != NULL, OSEC_ENOMEM, "out of memory");
    if (osec_rand_bytes(r->key, sizeof(r->key)) < 0) {
        free(r);
        return OSEC_ECRYPTO;
    }
    for (int i = 0; i < SHARDS; i++)
        (void)pthread_mutex_init(&r->s[i].lock, NULL);
    r->max_bindings = max_bindings;
    r->max_contacts = max_contacts;
    *out = r;
    return 0;
}

static void free_aor(struct raor *a)
{
    while (a->list) {
        struct rb *b = a->list;

        a->list = b->next;
        free(b);
    }
    free(a);
}

void sipd_reg_free(struct sipd_reg **pr)
{
    struct sipd_reg *r = *pr;

    if (!r)
        return;
    for (int i = 0; i < SHARDS; i++) {
        for (int j = 0; j < SHARD_BUCKETS; j++) {
            while (r->s[i].b[j]) {
                struct raor *a = r->s[i].b[j];

                r->s[i].b[j] = a->next;
                free_aor(a);
            }
        }
        (void)pthread_mutex_destroy(&r->s[i].lock);
    }
    free(r);
    *pr = NULL;
}

static struct raor **slot(struct sipd_reg *r, const char *aor, uint64_t *h, struct shard **sh)
{
    struct raor **pp;

    *h = sipd_hash(r->key, aor, strlen(aor));
    *sh = &r->s[*h % SHARDS];
    pp = &(*sh)->b[(*h / SHARDS) % SHARD_BUCKETS];
    while (*pp && ((*pp)->h != *h || strcmp((*pp)->aor, aor) != 0))
        pp = &(*pp)->next;
    return pp;
}

/* Drop bindings of a matching pred; returns how many. */
static size_t drop_if(struct sipd_reg *r, struct raor *a, bool (*pred)(const struct rb *, const void *),
                      const void *arg)
{
    struct rb **pp = &a->list;
    size_t n = 0;

    while (*pp) {
        if (pred(*pp, arg)) {
            struct rb *b = *pp;

            *pp = b->next;
            free(b);
            a->n--;
            n++;
        } else {
            pp = &(*pp)->next;
        }
    }
    atomic_fetch_sub(&r->count, n);
    return n;
}

static bool is_expired(const struct rb *b, const void *arg)
{
    return b->b.expires <= *(const int64_t *)arg;
}

static bool always(const struct rb *b, const void *arg)
{
    (void)b;
    (void)arg;
    return true;
}

static bool on_conn(const struct rb *b, const void *arg)
{
    return b->b.flow.tp != TP_UDP && b->b.flow.conn == *(const uint64_t *)arg;
}

static bool same_contact(const struct rb *b, const void *arg)
{
    return strcmp(b->b.contact, (const char *)arg) == 0;
}

static struct rb *find(struct raor *a, const char *contact)
{
    for (struct rb *b = a ? a->list : NULL; b; b = b->next)
        if (strcmp(b->b.contact, contact) == 0)
            return b;
    return NULL;
}

/* RFC 3261 10.3 step 7, and the size limits, before anything changes. */
static int precheck(struct sipd_reg *r, struct raor *a, const struct sipd_binding *proto,
                    const struct sipd_reg_update *u, size_t n)
{
    size_t have = a ? a->n : 0, adds = 0;

    for (size_t i = 0; i < n; i++) {
        struct rb *b = find(a, u[i].contact);

        if (b && strcmp(b->b.call_id, proto->call_id) == 0 && proto->cseq <= b->b.cseq)
            OSEC_BAIL(OSEC_EREPLAY, "CSeq not above the binding's");
        if (!b && u[i].expires > 0)
            adds++;
    }
    OSEC_ENSURE(have + adds <= r->max_contacts, OSEC_EBOUNDS, "too many contacts for the AOR");
    OSEC_ENSURE(atomic_load(&r->count) + adds <= r->max_bindings, OSEC_EBOUNDS,
                "registrar full");
    return 0;
}

static void apply_one(struct sipd_reg *r, struct raor *a, const struct sipd_binding *proto,
                      const struct sipd_reg_update *u, int64_t now, unsigned *added,
                      unsigned *removed)
{
    struct rb *b = find(a, u->contact);

    if (u->expires == 0) {
        *removed += (unsigned)drop_if(r, a, same_contact, u->contact);
        return;
    }
    if (b) { /* refresh: unlink, rewrite, move to the front */
        struct rb **pp = &a->list;

        while (*pp != b)
            pp = &(*pp)->next;
        *pp = b->next;
        a->n--;
    } else if ((b = malloc(sizeof(*b))) == NULL) {
        return;
    } else {
        (*added)++;
        atomic_fetch_add(&r->count, 1);
    }
    b->b = *proto;
    (void)osec_strlcpy(b->b.contact, u->contact, sizeof(b->b.contact));
    b->b.expires = now + (int64_t)u->expires;
    b->next = a->list;
    a->list = b;
    a->n++;
}

static int locked_apply(struct sipd_reg *r, struct raor **pp, const char *aor, uint64_t h,
                        const struct sipd_binding *proto, const struct sipd_reg_update *u,
                        size_t n, bool star, int64_t now, unsigned *added, unsigned *removed)
{
    struct raor *a = *pp;
    size_t len = strlen(aor);

    if (a)
        *removed += (unsigned)drop_if(r, a, is_expired, &now);
    if (star) {
        if (a)
            *removed += (unsigned)drop_if(r, a, always, NULL);
    } else {
        OSEC_GUARD(precheck(r, a, proto, u, n));
        if (!a) {
            a = calloc(1, sizeof(*a) + len + 1);
            OSEC_ENSURE(a != NULL, OSEC_ENOMEM, "out of memory");
            a->h = h;
            memcpy(a->aor, aor, len + 1);
            *pp = a;
        }
        for (size_t i = 0; i < n; i++)
            apply_one(r, a, proto, &u[i], now, added, removed);
    }
    if (a && a->n == 0) {
        *pp = a->next;
        free_aor(a);
    }
    return 0;
}

int sipd_reg_apply(struct sipd_reg *r, const char *aor, const struct sipd_binding *proto,
                   const struct sipd_reg_update *u, size_t n, bool star, int64_t now,
                   unsigned *added, unsigned *removed)
{
    struct shard *sh;
    struct raor **pp;
    uint64_t h;
    int rc;

    *added = *removed = 0;
    h = sipd_hash(r->key, aor, strlen(aor));
    sh = &r->s[h % SHARDS];
    (void)pthread_mutex_lock(&sh->lock);
    pp = slot(r, aor, &h, &sh);
    rc = locked_apply(r, pp, aor, h, proto, u, n, star, now, added, removed);
    (void)pthread_mutex_unlock(&sh->lock);
    return rc;
}

size_t sipd_reg_get(struct sipd_reg *r, const char *aor, int64_t now, struct sipd_binding *out,
                    size_t max)
{
    struct shard *sh;
    struct raor **pp;
    uint64_t h;
    size_t n = 0;

    h = sipd_hash(r->key, aor, strlen(aor));
    sh = &r->s[h % SHARDS];
    (void)pthread_mutex_lock(&sh->lock);
    pp = slot(r, aor, &h, &sh);
    for (struct rb *b = *pp ? (*pp)->list : NULL; b && n < max; b = b->next)
        if (b->b.expires > now)
            out[n++] = b->b;
    (void)pthread_mutex_unlock(&sh->lock);
    return n;
}

static size_t sweep(struct sipd_reg *r, bool (*pred)(const struct rb *, const void *),
                    const void *arg)
{
    size_t total = 0;

    for (int i = 0; i < SHARDS; i++) {
        struct shard *sh = &r->s[i];

        (void)pthread_mutex_lock(&sh->lock);
        for (int j = 0; j < SHARD_BUCKETS; j++) {
            struct raor **pp = &sh->b[j];

            while (*pp) {
                struct raor *a = *pp;

                total += drop_if(r, a, pred, arg);
                if (a->n == 0) {
                    *pp = a->next;
                    free_aor(a);
                } else {
                    pp = &a->next;
                }
            }
        }
        (void)pthread_mutex_unlock(&sh->lock);
    }
    return total;
}

size_t sipd_reg_expire(struct sipd_reg *r, int64_t now)
{
    return sweep(r, is_expired, &now);
}

size_t sipd_reg_flow_gone(struct sipd_reg *r, uint64_t conn)
{
    return sweep(r, on_conn, &conn);
}

size_t sipd_reg_count(struct sipd_reg *r)
{
    return atomic_load(&r->count);
}
