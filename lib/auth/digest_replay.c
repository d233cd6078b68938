/* In-memory nonce-count replay store.
 *
 * A fixed pool of entries (bounded memory), chained hash buckets keyed by
 * the nonce, and a list in first-use order for eviction.  Per nonce: the
 * highest nc seen and a 64-bit window of the nc values below it, so that
 * requests pipelined on several connections may arrive slightly out of
 * order.  nc == 0 marks a single-use nonce (no qop).
 *
 * Memory pressure never opens a replay hole: when the pool is full the
 * oldest entry is dropped and `floor` remembers its expiry; a nonce we hold
 * no entry for and that expires at or before `floor` may have been dropped,
 * so it is answered OSEC_ESTALE (the client simply takes a fresh nonce). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/digest.h"
#include "omasec/error.h"
#include "omasec/util.h"

#define NONCE_MAX 64
#define NIL UINT32_MAX
#define WINDOW 64
#define CAPACITY_MAX (1u << 24)

struct rentry {
    uint32_t hnext;        /* next in bucket, or in the free list */
    uint32_t older, newer; /* first-use order */
    int64_t expires;
    uint64_t window;       /* bit i: nc (max_nc - i) was used */
    uint32_t max_nc;
    bool single;           /* used without qop: no further use at all */
    uint8_t len;
    uint8_t nonce[NONCE_MAX];
};

struct osec_digest_replay_mem {
    pthread_mutex_t mu;
    struct rentry *e;
    uint32_t *bucket;
    size_t cap, nbucket, count;
    uint32_t free_head, oldest, newest;
    int64_t floor;
    uint64_t seed;
    osec_digest_clock_fn now;
    void *now_arg;
};

static int64_t default_now(void *arg)
{
    (void)arg;
    return osec_time_now();
}

static int init_pool(struct osec_digest_replay_mem *m, size_t capacity)
{
    m->cap = capacity;
    m->nbucket = 1;
    while (m->nbucket < capacity)
        m->nbucket <<= 1;
    m->e = calloc(capacity, sizeof(*m->e));
    m->bucket = malloc(m->nbucket * sizeof(*m->bucket));
    OSEC_ENSURE(m->e != NULL && m->bucket != NULL, OSEC_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->nbucket; i++)
        m->bucket[i] = NIL;
    for (size_t i = 0; i < capacity; i++)
        m->e[i].hnext = i + 1 < capacity ? (uint32_t)(i + 1) : NIL;
    m->free_head = 0;
    m->oldest = m->newest = NIL;
    m->floor = INT64_MIN;
    return osec_rand_bytes(&m->seed, sizeof(m->seed));
}

int osec_digest_replay_mem_new(size_t capacity, osec_digest_clock_fn now, void *now_arg,
                               struct osec_digest_replay_mem **out)
{
    struct osec_digest_replay_mem *m;
    int rc;

    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "NULL output");
    *out = NULL;
    if (capacity == 0)
        capacity = OSEC_DIGEST_REPLAY_DEFAULT;
    OSEC_ENSURE(capacity <= CAPACITY_MAX, OSEC_EINVAL, "replay cache capacity too large");
    m = calloc(1, sizeof(*m));
    OSEC_ENSURE(m != NULL, OSEC_ENOMEM, "out of memory");
    m->now = now ? now : default_now;
    m->now_arg = now_arg;
    rc = init_pool(m, capacity);
    if (rc == 0 && pthread_mutex_init(&m->mu, NULL) != 0)
        rc = osec_error_set(OSEC_EINTERNAL, __FILE__, __LINE__, "pthread_mutex_init failed");
    if (rc < 0) {
        free(m->e);
        free(m->bucket);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void osec_digest_replay_mem_free(struct osec_digest_replay_mem **pm)
{
    struct osec_digest_replay_mem *m = pm ? *pm : NULL;

    if (!m)
        return;
    (void)pthread_mutex_destroy(&m->mu);
    free(m->e);
    free(m->bucket);
    free(m);
    *pm = NULL;
}

size_t osec_digest_replay_mem_count(struct osec_digest_replay_mem *m)
{
    size_t n;

    (void)pthread_mutex_lock(&m->mu);
    n = m->count;
    (void)pthread_mutex_unlock(&m->mu);
    return n;
}

/* FNV-1a with a random seed: nonces are server-made, but keep the bucket
 * choice unpredictable anyway. */
static size_t bucket_of(const struct osec_digest_replay_mem *m, struct osec_slice nonce)
{
    uint64_t h = 0xcbf29ce484222325ull ^ m->seed;

    for (size_t i = 0; i < nonce.len; i++)
        h = (h ^ nonce.ptr[i]) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 32)) & (m->nbucket - 1);
}

static uint32_t find(const struct osec_digest_replay_mem *m, struct osec_slice nonce)
{
    for (uint32_t i = m->bucket[bucket_of(m, nonce)]; i != NIL; i = m->e[i].hnext)
        if (m->e[i].len == nonce.len && memcmp(m->e[i].nonce, nonce.ptr, nonce.len) == 0)
            return i;
    return NIL;
}

static void drop(struct osec_digest_replay_mem *m, uint32_t idx)
{
    struct rentry *e = &m->e[idx];
    uint32_t *link = &m->bucket[bucket_of(m, osec_slice_make(e->nonce, e->len))];

    while (*link != idx)
        link = &m->e[*link].hnext;
    *link = e->hnext;
    if (e->older != NIL)
        m->e[e->older].newer = e->newer;
    else
        m->oldest = e->newer;
    if (e->newer != NIL)
        m->e[e->newer].older = e->older;
    else
        m->newest = e->older;
    e->hnext = m->free_head;
    m->free_head = idx;
    m->count--;
}

static void sweep(struct osec_digest_replay_mem *m, int64_t now, size_t max)
{
    while (max-- > 0 && m->oldest != NIL && m->e[m->oldest].expires < now)
        drop(m, m->oldest);
}

static uint32_t take(struct osec_digest_replay_mem *m, int64_t now)
{
    uint32_t idx;

    if (m->free_head == NIL)
        sweep(m, now, m->cap);
    if (m->free_head == NIL) {
        if (m->e[m->oldest].expires > m->floor)
            m->floor = m->e[m->oldest].expires;
        drop(m, m->oldest);
    }
    idx = m->free_head;
    m->free_head = m->e[idx].hnext;
    return idx;
}

static void insert(struct osec_digest_replay_mem *m, struct osec_slice nonce, uint32_t nc,
                   int64_t expires, int64_t now)
{
    uint32_t idx = take(m, now);
    struct rentry *e = &m->e[idx];
    size_t b = bucket_of(m, nonce);

    memcpy(e->nonce, nonce.ptr, nonce.len);
    e->len = (uint8_t)nonce.len;
    e->expires = expires;
    e->single = nc == 0;
    e->max_nc = nc;
    e->window = nc ? 1 : 0;
    e->hnext = m->bucket[b];
    m->bucket[b] = idx;
    e->older = m->newest;
    e->newer = NIL;
    if (m->newest != NIL)
        m->e[m->newest].newer = idx;
    else
        m->oldest = idx;
    m->newest = idx;
    m->count++;
}

static int mark(struct rentry *e, uint32_t nc)
{
    uint32_t d;

    OSEC_ENSURE(!e->single && nc != 0, OSEC_EREPLAY, "nonce already used");
    if (nc > e->max_nc) {
        d = nc - e->max_nc;
        e->window = d >= WINDOW ? 0 : e->window << d;
        e->window |= 1;
        e->max_nc = nc;
        return 0;
    }
    d = e->max_nc - nc;
    OSEC_ENSURE(d < WINDOW, OSEC_EREPLAY, "nonce-count %u too far behind %u", nc, e->max_nc);
    OSEC_ENSURE(!(e->window & (1ull << d)), OSEC_EREPLAY, "nonce-count %08x already used", nc);
    e->window |= 1ull << d;
    return 0;
}

int osec_digest_replay_mem_check(void *arg, struct osec_slice nonce, uint32_t nc,
                                 int64_t expires)
{
    struct osec_digest_replay_mem *m = arg;
    int64_t now;
    uint32_t idx;
    int rc = 0;

    OSEC_ENSURE(m != NULL, OSEC_EINVAL, "NULL replay store");
    OSEC_ENSURE(nonce.len > 0 && nonce.len <= NONCE_MAX, OSEC_EINVAL,
                "nonce length %zu not storable", nonce.len);
    if (pthread_mutex_lock(&m->mu) != 0)
        OSEC_BAIL(OSEC_EINTERNAL, "pthread_mutex_lock failed");
    now = m->now(m->now_arg);
    sweep(m, now, 4);
    idx = find(m, nonce);
    if (expires < now)
        rc = osec_error_set(OSEC_ESTALE, __FILE__, __LINE__, "nonce expired");
    else if (idx != NIL)
        rc = mark(&m->e[idx], nc);
    else if (expires <= m->floor)
        rc = osec_error_set(OSEC_ESTALE, __FILE__, __LINE__,
                            "replay store dropped this nonce under memory pressure");
    else
        insert(m, nonce, nc, expires, now);
    (void)pthread_mutex_unlock(&m->mu);
    return rc;
}
