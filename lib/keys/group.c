/* CPNS Service Groups: group records and key distribution (server), the
 * group message format, the receiver's verdicts, and the device side. */
#include "omasec/group.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/account.h"
#include "omasec/cpns_client.h"
#include "omasec/devstate.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/pn.h"
#include "omasec/util.h"

#define PURPOSE "group"
#define PURPOSE_INDEX "group-index"
#define META_PREFIX "group/"
#define INDEX_PREFIX "gm/"
#define WRAP_INFO "omasec/v1/group-wrap"
#define MAC_INFO "omasec/v1/group-mac"
#define REC_VERSION 1
#define REC_MAX 16384
#define DEV_KEY "grpkey-"
#define DEV_TX "grptx-"
#define DEV_RX "grprx-"
#define RX_MAGIC "OGRX"

/* ---- basics ------------------------------------------------------------ */

void osec_group_clear(struct osec_group *g)
{
    osec_wipe(g, sizeof(*g));
}

static bool name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
}

/* The entity-id alphabet, without recording an error (parsers say why). */
static bool name_ok(struct osec_slice s, size_t max)
{
    if (s.len < 1 || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!name_char(s.ptr[i]))
            return false;
    return true;
}

int osec_group_id_valid(const char *id)
{
    OSEC_ENSURE(name_ok(osec_slice_cstr(id), OSEC_GROUP_ID_MAX), OSEC_EINVAL,
                "a group id is 1..%d characters of [A-Za-z0-9._@+-]", OSEC_GROUP_ID_MAX);
    return 0;
}

static int member_index(const struct osec_group *g, struct osec_slice name)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (osec_slice_eq_cstr(name, g->members[i]))
            return (int)i;
    return -1;
}

bool osec_group_is_member(const struct osec_group *g, const char *entity)
{
    return member_index(g, osec_slice_cstr(entity)) >= 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Sort the members; a duplicate is OSEC_EINVAL (it would be a second window). */
static int normalise(struct osec_group *g)
{
    qsort(g->members, g->nmembers, sizeof(g->members[0]), cmp_names);
    for (size_t i = 1; i < g->nmembers; i++)
        OSEC_ENSURE(strcmp(g->members[i - 1], g->members[i]) != 0, OSEC_EINVAL,
                    "member %s listed twice", g->members[i]);
    return 0;
}

/* ---- canonical encoding -------------------------------------------------- */

static int put_name(struct osec_buf *b, const char *s)
{
    size_t n = strlen(s);

    OSEC_ENSURE(n >= 1 && n <= 255, OSEC_EBOUNDS, "name of %zu bytes", n);
    OSEC_GUARD(osec_buf_append_u8(b, (uint8_t)n));
    return osec_buf_append(b, s, n);
}

static int put_members(struct osec_buf *b, const struct osec_group *g)
{
    OSEC_ENSURE(g->nmembers <= OSEC_GROUP_MEMBERS_MAX, OSEC_EBOUNDS, "too many members");
    OSEC_GUARD(osec_buf_append_u8(b, (uint8_t)g->nmembers));
    for (size_t i = 0; i < g->nmembers; i++)
        OSEC_GUARD(put_name(b, g->members[i]));
    return 0;
}

/* u8 version | name id | name creator | u32 epoch | u64 created | u64 updated |
 * key[32] | u8 n | name member * n   (name = u8 len | bytes) */
int osec_group_encode(const struct osec_group *g, struct osec_buf *out)
{
    OSEC_GUARD(osec_buf_append_u8(out, REC_VERSION));
    OSEC_GUARD(put_name(out, g->id));
    OSEC_GUARD(put_name(out, g->creator));
    OSEC_GUARD(osec_buf_append_u32be(out, g->epoch));
    OSEC_GUARD(osec_buf_append_u64be(out, (uint64_t)g->created));
    OSEC_GUARD(osec_buf_append_u64be(out, (uint64_t)g->updated));
    OSEC_GUARD(osec_buf_append(out, g->key, OSEC_KEY_LEN));
    return put_members(out, g);
}

/* A length-prefixed name; any defect is OSEC_EPARSE. */
static int get_name(struct osec_cursor *c, size_t max, char *out, size_t outlen)
{
    struct osec_slice s;
    uint8_t n;

    OSEC_ENSURE(osec_cursor_read_u8(c, &n) == 0 && osec_cursor_read_bytes(c, n, &s) == 0,
                OSEC_EPARSE, "truncated name");
    OSEC_ENSURE(name_ok(s, max) && s.len < outlen, OSEC_EPARSE, "invalid name");
    return osec_slice_to_cstr(s, out, outlen);
}

static int get_members(struct osec_cursor *c, struct osec_group *g)
{
    uint8_t n;

    OSEC_ENSURE(osec_cursor_read_u8(c, &n) == 0 && n <= OSEC_GROUP_MEMBERS_MAX, OSEC_EPARSE,
                "bad member count");
    g->nmembers = n;
    for (size_t i = 0; i < g->nmembers; i++) {
        OSEC_GUARD(get_name(c, OSEC_STORE_NAME_MAX, g->members[i], sizeof(g->members[i])));
        OSEC_ENSURE(i == 0 || strcmp(g->members[i - 1], g->members[i]) < 0, OSEC_EPARSE,
                    "members not in canonical order");
    }
    return 0;
}

static int decode_fields(struct osec_cursor *c, struct osec_group *g)
{
    uint64_t created, updated;
    uint8_t v;

    OSEC_ENSURE(osec_cursor_read_u8(c, &v) == 0 && v == REC_VERSION, OSEC_EPARSE,
                "unknown group record version");
    OSEC_GUARD(get_name(c, OSEC_GROUP_ID_MAX, g->id, sizeof(g->id)));
    OSEC_GUARD(get_name(c, OSEC_STORE_NAME_MAX, g->creator, sizeof(g->creator)));
    OSEC_ENSURE(osec_cursor_read_u32be(c, &g->epoch) == 0 && g->epoch >= 1 &&
                osec_cursor_read_u64be(c, &created) == 0 &&
                osec_cursor_read_u64be(c, &updated) == 0 &&
                osec_cursor_copy(c, g->key, OSEC_KEY_LEN) == 0, OSEC_EPARSE,
                "truncated group record");
    OSEC_ENSURE(created <= INT64_MAX && updated <= INT64_MAX, OSEC_EPARSE, "bad time");
    g->created = (int64_t)created;
    g->updated = (int64_t)updated;
    OSEC_GUARD(get_members(c, g));
    OSEC_ENSURE(osec_cursor_eof(c), OSEC_EPARSE, "trailing bytes after group record");
    return 0;
}

int osec_group_decode(struct osec_slice in, struct osec_group *g)
{
    struct osec_cursor c;
    int rc;

    memset(g, 0, sizeof(*g));
    osec_cursor_init(&c, in.ptr, in.len);
    rc = decode_fields(&c, g);
    if (rc < 0)
        osec_group_clear(g);
    return rc;
}

/* ---- sealed records in the meta table ----------------------------------- */

static int meta_name(const char *id, char name[OSEC_STORE_NAME_MAX + 1])
{
    OSEC_GUARD(osec_group_id_valid(id));
    return osec_snprintf(name, OSEC_STORE_NAME_MAX + 1, "%s%s", META_PREFIX, id);
}

/* "gm/" + base64url of the first 16 bytes of SHA-256(entity): entity ids
 * are up to 128 bytes, meta names too, so the name is a digest. */
static int index_name(const char *entity, char name[OSEC_STORE_NAME_MAX + 1])
{
    struct osec_slice part = osec_slice_cstr(entity);
    struct osec_buf b;
    uint8_t h[32];
    int rc;

    osec_buf_init(&b, OSEC_STORE_NAME_MAX);
    OSEC_CHECK(rc, osec_hash(OSEC_HASH_SHA256, &part, 1, h));
    OSEC_CHECK(rc, osec_buf_append_str(&b, INDEX_PREFIX));
    OSEC_CHECK(rc, osec_b64url_encode(h, 16, &b));
    rc = osec_strlcpy(name, osec_buf_cstr(&b), OSEC_STORE_NAME_MAX + 1);
out:
    osec_buf_free(&b);
    return rc;
}

static int seal_put(struct osec_store *st, const struct osec_master *m, const char *purpose,
                    const char *name, const char *aad, struct osec_buf *pt)
{
    struct osec_buf sealed;
    int rc;

    osec_buf_init(&sealed, OSEC_STORE_BLOB_MAX);
    OSEC_CHECK(rc, osec_seal(m, purpose, (const uint8_t *)aad, strlen(aad), pt->data, pt->len,
                             &sealed));
    rc = osec_store_meta_set(st, name, sealed.data, sealed.len);
out:
    osec_buf_free(&sealed);
    return rc;
}

/* pt: a secret buffer.  OSEC_ENOTFOUND when absent. */
static int seal_get(struct osec_store *st, const struct osec_master *m, const char *purpose,
                    const char *name, const char *aad, struct osec_buf *pt)
{
    struct osec_store_blob blob = { NULL, 0 };
    int rc = osec_store_meta_get(st, name, &blob);

    if (rc == 0)
        rc = osec_unseal(m, purpose, (const uint8_t *)aad, strlen(aad), blob.data, blob.len,
                         pt);
    osec_store_blob_free(&blob);
    return rc;
}

int osec_group_load(struct osec_store *st, const struct osec_master *m, const char *id,
                    struct osec_group *out)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf pt;
    int rc;

    memset(out, 0, sizeof(*out));
    OSEC_GUARD(meta_name(id, name));
    osec_buf_init_secret(&pt, REC_MAX);
    OSEC_CHECK(rc, seal_get(st, m, PURPOSE, name, name, &pt));
    rc = osec_group_decode(osec_buf_slice(&pt), out);
    if (rc == 0 && strcmp(out->id, id) != 0)
        rc = OSEC_EPARSE;
    if (rc == OSEC_EPARSE)
        OSEC_FAIL(rc, OSEC_EINTEGRITY, "group record %s is malformed", id);
out:
    osec_buf_free(&pt);
    return rc;
}

static int group_store(struct osec_store *st, const struct osec_master *m,
                       const struct osec_group *g)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf pt;
    int rc;

    OSEC_GUARD(meta_name(g->id, name));
    osec_buf_init_secret(&pt, REC_MAX);
    OSEC_CHECK(rc, osec_group_encode(g, &pt));
    rc = seal_put(st, m, PURPOSE, name, name, &pt);
out:
    osec_buf_free(&pt);
    return rc;
}

/* ---- per-entity index of group ids --------------------------------------- */

struct index {
    size_t n;
    char ids[OSEC_GROUP_PER_ENTITY_MAX][OSEC_GROUP_ID_MAX + 1];
};

static int index_parse(struct osec_slice in, struct index *ix)
{
    struct osec_cursor c;
    uint8_t v, n;

    osec_cursor_init(&c, in.ptr, in.len);
    OSEC_ENSURE(osec_cursor_read_u8(&c, &v) == 0 && v == REC_VERSION &&
                osec_cursor_read_u8(&c, &n) == 0 && n <= OSEC_GROUP_PER_ENTITY_MAX,
                OSEC_EINTEGRITY, "malformed group index");
    ix->n = n;
    for (size_t i = 0; i < ix->n; i++)
        if (get_name(&c, OSEC_GROUP_ID_MAX, ix->ids[i], sizeof(ix->ids[i])) < 0)
            OSEC_BAIL(OSEC_EINTEGRITY, "malformed group index");
    OSEC_ENSURE(osec_cursor_eof(&c), OSEC_EINTEGRITY, "malformed group index");
    return 0;
}

static int index_load(struct osec_store *st, const struct osec_master *m, const char *entity,
                      struct index *ix)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf pt;
    int rc;

    ix->n = 0;
    OSEC_GUARD(index_name(entity, name));
    osec_buf_init(&pt, REC_MAX);
    rc = seal_get(st, m, PURPOSE_INDEX, name, entity, &pt);
    if (rc == OSEC_ENOTFOUND)
        rc = 0;
    else if (rc == 0)
        rc = index_parse(osec_buf_slice(&pt), ix);
    osec_buf_free(&pt);
    return rc;
}

static int index_store(struct osec_store *st, const struct osec_master *m, const char *entity,
                       const struct index *ix)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf pt;
    int rc;

    OSEC_GUARD(index_name(entity, name));
    osec_buf_init(&pt, REC_MAX);
    OSEC_CHECK(rc, osec_buf_append_u8(&pt, REC_VERSION));
    OSEC_CHECK(rc, osec_buf_append_u8(&pt, (uint8_t)ix->n));
    for (size_t i = 0; i < ix->n; i++)
        OSEC_CHECK(rc, put_name(&pt, ix->ids[i]));
    rc = seal_put(st, m, PURPOSE_INDEX, name, entity, &pt);
out:
    osec_buf_free(&pt);
    return rc;
}

/* Add (add=true) or drop group id in entity's index. */
static int index_update(struct osec_store *st, const struct osec_master *m, const char *entity,
                        const char *id, bool add)
{
    struct index *ix = malloc(sizeof(*ix));
    size_t i;
    int rc;

    OSEC_ENSURE(ix != NULL, OSEC_ENOMEM, "out of memory");
    OSEC_CHECK(rc, index_load(st, m, entity, ix));
    for (i = 0; i < ix->n && strcmp(ix->ids[i], id) != 0; i++)
        ;
    if (add && i == ix->n) {
        if (ix->n == OSEC_GROUP_PER_ENTITY_MAX)
            OSEC_FAIL(rc, OSEC_EBOUNDS, "%s is in %d groups already", entity,
                      OSEC_GROUP_PER_ENTITY_MAX);
        (void)osec_strlcpy(ix->ids[ix->n++], id, sizeof(ix->ids[0]));
    } else if (!add && i < ix->n) {
        memmove(ix->ids[i], ix->ids[i + 1], (ix->n - i - 1) * sizeof(ix->ids[0]));
        ix->n--;
    }
    rc = index_store(st, m, entity, ix);
out:
    free(ix);
    return rc;
}

/* ---- server operations ------------------------------------------------------ */

/* Every change runs in one transaction: commit on success, roll back else. */
static int tx_end(struct osec_store *st, int rc)
{
    if (rc < 0) {
        (void)osec_store_rollback(st);
        return rc;
    }
    return osec_store_commit(st);
}

/* Deny with a reason for the caller (an HTTP message) and the error slot. */
__attribute__((format(printf, 4, 5)))
static int deny_fmt(int code, char *reason, size_t len, const char *fmt, ...)
{
    struct osec_buf b;
    va_list ap;
    int rc;

    osec_buf_init(&b, OSEC_AUTHZ_REASON_MAX * 2);
    va_start(ap, fmt);
    (void)osec_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    if (len)
        (void)osec_strlcpy(reason, osec_buf_cstr(&b), len); /* truncation is fine here */
    rc = osec_error_set(code, __FILE__, __LINE__, "%s", osec_buf_cstr(&b));
    osec_buf_free(&b);
    return rc;
}

static int build_members(struct osec_group *g, const struct osec_principal *who,
                         const char *const *members, size_t n)
{
    bool has_creator = false;

    OSEC_ENSURE(n >= 1, OSEC_EINVAL, "a group needs members");
    for (size_t i = 0; i < n; i++)
        has_creator |= strcmp(members[i], who->entity_id) == 0;
    OSEC_ENSURE(n + (has_creator ? 0 : 1) <= OSEC_GROUP_MEMBERS_MAX, OSEC_EBOUNDS,
                "a group has at most %d members", OSEC_GROUP_MEMBERS_MAX);
    g->nmembers = 0;
    for (size_t i = 0; i < n; i++) {
        OSEC_GUARD(osec_account_name_valid(members[i]));
        OSEC_GUARD(osec_strlcpy(g->members[g->nmembers++], members[i], sizeof(g->members[0])));
    }
    if (!has_creator)
        OSEC_GUARD(osec_strlcpy(g->members[g->nmembers++], who->entity_id,
                                sizeof(g->members[0])));
    return normalise(g);
}

static int authorize_members(struct osec_store *st, const struct osec_principal *who,
                             const struct osec_group *g, char *reason, size_t len)
{
    char why[OSEC_AUTHZ_REASON_MAX];
    int rc;

    for (size_t i = 0; i < g->nmembers; i++) {
        rc = osec_authz_check(st, who, OSEC_AUTHZ_GROUP_ADD, g->members[i], why, sizeof(why));
        if (rc == OSEC_EPERM)
            return deny_fmt(OSEC_EPERM, reason, len, "member %s: %s", g->members[i], why);
        OSEC_GUARD(rc);
    }
    return 0;
}

static int create_tx(struct osec_store *st, const struct osec_master *m,
                     const struct osec_principal *who, struct osec_group *g, char *reason,
                     size_t len)
{
    struct osec_group *old = malloc(sizeof(*old));
    int rc = old ? osec_group_load(st, m, g->id, old) : OSEC_ENOMEM;

    if (old)
        osec_group_clear(old);
    free(old);
    if (rc == 0)
        return deny_fmt(OSEC_EEXISTS, reason, len, "group %s exists", g->id);
    if (rc != OSEC_ENOTFOUND)
        return rc;
    OSEC_GUARD(authorize_members(st, who, g, reason, len));
    OSEC_GUARD(osec_rand_bytes(g->key, OSEC_KEY_LEN));
    OSEC_GUARD(group_store(st, m, g));
    for (size_t i = 0; i < g->nmembers; i++)
        OSEC_GUARD(index_update(st, m, g->members[i], g->id, true));
    return 0;
}

int osec_group_create(struct osec_store *st, const struct osec_master *m,
                      const struct osec_principal *who, const char *id,
                      const char *const *members, size_t nmembers, struct osec_group *out,
                      char *reason, size_t reasonlen)
{
    struct osec_group *g = calloc(1, sizeof(*g));
    int rc;

    if (reasonlen)
        reason[0] = '\0';
    OSEC_ENSURE(g != NULL, OSEC_ENOMEM, "out of memory");
    if (strcmp(who->type, "gw") != 0) {
        rc = deny_fmt(OSEC_EPERM, reason, reasonlen, "only a PN Gateway may create Service Groups");
        goto out;
    }
    OSEC_CHECK(rc, osec_group_id_valid(id));
    OSEC_CHECK(rc, osec_strlcpy(g->id, id, sizeof(g->id)));
    OSEC_CHECK(rc, osec_strlcpy(g->creator, who->entity_id, sizeof(g->creator)));
    OSEC_CHECK(rc, build_members(g, who, members, nmembers));
    g->epoch = 1;
    g->created = g->updated = osec_time_now();
    OSEC_CHECK(rc, osec_store_begin(st));
    OSEC_CHECK(rc, tx_end(st, create_tx(st, m, who, g, reason, reasonlen)));
    if (out)
        *out = *g;
out:
    osec_group_clear(g);
    free(g);
    return rc;
}

int osec_group_key_for(struct osec_store *st, const struct osec_master *m, const char *id,
                       const char *member, struct osec_group *out, struct osec_buf *wrapped)
{
    uint8_t eukey[OSEC_KEY_LEN];
    int rc;

    OSEC_GUARD(osec_group_load(st, m, id, out));
    if (!osec_group_is_member(out, member))
        OSEC_FAIL(rc, OSEC_EPERM, "%s is not a member of group %s", member, id);
    OSEC_CHECK(rc, osec_eukey_get(st, m, member, eukey, NULL));
    rc = osec_group_wrap(eukey, out, member, wrapped);
    osec_wipe(eukey, sizeof(eukey));
out:
    if (rc < 0)
        osec_group_clear(out);
    return rc;
}

/* New epoch without member: fresh key, index updated.  Inside a transaction. */
static int rotate_without(struct osec_store *st, const struct osec_master *m,
                          struct osec_group *g, const char *member)
{
    int i = member_index(g, osec_slice_cstr(member));

    OSEC_ENSURE(i >= 0, OSEC_ENOTFOUND, "%s is not a member of group %s", member, g->id);
    OSEC_ENSURE(g->epoch < UINT32_MAX, OSEC_EBOUNDS, "group %s: epochs exhausted", g->id);
    memmove(g->members[i], g->members[i + 1],
            (g->nmembers - (size_t)i - 1) * sizeof(g->members[0]));
    g->nmembers--;
    g->epoch++;
    g->updated = osec_time_now();
    OSEC_GUARD(osec_rand_bytes(g->key, OSEC_KEY_LEN));
    OSEC_GUARD(group_store(st, m, g));
    return index_update(st, m, member, g->id, false);
}

static int remove_tx(struct osec_store *st, const struct osec_master *m,
                     const struct osec_principal *who, const char *id, const char *member,
                     struct osec_group *g, char *reason, size_t len)
{
    const char *caller = who->entity_id;

    OSEC_GUARD(osec_group_load(st, m, id, g));
    if (strcmp(caller, g->creator) != 0 && strcmp(caller, member) != 0)
        return deny_fmt(OSEC_EPERM, reason, len,
                        "only the creator of %s, or %s itself, may remove %s", g->id, member,
                        member);
    if (strcmp(member, g->creator) == 0)
        return deny_fmt(OSEC_EPERM, reason, len, "the creator cannot leave its group %s",
                        g->id);
    return rotate_without(st, m, g, member);
}

int osec_group_remove(struct osec_store *st, const struct osec_master *m,
                      const struct osec_principal *who, const char *id, const char *member,
                      struct osec_group *out, char *reason, size_t reasonlen)
{
    struct osec_group *g = calloc(1, sizeof(*g));
    int rc;

    if (reasonlen)
        reason[0] = '\0';
    OSEC_ENSURE(g != NULL, OSEC_ENOMEM, "out of memory");
    OSEC_CHECK(rc, osec_group_id_valid(id));
    OSEC_CHECK(rc, osec_account_name_valid(member));
    OSEC_CHECK(rc, osec_store_begin(st));
    OSEC_CHECK(rc, tx_end(st, remove_tx(st, m, who, id, member, g, reason, reasonlen)));
    if (out)
        *out = *g;
out:
    osec_group_clear(g);
    free(g);
    return rc;
}

static int purge_tx(struct osec_store *st, const struct osec_master *m, const char *entity,
                    struct index *ix, struct osec_group *g, unsigned *count)
{
    OSEC_GUARD(index_load(st, m, entity, ix));
    for (size_t i = 0; i < ix->n; i++) {
        int rc = osec_group_load(st, m, ix->ids[i], g);

        if (rc == 0)
            rc = rotate_without(st, m, g, entity);
        osec_group_clear(g);
        if (rc == OSEC_ENOTFOUND)
            continue; /* a stale index entry: nothing to rotate */
        OSEC_GUARD(rc);
        (*count)++;
    }
    return 0;
}

int osec_group_purge_entity(struct osec_store *st, const struct osec_master *m,
                            const char *entity, unsigned *count)
{
    struct index *ix = malloc(sizeof(*ix));
    struct osec_group *g = malloc(sizeof(*g));
    unsigned n = 0;
    int rc;

    if (!ix || !g)
        OSEC_FAIL(rc, OSEC_ENOMEM, "out of memory");
    OSEC_CHECK(rc, osec_store_begin(st));
    rc = tx_end(st, purge_tx(st, m, entity, ix, g, &n));
    if (count)
        *count = rc == 0 ? n : 0;
out:
    free(ix);
    free(g);
    return rc;
}

int osec_group_list(struct osec_store *st, const struct osec_master *m, const char *entity,
                    osec_group_cb cb, void *arg)
{
    struct index *ix = malloc(sizeof(*ix));
    struct osec_group *g = malloc(sizeof(*g));
    int rc = 0;

    if (!ix || !g)
        OSEC_FAIL(rc, OSEC_ENOMEM, "out of memory");
    OSEC_CHECK(rc, index_load(st, m, entity, ix));
    qsort(ix->ids, ix->n, sizeof(ix->ids[0]), cmp_names);
    for (size_t i = 0; i < ix->n && rc == 0; i++) {
        rc = osec_group_load(st, m, ix->ids[i], g);
        osec_wipe(g->key, sizeof(g->key));
        if (rc == OSEC_ENOTFOUND || (rc == 0 && !osec_group_is_member(g, entity))) {
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = cb(g, arg);
    }
    rc = rc > 0 ? 0 : rc;
out:
    free(ix);
    if (g)
        osec_group_clear(g);
    free(g);
    return rc;
}

/* ---- request body ------------------------------------------------------------ */

static int parse_members(json_t *arr, struct osec_group *out)
{
    size_t i;
    json_t *v;

    OSEC_ENSURE(json_is_array(arr), OSEC_EPARSE, "members must be an array of entity ids");
    OSEC_ENSURE(json_array_size(arr) >= 1 && json_array_size(arr) <= OSEC_GROUP_MEMBERS_MAX,
                OSEC_EPARSE, "members must list 1..%d entity ids", OSEC_GROUP_MEMBERS_MAX);
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);

        OSEC_ENSURE(s && strlen(s) == json_string_length(v) &&
                    name_ok(osec_slice_cstr(s), OSEC_STORE_NAME_MAX), OSEC_EPARSE,
                    "members[%zu] is not a valid entity id", i);
        OSEC_GUARD(osec_strlcpy(out->members[i], s, sizeof(out->members[0])));
    }
    out->nmembers = json_array_size(arr);
    return 0;
}

static int parse_create_obj(json_t *j, struct osec_group *out)
{
    const char *k, *id;
    json_t *v;

    OSEC_ENSURE(json_is_object(j), OSEC_EPARSE, "the body must be a JSON object");
    json_object_foreach(j, k, v)
        OSEC_ENSURE(strcmp(k, "group") == 0 || strcmp(k, "members") == 0, OSEC_EPARSE,
                    "unknown member in body");
    id = json_string_value(json_object_get(j, "group"));
    OSEC_ENSURE(id && strlen(id) == json_string_length(json_object_get(j, "group")) &&
                name_ok(osec_slice_cstr(id), OSEC_GROUP_ID_MAX), OSEC_EPARSE,
                "group must be a group id (1..%d of [A-Za-z0-9._@+-])", OSEC_GROUP_ID_MAX);
    OSEC_GUARD(osec_strlcpy(out->id, id, sizeof(out->id)));
    OSEC_ENSURE(json_object_get(j, "members") != NULL, OSEC_EPARSE, "member 'members' is required");
    return parse_members(json_object_get(j, "members"), out);
}

int osec_group_parse_create(struct osec_slice body, struct osec_group *out)
{
    json_error_t err;
    json_t *j;
    int rc;

    memset(out, 0, sizeof(*out));
    OSEC_ENSURE(body.len > 0 && body.len <= 65536, OSEC_EPARSE, "a JSON body is required");
    j = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES, &err);
    OSEC_ENSURE(j != NULL, OSEC_EPARSE, "invalid JSON at line %d column %d", err.line,
                err.column);
    rc = parse_create_obj(j, out);
    json_decref(j);
    return rc;
}

/* ---- key wrap ------------------------------------------------------------------ */

/* "grp" | name id | u32 epoch | name creator | name member | u8 n | name * n */
static int wrap_aad(const struct osec_group *g, const char *member, struct osec_buf *aad)
{
    OSEC_GUARD(osec_buf_append_str(aad, "grp"));
    OSEC_GUARD(put_name(aad, g->id));
    OSEC_GUARD(osec_buf_append_u32be(aad, g->epoch));
    OSEC_GUARD(put_name(aad, g->creator));
    OSEC_GUARD(put_name(aad, member));
    return put_members(aad, g);
}

static int kek_for(const uint8_t eukey[OSEC_KEY_LEN], uint8_t kek[OSEC_KEY_LEN])
{
    return osec_hkdf_sha256(NULL, 0, eukey, OSEC_KEY_LEN, (const uint8_t *)WRAP_INFO,
                            strlen(WRAP_INFO), kek, OSEC_KEY_LEN);
}

int osec_group_wrap(const uint8_t eukey[OSEC_KEY_LEN], const struct osec_group *g,
                    const char *member, struct osec_buf *out)
{
    uint8_t kek[OSEC_KEY_LEN], nonce[OSEC_AEAD_NONCE_LEN];
    uint8_t ct[OSEC_KEY_LEN + OSEC_AEAD_TAG_LEN];
    struct osec_buf aad;
    int rc;

    osec_buf_init(&aad, REC_MAX);
    OSEC_CHECK(rc, wrap_aad(g, member, &aad));
    OSEC_CHECK(rc, kek_for(eukey, kek));
    OSEC_CHECK(rc, osec_rand_bytes(nonce, sizeof(nonce)));
    OSEC_CHECK(rc, osec_aead_seal(OSEC_AEAD_AES256GCM, kek, nonce, aad.data, aad.len, g->key,
                                  OSEC_KEY_LEN, ct));
    OSEC_CHECK(rc, osec_buf_append(out, nonce, sizeof(nonce)));
    rc = osec_buf_append(out, ct, sizeof(ct));
out:
    osec_wipe(kek, sizeof(kek));
    osec_buf_free(&aad);
    return rc;
}

int osec_group_unwrap(const uint8_t eukey[OSEC_KEY_LEN], struct osec_group *g,
                      const char *member, const uint8_t *wrapped, size_t len)
{
    uint8_t kek[OSEC_KEY_LEN];
    struct osec_buf aad;
    int rc;

    OSEC_ENSURE(len == OSEC_GROUP_WRAP_LEN, OSEC_EINTEGRITY,
                "wrapped group key has a bad length");
    osec_buf_init(&aad, REC_MAX);
    OSEC_CHECK(rc, wrap_aad(g, member, &aad));
    OSEC_CHECK(rc, kek_for(eukey, kek));
    rc = osec_aead_open(OSEC_AEAD_AES256GCM, kek, wrapped, aad.data, aad.len,
                        wrapped + OSEC_AEAD_NONCE_LEN, len - OSEC_AEAD_NONCE_LEN, g->key);
out:
    osec_wipe(kek, sizeof(kek));
    osec_buf_free(&aad);
    return rc;
}

/* ---- messages ------------------------------------------------------------------ */

int osec_group_mac_key(const struct osec_group *g, uint8_t kmac[OSEC_KEY_LEN])
{
    struct osec_buf info;
    int rc;

    osec_buf_init(&info, 256);
    OSEC_CHECK(rc, osec_buf_append_str(&info, MAC_INFO));
    OSEC_CHECK(rc, put_name(&info, g->id));
    OSEC_CHECK(rc, osec_buf_append_u32be(&info, g->epoch));
    rc = osec_hkdf_sha256(NULL, 0, g->key, OSEC_KEY_LEN, info.data, info.len, kmac,
                          OSEC_KEY_LEN);
out:
    osec_buf_free(&info);
    return rc;
}

static int msg_mac(const uint8_t kmac[OSEC_KEY_LEN], struct osec_slice authed,
                   uint8_t mac[32])
{
    return osec_hmac_sha256(kmac, OSEC_KEY_LEN, authed.ptr, authed.len, mac);
}

static int msg_fields(struct osec_cursor *c, struct osec_group_msg *out)
{
    uint8_t v[4];
    uint16_t plen;

    OSEC_ENSURE(osec_cursor_copy(c, v, 4) == 0 && v[0] == 'O' && v[1] == 'G', OSEC_EPARSE,
                "not a group message");
    OSEC_ENSURE(v[2] == OSEC_GROUP_VERSION, OSEC_EPARSE, "group message version %u", v[2]);
    OSEC_ENSURE(v[3] == 0, OSEC_EPARSE, "reserved flags set");
    OSEC_GUARD(get_name(c, OSEC_GROUP_ID_MAX, out->group, sizeof(out->group)));
    OSEC_ENSURE(osec_cursor_read_u32be(c, &out->epoch) == 0 && out->epoch >= 1, OSEC_EPARSE,
                "bad epoch");
    OSEC_GUARD(get_name(c, OSEC_STORE_NAME_MAX, out->sender, sizeof(out->sender)));
    OSEC_ENSURE(osec_cursor_read_u64be(c, &out->seq) == 0 && out->seq >= 1, OSEC_EPARSE,
                "bad sequence number");
    OSEC_ENSURE(osec_cursor_read_u16be(c, &plen) == 0 && plen <= OSEC_GROUP_PAYLOAD_MAX,
                OSEC_EPARSE, "bad payload length");
    OSEC_ENSURE(osec_cursor_remaining(c) == (size_t)plen + OSEC_GROUP_MAC_LEN, OSEC_EPARSE,
                "payload length does not match the datagram");
    (void)osec_cursor_read_bytes(c, plen, &out->payload);
    out->authed = osec_slice_make(c->ptr, c->pos);
    return osec_cursor_read_bytes(c, OSEC_GROUP_MAC_LEN, &out->mac);
}

int osec_group_msg_parse(const uint8_t *data, size_t len, struct osec_group_msg *out)
{
    struct osec_cursor c;
    int rc;

    memset(out, 0, sizeof(*out));
    OSEC_ENSURE(len >= OSEC_GROUP_MSG_MIN && len <= OSEC_GROUP_MSG_MAX, OSEC_EPARSE,
                "group message of %zu bytes", len);
    osec_cursor_init(&c, data, len);
    rc = msg_fields(&c, out);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc < 0 ? OSEC_EPARSE : 0;
}

static int msg_head(struct osec_buf *out, const struct osec_group *g, const char *sender,
                    uint64_t seq, struct osec_slice payload)
{
    OSEC_GUARD(osec_buf_append(out, "OG", 2));
    OSEC_GUARD(osec_buf_append_u8(out, OSEC_GROUP_VERSION));
    OSEC_GUARD(osec_buf_append_u8(out, 0));
    OSEC_GUARD(put_name(out, g->id));
    OSEC_GUARD(osec_buf_append_u32be(out, g->epoch));
    OSEC_GUARD(put_name(out, sender));
    OSEC_GUARD(osec_buf_append_u64be(out, seq));
    OSEC_GUARD(osec_buf_append_u16be(out, (uint16_t)payload.len));
    return osec_buf_append_slice(out, payload);
}

int osec_group_msg_build(const struct osec_group *g, const char *sender, uint64_t seq,
                         struct osec_slice payload, struct osec_buf *out)
{
    uint8_t kmac[OSEC_KEY_LEN], mac[32];
    size_t start = out->len;
    int rc;

    OSEC_ENSURE(seq >= 1, OSEC_EINVAL, "sequence numbers start at 1");
    OSEC_ENSURE(payload.len <= OSEC_GROUP_PAYLOAD_MAX, OSEC_EBOUNDS,
                "payload larger than %d bytes", OSEC_GROUP_PAYLOAD_MAX);
    OSEC_ENSURE(osec_group_is_member(g, sender), OSEC_EPERM, "%s is not a member of %s",
                sender, g->id);
    OSEC_CHECK(rc, msg_head(out, g, sender, seq, payload));
    OSEC_CHECK(rc, osec_group_mac_key(g, kmac));
    OSEC_CHECK(rc, msg_mac(kmac, osec_slice_make(out->data + start, out->len - start), mac));
    rc = osec_buf_append(out, mac, OSEC_GROUP_MAC_LEN);
out:
    if (rc < 0)
        out->len = start;
    osec_wipe(kmac, sizeof(kmac));
    return rc;
}

/* ---- receiver ------------------------------------------------------------------ */

struct window {
    uint64_t top;   /* highest accepted seq (0: none yet) */
    uint64_t bits;  /* bit i: top - i was accepted */
};

struct osec_group_rx {
    struct osec_group g;
    uint8_t kmac[OSEC_KEY_LEN];
    struct window win[OSEC_GROUP_MEMBERS_MAX];
    struct osec_group_counters n;
};

static int rx_install(struct osec_group_rx *rx, const struct osec_group *g)
{
    rx->g = *g;
    memset(rx->win, 0, sizeof(rx->win));
    return osec_group_mac_key(g, rx->kmac);
}

int osec_group_rx_new(const struct osec_group *g, struct osec_group_rx **out)
{
    struct osec_group_rx *rx = calloc(1, sizeof(*rx));
    int rc;

    *out = NULL;
    OSEC_ENSURE(rx != NULL, OSEC_ENOMEM, "out of memory");
    rc = rx_install(rx, g);
    if (rc < 0) {
        osec_group_rx_free(&rx);
        return rc;
    }
    *out = rx;
    return 0;
}

void osec_group_rx_free(struct osec_group_rx **rx)
{
    if (!rx || !*rx)
        return;
    osec_wipe(*rx, sizeof(**rx));
    free(*rx);
    *rx = NULL;
}

int osec_group_rx_rekey(struct osec_group_rx *rx, const struct osec_group *g)
{
    OSEC_ENSURE(strcmp(rx->g.id, g->id) == 0, OSEC_EINVAL, "key of another group");
    OSEC_ENSURE(g->epoch >= rx->g.epoch, OSEC_ESTALE, "epoch %u is older than %u", g->epoch,
                rx->g.epoch);
    if (g->epoch == rx->g.epoch)
        return 0;
    return rx_install(rx, g);
}

uint32_t osec_group_rx_epoch(const struct osec_group_rx *rx)
{
    return rx->g.epoch;
}

void osec_group_rx_count(struct osec_group_rx *rx, int verdict)
{
    switch (verdict) {
    case 0: rx->n.accepted++; break;
    case OSEC_EAUTH: rx->n.forged++; break;
    case OSEC_EREPLAY: rx->n.replayed++; break;
    case OSEC_EPERM: rx->n.nonmember++; break;
    case OSEC_EPARSE: rx->n.malformed++; break;
    default: break;
    }
}

struct osec_group_counters osec_group_rx_counters(const struct osec_group_rx *rx)
{
    return rx->n;
}

/* RFC 4303-style sliding window; moves only when commit is true. */
static bool window_fresh(struct window *w, uint64_t seq, bool commit)
{
    uint64_t d;

    if (seq > w->top) {
        d = seq - w->top;
        if (commit) {
            w->bits = d >= OSEC_GROUP_WINDOW ? 1 : (w->bits << d) | 1;
            w->top = seq;
        }
        return true;
    }
    d = w->top - seq;
    if (d >= OSEC_GROUP_WINDOW || (w->bits >> d) & 1)
        return false;
    if (commit)
        w->bits |= (uint64_t)1 << d;
    return true;
}

/* Everything after parsing; returns the verdict (not counted). */
static int rx_judge(struct osec_group_rx *rx, const struct osec_group_msg *m)
{
    uint8_t mac[32];
    int i;

    if (strcmp(m->group, rx->g.id) != 0)
        OSEC_BAIL(OSEC_EAUTH, "message for group %s", m->group);
    if (m->epoch > rx->g.epoch)
        OSEC_BAIL(OSEC_ESTALE, "epoch %u is newer than ours (%u)", m->epoch, rx->g.epoch);
    if (m->epoch < rx->g.epoch)
        OSEC_BAIL(OSEC_EAUTH, "epoch %u is retired", m->epoch);
    i = member_index(&rx->g, osec_slice_cstr(m->sender));
    if (i < 0)
        OSEC_BAIL(OSEC_EPERM, "%s is not a member of epoch %u", m->sender, m->epoch);
    OSEC_GUARD(msg_mac(rx->kmac, m->authed, mac));
    if (!osec_ct_eq(mac, m->mac.ptr, OSEC_GROUP_MAC_LEN))
        OSEC_BAIL(OSEC_EAUTH, "bad MAC");
    if (!window_fresh(&rx->win[i], m->seq, true))
        OSEC_BAIL(OSEC_EREPLAY, "%s seq %llu replayed", m->sender, (unsigned long long)m->seq);
    return 0;
}

int osec_group_rx_verify(struct osec_group_rx *rx, const uint8_t *data, size_t len,
                         struct osec_group_msg *out)
{
    struct osec_group_msg tmp, *m = out ? out : &tmp;
    int rc = osec_group_msg_parse(data, len, m);

    if (rc == 0)
        rc = rx_judge(rx, m);
    if (rc != OSEC_ESTALE)
        osec_group_rx_count(rx, rc);
    return rc;
}

/* "OGRX" | u8 version | name group | u32 epoch | u8 n | (name sender | u64 top | u64 bits)* */
int osec_group_rx_save(const struct osec_group_rx *rx, struct osec_buf *out)
{
    size_t n = 0;

    for (size_t i = 0; i < rx->g.nmembers; i++)
        n += rx->win[i].top != 0;
    OSEC_GUARD(osec_buf_append_str(out, RX_MAGIC));
    OSEC_GUARD(osec_buf_append_u8(out, REC_VERSION));
    OSEC_GUARD(put_name(out, rx->g.id));
    OSEC_GUARD(osec_buf_append_u32be(out, rx->g.epoch));
    OSEC_GUARD(osec_buf_append_u8(out, (uint8_t)n));
    for (size_t i = 0; i < rx->g.nmembers; i++) {
        if (rx->win[i].top == 0)
            continue;
        OSEC_GUARD(put_name(out, rx->g.members[i]));
        OSEC_GUARD(osec_buf_append_u64be(out, rx->win[i].top));
        OSEC_GUARD(osec_buf_append_u64be(out, rx->win[i].bits));
    }
    return 0;
}

static int rx_load_windows(struct osec_cursor *c, const struct osec_group *g,
                           struct window *win)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    uint8_t n;

    OSEC_ENSURE(osec_cursor_read_u8(c, &n) == 0 && n <= g->nmembers, OSEC_EPARSE,
                "bad sender count");
    for (size_t k = 0; k < n; k++) {
        struct window w;
        int i;

        OSEC_GUARD(get_name(c, OSEC_STORE_NAME_MAX, name, sizeof(name)));
        i = member_index(g, osec_slice_cstr(name));
        OSEC_ENSURE(i >= 0 && win[i].top == 0, OSEC_EPARSE, "unknown or repeated sender");
        OSEC_ENSURE(osec_cursor_read_u64be(c, &w.top) == 0 &&
                    osec_cursor_read_u64be(c, &w.bits) == 0 && w.top != 0, OSEC_EPARSE,
                    "truncated window");
        win[i] = w;
    }
    OSEC_ENSURE(osec_cursor_eof(c), OSEC_EPARSE, "trailing bytes after replay state");
    return 0;
}

int osec_group_rx_load(struct osec_group_rx *rx, struct osec_slice state)
{
    struct window win[OSEC_GROUP_MEMBERS_MAX];
    char group[OSEC_GROUP_ID_MAX + 1];
    struct osec_cursor c;
    uint8_t magic[5];
    uint32_t epoch;

    osec_cursor_init(&c, state.ptr, state.len);
    OSEC_ENSURE(osec_cursor_copy(&c, magic, 5) == 0 && memcmp(magic, RX_MAGIC, 4) == 0 &&
                magic[4] == REC_VERSION, OSEC_EPARSE, "not a replay state");
    OSEC_GUARD(get_name(&c, OSEC_GROUP_ID_MAX, group, sizeof(group)));
    OSEC_ENSURE(osec_cursor_read_u32be(&c, &epoch) == 0, OSEC_EPARSE, "truncated replay state");
    if (strcmp(group, rx->g.id) != 0 || epoch != rx->g.epoch)
        OSEC_BAIL(OSEC_ESTALE, "replay state of %s epoch %u", group, epoch);
    memset(win, 0, sizeof(win));
    OSEC_GUARD(rx_load_windows(&c, &rx->g, win));
    memcpy(rx->win, win, sizeof(win));
    return 0;
}

/* ---- device side: requests to the CPNS Server ----------------------------------- */

static int expect(const struct osec_cpns_response *r, int status, const char *what,
                  json_t **out)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES,
                           &err);
    const char *msg = json_string_value(json_object_get(j, "message"));
    int code = r->status == 401 ? OSEC_EAUTH : r->status == 403 ? OSEC_EPERM
               : r->status == 404 ? OSEC_ENOTFOUND : r->status == 409 ? OSEC_EEXISTS
               : OSEC_EIO;

    if (r->status == status && json_is_object(j)) {
        *out = j;
        return 0;
    }
    if (r->status == status)
        code = OSEC_EPARSE;
    (void)osec_error_set(code, __FILE__, __LINE__, "%s: server answered %d%s%s", what,
                         r->status, msg ? ": " : "", msg ? msg : "");
    json_decref(j);
    return code;
}

static int get_epoch(json_t *j, uint32_t *epoch)
{
    json_t *e = json_object_get(j, "epoch");

    OSEC_ENSURE(json_is_integer(e) && json_integer_value(e) >= 1 &&
                json_integer_value(e) <= UINT32_MAX, OSEC_EPARSE, "response lacks epoch");
    *epoch = (uint32_t)json_integer_value(e);
    return 0;
}

static int call(struct osec_cpns_client *server, const char *method, const char *path,
                struct osec_slice body, int status, const char *what, uint32_t *epoch)
{
    struct osec_cpns_response r;
    json_t *j = NULL;
    int rc;

    osec_cpns_response_init(&r);
    OSEC_CHECK(rc, osec_cpns_client_request(server, method, path, body, NULL, &r));
    OSEC_CHECK(rc, expect(&r, status, what, &j));
    rc = get_epoch(j, epoch);
out:
    json_decref(j);
    osec_cpns_response_free(&r);
    return rc;
}

int osec_group_request_create(struct osec_cpns_client *server, const char *id,
                              const char *const *members, size_t n, uint32_t *epoch)
{
    json_t *arr = json_array(), *j = NULL;
    char *body = NULL;
    int rc = 0;

    OSEC_CHECK(rc, osec_group_id_valid(id));
    for (size_t i = 0; i < n && arr; i++)
        if (json_array_append_new(arr, json_string(members[i])) != 0)
            OSEC_FAIL(rc, OSEC_EINVAL, "member %zu is not a valid entity id", i);
    j = arr ? json_pack("{s:s,s:O}", "group", id, "members", arr) : NULL;
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!body)
        OSEC_FAIL(rc, OSEC_ENOMEM, "out of memory");
    rc = call(server, "POST", "/cpns/v1/groups", osec_slice_cstr(body), 201,
              "group creation", epoch);
out:
    free(body);
    json_decref(j);
    json_decref(arr);
    return rc;
}

int osec_group_request_remove(struct osec_cpns_client *server, const char *id,
                              const char *member, uint32_t *epoch)
{
    char path[512];

    OSEC_GUARD(osec_group_id_valid(id));
    OSEC_GUARD(osec_account_name_valid(member));
    OSEC_GUARD(osec_snprintf(path, sizeof(path), "/cpns/v1/groups/%s/members/%s", id, member));
    return call(server, "DELETE", path, osec_slice_make(NULL, 0), 200, "group member removal",
                epoch);
}

static int json_name(json_t *j, const char *k, size_t max, char *out, size_t len)
{
    const char *v = json_string_value(json_object_get(j, k));

    OSEC_ENSURE(v && name_ok(osec_slice_cstr(v), max), OSEC_EPARSE, "response lacks %s", k);
    return osec_strlcpy(out, v, len);
}

static int take_group(json_t *j, struct osec_group *g)
{
    json_t *arr = json_object_get(j, "members"), *v;
    size_t i;

    OSEC_GUARD(json_name(j, "group", OSEC_GROUP_ID_MAX, g->id, sizeof(g->id)));
    OSEC_GUARD(json_name(j, "creator", OSEC_STORE_NAME_MAX, g->creator, sizeof(g->creator)));
    OSEC_GUARD(get_epoch(j, &g->epoch));
    OSEC_ENSURE(json_is_array(arr) && json_array_size(arr) <= OSEC_GROUP_MEMBERS_MAX,
                OSEC_EPARSE, "response lacks members");
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);

        OSEC_ENSURE(s && name_ok(osec_slice_cstr(s), OSEC_STORE_NAME_MAX), OSEC_EPARSE,
                    "bad member in response");
        OSEC_GUARD(osec_strlcpy(g->members[i], s, sizeof(g->members[0])));
    }
    g->nmembers = json_array_size(arr);
    g->updated = osec_time_now();
    return normalise(g);
}

static int unwrap_response(json_t *j, const struct osec_pn_identity *id, const char *group,
                           struct osec_group *g)
{
    const char *sealed = json_string_value(json_object_get(j, "sealed"));
    struct osec_buf raw;
    int rc;

    OSEC_GUARD(take_group(j, g));
    OSEC_ENSURE(strcmp(g->id, group) == 0, OSEC_EPARSE, "the server answered for group %s",
                g->id);
    OSEC_ENSURE(osec_group_is_member(g, id->entity_id), OSEC_EPARSE,
                "the server's member list does not hold us");
    OSEC_ENSURE(sealed != NULL, OSEC_EPARSE, "response lacks sealed");
    osec_buf_init(&raw, 256);
    rc = osec_b64url_decode(osec_slice_cstr(sealed), &raw);
    if (rc == 0)
        rc = osec_group_unwrap(id->eukey, g, id->entity_id, raw.data, raw.len);
    osec_buf_free(&raw);
    return rc;
}

int osec_group_fetch(struct osec_cpns_client *server, const struct osec_pn_identity *id,
                     const char *group, struct osec_group *out)
{
    struct osec_cpns_response r;
    json_t *j = NULL;
    char path[256];
    int rc;

    memset(out, 0, sizeof(*out));
    osec_cpns_response_init(&r);
    OSEC_CHECK(rc, osec_group_id_valid(group));
    OSEC_CHECK(rc, osec_snprintf(path, sizeof(path), "/cpns/v1/groups/%s/key", group));
    OSEC_CHECK(rc, osec_cpns_client_request(server, "GET", path, osec_slice_make(NULL, 0),
                                            NULL, &r));
    OSEC_CHECK(rc, expect(&r, 200, "group key", &j));
    rc = unwrap_response(j, id, group, out);
out:
    json_decref(j);
    osec_cpns_response_free(&r);
    if (rc < 0)
        osec_group_clear(out);
    return rc;
}

/* ---- device records --------------------------------------------------------------- */

static int rec_name(const char *prefix, const char *id, char name[OSEC_STORE_NAME_MAX + 1])
{
    OSEC_GUARD(osec_group_id_valid(id));
    return osec_snprintf(name, OSEC_STORE_NAME_MAX + 1, "%s%s", prefix, id);
}

int osec_group_save(struct osec_devstate *ds, const struct osec_group *g)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf b;
    int rc;

    OSEC_GUARD(rec_name(DEV_KEY, g->id, name));
    osec_buf_init_secret(&b, REC_MAX);
    rc = osec_group_encode(g, &b);
    if (rc == 0)
        rc = osec_devstate_put(ds, name, b.data, b.len);
    osec_buf_free(&b);
    return rc;
}

int osec_group_restore(struct osec_devstate *ds, const char *id, struct osec_group *g)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf b;
    int rc;

    memset(g, 0, sizeof(*g));
    OSEC_GUARD(rec_name(DEV_KEY, id, name));
    osec_buf_init_secret(&b, REC_MAX);
    rc = osec_devstate_get(ds, name, &b);
    if (rc == 0)
        rc = osec_group_decode(osec_buf_slice(&b), g);
    if (rc == 0 && strcmp(g->id, id) != 0)
        rc = osec_error_set(OSEC_EINTEGRITY, __FILE__, __LINE__, "record %s is not %s", name,
                            id);
    osec_buf_free(&b);
    if (rc < 0)
        osec_group_clear(g);
    return rc;
}

int osec_group_next_seq(struct osec_devstate *ds, const char *id, uint64_t *seq)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf b;
    struct osec_cursor c;
    uint64_t last = 0;
    int rc;

    OSEC_GUARD(rec_name(DEV_TX, id, name));
    osec_buf_init(&b, 64);
    rc = osec_devstate_get(ds, name, &b);
    if (rc == 0) {
        osec_cursor_init(&c, b.data, b.len);
        if (osec_cursor_read_u64be(&c, &last) < 0 || !osec_cursor_eof(&c))
            OSEC_FAIL(rc, OSEC_EINTEGRITY, "record %s is malformed", name);
    } else if (rc != OSEC_ENOTFOUND) {
        goto out;
    }
    if (last == UINT64_MAX)
        OSEC_FAIL(rc, OSEC_EBOUNDS, "sequence numbers of %s exhausted", id);
    osec_buf_reset(&b);
    OSEC_CHECK(rc, osec_buf_append_u64be(&b, last + 1));
    OSEC_CHECK(rc, osec_devstate_put(ds, name, b.data, b.len));
    *seq = last + 1;
out:
    osec_buf_free(&b);
    return rc;
}

int osec_group_rx_store(struct osec_devstate *ds, const struct osec_group_rx *rx)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf b;
    int rc;

    OSEC_GUARD(rec_name(DEV_RX, rx->g.id, name));
    osec_buf_init(&b, REC_MAX);
    rc = osec_group_rx_save(rx, &b);
    if (rc == 0)
        rc = osec_devstate_put(ds, name, b.data, b.len);
    osec_buf_free(&b);
    return rc;
}

int osec_group_rx_restore(struct osec_devstate *ds, struct osec_group_rx *rx)
{
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_buf b;
    int rc;

    OSEC_GUARD(rec_name(DEV_RX, rx->g.id, name));
    osec_buf_init(&b, REC_MAX);
    rc = osec_devstate_get(ds, name, &b);
    if (rc == 0)
        rc = osec_group_rx_load(rx, osec_buf_slice(&b));
    osec_buf_free(&b);
    return rc == OSEC_ENOTFOUND || rc == OSEC_ESTALE ? 0 : rc;
}
