/* imap_load: IMAP load generator for bench/imap/run.
 *
 *   imap_load --port P --ca FILE --mode login|fetch|append|fill
 *             [--user-prefix bench] [--pass-prefix pw] [--clients K] [--seconds S]
 *             [--messages N] [--size BYTES] [--host H]
 *
 * K client threads, each with its own user (prefix + client index, the
 * password likewise),
 * over implicit TLS (TLS 1.3, no session resumption: every login is a full
 * handshake).  Modes:
 *   login   connect, LOGIN, LOGOUT, close; repeat
 *   fetch   one session: SELECT INBOX, then UID FETCH u BODY.PEEK[] with u
 *           cycling over 1..N; repeat
 *   append  one session: APPEND INBOX {size+} (LITERAL+); repeat
 *   fill    APPEND N messages per user, then stop (untimed)
 * Prints "mode=M ops=N seconds=S rate=R errors=E".  Only the same bytes are
 * sent to every server, so the servers are compared on equal terms.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct opts {
    const char *host, *ca, *mode, *user_fmt, *pass_fmt;
    int port, clients, seconds, messages, size;
};

static struct opts o = { "127.0.0.1", NULL, NULL, "bench", "pw", 0, 8, 10, 200, 2048 };
static SSL_CTX *ctx;
static atomic_bool stop;
static atomic_ulong ops, errors;

struct conn {
    int fd;
    SSL *ssl;
    char buf[1 << 16];
    size_t len, pos;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fill_buf(struct conn *c)
{
    int n;

    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == sizeof(c->buf))
        return -1;
    n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    return 0;
}

/* One line (without CRLF) into line[]; literals {n} are skipped over. */
static int read_line(struct conn *c, char *line, size_t max)
{
    for (;;) {
        char *eol = memchr(c->buf + c->pos, '\n', c->len - c->pos);

        if (eol) {
            size_t n = (size_t)(eol - (c->buf + c->pos));
            size_t copy = n < max - 1 ? n : max - 1;

            memcpy(line, c->buf + c->pos, copy);
            line[copy] = '\0';
            if (copy && line[copy - 1] == '\r')
                line[copy - 1] = '\0';
            c->pos += n + 1;
            return 0;
        }
        if (fill_buf(c) < 0)
            return -1;
    }
}

static int skip_bytes(struct conn *c, size_t n)
{
    while (n > 0) {
        size_t have = c->len - c->pos, take = have < n ? have : n;

        c->pos += take;
        n -= take;
        if (n && fill_buf(c) < 0)
            return -1;
    }
    return 0;
}

/* Read responses until the tagged one; 0 if it is OK. */
static int wait_tag(struct conn *c, const char *tag)
{
    char line[1024];
    size_t tl = strlen(tag);

    for (;;) {
        size_t l;

        if (read_line(c, line, sizeof(line)) < 0)
            return -1;
        l = strlen(line);
        if (l > 2 && line[l - 1] == '}') { /* a literal follows */
            char *open = strrchr(line, '{');

            if (!open || skip_bytes(c, strtoul(open + 1, NULL, 10)) < 0)
                return -1;
            continue;
        }
        if (strncmp(line, tag, tl) == 0 && line[tl] == ' ')
            return strncmp(line + tl + 1, "OK", 2) == 0 ? 0 : -1;
    }
}

static int send_all(struct conn *c, const void *p, size_t n)
{
    return SSL_write(c->ssl, p, (int)n) == (int)n ? 0 : -1;
}

static void conn_close(struct conn *c)
{
    if (c->ssl) {
        (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

static int conn_open(struct conn *c)
{
    struct sockaddr_in sa;
    char line[1024];
    int one = 1;

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o.port);
    inet_pton(AF_INET, o.host, &sa.sin_addr);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ssl = SSL_new(ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
        return -1;
    return read_line(c, line, sizeof(line)); /* greeting */
}

static int login(struct conn *c, int idx)
{
    char cmd[256], user[64], pass[64];

    snprintf(user, sizeof(user), "%s%d", o.user_fmt, idx);
    snprintf(pass, sizeof(pass), "%s%d", o.pass_fmt, idx);
    snprintf(cmd, sizeof(cmd), "l LOGIN %s %s\r\n", user, pass);
    if (send_all(c, cmd, strlen(cmd)) < 0)
        return -1;
    return wait_tag(c, "l");
}

static char *message(int idx, int n)
{
    char *m = malloc((size_t)o.size + 1);
    int h;

    h = snprintf(m, (size_t)o.size + 1,
                 "From: load%d@example.com\r\nTo: bench@example.com\r\nSubject: message %d\r\n"
                 "Date: Tue, 1 Mar 2022 10:00:00 +0000\r\nMessage-ID: <%d.%d@load>\r\n\r\n",
                 idx, n, idx, n);
    for (int i = h; i < o.size; i++)
        m[i] = (i - h) % 78 == 76 ? '\r' : (i - h) % 78 == 77 ? '\n' : (char)('a' + i % 26);
    m[o.size] = '\0';
    return m;
}

static int append(struct conn *c, int idx, int n)
{
    char head[128], *m = message(idx, n);
    int rc;

    snprintf(head, sizeof(head), "a APPEND INBOX {%d+}\r\n", o.size);
    rc = send_all(c, head, strlen(head)) == 0 && send_all(c, m, (size_t)o.size) == 0 &&
         send_all(c, "\r\n", 2) == 0 ? wait_tag(c, "a") : -1;
    free(m);
    return rc;
}

static void run_login(int idx)
{
    struct conn c;

    while (!atomic_load(&stop)) {
        if (conn_open(&c) == 0 && login(&c, idx) == 0 && send_all(&c, "z LOGOUT\r\n", 10) == 0 &&
            wait_tag(&c, "z") == 0)
            atomic_fetch_add(&ops, 1);
        else
            atomic_fetch_add(&errors, 1);
        conn_close(&c);
    }
}

static void run_session(int idx, const char *mode)
{
    struct conn c;
    char cmd[128];
    int n = 0;

    if (conn_open(&c) < 0 || login(&c, idx) < 0 ||
        send_all(&c, "s SELECT INBOX\r\n", 16) < 0 || wait_tag(&c, "s") < 0) {
        atomic_fetch_add(&errors, 1);
        conn_close(&c);
        return;
    }
    while (!atomic_load(&stop)) {
        int rc;

        if (strcmp(mode, "fetch") == 0) {
            snprintf(cmd, sizeof(cmd), "f UID FETCH %d BODY.PEEK[]\r\n", n % o.messages + 1);
            rc = send_all(&c, cmd, strlen(cmd)) == 0 ? wait_tag(&c, "f") : -1;
        } else {
            rc = append(&c, idx, n);
        }
        n++;
        if (rc < 0) {
            atomic_fetch_add(&errors, 1);
            break;
        }
        atomic_fetch_add(&ops, 1);
        if (strcmp(mode, "fill") == 0 && n >= o.messages)
            break;
    }
    conn_close(&c);
}

static void *client(void *arg)
{
    int idx = (int)(intptr_t)arg;

    if (strcmp(o.mode, "login") == 0)
        run_login(idx);
    else
        run_session(idx, o.mode);
    return NULL;
}

static int parse(int argc, char **argv)
{
    static const struct option lo[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
        { "ca", required_argument, NULL, 'a' }, { "mode", required_argument, NULL, 'm' },
        { "user-prefix", required_argument, NULL, 'u' }, { "pass-prefix", required_argument, NULL, 'w' },
        { "clients", required_argument, NULL, 'k' }, { "seconds", required_argument, NULL, 's' },
        { "messages", required_argument, NULL, 'n' }, { "size", required_argument, NULL, 'z' },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'H': o.host = optarg; break;
        case 'p': o.port = (int)strtol(optarg, NULL, 10); break;
        case 'a': o.ca = optarg; break;
        case 'm': o.mode = optarg; break;
        case 'u': o.user_fmt = optarg; break;
        case 'w': o.pass_fmt = optarg; break;
        case 'k': o.clients = (int)strtol(optarg, NULL, 10); break;
        case 's': o.seconds = (int)strtol(optarg, NULL, 10); break;
        case 'n': o.messages = (int)strtol(optarg, NULL, 10); break;
        case 'z': o.size = (int)strtol(optarg, NULL, 10); break;
        default: return -1;
        }
    }
    return o.port > 0 && o.ca && o.mode && o.clients > 0 && o.clients <= 256 && o.size >= 256 &&
                   o.messages > 0
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    pthread_t th[256];
    double t0, t1;

    if (parse(argc, argv) < 0) {
        fputs("usage: imap_load --port P --ca FILE --mode login|fetch|append|fill [...]\n", stderr);
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_load_verify_locations(ctx, o.ca, NULL) != 1)
        return 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    t0 = now();
    for (int i = 0; i < o.clients; i++)
        pthread_create(&th[i], NULL, client, (void *)(intptr_t)i);
    if (strcmp(o.mode, "fill") != 0) {
        usleep((useconds_t)o.seconds * 1000000u);
        atomic_store(&stop, true);
    }
    for (int i = 0; i < o.clients; i++)
        pthread_join(th[i], NULL);
    t1 = now();
    printf("mode=%s ops=%lu seconds=%.2f rate=%.1f errors=%lu\n", o.mode, atomic_load(&ops), t1 - t0,
           (double)atomic_load(&ops) / (t1 - t0), atomic_load(&errors));
    SSL_CTX_free(ctx);
    return atomic_load(&errors) && strcmp(o.mode, "fill") == 0 ? 1 : 0;
}
