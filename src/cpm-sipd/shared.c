/* cpm-sipd bindings in a shared store (PostgreSQL): several instances
 * behind a load balancer act as one registrar (docs/cpm-sip.md, "Bindings").
 *
 * The store is then the registrar: a REGISTER is checked against the
 * bindings every instance made and written before its 200; a request of the
 * CS is routed by the newest binding in the store.  Nothing is kept in
 * memory, because an instance is not told when another one changes an AOR:
 * a binding in its memory could be one the UA removed through another
 * instance a moment ago.  A row names the instance that holds its flow and
 * the flow in a form that instance understands (sipd_flow_text): never a
 * flow token, whose key is per process. */
#include <netinet/in.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/net.h"
#include "omasec/util.h"
#include "sipd.h"

#define PURGE_INTERVAL 30 /* seconds between purges of expired rows */

static const char *const tp_name[] = { "udp", "tcp", "tls", "iwf" };

/* ---- flows as text ---------------------------------------------------------- */

int sipd_flow_text(const struct sipd_flow *f, char *out, size_t outlen)
{
    char ip[OSEC_UDP_IP_MAX];
    uint16_t port;
    bool v6;

    OSEC_ENSURE(f->tp <= TP_IWF, OSEC_EINVAL, "bad flow");
    if (f->tp != TP_UDP)
        return osec_snprintf(out, outlen, "%s:%u:%llu", tp_name[f->tp], (unsigned)f->listen,
                             (unsigned long long)f->conn);
    OSEC_GUARD(osec_udp_addr_ip(&f->addr, ip, sizeof(ip), &port));
    v6 = strchr(ip, ':') != NULL;
    return osec_snprintf(out, outlen, "udp:%u:%s%s%s:%u", (unsigned)f->listen, v6 ? "[" : "",
                         ip, v6 ? "]" : "", (unsigned)port);
}

static int flow_kind(struct osec_slice s, enum sipd_tp *tp)
{
    for (int t = TP_UDP; t <= TP_TLS; t++) { /* IWF connections carry no bindings */
        if (osec_slice_eq_cstr(s, tp_name[t])) {
            *tp = (enum sipd_tp)t;
            return 0;
        }
    }
    OSEC_BAIL(OSEC_EPARSE, "unknown flow kind");
}

static int flow_addr(struct osec_slice s, struct osec_udp_addr *addr)
{
    char text[SIPD_FLOW_TEXT_MAX], host[SIPD_HOST_MAX];
    uint16_t port;

    OSEC_GUARD(osec_slice_to_cstr(s, text, sizeof(text)));
    OSEC_ENSURE(osec_net_parse_hostport(text, host, sizeof(host), &port) == 0 && port != 0,
                OSEC_EPARSE, "bad flow address");
    return osec_udp_addr_make(host, port, addr);
}

int sipd_flow_from_text(const char *text, struct sipd_flow *out)
{
    struct osec_cursor c;
    struct osec_slice kind, lst, rest;
    uint64_t v;

    memset(out, 0, sizeof(*out));
    osec_cursor_init(&c, text, strlen(text));
    OSEC_ENSURE(osec_cursor_until(&c, ':', &kind) == 0 && osec_cursor_eat(&c, ':') &&
                    osec_cursor_until(&c, ':', &lst) == 0 && osec_cursor_eat(&c, ':'),
                OSEC_EPARSE, "bad flow '%s'", text);
    (void)osec_cursor_read_bytes(&c, osec_cursor_remaining(&c), &rest);
    OSEC_GUARD(flow_kind(kind, &out->tp));
    OSEC_ENSURE(osec_slice_to_u64(lst, SIPD_LISTEN_MAX - 1, &v) == 0, OSEC_EPARSE,
                "bad flow listener '%s'", text);
    out->listen = (uint8_t)v;
    if (out->tp == TP_UDP)
        return flow_addr(rest, &out->addr);
    OSEC_ENSURE(osec_slice_to_u64(rest, UINT64_MAX, &out->conn) == 0 && out->conn != 0,
                OSEC_EPARSE, "bad flow connection '%s'", text);
    return 0;
}

int sipd_udp_listener_for(const struct sipd *srv, const struct osec_udp_addr *addr)
{
    bool v6 = addr->ss.ss_family == AF_INET6;
    int found = -1;

    for (size_t i = 0; i < srv->n_listen; i++) {
        const struct sipd_listen *l = &srv->listen[i];

        if (l->tp != TP_UDP || (strchr(l->host, ':') != NULL) != v6)
            continue;
        if ((int)i == srv->cs_listen)
            return (int)i;
        if (found < 0)
            found = (int)i;
    }
    return found;
}

/* ---- reading the store -------------------------------------------------------- */

struct rows {
    struct sipd_binding *out;
    size_t max, n, total;
};

static int collect(const struct osec_store_sipreg *r, void *arg)
{
    struct rows *c = arg;
    struct sipd_binding *b;

    c->total++;
    if (c->n >= c->max)
        return 0;
    b = &c->out[c->n];
    memset(b, 0, sizeof(*b));
    OSEC_GUARD(osec_strlcpy(b->contact, r->contact, sizeof(b->contact)));
    OSEC_GUARD(osec_strlcpy(b->path, r->path, sizeof(b->path)));
    OSEC_GUARD(osec_strlcpy(b->call_id, r->call_id, sizeof(b->call_id)));
    OSEC_GUARD(osec_strlcpy(b->user, r->user, sizeof(b->user)));
    b->cseq = r->cseq;
    b->expires = r->expires;
    c->n++;
    return 0;
}

int sipd_sreg_get(struct sipd_worker *w, const char *aor, int64_t now, struct sipd_binding *out,
                  size_t max)
{
    struct rows c = { out, max, 0, 0 };

    OSEC_GUARD(osec_store_sipreg_list(w->st, aor, now, collect, &c));
    return (int)c.n;
}

/* ---- REGISTER ---------------------------------------------------------------- */

static struct sipd_binding *find(struct sipd_binding *list, size_t n, const char *contact)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].contact, contact) == 0)
            return &list[i];
    return NULL;
}

/* RFC 3261 10.3 step 7 and max_contacts, against every instance's bindings.
 * Not atomic across instances: two REGISTERs of one AOR at the same moment
 * may both pass (one row per contact; the later write wins). */
static int precheck(const struct sipd *srv, const struct rows *c,
                    const struct sipd_binding *proto, const struct sipd_reg_update *u, size_t n)
{
    size_t adds = 0;

    for (size_t i = 0; i < n; i++) {
        const struct sipd_binding *b = find(c->out, c->n, u[i].contact);

        if (b && strcmp(b->call_id, proto->call_id) == 0 && proto->cseq <= b->cseq)
            OSEC_BAIL(OSEC_EREPLAY, "CSeq not above the binding's");
        if (!b && u[i].expires > 0)
            adds++;
    }
    OSEC_ENSURE(c->total + adds <= srv->max_contacts, OSEC_EBOUNDS,
                "too many contacts for the AOR");
    return 0;
}

static int put(struct sipd_worker *w, const char *aor, const struct sipd_binding *proto,
               const struct sipd_reg_update *u, int64_t now)
{
    struct osec_store_sipreg r;

    memset(&r, 0, sizeof(r));
    OSEC_GUARD(osec_strlcpy(r.aor, aor, sizeof(r.aor)));
    OSEC_GUARD(osec_strlcpy(r.contact, u->contact, sizeof(r.contact)));
    OSEC_GUARD(osec_strlcpy(r.path, proto->path, sizeof(r.path)));
    OSEC_GUARD(osec_strlcpy(r.call_id, proto->call_id, sizeof(r.call_id)));
    OSEC_GUARD(osec_strlcpy(r.user, proto->user, sizeof(r.user)));
    OSEC_GUARD(osec_strlcpy(r.instance, w->srv->instance, sizeof(r.instance)));
    OSEC_GUARD(sipd_flow_text(&proto->flow, r.flow, sizeof(r.flow)));
    r.cseq = proto->cseq;
    r.expires = now + (int64_t)u->expires;
    return osec_store_sipreg_put(w->st, &r);
}

/* The list the 200 shows: the bindings read before, changed by u. */
static void list_apply(struct rows *c, const struct sipd_binding *proto,
                       const struct sipd_reg_update *u, int64_t now)
{
    struct sipd_binding *b = find(c->out, c->n, u->contact);
    size_t at;

    if (u->expires == 0) {
        if (b) {
            at = (size_t)(b - c->out);
            memmove(b, b + 1, (c->n - at - 1) * sizeof(*b));
            c->n--;
        }
        return;
    }
    if (b)
        at = (size_t)(b - c->out);
    else if (c->n < c->max)
        at = c->n++;
    else
        at = c->max - 1; /* more than the 200 can list: the oldest shown goes */
    memmove(c->out + 1, c->out, at * sizeof(*b)); /* newest first */
    c->out[0] = *proto;
    (void)osec_strlcpy(c->out[0].contact, u->contact, sizeof(c->out[0].contact));
    c->out[0].expires = now + (int64_t)u->expires;
}

static int write_one(struct sipd_worker *w, const char *aor, const struct sipd_binding *proto,
                     const struct sipd_reg_update *u, int64_t now)
{
    int rc;

    if (u->expires > 0)
        return put(w, aor, proto, u, now); /* ENOTFOUND: the user was deleted meanwhile */
    rc = osec_store_sipreg_del(w->st, aor, u->contact);
    return rc == OSEC_ENOTFOUND ? 0 : rc; /* gone already (or never there): as asked */
}

static int apply_locked(struct sipd_worker *w, const char *aor,
                        const struct sipd_binding *proto, const struct sipd_reg_update *u,
                        size_t n, bool star, int64_t now, unsigned *added, unsigned *removed,
                        size_t *n_list)
{
    struct rows c = { w->reg_list, OSEC_SIP_CONTACT_MAX, 0, 0 };
    uint64_t gone = 0;

    OSEC_GUARD(osec_store_sipreg_lock(w->st, aor));
    OSEC_GUARD(osec_store_sipreg_list(w->st, aor, now, collect, &c));
    if (star) {
        OSEC_GUARD(osec_store_sipreg_del_aor(w->st, aor, &gone));
        *removed = (unsigned)gone;
        return 0;
    }
    OSEC_GUARD(precheck(w->srv, &c, proto, u, n));
    for (size_t i = 0; i < n; i++) {
        bool had = find(c.out, c.n, u[i].contact) != NULL;

        OSEC_GUARD(write_one(w, aor, proto, &u[i], now));
        *added += !had && u[i].expires > 0;
        *removed += had && u[i].expires == 0;
        list_apply(&c, proto, &u[i], now);
    }
    *n_list = c.n;
    return 0;
}

/* One REGISTER in one transaction, under the AOR's lock: the CSeq order and
 * max_contacts are checked against what every instance has committed, and
 * the REGISTER's contacts are written all or none. */
int sipd_sreg_apply(struct sipd_worker *w, const char *aor, const struct sipd_binding *proto,
                    const struct sipd_reg_update *u, size_t n, bool star, int64_t now,
                    unsigned *added, unsigned *removed, size_t *n_list)
{
    int rc;

    *added = *removed = 0;
    *n_list = 0;
    OSEC_GUARD(osec_store_begin(w->st));
    rc = apply_locked(w, aor, proto, u, n, star, now, added, removed, n_list);
    if (rc == 0)
        return osec_store_commit(w->st);
    (void)osec_store_rollback(w->st); /* the error that matters is rc's */
    *added = *removed = 0;
    return rc;
}

/* ---- routing -------------------------------------------------------------------- */

struct newest {
    struct sipd_binding *b;
    char instance[OSEC_STORE_NAME_MAX + 1];
    char flow[OSEC_STORE_SIPREG_FLOW_MAX + 1];
    bool found;
};

static int first_row(const struct osec_store_sipreg *r, void *arg)
{
    struct newest *nw = arg;

    if (nw->found)
        return 0;
    OSEC_GUARD(osec_strlcpy(nw->b->contact, r->contact, sizeof(nw->b->contact)));
    OSEC_GUARD(osec_strlcpy(nw->b->path, r->path, sizeof(nw->b->path)));
    OSEC_GUARD(osec_strlcpy(nw->instance, r->instance, sizeof(nw->instance)));
    OSEC_GUARD(osec_strlcpy(nw->flow, r->flow, sizeof(nw->flow)));
    nw->found = true;
    return 0;
}

/* One of our own flows, as the row names it. */
static int own_flow(const struct sipd *srv, const struct sipd_flow *f, struct sipd_flow *dest)
{
    OSEC_ENSURE(f->listen < srv->n_listen && srv->listen[f->listen].tp == f->tp, OSEC_EPOLICY,
                "stored flow names a listener we do not have");
    *dest = *f;
    return 1;
}

/* A flow of another instance: UDP straight to the UA from our listener,
 * a connection through the instance that holds it. */
static int other_flow(const struct sipd *srv, const char *instance, const struct sipd_flow *f,
                      struct sipd_flow *dest, struct sipd_remote *rem)
{
    int l;

    memset(dest, 0, sizeof(*dest));
    dest->tp = TP_UDP;
    if (f->tp == TP_UDP) {
        dest->addr = f->addr;
    } else {
        char host[SIPD_HOST_MAX];
        uint16_t port;

        OSEC_ENSURE(osec_net_parse_hostport(instance, host, sizeof(host), &port) == 0 &&
                        osec_udp_addr_make(host, port, &dest->addr) == 0,
                    OSEC_EPOLICY, "instance name '%s' is not HOST:PORT", instance);
        OSEC_GUARD(osec_strlcpy(rem->instance, instance, sizeof(rem->instance)));
        rem->via = true;
        rem->flow = *f;
    }
    l = sipd_udp_listener_for(srv, &dest->addr);
    OSEC_ENSURE(l >= 0, OSEC_EPOLICY, "no UDP listener of the binding's address family");
    dest->listen = (uint8_t)l;
    return 1;
}

int sipd_sreg_route(struct sipd_worker *w, const char *aor, int64_t now, struct sipd_binding *b,
                    struct sipd_flow *dest, struct sipd_remote *rem)
{
    struct newest nw;
    struct sipd_flow f;

    memset(&nw, 0, sizeof(nw));
    nw.b = b;
    rem->via = false;
    if (strlen(aor) > OSEC_STORE_SIPREG_URI_MAX)
        return 0; /* never registered: the registrar takes allocated AORs only */
    OSEC_GUARD(osec_store_sipreg_list(w->st, aor, now, first_row, &nw));
    if (!nw.found)
        return 0;
    if (sipd_flow_from_text(nw.flow, &f) < 0)
        OSEC_BAIL(OSEC_EPOLICY, "stored flow '%s' of instance %s does not parse", nw.flow,
                  nw.instance);
    if (strcmp(nw.instance, w->srv->instance) == 0)
        return own_flow(w->srv, &f, dest);
    return other_flow(w->srv, nw.instance, &f, dest, rem);
}

/* ---- connections, expiry, start --------------------------------------------------- */

void sipd_sreg_flow_gone(struct sipd_worker *w, const struct sipd_flow *flow)
{
    char text[SIPD_FLOW_TEXT_MAX];
    uint64_t n = 0;

    if (sipd_flow_text(flow, text, sizeof(text)) < 0 ||
        osec_store_sipreg_del_flow(w->st, w->srv->instance, text, false, &n) < 0) {
        /* they expire anyway; until then a request for them gets 430/480 */
        osec_warn("registrar.flow_gone_failed", "error=\"%s\"", osec_error_msg());
        return;
    }
    if (n)
        osec_debug("registrar.flow_gone", "flow=%s bindings=%llu", text, (unsigned long long)n);
}

void sipd_sreg_tick(struct sipd_worker *w, int64_t now)
{
    uint64_t n = 0;

    if (now < w->next_purge)
        return;
    w->next_purge = now + PURGE_INTERVAL;
    /* every instance does it: rows past expiry are never read, so racing
     * purges are harmless */
    if (osec_store_sipreg_purge(w->st, now, &n) < 0)
        osec_warn("registrar.purge_failed", "error=\"%s\"", osec_error_msg());
    else if (n)
        osec_info("registrar.expired", "bindings=%llu store=shared", (unsigned long long)n);
}

bool sipd_host_unspecified(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

int sipd_sreg_start(struct sipd *srv, struct osec_store *st)
{
    uint64_t n = 0;

    OSEC_ENSURE(!sipd_host_unspecified(srv->inst_host), OSEC_ECONFIG,
                "on a shared store, instance = HOST:PORT must be an address of ours the other "
                "instances reach (not %s)", srv->instance);
    OSEC_GUARD(sipd_cluster_key(srv, st));
    /* our previous life's connection ids and listener indexes mean nothing now */
    OSEC_GUARD(osec_store_sipreg_del_flow(st, srv->instance, "", true, &n));
    osec_info("registrar.shared", "instance=%s removed=%llu", srv->instance,
              (unsigned long long)n);
    return 0;
}
