/* sip_load: full SIP Digest registrations per second (REGISTER, 401,
 * REGISTER with Authorization, 200) over UDP, for bench/sip/run.
 *
 * One sipp process saturates early and sipp 3.6 only computes MD5, so this
 * tool keeps `window` registrations in flight per thread, each for a user
 * taken round-robin from a CSV (user;password;domain per line, first line
 * ignored: the sipp -inf format), answering MD5 or SHA-256 challenges.  HA1
 * is precomputed per user so that the client's own cost stays small next to
 * the server's on a shared machine.
 *
 *   sip_load HOST:PORT USERS.csv ALG SECONDS [THREADS] [WINDOW]
 *
 * Prints one line: completed=N seconds=S rate=R failed=F timeouts=T
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_USERS 200000
#define BATCH 32
#define PKT 4096

struct user {
    char name[64], pw[64], domain[64];
    char ha1[65];
};

struct slot {
    int user;
    int state; /* 0 idle, 1 waiting 401, 2 waiting 200 */
    unsigned gen;
    double sent;
};

static struct user *users;
static int n_users;
static const char *alg;
static const EVP_MD *md;
static struct sockaddr_in target;
static double deadline;
static atomic_long completed, failed, timeouts;
static atomic_int next_user;
static char target_text[64];

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hexhash(const char *in, size_t len, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hx[] = "0123456789abcdef";

    EVP_Digest(in, len, d, &n, md, NULL);
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int load_users(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int first = 1;

    if (!f)
        return -1;
    users = calloc(MAX_USERS, sizeof(*users));
    while (users && fgets(line, sizeof(line), f) && n_users < MAX_USERS) {
        char *a = line, *b, *c;

        if (first) {
            first = 0;
            continue;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (!(b = strchr(a, ';')) || !(c = strchr(b + 1, ';')))
            continue;
        *b++ = '\0';
        *c++ = '\0';
        snprintf(users[n_users].name, sizeof(users[0].name), "%s", a);
        snprintf(users[n_users].pw, sizeof(users[0].pw), "%s", b);
        snprintf(users[n_users].domain, sizeof(users[0].domain), "%s", c);
        n_users++;
    }
    fclose(f);
    return n_users > 0 ? 0 : -1;
}

/* HA1 depends on the realm: computed at the first challenge of each user. */
static void ensure_ha1(struct user *u, const char *realm)
{
    char buf[256];
    int n;

    if (u->ha1[0])
        return;
    n = snprintf(buf, sizeof(buf), "%s:%s:%s", u->name, realm, u->pw);
    hexhash(buf, (size_t)n, u->ha1);
}

static int send_register(int fd, int tid, int idx, struct slot *s, const char *auth,
                         uint16_t lport)
{
    struct user *u = &users[s->user];
    char pkt[PKT];
    int n = snprintf(pkt, sizeof(pkt),
                     "REGISTER sip:%s SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK%d.%d.%u.%d;rport\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:%s@%s>;tag=%d.%d\r\n"
                     "To: <sip:%s@%s>\r\n"
                     "Call-ID: %d.%d.%u@bench\r\n"
                     "CSeq: %d REGISTER\r\n"
                     "Contact: <sip:%s@127.0.0.1:%u>\r\n"
                     "Expires: 3600\r\n%s%s%s"
                     "Content-Length: 0\r\n\r\n",
                     u->domain, lport, tid, idx, s->gen, s->state, u->name, u->domain, tid, idx,
                     u->name, u->domain, tid, idx, s->gen, auth ? 2 : 1, u->name, lport,
                     auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");

    s->sent = now();
    return (int)sendto(fd, pkt, (size_t)n, 0, (struct sockaddr *)&target, sizeof(target));
}

static void start(int fd, int tid, int idx, struct slot *s, uint16_t lport)
{
    s->user = atomic_fetch_add(&next_user, 1) % n_users;
    s->gen++;
    s->state = 1;
    (void)send_register(fd, tid, idx, s, NULL, lport);
}

/* Value of param name in the challenge text (quoted or token). */
static int param(const char *h, const char *end, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);

    for (const char *p = h; p + nl + 1 < end; p++) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == '=' && (p == h || p[-1] == ' ' ||
                                                              p[-1] == ',')) {
            const char *v = p + nl + 1, *e;

            if (*v == '"') {
                v++;
                e = memchr(v, '"', (size_t)(end - v));
            } else {
                for (e = v; e < end && *e != ',' && *e != '\r'; e++)
                    ;
            }
            if (!e || (size_t)(e - v) >= outlen)
                return -1;
            memcpy(out, v, (size_t)(e - v));
            out[e - v] = '\0';
            return 0;
        }
    }
    return -1;
}

/* The WWW-Authenticate field offering our algorithm (absent = MD5). */
static int pick_challenge(const char *msg, char *realm, char *nonce)
{
    const char *p = msg;
    char a[32];

    while ((p = strcasestr(p, "\r\nWWW-Authenticate:")) != NULL) {
        const char *end = strstr(p + 2, "\r\n");

        p += 2;
        if (!end)
            return -1;
        if (param(p, end, "algorithm", a, sizeof(a)) < 0)
            snprintf(a, sizeof(a), "MD5");
        if (strcasecmp(a, alg) == 0 && param(p, end, "realm", realm, 128) == 0 &&
            param(p, end, "nonce", nonce, 256) == 0)
            return 0;
    }
    return -1;
}

static void answer(int fd, int tid, int idx, struct slot *s, const char *msg, uint16_t lport)
{
    char realm[128], nonce[256], auth[1024], buf[512], ha2[65], resp[65], uri[128];
    struct user *u = &users[s->user];
    int n;

    if (pick_challenge(msg, realm, nonce) < 0) {
        atomic_fetch_add(&failed, 1);
        start(fd, tid, idx, s, lport);
        return;
    }
    ensure_ha1(u, realm);
    snprintf(uri, sizeof(uri), "sip:%s", u->domain);
    n = snprintf(buf, sizeof(buf), "REGISTER:%s", uri);
    hexhash(buf, (size_t)n, ha2);
    n = snprintf(buf, sizeof(buf), "%s:%s:00000001:%08x:auth:%s", u->ha1, nonce, s->gen, ha2);
    hexhash(buf, (size_t)n, resp);
    snprintf(auth, sizeof(auth),
             "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
             "response=\"%s\", algorithm=%s, qop=auth, nc=00000001, cnonce=\"%08x\"",
             u->name, realm, nonce, uri, resp, alg, s->gen);
    s->state = 2;
    (void)send_register(fd, tid, idx, s, auth, lport);
}

static void on_packet(int fd, int tid, struct slot *slots, int window, char *msg, uint16_t lport)
{
    char *cid = strstr(msg, "\r\nCall-ID: ");
    long t, idx, gen, status;
    char *e;

    if (strncmp(msg, "SIP/2.0 ", 8) != 0 || !cid)
        return;
    status = strtol(msg + 8, NULL, 10);
    t = strtol(cid + 11, &e, 10);
    idx = strtol(e + 1, &e, 10);
    gen = strtol(e + 1, NULL, 10);
    if (t != tid || idx < 0 || idx >= window || (unsigned)gen != slots[idx].gen)
        return; /* stale retransmission */
    if (status < 200)
        return;
    if (slots[idx].state == 1 && status == 401) {
        answer(fd, tid, (int)idx, &slots[idx], msg, lport);
        return;
    }
    if (slots[idx].state == 2 && status == 200)
        atomic_fetch_add(&completed, 1);
    else
        atomic_fetch_add(&failed, 1);
    if (now() < deadline)
        start(fd, tid, (int)idx, &slots[idx], lport);
    else
        slots[idx].state = 0;
}

struct targ {
    int tid, window;
};

static void *run(void *p)
{
    struct targ *a = p;
    struct slot *slots = calloc((size_t)a->window, sizeof(*slots));
    static __thread char bufs[BATCH][PKT];
    struct mmsghdr mm[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in me = { .sin_family = AF_INET };
    socklen_t ml = sizeof(me);
    int fd = socket(AF_INET, SOCK_DGRAM, 0), busy = 1;
    int rcv = 8 << 20;

    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0 || !slots)
        return NULL;
    getsockname(fd, (struct sockaddr *)&me, &ml);
    for (int i = 0; i < a->window; i++)
        start(fd, a->tid, i, &slots[i], ntohs(me.sin_port));
    while (busy) {
        struct pollfd pf = { fd, POLLIN, 0 };
        double t = now();
        int n;

        busy = 0;
        for (int i = 0; i < a->window; i++) {
            if (slots[i].state == 0)
                continue;
            busy = 1;
            if (t - slots[i].sent > 2.0) { /* lost: count and start over */
                atomic_fetch_add(&timeouts, 1);
                if (t < deadline)
                    start(fd, a->tid, i, &slots[i], ntohs(me.sin_port));
                else
                    slots[i].state = 0;
            }
        }
        if (poll(&pf, 1, 10) <= 0)
            continue;
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = PKT - 1;
            memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        n = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
        for (int i = 0; i < n; i++) {
            bufs[i][mm[i].msg_len] = '\0';
            on_packet(fd, a->tid, slots, a->window, bufs[i], ntohs(me.sin_port));
        }
    }
    close(fd);
    free(slots);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[64];
    struct targ ta[64];
    int threads, window;
    double secs, t0, t1;
    char *colon;

    if (argc < 5) {
        fprintf(stderr, "usage: sip_load HOST:PORT USERS.csv MD5|SHA-256 SECONDS [THREADS] "
                        "[WINDOW]\n");
        return 2;
    }
    snprintf(target_text, sizeof(target_text), "%s", argv[1]);
    colon = strrchr(target_text, ':');
    if (!colon)
        return 2;
    *colon = '\0';
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, target_text, &target.sin_addr) != 1 || load_users(argv[2]) < 0) {
        fprintf(stderr, "sip_load: bad target or users file\n");
        return 2;
    }
    alg = argv[3];
    md = strcasecmp(alg, "MD5") == 0 ? EVP_md5() : EVP_sha256();
    secs = strtod(argv[4], NULL);
    threads = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 1;
    window = argc > 6 ? (int)strtol(argv[6], NULL, 10) : 64;
    if (threads < 1 || threads > 64 || window < 1 || window > 10000)
        return 2;
    t0 = now();
    deadline = t0 + secs;
    for (int i = 0; i < threads; i++) {
        ta[i].tid = i;
        ta[i].window = window;
        pthread_create(&th[i], NULL, run, &ta[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    t1 = now();
    printf("completed=%ld seconds=%.3f rate=%.0f failed=%ld timeouts=%ld\n",
           atomic_load(&completed), t1 - t0, (double)atomic_load(&completed) / (t1 - t0),
           atomic_load(&failed), atomic_load(&timeouts));
    free(users);
    return 0;
}
