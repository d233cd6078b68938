#include "omasec/util.h"

#include <openssl/rand.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "omasec/error.h"

uint64_t osec_time_mono_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t osec_time_mono_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t osec_time_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec;
}

int osec_time_fmt(int64_t t, char *dst, size_t dstlen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL)
        OSEC_BAIL(OSEC_EINVAL, "time out of range");
    if (strftime(dst, dstlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        OSEC_BAIL(OSEC_EBOUNDS, "time buffer too small");
    return 0;
}

int osec_rand_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;

        if (RAND_bytes(p, chunk) != 1)
            return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "RAND_bytes failed");
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int osec_rand_uniform(uint32_t bound, uint32_t *out)
{
    uint32_t v, limit;

    OSEC_ENSURE(bound > 0, OSEC_EINVAL, "bound must be positive");
    limit = UINT32_MAX - (UINT32_MAX % bound);
    do {
        OSEC_GUARD(osec_rand_bytes(&v, sizeof(v)));
    } while (v >= limit);
    *out = v % bound;
    return 0;
}
