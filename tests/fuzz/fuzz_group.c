/* libFuzzer harness: Service Group messages (osec_group_msg_parse and the
 * receiver's verdict), the receiver's replay state, the group record and
 * the group creation body, on arbitrary bytes.
 *
 * The group is fixed (id "g1", epoch 3, key bytes 0..31, members gw-1 tv-1
 * watch-1), so the seed corpus holds genuine messages and mutations reach
 * the MAC and replay checks.  Aborts on: a verdict outside the documented
 * codes, a message accepted twice, a parsed message whose re-encoding
 * differs from the input, a decoded record that does not re-encode to the
 * same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/group.h"

static struct osec_group fixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memcpy(fixed.id, "g1", 3);
    memcpy(fixed.creator, "gw-1", 5);
    fixed.epoch = 3;
    for (size_t i = 0; i < OSEC_KEY_LEN; i++)
        fixed.key[i] = (uint8_t)i;
    fixed.nmembers = 3;
    memcpy(fixed.members[0], "gw-1", 5);
    memcpy(fixed.members[1], "tv-1", 5);
    memcpy(fixed.members[2], "watch-1", 8);
    return 0;
}

/* parse -> build with the same fields must give back the same head bytes */
static void reencode(const struct osec_group_msg *m)
{
    struct osec_buf b = OSEC_BUF_INIT(OSEC_GROUP_MSG_MAX);
    struct osec_group g = fixed;

    memcpy(g.id, m->group, sizeof(g.id));
    g.epoch = m->epoch;
    g.nmembers = 1;
    memcpy(g.members[0], m->sender, sizeof(g.members[0]));
    if (osec_group_msg_build(&g, m->sender, m->seq, m->payload, &b) != 0)
        abort();
    if (b.len != m->authed.len + OSEC_GROUP_MAC_LEN ||
        memcmp(b.data, m->authed.ptr, m->authed.len) != 0)
        abort();
    osec_buf_free(&b);
}

static void messages(const uint8_t *data, size_t size)
{
    struct osec_group_rx *rx;
    struct osec_group_msg m;
    int rc;

    if (osec_group_msg_parse(data, size, &m) == 0)
        reencode(&m);
    if (osec_group_rx_new(&fixed, &rx) != 0)
        abort();
    rc = osec_group_rx_verify(rx, data, size, &m);
    if (rc != 0 && rc != OSEC_EPARSE && rc != OSEC_EAUTH && rc != OSEC_ESTALE &&
        rc != OSEC_EPERM && rc != OSEC_EREPLAY)
        abort();
    if (rc == 0 && osec_group_rx_verify(rx, data, size, NULL) != OSEC_EREPLAY)
        abort();
    rc = osec_group_rx_load(rx, osec_slice_make(data, size));
    if (rc != 0 && rc != OSEC_EPARSE && rc != OSEC_ESTALE)
        abort();
    osec_group_rx_free(&rx);
}

static void records(const uint8_t *data, size_t size)
{
    struct osec_buf b = OSEC_BUF_INIT(1 << 16);
    struct osec_group g;
    int rc = osec_group_decode(osec_slice_make(data, size), &g);

    if (rc != 0 && rc != OSEC_EPARSE)
        abort();
    if (rc == 0) {
        if (osec_group_encode(&g, &b) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
            abort();
    }
    rc = osec_group_parse_create(osec_slice_make(data, size), &g);
    if (rc != 0 && rc != OSEC_EPARSE)
        abort();
    osec_group_clear(&g);
    osec_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    messages(data, size);
    records(data, size);
    return 0;
}
