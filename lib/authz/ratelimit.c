#include "omasec/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/buf.h"
#include "omasec/error.h"

#define KEY_MAX 160
#define PROBE 16

struct slot {
    char key[KEY_MAX];
    uint32_t hash;
    unsigned failures;
    int64_t window_start;
    int64_t blocked_until;
    int64_t touched;
};

struct osec_ratelimit {
    struct osec_ratelimit_config cfg;
    pthread_mutex_t mu;
    struct slot *slots;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int osec_ratelimit_new(const struct osec_ratelimit_config *cfg, struct osec_ratelimit **out)
{
    struct osec_ratelimit *rl = calloc(1, sizeof(*rl));

    *out = NULL;
    OSEC_ENSURE(rl != NULL, OSEC_ENOMEM, "out of memory");
    rl->cfg = *cfg;
    if (!rl->cfg.max_failures)
        rl->cfg.max_failures = 5;
    if (!rl->cfg.window)
        rl->cfg.window = 60;
    if (!rl->cfg.block)
        rl->cfg.block = 60;
    if (rl->cfg.capacity < PROBE)
        rl->cfg.capacity = 65536;
    rl->slots = calloc(rl->cfg.capacity, sizeof(*rl->slots));
    if (!rl->slots || pthread_mutex_init(&rl->mu, NULL) != 0) {
        free(rl->slots);
        free(rl);
        OSEC_BAIL(OSEC_ENOMEM, "out of memory");
    }
    *out = rl;
    return 0;
}

void osec_ratelimit_set_config(struct osec_ratelimit *rl, const struct osec_ratelimit_config *cfg)
{
    (void)pthread_mutex_lock(&rl->mu);
    rl->cfg.max_failures = cfg->max_failures ? cfg->max_failures : 5;
    rl->cfg.window = cfg->window ? cfg->window : 60;
    rl->cfg.block = cfg->block ? cfg->block : 60;
    (void)pthread_mutex_unlock(&rl->mu);
}

void osec_ratelimit_free(struct osec_ratelimit **prl)
{
    struct osec_ratelimit *rl = *prl;

    if (!rl)
        return;
    (void)pthread_mutex_destroy(&rl->mu);
    free(rl->slots);
    free(rl);
    *prl = NULL;
}

/* The slot holding key, or (create) a free / least recently touched one. */
static struct slot *find(struct osec_ratelimit *rl, const char *key, bool create, int64_t now)
{
    uint32_t h = fnv1a(key);
    struct slot *victim = NULL;

    for (size_t i = 0; i < PROBE; i++) {
        struct slot *s = &rl->slots[(h + i) % rl->cfg.capacity];

        if (s->key[0] && s->hash == h && strcmp(s->key, key) == 0)
            return s;
        if (!victim || !s->key[0] || (victim->key[0] && s->touched < victim->touched))
            victim = s;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    if (osec_strlcpy(victim->key, key, sizeof(victim->key)) < 0)
        return NULL; /* over-long keys are truncated by callers; never here */
    victim->hash = h;
    victim->window_start = now;
    return victim;
}

int osec_ratelimit_check(struct osec_ratelimit *rl, const char *key, int64_t now,
                         unsigned *retry_after)
{
    struct slot *s;
    int rc = 0;

    *retry_after = 0;
    (void)pthread_mutex_lock(&rl->mu);
    s = find(rl, key, false, now);
    if (s && s->blocked_until > now) {
        *retry_after = (unsigned)(s->blocked_until - now);
        rc = OSEC_EBUSY;
    }
    (void)pthread_mutex_unlock(&rl->mu);
    if (rc)
        OSEC_BAIL(rc, "too many failed authentications; retry in %u s", *retry_after);
    return 0;
}

void osec_ratelimit_fail(struct osec_ratelimit *rl, const char *key, int64_t now)
{
    struct slot *s;

    (void)pthread_mutex_lock(&rl->mu);
    s = find(rl, key, true, now);
    if (s) {
        if (now - s->window_start >= (int64_t)rl->cfg.window && s->blocked_until <= now) {
            s->window_start = now;
            s->failures = 0;
        }
        s->failures++;
        s->touched = now;
        if (s->failures >= rl->cfg.max_failures)
            s->blocked_until = now + rl->cfg.block;
    }
    (void)pthread_mutex_unlock(&rl->mu);
}

void osec_ratelimit_success(struct osec_ratelimit *rl, const char *key)
{
    struct slot *s;

    (void)pthread_mutex_lock(&rl->mu);
    s = find(rl, key, false, 0);
    if (s)
        memset(s, 0, sizeof(*s));
    (void)pthread_mutex_unlock(&rl->mu);
}
