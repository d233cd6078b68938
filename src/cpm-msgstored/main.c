/* cpm-msgstored: the CPM Message Storage Server (seed 001, DESIGN 5). */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "msgstored.h"
#include "omasec/config.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/pki.h"
#include "omasec/tls.h"

#define SEC "cpm-msgstored"

static const char usage[] =
    "usage: cpm-msgstored --data DIR [--config FILE] [--listen imap:HOST:PORT]\n"
    "                     [--listen imaps:HOST:PORT] [options]\n"
    "\n"
    "The CPM Message Storage Server: IMAP4rev1 with STARTTLS, implicit TLS and TLS-PSK,\n"
    "ACL (RFC 4314), messages sealed at rest, CPM layout (docs/message-store.md).\n"
    "\n"
    "  -d, --data DIR         data directory made by 'omasecctl init' (required)\n"
    "  -c, --config FILE      INI configuration, section [cpm-msgstored] (conf/omasec.conf)\n"
    "  -l, --listen KIND:HOST:PORT  imap (STARTTLS) or imaps (implicit TLS); repeat for\n"
    "                         both.  Default 127.0.0.1:1143 (imap) and 127.0.0.1:1993\n"
    "                         (imaps); given on the command line, only those listed run\n"
    "  -s, --store URL        store (default sqlite:DIR/omasec.db)\n"
    "  -w, --workers N        worker threads per listener (default: one per core)\n"
    "      --log-level L      debug, info, warn, error (default info)\n"
    "      --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics\n"
    "  -n, --check-config     validate the configuration and exit\n"
    "  -h, --help             this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads certificates, TLS policy,\n"
    "limits and log level without dropping sessions (a broken file changes nothing).\n";

static const char *const config_keys[] = {
    "listen_imap", "listen_imaps", "store", "workers", "log_level", "cert", "key",
    "client_ca", "tls", "psk", "client_certs", "psk_preauth", "smime", "cpm_layout",
    "max_message", "max_line", "handshake_timeout", "request_timeout", "idle_timeout",
    "idle_poll", "auth_max_failures", "auth_window", "auth_block", "auth_cache_ttl", "metrics",
    "max_conns_per_source", NULL,
};

static int fail(const char *what)
{
    fprintf(stderr, "cpm-msgstored: %s: %s\n", what, osec_error_msg());
    return 1;
}

static int parse_args(int argc, char **argv, struct ms *srv, struct ms_opts *o)
{
    static const struct option lo[] = {
        { "data", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' }, { "store", required_argument, NULL, 's' },
        { "workers", required_argument, NULL, 'w' }, { "log-level", required_argument, NULL, 'L' },
        { "check-config", no_argument, NULL, 'n' }, { "metrics", required_argument, NULL, 'M' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int64_t v;
    int ch;

    while ((ch = getopt_long(argc, argv, "d:c:l:s:w:nh", lo, NULL)) != -1) {
        switch (ch) {
        case 'd': srv->data = optarg; break;
        case 'c': srv->config_path = optarg; break;
        case 'l':
            if (o->nlisten == 2) {
                fputs("cpm-msgstored: at most two --listen (imap and imaps)\n", stderr);
                return 2;
            }
            o->listen[o->nlisten++] = optarg;
            break;
        case 's': o->store = optarg; break;
        case 'L': o->log_level = optarg; break;
        case 'M': o->metrics = optarg; break;
        case 'n': o->check = true; break;
        case 'w':
            if (osec_parse_i64(optarg, 1, 256, &v) < 0) {
                fputs("cpm-msgstored: --workers must be 1..256\n", stderr);
                return 2;
            }
            o->workers = (int)v;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc || !srv->data) {
        fputs(optind != argc ? "cpm-msgstored: unexpected argument\n"
                             : "cpm-msgstored: --data DIR is required\n", stderr);
        fputs(usage, stderr);
        return 2;
    }
    return 0;
}

/* "imap:HOST:PORT" / "imaps:HOST:PORT" */
static int listen_arg(struct ms *srv, const char *s)
{
    struct ms_listener *l;

    if (strncmp(s, "imaps:", 6) == 0) {
        l = &srv->imaps;
        s += 6;
    } else if (strncmp(s, "imap:", 5) == 0) {
        l = &srv->imap;
        s += 5;
    } else {
        OSEC_BAIL(OSEC_ECONFIG, "--listen wants imap:HOST:PORT or imaps:HOST:PORT, not '%s'", s);
    }
    OSEC_ENSURE(!l->on, OSEC_ECONFIG, "--listen given twice for one kind");
    l->on = true;
    return osec_net_parse_hostport(s, l->host, sizeof(l->host), &l->port);
}

static int listener_conf(const struct osec_config *cfg, const char *key, const char *def,
                         struct ms_listener *l)
{
    const char *s = osec_config_get(cfg, SEC, key);

    if (s && strcmp(s, "off") == 0)
        return 0;
    l->on = true;
    OSEC_GUARD(osec_net_parse_hostport(s ? s : def, l->host, sizeof(l->host), &l->port));
    return 0;
}

static int get_secs(const struct osec_config *cfg, const char *key, int64_t def, unsigned *ms)
{
    int64_t v;

    OSEC_GUARD(osec_config_get_int(cfg, SEC, key, 1, 86400, def, &v));
    *ms = (unsigned)(v * 1000);
    return 0;
}

static int path_conf(const struct osec_config *cfg, const char *key, const char *def_name,
                     const char *data, char *out, size_t outlen)
{
    const char *s = osec_config_get(cfg, SEC, key);

    return s ? osec_strlcpy(out, s, outlen) : osec_snprintf(out, outlen, "%s/%s", data, def_name);
}

static int apply_listen(struct ms *srv, const struct osec_config *cfg, const struct ms_opts *o)
{
    srv->imaps.tls = true;
    if (o->nlisten > 0) {
        for (int i = 0; i < o->nlisten; i++)
            OSEC_GUARD(listen_arg(srv, o->listen[i]));
        return 0;
    }
    OSEC_GUARD(listener_conf(cfg, "listen_imap", "127.0.0.1:1143", &srv->imap));
    OSEC_GUARD(listener_conf(cfg, "listen_imaps", "127.0.0.1:1993", &srv->imaps));
    OSEC_ENSURE(srv->imap.on || srv->imaps.on, OSEC_ECONFIG, "both listeners are off");
    return 0;
}

static int apply_security(struct ms *srv, const struct osec_config *cfg)
{
    const char *s = osec_config_get(cfg, SEC, "tls");
    enum osec_tls_policy pol;
    bool preauth;
    int64_t v;

    OSEC_GUARD(osec_msgpolicy_tls_parse(s ? s : "required", &pol));
    srv->tls_policy = pol;
    OSEC_GUARD(osec_config_get_bool(cfg, SEC, "psk", true, &srv->psk));
    OSEC_GUARD(osec_config_get_bool(cfg, SEC, "client_certs", true, &srv->client_certs));
    OSEC_GUARD(osec_config_get_bool(cfg, SEC, "psk_preauth", true, &preauth));
    srv->psk_preauth = preauth;
    OSEC_GUARD(osec_config_get_bool(cfg, SEC, "smime", true, &srv->smime));
    OSEC_GUARD(osec_config_get_bool(cfg, SEC, "cpm_layout", true, &srv->cpm_layout));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "auth_cache_ttl", 0, 3600, 0, &v));
    srv->auth_cache_ttl = (unsigned)v;
    OSEC_GUARD(path_conf(cfg, "cert", "pki/server.crt", srv->data, srv->cert, sizeof(srv->cert)));
    OSEC_GUARD(path_conf(cfg, "key", "pki/server.key", srv->data, srv->key, sizeof(srv->key)));
    return path_conf(cfg, "client_ca", "pki/ca.crt", srv->data, srv->ca, sizeof(srv->ca));
}

static int apply_limits(struct ms *srv, const struct osec_config *cfg)
{
    int64_t v;

    OSEC_GUARD(osec_config_get_int(cfg, SEC, "max_message", 1024, (int64_t)1 << 30,
                                   (int64_t)64 << 20, &v));
    srv->lim.max_literal = (uint64_t)v;
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "max_line", 1024, 1 << 20, 65536, &v));
    srv->lim.max_line = (size_t)v;
    srv->max_literal = srv->lim.max_literal;
    srv->max_line = srv->lim.max_line;
    OSEC_GUARD(get_secs(cfg, "handshake_timeout", 10, &srv->handshake_ms));
    OSEC_GUARD(get_secs(cfg, "request_timeout", 60, &srv->request_ms));
    /* RFC 3501 5.4: an autologout timer of at least 30 minutes (IDLE) */
    OSEC_GUARD(get_secs(cfg, "idle_timeout", 1800, &srv->idle_ms));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "idle_poll", 50, 60000, 500, &v));
    srv->idle_poll_ms = (unsigned)v;
    return 0;
}

static int apply_metrics(struct ms *srv, const struct osec_config *cfg, const struct ms_opts *o)
{
    const char *s = o->metrics ? o->metrics : osec_config_get(cfg, SEC, "metrics");
    char h[64];
    uint16_t p;

    if (!s)
        return 0;
    OSEC_ENSURE(osec_net_parse_hostport(s, h, sizeof(h), &p) == 0, OSEC_ECONFIG,
                "metrics: '%s' is not HOST:PORT", s);
    return osec_strlcpy(srv->metrics_addr, s, sizeof(srv->metrics_addr));
}

static int apply_config(struct ms *srv, const struct osec_config *cfg, const struct ms_opts *o)
{
    const char *s;
    int64_t v;

    OSEC_GUARD(osec_config_check_keys(cfg, SEC, config_keys));
    OSEC_GUARD(apply_listen(srv, cfg, o));
    s = o->store ? o->store : osec_config_get(cfg, SEC, "store");
    if (s)
        OSEC_GUARD(osec_strlcpy(srv->store_url, s, sizeof(srv->store_url)));
    else
        OSEC_GUARD(osec_snprintf(srv->store_url, sizeof(srv->store_url), "sqlite:%s/omasec.db",
                                 srv->data));
    OSEC_GUARD(osec_snprintf(srv->master_path, sizeof(srv->master_path), "%s/master.key",
                             srv->data));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "workers", 0, 256, 0, &v));
    srv->workers = o->workers ? o->workers : (int)v;
    OSEC_GUARD(apply_security(srv, cfg));
    OSEC_GUARD(apply_limits(srv, cfg));
    s = o->log_level ? o->log_level : osec_config_get(cfg, SEC, "log_level");
    if (s) {
        enum osec_log_level l;

        OSEC_ENSURE(osec_log_parse_level(s, &l) == 0, OSEC_ECONFIG, "bad log level '%s'", s);
        srv->has_log_level = true;
        srv->log_level = (int)l;
    }
    return apply_metrics(srv, cfg, o);
}

static int read_limits(const struct osec_config *cfg, struct osec_ratelimit_config *rc)
{
    int64_t f, w, b;

    memset(rc, 0, sizeof(*rc));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "auth_max_failures", 1, 1000, 5, &f));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "auth_window", 1, 86400, 60, &w));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "auth_block", 1, 86400, 60, &b));
    rc->max_failures = (unsigned)f;
    rc->window = (unsigned)w;
    rc->block = (unsigned)b;
    return 0;
}

int ms_config_read(struct ms *srv, const struct osec_config *cfg, const struct ms_opts *o,
                   struct osec_ratelimit_config *rl)
{
    srv->opts = o;
    srv->lim = (struct osec_imap_limits)OSEC_IMAP_LIMITS_DEFAULT;
    OSEC_GUARD(apply_config(srv, cfg, o));
    return read_limits(cfg, rl);
}

static int load_signer(struct ms *srv)
{
    FILE *f = fopen(srv->cert, "r");

    OSEC_ENSURE(f != NULL, OSEC_EIO, "cannot open %s", srv->cert);
    srv->sign_cert = PEM_read_X509(f, NULL, NULL, NULL);
    (void)fclose(f);
    if (!srv->sign_cert)
        return osec_error_ossl(OSEC_EPARSE, __FILE__, __LINE__, "%s: no certificate", srv->cert);
    return osec_pki_load_key(srv->key, &srv->sign_key);
}

SSL_CTX *ms_tls_ctx(struct ms *run, const struct ms *cfg)
{
    struct osec_tls_server_opts to;

    memset(&to, 0, sizeof(to));
    to.cert_file = cfg->cert;
    to.key_file = cfg->key;
    to.verify_client = cfg->client_certs ? OSEC_TLS_VERIFY_OPTIONAL : OSEC_TLS_VERIFY_NONE;
    to.client_ca_file = cfg->client_certs ? cfg->ca : NULL;
    to.psk_lookup = cfg->psk ? ms_psk_lookup : NULL;
    to.psk_arg = run;
    return osec_tls_server_ctx(&to);
}

SSL_CTX *ms_ssl_ref(struct ms *srv)
{
    SSL_CTX *ctx;

    (void)pthread_mutex_lock(&srv->ctx_mu);
    ctx = srv->ssl;
    if (ctx && SSL_CTX_up_ref(ctx) != 1)
        ctx = NULL;
    (void)pthread_mutex_unlock(&srv->ctx_mu);
    return ctx;
}

static int setup_security(struct ms *srv)
{
    OSEC_GUARD(osec_master_load(srv->master_path, &srv->m));
    if (srv->auth_cache_ttl)
        OSEC_GUARD(osec_credcache_new(srv->auth_cache_ttl, 0, &srv->cache));
    srv->ssl = ms_tls_ctx(srv, srv);
    if (!srv->ssl)
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    return srv->smime ? load_signer(srv) : 0;
}

static int start_metrics(struct ms *srv)
{
    if (!srv->metrics_addr[0])
        return 0;
    OSEC_GUARD(osec_metrics_new(&srv->metrics));
    OSEC_GUARD(ms_metrics_init(srv->metrics));
    OSEC_GUARD(osec_metrics_serve(srv->metrics, srv->metrics_addr));
    osec_info("metrics.listening", "addr=%s port=%u", srv->metrics_addr,
              (unsigned)osec_metrics_port(srv->metrics));
    return 0;
}

/* lim: the connection limits and their counters, alike for both listeners. */
static int make_server(struct ms *srv, struct ms_listener *l, const struct osec_net_config *lim)
{
    struct osec_net_config nc = *lim;

    if (!l->on)
        return 0;
    nc.host = l->host;
    nc.port = l->port;
    nc.workers = srv->workers;
    nc.ssl_ctx = l->tls ? srv->ssl : NULL;
    nc.handshake_ms = srv->handshake_ms;
    nc.request_ms = srv->request_ms;
    nc.idle_ms = srv->idle_ms;
    nc.max_input = srv->lim.max_line + (size_t)srv->lim.max_literal + 4096;
    nc.h = l->tls ? &ms_handlers_tls : &ms_handlers_plain;
    nc.arg = srv;
    OSEC_GUARD(osec_net_server_new(&nc, &l->net));
    osec_info("server.listening",
              "addr=%s:%u kind=%s tls_policy=%s psk=%s max_conns_per_source=%u", l->host,
              (unsigned)osec_net_server_port(l->net), l->tls ? "imaps" : "imap",
              osec_msgpolicy_tls_name(srv->tls_policy), srv->psk ? "yes" : "no",
              nc.max_conns_per_source);
    return 0;
}

static void *second_main(void *arg)
{
    (void)osec_net_server_run(arg);
    return NULL;
}

/* Two listeners are two servers: the implicit-TLS one runs in a thread of
 * its own, the other takes the signals; stopping one stops both.  Each
 * counts its own connections per source (max_conns_per_source per
 * listener). */
static int serve(struct ms *srv, unsigned per_source)
{
    struct ms_listener *first = srv->imap.on ? &srv->imap : &srv->imaps;
    struct ms_listener *second = srv->imap.on && srv->imaps.on ? &srv->imaps : NULL;
    struct osec_net_config lim;
    pthread_t th;
    int rc;

    memset(&lim, 0, sizeof(lim));
    lim.max_conns_per_source = per_source;
    osec_net_refusal_metrics(srv->metrics, "cpmstore_connections_refused_total", &lim);
    OSEC_GUARD(make_server(srv, &srv->imap, &lim));
    OSEC_GUARD(make_server(srv, &srv->imaps, &lim));
    osec_net_block_signals();
    OSEC_GUARD(ms_committer_start(srv, &srv->commit));
    if (second && pthread_create(&th, NULL, second_main, second->net) != 0)
        OSEC_BAIL(OSEC_EINTERNAL, "cannot start the second listener");
    rc = osec_net_server_run_signals(first->net, ms_reload, srv);
    if (second) {
        osec_net_server_stop(second->net);
        (void)pthread_join(th, NULL);
    }
    /* before the workers go: it may still post answers to them */
    ms_committer_stop(&srv->commit);
    osec_info("server.stopped", NULL);
    return rc;
}

static void cleanup(struct ms *srv)
{
    ms_committer_stop(&srv->commit);
    osec_net_server_free(&srv->imap.net);
    osec_net_server_free(&srv->imaps.net);
    osec_metrics_free(&srv->metrics);
    osec_tls_ctx_free(&srv->ssl);
    X509_free(srv->sign_cert);
    EVP_PKEY_free(srv->sign_key);
    osec_credcache_free(&srv->cache);
    osec_ratelimit_free(&srv->rl);
    osec_master_free(&srv->m);
}

int main(int argc, char **argv)
{
    static struct ms srv;
    static struct ms_opts o;
    struct osec_config *cfg = NULL;
    struct osec_ratelimit_config rl;
    unsigned per_source;
    int rc;

    if ((rc = parse_args(argc, argv, &srv, &o)) != 0)
        return rc;
    if (srv.config_path && osec_config_load(srv.config_path, &cfg) < 0)
        return fail("configuration");
    rc = ms_config_read(&srv, cfg, &o, &rl);
    if (rc == 0)
        rc = osec_net_config_per_source(cfg, SEC, &per_source);
    osec_config_free(&cfg);
    if (rc < 0)
        return fail("configuration");
    if (o.check) {
        printf("cpm-msgstored: configuration ok\n");
        return 0;
    }
    if (srv.has_log_level)
        osec_log_set_level((enum osec_log_level)srv.log_level);
    if (pthread_mutex_init(&srv.ctx_mu, NULL) != 0)
        return 1;
    osec_net_block_signals(); /* before any thread (metrics) exists */
    if (osec_ratelimit_new(&rl, &srv.rl) < 0 || setup_security(&srv) < 0)
        rc = fail("startup");
    else if (start_metrics(&srv) < 0)
        rc = fail("metrics");
    else if (serve(&srv, per_source) < 0)
        rc = fail("server");
    cleanup(&srv);
    (void)pthread_mutex_destroy(&srv.ctx_mu);
    return rc ? 1 : 0;
}
