/* Generic store layer: SIP registrations (store.h "SIP registrations").
 * Validated here like every other call (store.c), then handed to the
 * backend's sipreg operations. */
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"
#include "store/store_int.h"

static int backend(const struct osec_store *st)
{
    OSEC_ENSURE(st != NULL && st->ops != NULL && st->ops->sipreg != NULL, OSEC_EINVAL,
                "no store handle with SIP registrations");
    return 0;
}

static int check_aor(const char *aor)
{
    return osec_store_check_text(aor, OSEC_STORE_SIPREG_URI_MAX, false, "AOR");
}

static int check_binding(const struct osec_store_sipreg *b)
{
    OSEC_ENSURE(b != NULL, OSEC_EINVAL, "binding missing");
    OSEC_GUARD(check_aor(b->aor));
    OSEC_GUARD(osec_store_check_text(b->contact, OSEC_STORE_SIPREG_URI_MAX, false, "contact"));
    OSEC_GUARD(osec_store_check_text(b->path, OSEC_STORE_SIPREG_URI_MAX, true, "path"));
    OSEC_GUARD(osec_store_check_text(b->call_id, OSEC_STORE_SIPREG_CALLID_MAX, false,
                                     "Call-ID"));
    OSEC_GUARD(osec_store_check_text(b->user, OSEC_STORE_NAME_MAX, false, "user"));
    OSEC_GUARD(osec_store_check_text(b->instance, OSEC_STORE_NAME_MAX, false, "instance"));
    OSEC_GUARD(osec_store_check_text(b->flow, OSEC_STORE_SIPREG_FLOW_MAX, true, "flow"));
    OSEC_ENSURE(b->expires > 0, OSEC_EINVAL, "binding without expiry");
    OSEC_ENSURE(b->updated >= 0, OSEC_EINVAL, "update time is negative");
    return 0;
}

int osec_store_sipreg_put(struct osec_store *st, const struct osec_store_sipreg *b)
{
    struct osec_store_sipreg v;

    OSEC_GUARD(osec_store_check_writable(st));
    OSEC_GUARD(backend(st));
    OSEC_GUARD(check_binding(b));
    v = *b;
    if (v.updated == 0)
        v.updated = osec_time_now();
    return st->ops->sipreg->put(st, &v);
}

int osec_store_sipreg_del(struct osec_store *st, const char *aor, const char *contact)
{
    int64_t n = 0;

    OSEC_GUARD(osec_store_check_writable(st));
    OSEC_GUARD(backend(st));
    OSEC_GUARD(check_aor(aor));
    OSEC_GUARD(osec_store_check_text(contact, OSEC_STORE_SIPREG_URI_MAX, false, "contact"));
    OSEC_GUARD(st->ops->sipreg->del(st, aor, contact, &n));
    OSEC_ENSURE(n > 0, OSEC_ENOTFOUND, "binding not found");
    return 0;
}

static void set_count(uint64_t *count, int64_t n)
{
    if (count)
        *count = n > 0 ? (uint64_t)n : 0;
}

int osec_store_sipreg_del_aor(struct osec_store *st, const char *aor, uint64_t *count)
{
    int64_t n = 0;

    set_count(count, 0);
    OSEC_GUARD(osec_store_check_writable(st));
    OSEC_GUARD(backend(st));
    OSEC_GUARD(check_aor(aor));
    OSEC_GUARD(st->ops->sipreg->del_aor(st, aor, &n));
    set_count(count, n);
    return 0;
}

int osec_store_sipreg_del_flow(struct osec_store *st, const char *instance, const char *flow,
                               bool all, uint64_t *count)
{
    int64_t n = 0;

    set_count(count, 0);
    OSEC_GUARD(osec_store_check_writable(st));
    OSEC_GUARD(backend(st));
    OSEC_GUARD(osec_store_check_text(instance, OSEC_STORE_NAME_MAX, false, "instance"));
    if (!all)
        OSEC_GUARD(osec_store_check_text(flow, OSEC_STORE_SIPREG_FLOW_MAX, false, "flow"));
    OSEC_GUARD(st->ops->sipreg->del_flow(st, instance, all ? "" : flow, all, &n));
    set_count(count, n);
    return 0;
}

int osec_store_sipreg_list(struct osec_store *st, const char *aor, int64_t now,
                           osec_store_sipreg_cb cb, void *arg)
{
    OSEC_GUARD(osec_store_check_cb(st, cb != NULL));
    OSEC_GUARD(backend(st));
    OSEC_GUARD(check_aor(aor));
    OSEC_ENSURE(now >= 0, OSEC_EINVAL, "current time is negative");
    OSEC_STORE_LISTING(st, st->ops->sipreg->list(st, aor, now, cb, arg));
}

int osec_store_sipreg_purge(struct osec_store *st, int64_t now, uint64_t *count)
{
    int64_t n = 0;

    set_count(count, 0);
    OSEC_GUARD(osec_store_check_writable(st));
    OSEC_GUARD(backend(st));
    OSEC_ENSURE(now >= 0, OSEC_EINVAL, "current time is negative");
    OSEC_GUARD(st->ops->sipreg->purge(st, now, &n));
    set_count(count, n);
    return 0;
}

int osec_store_sipreg_lock(struct osec_store *st, const char *aor)
{
    OSEC_GUARD(osec_store_check_writable(st));
    OSEC_GUARD(backend(st));
    OSEC_GUARD(check_aor(aor));
    OSEC_ENSURE(st->depth > 0, OSEC_EINVAL, "lock an AOR inside a transaction");
    return st->ops->sipreg->lock ? st->ops->sipreg->lock(st, aor) : 0;
}
