/* Prometheus metrics (text exposition format 0.0.4) for the daemons.
 *
 * Metrics are registered at start-up (before workers run) and updated with
 * atomic operations from any thread.  osec_metrics_serve() starts a plain
 * HTTP listener (opt-in, `--metrics HOST:PORT`) answering GET /metrics;
 * anything else is 404.  It exposes counts only, never names of users,
 * entities or keys.
 */
#ifndef OMASEC_METRICS_H
#define OMASEC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"

struct osec_metrics;
struct osec_metric; /* a counter, gauge or histogram (one label set) */

#define OSEC_METRICS_MAX 256
#define OSEC_HIST_BUCKETS 12

int osec_metrics_new(struct osec_metrics **out);
void osec_metrics_free(struct osec_metrics **m);

/* name: [a-z_]+; labels: NULL or a label set like `reason="stale"` (the
 * same name may be registered with several label sets).  NULL on error. */
struct osec_metric *osec_metrics_counter(struct osec_metrics *m, const char *name,
                                         const char *help, const char *labels);
struct osec_metric *osec_metrics_gauge(struct osec_metrics *m, const char *name,
                                       const char *help, const char *labels);
/* Latency histogram in seconds with fixed buckets from 0.5 ms to 10 s. */
struct osec_metric *osec_metrics_histogram(struct osec_metrics *m, const char *name,
                                           const char *help, const char *labels);

/* All NULL-safe, so optional metrics cost one branch. */
void osec_metric_inc(struct osec_metric *x);
void osec_metric_add(struct osec_metric *x, int64_t n);   /* gauges may go down */
void osec_metric_observe_us(struct osec_metric *x, uint64_t microseconds);
uint64_t osec_metric_value(const struct osec_metric *x);

int osec_metrics_render(struct osec_metrics *m, struct osec_buf *out);
/* Serve GET /metrics on host:port (numeric) from a thread of its own. */
int osec_metrics_serve(struct osec_metrics *m, const char *hostport);
void osec_metrics_stop(struct osec_metrics *m);
uint16_t osec_metrics_port(const struct osec_metrics *m);

#endif
