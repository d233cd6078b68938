/* Server transaction cache (RFC 3261 17.2): a UDP client retransmits a
 * request until it hears a response.  A retransmission must get the same
 * answer without running the request again: re-verifying its Digest
 * credentials would fail as a nonce-count replay, and a forwarded request
 * would be forwarded as a new one.  Per worker, so no locks: SO_REUSEPORT
 * sends one client's datagrams to one worker.  Bounded: the oldest entry
 * goes first when full, and every entry lives at most ttl (Timer J/H). */
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"
#include "sipd.h"

struct txn {
    struct txn *hnext, *qnext;
    uint64_t h, expires_ms;
    bool local;
    struct sipd_flow to;
    size_t klen, blen;
    uint8_t data[]; /* key, then bytes */
};

struct sipd_txns {
    struct txn **b;
    size_t mask, n, cap;
    struct txn *qhead, *qtail; /* insertion order = expiry order */
    uint8_t key[16];
};

int sipd_txns_new(size_t cap, struct sipd_txns **out)
{
    struct sipd_txns *t = calloc(1, sizeof(*t));
    size_t nb = 64;

    *out = NULL;
    OSEC_ENSURE(t != NULL, OSEC_ENOMEM, "out of memory");
    while (nb < cap && nb < ((size_t)1 << 24))
        nb <<= 1;
    t->b = calloc(nb, sizeof(*t->b));
    if (!t->b || osec_rand_bytes(t->key, sizeof(t->key)) < 0) {
        free(t->b);
        free(t);
        OSEC_BAIL(OSEC_ENOMEM, "cannot allocate the transaction cache");
    }
    t->mask = nb - 1;
    t->cap = cap ? cap : 1;
    *out = t;
    return 0;
}

static void unlink_oldest(struct sipd_txns *t)
{
    struct txn *e = t->qhead, **pp = &t->b[e->h & t->mask];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    t->qhead = e->qnext;
    if (!t->qhead)
        t->qtail = NULL;
    t->n--;
    free(e);
}

static void evict(struct sipd_txns *t, uint64_t now_ms)
{
    while (t->qhead && (t->n >= t->cap || t->qhead->expires_ms <= now_ms))
        unlink_oldest(t);
}

void sipd_txns_free(struct sipd_txns **pt)
{
    struct sipd_txns *t = *pt;

    if (!t)
        return;
    while (t->qhead)
        unlink_oldest(t);
    free(t->b);
    free(t);
    *pt = NULL;
}

bool sipd_txn_key(const struct osec_sip_msg *m, const struct sipd_src *src, struct osec_buf *key)
{
    const struct osec_sip_via *v = &m->via[0];
    struct osec_slice method = m->method;

    osec_buf_reset(key);
    if (m->n_via == 0 || !osec_slice_starts_ci(v->branch, "z9hG4bK"))
        return false;
    if (m->method_id == OSEC_SIP_M_ACK)
        method = osec_slice_cstr("INVITE");
    return osec_buf_append_slice(key, v->branch) == 0 && osec_buf_putc(key, '|') == 0 &&
           osec_buf_append_slice(key, v->host) == 0 &&
           osec_buf_appendf(key, ":%u|", (unsigned)v->port) == 0 &&
           osec_buf_append_slice(key, method) == 0 &&
           osec_buf_append(key, &src->flow.addr.ss, src->flow.addr.len) == 0;
}

int sipd_txn_find(struct sipd_txns *t, struct osec_slice key, uint64_t now_ms,
                  struct sipd_txn_hit *hit)
{
    uint64_t h = sipd_hash(t->key, key.ptr, key.len);

    evict(t, now_ms);
    for (struct txn *e = t->b[h & t->mask]; e; e = e->hnext) {
        if (e->h == h && e->klen == key.len && memcmp(e->data, key.ptr, key.len) == 0) {
            hit->local = e->local;
            hit->bytes = e->data + e->klen;
            hit->len = e->blen;
            hit->to = e->to;
            return 1;
        }
    }
    return 0;
}

void sipd_txn_put(struct sipd_txns *t, struct osec_slice key, bool local, const uint8_t *bytes,
                  size_t len, const struct sipd_flow *to, uint64_t now_ms, uint64_t ttl_ms)
{
    struct txn *e;

    evict(t, now_ms);
    if (t->n >= t->cap)
        unlink_oldest(t);
    e = malloc(sizeof(*e) + key.len + len);
    if (!e)
        return; /* a retransmission will then be handled as new: safe, just slower */
    e->h = sipd_hash(t->key, key.ptr, key.len);
    e->expires_ms = now_ms + ttl_ms;
    e->local = local;
    e->to = *to;
    e->klen = key.len;
    e->blen = len;
    memcpy(e->data, key.ptr, key.len);
    memcpy(e->data + key.len, bytes, len);
    e->hnext = t->b[e->h & t->mask];
    t->b[e->h & t->mask] = e;
    e->qnext = NULL;
    if (t->qtail)
        t->qtail->qnext = e;
    else
        t->qhead = e;
    t->qtail = e;
    t->n++;
}
