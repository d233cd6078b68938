/* cpns-server: the CPNS Server's security function. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpns.h"
#include "omasec/account.h"
#include "omasec/error.h"
#include "omasec/lookup.h"
#include "omasec/log.h"
#include "omasec/pki.h"
#include "omasec/tls.h"
#include "omasec/util.h"

static const char usage[] =
    "usage: cpns-server --data DIR [--config FILE] [--listen HOST:PORT] [options]\n"
    "\n"
    "The CPNS Server security function: EUKey assignment, HTTP Digest and TLS-PSK\n"
    "authentication of PNEs and PN Gateways with their EUKey, onetime-key mediation,\n"
    "authorization and key management, over HTTP/1.1 + TLS (docs/cpns-protocol.md).\n"
    "\n"
    "  -d, --data DIR         data directory made by 'omasecctl init' (required)\n"
    "  -c, --config FILE      INI configuration, section [cpns-server] (conf/omasec.conf)\n"
    "  -l, --listen HOST:PORT listen address (default 127.0.0.1:7443)\n"
    "  -s, --store URL        store (default sqlite:DIR/omasec.db)\n"
    "  -w, --workers N        worker threads (default: one per core)\n"
    "      --log-level L      debug, info, warn, error (default info)\n"
    "      --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics\n"
    "  -n, --check-config     validate the configuration and exit\n"
    "  -h, --help             this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration\n"
    "(certificate, Digest policy, limits, log level) for new connections and\n"
    "keeps established sessions.  Logs are key=value lines on stderr.\n";

static const char *const config_keys[] = {
    "listen", "store", "workers", "log_level", "cert", "key", "psk", "eukey_ttl",
    "digest_algorithms", "allow_md5", "allow_basic", "nonce_lifetime", "max_body",
    "handshake_timeout", "request_timeout", "idle_timeout", "auth_max_failures",
    "auth_window", "auth_block", "metrics", "max_conns_per_source", NULL,
};

struct opts {
    const char *listen, *store, *log_level;
    int workers;
    unsigned per_source; /* max_conns_per_source */
    bool check;
};

static int fail(const char *what)
{
    fprintf(stderr, "cpns-server: %s: %s\n", what, osec_error_msg());
    return 1;
}

static int parse_args(int argc, char **argv, struct cpns *srv, struct opts *o)
{
    static const struct option lo[] = {
        { "data", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' }, { "store", required_argument, NULL, 's' },
        { "workers", required_argument, NULL, 'w' }, { "log-level", required_argument, NULL, 'L' },
        { "check-config", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
        { "metrics", required_argument, NULL, 'M' },
        { NULL, 0, NULL, 0 },
    };
    int64_t v;
    int ch;

    while ((ch = getopt_long(argc, argv, "d:c:l:s:w:nh", lo, NULL)) != -1) {
        switch (ch) {
        case 'd': srv->data = optarg; break;
        case 'c': srv->config_path = optarg; break;
        case 'l': o->listen = optarg; break;
        case 's': o->store = optarg; break;
        case 'L': o->log_level = optarg; break;
        case 'n': o->check = true; break;
        case 'M': srv->metrics_addr = optarg; break;
        case 'w':
            if (osec_parse_i64(optarg, 1, 256, &v) < 0) {
                fputs("cpns-server: --workers must be 1..256\n", stderr);
                return 2;
            }
            o->workers = (int)v;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc || !srv->data) {
        fputs(optind != argc ? "cpns-server: unexpected argument\n"
                             : "cpns-server: --data DIR is required\n", stderr);
        fputs(usage, stderr);
        return 2;
    }
    return 0;
}

static int get_ms(const struct osec_config *cfg, const char *key, int64_t def, unsigned *out)
{
    int64_t v;

    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", key, 1, 3600, def, &v));
    *out = (unsigned)(v * 1000);
    return 0;
}

static int parse_algs(const char *list, struct osec_digest_server_config *dc)
{
    struct osec_cursor c;
    struct osec_slice item;
    size_t n = 0;

    osec_cursor_init(&c, list, strlen(list));
    while (osec_cursor_next_item(&c, ',', &item)) {
        OSEC_ENSURE(n < OSEC_DIGEST_ALG_COUNT, OSEC_ECONFIG, "too many digest_algorithms");
        dc->algs[n] = osec_digest_alg_from_name(item);
        OSEC_ENSURE(dc->algs[n] != OSEC_DIGEST_ALG_UNKNOWN, OSEC_ECONFIG,
                    "unknown digest algorithm in '%s'", list);
        n++;
    }
    return 0;
}

/* What SIGHUP may change: certificate files, Digest policy, EUKey lifetime,
 * Basic, log level (rate limits: see rate_limits()). */
struct policy {
    char cert[CPNS_PATH_MAX], key[CPNS_PATH_MAX];
    int64_t eukey_ttl;
    bool allow_basic;
    enum osec_log_level log_level;
    bool set_log_level;
};

static int read_policy(const struct cpns *srv, const struct osec_config *cfg, const struct opts *o,
                       struct osec_digest_server_config *dc, struct policy *p)
{
    const char *s;

    s = osec_config_get(cfg, "cpns-server", "cert");
    OSEC_GUARD(s ? osec_strlcpy(p->cert, s, sizeof(p->cert))
                 : osec_snprintf(p->cert, sizeof(p->cert), "%s/pki/server.crt", srv->data));
    s = osec_config_get(cfg, "cpns-server", "key");
    OSEC_GUARD(s ? osec_strlcpy(p->key, s, sizeof(p->key))
                 : osec_snprintf(p->key, sizeof(p->key), "%s/pki/server.key", srv->data));
    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", "eukey_ttl", 60, 10LL * 365 * 86400,
                                   365 * 86400, &p->eukey_ttl));
    OSEC_GUARD(osec_config_get_bool(cfg, "cpns-server", "allow_md5", false, &dc->allow_md5));
    OSEC_GUARD(osec_config_get_bool(cfg, "cpns-server", "allow_basic", false, &p->allow_basic));
    s = osec_config_get(cfg, "cpns-server", "digest_algorithms");
    OSEC_GUARD(parse_algs(s ? s : "SHA-512-256,SHA-256", dc));
    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", "nonce_lifetime", 10, 86400, 300,
                                   &dc->nonce_lifetime));
    s = o && o->log_level ? o->log_level : osec_config_get(cfg, "cpns-server", "log_level");
    p->set_log_level = s != NULL;
    OSEC_ENSURE(!s || osec_log_parse_level(s, &p->log_level) == 0, OSEC_ECONFIG,
                "bad log level '%s'", s ? s : "");
    return 0;
}

static void commit_policy(struct cpns *srv, const struct policy *p)
{
    (void)osec_strlcpy(srv->cert, p->cert, sizeof(srv->cert));
    (void)osec_strlcpy(srv->key, p->key, sizeof(srv->key));
    srv->eukey_ttl = p->eukey_ttl;
    srv->allow_basic = p->allow_basic;
    if (p->set_log_level)
        osec_log_set_level(p->log_level);
}

static int apply_policy(struct cpns *srv, const struct osec_config *cfg, const struct opts *o,
                        struct osec_digest_server_config *dc)
{
    static struct policy p;

    OSEC_GUARD(read_policy(srv, cfg, o, dc, &p));
    commit_policy(srv, &p);
    return 0;
}

/* Everything from the config file (or defaults) except secrets. */
static int apply_config(struct cpns *srv, const struct osec_config *cfg, const struct opts *o,
                        struct osec_digest_server_config *dc)
{
    const char *s;
    int64_t v;

    OSEC_GUARD(osec_config_check_keys(cfg, "cpns-server", config_keys));
    s = o->listen ? o->listen : osec_config_get(cfg, "cpns-server", "listen");
    OSEC_GUARD(osec_net_parse_hostport(s ? s : "127.0.0.1:7443", srv->host, sizeof(srv->host),
                                       &srv->port));
    s = o->store ? o->store : osec_config_get(cfg, "cpns-server", "store");
    if (s)
        OSEC_GUARD(osec_strlcpy(srv->store_url, s, sizeof(srv->store_url)));
    else
        OSEC_GUARD(osec_snprintf(srv->store_url, sizeof(srv->store_url), "sqlite:%s/omasec.db",
                                 srv->data));
    OSEC_GUARD(osec_snprintf(srv->master_path, sizeof(srv->master_path), "%s/master.key",
                             srv->data));
    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", "workers", 0, 256, 0, &v));
    srv->workers = o->workers ? o->workers : (int)v;
    OSEC_GUARD(osec_config_get_bool(cfg, "cpns-server", "psk", true, &srv->psk));
    OSEC_GUARD(apply_policy(srv, cfg, o, dc));
    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", "max_body", 256, 1048576, 65536, &v));
    srv->lim.max_body = (uint64_t)v;
    OSEC_GUARD(get_ms(cfg, "handshake_timeout", 10, &srv->handshake_ms));
    OSEC_GUARD(get_ms(cfg, "request_timeout", 30, &srv->request_ms));
    OSEC_GUARD(get_ms(cfg, "idle_timeout", 120, &srv->idle_ms));
    if (!srv->metrics_addr && (s = osec_config_get(cfg, "cpns-server", "metrics"))) {
        static char addr[128]; /* the configuration is freed before the listener starts */

        OSEC_GUARD(osec_strlcpy(addr, s, sizeof(addr)));
        srv->metrics_addr = addr;
    }
    if (srv->metrics_addr) {
        char h[64];
        uint16_t p;

        OSEC_GUARD(osec_net_parse_hostport(srv->metrics_addr, h, sizeof(h), &p));
    }
    return 0;
}

static int read_limits(const struct osec_config *cfg, struct osec_ratelimit_config *rc)
{
    int64_t f, w, b;

    memset(rc, 0, sizeof(*rc));
    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", "auth_max_failures", 1, 1000, 5, &f));
    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", "auth_window", 1, 86400, 60, &w));
    OSEC_GUARD(osec_config_get_int(cfg, "cpns-server", "auth_block", 1, 86400, 60, &b));
    rc->max_failures = (unsigned)f;
    rc->window = (unsigned)w;
    rc->block = (unsigned)b;
    return 0;
}

static int rate_limits(struct cpns *srv, const struct osec_config *cfg)
{
    struct osec_ratelimit_config rc;

    OSEC_GUARD(read_limits(cfg, &rc));
    return osec_ratelimit_new(&rc, &srv->rl);
}

void cpns_auth(struct cpns *srv, struct osec_httpauth *a)
{
    a->digest = atomic_load(&srv->digest);
    a->rl = srv->rl;
    a->allow_basic = atomic_load(&srv->allow_basic);
}

/* The Digest nonce secret is shared through the store (sealed), so that
 * several cpns-server instances accept each other's nonces. */
static int nonce_secret(struct cpns *srv, struct osec_store *st, uint8_t out[32])
{
    /* with the replay state in memory, nonces must not outlive the process */
    return osec_lookup_nonce_secret(st, srv->m, "digest.nonce_secret", srv->shared_replay == NULL,
                                    out);
}

static int psk_lookup(void *arg, const char *identity, uint8_t *psk, size_t psk_max,
                      size_t *psk_len)
{
    struct cpns *srv = arg;
    struct cpns_worker *w = cpns_current_worker();

    OSEC_ENSURE(w != NULL, OSEC_EINTERNAL, "PSK lookup outside a worker");
    return osec_lookup_entity_psk(w->st, srv->m, identity, psk, psk_max, psk_len);
}

/* A Digest server for the current policy, sharing the nonce secret (from
 * the store) and the replay cache with every previous one. */
static int build_digest(struct cpns *srv, struct osec_digest_server_config *dc,
                        struct osec_digest_server **out)
{
    struct osec_store *st = NULL;
    int rc;

    OSEC_CHECK(rc, osec_store_open(srv->store_url, &st));
    OSEC_CHECK(rc, osec_account_realm(st, srv->realm, sizeof(srv->realm)));
    OSEC_CHECK(rc, nonce_secret(srv, st, dc->secret));
    dc->realm = srv->realm;
    dc->qop = OSEC_DIGEST_QOP_AUTH | OSEC_DIGEST_QOP_AUTH_INT;
    if (srv->shared_replay) {
        dc->replay = osec_digest_replay_store_check;
        dc->replay_arg = srv->shared_replay;
    } else {
        dc->replay = osec_digest_replay_mem_check;
        dc->replay_arg = srv->replay;
    }
    rc = osec_digest_server_new(dc, out);
out:
    osec_wipe(dc->secret, sizeof(dc->secret));
    osec_store_close(&st);
    return rc;
}

static SSL_CTX *build_tls(struct cpns *srv, const char *cert, const char *key)
{
    struct osec_tls_server_opts to;

    memset(&to, 0, sizeof(to));
    to.cert_file = cert;
    to.key_file = key;
    to.psk_lookup = srv->psk ? psk_lookup : NULL;
    to.psk_arg = srv;
    return osec_tls_server_ctx(&to);
}

static int setup_security(struct cpns *srv, struct osec_digest_server_config *dc)
{
    struct osec_digest_server *d = NULL;

    OSEC_GUARD(osec_master_load(srv->master_path, &srv->m));
    OSEC_GUARD(osec_digest_replay_mem_new(0, NULL, NULL, &srv->replay));
    /* Several instances share a PostgreSQL store: a nonce-count used on one
     * must be refused by all (docs/operations.md). */
    if (strncmp(srv->store_url, "postgres", 8) == 0)
        OSEC_GUARD(osec_digest_replay_store_new(srv->store_url, &srv->shared_replay));
    OSEC_GUARD(build_digest(srv, dc, &d));
    atomic_store(&srv->digest, d);
    srv->ssl = build_tls(srv, srv->cert, srv->key);
    if (!srv->ssl)
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    return 0;
}

/* SIGHUP: certificates, Digest policy, limits and log level from the
 * configuration file, without dropping established sessions.  Any error
 * keeps the running configuration. */
static void reload(void *arg)
{
    static struct policy p;
    struct cpns *srv = arg;
    struct osec_digest_server_config dc;
    struct osec_digest_server *d = NULL;
    struct osec_config *cfg = NULL;
    struct osec_ratelimit_config rl;
    SSL_CTX *ctx = NULL;
    unsigned per_source;

    memset(&dc, 0, sizeof(dc));
    if (srv->config_path && (osec_config_load(srv->config_path, &cfg) < 0 ||
                             osec_config_check_keys(cfg, "cpns-server", config_keys) < 0))
        goto fail;
    if (read_limits(cfg, &rl) < 0 ||
        osec_net_config_per_source(cfg, "cpns-server", &per_source) < 0)
        goto fail;
    if (read_policy(srv, cfg, NULL, &dc, &p) < 0)
        goto fail;
    if (srv->nretired == sizeof(srv->retired) / sizeof(srv->retired[0])) {
        (void)osec_error_set(OSEC_EBUSY, __FILE__, __LINE__, "too many reloads; restart");
        goto fail;
    }
    if (build_digest(srv, &dc, &d) < 0 || !(ctx = build_tls(srv, p.cert, p.key)))
        goto fail;
    /* nothing can fail from here on */
    osec_ratelimit_set_config(srv->rl, &rl);
    osec_net_server_set_max_conns_per_source(srv->net, per_source);
    (void)osec_net_server_set_ssl_ctx(srv->net, ctx);
    srv->retired[srv->nretired++] = atomic_exchange(&srv->digest, d);
    commit_policy(srv, &p);
    osec_config_free(&cfg);
    osec_info("config.reload",
              "result=ok file=\"%s\" certificate=\"%s\" max_conns_per_source=%u",
              srv->config_path ? srv->config_path : "-", srv->cert, per_source);
    return;
fail:
    osec_error("config.reload_failed", "error=\"%s\" (running configuration kept)",
               osec_error_msg());
    osec_digest_server_free(&d);
    SSL_CTX_free(ctx);
    osec_config_free(&cfg);
}

static int serve(struct cpns *srv, unsigned per_source)
{
    struct osec_net_config nc;
    int rc;

    memset(&nc, 0, sizeof(nc));
    nc.host = srv->host;
    nc.port = srv->port;
    nc.workers = srv->workers;
    nc.ssl_ctx = srv->ssl;
    nc.handshake_ms = srv->handshake_ms;
    nc.request_ms = srv->request_ms;
    nc.idle_ms = srv->idle_ms;
    nc.max_input = srv->lim.max_head + srv->lim.max_body;
    nc.max_conns_per_source = per_source;
    osec_net_refusal_metrics(srv->metrics, "cpns_connections_refused_total", &nc);
    nc.h = &cpns_handlers;
    nc.arg = srv;
    OSEC_GUARD(osec_net_server_new(&nc, &srv->net));
    osec_info("server.listening", "addr=%s:%u tls=yes psk=%s realm=\"%s\" max_conns_per_source=%u",
              srv->host, (unsigned)osec_net_server_port(srv->net), srv->psk ? "yes" : "no",
              srv->realm, per_source);
    rc = osec_net_server_run_signals(srv->net, reload, srv);
    osec_info("server.stopped", NULL);
    return rc;
}

int main(int argc, char **argv)
{
    static struct cpns srv;
    struct osec_digest_server_config dc;
    struct osec_config *cfg = NULL;
    struct opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&dc, 0, sizeof(dc));
    srv.lim = (struct osec_http_limits)OSEC_HTTP_LIMITS_DEFAULT;
    if ((rc = parse_args(argc, argv, &srv, &o)) != 0)
        return rc;
    if (srv.config_path && osec_config_load(srv.config_path, &cfg) < 0)
        return fail("configuration");
    rc = apply_config(&srv, cfg, &o, &dc);
    if (rc == 0)
        rc = osec_net_config_per_source(cfg, "cpns-server", &o.per_source);
    if (rc == 0)
        rc = rate_limits(&srv, cfg);
    osec_config_free(&cfg);
    if (rc < 0)
        return fail("configuration");
    if (o.check) {
        printf("cpns-server: configuration ok\n");
        return 0;
    }
    osec_net_block_signals(); /* before any thread exists */
    if (setup_security(&srv, &dc) < 0) {
        rc = fail("startup");
    } else if (srv.metrics_addr && (osec_metrics_new(&srv.metrics) < 0 ||
                                    cpns_metrics_init(srv.metrics) < 0 ||
                                    osec_metrics_serve(srv.metrics, srv.metrics_addr) < 0)) {
        rc = fail("metrics");
    } else if (serve(&srv, o.per_source) < 0) {
        rc = fail("server");
    }
    osec_metrics_free(&srv.metrics);
    osec_net_server_free(&srv.net);
    osec_tls_ctx_free(&srv.ssl);
    {
        struct osec_digest_server *d = atomic_load(&srv.digest);

        osec_digest_server_free(&d);
        for (size_t i = 0; i < srv.nretired; i++)
            osec_digest_server_free(&srv.retired[i]);
        osec_digest_replay_mem_free(&srv.replay);
        osec_digest_replay_store_free(&srv.shared_replay);
    }
    osec_ratelimit_free(&srv.rl);
    osec_master_free(&srv.m);
    return rc ? 1 : 0;
}
