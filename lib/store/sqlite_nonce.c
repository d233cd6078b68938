/* SQLite backend: Digest nonce-count replay state (schema step 4).
 *
 * One embedded store has one daemon instance in front of it as a rule, which
 * keeps its replay state in memory; this table exists so that every backend
 * offers the same operations (and runs the same tests).  The statements are
 * prepared per call, as in sqlite_mail.c, outside the shared catalogue.
 */
#include "omasec/error.h"
#include "store/sqlite_int.h"

/* Inserted unless (nonce, nc) is there, or a single use (nc 0) of the
 * nonce, or -- for nc 0 -- any use of it.  One write statement: atomic. */
#define SQL_MARK                                                                  \
    "INSERT INTO nonce_uses (nonce, nc, expires) SELECT ?1, ?2, ?3"                \
    " WHERE NOT EXISTS (SELECT 1 FROM nonce_uses WHERE nonce = ?1"                 \
    " AND (nc = 0 OR ?2 = 0)) ON CONFLICT (nonce, nc) DO NOTHING"
#define SQL_PURGE "DELETE FROM nonce_uses WHERE expires <= ?1"

static int prep(struct sq *sq, const char *sql, sqlite3_stmt **s)
{
    int rc = sqlite3_prepare_v3(sq->db, sql, -1, 0, s, NULL);

    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, "preparing a nonce statement");
}

int osec_sq_nonce_mark(struct osec_store *st, const uint8_t *nonce, size_t len, uint32_t nc,
                       int64_t expires)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    OSEC_CHECK(rc, prep(sq, SQL_MARK, &s));
    OSEC_CHECK(rc, osec_sq_blob(sq, s, 1, nonce, len));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, nc));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 3, expires));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "nonce use", &n));
    if (n == 0)
        OSEC_FAIL(rc, OSEC_EREPLAY, "nonce-count already used");
out:
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}

int osec_sq_nonce_purge(struct osec_store *st, int64_t now, uint64_t *count)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    OSEC_CHECK(rc, prep(sq, SQL_PURGE, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, now));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "purging nonce uses", &n));
    if (count)
        *count = (uint64_t)n;
out:
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}
