/* SQLite backend: SIP registrations (schema step 5).
 *
 * cpm-sipd keeps its bindings in memory on an embedded store (one instance
 * in front of it); the table is here so that every backend offers the same
 * operations and runs the same tests.  Statements are prepared per call, as
 * in sqlite_nonce.c.
 */
#include "omasec/error.h"
#include "store/sqlite_int.h"

#define SIPREG_COLS "aor, contact, path, call_id, cseq, expires, user_name, instance, flow," \
                    " updated"

static int prep(struct sq *sq, const char *sql, sqlite3_stmt **s)
{
    int rc = sqlite3_prepare_v3(sq->db, sql, -1, 0, s, NULL);

    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, "preparing a SIP binding statement");
}

/* Runs sql with up to three text parameters (NULL: not bound); *changes rows. */
static int run(struct sq *sq, const char *sql, const char *a, const char *b, const char *c,
               int64_t *changes)
{
    const char *v[3] = { a, b, c };
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, sql, &s));
    for (int i = 0; i < 3; i++)
        if (v[i])
            OSEC_CHECK(rc, osec_sq_text(sq, s, i + 1, v[i]));
    rc = osec_sq_run(sq, s, "SIP binding", changes);
out:
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}

static int sipreg_put(struct osec_store *st, const struct osec_store_sipreg *b)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "INSERT OR REPLACE INTO sip_bindings (" SIPREG_COLS ")"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, b->aor));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, b->contact));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 3, b->path));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 4, b->call_id));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 5, b->cseq));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 6, b->expires));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 7, b->user));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 8, b->instance));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 9, b->flow));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 10, b->updated));
    rc = osec_sq_run(sq, s, "SIP binding", NULL);
out:
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}

static int sipreg_del(struct osec_store *st, const char *aor, const char *contact,
                      int64_t *changes)
{
    return run(sq_of(st), "DELETE FROM sip_bindings WHERE aor = ?1 AND contact = ?2", aor,
               contact, NULL, changes);
}

static int sipreg_del_aor(struct osec_store *st, const char *aor, int64_t *changes)
{
    return run(sq_of(st), "DELETE FROM sip_bindings WHERE aor = ?1", aor, NULL, NULL, changes);
}

static int sipreg_del_flow(struct osec_store *st, const char *instance, const char *flow,
                           bool all, int64_t *changes)
{
    if (all)
        return run(sq_of(st), "DELETE FROM sip_bindings WHERE instance = ?1", instance, NULL,
                   NULL, changes);
    return run(sq_of(st), "DELETE FROM sip_bindings WHERE instance = ?1 AND flow = ?2",
               instance, flow, NULL, changes);
}

struct sipreg_iter {
    osec_store_sipreg_cb cb;
    void *arg;
};

static int sipreg_row(sqlite3_stmt *s, void *ctx)
{
    struct sipreg_iter *it = ctx;
    struct osec_store_sipreg b = { .cseq = 0 };
    int64_t cseq = sqlite3_column_int64(s, 4);

    OSEC_GUARD(osec_sq_col_text(s, 0, b.aor, sizeof(b.aor)));
    OSEC_GUARD(osec_sq_col_text(s, 1, b.contact, sizeof(b.contact)));
    OSEC_GUARD(osec_sq_col_text(s, 2, b.path, sizeof(b.path)));
    OSEC_GUARD(osec_sq_col_text(s, 3, b.call_id, sizeof(b.call_id)));
    OSEC_ENSURE(cseq >= 0 && cseq <= UINT32_MAX, OSEC_ESTORE, "stored CSeq out of range");
    b.cseq = (uint32_t)cseq;
    b.expires = sqlite3_column_int64(s, 5);
    OSEC_GUARD(osec_sq_col_text(s, 6, b.user, sizeof(b.user)));
    OSEC_GUARD(osec_sq_col_text(s, 7, b.instance, sizeof(b.instance)));
    OSEC_GUARD(osec_sq_col_text(s, 8, b.flow, sizeof(b.flow)));
    b.updated = sqlite3_column_int64(s, 9);
    return it->cb(&b, it->arg);
}

static int sipreg_list(struct osec_store *st, const char *aor, int64_t now,
                       osec_store_sipreg_cb cb, void *arg)
{
    struct sipreg_iter it = { cb, arg };
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "SELECT " SIPREG_COLS " FROM sip_bindings WHERE aor = ?1"
                            " AND expires > ?2 ORDER BY updated DESC, expires DESC, contact",
                        &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, aor));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, now));
    rc = osec_sq_each(sq, s, "SIP binding list", sipreg_row, &it);
out:
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}

static int sipreg_purge(struct osec_store *st, int64_t now, int64_t *changes)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "DELETE FROM sip_bindings WHERE expires <= ?1", &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, now));
    rc = osec_sq_run(sq, s, "purging SIP bindings", changes);
out:
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}

const struct osec_store_sipreg_ops osec_sq_sipreg_ops = {
    .put = sipreg_put,
    .del = sipreg_del,
    .del_aor = sipreg_del_aor,
    .del_flow = sipreg_del_flow,
    .list = sipreg_list,
    .purge = sipreg_purge,
};
