/* libFuzzer harness: strict base64 / base64url decoding.
 *
 * Whatever decodes must re-encode to exactly the input (the decoders accept
 * only canonical encodings); whatever is encoded must decode back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/error.h"

static void check_std(struct osec_slice in)
{
    struct osec_buf d = OSEC_BUF_INIT(1 << 20), e = OSEC_BUF_INIT(1 << 21);
    int rc = osec_b64_decode(in, &d);

    if (rc != 0 && rc != OSEC_EPARSE)
        abort();
    if (rc == 0) {
        if (osec_b64_encode(d.data, d.len, &e) != 0)
            abort();
        /* padding is optional on input: compare without it */
        size_t n = e.len;

        while (n > 0 && e.data[n - 1] == '=')
            n--;
        if (!(e.len == in.len && memcmp(e.data, in.ptr, in.len) == 0) &&
            !(n == in.len && memcmp(e.data, in.ptr, n) == 0))
            abort();
    } else if (d.len != 0) {
        abort();
    }
    osec_buf_free(&d);
    osec_buf_free(&e);
}

static void check_url(struct osec_slice in)
{
    struct osec_buf d = OSEC_BUF_INIT(1 << 20), e = OSEC_BUF_INIT(1 << 21);
    int rc = osec_b64url_decode(in, &d);

    if (rc != 0 && rc != OSEC_EPARSE)
        abort();
    if (rc == 0) {
        if (osec_b64url_encode(d.data, d.len, &e) != 0)
            abort();
        if (e.len != in.len || (in.len && memcmp(e.data, in.ptr, in.len) != 0))
            abort();
    }
    osec_buf_free(&d);
    osec_buf_free(&e);
}

static void check_encode(const uint8_t *data, size_t size)
{
    struct osec_buf e = OSEC_BUF_INIT(1 << 21), d = OSEC_BUF_INIT(1 << 20);

    if (osec_b64_encode(data, size, &e) != 0 || e.len % 4 != 0)
        abort();
    if (osec_b64_decode(osec_buf_slice(&e), &d) != 0 || d.len != size ||
        (size && memcmp(d.data, data, size) != 0))
        abort();
    osec_buf_reset(&e);
    osec_buf_reset(&d);
    if (osec_b64url_encode(data, size, &e) != 0 || memchr(e.data, '=', e.len) != NULL)
        abort();
    if (osec_b64url_decode(osec_buf_slice(&e), &d) != 0 || d.len != size ||
        (size && memcmp(d.data, data, size) != 0))
        abort();
    osec_buf_free(&e);
    osec_buf_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osec_slice in = osec_slice_make(data, size);

    check_std(in);
    check_url(in);
    check_encode(data, size);
    return 0;
}
