/* Short-lived cache of verified password logins (Dovecot's auth_cache
 * idea): a password check costs a full scrypt, a client reconnecting every
 * few seconds with the same credentials should not.
 *
 * Only successes are cached, under HMAC-SHA256(per-process random key,
 * user NUL password): the cache never holds a password or anything that
 * can be tested offline without the process's key.  An entry lives ttl
 * seconds; a wrong password never matches an entry; changing a password
 * takes effect for cached logins after at most ttl seconds (call
 * osec_credcache_forget to make it immediate).  Fixed size, thread-safe.
 */
#ifndef OMASEC_CREDCACHE_H
#define OMASEC_CREDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct osec_credcache;

/* ttl seconds (>= 1), capacity entries (0: 4096). */
int osec_credcache_new(unsigned ttl, size_t capacity, struct osec_credcache **out);
void osec_credcache_free(struct osec_credcache **c);
/* true if (user, password) was verified within the last ttl seconds. */
bool osec_credcache_check(struct osec_credcache *c, const char *user, const uint8_t *pw,
                          size_t len, int64_t now);
/* Record a verified login. */
void osec_credcache_put(struct osec_credcache *c, const char *user, const uint8_t *pw,
                        size_t len, int64_t now);
/* Drop every entry of user. */
void osec_credcache_forget(struct osec_credcache *c, const char *user);

#endif
