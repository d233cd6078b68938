/* libFuzzer harness: the IMAP command parser on a stream of commands (with
 * continuation handling as a server does it), every argument helper on
 * each parsed command, and three oracles:
 *   - incremental parsing (scan state, growing prefixes) agrees with a
 *     one-shot parse of the same prefix;
 *   - a decoded mailbox name re-encodes to exactly its input (one
 *     spelling per name);
 *   - a string written by the response writer parses back to itself.
 */
#include <stdlib.h>
#include <string.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/imap.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define NODES 1100

static struct osec_imap_arg nodes_a[NODES], nodes_b[NODES];
static uint8_t arena_a[65536], arena_b[65536];

static const struct osec_imap_limits lim = { 4096, 1 << 16, 1024, 32 };

static void same_cmd(const struct osec_imap_cmd *x, const struct osec_imap_cmd *y)
{
    CHECK(osec_slice_eq(x->tag, y->tag) && x->name == y->name && x->uid == y->uid);
    CHECK(x->argc == y->argc && x->nnodes == y->nnodes && x->len == y->len);
    for (size_t i = 0; i < x->nnodes; i++) {
        CHECK(x->nodes[i].type == y->nodes[i].type && x->nodes[i].count == y->nodes[i].count);
        CHECK(x->nodes[i].next == y->nodes[i].next && x->nodes[i].num == y->nodes[i].num);
        CHECK(osec_slice_eq(x->nodes[i].val, y->nodes[i].val));
    }
}

static void mailbox_oracle(struct osec_slice raw)
{
    struct osec_buf dec = OSEC_BUF_INIT(4 * OSEC_IMAP_MAILBOX_MAX);
    struct osec_buf enc = OSEC_BUF_INIT(16 * OSEC_IMAP_MAILBOX_MAX);

    if (osec_imap_mailbox_decode(raw, &dec) == 0) {
        CHECK(osec_imap_mailbox_encode(osec_buf_slice(&dec), &enc) == 0);
        CHECK(osec_slice_eq(osec_buf_slice(&enc), raw) || osec_slice_eq_ci(raw, "INBOX"));
    }
    osec_buf_free(&dec);
    osec_buf_free(&enc);
}

static void writer_oracle(struct osec_slice s)
{
    struct osec_buf b = OSEC_BUF_INIT(lim.max_line * 2);
    struct osec_imap_cmd c;
    size_t used;

    osec_imap_cmd_init(&c, nodes_b, NODES, arena_b, sizeof(arena_b));
    if (osec_buf_append_str(&b, "t X ") == 0 && osec_imap_write_string(&b, s) == 0 &&
        osec_buf_append_str(&b, "\r\n") == 0 &&
        osec_imap_parse(b.data, b.len, &lim, NULL, &c, &used) == 0) {
        CHECK(c.argc == 1 && osec_slice_eq(osec_imap_arg_at(&c, 0)->val, s));
    }
    osec_buf_free(&b);
}

static void search_tree(const struct osec_imap_search *s)
{
    for (size_t i = 0; i < s->count; i++) {
        CHECK(s->node[i].next < s->count && s->node[i].first < s->count);
        CHECK(s->node[i].next == 0 || s->node[i].next > i);
    }
}

static void use_fetch(const struct osec_imap_cmd *c)
{
    static struct osec_imap_fetch f;
    struct osec_imap_seqiter it;
    struct osec_buf b = OSEC_BUF_INIT(1 << 16);
    struct osec_imap_fetchw w;
    struct osec_slice name;
    uint32_t lo, hi;
    size_t pos;

    if (osec_imap_fetch_parse(c, &f) != 0)
        return;
    osec_imap_seqiter_init(&it, f.seqset);
    while (osec_imap_seqiter_next(&it, 100, &lo, &hi) == 1)
        CHECK(lo <= hi);
    CHECK(osec_imap_fetchw_begin(&w, &b, 1) == 0);
    for (size_t i = 0; i < f.nsections; i++) {
        pos = 0;
        while (osec_imap_section_field_next(&f.section[i], &pos, &name) == 1)
            CHECK(name.len > 0);
        CHECK(osec_imap_fetchw_section(&w, &f.section[i], f.section[i].spec) == 0);
    }
    CHECK(osec_imap_fetchw_end(&w) == 0);
    osec_buf_free(&b);
}

static void use_helpers(const struct osec_imap_cmd *c)
{
    static struct osec_imap_search s;
    static struct osec_imap_setmetadata sm;
    struct osec_imap_getmetadata g;
    struct osec_imap_store st;
    struct osec_imap_append ap;
    struct osec_imap_setacl acl;
    struct osec_buf b = OSEC_BUF_INIT(4096);

    (void)osec_imap_cmd_check(c);
    use_fetch(c);
    if (osec_imap_search_parse(c, &s) == 0)
        search_tree(&s);
    if (osec_imap_store_parse(c, &st) == 0)
        CHECK(osec_imap_write_flags(&b, &st.flags) == 0);
    (void)osec_imap_append_parse(c, &ap);
    if (osec_imap_setacl_parse(c, &acl) == 0)
        CHECK(osec_imap_rights_write(&b, acl.rights) == 0);
    (void)osec_imap_getmetadata_parse(c, &g);
    (void)osec_imap_setmetadata_parse(c, &sm);
    osec_buf_free(&b);
    for (size_t i = 0; i < c->nnodes; i++) {
        struct osec_slice v;

        if (osec_imap_arg_astring(&c->nodes[i], &v) == 0) {
            mailbox_oracle(v);
            writer_oracle(v);
        }
    }
}

/* Growing prefixes with a scan must agree with one-shot parses. */
static void incremental(const uint8_t *data, size_t size)
{
    static struct osec_imap_cmd a, b;
    struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
    size_t step = size > 64 ? size / 16 : 1, ua, ub;

    osec_imap_cmd_init(&a, nodes_a, NODES, arena_a, sizeof(arena_a));
    osec_imap_cmd_init(&b, nodes_b, NODES, arena_b, sizeof(arena_b));
    for (size_t n = 0;; n = n + step > size ? size : n + step) {
        int ra = osec_imap_parse(data, n, &lim, &scan, &a, &ua);
        int rb = osec_imap_parse(data, n, &lim, NULL, &b, &ub);

        /* a continuation already sent shows as INCOMPLETE the second time */
        CHECK(ra == rb || (ra == OSEC_IMAP_INCOMPLETE && rb == OSEC_IMAP_NEED_CONT));
        CHECK(ua == ub);
        if (ra == 0)
            same_cmd(&a, &b);
        if (ra < 0)
            CHECK(a.err_text == b.err_text && a.err_skip == b.err_skip &&
                  a.err_code == b.err_code && osec_slice_eq(a.tag, b.tag));
        if ((ra != OSEC_IMAP_INCOMPLETE && ra != OSEC_IMAP_NEED_CONT) || n == size)
            return;
    }
}

/* A server's loop: parse, answer continuations, resynchronise after errors. */
static void stream(const uint8_t *data, size_t size)
{
    static struct osec_imap_cmd c;
    struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
    size_t off = 0, used;

    osec_imap_cmd_init(&c, nodes_a, NODES, arena_a, sizeof(arena_a));
    for (int k = 0; k < 64 && off < size; k++) {
        int rc = osec_imap_parse(data + off, size - off, &lim, &scan, &c, &used);

        if (rc == OSEC_IMAP_NEED_CONT)
            rc = osec_imap_parse(data + off, size - off, &lim, &scan, &c, &used);
        if (rc == 0) {
            CHECK(used > 0 && used <= size - off);
            use_helpers(&c);
            off += used;
        } else if (rc < 0 && c.err_skip > 0) {
            CHECK(c.err_skip <= size - off && c.err_text != NULL);
            off += c.err_skip;
        } else {
            return;
        }
    }
}

static void lines(const uint8_t *data, size_t size)
{
    struct osec_buf out;
    struct osec_slice line;
    size_t used;
    bool cancel;

    if (osec_imap_line_parse(data, size, 1024, &line, &used) != 0)
        return;
    (void)osec_imap_idle_done(line);
    osec_buf_init_secret(&out, 1024);
    (void)osec_imap_auth_response(line, &out, &cancel);
    osec_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    incremental(data, size);
    stream(data, size);
    lines(data, size);
    return 0;
}
