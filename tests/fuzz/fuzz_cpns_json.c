/* libFuzzer harness: CPNS JSON request bodies. */
#include <stddef.h>
#include <stdint.h>

#include "omasec/cpns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osec_cpns_eukey_req e;
    struct osec_cpns_otk_req o;
    struct osec_slice body = osec_slice_make(data, size);

    (void)osec_cpns_parse_eukey_req(body, &e);
    (void)osec_cpns_parse_otk_req(body, &o);
    return 0;
}
