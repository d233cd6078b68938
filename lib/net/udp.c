/* UDP sockets and addresses (see udp.h). */
#include "omasec/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "omasec/buf.h"
#include "omasec/error.h"

int osec_udp_addr_make(const char *host, uint16_t port, struct osec_udp_addr *out)
{
    char h[OSEC_UDP_IP_MAX + 2];
    size_t n = host ? strlen(host) : 0;

    memset(out, 0, sizeof(*out));
    OSEC_ENSURE(n > 0 && n < sizeof(h), OSEC_EINVAL, "bad address");
    if (host[0] == '[' && host[n - 1] == ']') {
        memcpy(h, host + 1, n - 2);
        h[n - 2] = '\0';
    } else {
        memcpy(h, host, n + 1);
    }
    if (strchr(h, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        OSEC_ENSURE(inet_pton(AF_INET6, h, &a->sin6_addr) == 1, OSEC_EINVAL,
                    "bad IPv6 address '%s'", h);
        out->len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->ss;

        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        OSEC_ENSURE(inet_pton(AF_INET, h, &a->sin_addr) == 1, OSEC_EINVAL,
                    "bad IPv4 address '%s'", h);
        out->len = sizeof(*a);
    }
    return 0;
}

int osec_udp_addr_ip(const struct osec_udp_addr *a, char *ip, size_t iplen, uint16_t *port)
{
    const void *src;
    int fam = a->ss.ss_family;

    if (fam == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)&a->ss;

        src = &s->sin6_addr;
        *port = ntohs(s->sin6_port);
    } else {
        const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)&a->ss;

        OSEC_ENSURE(fam == AF_INET, OSEC_EINVAL, "not an IP address");
        src = &s->sin_addr;
        *port = ntohs(s->sin_port);
    }
    OSEC_ENSURE(inet_ntop(fam, src, ip, (socklen_t)iplen) != NULL, OSEC_EBOUNDS,
                "address buffer too small");
    return 0;
}

bool osec_udp_addr_same_host(const struct osec_udp_addr *a, const struct osec_udp_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr,
                      &((const struct sockaddr_in6 *)(const void *)&b->ss)->sin6_addr,
                      16) == 0;
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)(const void *)&b->ss)->sin_addr.s_addr;
    return false;
}

bool osec_udp_addr_eq(const struct osec_udp_addr *a, const struct osec_udp_addr *b)
{
    if (!osec_udp_addr_same_host(a, b))
        return false;
    if (a->ss.ss_family == AF_INET6)
        return ((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_port ==
               ((const struct sockaddr_in6 *)(const void *)&b->ss)->sin6_port;
    return ((const struct sockaddr_in *)(const void *)&a->ss)->sin_port ==
           ((const struct sockaddr_in *)(const void *)&b->ss)->sin_port;
}

static int bound_port(int fd, uint16_t *bound)
{
    struct osec_udp_addr a;
    char ip[OSEC_UDP_IP_MAX];

    a.len = sizeof(a.ss);
    OSEC_ENSURE(getsockname(fd, (struct sockaddr *)&a.ss, &a.len) == 0, OSEC_EIO,
                "getsockname: %s", strerror(errno));
    return osec_udp_addr_ip(&a, ip, sizeof(ip), bound);
}

int osec_udp_bind(const char *host, uint16_t port, bool reuseport, int rcvbuf, int *fd,
                  uint16_t *bound)
{
    struct osec_udp_addr a;
    int s, one = 1, rc = 0;

    *fd = -1;
    OSEC_GUARD(osec_udp_addr_make(host, port, &a));
    s = socket(a.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    OSEC_ENSURE(s >= 0, OSEC_EIO, "socket: %s", strerror(errno));
    if (reuseport && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        OSEC_FAIL(rc, OSEC_EIO, "SO_REUSEPORT: %s", strerror(errno));
    if (rcvbuf > 0)
        (void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)); /* best effort */
    if (bind(s, (struct sockaddr *)&a.ss, a.len) != 0)
        OSEC_FAIL(rc, OSEC_EIO, "cannot bind udp %s:%u: %s", host, (unsigned)port,
                  strerror(errno));
    if (bound)
        OSEC_CHECK(rc, bound_port(s, bound));
    *fd = s;
    return 0;
out:
    (void)close(s);
    return rc;
}

ssize_t osec_udp_recv(int fd, void *buf, size_t len, struct osec_udp_addr *from)
{
    struct iovec iov = { buf, len };
    struct msghdr mh;
    ssize_t n;

    memset(&mh, 0, sizeof(mh));
    mh.msg_name = &from->ss;
    mh.msg_namelen = sizeof(from->ss);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    n = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        OSEC_BAIL(OSEC_EIO, "recvmsg: %s", strerror(errno));
    }
    from->len = mh.msg_namelen;
    OSEC_ENSURE(!(mh.msg_flags & MSG_TRUNC), OSEC_EBOUNDS, "datagram larger than %zu bytes",
                len);
    return n;
}

int osec_udp_recv_many(int fd, uint8_t *const *bufs, size_t buflen, size_t *lens,
                       struct osec_udp_addr *from, unsigned n)
{
    struct mmsghdr mm[OSEC_UDP_BATCH_MAX];
    struct iovec iov[OSEC_UDP_BATCH_MAX];
    int got;

    OSEC_ENSURE(n > 0 && n <= OSEC_UDP_BATCH_MAX, OSEC_EINVAL, "bad batch size");
    memset(mm, 0, sizeof(mm[0]) * n);
    for (unsigned i = 0; i < n; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = buflen;
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
        mm[i].msg_hdr.msg_name = &from[i].ss;
        mm[i].msg_hdr.msg_namelen = sizeof(from[i].ss);
    }
    got = recvmmsg(fd, mm, n, MSG_DONTWAIT, NULL);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        OSEC_BAIL(OSEC_EIO, "recvmmsg: %s", strerror(errno));
    }
    for (int i = 0; i < got; i++) {
        from[i].len = mm[i].msg_hdr.msg_namelen;
        lens[i] = (mm[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : mm[i].msg_len;
    }
    return got;
}

int osec_udp_send(int fd, const void *data, size_t len, const struct osec_udp_addr *to)
{
    ssize_t n = sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       (const struct sockaddr *)&to->ss, to->len);

    OSEC_ENSURE(n == (ssize_t)len, OSEC_EIO, "sendto: %s", n < 0 ? strerror(errno) : "short");
    return 0;
}
