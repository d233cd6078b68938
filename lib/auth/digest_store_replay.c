/* Digest nonce-count replay state in the store, shared by instances.
 *
 * Nonces are stateless (an HMAC under a secret every instance reads from the
 * store), so a nonce issued by one instance verifies on all of them; the
 * in-memory replay cache of one instance cannot see what the others
 * accepted, and a request captured on its way to instance A could be played
 * once more to instance B.  Here each (nonce, nc) is marked in the store
 * with one insert-unless-present statement (osec_store_nonce_mark): it passes
 * once across every instance.
 *
 * Store handles belong to one thread at a time, and the Digest server calls
 * the replay function from every worker thread: each thread gets a handle of
 * its own, opened lazily and closed by a thread-specific-data destructor when
 * the thread ends (or by _free for threads still running).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/crypto.h"
#include "omasec/digest.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/store.h"
#include "omasec/util.h"

/* Expired marks are dropped this often (by whichever thread comes first). */
#define PURGE_INTERVAL 60

struct handle {
    struct osec_store *st;
    struct handle *prev, *next;
    struct osec_digest_replay_store *owner;
};

struct osec_digest_replay_store {
    char url[OSEC_STORE_PATH_MAX + 32];
    pthread_key_t key;
    pthread_mutex_t mu;
    struct handle *handles;
    _Atomic int64_t next_purge;
};

static void unlink_handle(struct osec_digest_replay_store *r, struct handle *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        r->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

/* Thread exit: close the thread's handle. */
static void thread_done(void *p)
{
    struct handle *h = p;

    if (pthread_mutex_lock(&h->owner->mu) != 0)
        return; /* cannot happen with a default mutex; leak rather than race */
    unlink_handle(h->owner, h);
    (void)pthread_mutex_unlock(&h->owner->mu); /* we hold it */
    osec_store_close(&h->st);
    free(h);
}

int osec_digest_replay_store_new(const char *store_url, struct osec_digest_replay_store **out)
{
    struct osec_digest_replay_store *r;
    int rc;

    OSEC_ENSURE(store_url != NULL && out != NULL, OSEC_EINVAL, "missing argument");
    *out = NULL;
    r = calloc(1, sizeof(*r));
    OSEC_ENSURE(r != NULL, OSEC_ENOMEM, "out of memory");
    rc = osec_strlcpy(r->url, store_url, sizeof(r->url));
    if (rc < 0) {
        free(r);
        return rc;
    }
    if (pthread_key_create(&r->key, thread_done) != 0) {
        free(r);
        OSEC_BAIL(OSEC_ENOMEM, "no thread-specific key left");
    }
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        (void)pthread_key_delete(r->key); /* only fails for an invalid key */
        free(r);
        OSEC_BAIL(OSEC_ENOMEM, "cannot create a mutex");
    }
    atomic_store(&r->next_purge, osec_time_now() + PURGE_INTERVAL);
    *out = r;
    return 0;
}

void osec_digest_replay_store_free(struct osec_digest_replay_store **pr)
{
    struct osec_digest_replay_store *r;

    if (pr == NULL || *pr == NULL)
        return;
    r = *pr;
    /* No destructor runs after this; close what the threads left open. */
    (void)pthread_key_delete(r->key); /* only fails for an invalid key */
    while (r->handles) {
        struct handle *h = r->handles;

        unlink_handle(r, h);
        osec_store_close(&h->st);
        free(h);
    }
    (void)pthread_mutex_destroy(&r->mu); /* nobody holds it any more */
    osec_wipe(r->url, sizeof(r->url));   /* may hold a database password */
    free(r);
    *pr = NULL;
}

/* This thread's handle, opened on first use. */
static int thread_store(struct osec_digest_replay_store *r, struct osec_store **out)
{
    struct handle *h = pthread_getspecific(r->key);
    int rc;

    if (h) {
        *out = h->st;
        return 0;
    }
    h = calloc(1, sizeof(*h));
    OSEC_ENSURE(h != NULL, OSEC_ENOMEM, "out of memory");
    h->owner = r;
    rc = osec_store_open(r->url, &h->st);
    if (rc == 0 && pthread_setspecific(r->key, h) != 0)
        rc = osec_error_set(OSEC_ENOMEM, __FILE__, __LINE__, "cannot set thread data");
    if (rc < 0) {
        osec_store_close(&h->st);
        free(h);
        return rc;
    }
    OSEC_ENSURE(pthread_mutex_lock(&r->mu) == 0, OSEC_EINTERNAL, "mutex lock");
    h->next = r->handles;
    if (h->next)
        h->next->prev = h;
    r->handles = h;
    OSEC_ENSURE(pthread_mutex_unlock(&r->mu) == 0, OSEC_EINTERNAL, "mutex unlock");
    *out = h->st;
    return 0;
}

/* Now and then drop marks of expired nonces (they fail as stale first). */
static void maybe_purge(struct osec_digest_replay_store *r, struct osec_store *st)
{
    int64_t now = osec_time_now();
    int64_t due = atomic_load(&r->next_purge);
    uint64_t n = 0;

    if (now < due || !atomic_compare_exchange_strong(&r->next_purge, &due,
                                                     now + PURGE_INTERVAL))
        return;
    if (osec_store_nonce_purge(st, now, &n) < 0)
        osec_warn("digest.replay_purge_failed", "error=\"%s\"", osec_error_msg());
    else if (n)
        osec_debug("digest.replay_purged", "count=%llu", (unsigned long long)n);
}

int osec_digest_replay_store_check(void *arg, struct osec_slice nonce, uint32_t nc,
                                   int64_t expires)
{
    struct osec_digest_replay_store *r = arg;
    struct osec_store *st = NULL;

    OSEC_ENSURE(r != NULL, OSEC_EINVAL, "no replay store");
    OSEC_GUARD(thread_store(r, &st));
    maybe_purge(r, st);
    return osec_store_nonce_mark(st, nonce.ptr, nonce.len, nc, expires);
}
