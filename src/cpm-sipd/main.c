/* cpm-sipd: the CPM SIP signalling security edge (registrar + authenticating
 * edge proxy + Interworking Function border). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/account.h"
#include "omasec/config.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/net.h"
#include "omasec/tls.h"
#include "omasec/util.h"
#include "sipd.h"

#define SEC "cpm-sipd"

static const char usage[] =
    "usage: cpm-sipd --data DIR [--config FILE] [--listen TP:HOST:PORT ...]\n"
    "                --conversation-server sip:HOST:PORT [--peer NAME[=DOMAIN,...] ...]\n"
    "\n"
    "The CPM SIP signalling security edge: registrar and authenticating edge proxy\n"
    "in front of the Conversation Server, and the Interworking Function border for\n"
    "non-CPM networks (docs/cpm-sip.md).\n"
    "\n"
    "  -d, --data DIR                 data directory made by 'omasecctl init' (required)\n"
    "  -c, --config FILE              INI configuration, section [cpm-sipd] (conf/omasec.conf)\n"
    "  -l, --listen TP:HOST:PORT      udp, tcp, tls, or iwf (mutual TLS for peers); repeat.\n"
    "                                 Default udp+tcp 127.0.0.1:5060, tls 127.0.0.1:5061\n"
    "                                 (and iwf 127.0.0.1:5062 when peers are configured)\n"
    "  -C, --conversation-server URI  sip:HOST:PORT of the Conversation Server (UDP, required)\n"
    "  -p, --peer NAME[=DOMAIN,...]   an IWF peer: its certificate principal, and the\n"
    "                                 domains it may speak for (default: NAME); repeat\n"
    "  -s, --store URL                store (default sqlite:DIR/omasec.db)\n"
    "  -w, --workers N                worker threads (default 1)\n"
    "      --log-level L              debug, info, warn, error (default info)\n"
    "  -n, --check-config             validate the configuration and exit\n"
    "  -h, --help                     this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the log level.\n";

static const char *const config_keys[] = {
    "listen", "conversation_server", "peers", "trusted_peers", "store", "workers",
    "log_level", "cert", "key", "peer_ca", "digest_algorithms", "allow_md5", "nonce_lifetime",
    "min_expires", "max_expires", "default_expires", "max_contacts", "max_bindings",
    "max_message", "transaction_cache", "handshake_timeout", "message_timeout", "idle_timeout",
    "auth_max_failures", "auth_window", "auth_block", "auth_cache_ttl", NULL,
};

struct opts {
    const char *listen[SIPD_LISTEN_MAX];
    size_t n_listen;
    const char *peer[OSEC_SIP_PEERS_MAX];
    size_t n_peer;
    const char *cs, *store, *log_level;
    int workers;
    bool check;
};

static int fail(const char *what)
{
    fprintf(stderr, "cpm-sipd: %s: %s\n", what, osec_error_msg());
    return 1;
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "cpm-sipd: %s\n%s", msg, usage);
    return 2;
}

static int parse_args(int argc, char **argv, struct sipd *srv, struct opts *o)
{
    static const struct option lo[] = {
        { "data", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' },
        { "conversation-server", required_argument, NULL, 'C' },
        { "peer", required_argument, NULL, 'p' }, { "store", required_argument, NULL, 's' },
        { "workers", required_argument, NULL, 'w' }, { "log-level", required_argument, NULL, 'L' },
        { "check-config", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int64_t v;
    int ch;

    while ((ch = getopt_long(argc, argv, "d:c:l:C:p:s:w:nh", lo, NULL)) != -1) {
        switch (ch) {
        case 'd': srv->data = optarg; break;
        case 'c': srv->config_path = optarg; break;
        case 'C': o->cs = optarg; break;
        case 's': o->store = optarg; break;
        case 'L': o->log_level = optarg; break;
        case 'n': o->check = true; break;
        case 'l':
            if (o->n_listen >= SIPD_LISTEN_MAX)
                return usage_error("too many --listen");
            o->listen[o->n_listen++] = optarg;
            break;
        case 'p':
            if (o->n_peer >= OSEC_SIP_PEERS_MAX)
                return usage_error("too many --peer");
            o->peer[o->n_peer++] = optarg;
            break;
        case 'w':
            if (osec_parse_i64(optarg, 1, 256, &v) < 0)
                return usage_error("--workers must be 1..256");
            o->workers = (int)v;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc)
        return usage_error("unexpected argument");
    if (!srv->data)
        return usage_error("--data DIR is required");
    return 0;
}

/* ---- configuration ----------------------------------------------------------- */

static int add_listen(struct sipd *srv, const char *spec)
{
    static const char *const names[] = { "udp:", "tcp:", "tls:", "iwf:" };
    struct sipd_listen *l;

    OSEC_ENSURE(srv->n_listen < SIPD_LISTEN_MAX, OSEC_ECONFIG, "too many listeners");
    l = &srv->listen[srv->n_listen];
    for (int t = 0; t < 4; t++) {
        if (strncmp(spec, names[t], 4) != 0)
            continue;
        l->tp = (enum sipd_tp)t;
        OSEC_ENSURE(osec_net_parse_hostport(spec + 4, l->host, sizeof(l->host), &l->port) == 0 &&
                        l->port != 0,
                    OSEC_ECONFIG, "bad listen address '%s' (expected TP:HOST:PORT)", spec);
        srv->n_listen++;
        return 0;
    }
    OSEC_BAIL(OSEC_ECONFIG, "bad listen '%s' (transport udp, tcp, tls or iwf)", spec);
}

/* Whitespace/comma separated list from the config into add(). */
static int each_word(const char *list, bool commas, int (*add)(struct sipd *, const char *),
                     struct sipd *srv)
{
    char word[512];
    size_t n = 0;

    for (const char *p = list;; p++) {
        if (*p && *p != ' ' && *p != '\t' && !(commas && *p == ',')) {
            OSEC_ENSURE(n + 1 < sizeof(word), OSEC_ECONFIG, "list item too long");
            word[n++] = *p;
            continue;
        }
        if (n) {
            word[n] = '\0';
            OSEC_GUARD(add(srv, word));
            n = 0;
        }
        if (!*p)
            return 0;
    }
}

static int add_peer(struct sipd *srv, const char *spec)
{
    OSEC_ENSURE(srv->n_peers < OSEC_SIP_PEERS_MAX, OSEC_ECONFIG, "too many peers");
    for (size_t i = 0; i < srv->n_peers; i++)
        OSEC_ENSURE(strncmp(srv->peers[i].name, spec, strlen(srv->peers[i].name)) != 0 ||
                        (spec[strlen(srv->peers[i].name)] != '\0' &&
                         spec[strlen(srv->peers[i].name)] != '='),
                    OSEC_ECONFIG, "peer '%s' configured twice", spec);
    if (osec_sip_peer_parse(spec, &srv->peers[srv->n_peers]) < 0)
        OSEC_BAIL(OSEC_ECONFIG, "%s", osec_error_msg());
    srv->n_peers++;
    return 0;
}

static int trust_peer(struct sipd *srv, const char *name)
{
    for (size_t i = 0; i < srv->n_peers; i++) {
        if (strcmp(srv->peers[i].name, name) == 0) {
            srv->peers[i].trusted = true;
            return 0;
        }
    }
    OSEC_BAIL(OSEC_ECONFIG, "trusted_peers names '%s', which is not a configured peer", name);
}

static int set_cs(struct sipd *srv, const char *text)
{
    struct osec_sip_uri u;
    char host[SIPD_HOST_MAX];

    OSEC_ENSURE(osec_sip_uri_parse(osec_slice_cstr(text), &u) == 0 &&
                    u.scheme == OSEC_SIP_SCHEME_SIP && u.user.len == 0,
                OSEC_ECONFIG, "bad conversation server '%s' (expected sip:HOST:PORT)", text);
    OSEC_ENSURE(u.transport.len == 0 || osec_slice_eq_ci(u.transport, "udp"), OSEC_ECONFIG,
                "the conversation server is reached over UDP (transport=%.*s not supported)",
                (int)u.transport.len, (const char *)u.transport.ptr);
    OSEC_ENSURE(osec_slice_to_cstr(u.host, host, sizeof(host)) == 0 &&
                    osec_udp_addr_make(host, u.port ? u.port : 5060, &srv->cs_addr) == 0,
                OSEC_ECONFIG, "conversation server host must be a numeric address: '%s'", text);
    return osec_snprintf(srv->cs_text, sizeof(srv->cs_text), "%s:%u", host,
                         (unsigned)(u.port ? u.port : 5060));
}

static int listeners(struct sipd *srv, const struct osec_config *cfg, const struct opts *o)
{
    const char *s = osec_config_get(cfg, SEC, "listen");
    bool iwf = false;

    for (size_t i = 0; i < o->n_listen; i++)
        OSEC_GUARD(add_listen(srv, o->listen[i]));
    if (!o->n_listen && s)
        OSEC_GUARD(each_word(s, true, add_listen, srv));
    if (!srv->n_listen) {
        OSEC_GUARD(add_listen(srv, "udp:127.0.0.1:5060"));
        OSEC_GUARD(add_listen(srv, "tcp:127.0.0.1:5060"));
        OSEC_GUARD(add_listen(srv, "tls:127.0.0.1:5061"));
        if (srv->n_peers)
            OSEC_GUARD(add_listen(srv, "iwf:127.0.0.1:5062"));
    }
    srv->cs_listen = -1;
    for (size_t i = 0; i < srv->n_listen; i++) {
        iwf |= srv->listen[i].tp == TP_IWF;
        if (srv->cs_listen < 0 && srv->listen[i].tp == TP_UDP &&
            (strchr(srv->listen[i].host, ':') != NULL) == (srv->cs_addr.ss.ss_family == AF_INET6))
            srv->cs_listen = (int)i;
    }
    OSEC_ENSURE(srv->cs_listen >= 0, OSEC_ECONFIG,
                "a udp listener of the conversation server's address family is required");
    OSEC_ENSURE(!srv->n_peers || iwf, OSEC_ECONFIG, "peers are configured but no iwf listener");
    return 0;
}

static int get_u32(const struct osec_config *cfg, const char *key, int64_t min, int64_t max,
                   int64_t def, uint32_t *out)
{
    int64_t v;

    OSEC_GUARD(osec_config_get_int(cfg, SEC, key, min, max, def, &v));
    *out = (uint32_t)v;
    return 0;
}

static int get_size(const struct osec_config *cfg, const char *key, int64_t min, int64_t max,
                    int64_t def, size_t *out)
{
    int64_t v;

    OSEC_GUARD(osec_config_get_int(cfg, SEC, key, min, max, def, &v));
    *out = (size_t)v;
    return 0;
}

static int get_ms(const struct osec_config *cfg, const char *key, int64_t def, unsigned *out)
{
    uint32_t v;

    OSEC_GUARD(get_u32(cfg, key, 1, 86400, def, &v));
    *out = v * 1000u;
    return 0;
}

static int paths(struct sipd *srv, const struct osec_config *cfg, const struct opts *o)
{
    const char *s = o->store ? o->store : osec_config_get(cfg, SEC, "store");

    if (s)
        OSEC_GUARD(osec_strlcpy(srv->store_url, s, sizeof(srv->store_url)));
    else
        OSEC_GUARD(osec_snprintf(srv->store_url, sizeof(srv->store_url), "sqlite:%s/omasec.db",
                                 srv->data));
    OSEC_GUARD(osec_snprintf(srv->master_path, sizeof(srv->master_path), "%s/master.key",
                             srv->data));
    s = osec_config_get(cfg, SEC, "cert");
    OSEC_GUARD(s ? osec_strlcpy(srv->cert, s, sizeof(srv->cert))
                 : osec_snprintf(srv->cert, sizeof(srv->cert), "%s/pki/server.crt", srv->data));
    s = osec_config_get(cfg, SEC, "key");
    OSEC_GUARD(s ? osec_strlcpy(srv->key, s, sizeof(srv->key))
                 : osec_snprintf(srv->key, sizeof(srv->key), "%s/pki/server.key", srv->data));
    s = osec_config_get(cfg, SEC, "peer_ca");
    return s ? osec_strlcpy(srv->peer_ca, s, sizeof(srv->peer_ca))
             : osec_snprintf(srv->peer_ca, sizeof(srv->peer_ca), "%s/pki/ca.crt", srv->data);
}

static int parse_algs(const char *list, struct osec_digest_server_config *dc)
{
    struct osec_cursor c;
    struct osec_slice item;
    size_t n = 0;

    osec_cursor_init(&c, list, strlen(list));
    while (!osec_cursor_eof(&c)) {
        if (osec_cursor_until(&c, ',', &item) < 0)
            (void)osec_cursor_read_bytes(&c, osec_cursor_remaining(&c), &item);
        else
            (void)osec_cursor_eat(&c, ',');
        OSEC_ENSURE(n < OSEC_DIGEST_ALG_COUNT, OSEC_ECONFIG, "too many digest_algorithms");
        dc->algs[n] = osec_digest_alg_from_name(osec_slice_trim(item));
        OSEC_ENSURE(dc->algs[n] != OSEC_DIGEST_ALG_UNKNOWN, OSEC_ECONFIG,
                    "unknown digest algorithm in '%s'", list);
        OSEC_ENSURE(dc->allow_md5 || osec_digest_alg_hash(dc->algs[n]) != OSEC_HASH_MD5,
                    OSEC_ECONFIG, "MD5 in digest_algorithms needs allow_md5 = yes");
        n++;
    }
    return 0;
}

static int digest_config(const struct osec_config *cfg, struct osec_digest_server_config *dc)
{
    const char *s;

    OSEC_GUARD(osec_config_get_bool(cfg, SEC, "allow_md5", false, &dc->allow_md5));
    s = osec_config_get(cfg, SEC, "digest_algorithms");
    OSEC_GUARD(parse_algs(s ? s : dc->allow_md5 ? "SHA-256,MD5" : "SHA-256", dc));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "nonce_lifetime", 10, 86400, 300,
                                   &dc->nonce_lifetime));
    dc->qop = OSEC_DIGEST_QOP_AUTH;
    return 0;
}

static int limits(struct sipd *srv, const struct osec_config *cfg, const struct opts *o)
{
    int64_t v;

    OSEC_GUARD(osec_config_get_int(cfg, SEC, "workers", 1, 256, 1, &v));
    srv->workers = o->workers ? o->workers : (int)v;
    OSEC_GUARD(get_u32(cfg, "min_expires", 1, 86400, 60, &srv->min_expires));
    OSEC_GUARD(get_u32(cfg, "max_expires", srv->min_expires, 604800, 3600, &srv->max_expires));
    OSEC_GUARD(get_u32(cfg, "default_expires", srv->min_expires, srv->max_expires,
                       srv->max_expires < 3600 ? srv->max_expires : 3600,
                       &srv->default_expires));
    OSEC_GUARD(get_size(cfg, "max_contacts", 1, OSEC_SIP_CONTACT_MAX, 10, &srv->max_contacts));
    OSEC_GUARD(get_size(cfg, "max_bindings", 1, 10000000, 100000, &srv->max_bindings));
    OSEC_GUARD(get_size(cfg, "max_message", 1024, OSEC_SIP_MSG_MAX_DEFAULT, 65535,
                        &srv->max_msg));
    OSEC_GUARD(get_size(cfg, "transaction_cache", 16, 10000000, 32768, &srv->txn_cache));
    OSEC_GUARD(osec_config_get_int(cfg, SEC, "auth_cache_ttl", 0, 3600, 5, &v));
    srv->auth_cache_ms = (unsigned)v * 1000u;
    OSEC_GUARD(get_ms(cfg, "handshake_timeout", 10, &srv->handshake_ms));
    OSEC_GUARD(get_ms(cfg, "message_timeout", 30, &srv->message_ms));
    return get_ms(cfg, "idle_timeout", 3600, &srv->idle_ms);
}

static int apply_config(struct sipd *srv, const struct osec_config *cfg, const struct opts *o,
                        struct osec_digest_server_config *dc)
{
    const char *s;

    OSEC_GUARD(osec_config_check_keys(cfg, SEC, config_keys));
    s = o->cs ? o->cs : osec_config_get(cfg, SEC, "conversation_server");
    OSEC_ENSURE(s != NULL, OSEC_ECONFIG, "--conversation-server sip:HOST:PORT is required");
    OSEC_GUARD(set_cs(srv, s));
    for (size_t i = 0; i < o->n_peer; i++)
        OSEC_GUARD(add_peer(srv, o->peer[i]));
    if (!o->n_peer && (s = osec_config_get(cfg, SEC, "peers")) != NULL)
        OSEC_GUARD(each_word(s, false, add_peer, srv));
    if ((s = osec_config_get(cfg, SEC, "trusted_peers")) != NULL)
        OSEC_GUARD(each_word(s, true, trust_peer, srv));
    OSEC_GUARD(listeners(srv, cfg, o));
    OSEC_GUARD(paths(srv, cfg, o));
    OSEC_GUARD(limits(srv, cfg, o));
    OSEC_GUARD(digest_config(cfg, dc));
    s = o->log_level ? o->log_level : osec_config_get(cfg, SEC, "log_level");
    if (s) {
        enum osec_log_level l;

        OSEC_ENSURE(osec_log_parse_level(s, &l) == 0, OSEC_ECONFIG, "bad log level '%s'", s);
        osec_log_set_level(l);
    }
    return 0;
}

static int rate_limits(struct sipd *srv, const struct osec_config *cfg)
{
    struct osec_ratelimit_config rc = { 0, 0, 0, 0 };
    uint32_t f, w, b;

    OSEC_GUARD(get_u32(cfg, "auth_max_failures", 1, 100000, 5, &f));
    OSEC_GUARD(get_u32(cfg, "auth_window", 1, 86400, 60, &w));
    OSEC_GUARD(get_u32(cfg, "auth_block", 1, 86400, 60, &b));
    rc.max_failures = f;
    rc.window = w;
    rc.block = b;
    OSEC_GUARD(osec_ratelimit_new(&rc, &srv->rl));
    srv->auth.rl = srv->rl;
    return 0;
}

/* ---- security state --------------------------------------------------------- */

static int gen_secret(void *arg, struct osec_buf *out)
{
    const struct osec_master *m = arg;
    uint8_t secret[OSEC_DIGEST_SECRET_LEN];
    int rc = osec_rand_bytes(secret, sizeof(secret));

    if (rc == 0)
        rc = osec_seal(m, "nonce-secret", NULL, 0, secret, sizeof(secret), out);
    osec_wipe(secret, sizeof(secret));
    return rc;
}

/* The SIP nonce secret is shared through the store (sealed), so several
 * cpm-sipd instances accept each other's nonces; it is not cpns-server's. */
static int nonce_secret(struct sipd *srv, struct osec_store *st, uint8_t out[32])
{
    struct osec_store_blob b = { NULL, 0 };
    struct osec_buf pt;
    int rc;

    osec_buf_init_secret(&pt, 64);
    OSEC_CHECK(rc, osec_store_meta_get_or_create(st, "sip.nonce_secret", gen_secret, srv->m, &b));
    OSEC_CHECK(rc, osec_unseal(srv->m, "nonce-secret", NULL, 0, b.data, b.len, &pt));
    if (pt.len != OSEC_DIGEST_SECRET_LEN)
        OSEC_FAIL(rc, OSEC_EINTEGRITY, "bad nonce secret length");
    memcpy(out, pt.data, OSEC_DIGEST_SECRET_LEN);
out:
    osec_store_blob_free(&b);
    osec_buf_free(&pt);
    return rc;
}

static int tls_contexts(struct sipd *srv)
{
    struct osec_tls_server_opts to;
    bool tls = false, iwf = false;

    for (size_t i = 0; i < srv->n_listen; i++) {
        tls |= srv->listen[i].tp == TP_TLS;
        iwf |= srv->listen[i].tp == TP_IWF;
    }
    memset(&to, 0, sizeof(to));
    to.cert_file = srv->cert;
    to.key_file = srv->key;
    if (tls && !(srv->tls = osec_tls_server_ctx(&to)))
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    to.verify_client = OSEC_TLS_VERIFY_REQUIRED;
    to.client_ca_file = srv->peer_ca;
    if (iwf && !(srv->iwf = osec_tls_server_ctx(&to)))
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    return 0;
}

static int setup_security(struct sipd *srv, struct osec_digest_server_config *dc)
{
    struct osec_store *st = NULL;
    int rc;

    OSEC_GUARD(osec_master_load(srv->master_path, &srv->m));
    OSEC_CHECK(rc, osec_store_open(srv->store_url, &st));
    OSEC_CHECK(rc, osec_account_realm(st, srv->realm, sizeof(srv->realm)));
    OSEC_CHECK(rc, nonce_secret(srv, st, dc->secret));
    dc->realm = srv->realm;
    OSEC_CHECK(rc, osec_digest_server_new(dc, &srv->digest));
    srv->auth.digest = srv->digest;
    OSEC_CHECK(rc, osec_rand_bytes(srv->flow_key, sizeof(srv->flow_key)));
    OSEC_CHECK(rc, tls_contexts(srv));
    OSEC_CHECK(rc, sipd_reg_new(srv->max_bindings, srv->max_contacts, &srv->reg));
out:
    osec_wipe(dc->secret, sizeof(dc->secret));
    osec_store_close(&st);
    return rc;
}

static void reload(void *arg)
{
    struct sipd *srv = arg;
    struct osec_config *cfg = NULL;
    const char *s;
    enum osec_log_level l;

    if (!srv->config_path) {
        osec_info("config.reload", "result=no-config-file");
        return;
    }
    if (osec_config_load(srv->config_path, &cfg) < 0 ||
        osec_config_check_keys(cfg, SEC, config_keys) < 0) {
        osec_error("config.reload_failed", "error=\"%s\"", osec_error_msg());
        osec_config_free(&cfg);
        return;
    }
    s = osec_config_get(cfg, SEC, "log_level");
    if (s && osec_log_parse_level(s, &l) == 0)
        osec_log_set_level(l);
    osec_info("config.reload", "result=ok file=\"%s\"", srv->config_path);
    osec_config_free(&cfg);
}

static int serve(struct sipd *srv)
{
    sigset_t set;
    int rc;

    /* before any thread starts, so that only the signal thread takes them */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    (void)pthread_sigmask(SIG_BLOCK, &set, NULL);
    OSEC_GUARD(sipd_audit_start(srv));
    rc = sipd_workers_start(srv);
    for (size_t i = 0; rc == 0 && i < srv->n_listen; i++)
        osec_info("server.listening", "transport=%s addr=%s:%u",
                  srv->listen[i].tp == TP_IWF ? "iwf" : sipd_tp_name(srv->listen[i].tp),
                  srv->listen[i].host, (unsigned)srv->listen[i].port);
    if (rc == 0) {
        osec_info("server.ready", "realm=\"%s\" conversation_server=%s workers=%d peers=%zu",
                  srv->realm, srv->cs_text, srv->workers, srv->n_peers);
        rc = sipd_run(srv, reload);
        osec_info("server.stopped", "bindings=%zu", sipd_reg_count(srv->reg));
    }
    sipd_workers_free(srv);
    sipd_audit_stop(srv);
    return rc;
}

static void cleanup(struct sipd *srv)
{
    sipd_reg_free(&srv->reg);
    osec_tls_ctx_free(&srv->tls);
    osec_tls_ctx_free(&srv->iwf);
    osec_digest_server_free(&srv->digest);
    osec_ratelimit_free(&srv->rl);
    osec_master_free(&srv->m);
    osec_wipe(srv->flow_key, sizeof(srv->flow_key));
}

int main(int argc, char **argv)
{
    static struct sipd srv;
    struct osec_digest_server_config dc;
    struct osec_config *cfg = NULL;
    struct opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&dc, 0, sizeof(dc));
    if ((rc = parse_args(argc, argv, &srv, &o)) != 0)
        return rc;
    if (srv.config_path && osec_config_load(srv.config_path, &cfg) < 0)
        return fail("configuration");
    rc = apply_config(&srv, cfg, &o, &dc);
    if (rc == 0)
        rc = rate_limits(&srv, cfg);
    osec_config_free(&cfg);
    if (rc < 0) {
        osec_ratelimit_free(&srv.rl);
        return fail("configuration");
    }
    if (o.check) {
        printf("cpm-sipd: configuration ok\n");
        osec_ratelimit_free(&srv.rl);
        return 0;
    }
    if (setup_security(&srv, &dc) < 0)
        rc = fail("startup");
    else if (serve(&srv) < 0)
        rc = fail("server");
    cleanup(&srv);
    return rc ? 1 : 0;
}
