/* libFuzzer harness: the INI configuration parser. */
#include <stddef.h>
#include <stdint.h>

#include "omasec/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osec_config *cfg = NULL;
    int64_t n;
    bool b;

    if (osec_config_parse("fuzz", (const char *)data, size, &cfg) == 0) {
        (void)osec_config_get(cfg, "", "a");
        (void)osec_config_get_int(cfg, "s", "n", -5, 5, 0, &n);
        (void)osec_config_get_bool(cfg, "s", "b", false, &b);
        for (size_t i = 0; i < osec_config_section_count(cfg); i++)
            (void)osec_config_get(cfg, osec_config_section_name(cfg, i), "k");
        osec_config_free(&cfg);
    }
    return 0;
}
