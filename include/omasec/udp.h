/* UDP sockets and addresses for datagram daemons (cpm-sipd).
 *
 * The stream server (net.h) is connection oriented; datagram protocols
 * (SIP over UDP) bind one socket per worker thread with SO_REUSEPORT, so
 * the kernel spreads senders over the workers by their address and the
 * packets of one sender (e.g. a retransmission) reach the same worker.
 */
#ifndef OMASEC_UDP_H
#define OMASEC_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define OSEC_UDP_IP_MAX 46 /* INET6_ADDRSTRLEN */

/* An IPv4 or IPv6 socket address. */
struct osec_udp_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Numeric host ("192.0.2.1", "::1", "[::1]") and port into out.  EINVAL for
 * anything that is not a numeric address (no name resolution here). */
int osec_udp_addr_make(const char *host, uint16_t port, struct osec_udp_addr *out);
/* The numeric host (no brackets) and port of a. */
int osec_udp_addr_ip(const struct osec_udp_addr *a, char *ip, size_t iplen, uint16_t *port);
/* Same family, address and port. */
bool osec_udp_addr_eq(const struct osec_udp_addr *a, const struct osec_udp_addr *b);
/* Same family and address (any port). */
bool osec_udp_addr_same_host(const struct osec_udp_addr *a, const struct osec_udp_addr *b);

/* A non-blocking, close-on-exec UDP socket bound to host:port (port 0: any,
 * *bound gets the port).  reuseport: SO_REUSEPORT so that several sockets
 * (one per worker) share the address.  rcvbuf: SO_RCVBUF bytes, 0 = keep. */
int osec_udp_bind(const char *host, uint16_t port, bool reuseport, int rcvbuf, int *fd,
                  uint16_t *bound);

/* One datagram into buf; returns its length, 0 when none is waiting
 * (EAGAIN), or OSEC_EIO.  A datagram longer than len is reported as
 * OSEC_EBOUNDS (and dropped). */
ssize_t osec_udp_recv(int fd, void *buf, size_t len, struct osec_udp_addr *from);
/* Up to n (<= OSEC_UDP_BATCH_MAX) datagrams in one system call (recvmmsg):
 * datagram i into bufs[i] (buflen bytes each), its length in lens[i] and its
 * sender in from[i].  Returns how many (0 when none is waiting) or OSEC_EIO.
 * A truncated datagram gets lens[i] = 0 (the caller drops it). */
#define OSEC_UDP_BATCH_MAX 64
int osec_udp_recv_many(int fd, uint8_t *const *bufs, size_t buflen, size_t *lens,
                       struct osec_udp_addr *from, unsigned n);
/* Send one datagram; OSEC_EIO when the kernel refused it. */
int osec_udp_send(int fd, const void *data, size_t len, const struct osec_udp_addr *to);

#endif
