/* cpm-sipd: the CPM SIP signalling security edge (registrar + authenticating
 * edge proxy + Interworking Function border). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/config.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/metrics.h"
#include "omasec/net.h"
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
    "  -I, --instance HOST:PORT       this instance's UDP address, naming it to the other\n"
    "                                 instances on a shared (PostgreSQL) store (default:\n"
    "                                 the UDP listener facing the Conversation Server)\n"
    "      --metrics HOST:PORT        serve Prometheus metrics at http://HOST:PORT/metrics\n"
    "      --log-level L              debug, info, warn, error (default info)\n"
    "  -n, --check-config             validate the configuration and exit\n"
    "  -h, --help                     this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads certificates, Digest policy,\n"
    "peers, limits and the log level, keeping connections and registrations.\n";

static const char *const config_keys[] = {
    "listen", "conversation_server", "peers", "trusted_peers", "store", "workers",
    "log_level", "cert", "key", "peer_ca", "digest_algorithms", "allow_md5", "nonce_lifetime",
    "min_expires", "max_expires", "default_expires", "max_contacts", "max_bindings",
    "max_message", "transaction_cache", "handshake_timeout", "message_timeout", "idle_timeout",
    "auth_max_failures", "auth_window", "auth_block", "auth_cache_ttl", "metrics", "instance",
    "max_conns_per_source", NULL,
};

struct sipd_opts {
    const char *listen[SIPD_LISTEN_MAX];
    size_t n_listen;
    const char *peer[OSEC_SIP_PEERS_MAX];
    size_t n_peer;
    const char *cs, *store, *log_level, *metrics, *instance;
    int workers;
    bool check;
};

static int usage_error(const char *msg)
{
    fprintf(stderr, "cpm-sipd: %s\n%s", msg, usage);
    return 2;
}

static int add_opt(const char **list, size_t *n, size_t max, const char *v, const char *what)
{
    if (*n >= max)
        return usage_error(what);
    list[(*n)++] = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct sipd *srv, struct sipd_opts *o)
{
    static const struct option lo[] = {
        { "data", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' },
        { "conversation-server", required_argument, NULL, 'C' },
        { "peer", required_argument, NULL, 'p' }, { "store", required_argument, NULL, 's' },
        { "workers", required_argument, NULL, 'w' }, { "log-level", required_argument, NULL, 'L' },
        { "metrics", required_argument, NULL, 'M' },
        { "instance", required_argument, NULL, 'I' },
        { "check-config", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int64_t v;
    int ch, rc = 0;

    while (rc == 0 && (ch = getopt_long(argc, argv, "d:c:l:C:p:s:w:I:nh", lo, NULL)) != -1) {
        switch (ch) {
        case 'd': srv->data = optarg; break;
        case 'c': srv->config_path = optarg; break;
        case 'C': o->cs = optarg; break;
        case 's': o->store = optarg; break;
        case 'L': o->log_level = optarg; break;
        case 'M': o->metrics = optarg; break;
        case 'I': o->instance = optarg; break;
        case 'n': o->check = true; break;
        case 'l': rc = add_opt(o->listen, &o->n_listen, SIPD_LISTEN_MAX, optarg,
                               "too many --listen"); break;
        case 'p': rc = add_opt(o->peer, &o->n_peer, OSEC_SIP_PEERS_MAX, optarg,
                               "too many --peer"); break;
        case 'w':
            if (osec_parse_i64(optarg, 1, 256, &v) < 0)
                return usage_error("--workers must be 1..256");
            o->workers = (int)v;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); return 2;
        }
    }
    if (rc == 0 && optind != argc)
        return usage_error("unexpected argument");
    if (rc == 0 && !srv->data)
        return usage_error("--data DIR is required");
    return rc;
}

/* ---- configuration errors ----------------------------------------------------- */

/* "FILE:LINE: " of key in the file, or "" when the file does not set it.
 * config.h keeps the line of every key but has no accessor for it; its typed
 * getters name it in their messages, so ask one that cannot succeed (an
 * empty choice list) and keep the location it reports. */
static void where(const struct osec_config *cfg, const char *key, char *out, size_t len)
{
    static const char *const none[] = { NULL };
    const char *msg, *end;
    int i;

    out[0] = '\0';
    if (!cfg || !key || !osec_config_get(cfg, SEC, key) ||
        osec_config_get_enum(cfg, SEC, key, none, 0, &i) == 0)
        return;
    msg = osec_error_msg();
    end = strstr(msg, ": bad value '");
    if (end && (size_t)(end - msg) + 3 <= len) {
        memcpy(out, msg, (size_t)(end - msg));
        memcpy(out + (end - msg), ": ", 3);
    }
}

/* Record a failed step (rc < 0) and go on, so that one run names every
 * problem.  key: the configuration key the failing value came from (NULL
 * when it came from the command line); messages of the config module
 * already start with FILE:LINE. */
static int note(struct sipd_cfgerrs *e, const struct osec_config *cfg, const char *key, int rc)
{
    char msg[300], loc[128] = "";

    if (rc >= 0)
        return rc;
    (void)osec_strlcpy(msg, osec_error_msg(), sizeof(msg));
    if (!e->file || strncmp(msg, e->file, strlen(e->file)) != 0)
        where(cfg, key, loc, sizeof(loc));
    if (e->n < SIPD_CFG_ERRORS)
        (void)osec_snprintf(e->msg[e->n], sizeof(e->msg[e->n]), "%s%s", loc, msg);
    e->n++;
    if (!e->rc)
        e->rc = rc;
    return rc;
}

/* ---- configuration values --------------------------------------------------------- */

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

    OSEC_ENSURE(text != NULL, OSEC_ECONFIG,
                "--conversation-server sip:HOST:PORT (or conversation_server) is required");
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

/* The listeners; checked against the Conversation Server's address and the
 * peers only when those are known (cs_ok / peers_ok). */
static int listeners(struct sipd *srv, const struct osec_config *cfg, bool cs_ok, bool peers_ok)
{
    const struct sipd_opts *o = srv->opts;
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
    OSEC_ENSURE(!cs_ok || srv->cs_listen >= 0, OSEC_ECONFIG,
                "a udp listener of the conversation server's address family is required");
    OSEC_ENSURE(!peers_ok || !srv->n_peers || iwf, OSEC_ECONFIG,
                "peers are configured but no iwf listener");
    return 0;
}

static int default_instance(struct sipd *srv)
{
    const struct sipd_listen *l = &srv->listen[srv->cs_listen];
    bool v6 = strchr(l->host, ':') != NULL;

    srv->inst_port = l->port;
    OSEC_GUARD(osec_strlcpy(srv->inst_host, l->host, sizeof(srv->inst_host)));
    return osec_snprintf(srv->instance, sizeof(srv->instance), "%s%s%s:%u", v6 ? "[" : "",
                         l->host, v6 ? "]" : "", (unsigned)l->port);
}

/* The instance name: HOST:PORT of one of our UDP listeners (or, behind a
 * wildcard listener, an address of ours on its port), where the other
 * instances on a shared store send requests for our connections. */
static int set_instance(struct sipd *srv, const char *s)
{
    struct osec_udp_addr a;

    if (!s)
        return default_instance(srv);
    OSEC_ENSURE(osec_net_parse_hostport(s, srv->inst_host, sizeof(srv->inst_host),
                                        &srv->inst_port) == 0 &&
                    srv->inst_port != 0 &&
                    osec_udp_addr_make(srv->inst_host, srv->inst_port, &a) == 0,
                OSEC_ECONFIG, "bad instance '%s' (expected HOST:PORT, numeric host)", s);
    for (size_t i = 0; i < srv->n_listen; i++) {
        const struct sipd_listen *l = &srv->listen[i];

        if (l->tp == TP_UDP && l->port == srv->inst_port &&
            (strcmp(l->host, srv->inst_host) == 0 || sipd_host_unspecified(l->host)))
            return osec_strlcpy(srv->instance, s, sizeof(srv->instance));
    }
    OSEC_BAIL(OSEC_ECONFIG, "instance '%s' is not the address of a udp listener", s);
}

/* Identities: the Conversation Server, the peers and which of them are
 * trusted, then the listeners (which depend on both). */
static void identities(struct sipd *srv, const struct osec_config *cfg, struct sipd_cfgerrs *e)
{
    const struct sipd_opts *o = srv->opts;
    const char *s;
    bool cs_ok, peers_ok = true;

    s = o->cs ? o->cs : osec_config_get(cfg, SEC, "conversation_server");
    cs_ok = note(e, cfg, o->cs ? NULL : "conversation_server", set_cs(srv, s)) == 0;
    for (size_t i = 0; i < o->n_peer && peers_ok; i++)
        peers_ok = note(e, cfg, NULL, add_peer(srv, o->peer[i])) == 0;
    if (!o->n_peer && (s = osec_config_get(cfg, SEC, "peers")) != NULL)
        peers_ok = note(e, cfg, "peers", each_word(s, false, add_peer, srv)) == 0;
    if (peers_ok && (s = osec_config_get(cfg, SEC, "trusted_peers")) != NULL)
        peers_ok = note(e, cfg, "trusted_peers", each_word(s, true, trust_peer, srv)) == 0;
    if (note(e, cfg, o->n_listen ? NULL : "listen", listeners(srv, cfg, cs_ok, peers_ok)) == 0 &&
        srv->cs_listen >= 0) {
        s = o->instance ? o->instance : osec_config_get(cfg, SEC, "instance");
        (void)note(e, cfg, o->instance ? NULL : "instance", set_instance(srv, s));
    }
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

static unsigned get_ms(const struct osec_config *cfg, const char *key, int64_t def,
                       struct sipd_cfgerrs *e)
{
    uint32_t v = (uint32_t)def;

    (void)note(e, cfg, key, get_u32(cfg, key, 1, 86400, def, &v));
    return v * 1000u;
}

/* A path from the configuration, or DATA/leaf. */
static int path(const struct sipd *srv, const struct osec_config *cfg, const char *key,
                const char *leaf, char *out, size_t len)
{
    const char *s = osec_config_get(cfg, SEC, key);

    if (s)
        OSEC_ENSURE(osec_strlcpy(out, s, len) == 0, OSEC_ECONFIG, "%s is too long", key);
    else
        OSEC_ENSURE(osec_snprintf(out, len, "%s/%s", srv->data, leaf) == 0, OSEC_ECONFIG,
                    "data directory path too long");
    return 0;
}

static int store_url(struct sipd *srv, const char *s)
{
    if (s)
        OSEC_ENSURE(osec_strlcpy(srv->store_url, s, sizeof(srv->store_url)) == 0,
                    OSEC_ECONFIG, "store URL too long");
    else
        OSEC_ENSURE(osec_snprintf(srv->store_url, sizeof(srv->store_url), "sqlite:%s/omasec.db",
                                  srv->data) == 0,
                    OSEC_ECONFIG, "data directory path too long");
    return 0;
}

static void paths(struct sipd *srv, const struct osec_config *cfg, struct sipd_cfgerrs *e)
{
    const char *s = srv->opts->store;

    (void)note(e, cfg, s ? NULL : "store",
               store_url(srv, s ? s : osec_config_get(cfg, SEC, "store")));
    (void)note(e, cfg, NULL, path(srv, NULL, "-", "master.key", srv->master_path,
                                  sizeof(srv->master_path)));
    (void)note(e, cfg, "cert", path(srv, cfg, "cert", "pki/server.crt", srv->cert,
                                    sizeof(srv->cert)));
    (void)note(e, cfg, "key", path(srv, cfg, "key", "pki/server.key", srv->key,
                                   sizeof(srv->key)));
    (void)note(e, cfg, "peer_ca", path(srv, cfg, "peer_ca", "pki/ca.crt", srv->peer_ca,
                                       sizeof(srv->peer_ca)));
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

static void digest_config(const struct osec_config *cfg, struct osec_digest_server_config *dc,
                          struct sipd_cfgerrs *e)
{
    const char *s = osec_config_get(cfg, SEC, "digest_algorithms");

    memset(dc, 0, sizeof(*dc));
    (void)note(e, cfg, "allow_md5", osec_config_get_bool(cfg, SEC, "allow_md5", false,
                                                         &dc->allow_md5));
    (void)note(e, cfg, "digest_algorithms",
               parse_algs(s ? s : dc->allow_md5 ? "SHA-256,MD5" : "SHA-256", dc));
    (void)note(e, cfg, "nonce_lifetime", osec_config_get_int(cfg, SEC, "nonce_lifetime", 10,
                                                             86400, 300, &dc->nonce_lifetime));
    dc->qop = OSEC_DIGEST_QOP_AUTH;
}

static void expiry(struct sipd *srv, const struct osec_config *cfg, struct sipd_cfgerrs *e)
{
    uint32_t mn = 60, mx = 3600, df = 3600;

    (void)note(e, cfg, "min_expires", get_u32(cfg, "min_expires", 1, 86400, 60, &mn));
    (void)note(e, cfg, "max_expires", get_u32(cfg, "max_expires", mn, 604800, 3600, &mx));
    df = mx < 3600 ? mx : 3600;
    (void)note(e, cfg, "default_expires", get_u32(cfg, "default_expires", mn, mx, df, &df));
    srv->min_expires = mn;
    srv->max_expires = mx;
    srv->default_expires = df;
}

static void limits(struct sipd *srv, const struct osec_config *cfg, struct sipd_cfgerrs *e)
{
    int64_t v = 1;

    (void)note(e, cfg, "workers", osec_config_get_int(cfg, SEC, "workers", 1, 256, 1, &v));
    srv->workers = srv->opts->workers ? srv->opts->workers : (int)v;
    expiry(srv, cfg, e);
    (void)note(e, cfg, "max_contacts", get_size(cfg, "max_contacts", 1, OSEC_SIP_CONTACT_MAX,
                                                10, &srv->max_contacts));
    (void)note(e, cfg, "max_bindings", get_size(cfg, "max_bindings", 1, 10000000, 100000,
                                                &srv->max_bindings));
    (void)note(e, cfg, "max_message", get_size(cfg, "max_message", 1024,
                                               OSEC_SIP_MSG_MAX_DEFAULT, 65535, &srv->max_msg));
    (void)note(e, cfg, "transaction_cache", get_size(cfg, "transaction_cache", 16, 10000000,
                                                     32768, &srv->txn_cache));
    v = 5;
    (void)note(e, cfg, "auth_cache_ttl",
               osec_config_get_int(cfg, SEC, "auth_cache_ttl", 0, 3600, 5, &v));
    srv->auth_cache_ms = (unsigned)v * 1000u;
    srv->handshake_ms = get_ms(cfg, "handshake_timeout", 10, e);
    srv->message_ms = get_ms(cfg, "message_timeout", 30, e);
    srv->idle_ms = get_ms(cfg, "idle_timeout", 3600, e);
    srv->per_source = OSEC_NET_PER_SOURCE_DEFAULT;
    (void)note(e, cfg, "max_conns_per_source",
               osec_net_config_per_source(cfg, SEC, &srv->per_source));
}

static void rate_limits(const struct osec_config *cfg, struct osec_ratelimit_config *rl,
                        struct sipd_cfgerrs *e)
{
    uint32_t f = 5, w = 60, b = 60;

    (void)note(e, cfg, "auth_max_failures", get_u32(cfg, "auth_max_failures", 1, 100000, 5, &f));
    (void)note(e, cfg, "auth_window", get_u32(cfg, "auth_window", 1, 86400, 60, &w));
    (void)note(e, cfg, "auth_block", get_u32(cfg, "auth_block", 1, 86400, 60, &b));
    memset(rl, 0, sizeof(*rl));
    rl->max_failures = f;
    rl->window = w;
    rl->block = b;
}

static int set_log_level(struct sipd *srv, const char *s)
{
    OSEC_ENSURE(osec_log_parse_level(s, &srv->log_level) == 0, OSEC_ECONFIG,
                "bad log level '%s' (debug, info, warn or error)", s);
    srv->has_log_level = true;
    return 0;
}

static int set_metrics(struct sipd *srv, const char *s)
{
    char host[SIPD_HOST_MAX];
    uint16_t port;

    OSEC_ENSURE(osec_net_parse_hostport(s, host, sizeof(host), &port) == 0, OSEC_ECONFIG,
                "bad metrics address '%s' (expected HOST:PORT, numeric host)", s);
    return osec_strlcpy(srv->metrics, s, sizeof(srv->metrics));
}

static void operations(struct sipd *srv, const struct osec_config *cfg, struct sipd_cfgerrs *e)
{
    const struct sipd_opts *o = srv->opts;
    const char *s;

    s = o->log_level ? o->log_level : osec_config_get(cfg, SEC, "log_level");
    if (s)
        (void)note(e, cfg, o->log_level ? NULL : "log_level", set_log_level(srv, s));
    s = o->metrics ? o->metrics : osec_config_get(cfg, SEC, "metrics");
    if (s)
        (void)note(e, cfg, o->metrics ? NULL : "metrics", set_metrics(srv, s));
}

int sipd_config_read(struct sipd *srv, const struct osec_config *cfg,
                     struct osec_digest_server_config *dc, struct osec_ratelimit_config *rl,
                     struct sipd_cfgerrs *e)
{
    memset(e, 0, sizeof(*e));
    e->file = srv->config_path;
    (void)note(e, cfg, NULL, osec_config_check_keys(cfg, SEC, config_keys));
    identities(srv, cfg, e);
    paths(srv, cfg, e);
    limits(srv, cfg, e);
    digest_config(cfg, dc, e);
    rate_limits(cfg, rl, e);
    operations(srv, cfg, e);
    return e->rc;
}

/* ---- running ------------------------------------------------------------------ */

static int start_metrics(struct sipd *srv)
{
    if (!srv->metrics[0])
        return 0;
    OSEC_GUARD(osec_metrics_new(&srv->metrics_reg));
    OSEC_GUARD(sipd_metrics_init(srv->metrics_reg));
    OSEC_GUARD(osec_metrics_serve(srv->metrics_reg, srv->metrics));
    osec_info("metrics.listening", "addr=%s port=%u path=/metrics", srv->metrics,
              (unsigned)osec_metrics_port(srv->metrics_reg));
    return 0;
}

static void stop_metrics(struct sipd *srv)
{
    osec_metrics_stop(srv->metrics_reg);
    memset(&sipd_m, 0, sizeof(sipd_m)); /* nothing counts into a freed registry */
    osec_metrics_free(&srv->metrics_reg);
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
    OSEC_GUARD(start_metrics(srv));
    OSEC_GUARD(sipd_audit_start(srv));
    rc = sipd_workers_start(srv);
    for (size_t i = 0; rc == 0 && i < srv->n_listen; i++)
        osec_info("server.listening", "transport=%s addr=%s:%u",
                  srv->listen[i].tp == TP_IWF ? "iwf" : sipd_tp_name(srv->listen[i].tp),
                  srv->listen[i].host, (unsigned)srv->listen[i].port);
    if (rc == 0) {
        osec_info("server.ready",
                  "realm=\"%s\" conversation_server=%s workers=%d peers=%zu "
                  "max_conns_per_source=%u",
                  srv->realm, srv->cs_text, srv->workers, srv->n_peers, srv->per_source);
        rc = sipd_run(srv, sipd_reload);
        osec_info("server.stopped", "bindings=%zu", sipd_reg_count(srv->reg));
    }
    sipd_workers_free(srv);
    sipd_audit_stop(srv);
    return rc;
}

static int config_failed(const struct sipd_cfgerrs *e)
{
    for (unsigned i = 0; i < e->n && i < SIPD_CFG_ERRORS; i++)
        fprintf(stderr, "cpm-sipd: configuration: %s\n", e->msg[i]);
    if (e->n > SIPD_CFG_ERRORS)
        fprintf(stderr, "cpm-sipd: configuration: ... and %u more\n", e->n - SIPD_CFG_ERRORS);
    return 1;
}

int main(int argc, char **argv)
{
    static struct sipd srv;
    static struct sipd_cfgerrs e;
    struct osec_digest_server_config dc;
    struct osec_ratelimit_config rl;
    struct osec_config *cfg = NULL;
    struct sipd_opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    if ((rc = parse_args(argc, argv, &srv, &o)) != 0)
        return rc;
    srv.opts = &o;
    if (srv.config_path && osec_config_load(srv.config_path, &cfg) < 0) {
        fprintf(stderr, "cpm-sipd: configuration: %s\n", osec_error_msg());
        return 1;
    }
    rc = sipd_config_read(&srv, cfg, &dc, &rl, &e);
    osec_config_free(&cfg);
    if (rc < 0)
        return config_failed(&e);
    if (o.check) {
        printf("cpm-sipd: configuration ok\n");
        return 0;
    }
    if (srv.has_log_level)
        osec_log_set_level(srv.log_level);
    (void)pthread_mutex_init(&srv.ctx_mu, NULL);
    if (osec_ratelimit_new(&rl, &srv.rl) < 0 || sipd_security_setup(&srv, &dc) < 0) {
        fprintf(stderr, "cpm-sipd: startup: %s\n", osec_error_msg());
        rc = 1;
    } else if (serve(&srv) < 0) {
        fprintf(stderr, "cpm-sipd: server: %s\n", osec_error_msg());
        rc = 1;
    }
    stop_metrics(&srv);
    sipd_security_free(&srv);
    (void)pthread_mutex_destroy(&srv.ctx_mu);
    osec_wipe(dc.secret, sizeof(dc.secret));
    return rc ? 1 : 0;
}
