/* Time and randomness. */
#ifndef OMASEC_UTIL_H
#define OMASEC_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds from CLOCK_MONOTONIC (for timeouts and rate limits). */
uint64_t osec_time_mono_ms(void);
/* Microseconds from CLOCK_MONOTONIC (for latency measurements). */
uint64_t osec_time_mono_us(void);
/* Seconds since the Unix epoch (for expiry times that are stored). */
int64_t osec_time_now(void);
/* RFC 3339 UTC "2026-01-01T00:00:00Z" into dst (>= 21 bytes). */
int osec_time_fmt(int64_t t, char *dst, size_t dstlen);

/* CSPRNG (OpenSSL RAND_bytes). */
int osec_rand_bytes(void *buf, size_t n);
/* Uniform value in [0, bound). */
int osec_rand_uniform(uint32_t bound, uint32_t *out);

#endif
