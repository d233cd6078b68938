/* PostgreSQL backend: SIP registrations (as sqlite_sipreg.c).  This is the
 * table several cpm-sipd instances share (docs/cpm-sip.md). */
#include <string.h>

#include "omasec/error.h"

#ifdef OSEC_HAVE_LIBPQ

#include "store/pg_int.h"

static int sipreg_put(struct osec_store *st, const struct osec_store_sipreg *b)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, b->aor);
    osec_pg_text(&p, b->contact);
    osec_pg_text(&p, b->path);
    osec_pg_text(&p, b->call_id);
    osec_pg_i64(&p, b->cseq);
    osec_pg_i64(&p, b->expires);
    osec_pg_text(&p, b->user);
    osec_pg_text(&p, b->instance);
    osec_pg_text(&p, b->flow);
    osec_pg_i64(&p, b->updated);
    return osec_pg_run(pg_of(st), PG_SIPREG_PUT, &p, "SIP binding", NULL);
}

/* A statement with text parameters a (and b unless NULL). */
static int run2(struct osec_store *st, enum pg_id id, const char *a, const char *b,
                int64_t *changes)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, a);
    if (b)
        osec_pg_text(&p, b);
    return osec_pg_run(pg_of(st), id, &p, "SIP binding", changes);
}

static int sipreg_del(struct osec_store *st, const char *aor, const char *contact,
                      int64_t *changes)
{
    return run2(st, PG_SIPREG_DEL, aor, contact, changes);
}

static int sipreg_del_aor(struct osec_store *st, const char *aor, int64_t *changes)
{
    return run2(st, PG_SIPREG_DEL_AOR, aor, NULL, changes);
}

static int sipreg_del_flow(struct osec_store *st, const char *instance, const char *flow,
                           bool all, int64_t *changes)
{
    if (all)
        return run2(st, PG_SIPREG_DEL_INST, instance, NULL, changes);
    return run2(st, PG_SIPREG_DEL_FLOW, instance, flow, changes);
}

struct sipreg_iter {
    osec_store_sipreg_cb cb;
    void *arg;
};

static int sipreg_row(const PGresult *r, int i, void *ctx)
{
    struct sipreg_iter *it = ctx;
    struct osec_store_sipreg b;
    int64_t cseq = 0;

    memset(&b, 0, sizeof(b));
    OSEC_GUARD(osec_pg_col_text(r, i, 0, b.aor, sizeof(b.aor)));
    OSEC_GUARD(osec_pg_col_text(r, i, 1, b.contact, sizeof(b.contact)));
    OSEC_GUARD(osec_pg_col_text(r, i, 2, b.path, sizeof(b.path)));
    OSEC_GUARD(osec_pg_col_text(r, i, 3, b.call_id, sizeof(b.call_id)));
    OSEC_GUARD(osec_pg_col_i64(r, i, 4, &cseq));
    OSEC_ENSURE(cseq >= 0 && cseq <= UINT32_MAX, OSEC_ESTORE, "stored CSeq out of range");
    b.cseq = (uint32_t)cseq;
    OSEC_GUARD(osec_pg_col_i64(r, i, 5, &b.expires));
    OSEC_GUARD(osec_pg_col_text(r, i, 6, b.user, sizeof(b.user)));
    OSEC_GUARD(osec_pg_col_text(r, i, 7, b.instance, sizeof(b.instance)));
    OSEC_GUARD(osec_pg_col_text(r, i, 8, b.flow, sizeof(b.flow)));
    OSEC_GUARD(osec_pg_col_i64(r, i, 9, &b.updated));
    return it->cb(&b, it->arg);
}

static int sipreg_list(struct osec_store *st, const char *aor, int64_t now,
                       osec_store_sipreg_cb cb, void *arg)
{
    struct sipreg_iter it = { cb, arg };
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, aor);
    osec_pg_i64(&p, now);
    return osec_pg_each(pg_of(st), PG_SIPREG_LIST, &p, "listing SIP bindings", sipreg_row,
                        &it);
}

static int sipreg_purge(struct osec_store *st, int64_t now, int64_t *changes)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, now);
    return osec_pg_run(pg_of(st), PG_SIPREG_PURGE, &p, "purging SIP bindings", changes);
}

static int sipreg_lock(struct osec_store *st, const char *aor)
{
    return run2(st, PG_SIPREG_LOCK, aor, NULL, NULL);
}

const struct osec_store_sipreg_ops osec_pg_sipreg_ops = {
    .put = sipreg_put,
    .del = sipreg_del,
    .del_aor = sipreg_del_aor,
    .del_flow = sipreg_del_flow,
    .list = sipreg_list,
    .purge = sipreg_purge,
    .lock = sipreg_lock,
};

#endif
