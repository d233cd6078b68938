/* Verified-login cache (see omasec/credcache.h). */
#include "omasec/credcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/store.h"
#include "omasec/util.h"

#define MAC_LEN 32

struct entry {
    uint8_t mac[MAC_LEN];
    char user[OSEC_STORE_NAME_MAX + 1];
    int64_t expires; /* 0: empty */
};

struct osec_credcache {
    pthread_mutex_t lock;
    uint8_t key[32];
    unsigned ttl;
    size_t cap;
    struct entry *e;
};

int osec_credcache_new(unsigned ttl, size_t capacity, struct osec_credcache **out)
{
    struct osec_credcache *c;

    *out = NULL;
    OSEC_ENSURE(ttl >= 1, OSEC_EINVAL, "credcache: ttl must be >= 1");
    c = calloc(1, sizeof(*c));
    OSEC_ENSURE(c != NULL, OSEC_ENOMEM, "out of memory");
    c->ttl = ttl;
    c->cap = capacity ? capacity : 4096;
    c->e = calloc(c->cap, sizeof(*c->e));
    if (!c->e || osec_rand_bytes(c->key, sizeof(c->key)) < 0 ||
        pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->e);
        osec_wipe(c->key, sizeof(c->key));
        free(c);
        OSEC_BAIL(OSEC_ENOMEM, "credcache: cannot initialise");
    }
    *out = c;
    return 0;
}

void osec_credcache_free(struct osec_credcache **pc)
{
    struct osec_credcache *c = *pc;

    if (!c)
        return;
    (void)pthread_mutex_destroy(&c->lock);
    osec_wipe(c->e, c->cap * sizeof(*c->e));
    osec_wipe(c->key, sizeof(c->key));
    free(c->e);
    free(c);
    *pc = NULL;
}

/* MAC over user NUL password; false if it cannot be computed. */
static bool mac_of(const struct osec_credcache *c, const char *user, const uint8_t *pw,
                   size_t len, uint8_t mac[MAC_LEN])
{
    size_t ul = strlen(user);
    uint8_t *buf;
    bool ok;

    if (ul > OSEC_STORE_NAME_MAX || len > 4096)
        return false;
    buf = malloc(ul + 1 + len);
    if (!buf)
        return false;
    memcpy(buf, user, ul + 1);
    memcpy(buf + ul + 1, pw, len);
    ok = osec_hmac_sha256(c->key, sizeof(c->key), buf, ul + 1 + len, mac) == 0;
    osec_wipe(buf, ul + 1 + len);
    free(buf);
    return ok;
}

static size_t slot_of(const struct osec_credcache *c, const uint8_t mac[MAC_LEN])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | mac[i];
    return (size_t)(v % c->cap);
}

bool osec_credcache_check(struct osec_credcache *c, const char *user, const uint8_t *pw,
                          size_t len, int64_t now)
{
    uint8_t mac[MAC_LEN];
    bool hit = false;

    if (!c || !mac_of(c, user, pw, len, mac))
        return false;
    (void)pthread_mutex_lock(&c->lock);
    {
        struct entry *e = &c->e[slot_of(c, mac)];

        hit = e->expires > now && osec_ct_eq(e->mac, mac, MAC_LEN) &&
              strcmp(e->user, user) == 0;
        if (e->expires && e->expires <= now)
            memset(e, 0, sizeof(*e));
    }
    (void)pthread_mutex_unlock(&c->lock);
    osec_wipe(mac, sizeof(mac));
    return hit;
}

void osec_credcache_put(struct osec_credcache *c, const char *user, const uint8_t *pw,
                        size_t len, int64_t now)
{
    uint8_t mac[MAC_LEN];

    if (!c || !mac_of(c, user, pw, len, mac))
        return;
    (void)pthread_mutex_lock(&c->lock);
    {
        struct entry *e = &c->e[slot_of(c, mac)];

        memcpy(e->mac, mac, MAC_LEN);
        if (osec_strlcpy(e->user, user, sizeof(e->user)) < 0)
            memset(e, 0, sizeof(*e));
        else
            e->expires = now + (int64_t)c->ttl;
    }
    (void)pthread_mutex_unlock(&c->lock);
    osec_wipe(mac, sizeof(mac));
}

void osec_credcache_forget(struct osec_credcache *c, const char *user)
{
    if (!c)
        return;
    (void)pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->cap; i++)
        if (c->e[i].expires && strcmp(c->e[i].user, user) == 0)
            memset(&c->e[i], 0, sizeof(c->e[i]));
    (void)pthread_mutex_unlock(&c->lock);
}
