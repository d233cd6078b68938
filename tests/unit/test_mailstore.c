/* Unit tests for the message store section of the store (lib/store/store_mail.c
 * with sqlite_mail.c and pg_mail.c): every test runs on SQLite, then once more
 * on PostgreSQL when $OSEC_TEST_PG_URL names a server (make check). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/store.h"
#include "helpers/pgtest.h"

struct fx {
    char dir[64];
    char url[512];
    struct osec_store *st;
};

/* Set while the PostgreSQL run is going on: this process's database. */
static char pg_db_url[512];

static void add_user(struct osec_store *st, const char *name)
{
    struct osec_store_user u;

    memset(&u, 0, sizeof(u));
    (void)osec_strlcpy(u.name, name, sizeof(u.name));
    assert_int_equal(osec_store_user_add(st, &u), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    (void)osec_strlcpy(f->dir, "/tmp/osec-mailstore-XXXXXX", sizeof(f->dir));
    assert_non_null(mkdtemp(f->dir));
    if (pg_db_url[0]) {
        osec_test_pg_reset(pg_db_url);
        (void)osec_strlcpy(f->url, pg_db_url, sizeof(f->url));
    } else {
        (void)osec_snprintf(f->url, sizeof(f->url), "sqlite:%s/t.db", f->dir);
    }
    assert_int_equal(osec_store_open(f->url, &f->st), 0);
    add_user(f->st, "alice");
    add_user(f->st, "bob");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    osec_store_close(&f->st);
    (void)osec_snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Insert one message (own transaction) and return its UID. */
static uint32_t put(struct osec_store *st, int64_t mb, const char *body, uint32_t flags)
{
    struct osec_store_msg m;

    memset(&m, 0, sizeof(m));
    assert_int_equal(osec_store_begin(st), 0);
    assert_int_equal(osec_store_msg_next_uid(st, mb, &m.uid, &m.modseq), 0);
    m.mailbox_id = mb;
    m.flags = flags;
    m.internaldate = 1000;
    m.size = strlen(body);
    m.body.data = (uint8_t *)(uintptr_t)body;
    m.body.len = strlen(body);
    assert_int_equal(osec_store_msg_insert(st, &m), 0);
    assert_int_equal(osec_store_commit(st), 0);
    return m.uid;
}

static void mailboxes(void **state)
{
    struct fx *f = *state;
    struct osec_store_mailbox a, b, c;
    char key[OSEC_STORE_ACLKEY_MAX];

    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "INBOX", 77, &a), 0);
    assert_int_equal(a.uidvalidity, 77);
    assert_int_equal(a.uidnext, 1);
    assert_string_equal(a.owner, "alice");
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "INBOX", 78, NULL), OSEC_EEXISTS);
    assert_int_equal(osec_store_mailbox_create(f->st, "bob", "INBOX", 78, &b), 0);
    assert_int_equal(osec_store_mailbox_create(f->st, "nobody", "INBOX", 1, NULL), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "x", 0, NULL), OSEC_EINVAL);
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "a\nb", 1, NULL), OSEC_EINVAL);
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "", 1, NULL), OSEC_EINVAL);
    assert_int_equal(osec_store_mailbox_get(f->st, "alice", "INBOX", &c), 0);
    assert_int_equal(c.id, a.id);
    assert_int_equal(osec_store_mailbox_get_id(f->st, b.id, &c), 0);
    assert_string_equal(c.owner, "bob");
    assert_int_equal(osec_store_mailbox_get(f->st, "alice", "Nope", &c), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailbox_get(f->st, "alice", "INBOX", NULL), 0); /* exists? */
    assert_int_equal(osec_store_mailbox_get(f->st, "alice", "Nope", NULL), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailbox_get_id(f->st, a.id, NULL), 0);
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "Work", 5, &c), 0);
    assert_int_equal(osec_store_mailbox_rename(f->st, c.id, "INBOX"), OSEC_EEXISTS);
    assert_int_equal(osec_store_mailbox_rename(f->st, c.id, "Jobs"), 0);
    assert_int_equal(osec_store_mailbox_get(f->st, "alice", "Jobs", &b), 0);
    assert_int_equal(b.id, c.id);
    assert_true(b.modseq > c.modseq);
    assert_int_equal(osec_store_mailbox_rename(f->st, 9999, "X"), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailbox_acl_key(c.id, key, sizeof(key)), 0);
    assert_int_equal(strncmp(key, "mbox:", 5), 0);
    assert_int_equal(osec_store_mailbox_acl_key(0, key, sizeof(key)), OSEC_EINVAL);
}

static int count_cb(const struct osec_store_mailbox *mb, void *arg)
{
    char *names = arg;

    (void)osec_strlcpy(names + strlen(names), mb->name, 256 - strlen(names));
    (void)osec_strlcpy(names + strlen(names), ",", 256 - strlen(names));
    return 0;
}

static void delete_and_ids(void **state)
{
    struct fx *f = *state;
    struct osec_store_mailbox a, b;
    struct osec_store_acl e, got;
    struct osec_store_blob v;
    char names[256] = "";

    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "B", 1, &a), 0);
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "A", 1, NULL), 0);
    (void)put(f->st, a.id, "hello", 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(osec_store_mailbox_acl_key(a.id, e.mailbox, sizeof(e.mailbox)), 0);
    (void)osec_strlcpy(e.identifier, "bob", sizeof(e.identifier));
    (void)osec_strlcpy(e.rights, "lr", sizeof(e.rights));
    assert_int_equal(osec_store_acl_set(f->st, &e), 0);
    assert_int_equal(osec_store_mailmeta_set(f->st, a.id, "", "/shared/x", (const uint8_t *)"1", 1), 0);
    assert_int_equal(osec_store_mailbox_list(f->st, "alice", count_cb, names), 0);
    assert_string_equal(names, "A,B,");
    assert_int_equal(osec_store_mailbox_delete(f->st, a.id), 0);
    assert_int_equal(osec_store_mailbox_delete(f->st, a.id), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_acl_get(f->st, e.mailbox, "bob", &got), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailmeta_get(f->st, a.id, "", "/shared/x", &v), OSEC_ENOTFOUND);
    /* a new mailbox of the same name gets a new id: nothing inherited */
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "B", 2, &b), 0);
    assert_true(b.id > a.id);
    /* deleting the user takes its mailboxes along */
    assert_int_equal(osec_store_user_del(f->st, "alice"), 0);
    assert_int_equal(osec_store_mailbox_get_id(f->st, b.id, &a), OSEC_ENOTFOUND);
}

struct seen {
    uint32_t uids[16];
    size_t n;
    size_t body_len;
    struct osec_store *st;
    int write_rc;
};

static int msg_cb(const struct osec_store_msg *m, void *arg)
{
    struct seen *s = arg;

    s->uids[s->n++] = m->uid;
    s->body_len += m->body.len;
    if (s->st) /* writes from inside a listing are refused */
        s->write_rc = osec_store_msg_delete(s->st, m->mailbox_id, m->uid);
    return 0;
}

static void messages(void **state)
{
    struct fx *f = *state;
    struct osec_store_mailbox mb;
    struct osec_store_msg_query q = { 1, UINT32_MAX, 0, true };
    struct seen s;
    uint64_t n = 0, unseen = 0, ms = 0, ms2 = 0;
    uint32_t uid;

    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "INBOX", 9, &mb), 0);
    assert_int_equal(osec_store_msg_next_uid(f->st, mb.id, &uid, &ms), OSEC_EINVAL); /* no tx */
    assert_int_equal(put(f->st, mb.id, "one", 0), 1);
    assert_int_equal(put(f->st, mb.id, "two!", 8), 2);
    assert_int_equal(put(f->st, mb.id, "three", 0), 3);
    memset(&s, 0, sizeof(s));
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, msg_cb, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.body_len, 12);
    memset(&s, 0, sizeof(s));
    q.lo = 2;
    q.hi = 2;
    q.with_body = false;
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, msg_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.body_len, 0);
    assert_int_equal(osec_store_mailbox_counts(f->st, mb.id, 8, &n, &unseen), 0);
    assert_int_equal(n, 3);
    assert_int_equal(unseen, 2);
    /* flags and CONDSTORE */
    assert_int_equal(osec_store_msg_set_flags(f->st, mb.id, 1, 8, "$Work", 0, &ms), 0);
    assert_int_equal(osec_store_msg_set_flags(f->st, mb.id, 1, 0, "", ms - 1, &ms2), OSEC_ESTALE);
    assert_int_equal(osec_store_msg_set_flags(f->st, mb.id, 1, 0, "", ms, &ms2), 0);
    assert_true(ms2 > ms);
    assert_int_equal(osec_store_msg_set_flags(f->st, mb.id, 99, 0, "", 0, NULL), OSEC_ENOTFOUND);
    memset(&s, 0, sizeof(s));
    q.lo = 1;
    q.hi = UINT32_MAX;
    q.changedsince = ms;
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, msg_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.uids[0], 1);
    /* expunge */
    memset(&s, 0, sizeof(s));
    s.st = f->st;
    q.changedsince = 0;
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, msg_cb, &s), 0);
    assert_int_equal(s.write_rc, OSEC_EBUSY);
    assert_int_equal(osec_store_msg_delete(f->st, mb.id, 2), 0);
    assert_int_equal(osec_store_msg_delete(f->st, mb.id, 2), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailbox_get_id(f->st, mb.id, &mb), 0);
    assert_int_equal(mb.uidnext, 4);
    assert_true(mb.modseq > ms2);
    assert_int_equal(put(f->st, mb.id, "four", 0), 4); /* UIDs never reused */
}

static int shared_cb(const struct osec_store_mailbox *mb, void *arg)
{
    return count_cb(mb, arg);
}

static void shared_listing(void **state)
{
    struct fx *f = *state;
    struct osec_store_mailbox a, b, c;
    struct osec_store_acl e;
    char names[256] = "";

    add_user(f->st, "carol");
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "A", 1, &a), 0);
    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "B", 1, &b), 0);
    assert_int_equal(osec_store_mailbox_create(f->st, "carol", "C", 1, &c), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(osec_store_mailbox_acl_key(a.id, e.mailbox, sizeof(e.mailbox)), 0);
    (void)osec_strlcpy(e.identifier, "bob", sizeof(e.identifier));
    (void)osec_strlcpy(e.rights, "lr", sizeof(e.rights));
    assert_int_equal(osec_store_acl_set(f->st, &e), 0);
    assert_int_equal(osec_store_mailbox_acl_key(b.id, e.mailbox, sizeof(e.mailbox)), 0);
    (void)osec_strlcpy(e.identifier, "-bob", sizeof(e.identifier));
    assert_int_equal(osec_store_acl_set(f->st, &e), 0);
    assert_int_equal(osec_store_mailbox_acl_key(c.id, e.mailbox, sizeof(e.mailbox)), 0);
    (void)osec_strlcpy(e.identifier, "anyone", sizeof(e.identifier));
    assert_int_equal(osec_store_acl_set(f->st, &e), 0);
    assert_int_equal(osec_store_mailbox_list_shared(f->st, "bob", shared_cb, names), 0);
    assert_string_equal(names, "A,C,");
    names[0] = '\0';
    /* a user's own mailboxes are not "shared with" it */
    assert_int_equal(osec_store_mailbox_list_shared(f->st, "carol", shared_cb, names), 0);
    assert_string_equal(names, "");
}

static int sub_cb(const char *name, void *arg)
{
    char *names = arg;

    (void)osec_strlcpy(names + strlen(names), name, 256 - strlen(names));
    (void)osec_strlcpy(names + strlen(names), ",", 256 - strlen(names));
    return 0;
}

static void metadata_and_subscriptions(void **state)
{
    struct fx *f = *state;
    struct osec_store_blob v = { NULL, 0 };
    char names[256] = "";

    assert_int_equal(osec_store_mailmeta_set(f->st, 0, "alice", "/private/a", (const uint8_t *)"x", 1), 0);
    assert_int_equal(osec_store_mailmeta_set(f->st, 0, "alice", "/private/a", (const uint8_t *)"yz", 2), 0);
    assert_int_equal(osec_store_mailmeta_get(f->st, 0, "alice", "/private/a", &v), 0);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.data, "yz", 2);
    osec_store_blob_free(&v);
    assert_int_equal(osec_store_mailmeta_get(f->st, 0, "bob", "/private/a", &v), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailmeta_set(f->st, 0, "alice", "/private/a", NULL, 0), 0);
    assert_int_equal(osec_store_mailmeta_get(f->st, 0, "alice", "/private/a", &v), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_mailmeta_set(f->st, 0, "alice", "", (const uint8_t *)"x", 1), OSEC_EINVAL);
    assert_int_equal(osec_store_mailsub_set(f->st, "alice", "b", true), 0);
    assert_int_equal(osec_store_mailsub_set(f->st, "alice", "a", true), 0);
    assert_int_equal(osec_store_mailsub_set(f->st, "alice", "a", true), 0);
    assert_int_equal(osec_store_mailsub_set(f->st, "alice", "c", true), 0);
    assert_int_equal(osec_store_mailsub_set(f->st, "alice", "c", false), 0);
    assert_int_equal(osec_store_mailsub_list(f->st, "alice", sub_cb, names), 0);
    assert_string_equal(names, "a,b,");
}

static void not_sqlite_memory(void **state)
{
    struct osec_store *st = NULL;
    struct osec_store_mailbox mb;

    (void)state;
    /* the in-memory database gets the same schema */
    assert_int_equal(osec_store_open("sqlite::memory:", &st), 0);
    add_user(st, "u");
    assert_int_equal(osec_store_mailbox_create(st, "u", "INBOX", 3, &mb), 0);
    osec_store_close(&st);
    assert_int_equal(osec_store_mailbox_get(NULL, "u", "INBOX", &mb), OSEC_EINVAL);
}

/* ---- paging and concurrency ------------------------------------------------ */

struct walk {
    uint32_t next;   /* UID expected next */
    size_t n, bytes;
    size_t stop_at;  /* stop after this many rows (0: never) */
};

static int walk_cb(const struct osec_store_msg *m, void *arg)
{
    struct walk *w = arg;

    assert_int_equal(m->uid, w->next);
    w->next++;
    w->bytes += m->body.len;
    if (m->body.len)
        assert_int_equal(m->body.data[0], 'm');
    return ++w->n == w->stop_at ? 1 : 0;
}

/* More messages than one page of a PostgreSQL listing, with and without
 * bodies, a range in the middle and a callback that stops early. */
static void long_listing(void **state)
{
    struct fx *f = *state;
    struct osec_store_mailbox mb;
    struct osec_store_msg_query q = { 1, UINT32_MAX, 0, true };
    struct walk w;

    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "Big", 1, &mb), 0);
    for (int i = 0; i < 600; i++)
        (void)put(f->st, mb.id, "message body", 0);
    memset(&w, 0, sizeof(w));
    w.next = 1;
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, walk_cb, &w), 0);
    assert_int_equal(w.n, 600);
    assert_int_equal(w.bytes, 600 * strlen("message body"));
    memset(&w, 0, sizeof(w));
    w.next = 1;
    q.with_body = false;
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, walk_cb, &w), 0);
    assert_int_equal(w.n, 600);
    assert_int_equal(w.bytes, 0);
    memset(&w, 0, sizeof(w));
    w.next = 250;
    q.lo = 250;
    q.hi = 530;
    q.with_body = true;
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, walk_cb, &w), 0);
    assert_int_equal(w.n, 281);
    memset(&w, 0, sizeof(w));
    w.next = 250;
    w.stop_at = 40;
    assert_int_equal(osec_store_msg_list(f->st, mb.id, &q, walk_cb, &w), 0);
    assert_int_equal(w.n, 40);
}

struct appender {
    const char *url;
    int64_t mb;
    uint32_t uids[100];
    int rc;
};

static void *append_many(void *arg)
{
    struct appender *a = arg;
    struct osec_store *st = NULL;

    a->rc = osec_store_open(a->url, &st);
    for (int i = 0; i < 100 && a->rc == 0; i++)
        a->uids[i] = put(st, a->mb, "m", 0);
    osec_store_close(&st);
    return NULL;
}

/* Two handles (two instances of cpm-msgstored, or two workers) appending
 * to one mailbox at once: every UID handed out once, none skipped. */
static void concurrent_appends(void **state)
{
    struct fx *f = *state;
    struct osec_store_mailbox mb;
    struct appender a[2];
    pthread_t th[2];
    bool seen[201];
    uint64_t n = 0;

    assert_int_equal(osec_store_mailbox_create(f->st, "alice", "INBOX", 1, &mb), 0);
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < 2; i++) {
        memset(&a[i], 0, sizeof(a[i]));
        a[i].url = f->url;
        a[i].mb = mb.id;
        assert_int_equal(pthread_create(&th[i], NULL, append_many, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(a[i].rc, 0);
        for (int j = 0; j < 100; j++) {
            assert_true(a[i].uids[j] >= 1 && a[i].uids[j] <= 200);
            assert_false(seen[a[i].uids[j]]);
            seen[a[i].uids[j]] = true;
        }
    }
    assert_int_equal(osec_store_mailbox_counts(f->st, mb.id, 0, &n, NULL), 0);
    assert_int_equal(n, 200);
    assert_int_equal(osec_store_mailbox_get_id(f->st, mb.id, &mb), 0);
    assert_int_equal(mb.uidnext, 201);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mailboxes, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(messages, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(metadata_and_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(long_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_appends, setup, teardown),
        cmocka_unit_test(not_sqlite_memory),
    };
    int failed = cmocka_run_group_tests_name("mailstore_sqlite", tests, NULL, NULL);

    /* the last test opens SQLite itself: not part of the PostgreSQL run */
    failed += osec_test_pg_run("mailstore_postgresql", tests,
                               sizeof(tests) / sizeof(tests[0]) - 1, "osec_mailstore",
                               pg_db_url, sizeof(pg_db_url));
    return failed;
}
