/* PostgreSQL backend: connection, statement execution, reconnects,
 * transactions and error mapping.
 *
 * Several daemons on several hosts share one database; each handle is one
 * connection used by one thread at a time (as with SQLite).  Correctness
 * across instances rests on single statements (upserts, DELETE ...
 * RETURNING) under READ COMMITTED, so no serialization retries are needed:
 * see docs/store.md.
 */
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"

#ifdef OSEC_HAVE_LIBPQ

#include "store/pg_int.h"

/* Waiting longer than this for a row lock is a database failure (ESTORE),
 * like SQLite's busy timeout. */
#define PG_SESSION_SETUP "SET lock_timeout = '5s'"
#define PG_CONNECT_TIMEOUT "10"
/* After a failed reconnect, handles that find their connection lost fail
 * at once for this long rather than each trying again: a server that is
 * restarting, or in crash recovery (refusing connections for as long as
 * that lasts), would otherwise get a connection attempt per request. */
#define PG_RETRY_US 250000

/* Process-wide: the handles of a process use one database (a second one,
 * e.g. while copying stores, only delays its own reconnects as much). */
static _Atomic uint64_t retry_at;

/* ---- parameters --------------------------------------------------------- */

void osec_pg_text(struct pg_params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

void osec_pg_i64(struct pg_params *p, int64_t v)
{
    /* Cannot truncate: 21 characters at most. */
    (void)osec_snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
    osec_pg_text(p, p->num[p->n]);
}

void osec_pg_blob(struct pg_params *p, const uint8_t *d, size_t n)
{
    /* NULL would be SQL NULL: an empty blob is an empty bytea.  Lengths
     * were bounded by the generic layer, far below INT_MAX. */
    p->v[p->n] = n ? (const char *)d : "";
    p->len[p->n] = n > INT_MAX ? INT_MAX : (int)n;
    p->fmt[p->n] = 1;
    p->n++;
}

/* ---- errors ------------------------------------------------------------- */

/* The primary message, or the connection's, on one line. */
static void primary_message(const struct pg *pg, const PGresult *r, char *out, size_t n)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    size_t len;

    if (m == NULL)
        m = PQerrorMessage(pg->c);
    (void)osec_strlcpy(out, m ? m : "unknown error", n); /* may truncate */
    len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

static int map_state(const char *state, const char *what, const char *msg)
{
    if (strcmp(state, "23505") == 0)
        OSEC_BAIL(OSEC_EEXISTS, "%s already exists", what);
    if (strcmp(state, "23503") == 0)
        OSEC_BAIL(OSEC_ENOTFOUND, "%s refers to an unknown user or entity", what);
    if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 ||
        strncmp(state, "22", 2) == 0) /* data exception: e.g. text that is not UTF-8 */
        OSEC_BAIL(OSEC_EINVAL, "%s rejected by the schema: %s", what, msg);
    if (strcmp(state, "53100") == 0)
        OSEC_BAIL(OSEC_ESTORE, "%s: database disk is full: %s", what, msg);
    if (strcmp(state, "55P03") == 0)
        OSEC_BAIL(OSEC_ESTORE, "%s: a row stayed locked longer than the lock timeout", what);
    if (strcmp(state, "25006") == 0)
        OSEC_BAIL(OSEC_ESTORE, "%s: database is read-only (standby or "
                  "default_transaction_read_only): %s", what, msg);
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        OSEC_BAIL(OSEC_ESTORE, "%s: conflict with a concurrent transaction: %s", what, msg);
    if (strcmp(state, "53200") == 0)
        OSEC_BAIL(OSEC_ENOMEM, "%s: database out of memory", what);
    OSEC_BAIL(OSEC_ESTORE, "%s: postgresql %s: %s", what, state, msg);
}

static int pg_error(const struct pg *pg, const PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[256];

    primary_message(pg, r, msg, sizeof(msg));
    if (PQstatus(pg->c) == CONNECTION_BAD || state == NULL)
        OSEC_BAIL(OSEC_ESTORE, "%s: connection to postgresql lost: %s", what, msg);
    return map_state(state, what, msg);
}

/* ---- connection ----------------------------------------------------------- */

static void ignore_notice(void *arg, const char *message)
{
    /* NOTICEs ("relation already exists, skipping") are not errors; libpq
     * would print them on stderr. */
    (void)arg;
    (void)message;
}

/* Per-session settings, after every (re)connect. */
static int session_setup(struct pg *pg)
{
    PGresult *r;
    int rc = 0;

    memset(pg->prepared, 0, sizeof(pg->prepared));
    (void)PQsetNoticeProcessor(pg->c, ignore_notice, NULL); /* returns the old one */
    if (PQsetClientEncoding(pg->c, "UTF8") != 0)
        return pg_error(pg, NULL, "setting the client encoding");
    r = PQexec(pg->c, PG_SESSION_SETUP);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_error(pg, r, "configuring the session");
    PQclear(r);
    return rc;
}

static int reconnect(struct pg *pg)
{
    uint64_t now = osec_time_mono_us();
    char msg[256];

    OSEC_ENSURE(now >= atomic_load(&retry_at), OSEC_ESTORE,
                "postgresql unreachable: next connection attempt in at most %d ms",
                PG_RETRY_US / 1000);
    PQreset(pg->c);
    if (PQstatus(pg->c) != CONNECTION_OK) {
        atomic_store(&retry_at, osec_time_mono_us() + PG_RETRY_US);
        primary_message(pg, NULL, msg, sizeof(msg));
        OSEC_BAIL(OSEC_ESTORE, "cannot reconnect to postgresql: %s", msg);
    }
    osec_info("store.reconnected", "backend=postgresql");
    pg->tx_lost = false;
    return session_setup(pg);
}

static bool lost(const struct pg *pg)
{
    return PQstatus(pg->c) == CONNECTION_BAD;
}

/* An idle connection has nothing to read unless the server closed it (a
 * shutdown sends a FATAL message, then EOF; a crash just EOF) or sent a
 * notice.  Reading that before sending a statement sees a connection that
 * died while idle as lost while nothing has been sent on it yet: the
 * reconnect is then unambiguous, whatever the statement. */
static void probe_idle(struct pg *pg)
{
    struct pollfd p = { .fd = PQsocket(pg->c), .events = POLLIN };

    for (int i = 0; i < 8 && !lost(pg); i++) {
        if (p.fd < 0 || poll(&p, 1, 0) <= 0)
            return; /* EINTR too: the statement will find out */
        if (PQconsumeInput(pg->c) == 0)
            return; /* a read error marks the connection bad */
    }
}

/* Statements that may run again when the connection broke while the first
 * run was in flight (it may have been committed, its reply lost): reads,
 * and writes whose second run gives the same result.  Not the others: a
 * second INSERT reports "already exists", a second DELETE "not found" (for
 * the DELETE ... RETURNING of a onetime key the key itself would be lost),
 * a nonce use a replay, an audit record is doubled.  A statement added
 * later is not run twice until it is listed here. */
static bool replayable(enum pg_id id)
{
    switch (id) {
    case PG_USER_GET: case PG_USER_LIST: case PG_ADDR_OWNER: case PG_ADDR_LIST_USER:
    case PG_ADDR_LIST_ALL: case PG_ENT_EXISTS: case PG_ENT_GET: case PG_ENT_LIST_USER:
    case PG_ENT_LIST_ALL: case PG_OTK_GET: case PG_OTK_LIST_FOR: case PG_OTK_EXISTS:
    case PG_ACL_GET: case PG_ACL_LIST: case PG_POL_GET: case PG_POL_LIST: case PG_META_GET:
    case PG_AUDIT_LIST: case PG_SIPREG_LIST: case PG_MB_GET: case PG_MB_GET_ID: case PG_MB_LIST:
    case PG_MB_LIST_SHARED: case PG_MB_COUNT: case PG_MB_COUNT_UNSEEN: case PG_MSG_LIST:
    case PG_MSG_LIST_BODY: case PG_MSG_EXISTS: case PG_MMETA_GET: case PG_SUB_LIST:
        return true; /* reads */
    case PG_USER_SET_PW: case PG_USER_SET_FLAGS: case PG_USER_DEL_ACL: case PG_ENT_PUT:
    case PG_OTK_DEL_ENTITY: case PG_ACL_SET: case PG_POL_SET: case PG_META_SET:
    case PG_META_ADD: case PG_SIPREG_PUT: case PG_MMETA_SET: case PG_MMETA_DEL: case PG_SUB_ADD:
    case PG_SUB_DEL:
        return true; /* upserts, and writes whose row count is not used */
    default:
        return false;
    }
}

/* ---- statements ------------------------------------------------------------ */

static void stmt_name(enum pg_id id, char *out, size_t n)
{
    (void)osec_snprintf(out, n, "osec_%d", (int)id); /* cannot truncate */
}

static int prepare(struct pg *pg, enum pg_id id, const char *what)
{
    char name[16];
    PGresult *r;
    int rc = 0;

    if (pg->prepared[id])
        return 0;
    stmt_name(id, name, sizeof(name));
    r = PQprepare(pg->c, name, osec_pg_sql(id), 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_error(pg, r, what);
    else
        pg->prepared[id] = true;
    PQclear(r);
    return rc;
}

/* One attempt, without savepoints or retries. */
static int exec_once(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                     PGresult **res)
{
    static const struct pg_params none = { .n = 0 };
    char name[16];
    PGresult *r;
    ExecStatusType s;

    if (p == NULL)
        p = &none;
    OSEC_GUARD(prepare(pg, id, what));
    stmt_name(id, name, sizeof(name));
    r = PQexecPrepared(pg->c, name, p->n, p->v, p->len, p->fmt, 1);
    s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        int rc = pg_error(pg, r, what);

        PQclear(r);
        return rc;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return 0;
}

/* Inside a transaction every statement gets its own savepoint: PostgreSQL
 * aborts the whole transaction on any error, while the store's contract
 * (and SQLite) lets a transaction go on after one failed statement. */
static int exec_in_tx(struct pg *pg, enum pg_id id, const struct pg_params *p,
                      const char *what, PGresult **res)
{
    int rc;

    OSEC_ENSURE(!pg->tx_lost, OSEC_ESTORE,
                "%s: connection to postgresql lost inside a transaction", what);
    rc = exec_once(pg, PG_STMT_SP, NULL, what, NULL);
    if (rc == 0) {
        rc = exec_once(pg, id, p, what, res);
        if (rc == 0) {
            rc = exec_once(pg, PG_STMT_RELEASE, NULL, what, NULL);
            if (rc < 0 && res) {
                PQclear(*res);
                *res = NULL;
            }
        } else if (!lost(pg)) {
            /* Keep the statement's error, not a follow-up one. */
            (void)exec_once(pg, PG_STMT_ROLLBACK, NULL, what, NULL);
            (void)exec_once(pg, PG_STMT_RELEASE, NULL, what, NULL);
        }
    }
    if (rc < 0 && lost(pg))
        pg->tx_lost = true;
    return rc;
}

int osec_pg_exec(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                 PGresult **res)
{
    int rc;

    if (res)
        *res = NULL;
    OSEC_ENSURE(id >= 0 && id < PG_COUNT, OSEC_EINTERNAL, "no statement %d", (int)id);
    OSEC_ENSURE(!pg->busy[id], OSEC_EBUSY, "store call re-entered from a list callback");
    if (pg->base.depth > 0)
        return exec_in_tx(pg, id, p, what, res);
    probe_idle(pg);
    if (lost(pg))
        OSEC_GUARD(reconnect(pg));
    rc = exec_once(pg, id, p, what, res);
    /* Not in a transaction: nothing else was lost with the connection, so
     * reconnect and try once more (the server may have restarted), unless
     * running the statement twice could change its outcome. */
    if (rc < 0 && lost(pg)) {
        osec_warn("store.connection_lost", "backend=postgresql error=\"%s\"", osec_error_msg());
        OSEC_ENSURE(replayable(id), OSEC_ESTORE, "%s: connection to postgresql lost while the "
                    "statement ran: it may or may not have taken effect", what);
        OSEC_GUARD(reconnect(pg));
        rc = exec_once(pg, id, p, what, res);
    }
    return rc;
}

int osec_pg_run(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                int64_t *changes)
{
    PGresult *r = NULL;
    const char *n;
    int rc;

    OSEC_GUARD(osec_pg_exec(pg, id, p, what, &r));
    n = PQcmdTuples(r);
    rc = 0;
    if (changes) {
        *changes = 0;
        if (n && *n)
            rc = osec_parse_i64(n, 0, INT64_MAX, changes);
    }
    PQclear(r);
    return rc;
}

int osec_pg_one(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                PGresult **res)
{
    OSEC_GUARD(osec_pg_exec(pg, id, p, what, res));
    if (PQntuples(*res) < 1) {
        PQclear(*res);
        *res = NULL;
        OSEC_BAIL(OSEC_ENOTFOUND, "%s not found", what);
    }
    return 0;
}

int osec_pg_exists(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what)
{
    PGresult *r = NULL;
    int n;

    OSEC_GUARD(osec_pg_exec(pg, id, p, what, &r));
    n = PQntuples(r);
    PQclear(r);
    return n > 0 ? 1 : 0;
}

int osec_pg_each(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                 int (*row)(const PGresult *r, int i, void *ctx), void *ctx)
{
    PGresult *r = NULL;
    int rc = 0;

    OSEC_GUARD(osec_pg_exec(pg, id, p, what, &r));
    pg->busy[id] = true;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = row(r, i, ctx);
    pg->busy[id] = false;
    PQclear(r);
    return rc < 0 ? rc : 0;
}

/* ---- columns (binary results) ---------------------------------------------- */

int osec_pg_col_text(const PGresult *r, int row, int col, char *dst, size_t dstlen)
{
    const char *p = PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);

    /* The store wrote only bounded text, so a misfit means someone edited
     * the database by hand: refuse rather than truncate. */
    OSEC_ENSURE(PQgetisnull(r, row, col) == 0, OSEC_ESTORE, "unexpected NULL column");
    OSEC_ENSURE(memchr(p, '\0', (size_t)n) == NULL, OSEC_ESTORE, "NUL byte in a text column");
    return osec_slice_to_cstr(osec_slice_make(p, (size_t)n), dst, dstlen);
}

int osec_pg_col_blob(const PGresult *r, int row, int col, struct osec_store_blob *out)
{
    OSEC_ENSURE(PQgetisnull(r, row, col) == 0, OSEC_ESTORE, "unexpected NULL column");
    return osec_store_blob_dup(out, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

int osec_pg_col_i64(const PGresult *r, int row, int col, int64_t *out)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);
    uint64_t v = 0;

    OSEC_ENSURE(PQgetisnull(r, row, col) == 0, OSEC_ESTORE, "unexpected NULL column");
    OSEC_ENSURE(n == 8 || n == 4, OSEC_ESTORE, "integer column of %d bytes", n);
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    /* Two's complement: sign-extend a 4-byte int4. */
    if (n == 4)
        *out = (int64_t)(int32_t)(uint32_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

/* ---- transactions and checks -------------------------------------------------- */

/* COMMIT of a transaction that PostgreSQL had already aborted reports
 * "ROLLBACK" with success status: that must not look like a commit. */
static int commit(struct pg *pg, enum pg_id id)
{
    PGresult *r = NULL;
    bool rolled_back;

    OSEC_ENSURE(!pg->tx_lost, OSEC_ESTORE,
                "commit: connection to postgresql lost inside the transaction");
    OSEC_GUARD(exec_once(pg, id, NULL, "commit", &r));
    rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    OSEC_ENSURE(!rolled_back, OSEC_ESTORE,
                "commit: the database rolled the transaction back after an error");
    return 0;
}

/* Nothing is lost with a connection that broke before BEGIN: retry once. */
static int begin(struct pg *pg)
{
    int rc;

    probe_idle(pg);
    if (lost(pg))
        OSEC_GUARD(reconnect(pg));
    pg->tx_lost = false;
    rc = exec_once(pg, PG_BEGIN, NULL, "begin transaction", NULL);
    if (rc < 0 && lost(pg)) {
        OSEC_GUARD(reconnect(pg));
        rc = exec_once(pg, PG_BEGIN, NULL, "begin transaction", NULL);
    }
    return rc;
}

/* A savepoint command inside the open transaction. */
static int in_tx(struct pg *pg, enum pg_id id, const char *what)
{
    int rc;

    OSEC_ENSURE(!pg->tx_lost, OSEC_ESTORE,
                "%s: connection to postgresql lost inside the transaction", what);
    rc = exec_once(pg, id, NULL, what, NULL);
    if (rc < 0 && lost(pg))
        pg->tx_lost = true;
    return rc;
}

/* The transaction is gone with a lost connection: rolling back is done. */
static int rollback(struct pg *pg, enum pg_id id)
{
    if (pg->tx_lost || lost(pg)) {
        pg->tx_lost = false;
        return 0;
    }
    OSEC_GUARD(exec_once(pg, id, NULL, "rollback", NULL));
    if (id == PG_ROLLBACK_TO)
        return exec_once(pg, PG_RELEASE, NULL, "release savepoint", NULL);
    return 0;
}

static int pg_tx(struct osec_store *st, enum osec_tx_op op)
{
    struct pg *pg = pg_of(st);

    switch (op) {
    case OSEC_TX_BEGIN:
        return begin(pg);
    case OSEC_TX_SAVEPOINT:
        return in_tx(pg, PG_SAVEPOINT, "savepoint");
    case OSEC_TX_COMMIT:
        return commit(pg, PG_COMMIT);
    case OSEC_TX_RELEASE:
        return in_tx(pg, PG_RELEASE, "commit");
    case OSEC_TX_ROLLBACK:
        return rollback(pg, PG_ROLLBACK);
    case OSEC_TX_ROLLBACK_TO:
        if (pg->tx_lost)
            return 0; /* the outermost rollback ends it */
        return rollback(pg, PG_ROLLBACK_TO);
    }
    OSEC_BAIL(OSEC_EINTERNAL, "bad transaction op %d", (int)op);
}

static int pg_check(struct osec_store *st)
{
    struct pg *pg = pg_of(st);

    if (st->depth == 0) {
        probe_idle(pg);
        if (lost(pg))
            OSEC_GUARD(reconnect(pg));
    }
    return osec_pg_schema_check(pg);
}

/* ---- open / close ---------------------------------------------------------------- */

static void pg_close(struct osec_store *st)
{
    struct pg *pg = pg_of(st);

    if (pg->c) {
        /* Release row locks at once rather than when the server notices
         * the disconnect. */
        if (st->depth > 0 && !lost(pg)) {
            PGresult *r = PQexec(pg->c, "ROLLBACK");

            PQclear(r); /* a failure changes nothing: the server rolls back */
        }
        PQfinish(pg->c);
    }
    free(pg);
}

static int connect_db(struct pg *pg, const char *url)
{
    /* Our defaults first: a value in the URL overrides them. */
    /* Keepalives and a TCP user timeout: a database host that vanished
     * from the network (no RST) costs a worker 30-60 s, not the kernel's
     * retransmission timeout of many minutes (libpq has no query timeout). */
    const char *const keys[] = { "connect_timeout", "application_name", "keepalives",
                                 "keepalives_idle", "keepalives_interval", "keepalives_count",
                                 "tcp_user_timeout", "dbname", NULL };
    const char *const vals[] = { PG_CONNECT_TIMEOUT, "omasec", "1", "30", "10", "3", "30000",
                                 url, NULL };
    char msg[256];

    pg->c = PQconnectdbParams(keys, vals, 1);
    OSEC_ENSURE(pg->c != NULL, OSEC_ENOMEM, "out of memory");
    if (PQstatus(pg->c) != CONNECTION_OK) {
        primary_message(pg, NULL, msg, sizeof(msg));
        OSEC_BAIL(OSEC_ESTORE, "cannot connect to postgresql: %s", msg);
    }
    return session_setup(pg);
}

static const struct osec_store_ops pg_ops;

int osec_store_pg_open(const char *url, struct osec_store **out)
{
    struct pg *pg;
    int rc;

    OSEC_ENSURE(PQisthreadsafe() == 1, OSEC_ESTORE, "libpq built without thread safety");
    pg = calloc(1, sizeof(*pg));
    OSEC_ENSURE(pg != NULL, OSEC_ENOMEM, "out of memory");
    pg->base.ops = &pg_ops;
    OSEC_CHECK(rc, connect_db(pg, url));
    OSEC_CHECK(rc, osec_pg_migrate(pg));
    *out = &pg->base;
out:
    if (rc < 0)
        pg_close(&pg->base);
    return rc;
}

static const struct osec_store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .tx = pg_tx,
    .check = pg_check,
    .user_add = osec_pg_user_add,
    .user_get = osec_pg_user_get,
    .user_set_password = osec_pg_user_set_password,
    .user_set_flags = osec_pg_user_set_flags,
    .user_del = osec_pg_user_del,
    .user_list = osec_pg_user_list,
    .address_add = osec_pg_address_add,
    .address_del = osec_pg_address_del,
    .address_owner = osec_pg_address_owner,
    .address_list = osec_pg_address_list,
    .entity_put = osec_pg_entity_put,
    .entity_get = osec_pg_entity_get,
    .entity_list = osec_pg_entity_list,
    .entity_revoke = osec_pg_entity_revoke,
    .entity_delete = osec_pg_entity_delete,
    .otk_add = osec_pg_otk_add,
    .otk_get = osec_pg_otk_get,
    .otk_list_for = osec_pg_otk_list_for,
    .otk_take = osec_pg_otk_take,
    .otk_purge = osec_pg_otk_purge,
    .acl_set = osec_pg_acl_set,
    .acl_get = osec_pg_acl_get,
    .acl_delete = osec_pg_acl_delete,
    .acl_delete_mailbox = osec_pg_acl_delete_mailbox,
    .acl_list = osec_pg_acl_list,
    .policy_set = osec_pg_policy_set,
    .policy_get = osec_pg_policy_get,
    .policy_del = osec_pg_policy_del,
    .policy_list = osec_pg_policy_list,
    .meta_get = osec_pg_meta_get,
    .meta_set = osec_pg_meta_set,
    .meta_add = osec_pg_meta_add,
    .audit_add = osec_pg_audit_add,
    .audit_list = osec_pg_audit_list,
    .nonce_mark = osec_pg_nonce_mark,
    .nonce_purge = osec_pg_nonce_purge,
    .shared = true,
    .mail = &osec_pg_mail_ops,
    .sipreg = &osec_pg_sipreg_ops,
};

#else /* !OSEC_HAVE_LIBPQ */

#include "store/store_int.h"

int osec_store_pg_open(const char *url, struct osec_store **out)
{
    (void)url;
    (void)out;
    OSEC_BAIL(OSEC_EINVAL, "postgresql backend not built (libpq missing at build time)");
}

#endif
