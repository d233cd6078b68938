/* SQLite schema, migrations and the statement catalogue.
 *
 * All SQL here is fixed text: values are only ever bound, never formatted
 * in.  The DML is written in the subset PostgreSQL accepts unchanged
 * (ON CONFLICT upserts, DELETE ... RETURNING, ?N placeholders map to $N), so
 * a PostgreSQL backend can reuse the statements; only the DDL (BLOB/BYTEA,
 * INTEGER/BIGINT, the audit id) is backend specific.
 */
#include "omasec/error.h"
#include "store/sqlite_int.h"

#define SCHEMA_VERSION 5

/* Step 3: the message store of cpm-msgstored (lib/store/sqlite_mail.c).
 * AUTOINCREMENT: a mailbox id is never reused, because sealed bodies and
 * ACL entries ("mbox:<id>") are bound to it.  Bodies live in a table of
 * their own so that flag, UID and mod-sequence scans never read them. */
#define SCHEMA_STEP3_MAIL                                                        \
    "CREATE TABLE mailboxes ("                                                   \
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"                                     \
    " owner TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"             \
    " name TEXT NOT NULL,"                                                       \
    " uidvalidity INTEGER NOT NULL,"                                             \
    " uidnext INTEGER NOT NULL,"                                                 \
    " modseq INTEGER NOT NULL,"                                                  \
    " created INTEGER NOT NULL,"                                                 \
    " UNIQUE (owner, name));"                                                    \
    "CREATE TABLE messages ("                                                    \
    " mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"   \
    " uid INTEGER NOT NULL,"                                                     \
    " modseq INTEGER NOT NULL,"                                                  \
    " flags INTEGER NOT NULL,"                                                   \
    " keywords TEXT NOT NULL,"                                                   \
    " internaldate INTEGER NOT NULL,"                                            \
    " size INTEGER NOT NULL,"                                                    \
    " PRIMARY KEY (mailbox_id, uid));"                                           \
    "CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"              \
    "CREATE TABLE message_bodies ("                                              \
    " mailbox_id INTEGER NOT NULL,"                                              \
    " uid INTEGER NOT NULL,"                                                     \
    " body BLOB NOT NULL,"                                                       \
    " PRIMARY KEY (mailbox_id, uid),"                                            \
    " FOREIGN KEY (mailbox_id, uid) REFERENCES messages(mailbox_id, uid)"        \
    " ON DELETE CASCADE);"                                                       \
    "CREATE TABLE mail_metadata ("                                               \
    " mailbox_id INTEGER NOT NULL,"                                              \
    " user_name TEXT NOT NULL,"                                                  \
    " entry TEXT NOT NULL,"                                                      \
    " value BLOB NOT NULL,"                                                      \
    " PRIMARY KEY (mailbox_id, user_name, entry));"                              \
    "CREATE TABLE mail_subscriptions ("                                          \
    " user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"         \
    " name TEXT NOT NULL,"                                                       \
    " PRIMARY KEY (user_name, name));"                                           \
    "PRAGMA user_version = 3;"


/* migrations[v] brings a database from version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
    "CREATE TABLE users ("
    " name TEXT NOT NULL PRIMARY KEY,"
    " password_hash TEXT NOT NULL,"
    " ha1_sealed BLOB NOT NULL,"
    " flags INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE addresses ("
    " uri TEXT NOT NULL PRIMARY KEY,"
    " user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX addresses_user ON addresses(user_name);"
    "CREATE TABLE entities ("
    " entity_id TEXT NOT NULL PRIMARY KEY,"
    " type TEXT NOT NULL CHECK (type IN ('pne', 'gw')),"
    " user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    " eukey_sealed BLOB NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX entities_user ON entities(user_name);"
    "CREATE TABLE onetime_keys ("
    " key_id TEXT NOT NULL PRIMARY KEY,"
    " creator TEXT NOT NULL REFERENCES entities(entity_id) ON DELETE CASCADE,"
    " peer TEXT NOT NULL REFERENCES entities(entity_id) ON DELETE CASCADE,"
    " sealed BLOB NOT NULL,"
    " created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX onetime_keys_peer ON onetime_keys(peer, expires);"
    "CREATE INDEX onetime_keys_creator ON onetime_keys(creator);"
    "CREATE INDEX onetime_keys_expires ON onetime_keys(expires);"
    "CREATE TABLE acl ("
    " mailbox TEXT NOT NULL,"
    " identifier TEXT NOT NULL,"
    " rights TEXT NOT NULL,"
    " PRIMARY KEY (mailbox, identifier));"
    "CREATE INDEX acl_identifier ON acl(identifier);"
    "CREATE TABLE policy ("
    " name TEXT NOT NULL PRIMARY KEY,"
    " value TEXT NOT NULL);"
    "CREATE TABLE meta ("
    " name TEXT NOT NULL PRIMARY KEY,"
    " value BLOB NOT NULL);"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL,"
    " event TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX audit_ts ON audit(ts, id);"
    "PRAGMA user_version = 1;",
    /* step 2: SIP registrations (cpm-sipd); placeholder until that step lands */
    [1] = "PRAGMA user_version = 2;",
    [2] = SCHEMA_STEP3_MAIL,
    /* step 4: Digest nonce-count replay state shared by daemon instances
     * (lib/store/sqlite_nonce.c, lib/auth/digest_store_replay.c) */
    [3] = "CREATE TABLE nonce_uses ("
          " nonce BLOB NOT NULL,"
          " nc INTEGER NOT NULL,"
          " expires INTEGER NOT NULL,"
          " PRIMARY KEY (nonce, nc));"
          "CREATE INDEX nonce_uses_expires ON nonce_uses(expires);"
          "PRAGMA user_version = 4;",
    /* step 5: SIP registrations shared by cpm-sipd instances
     * (lib/store/sqlite_sipreg.c; step 2 stays the placeholder it was) */
    [4] = "CREATE TABLE sip_bindings ("
          " aor TEXT NOT NULL,"
          " contact TEXT NOT NULL,"
          " path TEXT NOT NULL,"
          " call_id TEXT NOT NULL,"
          " cseq INTEGER NOT NULL,"
          " expires INTEGER NOT NULL,"
          " user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
          " instance TEXT NOT NULL,"
          " flow TEXT NOT NULL,"
          " updated INTEGER NOT NULL,"
          " PRIMARY KEY (aor, contact)) WITHOUT ROWID;"
          "CREATE INDEX sip_bindings_flow ON sip_bindings(instance, flow);"
          "CREATE INDEX sip_bindings_expires ON sip_bindings(expires);"
          "CREATE INDEX sip_bindings_user ON sip_bindings(user_name);"
          "PRAGMA user_version = 5;",
};

#define USER_COLS "name, password_hash, ha1_sealed, flags, created"
#define ENT_COLS "entity_id, type, user_name, eukey_sealed, created, expires, revoked"
#define OTK_COLS "key_id, creator, peer, sealed, created, expires"

static const char *const statements[SQ_COUNT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT osec_sp",
    [SQ_RELEASE] = "RELEASE osec_sp",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO osec_sp",

    [SQ_USER_ADD] = "INSERT INTO users (" USER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_USER_GET] = "SELECT " USER_COLS " FROM users WHERE name = ?1",
    [SQ_USER_SET_PW] = "UPDATE users SET password_hash = ?2, ha1_sealed = ?3 WHERE name = ?1",
    [SQ_USER_SET_FLAGS] = "UPDATE users SET flags = ?2 WHERE name = ?1",
    [SQ_USER_DEL] = "DELETE FROM users WHERE name = ?1",
    [SQ_USER_DEL_ACL] = "DELETE FROM acl WHERE identifier = ?1 OR identifier = ?2",
    [SQ_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY name",

    [SQ_ADDR_ADD] = "INSERT INTO addresses (uri, user_name, created) VALUES (?1, ?2, ?3)",
    [SQ_ADDR_DEL] = "DELETE FROM addresses WHERE uri = ?1",
    [SQ_ADDR_OWNER] = "SELECT user_name FROM addresses WHERE uri = ?1",
    [SQ_ADDR_LIST_USER] = "SELECT uri, user_name, created FROM addresses"
                          " WHERE user_name = ?1 ORDER BY uri",
    [SQ_ADDR_LIST_ALL] = "SELECT uri, user_name, created FROM addresses ORDER BY uri",

    /* Replacement only for the same owner: a row of another user is left
     * alone, so 0 changes means EPERM. */
    [SQ_ENT_PUT] = "INSERT INTO entities (" ENT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)"
                   " ON CONFLICT (entity_id) DO UPDATE SET type = excluded.type,"
                   " eukey_sealed = excluded.eukey_sealed, created = excluded.created,"
                   " expires = excluded.expires, revoked = 0"
                   " WHERE entities.user_name = excluded.user_name",
    [SQ_ENT_EXISTS] = "SELECT 1 FROM entities WHERE entity_id = ?1",
    [SQ_ENT_GET] = "SELECT " ENT_COLS " FROM entities WHERE entity_id = ?1",
    [SQ_ENT_LIST_USER] = "SELECT " ENT_COLS " FROM entities WHERE user_name = ?1"
                         " ORDER BY entity_id",
    [SQ_ENT_LIST_ALL] = "SELECT " ENT_COLS " FROM entities ORDER BY entity_id",
    [SQ_ENT_REVOKE] = "UPDATE entities SET revoked = ?2 WHERE entity_id = ?1 AND revoked = 0",
    [SQ_ENT_DEL] = "DELETE FROM entities WHERE entity_id = ?1",
    [SQ_OTK_DEL_ENTITY] = "DELETE FROM onetime_keys WHERE creator = ?1 OR peer = ?1",

    [SQ_OTK_ADD] = "INSERT INTO onetime_keys (" OTK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SQ_OTK_GET] = "SELECT " OTK_COLS " FROM onetime_keys WHERE key_id = ?1",
    [SQ_OTK_LIST_FOR] = "SELECT " OTK_COLS " FROM onetime_keys"
                        " WHERE peer = ?1 AND expires > ?2 ORDER BY created, key_id",
    /* One statement: the row goes to exactly one caller, whoever deletes it. */
    [SQ_OTK_TAKE] = "DELETE FROM onetime_keys WHERE key_id = ?1"
                    " AND (creator = ?2 OR peer = ?2) RETURNING " OTK_COLS,
    [SQ_OTK_EXISTS] = "SELECT 1 FROM onetime_keys WHERE key_id = ?1",
    [SQ_OTK_PURGE] = "DELETE FROM onetime_keys WHERE expires <= ?1",

    [SQ_ACL_SET] = "INSERT INTO acl (mailbox, identifier, rights) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (mailbox, identifier) DO UPDATE SET rights = excluded.rights",
    [SQ_ACL_GET] = "SELECT mailbox, identifier, rights FROM acl"
                   " WHERE mailbox = ?1 AND identifier = ?2",
    [SQ_ACL_DEL] = "DELETE FROM acl WHERE mailbox = ?1 AND identifier = ?2",
    [SQ_ACL_DEL_MAILBOX] = "DELETE FROM acl WHERE mailbox = ?1",
    [SQ_ACL_LIST] = "SELECT mailbox, identifier, rights FROM acl WHERE mailbox = ?1"
                    " ORDER BY identifier",

    [SQ_POL_SET] = "INSERT INTO policy (name, value) VALUES (?1, ?2)"
                   " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [SQ_POL_GET] = "SELECT name, value FROM policy WHERE name = ?1",
    [SQ_POL_DEL] = "DELETE FROM policy WHERE name = ?1",
    [SQ_POL_LIST] = "SELECT name, value FROM policy ORDER BY name",

    [SQ_META_GET] = "SELECT value FROM meta WHERE name = ?1",
    [SQ_META_SET] = "INSERT INTO meta (name, value) VALUES (?1, ?2)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [SQ_META_ADD] = "INSERT INTO meta (name, value) VALUES (?1, ?2)"
                    " ON CONFLICT (name) DO NOTHING",

    [SQ_AUDIT_ADD] = "INSERT INTO audit (ts, event, actor, subject, detail)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_AUDIT_LIST] = "SELECT id, ts, event, actor, subject, detail FROM audit"
                      " ORDER BY ts DESC, id DESC LIMIT ?1",
};

int osec_sq_prepare_all(struct sq *sq)
{
    for (int i = 0; i < SQ_COUNT; i++) {
        int rc = sqlite3_prepare_v3(sq->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &sq->stmt[i], NULL);

        if (rc != SQLITE_OK)
            return SQ_ERR(sq, rc, "preparing statements");
    }
    return 0;
}

static int user_version(struct sq *sq, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(sq->db, "PRAGMA user_version", -1, &s, NULL);

    *out = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    }
    (void)sqlite3_finalize(s); /* its result repeats the step's, handled above */
    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, "reading the schema version");
}

static int exec(struct sq *sq, const char *sql, const char *what)
{
    int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : SQ_ERR(sq, rc, what);
}

static int upgrade(struct sq *sq)
{
    int64_t v = 0;

    /* Re-read under the write lock: another process may have migrated
     * between our first look and BEGIN IMMEDIATE. */
    OSEC_GUARD(user_version(sq, &v));
    OSEC_ENSURE(v >= 0 && v <= SCHEMA_VERSION, OSEC_ESTORE,
                "store schema version %lld is not supported by this program (max %d)",
                (long long)v, SCHEMA_VERSION);
    for (; v < SCHEMA_VERSION; v++)
        OSEC_GUARD(exec(sq, migrations[v], "migrating the schema"));
    return 0;
}

int osec_sq_migrate(struct sq *sq)
{
    int64_t v = 0;
    int rc;

    OSEC_GUARD(user_version(sq, &v));
    if (v == SCHEMA_VERSION)
        return 0;
    OSEC_ENSURE(v >= 0 && v < SCHEMA_VERSION, OSEC_ESTORE,
                "store schema version %lld is newer than this program (max %d)",
                (long long)v, SCHEMA_VERSION);
    OSEC_GUARD(exec(sq, "BEGIN IMMEDIATE", "starting the migration"));
    rc = upgrade(sq);
    if (rc == 0)
        rc = exec(sq, "COMMIT", "committing the migration");
    if (rc < 0 && !sqlite3_get_autocommit(sq->db))
        (void)sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL); /* keep first error */
    return rc;
}
