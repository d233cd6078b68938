/* Prometheus metrics registry and its /metrics listener. */
#include "omasec/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/http.h"
#include "omasec/net.h"

enum kind { K_COUNTER, K_GAUGE, K_HIST };

static const double bucket_s[OSEC_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10,
};

struct osec_metric {
    enum kind kind;
    char name[64];
    char help[128];
    char labels[128];
    _Atomic int64_t value;                        /* counter / gauge / hist count */
    _Atomic uint64_t sum_us;                      /* histogram */
    _Atomic uint64_t buckets[OSEC_HIST_BUCKETS];  /* histogram, non-cumulative */
};

struct osec_metrics {
    pthread_mutex_t mu;
    struct osec_metric *list[OSEC_METRICS_MAX];
    size_t n;
    struct osec_net_server *srv;
    pthread_t thread;
};

int osec_metrics_new(struct osec_metrics **out)
{
    struct osec_metrics *m = calloc(1, sizeof(*m));

    *out = NULL;
    OSEC_ENSURE(m != NULL, OSEC_ENOMEM, "out of memory");
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        OSEC_BAIL(OSEC_ENOMEM, "mutex");
    }
    *out = m;
    return 0;
}

void osec_metrics_free(struct osec_metrics **pm)
{
    struct osec_metrics *m = *pm;

    if (!m)
        return;
    osec_metrics_stop(m);
    for (size_t i = 0; i < m->n; i++)
        free(m->list[i]);
    (void)pthread_mutex_destroy(&m->mu);
    free(m);
    *pm = NULL;
}

static bool name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

static struct osec_metric *add(struct osec_metrics *m, enum kind k, const char *name,
                               const char *help, const char *labels)
{
    struct osec_metric *x;

    if (!m || !name_ok(name) || strlen(name) >= sizeof(x->name))
        return NULL;
    x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->kind = k;
    if (osec_strlcpy(x->name, name, sizeof(x->name)) < 0 ||
        osec_strlcpy(x->help, help ? help : "", sizeof(x->help)) < 0 ||
        osec_strlcpy(x->labels, labels ? labels : "", sizeof(x->labels)) < 0) {
        free(x);
        return NULL;
    }
    (void)pthread_mutex_lock(&m->mu);
    if (m->n < OSEC_METRICS_MAX) {
        m->list[m->n++] = x;
    } else {
        free(x);
        x = NULL;
    }
    (void)pthread_mutex_unlock(&m->mu);
    return x;
}

struct osec_metric *osec_metrics_counter(struct osec_metrics *m, const char *name,
                                         const char *help, const char *labels)
{
    return add(m, K_COUNTER, name, help, labels);
}

struct osec_metric *osec_metrics_gauge(struct osec_metrics *m, const char *name,
                                       const char *help, const char *labels)
{
    return add(m, K_GAUGE, name, help, labels);
}

struct osec_metric *osec_metrics_histogram(struct osec_metrics *m, const char *name,
                                           const char *help, const char *labels)
{
    return add(m, K_HIST, name, help, labels);
}

void osec_metric_inc(struct osec_metric *x)
{
    if (x)
        atomic_fetch_add(&x->value, 1);
}

void osec_metric_add(struct osec_metric *x, int64_t n)
{
    if (x)
        atomic_fetch_add(&x->value, n);
}

void osec_metric_observe_us(struct osec_metric *x, uint64_t us)
{
    if (!x)
        return;
    atomic_fetch_add(&x->value, 1);
    atomic_fetch_add(&x->sum_us, us);
    for (size_t i = 0; i < OSEC_HIST_BUCKETS; i++) {
        if ((double)us <= bucket_s[i] * 1e6) {
            atomic_fetch_add(&x->buckets[i], 1);
            break;
        }
    }
}

uint64_t osec_metric_value(const struct osec_metric *x)
{
    return x ? (uint64_t)atomic_load(&((struct osec_metric *)x)->value) : 0;
}

static int series(struct osec_buf *out, const char *name, const char *suffix,
                  const char *labels, const char *extra, const char *value)
{
    bool any = labels[0] || extra[0];

    return osec_buf_appendf(out, "%s%s%s%s%s%s%s %s\n", name, suffix, any ? "{" : "", labels,
                            labels[0] && extra[0] ? "," : "", extra, any ? "}" : "", value);
}

static int render_one(const struct osec_metric *x, struct osec_buf *out)
{
    char v[64], le[32];
    uint64_t cum = 0;

    if (x->kind != K_HIST) {
        (void)osec_snprintf(v, sizeof(v), "%lld", (long long)atomic_load(&x->value));
        return series(out, x->name, "", x->labels, "", v);
    }
    for (size_t i = 0; i < OSEC_HIST_BUCKETS; i++) {
        cum += atomic_load(&x->buckets[i]);
        (void)osec_snprintf(le, sizeof(le), "le=\"%g\"", bucket_s[i]);
        (void)osec_snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
        OSEC_GUARD(series(out, x->name, "_bucket", x->labels, le, v));
    }
    (void)osec_snprintf(v, sizeof(v), "%lld", (long long)atomic_load(&x->value));
    OSEC_GUARD(series(out, x->name, "_bucket", x->labels, "le=\"+Inf\"", v));
    OSEC_GUARD(series(out, x->name, "_count", x->labels, "", v));
    (void)osec_snprintf(v, sizeof(v), "%.6f", (double)atomic_load(&x->sum_us) / 1e6);
    return series(out, x->name, "_sum", x->labels, "", v);
}

int osec_metrics_render(struct osec_metrics *m, struct osec_buf *out)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    int rc = 0;

    (void)pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        bool first = true;

        for (size_t j = 0; j < i && first; j++)
            first = strcmp(m->list[j]->name, m->list[i]->name) != 0;
        if (!first)
            continue; /* printed with the first series of that name */
        rc = osec_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", m->list[i]->name,
                              m->list[i]->help, m->list[i]->name, types[m->list[i]->kind]);
        for (size_t j = i; j < m->n && rc == 0; j++)
            if (strcmp(m->list[j]->name, m->list[i]->name) == 0)
                rc = render_one(m->list[j], out);
    }
    (void)pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- the /metrics listener ------------------------------------------------ */

static void *m_worker(int index, void *arg)
{
    (void)index;
    return arg;
}

static void *m_open(struct osec_net_conn *c, void *worker)
{
    (void)c;
    return worker;
}

static ssize_t m_data(struct osec_net_conn *c, void *state, const uint8_t *data, size_t len)
{
    static const struct osec_http_field ct = {
        "Content-Type", { (const uint8_t *)"text/plain; version=0.0.4", 25 }
    };
    struct osec_metrics *m = state;
    struct osec_http_request req;
    struct osec_buf body, out;
    size_t used = 0;
    int rc = osec_http_request_parse(data, len, NULL, NULL, &req, &used);

    if (rc == OSEC_HTTP_INCOMPLETE)
        return 0;
    osec_buf_init(&body, 1024 * 1024);
    osec_buf_init(&out, 1024 * 1024 + 4096);
    if (rc == OSEC_OK && osec_slice_eq_cstr(req.method, "GET") &&
        osec_slice_eq_cstr(req.path, "/metrics") && osec_metrics_render(m, &body) == 0)
        (void)osec_http_write_response(&out, 200, &ct, 1, osec_buf_slice(&body), -1);
    else
        (void)osec_http_write_response(&out, rc == OSEC_OK ? 404 : 400, NULL, 0,
                                       osec_slice_make(NULL, 0), -1);
    (void)osec_net_conn_write(c, out.data, out.len);
    osec_buf_free(&body);
    osec_buf_free(&out);
    if (rc != OSEC_OK || !req.keep_alive)
        osec_net_conn_close_after_write(c);
    return rc == OSEC_OK ? (ssize_t)used : (ssize_t)len;
}

static const struct osec_net_handlers metrics_handlers = {
    .worker_start = m_worker,
    .conn_open = m_open,
    .conn_data = m_data,
};

static void *serve_main(void *arg)
{
    struct osec_metrics *m = arg;

    (void)osec_net_server_run(m->srv);
    return NULL;
}

int osec_metrics_serve(struct osec_metrics *m, const char *hostport)
{
    struct osec_net_config nc;
    char host[64];

    memset(&nc, 0, sizeof(nc));
    OSEC_GUARD(osec_net_parse_hostport(hostport, host, sizeof(host), &nc.port));
    nc.host = host;
    nc.workers = 1;
    nc.max_conns = 64;
    nc.h = &metrics_handlers;
    nc.arg = m;
    OSEC_GUARD(osec_net_server_new(&nc, &m->srv));
    if (pthread_create(&m->thread, NULL, serve_main, m) != 0) {
        osec_net_server_free(&m->srv);
        OSEC_BAIL(OSEC_EINTERNAL, "cannot start the metrics thread");
    }
    return 0;
}

void osec_metrics_stop(struct osec_metrics *m)
{
    if (!m || !m->srv)
        return;
    osec_net_server_stop(m->srv);
    (void)pthread_join(m->thread, NULL);
    osec_net_server_free(&m->srv);
}

uint16_t osec_metrics_port(const struct osec_metrics *m)
{
    return m && m->srv ? osec_net_server_port(m->srv) : 0;
}

void osec_net_refusal_metrics(struct osec_metrics *m, const char *name,
                              struct osec_net_config *nc)
{
    static const char help[] = "Connections closed at accept, by the limit that refused them";

    if (!m)
        return;
    nc->refused_source = osec_metrics_counter(m, name, help, "reason=\"per_source\"");
    nc->refused_limit = osec_metrics_counter(m, name, help, "reason=\"limit\"");
}
