/* pn_load: load generator of the PN establishment benchmark (bench/pn/run).
 *
 * Modes:
 *   setup  enrol N PNEs at the CPNS Server (EUKey assignment with the user's
 *          password), pair each with the GW (onetime key registered at the
 *          server, kept in the GW's data directory, as 'cpns-gw pair' does)
 *          and join each once (osec_pn_join: onetime-key TLS-PSK handshake
 *          with the running cpns-gw, /pn/v1/hello, PN session credential
 *          saved on both sides).  The joins are timed as one window (GW CPU
 *          from /proc); then the PNE-side session credentials are read back
 *          (osec_pn_key_load + osec_pn_key_psk) and written as
 *          "identity:hexkey" lines, the format of Mosquitto's psk_file.
 *   hs     handshakes per second: each thread opens a new connection per
 *          operation with the next credential of --keys (TLS 1.3 external
 *          PSK, TLS 1.2 PSK, or DTLS 1.2 PSK), optionally one protocol hello
 *          (HTTP GET /pn/v1/hello, or an MQTT CONNECT/CONNACK), and closes.
 *   hold   open --count sessions (handshake + hello), print "held=N", keep
 *          them until stdin is closed or the process is signalled.
 *
 * Output of setup/hs: one line of key=value pairs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "omasec/cpns_client.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/pn.h"
#include "omasec/tls.h"
#include "omasec/util.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum mode { M_SETUP, M_HS, M_HOLD };
enum proto { P_TLS13, P_TLS12, P_DTLS12 };
enum hello { H_NONE, H_HTTP, H_MQTT };

struct cred {
    char id[OSEC_PSK_IDENTITY_MAX + 1];
    uint8_t psk[OSEC_PSK_MAX];
    size_t len;
};

struct opts {
    enum mode mode;
    enum proto proto;
    enum hello hello;
    const char *host, *src, *keys, *ciphers;
    uint16_t port;
    double seconds;
    int threads;
    long count, server_pid, gw_pid;
    /* setup */
    const char *ca, *user, *password, *gw_data, *pne_data, *prefix;
    uint16_t server_port;
};

static struct cred *creds;
static size_t ncreds;
static atomic_bool stop_flag;
static pthread_barrier_t start_barrier;
static struct sockaddr_in server_addr, src_addr;

/* ---- helpers ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of a process (all threads) in seconds; -1 when unreadable. */
static double proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    const char *p;
    FILE *f;
    size_t n;
    int field = 2;

    if (pid <= 0 || osec_snprintf(path, sizeof(path), "/proc/%ld/stat", pid) < 0 ||
        !(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!(p = strrchr(buf, ')')))
        return -1;
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
    fprintf(stderr, "pn_load: %s: %s\n", what, osec_error_msg());
}

static void tls_fail(const char *what, SSL *ssl, int ret)
{
    unsigned long e = ERR_get_error();
    char msg[256] = "";

    if (e)
        ERR_error_string_n(e, msg, sizeof(msg));
    fprintf(stderr, "pn_load: %s failed: SSL error %d %s (%s)\n", what,
            ssl ? SSL_get_error(ssl, ret) : 0, msg, strerror(errno));
    ERR_clear_error();
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "identity:hexkey" lines (Mosquitto's psk_file format). */
static int parse_cred(const char *line, struct cred *c)
{
    const char *colon = strchr(line, ':');
    size_t idlen, hexlen;

    if (!colon || (idlen = (size_t)(colon - line)) == 0 || idlen > OSEC_PSK_IDENTITY_MAX)
        return -1;
    memcpy(c->id, line, idlen);
    c->id[idlen] = '\0';
    hexlen = strcspn(colon + 1, "\r\n");
    if (hexlen % 2 || hexlen / 2 < OSEC_PSK_MIN || hexlen / 2 > OSEC_PSK_MAX)
        return -1;
    for (size_t i = 0; i < hexlen / 2; i++) {
        int hi = hexval(colon[1 + 2 * i]), lo = hexval(colon[2 + 2 * i]);

        if (hi < 0 || lo < 0)
            return -1;
        c->psk[i] = (uint8_t)(hi << 4 | lo);
    }
    c->len = hexlen / 2;
    return 0;
}

static int load_keys(const char *file)
{
    char line[512];
    size_t cap = 0;
    FILE *f = fopen(file, "r");

    if (!f) {
        fprintf(stderr, "pn_load: cannot open %s: %s\n", file, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (ncreds == cap) {
            struct cred *n = realloc(creds, (cap ? cap * 2 : 64) * sizeof(*creds));

            if (!n)
                break;
            creds = n;
            cap = cap ? cap * 2 : 64;
        }
        if (parse_cred(line, &creds[ncreds]) == 0)
            ncreds++;
    }
    fclose(f);
    if (ncreds == 0)
        fprintf(stderr, "pn_load: no credentials in %s\n", file);
    return ncreds ? 0 : -1;
}

/* A process holding thousands of sessions needs the descriptors it may have. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- connections ------------------------------------------------------------ */

static SSL_CTX *make_ctx(const struct opts *o)
{
    struct osec_tls_client_opts to;
    SSL_CTX *ctx;

    memset(&to, 0, sizeof(to));
    /* the same policy as a PNE (cpns-pne / osec_cpns_client); each
     * connection sets its own credential over this default one */
    to.psk_identity = creds[0].id;
    to.psk = creds[0].psk;
    to.psk_len = creds[0].len;
    ctx = o->proto == P_DTLS12 ? osec_tls_dtls_client_ctx(&to) : osec_tls_client_ctx(&to);
    if (!ctx) {
        fail_osec("TLS context");
        return NULL;
    }
    /* a real PNE would not resume either: resumption is off at the GW */
    (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

static SSL *new_ssl(const struct opts *o, SSL_CTX *ctx, const struct cred *c)
{
    int v = o->proto == P_TLS13 ? TLS1_3_VERSION : o->proto == P_TLS12 ? TLS1_2_VERSION : 0;
    SSL *ssl = SSL_new(ctx);

    if (!ssl)
        return NULL;
    SSL_set_connect_state(ssl);
    if ((v && (SSL_set_min_proto_version(ssl, v) != 1 || SSL_set_max_proto_version(ssl, v) != 1)) ||
        osec_tls_ssl_set_psk(ssl, c->id, c->psk, c->len) < 0 ||
        (o->ciphers && SSL_set_cipher_list(ssl, o->ciphers) != 1)) {
        fail_osec("SSL setup");
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static int sock_connect(const struct opts *o)
{
    int one = 1, type = o->proto == P_DTLS12 ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (o->src) {
        /* the port is chosen at connect() from the whole 4-tuple, so each
         * source address gives another ~28k connections to one server port */
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&src_addr, sizeof(src_addr)) != 0)
            goto fail;
    }
    if (connect(fd, (const struct sockaddr *)&server_addr, sizeof(server_addr)) != 0)
        goto fail;
    if (type == SOCK_STREAM)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    fprintf(stderr, "pn_load: connect: %s\n", strerror(errno));
    close(fd);
    return -1;
}

static int attach(const struct opts *o, SSL *ssl, int fd)
{
    BIO *bio;

    if (o->proto != P_DTLS12)
        return SSL_set_fd(ssl, fd) == 1 ? 0 : -1;
    if (!(bio = BIO_new_dgram(fd, BIO_NOCLOSE)))
        return -1;
    (void)BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &server_addr);
    SSL_set_bio(ssl, bio, bio);
    return 0;
}

static int read_some(SSL *ssl, char *buf, size_t cap, size_t *have)
{
    int n = SSL_read(ssl, buf + *have, (int)(cap - 1 - *have));

    if (n <= 0) {
        tls_fail("read", ssl, n);
        return -1;
    }
    *have += (size_t)n;
    buf[*have] = '\0';
    return 0;
}

/* GET /pn/v1/hello: wait for a whole 200 response (Content-Length framed). */
static int hello_http(SSL *ssl, bool close)
{
    char req[160], buf[4096];
    size_t have = 0;
    int n = snprintf(req, sizeof(req), "GET /pn/v1/hello HTTP/1.1\r\nHost: gw\r\n%s\r\n",
                     close ? "Connection: close\r\n" : "");
    const char *end, *cl;

    if (SSL_write(ssl, req, n) != n)
        return -1;
    for (;;) {
        if (read_some(ssl, buf, sizeof(buf), &have) < 0)
            return -1;
        if (!(end = strstr(buf, "\r\n\r\n")))
            continue;
        cl = strcasestr(buf, "content-length:");
        if (!cl || have >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
            break;
    }
    return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
}

/* MQTT 3.1.1 CONNECT (clean session, keep-alive 0: no pings, the session
 * stays idle) and its CONNACK, which must accept. */
static int hello_mqtt(SSL *ssl, unsigned long serial)
{
    char cid[48], pkt[96], buf[64];
    size_t have = 0;
    int idlen = snprintf(cid, sizeof(cid), "pl%d-%lu", (int)getpid(), serial), n = 0;

    if (idlen < 0 || (size_t)idlen >= sizeof(cid))
        return -1;

    pkt[n++] = 0x10;
    pkt[n++] = (char)(10 + 2 + idlen);
    memcpy(pkt + n, "\0\4MQTT\4\2\0\0", 10);
    n += 10;
    pkt[n++] = 0;
    pkt[n++] = (char)idlen;
    memcpy(pkt + n, cid, (size_t)idlen);
    n += idlen;
    if (SSL_write(ssl, pkt, n) != n)
        return -1;
    while (have < 4)
        if (read_some(ssl, buf, sizeof(buf), &have) < 0)
            return -1;
    return buf[0] == 0x20 && buf[1] == 2 && buf[3] == 0 ? 0 : -1;
}

struct conn {
    int fd;
    SSL *ssl;
};

/* Connect, handshake, hello.  0 or -1 (c closed). */
static int open_conn(const struct opts *o, SSL_CTX *ctx, const struct cred *cr,
                     unsigned long serial, bool keep, struct conn *c)
{
    int rc = -1, ret;

    c->ssl = NULL;
    if ((c->fd = sock_connect(o)) < 0)
        return -1;
    if (!(c->ssl = new_ssl(o, ctx, cr)) || attach(o, c->ssl, c->fd) < 0)
        goto out;
    if ((ret = SSL_connect(c->ssl)) != 1) {
        tls_fail("handshake", c->ssl, ret);
        goto out;
    }
    rc = o->hello == H_HTTP ? hello_http(c->ssl, !keep)
       : o->hello == H_MQTT ? hello_mqtt(c->ssl, serial) : 0;
out:
    if (rc < 0) {
        SSL_free(c->ssl);
        close(c->fd);
        c->ssl = NULL;
        c->fd = -1;
    }
    return rc;
}

/* close_notify then close (a DTLS server learns only this way that the
 * association is over). */
static void close_conn(struct conn *c)
{
    if (c->ssl) {
        (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    ERR_clear_error();
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

/* ---- hs ------------------------------------------------------------------------ */

struct worker {
    pthread_t th;
    const struct opts *o;
    SSL_CTX *ctx;
    int idx;
    uint64_t ops, errors;
    int failed;
};

static int hs_once(struct worker *w, unsigned long serial)
{
    const struct cred *cr = &creds[serial % ncreds];
    struct conn c;

    if (open_conn(w->o, w->ctx, cr, serial, false, &c) < 0)
        return -1;
    close_conn(&c);
    return 0;
}

static void *hs_main(void *arg)
{
    struct worker *w = arg;
    unsigned long serial = (unsigned long)w->idx;

    w->failed = hs_once(w, serial) < 0; /* warm-up, outside the window */
    pthread_barrier_wait(&start_barrier);
    while (!w->failed && !atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        serial += (unsigned long)w->o->threads;
        if (hs_once(w, serial) == 0)
            w->ops++;
        else
            w->errors++;
    }
    return NULL;
}

static const char *proto_name(enum proto p)
{
    return p == P_TLS13 ? "tls1.3" : p == P_TLS12 ? "tls1.2" : "dtls1.2";
}

static const char *hello_name(enum hello h)
{
    return h == H_HTTP ? "http" : h == H_MQTT ? "mqtt" : "none";
}

static int run_hs(const struct opts *o, SSL_CTX *ctx)
{
    struct worker *ws = calloc((size_t)o->threads, sizeof(*ws));
    uint64_t ops = 0, errors = 0;
    double t0, t1, c0, c1;
    int failed = 0;

    if (!ws || pthread_barrier_init(&start_barrier, NULL, (unsigned)o->threads + 1) != 0)
        return 1;
    for (int i = 0; i < o->threads; i++) {
        ws[i] = (struct worker){ .o = o, .ctx = ctx, .idx = i };
        if (pthread_create(&ws[i].th, NULL, hs_main, &ws[i]) != 0)
            return 1;
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
        failed += ws[i].failed;
    }
    free(ws);
    printf("mode=hs proto=%s hello=%s threads=%d creds=%zu ops=%llu errors=%llu "
           "failed_threads=%d wall_s=%.3f ops_per_s=%.1f", proto_name(o->proto),
           hello_name(o->hello), o->threads, ncreds, (unsigned long long)ops,
           (unsigned long long)errors, failed, t1 - t0, (double)ops / (t1 - t0));
    if (c0 >= 0 && c1 >= 0)
        printf(" server_cpu_s=%.2f ops_per_cpu_s=%.1f", c1 - c0,
               c1 > c0 ? (double)ops / (c1 - c0) : 0.0);
    printf("\n");
    return failed || ops == 0 ? 1 : 0;
}

/* ---- hold ---------------------------------------------------------------------- */

/* Sessions are opened one after the other; once established the client
 * keeps only the socket (the servers send nothing more to an idle session),
 * so that the client's memory does not limit how many can be held. */
static int run_hold(const struct opts *o, SSL_CTX *ctx)
{
    int *fds = calloc((size_t)o->count, sizeof(int));
    long held = 0, errors = 0;
    char line[16];

    if (!fds)
        return 1;
    for (long i = 0; i < o->count && errors < 100; i++) {
        struct conn c;
        unsigned long serial = (unsigned long)i + (unsigned long)getpid() * 1000000ul;

        if (open_conn(o, ctx, &creds[(size_t)i % ncreds], serial, true, &c) < 0) {
            errors++;
            continue;
        }
        /* no close_notify: the session stays up at the server */
        SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c.ssl);
        fds[held++] = c.fd;
    }
    printf("held=%ld errors=%ld\n", held, errors);
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) /* until stdin closes */
        ;
    for (long i = 0; i < held; i++)
        close(fds[i]);
    free(fds);
    return held == o->count ? 0 : 1;
}

/* ---- setup ----------------------------------------------------------------------- */

struct setup_ctx {
    const struct opts *o;
    struct osec_devstate *gw_ds, *pne_ds;
    struct osec_pn_identity gw_id;
    struct osec_pn_identity *pne;  /* o->count identities */
};

static int enroll_all(struct setup_ctx *s)
{
    char entity[OSEC_STORE_NAME_MAX + 1];

    for (long i = 0; i < s->o->count; i++) {
        struct osec_pn_enroll_opts eo = { s->o->host, s->o->server_port, s->o->ca, entity, "pne",
                                          s->o->user, s->o->password, NULL, 0 };

        if (osec_snprintf(entity, sizeof(entity), "%s%ld", s->o->prefix, i) < 0 ||
            osec_pn_enroll(&eo, &s->pne[i]) < 0) {
            fail_osec("enroll");
            return -1;
        }
    }
    return 0;
}

static int pair_all(struct setup_ctx *s)
{
    struct osec_cpns_client *c = NULL;
    struct osec_pn_key k;
    int rc;

    if (osec_pn_identity_load(s->gw_ds, &s->gw_id) < 0 || osec_pn_server_client(&s->gw_id, &c) < 0) {
        fail_osec("GW identity");
        return -1;
    }
    for (long i = 0; i < s->o->count; i++) {
        rc = osec_pn_pair(s->gw_ds, c, s->pne[i].entity_id, 3600, &k);
        osec_wipe(&k, sizeof(k));
        if (rc < 0) {
            fail_osec("pair");
            break;
        }
    }
    osec_cpns_client_free(&c);
    return rc < 0 ? -1 : 0;
}

/* The measured window: every join is one onetime-key establishment. */
static int join_all(struct setup_ctx *s)
{
    struct osec_pn_join_opts jo = { s->o->host, s->o->port, false, OSEC_PN_MODE_PSK, NULL,
                                    s->gw_id.entity_id };
    char gw[OSEC_STORE_NAME_MAX + 1];
    double t0 = now_s(), c0 = proc_cpu_s(s->o->gw_pid), c1, t1, sc0, sc1;

    sc0 = proc_cpu_s(s->o->server_pid);
    for (long i = 0; i < s->o->count; i++) {
        if (osec_pn_join(s->pne_ds, &s->pne[i], &jo, gw) < 0) {
            fail_osec("join");
            return -1;
        }
    }
    t1 = now_s();
    c1 = proc_cpu_s(s->o->gw_pid);
    sc1 = proc_cpu_s(s->o->server_pid);
    printf("mode=setup joins=%ld join_wall_s=%.3f join_ms=%.2f gw_cpu_s=%.2f "
           "joins_per_gw_cpu_s=%.1f server_cpu_s=%.2f\n", s->o->count, t1 - t0,
           (t1 - t0) * 1000 / (double)s->o->count, c1 - c0,
           c1 > c0 ? (double)s->o->count / (c1 - c0) : 0.0, sc1 - sc0);
    return 0;
}

/* The PNE side's session credentials, as the handshake tools need them. */
static int export_keys(struct setup_ctx *s)
{
    FILE *f = fopen(s->o->keys, "w");
    char name[OSEC_STORE_NAME_MAX + 1];
    struct osec_pn_key k;
    uint8_t psk[OSEC_KEY_LEN];
    int rc = 0;

    if (!f)
        return -1;
    for (long i = 0; i < s->o->count && rc == 0; i++) {
        rc = osec_snprintf(name, sizeof(name), "pn-%s", s->pne[i].entity_id);
        if (rc == 0)
            rc = osec_pn_key_load(s->pne_ds, name, &k);
        if (rc == 0)
            rc = osec_pn_key_psk(&k, psk);
        if (rc == 0) {
            fprintf(f, "%s:", name);
            for (size_t j = 0; j < sizeof(psk); j++)
                fprintf(f, "%02x", psk[j]);
            fprintf(f, "\n");
        }
        osec_wipe(&k, sizeof(k));
        osec_wipe(psk, sizeof(psk));
    }
    if (fclose(f) != 0 || rc < 0) {
        fail_osec("export");
        return -1;
    }
    return 0;
}

static int run_setup(const struct opts *o)
{
    struct setup_ctx s;
    int rc = 1;

    memset(&s, 0, sizeof(s));
    s.o = o;
    s.pne = calloc((size_t)o->count, sizeof(*s.pne));
    if (!s.pne || osec_devstate_open(o->gw_data, false, &s.gw_ds) < 0 ||
        osec_devstate_open(o->pne_data, true, &s.pne_ds) < 0) {
        fail_osec("data directories");
        goto out;
    }
    if (enroll_all(&s) == 0 && pair_all(&s) == 0 && join_all(&s) == 0 && export_keys(&s) == 0)
        rc = 0;
out:
    for (long i = 0; s.pne && i < o->count; i++)
        osec_pn_identity_wipe(&s.pne[i]);
    free(s.pne);
    osec_pn_identity_wipe(&s.gw_id);
    osec_devstate_close(&s.gw_ds);
    osec_devstate_close(&s.pne_ds);
    return rc;
}

/* ---- command line -------------------------------------------------------------- */

static const char usage[] =
    "usage: pn_load setup --port GWPORT --server-port P --ca F --user U --password PW\n"
    "               --gw-data DIR --pne-data DIR --count N --keys OUT [--prefix P]\n"
    "               [--gw-pid PID] [--server-pid PID]\n"
    "       pn_load hs --port P --keys F --proto tls1.3|tls1.2|dtls1.2 [--hello none|http|mqtt]\n"
    "               [--threads N] [--millis MS] [--server-pid PID] [--ciphers LIST]\n"
    "       pn_load hold --port P --keys F --proto ... --count N [--hello ...] [--src IP]\n";

static int parse_num(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (osec_parse_i64(s, min, max, out) < 0) {
        fprintf(stderr, "pn_load: bad number '%s'\n", s);
        return -1;
    }
    return 0;
}

static int parse_enum(int ch, const char *arg, struct opts *o)
{
    if (ch == 'x') {
        o->proto = strcmp(arg, "tls1.3") == 0 ? P_TLS13 : strcmp(arg, "tls1.2") == 0 ? P_TLS12
                 : strcmp(arg, "dtls1.2") == 0 ? P_DTLS12 : (enum proto)-1;
        return (int)o->proto >= 0 ? 0 : -1;
    }
    o->hello = strcmp(arg, "none") == 0 ? H_NONE : strcmp(arg, "http") == 0 ? H_HTTP
             : strcmp(arg, "mqtt") == 0 ? H_MQTT : (enum hello)-1;
    return (int)o->hello >= 0 ? 0 : -1;
}

static int parse_opt(int ch, const char *arg, struct opts *o)
{
    int64_t v = 0;

    switch (ch) {
    case 'H': o->host = arg; return 0;
    case 'S': o->src = arg; return 0;
    case 'k': o->keys = arg; return 0;
    case 'c': o->ciphers = arg; return 0;
    case 'C': o->ca = arg; return 0;
    case 'u': o->user = arg; return 0;
    case 'w': o->password = arg; return 0;
    case 'g': o->gw_data = arg; return 0;
    case 'n': o->pne_data = arg; return 0;
    case 'f': o->prefix = arg; return 0;
    case 'x': case 'y': return parse_enum(ch, arg, o);
    case 'p': case 'P':
        if (parse_num(arg, 1, 65535, &v) < 0)
            return -1;
        *(ch == 'p' ? &o->port : &o->server_port) = (uint16_t)v;
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
    case 'N': case 'i': case 'G':
        if (parse_num(arg, 1, 1 << 22, &v) < 0)
            return -1;
        *(ch == 'N' ? &o->count : ch == 'i' ? &o->server_pid : &o->gw_pid) = (long)v;
        return 0;
    default:
        return -1;
    }
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        { "host", required_argument, NULL, 'H' }, { "src", required_argument, NULL, 'S' },
        { "port", required_argument, NULL, 'p' }, { "server-port", required_argument, NULL, 'P' },
        { "keys", required_argument, NULL, 'k' }, { "ciphers", required_argument, NULL, 'c' },
        { "proto", required_argument, NULL, 'x' }, { "hello", required_argument, NULL, 'y' },
        { "millis", required_argument, NULL, 'm' }, { "threads", required_argument, NULL, 't' },
        { "count", required_argument, NULL, 'N' }, { "server-pid", required_argument, NULL, 'i' },
        { "gw-pid", required_argument, NULL, 'G' }, { "ca", required_argument, NULL, 'C' },
        { "user", required_argument, NULL, 'u' }, { "password", required_argument, NULL, 'w' },
        { "gw-data", required_argument, NULL, 'g' }, { "pne-data", required_argument, NULL, 'n' },
        { "prefix", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 },
    };
    int ch;

    if (argc < 2)
        return -1;
    o->mode = strcmp(argv[1], "setup") == 0 ? M_SETUP : strcmp(argv[1], "hs") == 0 ? M_HS
            : strcmp(argv[1], "hold") == 0 ? M_HOLD : (enum mode)-1;
    if ((int)o->mode < 0)
        return -1;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
        if (parse_opt(ch, optarg, o) < 0)
            return -1;
    if (optind != argc || !o->port || !o->keys)
        return -1;
    if (o->mode == M_SETUP)
        return o->server_port && o->ca && o->user && o->password && o->gw_data && o->pne_data &&
               o->count ? 0 : -1;
    return o->mode == M_HOLD && !o->count ? -1 : 0;
}

static int set_addr(struct sockaddr_in *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) {
        fprintf(stderr, "pn_load: %s: not an IPv4 address\n", ip);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = { .host = "127.0.0.1", .seconds = 10, .threads = 4, .prefix = "pne-" };
    SSL_CTX *ctx;
    int rc;

    if (parse_args(argc, argv, &o) < 0) {
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (o.mode == M_SETUP)
        return run_setup(&o);
    if (set_addr(&server_addr, o.host, o.port) < 0 || (o.src && set_addr(&src_addr, o.src, 0) < 0) ||
        load_keys(o.keys) < 0 || !(ctx = make_ctx(&o)))
        return 1;
    rc = o.mode == M_HS ? run_hs(&o, ctx) : run_hold(&o, ctx);
    SSL_CTX_free(ctx);
    return rc;
}
