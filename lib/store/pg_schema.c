/* PostgreSQL schema, migrations and the statement catalogue.
 *
 * The schema versions are the SQLite backend's (sqlite_schema.c), step for
 * step, so a deployment can move between backends with the same program.
 * The version lives in a one-row table `schema_version`; migrations run in
 * one transaction under a transaction-scoped advisory lock, so instances
 * starting together migrate once and the others wait, then find the work
 * done.  DDL differences from SQLite: BIGINT for times and flags, BYTEA for
 * blobs, identity columns instead of row ids, and COLLATE "C" on every text
 * key so that comparisons and ORDER BY are byte for byte whatever the
 * database's locale (as in SQLite, and as docs/store.md promises).
 *
 * All SQL is fixed text: values are only ever bound.
 */
#include <string.h>

#include "omasec/error.h"

#ifdef OSEC_HAVE_LIBPQ

#include "store/pg_int.h"

#define PG_SCHEMA_VERSION 5
/* pg_advisory_xact_lock key: "omasecMG" */
#define PG_MIGRATION_LOCK "7020092766208362311"

#define T "TEXT COLLATE \"C\" NOT NULL"

static const char *const migrations[PG_SCHEMA_VERSION] = {
    "CREATE TABLE users ("
    " name " T " PRIMARY KEY,"
    " password_hash TEXT NOT NULL,"
    " ha1_sealed BYTEA NOT NULL,"
    " flags BIGINT NOT NULL DEFAULT 0,"
    " created BIGINT NOT NULL);"
    "CREATE TABLE addresses ("
    " uri " T " PRIMARY KEY,"
    " user_name " T " REFERENCES users(name) ON DELETE CASCADE,"
    " created BIGINT NOT NULL);"
    "CREATE INDEX addresses_user ON addresses(user_name);"
    "CREATE TABLE entities ("
    " entity_id " T " PRIMARY KEY,"
    " type " T " CHECK (type IN ('pne', 'gw')),"
    " user_name " T " REFERENCES users(name) ON DELETE CASCADE,"
    " eukey_sealed BYTEA NOT NULL,"
    " created BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " revoked BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX entities_user ON entities(user_name);"
    "CREATE TABLE onetime_keys ("
    " key_id " T " PRIMARY KEY,"
    " creator " T " REFERENCES entities(entity_id) ON DELETE CASCADE,"
    " peer " T " REFERENCES entities(entity_id) ON DELETE CASCADE,"
    " sealed BYTEA NOT NULL,"
    " created BIGINT NOT NULL,"
    " expires BIGINT NOT NULL);"
    "CREATE INDEX onetime_keys_peer ON onetime_keys(peer, expires);"
    "CREATE INDEX onetime_keys_creator ON onetime_keys(creator);"
    "CREATE INDEX onetime_keys_expires ON onetime_keys(expires);"
    "CREATE TABLE acl ("
    " mailbox " T ","
    " identifier " T ","
    " rights TEXT NOT NULL,"
    " PRIMARY KEY (mailbox, identifier));"
    "CREATE INDEX acl_identifier ON acl(identifier);"
    "CREATE TABLE policy ("
    " name " T " PRIMARY KEY,"
    " value TEXT NOT NULL);"
    "CREATE TABLE meta ("
    " name " T " PRIMARY KEY,"
    " value BYTEA NOT NULL);"
    "CREATE TABLE audit ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " ts BIGINT NOT NULL,"
    " event TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX audit_ts ON audit(ts, id);",
    /* step 2: SIP registrations (cpm-sipd); a placeholder, as in SQLite */
    "SELECT 1",
    /* step 3: the message store of cpm-msgstored.  An identity is never
     * reused, as sealed bodies and ACL keys ("mbox:<id>") are bound to it.
     * Bodies have a table of their own (flag and UID scans never read
     * them) and are sealed, so incompressible: stored out of line, as is. */
    "CREATE TABLE mailboxes ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " owner " T " REFERENCES users(name) ON DELETE CASCADE,"
    " name " T ","
    " uidvalidity BIGINT NOT NULL,"
    " uidnext BIGINT NOT NULL,"
    " modseq BIGINT NOT NULL,"
    " created BIGINT NOT NULL,"
    " UNIQUE (owner, name));"
    "CREATE TABLE messages ("
    " mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
    " uid BIGINT NOT NULL,"
    " modseq BIGINT NOT NULL,"
    " flags BIGINT NOT NULL,"
    " keywords TEXT NOT NULL,"
    " internaldate BIGINT NOT NULL,"
    " size BIGINT NOT NULL,"
    " PRIMARY KEY (mailbox_id, uid));"
    "CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
    "CREATE TABLE message_bodies ("
    " mailbox_id BIGINT NOT NULL,"
    " uid BIGINT NOT NULL,"
    " body BYTEA NOT NULL,"
    " PRIMARY KEY (mailbox_id, uid),"
    " FOREIGN KEY (mailbox_id, uid) REFERENCES messages(mailbox_id, uid)"
    " ON DELETE CASCADE);"
    "ALTER TABLE message_bodies ALTER COLUMN body SET STORAGE EXTERNAL;"
    "CREATE TABLE mail_metadata ("
    " mailbox_id BIGINT NOT NULL,"
    " user_name " T ","
    " entry " T ","
    " value BYTEA NOT NULL,"
    " PRIMARY KEY (mailbox_id, user_name, entry));"
    "CREATE TABLE mail_subscriptions ("
    " user_name " T " REFERENCES users(name) ON DELETE CASCADE,"
    " name " T ","
    " PRIMARY KEY (user_name, name));",
    /* step 4: Digest nonce-count replay state shared by daemon instances */
    "CREATE TABLE nonce_uses ("
    " nonce BYTEA NOT NULL,"
    " nc BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " PRIMARY KEY (nonce, nc));"
    "CREATE INDEX nonce_uses_expires ON nonce_uses(expires);",
    /* step 5: SIP registrations shared by cpm-sipd instances */
    "CREATE TABLE sip_bindings ("
    " aor " T ","
    " contact " T ","
    " path TEXT NOT NULL,"
    " call_id TEXT NOT NULL,"
    " cseq BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " user_name " T " REFERENCES users(name) ON DELETE CASCADE,"
    " instance " T ","
    " flow " T ","
    " updated BIGINT NOT NULL,"
    " PRIMARY KEY (aor, contact));"
    "CREATE INDEX sip_bindings_flow ON sip_bindings(instance, flow);"
    "CREATE INDEX sip_bindings_expires ON sip_bindings(expires);"
    "CREATE INDEX sip_bindings_user ON sip_bindings(user_name);",
};

/* Tables osec_store_check expects. */
#define PG_CHECK_TABLES                                                                  \
    "SELECT count(*) FROM unnest(ARRAY['users', 'addresses', 'entities', 'onetime_keys',"  \
    " 'acl', 'policy', 'meta', 'audit', 'mailboxes', 'messages', 'message_bodies',"       \
    " 'mail_metadata', 'mail_subscriptions', 'nonce_uses', 'sip_bindings']) AS t(name)"   \
    " WHERE to_regclass(t.name) IS NULL"

#define USER_COLS "name, password_hash, ha1_sealed, flags, created"
#define ENT_COLS "entity_id, type, user_name, eukey_sealed, created, expires, revoked"
#define OTK_COLS "key_id, creator, peer, sealed, created, expires"

static const char *const statements[PG_COUNT] = {
    [PG_BEGIN] = "BEGIN",
    [PG_COMMIT] = "COMMIT",
    [PG_ROLLBACK] = "ROLLBACK",
    [PG_SAVEPOINT] = "SAVEPOINT osec_sp",
    [PG_RELEASE] = "RELEASE SAVEPOINT osec_sp",
    [PG_ROLLBACK_TO] = "ROLLBACK TO SAVEPOINT osec_sp",
    [PG_STMT_SP] = "SAVEPOINT osec_stmt",
    [PG_STMT_RELEASE] = "RELEASE SAVEPOINT osec_stmt",
    [PG_STMT_ROLLBACK] = "ROLLBACK TO SAVEPOINT osec_stmt",

    [PG_USER_ADD] = "INSERT INTO users (" USER_COLS ") VALUES ($1, $2, $3, $4, $5)",
    [PG_USER_GET] = "SELECT " USER_COLS " FROM users WHERE name = $1",
    [PG_USER_SET_PW] = "UPDATE users SET password_hash = $2, ha1_sealed = $3 WHERE name = $1",
    [PG_USER_SET_FLAGS] = "UPDATE users SET flags = $2 WHERE name = $1",
    [PG_USER_DEL] = "DELETE FROM users WHERE name = $1",
    [PG_USER_DEL_ACL] = "DELETE FROM acl WHERE identifier = $1 OR identifier = $2",
    [PG_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY name",

    [PG_ADDR_ADD] = "INSERT INTO addresses (uri, user_name, created) VALUES ($1, $2, $3)",
    [PG_ADDR_DEL] = "DELETE FROM addresses WHERE uri = $1",
    [PG_ADDR_OWNER] = "SELECT user_name FROM addresses WHERE uri = $1",
    [PG_ADDR_LIST_USER] = "SELECT uri, user_name, created FROM addresses"
                          " WHERE user_name = $1 ORDER BY uri",
    [PG_ADDR_LIST_ALL] = "SELECT uri, user_name, created FROM addresses ORDER BY uri",

    /* Replacement only for the same owner: a row of another user is left
     * alone, so 0 rows means EPERM.  Atomic under concurrent puts. */
    [PG_ENT_PUT] = "INSERT INTO entities (" ENT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, 0)"
                   " ON CONFLICT (entity_id) DO UPDATE SET type = excluded.type,"
                   " eukey_sealed = excluded.eukey_sealed, created = excluded.created,"
                   " expires = excluded.expires, revoked = 0"
                   " WHERE entities.user_name = excluded.user_name",
    [PG_ENT_EXISTS] = "SELECT 1 FROM entities WHERE entity_id = $1",
    [PG_ENT_GET] = "SELECT " ENT_COLS " FROM entities WHERE entity_id = $1",
    [PG_ENT_LIST_USER] = "SELECT " ENT_COLS " FROM entities WHERE user_name = $1"
                         " ORDER BY entity_id",
    [PG_ENT_LIST_ALL] = "SELECT " ENT_COLS " FROM entities ORDER BY entity_id",
    [PG_ENT_REVOKE] = "UPDATE entities SET revoked = $2 WHERE entity_id = $1 AND revoked = 0",
    [PG_ENT_DEL] = "DELETE FROM entities WHERE entity_id = $1",
    [PG_OTK_DEL_ENTITY] = "DELETE FROM onetime_keys WHERE creator = $1 OR peer = $1",

    [PG_OTK_ADD] = "INSERT INTO onetime_keys (" OTK_COLS ") VALUES ($1, $2, $3, $4, $5, $6)",
    [PG_OTK_GET] = "SELECT " OTK_COLS " FROM onetime_keys WHERE key_id = $1",
    [PG_OTK_LIST_FOR] = "SELECT " OTK_COLS " FROM onetime_keys"
                        " WHERE peer = $1 AND expires > $2 ORDER BY created, key_id",
    /* Under READ COMMITTED a second DELETE of the same row waits for the
     * first and then finds it gone: the key goes to exactly one caller. */
    [PG_OTK_TAKE] = "DELETE FROM onetime_keys WHERE key_id = $1"
                    " AND (creator = $2 OR peer = $2) RETURNING " OTK_COLS,
    [PG_OTK_EXISTS] = "SELECT 1 FROM onetime_keys WHERE key_id = $1",
    [PG_OTK_PURGE] = "DELETE FROM onetime_keys WHERE expires <= $1",

    [PG_ACL_SET] = "INSERT INTO acl (mailbox, identifier, rights) VALUES ($1, $2, $3)"
                   " ON CONFLICT (mailbox, identifier) DO UPDATE SET rights = excluded.rights",
    [PG_ACL_GET] = "SELECT mailbox, identifier, rights FROM acl"
                   " WHERE mailbox = $1 AND identifier = $2",
    [PG_ACL_DEL] = "DELETE FROM acl WHERE mailbox = $1 AND identifier = $2",
    [PG_ACL_DEL_MAILBOX] = "DELETE FROM acl WHERE mailbox = $1",
    [PG_ACL_LIST] = "SELECT mailbox, identifier, rights FROM acl WHERE mailbox = $1"
                    " ORDER BY identifier",

    [PG_POL_SET] = "INSERT INTO policy (name, value) VALUES ($1, $2)"
                   " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [PG_POL_GET] = "SELECT name, value FROM policy WHERE name = $1",
    [PG_POL_DEL] = "DELETE FROM policy WHERE name = $1",
    [PG_POL_LIST] = "SELECT name, value FROM policy ORDER BY name",

    [PG_META_GET] = "SELECT value FROM meta WHERE name = $1",
    [PG_META_SET] = "INSERT INTO meta (name, value) VALUES ($1, $2)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [PG_META_ADD] = "INSERT INTO meta (name, value) VALUES ($1, $2)"
                    " ON CONFLICT (name) DO NOTHING",

    [PG_AUDIT_ADD] = "INSERT INTO audit (ts, event, actor, subject, detail)"
                     " VALUES ($1, $2, $3, $4, $5)",
    [PG_AUDIT_LIST] = "SELECT id, ts, event, actor, subject, detail FROM audit"
                      " ORDER BY ts DESC, id DESC LIMIT $1",

    /* Inserted unless (nonce, nc) is there, or a single use (nc 0) of the
     * nonce, or -- for nc 0 -- any use of it.  Two instances inserting the
     * same pair at once: the primary key lets exactly one through. */
    [PG_NONCE_MARK] = "INSERT INTO nonce_uses (nonce, nc, expires)"
                      " SELECT $1::bytea, $2::bigint, $3::bigint"
                      " WHERE NOT EXISTS (SELECT 1 FROM nonce_uses WHERE nonce = $1::bytea"
                      " AND (nc = 0 OR $2::bigint = 0)) ON CONFLICT (nonce, nc) DO NOTHING",
    [PG_NONCE_PURGE] = "DELETE FROM nonce_uses WHERE expires <= $1",

#define SIPREG_COLS "aor, contact, path, call_id, cseq, expires, user_name, instance, flow," \
                    " updated"
    [PG_SIPREG_PUT] = "INSERT INTO sip_bindings (" SIPREG_COLS ") VALUES ($1, $2, $3, $4, $5,"
                      " $6, $7, $8, $9, $10) ON CONFLICT (aor, contact) DO UPDATE SET"
                      " path = excluded.path, call_id = excluded.call_id,"
                      " cseq = excluded.cseq, expires = excluded.expires,"
                      " user_name = excluded.user_name, instance = excluded.instance,"
                      " flow = excluded.flow, updated = excluded.updated",
    [PG_SIPREG_DEL] = "DELETE FROM sip_bindings WHERE aor = $1 AND contact = $2",
    [PG_SIPREG_DEL_AOR] = "DELETE FROM sip_bindings WHERE aor = $1",
    [PG_SIPREG_DEL_FLOW] = "DELETE FROM sip_bindings WHERE instance = $1 AND flow = $2",
    [PG_SIPREG_DEL_INST] = "DELETE FROM sip_bindings WHERE instance = $1",
    [PG_SIPREG_LIST] = "SELECT " SIPREG_COLS " FROM sip_bindings WHERE aor = $1"
                       " AND expires > $2 ORDER BY updated DESC, expires DESC, contact",
    [PG_SIPREG_PURGE] = "DELETE FROM sip_bindings WHERE expires <= $1",
    /* A transaction-scoped advisory lock per AOR, in a key space of its
     * own (the second argument of hashtextextended is a seed). */
    [PG_SIPREG_LOCK] = "SELECT pg_advisory_xact_lock(hashtextextended($1, 5060))",

#define MB_COLS "id, owner, name, uidvalidity, uidnext, modseq, created"
#define MSG_M "m.mailbox_id, m.uid, m.modseq, m.flags, m.keywords, m.internaldate, m.size"
    /* Message store: as sqlite_mail.c.  UPDATE ... RETURNING takes the
     * mailbox row's lock until the transaction ends, so UIDs and
     * mod-sequences are handed out one at a time across instances. */
    [PG_MB_CREATE] = "INSERT INTO mailboxes (owner, name, uidvalidity, uidnext, modseq, created)"
                     " VALUES ($1, $2, $3, 1, 1, $4) RETURNING " MB_COLS,
    [PG_MB_GET] = "SELECT " MB_COLS " FROM mailboxes WHERE owner = $1 AND name = $2",
    [PG_MB_GET_ID] = "SELECT " MB_COLS " FROM mailboxes WHERE id = $1",
    [PG_MB_RENAME] = "UPDATE mailboxes SET name = $2, modseq = modseq + 1 WHERE id = $1",
    [PG_MB_DEL_META] = "DELETE FROM mail_metadata WHERE mailbox_id = $1",
    [PG_MB_DEL] = "DELETE FROM mailboxes WHERE id = $1",
    [PG_MB_LIST] = "SELECT " MB_COLS " FROM mailboxes WHERE owner = $1 ORDER BY name",
    [PG_MB_LIST_SHARED] = "SELECT DISTINCT m.id, m.owner, m.name, m.uidvalidity, m.uidnext,"
                          " m.modseq, m.created FROM mailboxes m JOIN acl a"
                          " ON a.mailbox = 'mbox:' || m.id"
                          " WHERE a.identifier IN ($1, 'anyone', 'authenticated')"
                          " AND m.owner <> $1 ORDER BY m.owner, m.name",
    [PG_MB_COUNT] = "SELECT count(*) FROM messages WHERE mailbox_id = $1",
    [PG_MB_COUNT_UNSEEN] = "SELECT count(*), count(*) FILTER (WHERE flags & $2 = 0)"
                           " FROM messages WHERE mailbox_id = $1",
    [PG_MB_BUMP] = "UPDATE mailboxes SET modseq = modseq + 1 WHERE id = $1"
                   " RETURNING uidnext, modseq",
    [PG_MB_BUMP_UID] = "UPDATE mailboxes SET uidnext = uidnext + 1, modseq = modseq + 1"
                       " WHERE id = $1 RETURNING uidnext, modseq",
    [PG_MSG_INSERT] = "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords,"
                      " internaldate, size) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [PG_MSG_INSERT_BODY] = "INSERT INTO message_bodies (mailbox_id, uid, body)"
                           " VALUES ($1, $2, $3)",
    /* Pages of $5 rows from UID $2 on (pg_mail.c), so a FETCH of a large
     * mailbox never holds every body in memory at once. */
    [PG_MSG_LIST] = "SELECT " MSG_M " FROM messages m WHERE m.mailbox_id = $1"
                    " AND m.uid BETWEEN $2 AND $3 AND m.modseq > $4 ORDER BY m.uid LIMIT $5",
    [PG_MSG_LIST_BODY] = "SELECT " MSG_M ", b.body FROM messages m JOIN message_bodies b"
                         " ON b.mailbox_id = m.mailbox_id AND b.uid = m.uid"
                         " WHERE m.mailbox_id = $1 AND m.uid BETWEEN $2 AND $3"
                         " AND m.modseq > $4 ORDER BY m.uid LIMIT $5",
    [PG_MSG_SET_FLAGS] = "UPDATE messages SET flags = $3, keywords = $4, modseq = $5"
                         " WHERE mailbox_id = $1 AND uid = $2"
                         " AND ($6::bigint = 0 OR modseq <= $6::bigint)",
    [PG_MSG_EXISTS] = "SELECT 1 FROM messages WHERE mailbox_id = $1 AND uid = $2",
    [PG_MSG_DEL] = "DELETE FROM messages WHERE mailbox_id = $1 AND uid = $2",
    [PG_MMETA_SET] = "INSERT INTO mail_metadata (mailbox_id, user_name, entry, value)"
                     " VALUES ($1, $2, $3, $4) ON CONFLICT (mailbox_id, user_name, entry)"
                     " DO UPDATE SET value = excluded.value",
    [PG_MMETA_DEL] = "DELETE FROM mail_metadata WHERE mailbox_id = $1 AND user_name = $2"
                     " AND entry = $3",
    [PG_MMETA_GET] = "SELECT value FROM mail_metadata WHERE mailbox_id = $1 AND user_name = $2"
                     " AND entry = $3",
    [PG_SUB_ADD] = "INSERT INTO mail_subscriptions (user_name, name) VALUES ($1, $2)"
                   " ON CONFLICT (user_name, name) DO NOTHING",
    [PG_SUB_DEL] = "DELETE FROM mail_subscriptions WHERE user_name = $1 AND name = $2",
    [PG_SUB_LIST] = "SELECT name FROM mail_subscriptions WHERE user_name = $1 ORDER BY name",
};

const char *osec_pg_sql(enum pg_id id)
{
    return statements[id];
}

/* ---- migrations ------------------------------------------------------------ */

/* ESTORE naming `what`, the SQLSTATE and the first line of the message. */
static int failed(const PGresult *r, const char *what)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char msg[256];

    (void)osec_strlcpy(msg, PQresultErrorMessage(r), sizeof(msg)); /* may truncate */
    msg[strcspn(msg, "\r\n")] = '\0';
    return osec_error_set(OSEC_ESTORE, __FILE__, __LINE__, "%s: postgresql %s: %s", what,
                          state ? state : "(connection lost)", msg);
}

/* Fixed SQL, possibly several statements, in the simple protocol. */
static int simple(struct pg *pg, const char *sql, const char *what)
{
    PGresult *r = PQexec(pg->c, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = 0;

    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = failed(r, what);
    PQclear(r);
    return rc;
}

/* The stored schema version; 0 for a database omasec never touched. */
static int read_version(struct pg *pg, int64_t *v)
{
    PGresult *r = PQexecParams(pg->c, "SELECT version FROM schema_version", 0, NULL, NULL,
                               NULL, NULL, 1);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    int rc = 0;

    *v = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        if (PQntuples(r) == 1)
            rc = osec_pg_col_i64(r, 0, 0, v);
        else if (PQntuples(r) > 1)
            rc = osec_error_set(OSEC_ESTORE, __FILE__, __LINE__,
                                "schema_version holds %d rows", PQntuples(r));
    } else if (state == NULL || strcmp(state, "42P01") != 0) { /* 42P01: no table yet */
        rc = failed(r, "reading the schema version");
    }
    PQclear(r);
    return rc;
}

static int check_version(int64_t v)
{
    OSEC_ENSURE(v >= 0 && v <= PG_SCHEMA_VERSION, OSEC_ESTORE,
                "store schema version %lld is newer than this program (max %d)", (long long)v,
                PG_SCHEMA_VERSION);
    return 0;
}

static int upgrade(struct pg *pg)
{
    char sql[96];
    int64_t v = 0;

    /* Under the lock: serialises instances starting together. */
    OSEC_GUARD(simple(pg, "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK ");"
                      "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);"
                      "INSERT INTO schema_version (version) SELECT 0"
                      " WHERE NOT EXISTS (SELECT 1 FROM schema_version)",
                      "locking the schema"));
    /* Re-read under the lock: another instance may have migrated. */
    OSEC_GUARD(read_version(pg, &v));
    OSEC_GUARD(check_version(v));
    if (v == PG_SCHEMA_VERSION)
        return 0;
    for (int64_t i = v; i < PG_SCHEMA_VERSION; i++)
        OSEC_GUARD(simple(pg, migrations[i], "migrating the schema"));
    OSEC_GUARD(osec_snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
                             PG_SCHEMA_VERSION));
    return simple(pg, sql, "migrating the schema");
}

int osec_pg_migrate(struct pg *pg)
{
    int64_t v = 0;
    int rc;

    OSEC_GUARD(read_version(pg, &v));
    OSEC_GUARD(check_version(v));
    if (v == PG_SCHEMA_VERSION)
        return 0;
    OSEC_GUARD(simple(pg, "BEGIN", "starting the migration"));
    rc = upgrade(pg);
    if (rc == 0)
        rc = simple(pg, "COMMIT", "committing the migration");
    if (rc < 0) {
        PGresult *r = PQexec(pg->c, "ROLLBACK");

        PQclear(r); /* keep the first error; the server rolls back anyway */
    }
    return rc;
}

int osec_pg_schema_check(struct pg *pg)
{
    PGresult *r;
    int64_t v = 0, missing = 0;
    int rc;

    OSEC_GUARD(read_version(pg, &v));
    OSEC_ENSURE(v == PG_SCHEMA_VERSION, OSEC_ESTORE,
                "integrity check failed: schema version %lld, expected %d", (long long)v,
                PG_SCHEMA_VERSION);
    r = PQexecParams(pg->c, PG_CHECK_TABLES, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        rc = failed(r, "integrity check");
    else
        rc = osec_pg_col_i64(r, 0, 0, &missing);
    PQclear(r);
    OSEC_GUARD(rc);
    OSEC_ENSURE(missing == 0, OSEC_ESTORE, "integrity check failed: %lld table(s) missing",
                (long long)missing);
    return 0;
}

#endif
