/* cpns_load: load generator for the cpns-server benchmark (bench/run).
 *
 * Modes (each thread drives its own connection(s), blocking I/O):
 *   digest          kept-alive TLS connections sending GET /cpns/v1/whoami
 *                   with HTTP Digest (entity id + EUKey), --pipeline requests
 *                   in flight; adopts nextnonce, re-challenges on 401 stale
 *   handshake-cert  a new TLS connection per operation, server certificate
 *                   verified against --ca; --request adds one Digest whoami
 *   handshake-psk   the same with TLS-PSK (identity = entity id, PSK =
 *                   HKDF(EUKey)); --tls 1.2 or 1.3 (external PSK)
 *   assign          EUKey assignments for fresh entity ids, user Digest,
 *                   kept-alive connections
 *   eukey           assign one EUKey to --entity and print its text
 *   psk             print the hex TLS-PSK of --entity / --eukey
 *
 * With --server-pid the server's utime+stime (/proc/PID/stat) is read at the
 * start and end of the measured window, so the figure printed is operations
 * per server CPU-second as well as per wall second.  Output: one line of
 * key=value pairs (bench/run parses it). */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load_http.h"
#include "omasec/digest.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/tls.h"
#include "omasec/util.h"

#define PIPELINE_MAX 64
#define REQ_MAX 4096

enum mode { M_DIGEST, M_HS_CERT, M_HS_PSK, M_ASSIGN, M_EUKEY, M_PSK };

struct opts {
    enum mode mode;
    const char *host, *port, *ca;
    const char *entity, *eukey, *user, *password;
    double seconds;
    int threads, pipeline, tls; /* tls: 0 = 1.2-1.3, 12, 13 */
    bool request;
    enum osec_digest_alg alg;
    long server_pid;
};

struct worker {
    pthread_t th;
    const struct opts *o;
    SSL_CTX *ctx;
    int idx;
    uint64_t ops, errors, stale, nextnonce;
    struct osec_digest_client *dc;
    struct load_conn conn;
    char path[256];
    uint64_t serial;
    int failed; /* warm-up failed */
};

static atomic_bool stop_flag;
static pthread_barrier_t start_barrier;

/* ---- small helpers ---------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of a process in seconds; -1 when unreadable. */
static double proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;
    const char *p;
    unsigned long long ut = 0, st = 0;
    int field = 2;

    if (pid <= 0 || osec_snprintf(path, sizeof(path), "/proc/%ld/stat", pid) < 0)
        return -1;
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p)
        return -1;
    /* fields after comm: 3 state ... 14 utime 15 stime */
    for (; *p && field < 15; p++) {
        if (*p != ' ')
            continue;
        field++;
        if (field == 14)
            ut = strtoull(p + 1, NULL, 10);
        else if (field == 15)
            st = strtoull(p + 1, NULL, 10);
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void fail_osec(const char *what)
{
    fprintf(stderr, "cpns_load: %s: %s\n", what, osec_error_msg());
}

/* ---- Digest ------------------------------------------------------------- */

static int digest_new(const struct opts *o, bool user, struct osec_digest_client **out)
{
    struct osec_digest_client_config dc;

    memset(&dc, 0, sizeof(dc));
    dc.username = osec_slice_cstr(user ? o->user : o->entity);
    dc.password = osec_slice_cstr(user ? o->password : o->eukey);
    dc.allowed_algs = OSEC_DIGEST_ALG_BIT(o->alg);
    if (osec_digest_client_new(&dc, out) < 0) {
        fail_osec("digest client");
        return -1;
    }
    return 0;
}

static int take_challenge(struct worker *w, const struct load_resp *r)
{
    if (r->status != 401 || r->www_auth.len == 0 ||
        osec_digest_client_challenge(w->dc, &r->www_auth, 1) < 0) {
        fprintf(stderr, "cpns_load: no usable challenge (status %d): %s\n", r->status,
                osec_error_msg());
        return -1;
    }
    if (osec_digest_client_stale(w->dc))
        w->stale++;
    return 0;
}

/* Append one request; with a Digest client it carries Authorization. */
static int put_request(struct worker *w, struct osec_buf *out, const char *method,
                       const char *body, bool auth, bool close)
{
    struct osec_digest_request dr;
    size_t blen = body ? strlen(body) : 0;

    if (osec_buf_appendf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, w->path, w->o->host) < 0)
        return -1;
    if (auth) {
        memset(&dr, 0, sizeof(dr));
        dr.method = osec_slice_cstr(method);
        dr.uri = osec_slice_cstr(w->path);
        dr.body = osec_slice_make(body, blen);
        if (osec_buf_append_str(out, "Authorization: ") < 0 ||
            osec_digest_client_authorize(w->dc, &dr, out) < 0 ||
            osec_buf_append_str(out, "\r\n") < 0) {
            fail_osec("authorize");
            return -1;
        }
    }
    if (close && osec_buf_append_str(out, "Connection: close\r\n") < 0)
        return -1;
    if (body)
        return osec_buf_appendf(out, "Content-Type: application/json\r\n"
                                     "Content-Length: %zu\r\n\r\n%s", blen, body);
    return osec_buf_append_str(out, "\r\n");
}

/* Mutual authentication: rspauth of the last request; adopts nextnonce. */
static int check_info(struct worker *w, const struct load_resp *r)
{
    if (r->auth_info.len == 0)
        return 0;
    if (osec_digest_client_verify_info(w->dc, r->auth_info, r->body) < 0) {
        fail_osec("Authentication-Info");
        return -1;
    }
    if (memmem(r->auth_info.ptr, r->auth_info.len, "nextnonce", 9) != NULL)
        w->nextnonce++;
    return 0;
}

/* ---- TLS ---------------------------------------------------------------- */

static int new_ssl(struct worker *w, SSL **out)
{
    const struct opts *o = w->o;
    int v = o->tls == 12 ? TLS1_2_VERSION : o->tls == 13 ? TLS1_3_VERSION : 0;
    SSL *ssl = osec_tls_client_ssl(w->ctx, o->mode == M_HS_PSK ? NULL : o->host);

    if (!ssl) {
        fail_osec("SSL");
        return -1;
    }
    if (v && (SSL_set_min_proto_version(ssl, v) != 1 || SSL_set_max_proto_version(ssl, v) != 1)) {
        SSL_free(ssl);
        fputs("cpns_load: cannot set the TLS version\n", stderr);
        return -1;
    }
    *out = ssl;
    return 0;
}

static int connect_conn(struct worker *w)
{
    SSL *ssl;

    if (new_ssl(w, &ssl) < 0)
        return -1;
    if (load_tls_connect(&w->conn, ssl, w->o->host, w->o->port) < 0) {
        load_close(&w->conn);
        return -1;
    }
    return 0;
}

/* ---- kept-alive modes (digest, assign) ----------------------------------- */

static void next_path(struct worker *w)
{
    if (w->o->mode != M_ASSIGN && w->o->mode != M_EUKEY) {
        (void)osec_strlcpy(w->path, "/cpns/v1/whoami", sizeof(w->path));
        return;
    }
    if (w->o->mode == M_EUKEY)
        (void)osec_snprintf(w->path, sizeof(w->path), "/cpns/v1/entities/%s/eukey", w->o->entity);
    else
        (void)osec_snprintf(w->path, sizeof(w->path), "/cpns/v1/entities/b%ld-%d-%llu/eukey",
                            (long)getpid(), w->idx, (unsigned long long)w->serial++);
}

static const char *ka_method(const struct worker *w)
{
    return w->o->mode == M_ASSIGN || w->o->mode == M_EUKEY ? "POST" : "GET";
}

static const char *ka_body(const struct worker *w)
{
    return w->o->mode == M_ASSIGN || w->o->mode == M_EUKEY ? "{\"type\":\"gw\"}" : NULL;
}

/* Open a connection and authenticate once: unauthenticated request -> 401
 * challenge (only when the client has none yet). */
static int ka_open(struct worker *w)
{
    struct osec_buf req = OSEC_BUF_INIT(REQ_MAX);
    struct load_resp r;
    int rc = -1;

    if (connect_conn(w) < 0)
        return -1;
    if (osec_digest_client_alg(w->dc) != OSEC_DIGEST_ALG_UNKNOWN)
        return 0;
    next_path(w);
    if (put_request(w, &req, ka_method(w), ka_body(w), false, false) == 0 &&
        load_write(&w->conn, req.data, req.len) == 0 &&
        load_read_response(&w->conn, &r) == 0 && take_challenge(w, &r) == 0) {
        load_consume(&w->conn, &r);
        rc = 0;
    }
    osec_buf_free(&req);
    return rc;
}

static int ka_send(struct worker *w, int n)
{
    struct osec_buf req = OSEC_BUF_INIT(REQ_MAX * PIPELINE_MAX);
    int rc = 0;

    for (int i = 0; i < n && rc == 0; i++) {
        next_path(w);
        rc = put_request(w, &req, ka_method(w), ka_body(w), true, false);
    }
    if (rc == 0)
        rc = load_write(&w->conn, req.data, req.len);
    osec_buf_free(&req);
    return rc;
}

/* One batch of --pipeline requests; returns successes or -1 (reconnect). */
static int ka_batch(struct worker *w, bool eukey_print)
{
    int n = w->o->pipeline, ok = 0;
    int want = w->o->mode == M_ASSIGN || w->o->mode == M_EUKEY ? 201 : 200;
    struct load_resp r;
    bool challenged = false;

    if (ka_send(w, n) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (load_read_response(&w->conn, &r) < 0)
            return -1;
        if (r.status == want && i == n - 1 && !challenged && check_info(w, &r) < 0)
            return -1;
        if (r.status == want && eukey_print)
            printf("%.*s\n", (int)r.body.len, (const char *)r.body.ptr);
        if (r.status == want)
            ok++;
        else if (r.status == 401 && take_challenge(w, &r) == 0)
            challenged = true; /* stale nonce: later requests of the batch use it too */
        else
            fprintf(stderr, "cpns_load: unexpected status %d: %.*s\n", r.status,
                    (int)r.body.len, (const char *)r.body.ptr);
        load_consume(&w->conn, &r);
        if (r.close)
            return -1;
    }
    return ok;
}

static void ka_loop(struct worker *w)
{
    int got;

    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (!w->conn.ssl && ka_open(w) < 0) {
            w->errors++;
            load_close(&w->conn);
            usleep(1000);
            continue;
        }
        got = ka_batch(w, false);
        if (got < 0) {
            w->errors++;
            load_close(&w->conn);
            continue;
        }
        w->ops += (uint64_t)got;
        w->errors += (uint64_t)(w->o->pipeline - got);
    }
}

/* ---- handshake modes ------------------------------------------------------ */

/* One operation: full handshake, optionally one request, close.  The
 * request carries Digest when the server asked for it while priming. */
static int hs_once(struct worker *w)
{
    struct osec_buf req = OSEC_BUF_INIT(REQ_MAX);
    bool digest = w->dc && osec_digest_client_alg(w->dc) != OSEC_DIGEST_ALG_UNKNOWN;
    struct load_resp r;
    int rc = -1;

    if (connect_conn(w) < 0)
        goto out;
    if (!w->o->request) {
        rc = 0;
        goto out;
    }
    if (put_request(w, &req, "GET", NULL, digest, true) < 0 ||
        load_write(&w->conn, req.data, req.len) < 0 || load_read_response(&w->conn, &r) < 0)
        goto out;
    if (r.status == 401 && w->dc)
        (void)take_challenge(w, &r); /* stale: next operation uses the new nonce */
    else if (r.status == 200 && (!digest || check_info(w, &r) == 0))
        rc = 0;
    else
        fprintf(stderr, "cpns_load: status %d\n", r.status);
out:
    osec_buf_free(&req);
    load_close(&w->conn);
    return rc;
}

/* Certificate mode with a request: one unauthenticated request first; a
 * 401 gives the Digest nonce (cpns-server), a 200 means the server does not
 * authenticate (the raw ceiling server). */
static int hs_prime(struct worker *w)
{
    struct osec_buf req = OSEC_BUF_INIT(REQ_MAX);
    struct load_resp r;
    int rc = -1;

    if (!w->dc)
        return 0;
    if (connect_conn(w) == 0 && put_request(w, &req, "GET", NULL, false, true) == 0 &&
        load_write(&w->conn, req.data, req.len) == 0 && load_read_response(&w->conn, &r) == 0)
        rc = r.status == 200 ? 0 : take_challenge(w, &r);
    osec_buf_free(&req);
    load_close(&w->conn);
    return rc;
}

static void hs_loop(struct worker *w)
{
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (hs_once(w) == 0)
            w->ops++;
        else
            w->errors++;
    }
}

/* ---- threads -------------------------------------------------------------- */

/* Warm-up (connect, first challenge) happens before the barrier so that the
 * measured window holds only steady-state operations. */
static int warm_up(struct worker *w)
{
    int rc;

    if (w->o->mode == M_HS_CERT || w->o->mode == M_HS_PSK) {
        rc = hs_prime(w);
        return rc == 0 ? hs_once(w) : rc;
    }
    rc = ka_open(w);
    return rc == 0 && ka_batch(w, false) == w->o->pipeline ? 0 : -1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    w->conn.fd = -1;
    (void)osec_strlcpy(w->path, "/cpns/v1/whoami", sizeof(w->path));
    if ((w->o->mode == M_HS_CERT && w->o->request) || w->o->mode == M_DIGEST ||
        w->o->mode == M_ASSIGN)
        w->failed = digest_new(w->o, w->o->mode == M_ASSIGN, &w->dc);
    if (w->failed == 0)
        w->failed = warm_up(w);
    if (w->failed)
        fprintf(stderr, "cpns_load: thread %d: warm-up failed (wrong credentials?)\n", w->idx);
    pthread_barrier_wait(&start_barrier);
    if (w->failed == 0) {
        if (w->o->mode == M_HS_CERT || w->o->mode == M_HS_PSK)
            hs_loop(w);
        else
            ka_loop(w);
    }
    load_close(&w->conn);
    osec_digest_client_free(&w->dc);
    return NULL;
}

/* ---- setup ---------------------------------------------------------------- */

static SSL_CTX *make_ctx(const struct opts *o)
{
    struct osec_tls_client_opts to;
    uint8_t key[OSEC_KEY_LEN], psk[OSEC_KEY_LEN];
    SSL_CTX *ctx = NULL;

    memset(&to, 0, sizeof(to));
    if (o->mode != M_HS_PSK) {
        to.ca_file = o->ca;
        ctx = osec_tls_client_ctx(&to);
    } else if (osec_key_from_text(osec_slice_cstr(o->eukey), key) == 0 &&
               osec_eukey_psk(key, o->entity, psk) == 0) {
        to.psk_identity = o->entity;
        to.psk = psk;
        to.psk_len = sizeof(psk);
        ctx = osec_tls_client_ctx(&to);
    }
    osec_wipe(key, sizeof(key));
    osec_wipe(psk, sizeof(psk));
    if (!ctx)
        fail_osec("TLS context");
    /* a real client would resume; the benchmark measures full handshakes */
    if (ctx)
        (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

static int print_psk(const struct opts *o)
{
    uint8_t key[OSEC_KEY_LEN], psk[OSEC_KEY_LEN];
    int rc = -1;

    if (osec_key_from_text(osec_slice_cstr(o->eukey), key) == 0 &&
        osec_eukey_psk(key, o->entity, psk) == 0) {
        for (size_t i = 0; i < sizeof(psk); i++)
            printf("%02x", psk[i]);
        printf("\n");
        rc = 0;
    } else {
        fail_osec("psk");
    }
    osec_wipe(key, sizeof(key));
    osec_wipe(psk, sizeof(psk));
    return rc;
}

static int assign_one(const struct opts *o, SSL_CTX *ctx)
{
    struct worker w;
    int rc = -1;

    memset(&w, 0, sizeof(w));
    w.o = o;
    w.ctx = ctx;
    w.conn.fd = -1;
    if (digest_new(o, true, &w.dc) == 0 && ka_open(&w) == 0 && ka_batch(&w, true) == 1)
        rc = 0;
    load_close(&w.conn);
    osec_digest_client_free(&w.dc);
    return rc;
}

static const char *mode_name(enum mode m)
{
    static const char *const names[] = { "digest", "handshake-cert", "handshake-psk",
                                         "assign", "eukey", "psk" };
    return names[m];
}

static int run(const struct opts *o, SSL_CTX *ctx)
{
    struct worker *ws = calloc((size_t)o->threads, sizeof(*ws));
    uint64_t ops = 0, errors = 0, stale = 0, nn = 0;
    double t0, t1, c0, c1;
    int failed = 0;

    if (!ws || pthread_barrier_init(&start_barrier, NULL, (unsigned)o->threads + 1) != 0)
        return 1;
    for (int i = 0; i < o->threads; i++) {
        ws[i].o = o;
        ws[i].ctx = ctx;
        ws[i].idx = i;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
            fputs("cpns_load: pthread_create failed\n", stderr);
            exit(1);
        }
    }
    pthread_barrier_wait(&start_barrier);
    c0 = proc_cpu_s(o->server_pid);
    t0 = now_s();
    usleep((useconds_t)(o->seconds * 1e6));
    atomic_store(&stop_flag, true);
    c1 = proc_cpu_s(o->server_pid);
    t1 = now_s();
    for (int i = 0; i < o->threads; i++) {
        pthread_join(ws[i].th, NULL);
        ops += ws[i].ops;
        errors += ws[i].errors;
        stale += ws[i].stale;
        nn += ws[i].nextnonce;
        failed += ws[i].failed != 0;
    }
    free(ws);
    printf("mode=%s tls=%s request=%d threads=%d pipeline=%d ops=%llu errors=%llu stale=%llu "
           "nextnonce=%llu failed_threads=%d wall_s=%.3f ops_per_s=%.1f",
           mode_name(o->mode), o->tls == 12 ? "1.2" : o->tls == 13 ? "1.3" : "any",
           o->request, o->threads, o->pipeline, (unsigned long long)ops,
           (unsigned long long)errors, (unsigned long long)stale, (unsigned long long)nn, failed,
           t1 - t0, (double)ops / (t1 - t0));
    if (c0 >= 0 && c1 >= 0)
        printf(" server_cpu_s=%.2f ops_per_cpu_s=%.1f", c1 - c0,
               c1 > c0 ? (double)ops / (c1 - c0) : 0.0);
    printf("\n");
    return failed || ops == 0 ? 1 : 0;
}

/* ---- command line ----------------------------------------------------------- */

static const char usage[] =
    "usage: cpns_load MODE --port P [options]\n"
    "MODE: digest | handshake-cert | handshake-psk | assign | eukey | psk\n"
    "  --host IP           server address (default 127.0.0.1)\n"
    "  --port P            server port\n"
    "  --ca FILE           CA certificate (certificate modes)\n"
    "  --entity ID --eukey TEXT   entity credentials (digest, handshake-*, eukey, psk)\n"
    "  --user NAME --password PW  user credentials (assign, eukey)\n"
    "  --seconds S         measured duration (default 10)\n"
    "  --millis MS         measured duration in milliseconds\n"
    "  --threads N         client threads = connections (default 4)\n"
    "  --pipeline N        requests in flight per kept-alive connection (default 1)\n"
    "  --tls 1.2|1.3       force the TLS version (default: negotiate)\n"
    "  --request           handshake modes: send one whoami per connection\n"
    "  --alg SHA-256|SHA-512-256 Digest algorithm (default SHA-256)\n"
    "  --server-pid PID    report operations per server CPU-second\n";

static int parse_mode(const char *s, enum mode *m)
{
    for (int i = M_DIGEST; i <= M_PSK; i++)
        if (strcmp(s, mode_name((enum mode)i)) == 0) {
            *m = (enum mode)i;
            return 0;
        }
    return -1;
}

static int parse_num(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (osec_parse_i64(s, min, max, out) < 0) {
        fprintf(stderr, "cpns_load: bad number '%s'\n", s);
        return -1;
    }
    return 0;
}

/* Numeric options: short name, bounds, where the value goes. */
static int parse_num_opt(int ch, const char *arg, struct opts *o)
{
    int64_t v;

    switch (ch) {
    case 's':
        if (parse_num(arg, 1, 3600, &v) < 0)
            return -1;
        o->seconds = (double)v;
        return 0;
    case 'm':
        if (parse_num(arg, 100, 3600000, &v) < 0)
            return -1;
        o->seconds = (double)v / 1000;
        return 0;
    case 't':
        if (parse_num(arg, 1, 256, &v) < 0)
            return -1;
        o->threads = (int)v;
        return 0;
    case 'P':
        if (parse_num(arg, 1, PIPELINE_MAX, &v) < 0)
            return -1;
        o->pipeline = (int)v;
        return 0;
    case 'i':
        if (parse_num(arg, 1, 1 << 22, &v) < 0)
            return -1;
        o->server_pid = (long)v;
        return 0;
    default:
        return -1;
    }
}

static int parse_opt(int ch, const char *arg, struct opts *o)
{
    switch (ch) {
    case 'H': o->host = arg; return 0;
    case 'p': o->port = arg; return 0;
    case 'C': o->ca = arg; return 0;
    case 'e': o->entity = arg; return 0;
    case 'k': o->eukey = arg; return 0;
    case 'u': o->user = arg; return 0;
    case 'w': o->password = arg; return 0;
    case 'r': o->request = true; return 0;
    case 'a':
        o->alg = osec_digest_alg_from_name(osec_slice_cstr(arg));
        return o->alg == OSEC_DIGEST_SHA256 || o->alg == OSEC_DIGEST_SHA512_256 ? 0 : -1;
    case 'T':
        o->tls = strcmp(arg, "1.2") == 0 ? 12 : strcmp(arg, "1.3") == 0 ? 13 : -1;
        return o->tls > 0 ? 0 : -1;
    default:
        return parse_num_opt(ch, arg, o);
    }
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
        { "ca", required_argument, NULL, 'C' }, { "entity", required_argument, NULL, 'e' },
        { "eukey", required_argument, NULL, 'k' }, { "user", required_argument, NULL, 'u' },
        { "password", required_argument, NULL, 'w' }, { "seconds", required_argument, NULL, 's' },
        { "millis", required_argument, NULL, 'm' },
        { "threads", required_argument, NULL, 't' }, { "pipeline", required_argument, NULL, 'P' },
        { "tls", required_argument, NULL, 'T' }, { "request", no_argument, NULL, 'r' },
        { "alg", required_argument, NULL, 'a' }, { "server-pid", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    if (argc < 2 || parse_mode(argv[1], &o->mode) < 0)
        return -1;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
        if (parse_opt(ch, optarg, o) < 0)
            return -1;
    if (optind != argc)
        return -1;
    if ((o->mode == M_DIGEST || o->mode == M_HS_PSK || o->mode == M_PSK ||
         (o->mode == M_HS_CERT && o->request)) && (!o->entity || !o->eukey))
        return -1;
    if ((o->mode == M_ASSIGN || o->mode == M_EUKEY) && (!o->user || !o->password))
        return -1;
    if (o->mode == M_EUKEY && !o->entity)
        return -1;
    return o->mode == M_PSK || (o->port && (o->mode == M_HS_PSK || o->ca)) ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct opts o = { .host = "127.0.0.1", .seconds = 10, .threads = 4, .pipeline = 1,
                      .alg = OSEC_DIGEST_SHA256 };
    SSL_CTX *ctx;
    int rc;

    if (parse_args(argc, argv, &o) < 0) {
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (o.mode == M_PSK)
        return print_psk(&o) == 0 ? 0 : 1;
    if (!(ctx = make_ctx(&o)))
        return 1;
    if (o.mode == M_EUKEY)
        rc = assign_one(&o, ctx) == 0 ? 0 : 1;
    else
        rc = run(&o, ctx);
    osec_tls_ctx_free(&ctx);
    return rc;
}
