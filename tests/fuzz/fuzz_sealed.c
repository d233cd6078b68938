/* libFuzzer harness: osec_unseal / osec_sealed_version on arbitrary bytes.
 *
 * The master key is fixed (bytes 0..31, version 1), so the seed corpus can
 * hold genuine sealed values (purpose "fuzz", aad "fuzz-aad") and mutations
 * of them exercise every header check before the tag check.  Any result
 * other than success or OSEC_EINTEGRITY is a bug, as is a round-trip failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/seal.h"

static struct osec_master *master;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t key[OSEC_KEY_LEN];

    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    if (osec_master_from_bytes(key, sizeof(key), 1, &master) != 0)
        abort();
    return 0;
}

static void roundtrip(const uint8_t *data, size_t size)
{
    struct osec_buf s = OSEC_BUF_INIT(1 << 20), pt = OSEC_BUF_INIT(1 << 20);

    if (osec_seal(master, "fuzz", data, size / 2, data, size, &s) != 0)
        abort();
    if (s.len != size + OSEC_SEAL_OVERHEAD)
        abort();
    if (osec_unseal(master, "fuzz", data, size / 2, s.data, s.len, &pt) != 0)
        abort();
    if (pt.len != size || (size && memcmp(pt.data, data, size) != 0))
        abort();
    osec_buf_free(&s);
    osec_buf_free(&pt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osec_buf pt;
    uint32_t version;
    int rc;

    osec_buf_init_secret(&pt, 1 << 20);
    rc = osec_unseal(master, "fuzz", (const uint8_t *)"fuzz-aad", 8, data, size, &pt);
    if (rc != 0 && rc != OSEC_EINTEGRITY)
        abort();
    if (rc != 0 && pt.len != 0)
        abort();
    if (rc == 0 && pt.len + OSEC_SEAL_OVERHEAD != size)
        abort();
    rc = osec_sealed_version(data, size, &version);
    if (rc != 0 && rc != OSEC_EINTEGRITY)
        abort();
    osec_buf_free(&pt);
    if (size <= 4096)
        roundtrip(data, size);
    return 0;
}
