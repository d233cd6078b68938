/* Per-thread cache of the store answers the SIP edge needs on every
 * registration refresh (see sip_policy.h for what it trades). */
#include <stdlib.h>
#include <string.h>

#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/sip_policy.h"
#include "omasec/util.h"

#define KEY_MAX (OSEC_STORE_URI_MAX + 2)

enum kind { K_EMPTY = 0, K_OWNER = 1, K_HA1 = 2 };

struct entry {
    uint64_t h, expires_ms;
    uint8_t kind, hash;
    size_t klen, ha1_len;
    char key[KEY_MAX];
    char value[OSEC_STORE_NAME_MAX + 1]; /* owner, or the user's real name */
    uint8_t ha1[OSEC_HASH_MAX];
};

struct osec_sip_cache {
    struct entry *e;
    size_t mask;
    unsigned ttl_ms;
    uint64_t seed;
};

int osec_sip_cache_new(size_t capacity, unsigned ttl_ms, struct osec_sip_cache **out)
{
    struct osec_sip_cache *c;
    size_t n = 16;

    *out = NULL;
    OSEC_ENSURE(capacity > 0 && capacity <= ((size_t)1 << 22), OSEC_EINVAL,
                "bad cache capacity");
    while (n < capacity)
        n <<= 1;
    c = calloc(1, sizeof(*c));
    OSEC_ENSURE(c != NULL, OSEC_ENOMEM, "out of memory");
    c->e = calloc(n, sizeof(*c->e));
    if (!c->e || osec_rand_bytes(&c->seed, sizeof(c->seed)) < 0) {
        free(c->e);
        free(c);
        OSEC_BAIL(OSEC_ENOMEM, "cannot allocate the cache");
    }
    c->mask = n - 1;
    c->ttl_ms = ttl_ms;
    *out = c;
    return 0;
}

void osec_sip_cache_free(struct osec_sip_cache **pc)
{
    struct osec_sip_cache *c = *pc;

    if (!c)
        return;
    osec_wipe(c->e, (c->mask + 1) * sizeof(*c->e));
    free(c->e);
    free(c);
    *pc = NULL;
}

/* Seeded FNV-1a: a collision only evicts (direct-mapped), never chains. */
static uint64_t hash_of(const struct osec_sip_cache *c, uint8_t kind, uint8_t alg, const char *k,
                        size_t n)
{
    uint64_t h = c->seed ^ 0xcbf29ce484222325ULL;

    h = (h ^ kind) * 0x100000001b3ULL;
    h = (h ^ alg) * 0x100000001b3ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static bool same(const struct entry *e, uint8_t kind, uint8_t alg, const char *key, size_t n,
                 uint64_t h)
{
    return e->kind == kind && e->hash == alg && e->h == h && e->klen == n &&
           memcmp(e->key, key, n) == 0;
}

/* Two candidate slots per key (two-choice hashing): the entry found, or the
 * slot to fill (the empty or older one). */
static struct entry *find(struct osec_sip_cache *c, uint8_t kind, uint8_t alg, const char *key,
                          uint64_t *h, bool *hit)
{
    size_t n = strlen(key);
    struct entry *a, *b;

    *h = hash_of(c, kind, alg, key, n);
    a = &c->e[*h & c->mask];
    b = &c->e[(*h >> 32) & c->mask];
    *hit = false;
    if (n >= KEY_MAX)
        return a;
    if (same(b, kind, alg, key, n, *h))
        a = b;
    if (same(a, kind, alg, key, n, *h)) {
        *hit = a->expires_ms > osec_time_mono_ms();
        return a;
    }
    return a->expires_ms <= b->expires_ms ? a : b;
}

static void fill(struct osec_sip_cache *c, struct entry *e, uint8_t kind, uint8_t alg,
                 const char *key, uint64_t h)
{
    size_t n = strlen(key);

    osec_wipe(e, sizeof(*e)); /* the previous HA1, if any */
    if (n >= KEY_MAX)
        return;
    e->kind = kind;
    e->hash = alg;
    e->h = h;
    e->klen = n;
    memcpy(e->key, key, n);
    e->expires_ms = osec_time_mono_ms() + c->ttl_ms;
}

static int owner_of(struct osec_store *st, const char *aor, char *user, size_t userlen)
{
    char alt[OSEC_STORE_URI_MAX + 2];
    int rc = osec_store_address_owner(st, aor, user, userlen);

    if (rc != OSEC_ENOTFOUND || strncmp(aor, "sip:", 4) != 0)
        return rc;
    if (osec_snprintf(alt, sizeof(alt), "sips:%s", aor + 4) < 0)
        return OSEC_ENOTFOUND;
    return osec_store_address_owner(st, alt, user, userlen);
}

int osec_sip_db_owner(const struct osec_sip_db *db, const char *aor, char *user, size_t userlen)
{
    struct entry *e = NULL;
    uint64_t h = 0;
    bool hit = false;
    int rc;

    if (db->cache && db->cache->ttl_ms) {
        e = find(db->cache, K_OWNER, 0, aor, &h, &hit);
        if (hit)
            return osec_strlcpy(user, e->value, userlen);
    }
    rc = owner_of(db->st, aor, user, userlen);
    if (rc == 0 && e) {
        fill(db->cache, e, K_OWNER, 0, aor, h);
        if (osec_strlcpy(e->value, user, sizeof(e->value)) < 0)
            e->kind = K_EMPTY;
    }
    return rc;
}

int osec_sip_cache_lookup(void *arg, const struct osec_digest_lookup *who,
                          struct osec_digest_secret *out)
{
    struct osec_sip_cached_lookup *cl = arg;
    char name[OSEC_STORE_NAME_MAX + 1];
    struct entry *e = NULL;
    uint64_t h = 0;
    bool hit = false;
    int rc;

    if (!cl->cache || !cl->cache->ttl_ms || who->userhash ||
        osec_slice_to_cstr(who->username, name, sizeof(name)) < 0)
        return osec_lookup_user_digest(cl->l, who, out);
    e = find(cl->cache, K_HA1, (uint8_t)who->hash, name, &h, &hit);
    if (hit) {
        out->kind = OSEC_DIGEST_SECRET_HA1;
        memcpy(out->ha1, e->ha1, e->ha1_len);
        out->ha1_len = e->ha1_len;
        return osec_strlcpy(out->username, e->value, sizeof(out->username));
    }
    rc = osec_lookup_user_digest(cl->l, who, out);
    if (rc == 0 && out->kind == OSEC_DIGEST_SECRET_HA1 && out->ha1_len <= sizeof(e->ha1)) {
        fill(cl->cache, e, K_HA1, (uint8_t)who->hash, name, h);
        memcpy(e->ha1, out->ha1, out->ha1_len);
        e->ha1_len = out->ha1_len;
        if (osec_strlcpy(e->value, out->username, sizeof(e->value)) < 0)
            osec_wipe(e, sizeof(*e));
    }
    return rc;
}
