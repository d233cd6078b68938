/* cpm-msgstored: SIGHUP.
 *
 * A reload reads and checks the whole configuration into a scratch struct
 * ms and builds the new TLS context (STARTTLS, imaps and TLS-PSK share it)
 * before anything changes: any error, an unreadable certificate included,
 * leaves the running configuration as it was.  Then it publishes the TLS
 * context, TLS policy, rate limits, literal and line limits, the IDLE poll
 * interval, psk_preauth, max_conns_per_source and the log level.  Established sessions keep
 * their TLS session and login; new connections and new commands see the
 * new values.  What only a restart changes (listeners, store, workers,
 * connection timeouts, S/MIME signer, layout, credential cache, metrics,
 * larger literals than at start) is named in the log.
 */
#include <stdlib.h>
#include <string.h>

#include "msgstored.h"
#include "omasec/config.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/tls.h"
#include "omasec/util.h"

#define SEC "cpm-msgstored"

struct reload {
    struct ms *n; /* the new configuration */
    struct osec_ratelimit_config rl;
    unsigned per_source; /* max_conns_per_source */
    SSL_CTX *ctx;
    char restart[200];
};

static bool same_listener(const struct ms_listener *a, const struct ms_listener *b)
{
    return a->on == b->on && (!a->on || (a->port == b->port && strcmp(a->host, b->host) == 0));
}

/* Keys whose new value only a restart applies. */
static void restart_needed(const struct ms *run, const struct ms *n, char *out, size_t len)
{
    const struct { bool differ; const char *key; } k[] = {
        { !same_listener(&run->imap, &n->imap) || !same_listener(&run->imaps, &n->imaps),
          "listen_imap/listen_imaps" },
        { strcmp(run->store_url, n->store_url) != 0, "store" },
        { run->workers != n->workers, "workers" },
        { run->handshake_ms != n->handshake_ms || run->request_ms != n->request_ms ||
              run->idle_ms != n->idle_ms,
          "handshake_timeout/request_timeout/idle_timeout" },
        { n->lim.max_literal > run->lim.max_literal, "max_message (above its value at start)" },
        { n->lim.max_line > run->lim.max_line, "max_line (above its value at start)" },
        { run->smime != n->smime, "smime" },
        { run->cpm_layout != n->cpm_layout, "cpm_layout" },
        { run->auth_cache_ttl != n->auth_cache_ttl, "auth_cache_ttl" },
        { strcmp(run->metrics_addr, n->metrics_addr) != 0, "metrics" },
    };
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        if (!k[i].differ)
            continue;
        if (osec_snprintf(out + used, len - used, "%s%s", used ? "," : "", k[i].key) < 0)
            return;
        used += strlen(out + used);
    }
}

static int prepare(struct ms *srv, struct reload *r)
{
    struct osec_config *cfg = NULL;
    int rc;

    r->n = calloc(1, sizeof(*r->n));
    OSEC_ENSURE(r->n != NULL, OSEC_ENOMEM, "out of memory");
    r->n->data = srv->data;
    r->n->config_path = srv->config_path;
    if (srv->config_path)
        OSEC_GUARD(osec_config_load(srv->config_path, &cfg));
    rc = ms_config_read(r->n, cfg, srv->opts, &r->rl);
    if (rc == 0)
        rc = osec_net_config_per_source(cfg, SEC, &r->per_source);
    osec_config_free(&cfg);
    OSEC_GUARD(rc);
    r->ctx = ms_tls_ctx(srv, r->n);
    if (!r->ctx)
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    restart_needed(srv, r->n, r->restart, sizeof(r->restart));
    return 0;
}

/* The new context for STARTTLS (our slot) and the imaps listener (which
 * takes a reference of its own); connections made from the old one hold
 * their own references. */
static void swap_ctx(struct ms *srv, struct reload *r)
{
    SSL_CTX *old;

    if (srv->imaps.net && SSL_CTX_up_ref(r->ctx) == 1 &&
        osec_net_server_set_ssl_ctx(srv->imaps.net, r->ctx) < 0)
        SSL_CTX_free(r->ctx); /* the listener did not take it (cannot happen) */
    (void)pthread_mutex_lock(&srv->ctx_mu);
    old = srv->ssl;
    srv->ssl = r->ctx;
    (void)pthread_mutex_unlock(&srv->ctx_mu);
    r->ctx = NULL;
    SSL_CTX_free(old);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Nothing here can fail. */
static void commit(struct ms *srv, struct reload *r)
{
    const struct ms *n = r->n;

    osec_ratelimit_set_config(srv->rl, &r->rl);
    if (srv->imap.net)
        osec_net_server_set_max_conns_per_source(srv->imap.net, r->per_source);
    if (srv->imaps.net)
        osec_net_server_set_max_conns_per_source(srv->imaps.net, r->per_source);
    swap_ctx(srv, r);
    srv->tls_policy = n->tls_policy;
    srv->psk_preauth = n->psk_preauth;
    srv->idle_poll_ms = n->idle_poll_ms;
    /* worker buffers were sized at start: lower only */
    srv->max_literal = min_u64(n->lim.max_literal, srv->lim.max_literal);
    srv->max_line = (size_t)min_u64(n->lim.max_line, srv->lim.max_line);
    srv->psk = n->psk;
    srv->client_certs = n->client_certs;
    memcpy(srv->cert, n->cert, sizeof(srv->cert));
    memcpy(srv->key, n->key, sizeof(srv->key));
    memcpy(srv->ca, n->ca, sizeof(srv->ca));
}

/* The new log level, or -1 to keep it (none given, or --log-level). */
static int new_level(const struct ms *srv, const struct reload *r)
{
    if (!r->n->has_log_level || (srv->opts && srv->opts->log_level))
        return -1;
    return r->n->log_level;
}

void ms_reload(void *arg)
{
    struct ms *srv = arg;
    struct reload r;

    memset(&r, 0, sizeof(r));
    if (prepare(srv, &r) < 0) {
        osec_error("config.reload_failed", "error=\"%s\" (running configuration kept)",
                   osec_error_msg());
        osec_metric_inc(ms_m.reload_failed);
    } else {
        static const char *const lv[] = { "debug", "info", "warn", "error", "none" };
        int l = new_level(srv, &r);

        commit(srv, &r);
        /* the report of the reload shows under the old or the new level,
         * whichever is more verbose */
        if (l >= 0 && l < (int)osec_log_get_level())
            osec_log_set_level((enum osec_log_level)l);
        osec_info("config.reload",
                  "result=ok file=\"%s\" certificate=\"%s\" tls_policy=%s max_message=%llu "
                  "max_conns_per_source=%u log_level=%s",
                  srv->config_path ? srv->config_path : "-", srv->cert,
                  osec_msgpolicy_tls_name(srv->tls_policy),
                  (unsigned long long)atomic_load(&srv->max_literal), r.per_source,
                  lv[l >= 0 && l <= 4 ? l : (int)osec_log_get_level()]);
        if (l >= 0)
            osec_log_set_level((enum osec_log_level)l);
        if (r.restart[0])
            osec_warn("config.reload_restart_needed", "keys=%s", r.restart);
        osec_metric_inc(ms_m.reload_ok);
    }
    SSL_CTX_free(r.ctx);
    free(r.n);
}
