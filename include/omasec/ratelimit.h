/* Failed-authentication rate limiting (per source address and per identity).
 *
 * A key ("ip:192.0.2.1", "id:watch-1") that fails max_failures times within
 * window seconds is blocked for block seconds; every further failure while
 * blocked extends the block.  A success clears the key.  Memory is bounded:
 * the table has a fixed number of slots and, when full, the least recently
 * touched key in the probe range is forgotten (an attacker can make us
 * forget, never make us allocate).  Thread-safe.
 */
#ifndef OMASEC_RATELIMIT_H
#define OMASEC_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct osec_ratelimit;

struct osec_ratelimit_config {
    unsigned max_failures; /* 0: 5 */
    unsigned window;       /* seconds; 0: 60 */
    unsigned block;        /* seconds; 0: 60 */
    size_t capacity;       /* slots; 0: 65536 */
};

int osec_ratelimit_new(const struct osec_ratelimit_config *cfg, struct osec_ratelimit **out);
void osec_ratelimit_free(struct osec_ratelimit **rl);
/* New thresholds (configuration reload); capacity stays as created. */
void osec_ratelimit_set_config(struct osec_ratelimit *rl, const struct osec_ratelimit_config *cfg);
/* 0 if key may try; OSEC_EBUSY if blocked, with the seconds left. */
int osec_ratelimit_check(struct osec_ratelimit *rl, const char *key, int64_t now,
                         unsigned *retry_after);
void osec_ratelimit_fail(struct osec_ratelimit *rl, const char *key, int64_t now);
void osec_ratelimit_success(struct osec_ratelimit *rl, const char *key);

#endif
