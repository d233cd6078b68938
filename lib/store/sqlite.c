/* SQLite backend: connection setup, transactions, checks and error mapping.
 *
 * One connection per handle, opened NOMUTEX: a handle belongs to one thread
 * at a time (daemons open one per worker), so SQLite's per-connection mutex
 * would only cost time.  WAL lets readers run beside the single writer;
 * synchronous=FULL makes every acknowledged commit survive power loss, not
 * just a process crash (see docs/store.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omasec/error.h"
#include "omasec/log.h"
#include "store/sqlite_int.h"

#define BUSY_TIMEOUT_MS 5000
#define RETRY_MS 10

/* ---- errors ----------------------------------------------------------- */

static int constraint_error(struct sq *sq, int rc, const char *what, const char *file,
                            int line)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return osec_error_set(OSEC_EEXISTS, file, line, "%s already exists", what);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return osec_error_set(OSEC_ENOTFOUND, file, line,
                              "%s refers to an unknown user or entity", what);
    default:
        return osec_error_set(OSEC_EINVAL, file, line, "%s rejected by the schema: %s", what,
                              sqlite3_errmsg(sq->db));
    }
}

int osec_sq_error(struct sq *sq, int rc, const char *what, const char *file, int line)
{
    const char *msg = sqlite3_errmsg(sq->db);

    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return constraint_error(sq, rc, what, file, line);
    case SQLITE_NOMEM:
        return osec_error_set(OSEC_ENOMEM, file, line, "%s: out of memory", what);
    case SQLITE_FULL:
        return osec_error_set(OSEC_ESTORE, file, line, "%s: database or disk is full", what);
    case SQLITE_IOERR:
        return osec_error_set(OSEC_ESTORE, file, line, "%s: disk I/O error (%s)", what, msg);
    case SQLITE_READONLY:
        return osec_error_set(OSEC_ESTORE, file, line,
                              "%s: database is read-only (check file and directory "
                              "permissions): %s", what, msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return osec_error_set(OSEC_ESTORE, file, line,
                              "%s: database stayed locked for %d ms", what, BUSY_TIMEOUT_MS);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return osec_error_set(OSEC_ESTORE, file, line,
                              "%s: database file is corrupt or not a database", what);
    default:
        return osec_error_set(OSEC_ESTORE, file, line, "%s: sqlite: %s", what, msg);
    }
}

/* ---- statements -------------------------------------------------------- */

int osec_sq_stmt(struct sq *sq, enum sq_id id, sqlite3_stmt **out)
{
    OSEC_ENSURE(id >= 0 && id < SQ_COUNT && sq->stmt[id], OSEC_EINTERNAL,
                "no statement %d", (int)id);
    /* Only a list call still stepping through rows leaves one busy. */
    OSEC_ENSURE(!sqlite3_stmt_busy(sq->stmt[id]), OSEC_EBUSY,
                "store call re-entered from a list callback");
    *out = sq->stmt[id];
    return 0;
}

void osec_sq_done(sqlite3_stmt *s)
{
    if (s == NULL)
        return;
    /* Both only repeat an error the caller already mapped from step. */
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

int osec_sq_text(struct sq *sq, sqlite3_stmt *s, int idx, const char *v)
{
    /* SQLITE_STATIC: every statement is reset before the call returns. */
    int rc = sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);

    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, "binding a value");
}

int osec_sq_blob(struct sq *sq, sqlite3_stmt *s, int idx, const uint8_t *p, size_t n)
{
    int rc;

    /* A NULL pointer would bind SQL NULL; an empty blob is a zero blob. */
    if (n == 0)
        rc = sqlite3_bind_zeroblob(s, idx, 0);
    else
        rc = sqlite3_bind_blob64(s, idx, p, n, SQLITE_STATIC);
    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, "binding a value");
}

int osec_sq_i64(struct sq *sq, sqlite3_stmt *s, int idx, int64_t v)
{
    int rc = sqlite3_bind_int64(s, idx, v);

    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, "binding a value");
}

int osec_sq_step(struct sq *sq, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return SQ_ERR(sq, rc, what);
}

int osec_sq_run(struct sq *sq, sqlite3_stmt *s, const char *what, int64_t *changes)
{
    int rc = osec_sq_step(sq, s, what);

    if (rc < 0)
        return rc;
    OSEC_ENSURE(rc == 0, OSEC_EINTERNAL, "%s: statement returned rows", what);
    if (changes)
        *changes = sqlite3_changes64(sq->db);
    return 0;
}

int osec_sq_one(struct sq *sq, sqlite3_stmt *s, const char *what)
{
    int rc = osec_sq_step(sq, s, what);

    if (rc < 0)
        return rc;
    OSEC_ENSURE(rc == 1, OSEC_ENOTFOUND, "%s not found", what);
    return 0;
}

int osec_sq_each(struct sq *sq, sqlite3_stmt *s, const char *what,
                 int (*row)(sqlite3_stmt *s, void *ctx), void *ctx)
{
    int rc;

    while ((rc = osec_sq_step(sq, s, what)) == 1) {
        rc = row(s, ctx);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    return rc;
}

int osec_sq_col_text(sqlite3_stmt *s, int col, char *dst, size_t dstlen)
{
    const unsigned char *p = sqlite3_column_text(s, col);
    int n = sqlite3_column_bytes(s, col);

    if (p == NULL) {
        OSEC_ENSURE(sqlite3_column_type(s, col) == SQLITE_NULL, OSEC_ENOMEM,
                    "out of memory reading a column");
        n = 0;
    }
    /* The store wrote only bounded text, so a misfit means someone edited
     * the database by hand: refuse rather than truncate. */
    return osec_slice_to_cstr(osec_slice_make(p, (size_t)n), dst, dstlen);
}

int osec_sq_col_blob(sqlite3_stmt *s, int col, struct osec_store_blob *out)
{
    const void *p = sqlite3_column_blob(s, col);
    int n = sqlite3_column_bytes(s, col);

    OSEC_ENSURE(p != NULL || n == 0, OSEC_ENOMEM, "out of memory reading a column");
    return osec_store_blob_dup(out, p, (size_t)n);
}

/* ---- transactions and checks ------------------------------------------ */

static int run_id(struct sq *sq, enum sq_id id, const char *what)
{
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, id, &s));
    rc = osec_sq_run(sq, s, what, NULL);
    osec_sq_done(s);
    return rc;
}

static int sq_tx(struct osec_store *st, enum osec_tx_op op)
{
    struct sq *sq = sq_of(st);
    /* SQLite ends the whole transaction itself after some errors (disk
     * full, I/O): committing then must fail, rolling back is a no-op. */
    bool open = !sqlite3_get_autocommit(sq->db);

    switch (op) {
    case OSEC_TX_BEGIN:
        return run_id(sq, SQ_BEGIN, "begin transaction");
    case OSEC_TX_SAVEPOINT:
        return run_id(sq, SQ_SAVEPOINT, "savepoint");
    case OSEC_TX_COMMIT:
    case OSEC_TX_RELEASE:
        OSEC_ENSURE(open, OSEC_ESTORE,
                    "commit: the database rolled the transaction back after an error");
        return run_id(sq, op == OSEC_TX_COMMIT ? SQ_COMMIT : SQ_RELEASE, "commit");
    case OSEC_TX_ROLLBACK:
        return open ? run_id(sq, SQ_ROLLBACK, "rollback") : 0;
    case OSEC_TX_ROLLBACK_TO:
        if (!open)
            return 0;
        OSEC_GUARD(run_id(sq, SQ_ROLLBACK_TO, "rollback to savepoint"));
        return run_id(sq, SQ_RELEASE, "release savepoint");
    }
    OSEC_BAIL(OSEC_EINTERNAL, "bad transaction op %d", (int)op);
}

static int sq_check(struct osec_store *st)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    char first[512] = "";
    int rc = sqlite3_prepare_v2(sq->db, "PRAGMA integrity_check", -1, &s, NULL);

    if (rc != SQLITE_OK) {
        rc = SQ_ERR(sq, rc, "integrity check");
        goto out;
    }
    rc = osec_sq_step(sq, s, "integrity check");
    if (rc < 0)
        goto out;
    if (rc == 1) {
        const unsigned char *t = sqlite3_column_text(s, 0);

        if (t)
            (void)osec_strlcpy(first, (const char *)t, sizeof(first)); /* may truncate */
    }
    rc = 0;
    if (strcmp(first, "ok") != 0)
        OSEC_FAIL(rc, OSEC_ESTORE, "integrity check failed: %s", first);
out:
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}

/* ---- open / close ------------------------------------------------------ */

static void sq_close(struct osec_store *st)
{
    struct sq *sq = sq_of(st);
    int rc;

    for (int i = 0; i < SQ_COUNT; i++)
        (void)sqlite3_finalize(sq->stmt[i]); /* repeats old step results */
    /* Closing rolls back any open transaction and, for the last
     * connection, checkpoints and removes the WAL. */
    rc = sqlite3_close_v2(sq->db);
    if (rc != SQLITE_OK)
        osec_warn("store.close", "error=%s", sqlite3_errstr(rc));
    free(sq);
}

/* Serialises file creation within the process; see create_if_missing. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

/* Create a missing file ourselves so it is born 0600 (SQLite would use
 * 0644; its -wal and -shm files copy the database file's mode).  An
 * existing file is never open()ed here: close() drops every POSIX lock the
 * process holds on the file, including those of SQLite connections in
 * other threads (https://sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_).
 * O_EXCL plus the mutex make sure no connection of ours has the new file
 * open before we close it. */
static int create_if_missing(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);

    if (fd < 0 && errno == EEXIST)
        return 0;
    OSEC_ENSURE(fd >= 0, OSEC_ESTORE, "cannot create store file %s: %s", path,
                strerror(errno));
    OSEC_ENSURE(close(fd) == 0, OSEC_ESTORE, "close %s: %s", path, strerror(errno));
    return 0;
}

static int prepare_file(const char *path)
{
    struct stat sb;
    int rc;

    OSEC_ENSURE(pthread_mutex_lock(&create_lock) == 0, OSEC_EINTERNAL, "mutex lock");
    rc = create_if_missing(path);
    OSEC_ENSURE(pthread_mutex_unlock(&create_lock) == 0, OSEC_EINTERNAL, "mutex unlock");
    OSEC_GUARD(rc);
    OSEC_ENSURE(stat(path, &sb) == 0, OSEC_ESTORE, "cannot stat store file %s: %s", path,
                strerror(errno));
    OSEC_ENSURE(S_ISREG(sb.st_mode), OSEC_ESTORE, "store file %s is not a regular file", path);
    /* Password hashes and sealed keys: never for everyone to read. */
    OSEC_ENSURE((sb.st_mode & S_IRWXO) == 0, OSEC_EPERM,
                "store file %s is world-accessible (chmod o-rwx)", path);
    return 0;
}

/* Run a one-row PRAGMA into out.  Switching to WAL takes an exclusive lock
 * without always consulting the busy handler (to avoid deadlocks), so
 * processes starting together on a new file collide here: retry busy
 * results for up to BUSY_TIMEOUT_MS. */
static int pragma_text(struct sq *sq, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *s = NULL;
    int rc = SQLITE_BUSY;

    for (int waited = 0; (rc & 0xff) == SQLITE_BUSY && waited <= BUSY_TIMEOUT_MS;
         waited += RETRY_MS) {
        if (waited)
            (void)sqlite3_sleep(RETRY_MS); /* returns the time slept */
        (void)sqlite3_finalize(s);         /* repeats the busy result seen */
        s = NULL;
        rc = sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(s);
    }
    if (rc == SQLITE_ROW)
        rc = osec_sq_col_text(s, 0, out, outlen);
    else if (rc == SQLITE_DONE)
        rc = osec_error_set(OSEC_ESTORE, __FILE__, __LINE__, "%s: no result", sql);
    else
        rc = SQ_ERR(sq, rc, sql);
    (void)sqlite3_finalize(s); /* repeats the step's result, handled above */
    return rc;
}

static int set_db_config(struct sq *sq)
{
    int rc;

    /* Extended codes tell a duplicate key from a missing reference. */
    rc = sqlite3_extended_result_codes(sq->db, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(sq->db, BUSY_TIMEOUT_MS);
    /* Defensive: no writable_schema or other ways to corrupt the file via
     * SQL; untrusted schema: no functions with side effects in views. */
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(sq->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(sq->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, "configuring the connection");
}

static int configure(struct sq *sq, bool memory)
{
    char v[16];
    int rc;

    OSEC_GUARD(set_db_config(sq));
    if (!memory) {
        OSEC_GUARD(pragma_text(sq, "PRAGMA journal_mode = WAL", v, sizeof(v)));
        OSEC_ENSURE(strcmp(v, "wal") == 0, OSEC_ESTORE,
                    "WAL journal not available (got %s): is the store on a network "
                    "file system?", v);
    }
    /* synchronous=FULL: an acknowledged commit (a consumed onetime key, an
     * issued EUKey) must survive power loss too, or a key could be used
     * twice.  secure_delete: deleted sealed keys are overwritten in place. */
    rc = sqlite3_exec(sq->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                      " PRAGMA secure_delete = ON;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return SQ_ERR(sq, rc, "configuring the connection");
    OSEC_GUARD(pragma_text(sq, "PRAGMA foreign_keys", v, sizeof(v)));
    OSEC_ENSURE(strcmp(v, "1") == 0, OSEC_ESTORE,
                "libsqlite3 lacks foreign keys: deletes would not cascade");
    return 0;
}

static const struct osec_store_ops sqlite_ops;

int osec_store_sqlite_open(const char *path, struct osec_store **out)
{
    bool memory = strcmp(path, ":memory:") == 0;
    struct sq *sq = NULL;
    int rc;

    OSEC_ENSURE(sqlite3_threadsafe() != 0, OSEC_ESTORE, "libsqlite3 built without threads");
    if (!memory)
        OSEC_GUARD(prepare_file(path));
    sq = calloc(1, sizeof(*sq));
    OSEC_ENSURE(sq != NULL, OSEC_ENOMEM, "out of memory");
    sq->base.ops = &sqlite_ops;
    rc = sqlite3_open_v2(path, &sq->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                         SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE, NULL);
    if (rc != SQLITE_OK) {
        rc = sq->db ? SQ_ERR(sq, rc, path)
                    : osec_error_set(OSEC_ENOMEM, __FILE__, __LINE__, "out of memory");
        goto out;
    }
    OSEC_CHECK(rc, configure(sq, memory));
    OSEC_CHECK(rc, osec_sq_migrate(sq));
    OSEC_CHECK(rc, osec_sq_prepare_all(sq));
    *out = &sq->base;
out:
    if (rc < 0)
        sq_close(&sq->base);
    return rc;
}

static const struct osec_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .tx = sq_tx,
    .check = sq_check,
    .user_add = osec_sq_user_add,
    .user_get = osec_sq_user_get,
    .user_set_password = osec_sq_user_set_password,
    .user_set_flags = osec_sq_user_set_flags,
    .user_del = osec_sq_user_del,
    .user_list = osec_sq_user_list,
    .address_add = osec_sq_address_add,
    .address_del = osec_sq_address_del,
    .address_owner = osec_sq_address_owner,
    .address_list = osec_sq_address_list,
    .entity_put = osec_sq_entity_put,
    .entity_get = osec_sq_entity_get,
    .entity_list = osec_sq_entity_list,
    .entity_revoke = osec_sq_entity_revoke,
    .entity_delete = osec_sq_entity_delete,
    .otk_add = osec_sq_otk_add,
    .otk_get = osec_sq_otk_get,
    .otk_list_for = osec_sq_otk_list_for,
    .otk_take = osec_sq_otk_take,
    .otk_purge = osec_sq_otk_purge,
    .acl_set = osec_sq_acl_set,
    .acl_get = osec_sq_acl_get,
    .acl_delete = osec_sq_acl_delete,
    .acl_delete_mailbox = osec_sq_acl_delete_mailbox,
    .acl_list = osec_sq_acl_list,
    .policy_set = osec_sq_policy_set,
    .policy_get = osec_sq_policy_get,
    .policy_del = osec_sq_policy_del,
    .policy_list = osec_sq_policy_list,
    .meta_get = osec_sq_meta_get,
    .meta_set = osec_sq_meta_set,
    .meta_add = osec_sq_meta_add,
    .audit_add = osec_sq_audit_add,
    .audit_list = osec_sq_audit_list,
    .nonce_mark = osec_sq_nonce_mark,
    .nonce_purge = osec_sq_nonce_purge,
    .shared = false,
    .mail = &osec_sq_mail_ops,
    .sipreg = &osec_sq_sipreg_ops,
};
