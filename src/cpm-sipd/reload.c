/* cpm-sipd: the security state (master key, Digest server, TLS contexts,
 * IWF peers) and its reload on SIGHUP.
 *
 * A reload reads and checks the whole configuration into a scratch struct
 * sipd, builds everything new (Digest server, TLS contexts, peer set) and
 * only then publishes it: any error, including an unreadable certificate,
 * leaves the running configuration untouched.  What cannot change at run
 * time (listeners, workers, store, Conversation Server, table sizes,
 * metrics) is reported in the log as needing a restart; max_conns_per_source
 * applies to new connections (those open above it stay).  Bindings, flow
 * tokens, connections and the nonce-count replay cache are kept.
 */
#include <stdlib.h>
#include <string.h>

#include "omasec/account.h"
#include "omasec/config.h"
#include "omasec/error.h"
#include "omasec/lookup.h"
#include "omasec/log.h"
#include "omasec/tls.h"
#include "omasec/util.h"
#include "sipd.h"

/* ---- building ------------------------------------------------------------ */

/* The SIP nonce secret is shared through the store (sealed), so several
 * cpm-sipd instances accept each other's nonces; it is not cpns-server's. */
static int nonce_secret(struct sipd *srv, struct osec_store *st, uint8_t out[32])
{
    /* with the replay state in memory, nonces must not outlive the process,
     * or a REGISTER accepted before a restart could be replayed after it; in
     * a shared store it is every instance's, across restarts */
    return osec_lookup_nonce_secret(st, srv->m, "sip.nonce_secret", srv->shared_replay == NULL,
                                    out);
}

/* A Digest server for policy dc, with the nonce secret of the store and the
 * replay cache of every previous one: a nonce-count used before a reload
 * stays used after it.  On a shared store the replay state is the store's,
 * so a nonce-count used on one instance is refused by all of them. */
static int build_digest(struct sipd *srv, struct osec_digest_server_config *dc,
                        struct osec_digest_server **out)
{
    struct osec_store *st = NULL;
    int rc;

    OSEC_CHECK(rc, osec_store_open(srv->store_url, &st));
    OSEC_CHECK(rc, nonce_secret(srv, st, dc->secret));
    dc->realm = srv->realm;
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

static bool has_listener(const struct sipd *srv, enum sipd_tp tp)
{
    for (size_t i = 0; i < srv->n_listen; i++)
        if (srv->listen[i].tp == tp)
            return true;
    return false;
}

/* Contexts for the tls and iwf listeners the running server has, from the
 * certificate paths of cfg. */
static int build_tls(const struct sipd *srv, const struct sipd *cfg, SSL_CTX **tls,
                     SSL_CTX **iwf)
{
    struct osec_tls_server_opts to;

    memset(&to, 0, sizeof(to));
    to.cert_file = cfg->cert;
    to.key_file = cfg->key;
    if (has_listener(srv, TP_TLS) && !(*tls = osec_tls_server_ctx(&to)))
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    to.verify_client = OSEC_TLS_VERIFY_REQUIRED;
    to.client_ca_file = cfg->peer_ca;
    if (has_listener(srv, TP_IWF) && !(*iwf = osec_tls_server_ctx(&to)))
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    return 0;
}

/* The peers configured in cfg; each keeps the connection it had in old. */
static struct sipd_peerset *peerset_new(const struct sipd *cfg, struct sipd_peerset *old)
{
    struct sipd_peerset *ps = calloc(1, sizeof(*ps));

    if (!ps) {
        (void)osec_error_set(OSEC_ENOMEM, __FILE__, __LINE__, "out of memory");
        return NULL;
    }
    memcpy(ps->p, cfg->peers, cfg->n_peers * sizeof(ps->p[0]));
    ps->n = cfg->n_peers;
    ps->gen = old ? old->gen + 1 : 1;
    for (size_t i = 0; old && i < ps->n; i++) {
        const struct osec_sip_peer *was = osec_sip_peer_find(old->p, old->n, ps->p[i].name);

        if (was)
            atomic_store(&ps->conn[i], atomic_load(&old->conn[was - old->p]));
    }
    return ps;
}

SSL *sipd_ssl_new(struct sipd *srv, enum sipd_tp tp)
{
    SSL *ssl;

    (void)pthread_mutex_lock(&srv->ctx_mu);
    ssl = SSL_new(tp == TP_IWF ? srv->iwf : srv->tls);
    (void)pthread_mutex_unlock(&srv->ctx_mu);
    return ssl;
}

int sipd_security_setup(struct sipd *srv, struct osec_digest_server_config *dc)
{
    struct osec_store *st = NULL;
    struct osec_digest_server *d = NULL;
    struct sipd_peerset *ps;
    int rc;

    OSEC_GUARD(osec_master_load(srv->master_path, &srv->m));
    OSEC_GUARD(osec_digest_replay_mem_new(0, NULL, NULL, &srv->replay));
    OSEC_CHECK(rc, osec_store_open(srv->store_url, &st));
    OSEC_CHECK(rc, osec_account_realm(st, srv->realm, sizeof(srv->realm)));
    srv->shared = osec_store_is_shared(st);
    if (srv->shared) {
        OSEC_CHECK(rc, osec_digest_replay_store_new(srv->store_url, &srv->shared_replay));
        OSEC_CHECK(rc, sipd_sreg_start(srv, st));
    }
    OSEC_CHECK(rc, build_digest(srv, dc, &d));
    atomic_store(&srv->digest, d);
    OSEC_CHECK(rc, osec_rand_bytes(srv->flow_key, sizeof(srv->flow_key)));
    OSEC_CHECK(rc, build_tls(srv, srv, &srv->tls, &srv->iwf));
    if (!(ps = peerset_new(srv, NULL)))
        OSEC_FAIL(rc, OSEC_ENOMEM, "out of memory");
    atomic_store(&srv->peerset, ps);
    OSEC_CHECK(rc, sipd_reg_new(srv->max_bindings, srv->max_contacts, &srv->reg));
out:
    osec_wipe(dc->secret, sizeof(dc->secret));
    osec_store_close(&st);
    return rc;
}

/* ---- retiring what workers may still hold ---------------------------------- */

static void retired_free(struct sipd_retired *r)
{
    struct osec_digest_server *d = r->peerset ? NULL : r->p;

    if (r->peerset)
        free(r->p);
    else
        osec_digest_server_free(&d);
    r->p = NULL;
}

/* Free what every worker has stopped using: a worker records the epoch at
 * its tick, between events, and holds these pointers only within one. */
static void collect(struct sipd *srv, bool all)
{
    uint64_t quiet = UINT64_MAX;
    size_t k = 0;

    for (int i = 0; !all && srv->w && i < srv->workers; i++) {
        uint64_t q = atomic_load(&srv->w[i]->quiet);

        quiet = q < quiet ? q : quiet;
    }
    for (size_t i = 0; i < srv->n_retired; i++) {
        if (srv->retired[i].epoch <= quiet)
            retired_free(&srv->retired[i]);
        else
            srv->retired[k++] = srv->retired[i];
    }
    srv->n_retired = k;
}

static void retire(struct sipd *srv, void *p, bool peerset, uint64_t epoch)
{
    struct sipd_retired r = { p, peerset, epoch };

    if (!p)
        return;
    if (srv->n_retired < SIPD_RETIRED_MAX) /* room made before the swap */
        srv->retired[srv->n_retired++] = r;
}

void sipd_security_free(struct sipd *srv)
{
    struct osec_digest_server *d = atomic_exchange(&srv->digest, NULL);

    collect(srv, true);
    free(atomic_exchange(&srv->peerset, NULL));
    osec_digest_server_free(&d);
    osec_digest_replay_mem_free(&srv->replay);
    osec_digest_replay_store_free(&srv->shared_replay);
    sipd_reg_free(&srv->reg);
    osec_tls_ctx_free(&srv->tls);
    osec_tls_ctx_free(&srv->iwf);
    osec_ratelimit_free(&srv->rl);
    osec_master_free(&srv->m);
    osec_wipe(srv->flow_key, sizeof(srv->flow_key));
    osec_wipe(srv->cluster_key, sizeof(srv->cluster_key));
}

/* ---- reload -------------------------------------------------------------------- */

struct reload {
    struct sipd *n; /* the new configuration, read into a scratch server */
    struct osec_digest_server_config dc;
    struct osec_ratelimit_config rl;
    struct sipd_cfgerrs e;
    struct osec_digest_server *d;
    SSL_CTX *tls, *iwf;
    struct sipd_peerset *ps;
    char restart[160];
};

static bool same_listeners(const struct sipd *a, const struct sipd *b)
{
    if (a->n_listen != b->n_listen)
        return false;
    for (size_t i = 0; i < a->n_listen; i++)
        if (a->listen[i].tp != b->listen[i].tp || a->listen[i].port != b->listen[i].port ||
            strcmp(a->listen[i].host, b->listen[i].host) != 0)
            return false;
    return true;
}

/* Keys whose new value only a restart applies. */
static void restart_needed(const struct sipd *run, const struct sipd *n, char *out, size_t len)
{
    const struct { bool differ; const char *key; } k[] = {
        { !same_listeners(run, n), "listen" },
        { strcmp(run->cs_text, n->cs_text) != 0, "conversation_server" },
        { strcmp(run->store_url, n->store_url) != 0, "store" },
        { strcmp(run->instance, n->instance) != 0, "instance" },
        { run->workers != n->workers, "workers" },
        { run->max_msg != n->max_msg, "max_message" },
        { run->txn_cache != n->txn_cache, "transaction_cache" },
        { run->max_bindings != n->max_bindings || run->max_contacts != n->max_contacts,
          "max_bindings/max_contacts" },
        { run->auth_cache_ms != n->auth_cache_ms, "auth_cache_ttl" },
        { strcmp(run->metrics, n->metrics) != 0, "metrics" },
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

static int read_new(struct sipd *srv, struct reload *r)
{
    struct osec_config *cfg = NULL;
    int rc;

    r->n = calloc(1, sizeof(*r->n));
    OSEC_ENSURE(r->n != NULL, OSEC_ENOMEM, "out of memory");
    r->n->data = srv->data;
    r->n->config_path = srv->config_path;
    r->n->opts = srv->opts;
    if (srv->config_path && (rc = osec_config_load(srv->config_path, &cfg)) < 0) {
        (void)osec_strlcpy(r->e.msg[0], osec_error_msg(), sizeof(r->e.msg[0]));
        r->e.n = 1;
        return rc;
    }
    rc = sipd_config_read(r->n, cfg, &r->dc, &r->rl, &r->e);
    osec_config_free(&cfg);
    return rc;
}

static int prepare(struct sipd *srv, struct reload *r)
{
    OSEC_GUARD(read_new(srv, r));
    collect(srv, false);
    OSEC_ENSURE(srv->n_retired + 2 <= SIPD_RETIRED_MAX, OSEC_EBUSY,
                "a worker still uses an earlier configuration; retry in a few seconds");
    OSEC_GUARD(build_digest(srv, &r->dc, &r->d));
    OSEC_GUARD(build_tls(srv, r->n, &r->tls, &r->iwf));
    r->ps = peerset_new(r->n, sipd_peers(srv));
    OSEC_ENSURE(r->ps != NULL, OSEC_ENOMEM, "out of memory");
    restart_needed(srv, r->n, r->restart, sizeof(r->restart));
    return 0;
}

static void swap_ctx(struct sipd *srv, SSL_CTX **slot, SSL_CTX **fresh)
{
    SSL_CTX *old;

    if (!*fresh)
        return;
    (void)pthread_mutex_lock(&srv->ctx_mu);
    old = *slot;
    *slot = *fresh;
    (void)pthread_mutex_unlock(&srv->ctx_mu);
    *fresh = NULL;
    SSL_CTX_free(old); /* connections made from it hold their own references */
}

/* Nothing here can fail. */
static void commit(struct sipd *srv, struct reload *r)
{
    const struct sipd *n = r->n;
    uint64_t epoch;
    void *old_d, *old_ps;

    osec_ratelimit_set_config(srv->rl, &r->rl);
    srv->min_expires = n->min_expires;
    srv->max_expires = n->max_expires;
    srv->default_expires = n->default_expires;
    srv->handshake_ms = n->handshake_ms;
    srv->message_ms = n->message_ms;
    srv->idle_ms = n->idle_ms;
    srv->per_source = n->per_source;
    if (srv->srclimit)
        osec_net_srclimit_set(srv->srclimit, n->per_source);
    swap_ctx(srv, &srv->tls, &r->tls);
    swap_ctx(srv, &srv->iwf, &r->iwf);
    old_d = atomic_exchange(&srv->digest, r->d);
    old_ps = atomic_exchange(&srv->peerset, r->ps);
    r->d = NULL;
    r->ps = NULL;
    epoch = atomic_fetch_add(&srv->epoch, 1) + 1;
    retire(srv, old_d, false, epoch);
    retire(srv, old_ps, true, epoch);
    memcpy(srv->cert, n->cert, sizeof(srv->cert));
    if (n->has_log_level)
        osec_log_set_level(n->log_level);
}

static void release(struct reload *r)
{
    osec_digest_server_free(&r->d);
    SSL_CTX_free(r->tls);
    SSL_CTX_free(r->iwf);
    free(r->ps);
    free(r->n);
    osec_wipe(r->dc.secret, sizeof(r->dc.secret));
}

static void report_failure(struct reload *r)
{
    if (r->e.n == 0)
        osec_error("config.reload_failed", "error=\"%s\"", osec_error_msg());
    for (unsigned i = 0; i < r->e.n && i < SIPD_CFG_ERRORS; i++)
        osec_error("config.reload_failed", "error=\"%s\"", r->e.msg[i]);
    osec_warn("config.reload", "result=failed errors=%u (running configuration kept)",
              r->e.n ? r->e.n : 1);
    osec_metric_inc(sipd_m.reload_failed);
}

void sipd_reload(void *arg)
{
    struct sipd *srv = arg;
    struct reload *r = calloc(1, sizeof(*r)); /* large: not on the signal thread's stack */

    if (!r) {
        osec_error("config.reload_failed", "error=\"out of memory\"");
        return;
    }
    if (prepare(srv, r) < 0) {
        report_failure(r);
    } else {
        commit(srv, r);
        osec_info("config.reload",
                  "result=ok file=\"%s\" certificate=\"%s\" peers=%zu max_conns_per_source=%u",
                  srv->config_path ? srv->config_path : "-", srv->cert, r->n->n_peers,
                  srv->per_source);
        if (r->restart[0])
            osec_warn("config.reload_restart_needed", "keys=%s", r->restart);
        osec_metric_inc(sipd_m.reload_ok);
    }
    release(r);
    free(r);
}
