/* lib/net internals: the per-source connection counts of one server.
 *
 * Every worker of a server counts its connections in one table keyed by
 * source: an IPv4 address (also when it arrives IPv4-mapped on an IPv6
 * socket), or the /64 prefix of an IPv6 address.  A /64 is what one
 * subscriber or host is handed (RFC 6177, RFC 7421) and can fill with
 * addresses at will, so counting per IPv6 address would let one client
 * open as many connections as it likes; larger allocations (/56, /48)
 * still multiply the limit, which is the price of not refusing a whole
 * provider.
 *
 * The table holds at most one slot per live connection and is sized to
 * twice the server's connection limit, so it never fills; slots are freed
 * as soon as a count drops to 0 (no tombstones), and the index is a keyed
 * hash (random seed per table) so that chosen addresses cannot pile up on
 * one probe chain.  One mutex: an accept and a close each take it once.
 */
#ifndef OMASEC_NET_INT_H
#define OMASEC_NET_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_src_key {
    uint64_t v;   /* IPv4 address, or the first 64 bits of an IPv6 address */
    uint8_t fam;  /* 4, 6, or 0 (not an IP socket: all such peers share one slot) */
};

struct net_src_table;

int net_src_new(size_t max_conns, struct net_src_table **out);
void net_src_free(struct net_src_table **t);
void net_src_key_of(const struct sockaddr *sa, struct net_src_key *k);
/* Count one more connection of k unless it has limit already (limit 0:
 * no limit, always counted).  false: refused, nothing counted. */
bool net_src_acquire(struct net_src_table *t, const struct net_src_key *k, unsigned limit);
/* One connection of k (counted by net_src_acquire) is gone. */
void net_src_release(struct net_src_table *t, const struct net_src_key *k);
/* Sources with a connection, and connections counted. */
void net_src_totals(struct net_src_table *t, size_t *sources, size_t *conns);
/* "192.0.2.1" / "2001:db8:1:2::/64", for logs. */
void net_src_format(const struct net_src_key *k, char *out, size_t len);

/* Connections refused at accept: counted, and logged at most once a second
 * so that a flood does not turn into a flood of log lines. */
struct net_refusals {
    atomic_uint_least64_t n;
    atomic_uint_least64_t logged;   /* n at the last log line */
    atomic_uint_least64_t next_ms;  /* no log line before this (monotonic) */
};

/* Count one refusal in r; true when a log line is due, with *since the
 * refusals since the last one. */
bool net_refusal_due(struct net_refusals *r, uint64_t *since);
/* The log line of a refusal by the per-source limit (every server alike). */
void net_src_log_refused(const struct net_src_key *k, unsigned limit, uint64_t since);

#endif
