/* cpns-gw: the PN Gateway (phone, home box) of the CPNS security function. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw.h"
#include "omasec/error.h"
#include "omasec/config.h"
#include "omasec/keys.h"
#include "omasec/log.h"
#include "omasec/tls.h"
#include "omasec/util.h"

static const char usage[] =
    "usage: cpns-gw --data DIR [--server URL --entity ID --user USER] [options]\n"
    "       cpns-gw --data DIR pair PEER_ENTITY_ID [--ttl S]\n"
    "       cpns-gw --data DIR link --gw HOST:PORT [--udp] [--mode psk|digest] [--gw-cafile F]\n"
    "\n"
    "The PN Gateway: obtains its EUKey from the CPNS Server on first start (owner's\n"
    "password from --password-file, else one line on stdin), keeps a secure session\n"
    "to the server (TLS-PSK with the EUKey), and accepts PNEs and peer gateways that\n"
    "prove a onetime key it registered for them ('pair').  Requests of established\n"
    "PNEs to /cpns/v1/... are relayed to the server with the PNE's own credentials.\n"
    "\n"
    "  -d, --data DIR            the GW's data directory (identity, keys; 0700)\n"
    "      --server URL          https://HOST:PORT of the CPNS Server (first start)\n"
    "      --entity ID           this GW's Entity ID (first start)\n"
    "      --user USER           the owning CPNS User (first start)\n"
    "      --password-file F     the owner's password (first start; else stdin)\n"
    "      --cafile F            CA of the server certificate (first start)\n"
    "      --listen HOST:PORT    TLS listener for PNEs / GWs (default 127.0.0.1:7543)\n"
    "      --listen-udp HOST:PORT  DTLS 1.2 PSK listener for UDP-only PNEs\n"
    "      --listen-tunnel HOST:PORT  enrolment tunnel: CONNECT to the CPNS Server only,\n"
    "                            for PNEs without a route (TLS stays end to end)\n"
    "      --cert F --key F      GW certificate: enables the TLS + Digest mode\n"
    "      --max-sessions N      TLS sessions held at once (default 4096)\n"
    "      --max-conns-per-source N  connections held at once from one IPv4 address\n"
    "                            or IPv6 /64 (default 256; 0: no limit)\n"
    "      --workers N           TLS listener threads (default 1)\n"
    "      --log-level L         debug, info, warn, error\n"
    "      --metrics HOST:PORT   Prometheus metrics at http://HOST:PORT/metrics\n"
    "      --config FILE         INI file, section [cpns-gw]: the long options above\n"
    "                            with '_' for '-' (command-line options win)\n"
    "  -n, --check-config        validate the configuration and exit\n"
    "  -h, --help\n"
    "\n"
    "pair: create a onetime key for a PNE or another GW, register it at the server\n"
    "      and keep it for the running daemon; prints the key id (never the key).\n"
    "link: GW<->GW (CPNS-3): fetch the onetime key another GW registered for this GW\n"
    "      and establish the session with it, as a PNE would.\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration file and\n"
    "the certificate files for new connections and keeps established PN sessions.\n";

struct opts {
    const char *server, *entity, *user, *password_file, *cafile, *listen, *listen_udp;
    const char *cert, *key, *log_level, *listen_tunnel, *metrics, *config;
    int64_t max_sessions, workers;
    int64_t per_source; /* max_conns_per_source; -1: not given */
    bool check;
};

static const char *const config_keys[] = {
    "server", "entity", "user", "password_file", "cafile", "listen", "listen_udp",
    "listen_tunnel", "cert", "key", "log_level", "max_sessions", "workers", "metrics",
    "max_conns_per_source", NULL,
};

static int fail(const char *what)
{
    fprintf(stderr, "cpns-gw: %s: %s\n", what, osec_error_msg());
    return 1;
}

/* The owner's password: one line from a private file (refused when group
 * or world can read it, or when it is a symlink), else from stdin. */
static int read_password(const char *file, char *pw, size_t len)
{
    struct stat st;
    FILE *f = stdin;
    size_t n;
    int fd, rc = 0;

    if (file) {
        fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        OSEC_ENSURE(fd >= 0, OSEC_EIO, "cannot open %s", file);
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
            (void)close(fd);
            OSEC_BAIL(OSEC_EPERM, "%s must be a regular file of mode 0600 (or 0400)", file);
        }
        f = fdopen(fd, "r");
        if (!f) {
            (void)close(fd);
            OSEC_BAIL(OSEC_EIO, "cannot read %s", file);
        }
    }
    if (!fgets(pw, (int)len, f))
        rc = osec_error_set(OSEC_EINVAL, __FILE__, __LINE__, "no password given");
    if (file)
        (void)fclose(f);
    n = strlen(pw);
    while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        pw[--n] = '\0';
    return rc;
}

/* The GW's identity: load it, or enrol on first start. */
static int identity(struct gw *gw, const struct opts *o)
{
    char host[256], pw[1100];
    uint16_t port;
    int rc = osec_pn_identity_load(gw->ds, &gw->id);

    if (rc == 0) {
        OSEC_ENSURE(!o->entity || strcmp(o->entity, gw->id.entity_id) == 0, OSEC_EINVAL,
                    "this data directory belongs to %s, not %s", gw->id.entity_id, o->entity);
        return 0;
    }
    OSEC_ENSURE(rc == OSEC_ENOTFOUND, rc, "%s", osec_error_msg());
    OSEC_ENSURE(o->server && o->entity && o->user && o->cafile, OSEC_EINVAL,
                "first start: --server, --entity, --user and --cafile are required");
    OSEC_GUARD(osec_cpns_parse_url(o->server, host, sizeof(host), &port));
    OSEC_GUARD(read_password(o->password_file, pw, sizeof(pw)));
    {
        struct osec_pn_enroll_opts eo = { host, port, o->cafile, o->entity, "gw", o->user, pw,
                                          NULL, 0 };

        rc = osec_pn_enroll(&eo, &gw->id);
    }
    osec_wipe(pw, sizeof(pw));
    OSEC_GUARD(rc);
    OSEC_GUARD(osec_pn_identity_save(gw->ds, &gw->id));
    osec_info("gw.enrolled", "entity=%s user=%s", gw->id.entity_id, gw->id.user);
    return 0;
}

static SSL_CTX *tls_ctx(struct gw *gw, const char *cert, const char *key);
static int settle(struct opts *o, const struct osec_config *cfg);

static int setup_listeners(struct gw *gw, const struct opts *o)
{
    struct osec_digest_server_config dc;
    struct osec_tls_server_opts to;

    memset(&dc, 0, sizeof(dc));
    dc.realm = "cpns-gw";
    OSEC_GUARD(osec_rand_bytes(dc.secret, sizeof(dc.secret)));
    OSEC_GUARD(osec_digest_server_new(&dc, &gw->digest));
    osec_wipe(dc.secret, sizeof(dc.secret));
    OSEC_GUARD(osec_net_parse_hostport(o->listen ? o->listen : "127.0.0.1:7543", gw->listen_host,
                                       sizeof(gw->listen_host), &gw->listen_port));
    gw->tls = tls_ctx(gw, o->cert, o->key);
    OSEC_ENSURE(gw->tls != NULL, OSEC_ETLS, "%s", osec_error_msg());
    if (!o->listen_udp)
        return 0;
    memset(&to, 0, sizeof(to));
    to.psk_lookup = gw_psk_lookup;
    to.psk_arg = gw;
    OSEC_GUARD(osec_net_parse_hostport(o->listen_udp, gw->udp_host, sizeof(gw->udp_host),
                                       &gw->udp_port));
    gw->dtls = osec_tls_dtls_server_ctx(&to);
    OSEC_ENSURE(gw->dtls != NULL, OSEC_ETLS, "%s", osec_error_msg());
    return 0;
}

static void check_upstream(struct gw *gw)
{
    struct osec_cpns_response r;

    osec_cpns_response_init(&r);
    if (gw_upstream_request(gw, "GET", "/cpns/v1/whoami", osec_slice_make(NULL, 0), &r) == 0 &&
        r.status == 200)
        osec_info("upstream.authenticated", "entity=%s", gw->id.entity_id);
    else
        osec_warn("upstream.unavailable", "status=%d (the session opens on demand)", r.status);
    osec_cpns_response_free(&r);
}

struct reload_ctx {
    struct gw *gw;
    struct opts cli;    /* the command line as given (before the config file) */
};

static SSL_CTX *tls_ctx(struct gw *gw, const char *cert, const char *key)
{
    struct osec_tls_server_opts to;

    memset(&to, 0, sizeof(to));
    to.cert_file = cert;
    to.key_file = key;
    to.psk_lookup = gw_psk_lookup;
    to.psk_arg = gw;
    return osec_tls_server_ctx(&to);
}

/* SIGHUP: re-read the configuration file and the certificate files; new
 * connections use the new certificate, established PN sessions are kept.
 * A file with an error is refused and the running configuration stays. */
static void reload(void *arg)
{
    struct reload_ctx *r = arg;
    struct osec_config *cfg = NULL;
    struct opts o = r->cli;
    SSL_CTX *ctx = NULL;

    if ((o.config && osec_config_load(o.config, &cfg) < 0) || settle(&o, cfg) < 0)
        goto fail;
    if (!(ctx = tls_ctx(r->gw, o.cert, o.key)) ||
        osec_net_server_set_ssl_ctx(r->gw->net, ctx) < 0)
        goto fail;
    osec_net_server_set_max_conns_per_source(r->gw->net, (unsigned)o.per_source);
    if (r->gw->tunnel)
        osec_net_server_set_max_conns_per_source(r->gw->tunnel, (unsigned)o.per_source);
    osec_info("config.reload", "result=ok file=\"%s\" certificate=\"%s\" max_conns_per_source=%u",
              o.config ? o.config : "-", o.cert ? o.cert : "-", (unsigned)o.per_source);
    osec_config_free(&cfg);
    return;
fail:
    osec_error("config.reload_failed", "error=\"%s\" (running configuration kept)",
               osec_error_msg());
    SSL_CTX_free(ctx);
    osec_config_free(&cfg);
}

static struct reload_ctx reload_ctx;

static int run(struct gw *gw, const struct opts *o)
{
    struct osec_net_config nc;
    int rc;

    osec_net_block_signals(); /* before the DTLS threads exist */
    OSEC_GUARD(identity(gw, o));
    OSEC_GUARD(gw_pskcache_new(&gw->pskc));
    OSEC_GUARD(setup_listeners(gw, o));
    memset(&nc, 0, sizeof(nc));
    nc.host = gw->listen_host;
    nc.port = gw->listen_port;
    nc.workers = o->workers ? (int)o->workers : 1;
    nc.max_conns = o->max_sessions ? (unsigned)((o->max_sessions + nc.workers - 1) / nc.workers) : 0;
    nc.max_conns_per_source = (unsigned)o->per_source;
    nc.ssl_ctx = gw->tls;
    nc.h = &gw_tls_handlers;
    nc.arg = gw;
    if (o->metrics) { /* first: the listener counts its refusals in them */
        OSEC_GUARD(osec_metrics_new(&gw->metrics));
        OSEC_GUARD(gw_metrics_init(gw->metrics));
        osec_net_refusal_metrics(gw->metrics, "cpnsgw_connections_refused_total", &nc);
        OSEC_GUARD(osec_metrics_serve(gw->metrics, o->metrics));
    }
    OSEC_GUARD(osec_net_server_new(&nc, &gw->net));
    check_upstream(gw);
    if (gw->dtls)
        OSEC_GUARD(gw_dtls_start(gw));
    if (o->listen_tunnel)
        OSEC_GUARD(gw_tunnel_start(gw, o->listen_tunnel, (unsigned)o->per_source));
    osec_info("gw.listening",
              "entity=%s addr=%s:%u udp=%s:%u digest_mode=%s max_conns_per_source=%u",
              gw->id.entity_id, gw->listen_host, (unsigned)osec_net_server_port(gw->net),
              gw->dtls ? gw->udp_host : "-", (unsigned)gw->udp_port, o->cert ? "yes" : "no",
              (unsigned)o->per_source);
    reload_ctx.gw = gw;
    rc = osec_net_server_run_signals(gw->net, reload, &reload_ctx);
    gw_tunnel_stop(gw);
    gw_dtls_stop(gw);
    osec_info("gw.stopped", NULL);
    return rc;
}

static int cmd_pair(struct gw *gw, int argc, char **argv)
{
    struct osec_pn_key k;
    struct osec_cpns_client *c = NULL;
    int64_t ttl = OSEC_OTK_TTL_DEFAULT;
    int rc;

    if (argc == 3 && strcmp(argv[1], "--ttl") == 0) {
        if (osec_parse_i64(argv[2], 1, OSEC_OTK_TTL_MAX, &ttl) < 0) {
            fprintf(stderr, "cpns-gw: --ttl must be 1..%d\n", OSEC_OTK_TTL_MAX);
            return 2;
        }
    } else if (argc != 1) {
        fputs(usage, stderr);
        return 2;
    }
    if (osec_pn_identity_load(gw->ds, &gw->id) < 0)
        return fail("no identity (start the daemon once to enrol)");
    rc = osec_pn_server_client(&gw->id, &c);
    if (rc == 0)
        rc = osec_pn_pair(gw->ds, c, argv[0], ttl, &k);
    osec_cpns_client_free(&c);
    if (rc < 0)
        return fail("pairing failed");
    printf("%s\n", k.id);
    osec_wipe(&k, sizeof(k));
    return 0;
}

static int cmd_link(struct gw *gw, int argc, char **argv)
{
    static const struct option lo[] = {
        { "gw", required_argument, NULL, 'g' }, { "udp", no_argument, NULL, 'u' },
        { "mode", required_argument, NULL, 'm' }, { "gw-cafile", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    struct osec_pn_join_opts jo = { NULL, 0, false, OSEC_PN_MODE_PSK, NULL, NULL };
    char host[256], peer[OSEC_STORE_NAME_MAX + 1];
    const char *addr = NULL;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'g': addr = optarg; break;
        case 'u': jo.udp = true; break;
        case 'c': jo.gw_cafile = optarg; break;
        case 'm': jo.mode = strcmp(optarg, "digest") == 0 ? OSEC_PN_MODE_DIGEST : OSEC_PN_MODE_PSK; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!addr || osec_net_parse_hostport(addr, host, sizeof(host), &jo.gw_port) < 0) {
        fputs("cpns-gw: link needs --gw HOST:PORT\n", stderr);
        return 2;
    }
    jo.gw_host = host;
    if (osec_pn_identity_load(gw->ds, &gw->id) < 0)
        return fail("no identity (start the daemon once to enrol)");
    if (osec_pn_join(gw->ds, &gw->id, &jo, peer) < 0)
        return fail("link failed");
    printf("authenticated gw=%s\n", peer);
    return 0;
}

static int parse(int argc, char **argv, struct opts *o, const char **data)
{
    static const struct option lo[] = {
        { "data", required_argument, NULL, 'd' }, { "server", required_argument, NULL, 's' },
        { "entity", required_argument, NULL, 'e' }, { "user", required_argument, NULL, 'u' },
        { "password-file", required_argument, NULL, 'p' }, { "cafile", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' }, { "listen-udp", required_argument, NULL, 'U' },
        { "cert", required_argument, NULL, 'C' }, { "key", required_argument, NULL, 'K' },
        { "log-level", required_argument, NULL, 'L' }, { "help", no_argument, NULL, 'h' },
        { "listen-tunnel", required_argument, NULL, 'T' },
        { "max-sessions", required_argument, NULL, 'M' }, { "workers", required_argument, NULL, 'W' },
        { "metrics", required_argument, NULL, 'P' }, { "config", required_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 'n' },
        { "max-conns-per-source", required_argument, NULL, 'S' }, { NULL, 0, NULL, 0 },
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "+d:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'd': *data = optarg; break;
        case 's': o->server = optarg; break;
        case 'e': o->entity = optarg; break;
        case 'u': o->user = optarg; break;
        case 'p': o->password_file = optarg; break;
        case 'c': o->cafile = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'U': o->listen_udp = optarg; break;
        case 'C': o->cert = optarg; break;
        case 'K': o->key = optarg; break;
        case 'L': o->log_level = optarg; break;
        case 'T': o->listen_tunnel = optarg; break;
        case 'P': o->metrics = optarg; break;
        case 'f': o->config = optarg; break;
        case 'n': o->check = true; break;
        case 'M':
            if (osec_parse_i64(optarg, 1, 1000000, &o->max_sessions) < 0) {
                fputs("cpns-gw: --max-sessions must be 1..1000000\n", stderr);
                return 2;
            }
            break;
        case 'S':
            if (osec_parse_i64(optarg, 0, OSEC_NET_PER_SOURCE_MAX, &o->per_source) < 0) {
                fprintf(stderr, "cpns-gw: --max-conns-per-source must be 0..%u\n",
                        OSEC_NET_PER_SOURCE_MAX);
                return 2;
            }
            break;
        case 'W':
            if (osec_parse_i64(optarg, 1, 64, &o->workers) < 0) {
                fputs("cpns-gw: --workers must be 1..64\n", stderr);
                return 2;
            }
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!*data) {
        fputs("cpns-gw: --data DIR is required\n", stderr);
        return 2;
    }
    return 0;
}

static void fill(const char **opt, const struct osec_config *cfg, const char *key)
{
    if (!*opt)
        *opt = osec_config_get(cfg, "cpns-gw", key);
}

static int fill_num(int64_t *opt, const struct osec_config *cfg, const char *key, int64_t max)
{
    return *opt ? 0 : osec_config_get_int(cfg, "cpns-gw", key, 0, max, 0, opt);
}

/* Command-line options win; the rest comes from [cpns-gw]; then check. */
static int settle(struct opts *o, const struct osec_config *cfg)
{
    char h[256];
    uint16_t p;
    enum osec_log_level l;

    OSEC_GUARD(osec_config_check_keys(cfg, "cpns-gw", config_keys));
    fill(&o->server, cfg, "server");
    fill(&o->entity, cfg, "entity");
    fill(&o->user, cfg, "user");
    fill(&o->password_file, cfg, "password_file");
    fill(&o->cafile, cfg, "cafile");
    fill(&o->listen, cfg, "listen");
    fill(&o->listen_udp, cfg, "listen_udp");
    fill(&o->listen_tunnel, cfg, "listen_tunnel");
    fill(&o->cert, cfg, "cert");
    fill(&o->key, cfg, "key");
    fill(&o->log_level, cfg, "log_level");
    fill(&o->metrics, cfg, "metrics");
    OSEC_GUARD(fill_num(&o->max_sessions, cfg, "max_sessions", 1000000));
    OSEC_GUARD(fill_num(&o->workers, cfg, "workers", 64));
    if (o->per_source < 0) { /* 0 is a value here (no limit), so -1 marks "not given" */
        unsigned v;

        OSEC_GUARD(osec_net_config_per_source(cfg, "cpns-gw", &v));
        o->per_source = v;
    }
    OSEC_ENSURE(!o->cert == !o->key, OSEC_ECONFIG, "cert and key go together");
    OSEC_ENSURE(!o->server || osec_cpns_parse_url(o->server, h, sizeof(h), &p) == 0,
                OSEC_ECONFIG, "bad server URL '%s'", o->server);
    OSEC_ENSURE(!o->listen || osec_net_parse_hostport(o->listen, h, sizeof(h), &p) == 0,
                OSEC_ECONFIG, "bad listen address");
    OSEC_ENSURE(!o->listen_udp || osec_net_parse_hostport(o->listen_udp, h, sizeof(h), &p) == 0,
                OSEC_ECONFIG, "bad listen_udp address");
    OSEC_ENSURE(!o->listen_tunnel ||
                    osec_net_parse_hostport(o->listen_tunnel, h, sizeof(h), &p) == 0,
                OSEC_ECONFIG, "bad listen_tunnel address");
    OSEC_ENSURE(!o->metrics || osec_net_parse_hostport(o->metrics, h, sizeof(h), &p) == 0,
                OSEC_ECONFIG, "bad metrics address");
    if (o->log_level) {
        OSEC_ENSURE(osec_log_parse_level(o->log_level, &l) == 0, OSEC_ECONFIG,
                    "bad log level '%s'", o->log_level);
        osec_log_set_level(l);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct gw gw;
    struct osec_config *cfg = NULL;
    struct opts o;
    const char *data = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    o.per_source = -1;
    if ((rc = parse(argc, argv, &o, &data)) != 0)
        return rc;
    reload_ctx.cli = o;
    if ((o.config && osec_config_load(o.config, &cfg) < 0) || settle(&o, cfg) < 0) {
        osec_config_free(&cfg);
        return fail("configuration");
    }
    if (o.check) {
        osec_config_free(&cfg);
        printf("cpns-gw: configuration ok\n");
        return 0;
    }
    (void)pthread_mutex_init(&gw.up_mu, NULL);
    if (osec_devstate_open(data, true, &gw.ds) < 0)
        return fail(data);
    if (optind < argc && strcmp(argv[optind], "pair") == 0 && argc - optind >= 2)
        rc = cmd_pair(&gw, argc - optind - 1, argv + optind + 1);
    else if (optind < argc && strcmp(argv[optind], "link") == 0)
        rc = cmd_link(&gw, argc - optind, argv + optind);
    else if (optind < argc) {
        fprintf(stderr, "cpns-gw: unknown command '%s' (see --help)\n", argv[optind]);
        rc = 2;
    } else {
        rc = run(&gw, &o) < 0 ? fail("gateway") : 0;
    }
    osec_net_server_free(&gw.net);
    osec_tls_ctx_free(&gw.tls);
    osec_tls_ctx_free(&gw.dtls);
    osec_digest_server_free(&gw.digest);
    gw_pskcache_free(&gw.pskc);
    osec_cpns_client_free(&gw.up);
    osec_pn_identity_wipe(&gw.id);
    osec_devstate_close(&gw.ds);
    osec_metrics_free(&gw.metrics);
    osec_config_free(&cfg);
    return rc;
}
