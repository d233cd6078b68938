/* cpns-pne: a Personal Network Element (watch, sensor, TV, car) of the CPNS
 * security function: EUKey enrolment, PN establishment with a PN Gateway,
 * requests relayed to the CPNS Server, Service Group messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "omasec/cpns_client.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/group.h"
#include "omasec/net.h"
#include "omasec/pn.h"
#include "omasec/udp.h"
#include "omasec/util.h"

static const char usage[] =
    "usage: cpns-pne --data DIR COMMAND [OPTIONS]\n"
    "\n"
    "A CPNS Personal Network Element.  Its data directory holds its identity and\n"
    "EUKey, sealed under its own master key (DIR/master.key).\n"
    "\n"
    "Commands:\n"
    "  enroll --server URL --entity ID --user USER --cafile F [--type pne|gw]\n"
    "         [--via-gw HOST:PORT]\n"
    "        obtain an EUKey from the CPNS Server, authenticated with the owner's\n"
    "        password (one line on stdin) over server-authenticated TLS; with\n"
    "        --via-gw through a GW's enrolment tunnel (TLS stays end to end)\n"
    "  join --gw HOST:PORT [--udp] [--mode psk|digest] [--gw-cafile F] [--creator GW]\n"
    "        fetch and unseal the onetime key the GW registered for us, establish\n"
    "        the PN session (TLS-PSK, DTLS-PSK with --udp, or TLS + Digest), and\n"
    "        print 'authenticated gw=<entity id>'\n"
    "  whoami --gw HOST:PORT [--udp]\n"
    "        the server's whoami for this PNE, relayed through the GW over the PN\n"
    "        session and authenticated end to end with our EUKey (Digest)\n"
    "  fetch-psk [--creator GW]\n"
    "        fetch and unseal a onetime key and print 'KEY_ID PSK_HEX' (the TLS-PSK\n"
    "        identity and key for PN establishment) for use with another TLS stack;\n"
    "        prints a secret: for integration and testing\n"
    "  group create --group G MEMBER...\n"
    "        (a PN GW, enrolled with --type gw) create Service Group G with these\n"
    "        members (and itself); prints 'created group=G epoch=1'\n"
    "  group remove --group G ENTITY\n"
    "        remove ENTITY from G (the creator removes anyone, a member itself):\n"
    "        the group key rotates; prints 'removed group=G member=ENTITY epoch=N'\n"
    "  group key --group G\n"
    "        fetch the current group key over our EUKey-authenticated session and\n"
    "        keep it; prints 'group=G epoch=N members=A,B,...'\n"
    "  group send --group G --to HOST:PORT MESSAGE\n"
    "        send MESSAGE as one UDP datagram (unicast, broadcast or multicast)\n"
    "        with the next sequence number and the group MAC; prints\n"
    "        'sent group=G epoch=N seq=S'\n"
    "  group recv --group G --listen HOST:PORT [--count N] [--timeout S] [--refresh S]\n"
    "        fetch the current key, then print each accepted message as\n"
    "        'accepted from=ENTITY seq=N PAYLOAD' (non-printable bytes as \\xNN) until\n"
    "        N accepted, S seconds or SIGINT/SIGTERM; then\n"
    "        'dropped forged=N replayed=N nonmember=N malformed=N'.  The key is\n"
    "        fetched again when a newer epoch shows up and every --refresh seconds\n"
    "        (300); a multicast --listen address is joined\n"
    "\n"
    "Exit status: 0 on success, 1 on failure (reason on stderr), 2 on usage error.\n";

static int pne_fail(const char *what)
{
    fprintf(stderr, "cpns-pne: %s: %s\n", what, osec_error_msg());
    return 1;
}

static int read_line(char *buf, size_t len)
{
    size_t n;

    if (!fgets(buf, (int)len, stdin))
        return -1;
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return n > 0 ? 0 : -1;
}

static int cmd_enroll(struct osec_devstate *ds, int argc, char **argv)
{
    static const struct option lo[] = {
        { "server", required_argument, NULL, 's' }, { "entity", required_argument, NULL, 'e' },
        { "user", required_argument, NULL, 'u' }, { "cafile", required_argument, NULL, 'c' },
        { "type", required_argument, NULL, 't' }, { "via-gw", required_argument, NULL, 'v' },
        { NULL, 0, NULL, 0 },
    };
    struct osec_pn_enroll_opts eo;
    const char *via = NULL;
    char via_host[256];
    const char *server = NULL, *entity = NULL, *user = NULL, *cafile = NULL, *type = "pne";
    struct osec_pn_identity id;
    char host[256], pw[1100];
    uint16_t port;
    int ch, rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's': server = optarg; break;
        case 'e': entity = optarg; break;
        case 'u': user = optarg; break;
        case 'c': cafile = optarg; break;
        case 't': type = optarg; break;
        case 'v': via = optarg; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!server || !entity || !user || optind != argc) {
        fputs("cpns-pne: enroll needs --server, --entity and --user\n", stderr);
        return 2;
    }
    if (!cafile) {
        fputs("cpns-pne: enroll needs --cafile: the password only goes to a server whose "
              "certificate verifies\n", stderr);
        return 2;
    }
    if (osec_cpns_parse_url(server, host, sizeof(host), &port) < 0)
        return pne_fail("--server");
    if (read_line(pw, sizeof(pw)) < 0) {
        fputs("cpns-pne: the owner's password is expected as one line on stdin\n", stderr);
        return 1;
    }
    memset(&eo, 0, sizeof(eo));
    if (via && osec_net_parse_hostport(via, via_host, sizeof(via_host), &eo.via_port) < 0)
        return pne_fail("--via-gw");
    eo.via_host = via ? via_host : NULL;
    eo.host = host;
    eo.port = port;
    eo.cafile = cafile;
    eo.entity_id = entity;
    eo.type = type;
    eo.user = user;
    eo.password = pw;
    rc = osec_pn_enroll(&eo, &id);
    osec_wipe(pw, sizeof(pw));
    if (rc == 0)
        rc = osec_pn_identity_save(ds, &id);
    if (rc < 0) {
        osec_pn_identity_wipe(&id);
        return pne_fail("enrolment failed");
    }
    printf("enrolled entity=%s user=%s type=%s expires=%lld\n", id.entity_id, id.user, id.type,
           (long long)id.expires);
    osec_pn_identity_wipe(&id);
    return 0;
}

struct gw_opts {
    char host[256];
    uint16_t port;
    bool udp;
    enum osec_pn_mode mode;
    const char *cafile, *creator;
};

static int parse_gw_opts(int argc, char **argv, struct gw_opts *g)
{
    static const struct option lo[] = {
        { "gw", required_argument, NULL, 'g' }, { "udp", no_argument, NULL, 'u' },
        { "mode", required_argument, NULL, 'm' }, { "gw-cafile", required_argument, NULL, 'c' },
        { "creator", required_argument, NULL, 'C' }, { NULL, 0, NULL, 0 },
    };
    const char *gw = NULL;
    int ch;

    memset(g, 0, sizeof(*g));
    g->mode = OSEC_PN_MODE_PSK;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'g': gw = optarg; break;
        case 'u': g->udp = true; break;
        case 'c': g->cafile = optarg; break;
        case 'C': g->creator = optarg; break;
        case 'm':
            if (strcmp(optarg, "psk") == 0)
                g->mode = OSEC_PN_MODE_PSK;
            else if (strcmp(optarg, "digest") == 0)
                g->mode = OSEC_PN_MODE_DIGEST;
            else
                return 2;
            break;
        default: return 2;
        }
    }
    if (!gw || optind != argc)
        return 2;
    if (osec_net_parse_hostport(gw, g->host, sizeof(g->host), &g->port) < 0)
        return pne_fail("--gw");
    return 0;
}

/* Options and identity for the commands that talk to a GW. */
static int gw_command(struct osec_devstate *ds, int argc, char **argv, struct gw_opts *g,
                      struct osec_pn_identity *id)
{
    int rc = parse_gw_opts(argc, argv, g);

    if (rc != 0) {
        if (rc == 2)
            fputs(usage, stderr);
        return rc;
    }
    if (osec_pn_identity_load(ds, id) < 0)
        return pne_fail("no identity (run enroll first)");
    return 0;
}

static int cmd_join(struct osec_devstate *ds, int argc, char **argv)
{
    struct osec_pn_identity id;
    struct osec_pn_join_opts o;
    struct gw_opts g;
    char gw[OSEC_STORE_NAME_MAX + 1];
    int rc = gw_command(ds, argc, argv, &g, &id);

    if (rc != 0)
        return rc;
    o.gw_host = g.host;
    o.gw_port = g.port;
    o.udp = g.udp;
    o.mode = g.mode;
    o.gw_cafile = g.cafile ? g.cafile : (id.cafile[0] ? id.cafile : NULL);
    o.creator = g.creator;
    rc = osec_pn_join(ds, &id, &o, gw);
    osec_pn_identity_wipe(&id);
    if (rc < 0)
        return pne_fail("PN establishment failed");
    printf("authenticated gw=%s\n", gw);
    return 0;
}

static int cmd_whoami(struct osec_devstate *ds, int argc, char **argv)
{
    struct osec_pn_identity id;
    struct osec_cpns_client *c = NULL;
    struct osec_cpns_response r;
    struct gw_opts g;
    int rc = gw_command(ds, argc, argv, &g, &id);

    if (rc != 0)
        return rc;
    osec_cpns_response_init(&r);
    rc = osec_pn_session_client(ds, &id, g.host, g.port, g.udp, &c);
    if (rc == 0)
        rc = osec_cpns_client_request(c, "GET", "/cpns/v1/whoami", osec_slice_make(NULL, 0),
                                      NULL, &r);
    osec_pn_identity_wipe(&id);
    osec_cpns_client_free(&c);
    if (rc == 0 && r.status != 200)
        rc = osec_error_set(OSEC_EAUTH, __FILE__, __LINE__, "server answered %d: %s", r.status,
                            osec_buf_cstr(&r.body));
    if (rc == 0)
        printf("%s\n", osec_buf_cstr(&r.body));
    osec_cpns_response_free(&r);
    return rc < 0 ? pne_fail("whoami failed") : 0;
}

static int cmd_fetch_psk(struct osec_devstate *ds, int argc, char **argv)
{
    struct osec_pn_identity id;
    struct osec_cpns_client *server = NULL;
    struct osec_pn_key k;
    uint8_t psk[OSEC_KEY_LEN];
    int rc;

    if (!(argc == 1 || (argc == 3 && strcmp(argv[1], "--creator") == 0))) {
        fputs(usage, stderr);
        return 2;
    }
    if (osec_pn_identity_load(ds, &id) < 0)
        return pne_fail("no identity (run enroll first)");
    rc = osec_pn_server_client(&id, &server);
    if (rc == 0)
        rc = osec_pn_fetch_otk(server, &id, argc == 3 ? argv[2] : NULL, &k);
    if (rc == 0)
        rc = osec_pn_key_psk(&k, psk);
    osec_cpns_client_free(&server);
    osec_pn_identity_wipe(&id);
    if (rc < 0)
        return pne_fail("fetch failed");
    printf("%s ", k.id);
    for (size_t i = 0; i < sizeof(psk); i++)
        printf("%02x", psk[i]);
    printf("\n");
    osec_wipe(psk, sizeof(psk));
    osec_wipe(&k, sizeof(k));
    return 0;
}

/* ---- Service Groups ----------------------------------------------------- */

struct group_opts {
    const char *group, *to, *listen;
    int64_t count, timeout, refresh;
    int nargs;
    char **args;        /* positional arguments after the options */
};

static int parse_group_opts(int argc, char **argv, struct group_opts *o)
{
    static const struct option lo[] = {
        { "group", required_argument, NULL, 'g' }, { "to", required_argument, NULL, 't' },
        { "listen", required_argument, NULL, 'l' }, { "count", required_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 'T' }, { "refresh", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    int ch, rc = 0;

    memset(o, 0, sizeof(*o));
    o->refresh = 300;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1 && rc == 0) {
        switch (ch) {
        case 'g': o->group = optarg; break;
        case 't': o->to = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'n': rc = osec_parse_i64(optarg, 1, INT64_MAX, &o->count); break;
        case 'T': rc = osec_parse_i64(optarg, 1, 86400 * 365, &o->timeout); break;
        case 'r': rc = osec_parse_i64(optarg, 1, 86400 * 365, &o->refresh); break;
        default: return 2;
        }
    }
    if (rc < 0 || !o->group || osec_group_id_valid(o->group) < 0)
        return 2;
    o->nargs = argc - optind;
    o->args = argv + optind;
    return 0;
}

/* Fetch the current key over our EUKey-authenticated session and keep it. */
static int group_fetch_save(struct osec_devstate *ds, const struct osec_pn_identity *id,
                            const char *group, struct osec_group *g)
{
    struct osec_cpns_client *server = NULL;
    int rc = osec_pn_server_client(id, &server);

    if (rc == 0)
        rc = osec_group_fetch(server, id, group, g);
    osec_cpns_client_free(&server);
    if (rc == 0)
        rc = osec_group_save(ds, g);
    return rc;
}

static void print_members(const char *prefix, const struct osec_group *g)
{
    printf("%sgroup=%s epoch=%u members=", prefix, g->id, (unsigned)g->epoch);
    for (size_t i = 0; i < g->nmembers; i++)
        printf("%s%s", i ? "," : "", g->members[i]);
    printf("\n");
}

static int group_admin(const struct osec_pn_identity *id, const char *sub,
                       const struct group_opts *o)
{
    struct osec_cpns_client *server = NULL;
    uint32_t epoch = 0;
    int rc;

    if ((strcmp(sub, "create") == 0 && o->nargs < 1) ||
        (strcmp(sub, "remove") == 0 && o->nargs != 1)) {
        fputs(usage, stderr);
        return 2;
    }
    rc = osec_pn_server_client(id, &server);
    if (rc == 0 && strcmp(sub, "create") == 0)
        rc = osec_group_request_create(server, o->group, (const char *const *)o->args,
                                       (size_t)o->nargs, &epoch);
    else if (rc == 0)
        rc = osec_group_request_remove(server, o->group, o->args[0], &epoch);
    osec_cpns_client_free(&server);
    if (rc < 0)
        return pne_fail(strcmp(sub, "create") == 0 ? "group create" : "group remove");
    if (strcmp(sub, "create") == 0)
        printf("created group=%s epoch=%u\n", o->group, (unsigned)epoch);
    else
        printf("removed group=%s member=%s epoch=%u\n", o->group, o->args[0], (unsigned)epoch);
    return 0;
}

static int group_key(struct osec_devstate *ds, const struct osec_pn_identity *id,
                     const struct group_opts *o)
{
    struct osec_group g;
    int rc;

    if (o->nargs != 0) {
        fputs(usage, stderr);
        return 2;
    }
    rc = group_fetch_save(ds, id, o->group, &g);
    if (rc < 0)
        return pne_fail("group key");
    print_members("", &g);
    osec_group_clear(&g);
    return 0;
}

/* A UDP socket of the family of `to`, allowed to broadcast. */
static int send_socket(const struct osec_udp_addr *to, int *fd)
{
    uint16_t bound;
    int on = 1;

    OSEC_GUARD(osec_udp_bind(to->ss.ss_family == AF_INET6 ? "::" : "0.0.0.0", 0, false, 0, fd,
                             &bound));
    if (to->ss.ss_family == AF_INET &&
        setsockopt(*fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)) != 0) {
        close(*fd);
        OSEC_BAIL(OSEC_EIO, "SO_BROADCAST refused");
    }
    return 0;
}

static int group_send_one(struct osec_devstate *ds, const struct osec_group *g,
                          const char *self, const struct group_opts *o, uint64_t *seq)
{
    struct osec_buf msg = OSEC_BUF_INIT(OSEC_GROUP_MSG_MAX);
    struct osec_udp_addr to;
    char host[256];
    uint16_t port;
    int fd = -1, rc;

    OSEC_CHECK(rc, osec_net_parse_hostport(o->to, host, sizeof(host), &port));
    OSEC_CHECK(rc, osec_udp_addr_make(host, port, &to));
    OSEC_CHECK(rc, osec_group_next_seq(ds, g->id, seq)); /* persisted before use */
    OSEC_CHECK(rc, osec_group_msg_build(g, self, *seq, osec_slice_cstr(o->args[0]), &msg));
    OSEC_CHECK(rc, send_socket(&to, &fd));
    rc = osec_udp_send(fd, msg.data, msg.len, &to);
out:
    if (fd >= 0)
        close(fd);
    osec_buf_free(&msg);
    return rc;
}

static int group_send(struct osec_devstate *ds, const struct osec_pn_identity *id,
                      const struct group_opts *o)
{
    struct osec_group g;
    uint64_t seq = 0;
    int rc;

    if (!o->to || o->nargs != 1) {
        fputs(usage, stderr);
        return 2;
    }
    rc = osec_group_restore(ds, o->group, &g);
    if (rc == OSEC_ENOTFOUND)
        rc = group_fetch_save(ds, id, o->group, &g);
    if (rc == 0)
        rc = group_send_one(ds, &g, id->entity_id, o, &seq);
    if (rc == 0)
        printf("sent group=%s epoch=%u seq=%llu\n", g.id, (unsigned)g.epoch,
               (unsigned long long)seq);
    osec_group_clear(&g);
    return rc < 0 ? pne_fail("group send") : 0;
}

/* ---- group recv -------------------------------------------------------- */

static volatile sig_atomic_t recv_stop;

static void on_stop(int sig)
{
    (void)sig;
    recv_stop = 1;
}

struct receiver {
    struct osec_devstate *ds;
    const struct osec_pn_identity *id;
    const char *group;
    struct osec_group_rx *rx;
    uint64_t last_fetch_ms;
};

static bool is_multicast(const struct osec_udp_addr *a)
{
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)&a->ss;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)&a->ss;

    if (a->ss.ss_family == AF_INET)
        return IN_MULTICAST(ntohl(v4->sin_addr.s_addr));
    return a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_MULTICAST(&v6->sin6_addr);
}

static int join_multicast(int fd, const struct osec_udp_addr *a)
{
    struct ipv6_mreq mr6;
    struct ip_mreq mr;

    if (a->ss.ss_family == AF_INET) {
        memset(&mr, 0, sizeof(mr));
        mr.imr_multiaddr = ((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr;
        mr.imr_interface.s_addr = htonl(INADDR_ANY);
        OSEC_ENSURE(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == 0,
                    OSEC_EIO, "cannot join the multicast group: %s", strerror(errno));
        return 0;
    }
    memset(&mr6, 0, sizeof(mr6));
    mr6.ipv6mr_multiaddr = ((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr;
    OSEC_ENSURE(setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr6, sizeof(mr6)) == 0, OSEC_EIO,
                "cannot join the multicast group: %s", strerror(errno));
    return 0;
}

/* A multicast address is joined, and shared with other receivers on this
 * host (SO_REUSEPORT: each gets its own copy of every datagram). */
static int recv_socket(const char *listen, int *fd)
{
    struct osec_udp_addr a;
    char host[256];
    uint16_t port, bound;
    bool mc;
    int rc;

    OSEC_GUARD(osec_net_parse_hostport(listen, host, sizeof(host), &port));
    OSEC_GUARD(osec_udp_addr_make(host, port, &a));
    mc = is_multicast(&a);
    OSEC_GUARD(osec_udp_bind(host, port, mc, 0, fd, &bound));
    rc = mc ? join_multicast(*fd, &a) : 0;
    if (rc < 0)
        close(*fd);
    return rc;
}

/* Fetch the key again (at most every 2 s: a flood of datagrams naming a
 * newer epoch must not turn into a flood of server requests). */
static int refresh_key(struct receiver *r, bool force)
{
    struct osec_group g;
    uint64_t now = osec_time_mono_ms();
    int rc;

    if (!force && now - r->last_fetch_ms < 2000)
        return OSEC_EBUSY;
    r->last_fetch_ms = now;
    rc = group_fetch_save(r->ds, r->id, r->group, &g);
    if (rc == 0 && g.epoch > osec_group_rx_epoch(r->rx)) {
        (void)osec_group_rx_store(r->ds, r->rx);
        rc = osec_group_rx_rekey(r->rx, &g);
        fprintf(stderr, "cpns-pne: group %s: now epoch %u\n", g.id, (unsigned)g.epoch);
    }
    if (rc < 0)
        fprintf(stderr, "cpns-pne: group key refresh failed: %s\n", osec_error_msg());
    osec_group_clear(&g);
    return rc;
}

static void print_payload(struct osec_slice p)
{
    for (size_t i = 0; i < p.len; i++) {
        uint8_t c = p.ptr[i];

        if (c >= 0x20 && c < 0x7f && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
}

static const char *verdict_name(int rc)
{
    switch (rc) {
    case OSEC_EAUTH: return "forged";
    case OSEC_EREPLAY: return "replayed";
    case OSEC_EPERM: return "nonmember";
    case OSEC_EPARSE: return "malformed";
    default: return "error";
    }
}

/* One datagram: verdict, printed; true when accepted. */
static bool recv_one(struct receiver *r, const uint8_t *d, size_t n,
                     const struct osec_udp_addr *from)
{
    struct osec_group_msg m;
    char ip[OSEC_UDP_IP_MAX];
    uint16_t port = 0;
    int rc = osec_group_rx_verify(r->rx, d, n, &m);

    if (rc == OSEC_ESTALE && refresh_key(r, false) == 0)
        rc = osec_group_rx_verify(r->rx, d, n, &m);
    if (rc == OSEC_ESTALE) { /* an epoch the server does not know of (yet) */
        rc = OSEC_EAUTH;
        osec_group_rx_count(r->rx, rc);
    }
    if (rc == 0) {
        printf("accepted from=%s seq=%llu ", m.sender, (unsigned long long)m.seq);
        print_payload(m.payload);
        printf("\n");
        fflush(stdout);
        if (osec_group_rx_store(r->ds, r->rx) < 0)
            fprintf(stderr, "cpns-pne: cannot save the replay state: %s\n", osec_error_msg());
        return true;
    }
    if (osec_udp_addr_ip(from, ip, sizeof(ip), &port) < 0)
        (void)osec_strlcpy(ip, "?", sizeof(ip));
    fprintf(stderr, "cpns-pne: dropped verdict=%s peer=%s:%u reason=\"%s\"\n", verdict_name(rc),
            ip, (unsigned)port, osec_error_msg());
    return false;
}

static int wait_ms(uint64_t deadline, uint64_t next_refresh)
{
    uint64_t now = osec_time_mono_ms(), until = next_refresh;

    if (deadline && deadline < until)
        until = deadline;
    return until <= now ? 0 : (int)(until - now > 1000 ? 1000 : until - now);
}

static int recv_loop(struct receiver *r, int fd, const struct group_opts *o)
{
    uint8_t buf[OSEC_GROUP_MSG_MAX + 1];
    uint64_t deadline = o->timeout ? osec_time_mono_ms() + (uint64_t)o->timeout * 1000 : 0;
    uint64_t next_refresh = osec_time_mono_ms() + (uint64_t)o->refresh * 1000;
    struct pollfd p = { fd, POLLIN, 0 };
    struct osec_udp_addr from;
    int64_t accepted = 0;
    ssize_t n;

    while (!recv_stop && (!o->count || accepted < o->count)) {
        if (deadline && osec_time_mono_ms() >= deadline)
            break;
        if (osec_time_mono_ms() >= next_refresh) {
            (void)refresh_key(r, true);
            next_refresh = osec_time_mono_ms() + (uint64_t)o->refresh * 1000;
        }
        if (poll(&p, 1, wait_ms(deadline, next_refresh)) <= 0)
            continue;
        n = osec_udp_recv(fd, buf, sizeof(buf), &from);
        if (n == OSEC_EBOUNDS) {
            osec_group_rx_count(r->rx, OSEC_EPARSE);
            continue;
        }
        if (n < 0)
            return (int)n;
        if (n > 0 && recv_one(r, buf, (size_t)n, &from))
            accepted++;
    }
    return 0;
}

/* The key at start: the server's current one (we may have been removed, or
 * the group rotated while we were away); the stored one only when the
 * server cannot be reached. */
static int recv_key(struct osec_devstate *ds, const struct osec_pn_identity *id,
                    const char *group, struct osec_group *g)
{
    int rc = group_fetch_save(ds, id, group, g);

    if (rc == OSEC_EPERM || rc == OSEC_ENOTFOUND || rc == OSEC_EAUTH || rc == 0)
        return rc;
    fprintf(stderr, "cpns-pne: server unreachable (%s): using the stored group key\n",
            osec_error_msg());
    return osec_group_restore(ds, group, g);
}

static int group_recv(struct osec_devstate *ds, const struct osec_pn_identity *id,
                      const struct group_opts *o)
{
    struct receiver r = { ds, id, o->group, NULL, 0 };
    struct osec_group g;
    struct osec_group_counters n;
    int fd = -1, rc;

    if (!o->listen || o->nargs != 0) {
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    OSEC_CHECK(rc, recv_key(ds, id, o->group, &g));
    OSEC_CHECK(rc, osec_group_rx_new(&g, &r.rx));
    OSEC_CHECK(rc, osec_group_rx_restore(ds, r.rx));
    OSEC_CHECK(rc, recv_socket(o->listen, &fd));
    fprintf(stderr, "cpns-pne: listening group=%s epoch=%u\n", g.id, (unsigned)g.epoch);
    rc = recv_loop(&r, fd, o);
    (void)osec_group_rx_store(ds, r.rx);
    n = osec_group_rx_counters(r.rx);
    printf("dropped forged=%llu replayed=%llu nonmember=%llu malformed=%llu\n",
           (unsigned long long)n.forged, (unsigned long long)n.replayed,
           (unsigned long long)n.nonmember, (unsigned long long)n.malformed);
out:
    if (fd >= 0)
        close(fd);
    osec_group_rx_free(&r.rx);
    osec_group_clear(&g);
    return rc < 0 ? pne_fail("group recv") : 0;
}

static int cmd_group(struct osec_devstate *ds, int argc, char **argv)
{
    struct osec_pn_identity id;
    struct group_opts o;
    const char *sub = argc > 1 ? argv[1] : "";
    int rc;

    if (parse_group_opts(argc - 1, argv + 1, &o) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (osec_pn_identity_load(ds, &id) < 0)
        return pne_fail("no identity (run enroll first)");
    if (strcmp(sub, "create") == 0 || strcmp(sub, "remove") == 0)
        rc = group_admin(&id, sub, &o);
    else if (strcmp(sub, "key") == 0)
        rc = group_key(ds, &id, &o);
    else if (strcmp(sub, "send") == 0)
        rc = group_send(ds, &id, &o);
    else if (strcmp(sub, "recv") == 0)
        rc = group_recv(ds, &id, &o);
    else
        rc = (fputs(usage, stderr), 2);
    osec_pn_identity_wipe(&id);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "data", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct osec_devstate *ds = NULL;
    const char *data = NULL, *cmd;
    int ch, rc;

    while ((ch = getopt_long(argc, argv, "+d:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'd': data = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!data || optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    cmd = argv[optind];
    if (strcmp(cmd, "enroll") != 0 && strcmp(cmd, "join") != 0 && strcmp(cmd, "whoami") != 0 &&
        strcmp(cmd, "fetch-psk") != 0 && strcmp(cmd, "group") != 0) {
        fprintf(stderr, "cpns-pne: unknown command '%s' (see --help)\n", cmd);
        return 2;
    }
    if (osec_devstate_open(data, strcmp(cmd, "enroll") == 0, &ds) < 0)
        return pne_fail(data);
    if (strcmp(cmd, "enroll") == 0)
        rc = cmd_enroll(ds, argc - optind, argv + optind);
    else if (strcmp(cmd, "join") == 0)
        rc = cmd_join(ds, argc - optind, argv + optind);
    else if (strcmp(cmd, "fetch-psk") == 0)
        rc = cmd_fetch_psk(ds, argc - optind, argv + optind);
    else if (strcmp(cmd, "group") == 0)
        rc = cmd_group(ds, argc - optind, argv + optind);
    else
        rc = cmd_whoami(ds, argc - optind, argv + optind);
    osec_devstate_close(&ds);
    return rc;
}
