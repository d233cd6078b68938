/* Unit tests for CPNS Service Groups: the message format (known answer from
 * an independent implementation), the strict parser, every receiver verdict,
 * the replay window, key rotation, the replay state, the group records in
 * the store and the key wrap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omasec/authz.h"
#include "omasec/error.h"
#include "omasec/group.h"
#include "omasec/keys.h"
#include "omasec/util.h"

/* ---- helpers ------------------------------------------------------------ */

static void hex(const char *h, uint8_t *out, size_t n)
{
    assert_int_equal(osec_hex_decode(osec_slice_cstr(h), out, n), 0);
}

/* g1, creator gw-1, epoch 3, key 00..1f, members gw-1 tv-1 watch-1 */
static void sample(struct osec_group *g)
{
    memset(g, 0, sizeof(*g));
    strcpy(g->id, "g1");
    strcpy(g->creator, "gw-1");
    g->epoch = 3;
    for (size_t i = 0; i < OSEC_KEY_LEN; i++)
        g->key[i] = (uint8_t)i;
    g->nmembers = 3;
    strcpy(g->members[0], "gw-1");
    strcpy(g->members[1], "tv-1");
    strcpy(g->members[2], "watch-1");
}

static void build(const struct osec_group *g, const char *sender, uint64_t seq, const char *text,
                  struct osec_buf *out)
{
    osec_buf_reset(out);
    assert_int_equal(osec_group_msg_build(g, sender, seq, osec_slice_cstr(text), out), 0);
}

/* ---- format --------------------------------------------------------------- */

static void known_answer(void **state)
{
    /* computed with python hmac/hashlib from the layout in docs/cpns-protocol.md */
    static const char head[] =
        "4f470100026731000000030777617463682d310000000000000007000568656c6c6f";
    static const char mac[] = "5355de47070b12c5e42547aa25226329";
    static const char kmac_hex[] =
        "2ee71764b421b32de8a4ae2f19722a89193f71ac192327e02ca814d6748a0edb";
    uint8_t want[50], kmac[32], kwant[32];
    struct osec_buf b = OSEC_BUF_INIT(OSEC_GROUP_MSG_MAX);
    struct osec_group g;
    struct osec_group_msg m;
    (void)state;

    sample(&g);
    hex(head, want, 34);
    hex(mac, want + 34, 16);
    build(&g, "watch-1", 7, "hello", &b);
    assert_int_equal(b.len, 50);
    assert_memory_equal(b.data, want, 50);
    assert_int_equal(osec_group_mac_key(&g, kmac), 0);
    hex(kmac_hex, kwant, 32);
    assert_memory_equal(kmac, kwant, 32);
    /* parse round trip */
    assert_int_equal(osec_group_msg_parse(b.data, b.len, &m), 0);
    assert_string_equal(m.group, "g1");
    assert_string_equal(m.sender, "watch-1");
    assert_int_equal(m.epoch, 3);
    assert_int_equal(m.seq, 7);
    assert_true(osec_slice_eq_cstr(m.payload, "hello"));
    assert_int_equal(m.authed.len, 34);
    assert_int_equal(m.mac.len, 16);
    /* builder refusals */
    assert_int_equal(osec_group_msg_build(&g, "eve", 1, osec_slice_cstr("x"), &b), OSEC_EPERM);
    assert_int_equal(osec_group_msg_build(&g, "tv-1", 0, osec_slice_cstr("x"), &b), OSEC_EINVAL);
    osec_buf_free(&b);
}

static void max_sizes(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    static char big[OSEC_GROUP_PAYLOAD_MAX + 2];
    char longname[OSEC_STORE_NAME_MAX + 1];
    struct osec_group g;
    struct osec_group_msg m;
    (void)state;

    sample(&g);
    memset(g.id, 'G', OSEC_GROUP_ID_MAX);
    memset(longname, 'n', OSEC_STORE_NAME_MAX);
    longname[OSEC_STORE_NAME_MAX] = '\0';
    strcpy(g.members[2], longname);
    memset(big, 'p', OSEC_GROUP_PAYLOAD_MAX);
    build(&g, longname, UINT64_MAX, big, &b);
    assert_int_equal(b.len, OSEC_GROUP_MSG_MAX);
    assert_int_equal(osec_group_msg_parse(b.data, b.len, &m), 0);
    assert_int_equal(m.seq, UINT64_MAX);
    assert_int_equal(m.payload.len, OSEC_GROUP_PAYLOAD_MAX);
    big[OSEC_GROUP_PAYLOAD_MAX] = 'p';
    assert_int_equal(osec_group_msg_build(&g, "tv-1", 1, osec_slice_cstr(big), &b), OSEC_EBOUNDS);
    osec_buf_free(&b);
}

/* Rebuild the sample message with one field changed (MAC recomputed or not). */
static void expect_malformed(const uint8_t *d, size_t len)
{
    struct osec_group_msg m;

    assert_int_equal(osec_group_msg_parse(d, len, &m), OSEC_EPARSE);
}

static void parser_is_strict(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(OSEC_GROUP_MSG_MAX + 16);
    struct osec_group g;
    uint8_t d[OSEC_GROUP_MSG_MAX + 16];
    size_t n;
    (void)state;

    sample(&g);
    build(&g, "watch-1", 7, "hello", &b);
    n = b.len; /* layout: 0 magic, 2 ver, 3 flags, 4 glen, 5 "g1", 7 epoch, 11 slen,
                * 12 "watch-1", 19 seq, 27 plen, 29 payload, 34 mac */
#define MUTATE(off, val) do { memcpy(d, b.data, n); d[off] = (val); expect_malformed(d, n); } while (0)
    MUTATE(0, 'X');
    MUTATE(2, 2);             /* version */
    MUTATE(3, 1);             /* flags */
    MUTATE(4, 0);             /* empty group id */
    MUTATE(4, 3);             /* lengths no longer add up */
    MUTATE(5, '/');           /* group id alphabet */
    MUTATE(12, ' ');          /* sender alphabet */
    MUTATE(11, 0);            /* empty sender */
    MUTATE(28, 6);            /* payload length */
    MUTATE(27, 0x04);         /* payload length > 1024 */
#undef MUTATE
    memcpy(d, b.data, n);
    memset(d + 7, 0, 4);      /* epoch 0 */
    expect_malformed(d, n);
    memcpy(d, b.data, n);
    memset(d + 19, 0, 8);     /* seq 0 */
    expect_malformed(d, n);
    memcpy(d, b.data, n);
    d[n] = 0;                 /* trailing byte */
    expect_malformed(d, n + 1);
    expect_malformed(b.data, n - 1);
    expect_malformed(b.data, OSEC_GROUP_MSG_MIN - 1);
    expect_malformed(NULL, 0);
    memset(d, 0, sizeof(d));
    expect_malformed(d, OSEC_GROUP_MSG_MAX + 1);
    osec_buf_free(&b);
}

static void record_encoding(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(16384);
    struct osec_group g, h;
    (void)state;

    sample(&g);
    g.created = 1000;
    g.updated = 2000;
    assert_int_equal(osec_group_encode(&g, &b), 0);
    assert_int_equal(osec_group_decode(osec_buf_slice(&b), &h), 0);
    assert_memory_equal(&g, &h, sizeof(g));
    /* trailing byte, truncation, unsorted members */
    assert_int_equal(osec_buf_putc(&b, 0), 0);
    assert_int_equal(osec_group_decode(osec_buf_slice(&b), &h), OSEC_EPARSE);
    assert_int_equal(osec_group_decode(osec_slice_make(b.data, b.len - 2), &h), OSEC_EPARSE);
    strcpy(g.members[0], "zz-1");
    osec_buf_reset(&b);
    assert_int_equal(osec_group_encode(&g, &b), 0);
    assert_int_equal(osec_group_decode(osec_buf_slice(&b), &h), OSEC_EPARSE);
    osec_buf_free(&b);
}

/* ---- receiver ---------------------------------------------------------------- */

static void every_verdict(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(OSEC_GROUP_MSG_MAX);
    struct osec_group g, other, eve;
    struct osec_group_rx *rx;
    struct osec_group_msg m;
    struct osec_group_counters n;
    (void)state;

    sample(&g);
    assert_int_equal(osec_group_rx_new(&g, &rx), 0);
    build(&g, "tv-1", 1, "one", &b);
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, &m), 0);
    assert_string_equal(m.sender, "tv-1");
    /* replayed */
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, &m), OSEC_EREPLAY);
    /* forged: a flipped payload bit */
    build(&g, "tv-1", 2, "two", &b);
    b.data[27] ^= 1; /* payload "two" starts at 26 */
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, NULL), OSEC_EAUTH);
    /* the genuine seq 2 still passes: a forgery does not move the window */
    b.data[27] ^= 1;
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, NULL), 0);
    /* forged: a different key (wrong epoch key, same epoch number) */
    other = g;
    other.key[0] ^= 0xff;
    build(&other, "tv-1", 3, "x", &b);
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, NULL), OSEC_EAUTH);
    /* non-member: built by someone with the key and a list that names eve */
    eve = g;
    strcpy(eve.members[2], "eve");
    build(&eve, "eve", 1, "hi", &b);
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, NULL), OSEC_EPERM);
    /* another group: forged */
    other = g;
    strcpy(other.id, "g2");
    build(&other, "tv-1", 4, "x", &b);
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, NULL), OSEC_EAUTH);
    /* older epoch: forged; newer: ESTALE, not counted */
    other = g;
    other.epoch = 2;
    build(&other, "tv-1", 5, "x", &b);
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, NULL), OSEC_EAUTH);
    other.epoch = 4;
    build(&other, "tv-1", 6, "x", &b);
    assert_int_equal(osec_group_rx_verify(rx, b.data, b.len, &m), OSEC_ESTALE);
    assert_int_equal(m.epoch, 4);
    /* malformed */
    assert_int_equal(osec_group_rx_verify(rx, (const uint8_t *)"junk", 4, NULL), OSEC_EPARSE);
    n = osec_group_rx_counters(rx);
    assert_int_equal(n.accepted, 2);
    assert_int_equal(n.replayed, 1);
    assert_int_equal(n.forged, 4);
    assert_int_equal(n.nonmember, 1);
    assert_int_equal(n.malformed, 1);
    osec_group_rx_count(rx, OSEC_EAUTH);
    assert_int_equal(osec_group_rx_counters(rx).forged, 5);
    osec_group_rx_free(&rx);
    assert_null(rx);
    osec_buf_free(&b);
}

static int seq_verdict(struct osec_group_rx *rx, const struct osec_group *g, const char *sender,
                       uint64_t seq)
{
    struct osec_buf b = OSEC_BUF_INIT(OSEC_GROUP_MSG_MAX);
    int rc;

    build(g, sender, seq, "w", &b);
    rc = osec_group_rx_verify(rx, b.data, b.len, NULL);
    osec_buf_free(&b);
    return rc;
}

static void replay_window(void **state)
{
    struct osec_group g;
    struct osec_group_rx *rx;
    (void)state;

    sample(&g);
    assert_int_equal(osec_group_rx_new(&g, &rx), 0);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 100), 0);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 36), OSEC_EREPLAY);   /* 64 behind */
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 37), 0);              /* 63 behind */
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 37), OSEC_EREPLAY);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 99), 0);              /* late, in window */
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 100), OSEC_EREPLAY);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 101), 0);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 37), OSEC_EREPLAY);   /* now 64 behind */
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 1000), 0);            /* big jump */
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 101), OSEC_EREPLAY);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 950), 0);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 950), OSEC_EREPLAY);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", UINT64_MAX), 0);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", UINT64_MAX), OSEC_EREPLAY);
    /* windows are per sender */
    assert_int_equal(seq_verdict(rx, &g, "watch-1", 1), 0);
    assert_int_equal(seq_verdict(rx, &g, "gw-1", 1), 0);
    assert_int_equal(seq_verdict(rx, &g, "watch-1", 1), OSEC_EREPLAY);
    assert_int_equal(osec_group_rx_counters(rx).accepted, 9);
    assert_int_equal(osec_group_rx_counters(rx).replayed, 8);
    osec_group_rx_free(&rx);
}

static void rotation(void **state)
{
    struct osec_buf old = OSEC_BUF_INIT(OSEC_GROUP_MSG_MAX);
    struct osec_group g, next, other;
    struct osec_group_rx *rx;
    (void)state;

    sample(&g);
    assert_int_equal(osec_group_rx_new(&g, &rx), 0);
    build(&g, "tv-1", 5, "before", &old);
    assert_int_equal(osec_group_rx_verify(rx, old.data, old.len, NULL), 0);
    /* tv-1 removed: epoch 4, fresh key, members gw-1 watch-1 */
    next = g;
    next.epoch = 4;
    memset(next.key, 0xaa, sizeof(next.key));
    next.nmembers = 2;
    strcpy(next.members[1], "watch-1");
    assert_int_equal(osec_group_rx_rekey(rx, &next), 0);
    assert_int_equal(osec_group_rx_epoch(rx), 4);
    /* the removed member: old key -> forged; new epoch number, old key -> non-member */
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 6), OSEC_EAUTH);
    other = g;
    other.epoch = 4;
    assert_int_equal(seq_verdict(rx, &other, "tv-1", 7), OSEC_EPERM);
    /* an old member's old-key message with its epoch rewritten: bad MAC */
    other.epoch = 4;
    assert_int_equal(seq_verdict(rx, &other, "watch-1", 9), OSEC_EAUTH);
    /* the old epoch's datagram is not replayable, remaining members are */
    assert_int_equal(osec_group_rx_verify(rx, old.data, old.len, NULL), OSEC_EAUTH);
    assert_int_equal(seq_verdict(rx, &next, "watch-1", 1), 0);
    /* rekey rules */
    assert_int_equal(osec_group_rx_rekey(rx, &g), OSEC_ESTALE);
    assert_int_equal(osec_group_rx_rekey(rx, &next), 0);
    assert_int_equal(seq_verdict(rx, &next, "watch-1", 1), OSEC_EREPLAY); /* same epoch: kept */
    other = next;
    strcpy(other.id, "g2");
    other.epoch = 9;
    assert_int_equal(osec_group_rx_rekey(rx, &other), OSEC_EINVAL);
    osec_group_rx_free(&rx);
    osec_buf_free(&old);
}

static void replay_state(void **state)
{
    struct osec_buf s = OSEC_BUF_INIT(16384);
    struct osec_group g, next;
    struct osec_group_rx *rx, *rx2;
    (void)state;

    sample(&g);
    assert_int_equal(osec_group_rx_new(&g, &rx), 0);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 10), 0);
    assert_int_equal(seq_verdict(rx, &g, "tv-1", 8), 0);
    assert_int_equal(seq_verdict(rx, &g, "watch-1", 3), 0);
    assert_int_equal(osec_group_rx_save(rx, &s), 0);
    assert_int_equal(osec_group_rx_new(&g, &rx2), 0);
    assert_int_equal(osec_group_rx_load(rx2, osec_buf_slice(&s)), 0);
    assert_int_equal(seq_verdict(rx2, &g, "tv-1", 8), OSEC_EREPLAY);
    assert_int_equal(seq_verdict(rx2, &g, "tv-1", 10), OSEC_EREPLAY);
    assert_int_equal(seq_verdict(rx2, &g, "tv-1", 9), 0);
    assert_int_equal(seq_verdict(rx2, &g, "watch-1", 3), OSEC_EREPLAY);
    assert_int_equal(seq_verdict(rx2, &g, "gw-1", 1), 0);
    osec_group_rx_free(&rx2);
    /* another epoch's state is ignored; a damaged one refused */
    next = g;
    next.epoch = 4;
    assert_int_equal(osec_group_rx_new(&next, &rx2), 0);
    assert_int_equal(osec_group_rx_load(rx2, osec_buf_slice(&s)), OSEC_ESTALE);
    assert_int_equal(seq_verdict(rx2, &next, "tv-1", 10), 0);
    osec_group_rx_free(&rx2);
    assert_int_equal(osec_group_rx_load(rx, osec_slice_make(s.data, s.len - 1)), OSEC_EPARSE);
    assert_int_equal(osec_group_rx_load(rx, osec_slice_cstr("OGRX")), OSEC_EPARSE);
    osec_group_rx_free(&rx);
    osec_buf_free(&s);
}

/* ---- server side -------------------------------------------------------------- */

struct fx {
    struct osec_store *st;
    struct osec_master *m;
    uint8_t watch_key[32], tv_key[32];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct osec_store_user u;
    uint8_t mk[32], k[32];
    int64_t exp;

    assert_non_null(f);
    memset(mk, 0x42, sizeof(mk));
    assert_int_equal(osec_master_from_bytes(mk, sizeof(mk), 1, &f->m), 0);
    assert_int_equal(osec_store_open("sqlite::memory:", &f->st), 0);
    memset(&u, 0, sizeof(u));
    strcpy(u.name, "alice");
    assert_int_equal(osec_store_user_add(f->st, &u), 0);
    strcpy(u.name, "bob");
    assert_int_equal(osec_store_user_add(f->st, &u), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "gw-1", "gw", "alice", 3600, k, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "watch-1", "pne", "alice", 3600,
                                       f->watch_key, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "tv-1", "pne", "alice", 3600, f->tv_key,
                                       &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "gw-b", "gw", "bob", 3600, k, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "watch-b", "pne", "bob", 3600, k, &exp), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    osec_store_close(&f->st);
    osec_master_free(&f->m);
    free(f);
    return 0;
}

static void who(struct osec_principal *p, const char *entity, const char *user, const char *type)
{
    memset(p, 0, sizeof(*p));
    strcpy(p->entity_id, entity);
    strcpy(p->user, user);
    strcpy(p->type, type);
}

static void create_rules(void **state)
{
    struct fx *f = *state;
    struct osec_principal gw, pne, bobgw;
    const char *ok[] = { "watch-1", "tv-1" };
    const char *foreign[] = { "watch-1", "watch-b" };
    const char *unknown[] = { "ghost" };
    const char *dup[] = { "tv-1", "tv-1" };
    const char *self[] = { "gw-1", "tv-1" };
    static const char *many[OSEC_GROUP_MEMBERS_MAX];
    struct osec_group g;
    char why[256];

    who(&gw, "gw-1", "alice", "gw");
    who(&pne, "watch-1", "alice", "pne");
    who(&bobgw, "gw-b", "bob", "gw");
    assert_int_equal(osec_group_create(f->st, f->m, &pne, "g1", ok, 2, NULL, why, sizeof(why)),
                     OSEC_EPERM);
    assert_non_null(strstr(why, "PN Gateway"));
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", foreign, 2, NULL, why, sizeof(why)),
                     OSEC_EPERM);
    assert_non_null(strstr(why, "watch-b"));
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", unknown, 1, NULL, why, sizeof(why)),
                     OSEC_EPERM);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", dup, 2, NULL, why, sizeof(why)),
                     OSEC_EINVAL);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g/1", ok, 2, NULL, why, sizeof(why)),
                     OSEC_EINVAL);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", ok, 0, NULL, why, sizeof(why)),
                     OSEC_EINVAL);
    for (size_t i = 0; i < OSEC_GROUP_MEMBERS_MAX; i++)
        many[i] = "tv-1";
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", many, OSEC_GROUP_MEMBERS_MAX, NULL,
                                       why, sizeof(why)), OSEC_EBOUNDS);
    /* none of the refusals left a group behind */
    assert_int_equal(osec_group_load(f->st, f->m, "g1", &g), OSEC_ENOTFOUND);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", ok, 2, &g, why, sizeof(why)), 0);
    assert_int_equal(g.epoch, 1);
    assert_int_equal(g.nmembers, 3);
    assert_string_equal(g.members[0], "gw-1");
    assert_string_equal(g.members[1], "tv-1");
    assert_string_equal(g.members[2], "watch-1");
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", ok, 2, NULL, why, sizeof(why)),
                     OSEC_EEXISTS);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g2", self, 2, &g, why, sizeof(why)), 0);
    assert_int_equal(g.nmembers, 2);
    /* a pairing grant lets bob's gateway take alice's watch */
    assert_int_equal(osec_group_create(f->st, f->m, &bobgw, "gb", ok, 1, NULL, why, sizeof(why)),
                     OSEC_EPERM);
    assert_int_equal(osec_store_policy_set(f->st, "authz.pair.bob", "alice"), 0);
    assert_int_equal(osec_group_create(f->st, f->m, &bobgw, "gb", ok, 1, NULL, why, sizeof(why)), 0);
    osec_group_clear(&g);
}

static void key_distribution(void **state)
{
    struct fx *f = *state;
    struct osec_principal gw;
    const char *ok[] = { "watch-1", "tv-1" };
    struct osec_group g, view, stored;
    struct osec_buf w = OSEC_BUF_INIT(256);
    char why[256];

    who(&gw, "gw-1", "alice", "gw");
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", ok, 2, NULL, why, sizeof(why)), 0);
    assert_int_equal(osec_group_load(f->st, f->m, "g1", &stored), 0);
    assert_int_equal(osec_group_key_for(f->st, f->m, "g1", "watch-1", &g, &w), 0);
    assert_int_equal(w.len, OSEC_GROUP_WRAP_LEN);
    /* the member unwraps it with its EUKey and the public facts of the group */
    view = g;
    memset(view.key, 0, sizeof(view.key));
    assert_int_equal(osec_group_unwrap(f->watch_key, &view, "watch-1", w.data, w.len), 0);
    assert_memory_equal(view.key, stored.key, 32);
    /* bound to the member, the EUKey, the epoch and the member list */
    assert_int_equal(osec_group_unwrap(f->tv_key, &view, "watch-1", w.data, w.len), OSEC_EINTEGRITY);
    assert_int_equal(osec_group_unwrap(f->watch_key, &view, "tv-1", w.data, w.len), OSEC_EINTEGRITY);
    view.epoch = 2;
    assert_int_equal(osec_group_unwrap(f->watch_key, &view, "watch-1", w.data, w.len),
                     OSEC_EINTEGRITY);
    view = g;
    strcpy(view.members[1], "tv-2");
    assert_int_equal(osec_group_unwrap(f->watch_key, &view, "watch-1", w.data, w.len),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_group_unwrap(f->watch_key, &g, "watch-1", w.data, w.len - 1),
                     OSEC_EINTEGRITY);
    /* non-members and unknown groups */
    osec_buf_reset(&w);
    assert_int_equal(osec_group_key_for(f->st, f->m, "g1", "watch-b", &g, &w), OSEC_EPERM);
    assert_int_equal(osec_group_key_for(f->st, f->m, "nope", "watch-1", &g, &w), OSEC_ENOTFOUND);
    osec_group_clear(&g);
    osec_group_clear(&stored);
    osec_buf_free(&w);
}

static int count_cb(const struct osec_group *g, void *arg)
{
    for (size_t i = 0; i < sizeof(g->key); i++)
        assert_int_equal(g->key[i], 0);
    (*(int *)arg)++;
    return 0;
}

static void removal_rotates(void **state)
{
    struct fx *f = *state;
    struct osec_principal gw, watch, tv;
    const char *ok[] = { "watch-1", "tv-1" };
    struct osec_group before, after;
    char why[256];
    unsigned n;
    int listed = 0;

    who(&gw, "gw-1", "alice", "gw");
    who(&watch, "watch-1", "alice", "pne");
    who(&tv, "tv-1", "alice", "pne");
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", ok, 2, NULL, why, sizeof(why)), 0);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g2", ok + 1, 1, NULL, why, sizeof(why)),
                     0);
    assert_int_equal(osec_group_load(f->st, f->m, "g1", &before), 0);
    assert_int_equal(osec_group_remove(f->st, f->m, &watch, "g1", "tv-1", NULL, why, sizeof(why)),
                     OSEC_EPERM);
    assert_int_equal(osec_group_remove(f->st, f->m, &gw, "g1", "gw-1", NULL, why, sizeof(why)),
                     OSEC_EPERM);
    assert_non_null(strstr(why, "creator"));
    assert_int_equal(osec_group_remove(f->st, f->m, &gw, "g1", "tv-1", &after, why, sizeof(why)), 0);
    assert_int_equal(after.epoch, 2);
    assert_int_equal(after.nmembers, 2);
    assert_false(osec_group_is_member(&after, "tv-1"));
    assert_memory_not_equal(after.key, before.key, 32);
    assert_int_equal(osec_group_key_for(f->st, f->m, "g1", "tv-1", &after, NULL), OSEC_EPERM);
    assert_int_equal(osec_group_remove(f->st, f->m, &gw, "g1", "tv-1", NULL, why, sizeof(why)),
                     OSEC_ENOTFOUND);
    assert_int_equal(osec_group_remove(f->st, f->m, &gw, "zz", "tv-1", NULL, why, sizeof(why)),
                     OSEC_ENOTFOUND);
    /* a member leaves by itself */
    assert_int_equal(osec_group_remove(f->st, f->m, &watch, "g1", "watch-1", &after, why,
                                       sizeof(why)), 0);
    assert_int_equal(after.epoch, 3);
    /* lists: tv-1 is in g2 only; revocation purges it from there */
    assert_int_equal(osec_group_list(f->st, f->m, "tv-1", count_cb, &listed), 0);
    assert_int_equal(listed, 1);
    assert_int_equal(osec_group_purge_entity(f->st, f->m, "tv-1", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(osec_group_load(f->st, f->m, "g2", &after), 0);
    assert_int_equal(after.epoch, 2);
    assert_false(osec_group_is_member(&after, "tv-1"));
    listed = 0;
    assert_int_equal(osec_group_list(f->st, f->m, "tv-1", count_cb, &listed), 0);
    assert_int_equal(listed, 0);
    listed = 0;
    assert_int_equal(osec_group_list(f->st, f->m, "gw-1", count_cb, &listed), 0);
    assert_int_equal(listed, 2);
    osec_group_clear(&before);
    osec_group_clear(&after);
}

static void records_are_sealed(void **state)
{
    struct fx *f = *state;
    struct osec_principal gw;
    const char *ok[] = { "watch-1" };
    struct osec_store_blob a = { NULL, 0 };
    struct osec_group g;
    char why[256];

    who(&gw, "gw-1", "alice", "gw");
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "ga", ok, 1, NULL, why, sizeof(why)), 0);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "gb", ok, 1, NULL, why, sizeof(why)), 0);
    /* a record moved under another group's name does not open */
    assert_int_equal(osec_store_meta_get(f->st, "group/ga", &a), 0);
    assert_int_equal(osec_store_meta_set(f->st, "group/gb", a.data, a.len), 0);
    assert_int_equal(osec_group_load(f->st, f->m, "gb", &g), OSEC_EINTEGRITY);
    a.data[a.len - 1] ^= 1;
    assert_int_equal(osec_store_meta_set(f->st, "group/ga", a.data, a.len), 0);
    assert_int_equal(osec_group_load(f->st, f->m, "ga", &g), OSEC_EINTEGRITY);
    osec_store_blob_free(&a);
}

static void create_body(void **state)
{
    struct osec_group g;
    static const char *bad[] = {
        "", "[]", "{}", "{\"group\":\"g1\"}", "{\"members\":[\"a\"]}",
        "{\"group\":\"g1\",\"members\":[]}", "{\"group\":\"g1\",\"members\":\"a\"}",
        "{\"group\":\"g1\",\"members\":[1]}", "{\"group\":\"g 1\",\"members\":[\"a\"]}",
        "{\"group\":\"g1\",\"members\":[\"a/b\"]}", "{\"group\":\"g1\",\"members\":[\"a\"],\"x\":1}",
        "{\"group\":\"g1\",\"group\":\"g2\",\"members\":[\"a\"]}",
        "{\"group\":\"g1\",\"members\":[\"a\"]} x", "{\"group\":\"g\\u0000\",\"members\":[\"a\"]}",
    };
    (void)state;

    assert_int_equal(osec_group_parse_create(
        osec_slice_cstr("{\"group\":\"g1\",\"members\":[\"watch-1\",\"tv-1\"]}"), &g), 0);
    assert_string_equal(g.id, "g1");
    assert_int_equal(g.nmembers, 2);
    assert_string_equal(g.members[1], "tv-1");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(osec_group_parse_create(osec_slice_cstr(bad[i]), &g), OSEC_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answer),
        cmocka_unit_test(max_sizes),
        cmocka_unit_test(parser_is_strict),
        cmocka_unit_test(record_encoding),
        cmocka_unit_test(every_verdict),
        cmocka_unit_test(replay_window),
        cmocka_unit_test(rotation),
        cmocka_unit_test(replay_state),
        cmocka_unit_test_setup_teardown(create_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(key_distribution, setup, teardown),
        cmocka_unit_test_setup_teardown(removal_rotates, setup, teardown),
        cmocka_unit_test_setup_teardown(records_are_sealed, setup, teardown),
        cmocka_unit_test(create_body),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
