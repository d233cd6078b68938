/* cpns-pne: a Personal Network Element (watch, sensor, TV, car) of the CPNS
 * security function: EUKey enrolment, PN establishment with a PN Gateway,
 * requests relayed to the CPNS Server, Service Group messages. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "omasec/cpns_client.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/net.h"
#include "omasec/pn.h"

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
        strcmp(cmd, "fetch-psk") != 0) {
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
    else
        rc = cmd_whoami(ds, argc - optind, argv + optind);
    osec_devstate_close(&ds);
    return rc;
}
