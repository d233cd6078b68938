/* cpns-gw: PN session credentials ("pn-<entity>") held in memory.
 *
 * Without it every PN session re-establishment read, unsealed and parsed
 * the credential's record file twice (once in the PSK callback, once after
 * the handshake) and derived its PSK with HKDF: about 12% of the GW's CPU
 * per handshake (bench/pn/RESULTS.md).
 *
 * Revocation keeps its exact meaning: an entry is trusted only while the
 * record file it was read from is still the same file, checked with one
 * stat() per use against (device, inode, size, mtime, ctime).  devstate
 * writes records as temp file + rename and deletes them with unlink
 * (include/omasec/devstate.h), so a record that is deleted (an operator
 * revoking a PNE, expiry), replaced (a new join) or rewritten no longer
 * matches and is read again from the file, as if there were no cache.
 * Onetime keys are never cached: they are single use and must be consumed
 * from the file.
 *
 * Entries hold derived PSKs: they are wiped when replaced and when the
 * cache is freed.  The table is fixed-size (set-associative, replacing the
 * way hashed first), so memory is bounded whatever identities clients try;
 * only identities whose record was found and opened get in. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gw.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/util.h"

#define SETS 2048u   /* power of two */
#define WAYS 4u

struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct entry {
    char id[OSEC_STORE_NAME_MAX + 1];     /* "" = free */
    char peer[OSEC_STORE_NAME_MAX + 1];
    uint8_t psk[OSEC_KEY_LEN];
    int64_t expires;
    struct file_id file;
};

struct gw_pskcache {
    pthread_mutex_t mu;
    struct entry *e;  /* SETS * WAYS, calloc'd: pages are touched as sets fill */
};

int gw_pskcache_new(struct gw_pskcache **out)
{
    struct gw_pskcache *c = calloc(1, sizeof(*c));

    *out = NULL;
    OSEC_ENSURE(c != NULL, OSEC_ENOMEM, "out of memory");
    c->e = calloc((size_t)SETS * WAYS, sizeof(*c->e));
    if (!c->e || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->e);
        free(c);
        OSEC_BAIL(OSEC_ENOMEM, "out of memory");
    }
    *out = c;
    return 0;
}

void gw_pskcache_free(struct gw_pskcache **pc)
{
    struct gw_pskcache *c = *pc;

    if (!c)
        return;
    osec_wipe(c->e, (size_t)SETS * WAYS * sizeof(*c->e));
    free(c->e);
    (void)pthread_mutex_destroy(&c->mu);
    free(c);
    *pc = NULL;
}

static struct entry *set_of(struct gw_pskcache *c, const char *id)
{
    uint64_t h = 1469598103934665603ull;

    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return &c->e[(size_t)(h & (SETS - 1)) * WAYS];
}

/* The record file's identity; false when it is gone (or unreadable). */
static bool file_id_of(struct gw *gw, const char *id, struct file_id *f)
{
    char path[4400];
    struct stat st;

    if (osec_snprintf(path, sizeof(path), "%s/%s.sealed", osec_devstate_dir(gw->ds), id) < 0 ||
        lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    memset(f, 0, sizeof(*f));
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    f->ctime = st.st_ctim;
    return true;
}

static bool same_file(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* A copy of the entry for id, if any (the lock is not held while the file
 * is checked). */
static bool find(struct gw_pskcache *c, const char *id, struct entry *out)
{
    struct entry *set;
    bool hit = false;

    (void)pthread_mutex_lock(&c->mu);
    set = set_of(c, id);
    for (unsigned i = 0; i < WAYS && !hit; i++) {
        if (set[i].id[0] && strcmp(set[i].id, id) == 0) {
            *out = set[i];
            hit = true;
        }
    }
    (void)pthread_mutex_unlock(&c->mu);
    return hit;
}

static void put(struct gw_pskcache *c, const struct entry *e)
{
    struct entry *set, *slot = NULL;

    (void)pthread_mutex_lock(&c->mu);
    set = set_of(c, e->id);
    for (unsigned i = 0; i < WAYS && !slot; i++)
        if (!set[i].id[0] || strcmp(set[i].id, e->id) == 0)
            slot = &set[i];
    if (!slot) { /* full: the oldest way goes, the others move down */
        osec_wipe(&set[WAYS - 1], sizeof(set[WAYS - 1]));
        memmove(&set[1], &set[0], (WAYS - 1) * sizeof(*set));
        slot = &set[0];
    }
    *slot = *e;
    (void)pthread_mutex_unlock(&c->mu);
}

/* Read the record (the file checked before and after, so that an entry
 * never pairs a key with another file's identity) and keep it. */
static int load(struct gw *gw, const char *id, struct entry *e)
{
    struct file_id after;
    struct osec_pn_key k;
    int rc;

    memset(e, 0, sizeof(*e));
    if (!file_id_of(gw, id, &e->file))
        memset(&e->file, 0, sizeof(e->file));
    rc = osec_pn_key_load(gw->ds, id, &k);
    if (rc == 0)
        rc = osec_pn_key_psk(&k, e->psk);
    if (rc == 0) {
        (void)osec_strlcpy(e->id, id, sizeof(e->id));
        (void)osec_strlcpy(e->peer, k.peer, sizeof(e->peer));
        e->expires = k.expires;
        if (gw->pskc && e->file.ino && file_id_of(gw, id, &after) &&
            same_file(&e->file, &after))
            put(gw->pskc, e);
    }
    osec_wipe(&k, sizeof(k));
    return rc;
}

int gw_session_cred(struct gw *gw, const char *id, bool checked, uint8_t psk[OSEC_KEY_LEN],
                    char *peer, size_t peer_len)
{
    struct file_id now;
    struct entry e;
    int rc = 0;

    if (!gw->pskc || !find(gw->pskc, id, &e) || e.expires <= osec_time_now() ||
        (!checked && (!file_id_of(gw, id, &now) || !same_file(&e.file, &now))))
        rc = load(gw, id, &e); /* expired: the load deletes it and fails */
    if (rc == 0 && psk)
        memcpy(psk, e.psk, OSEC_KEY_LEN);
    if (rc == 0 && peer)
        rc = osec_strlcpy(peer, e.peer, peer_len);
    osec_wipe(&e, sizeof(e));
    return rc;
}
