/* Identity and trust decisions of the CPM SIP edge (see sip_policy.h). */
#include "omasec/sip_policy.h"

#include <string.h>

#include "omasec/buf.h"
#include "omasec/error.h"

#define ANONYMOUS_HOST "anonymous.invalid"

static void say(char *reason, size_t len, const char *msg)
{
    if (reason && len)
        (void)osec_strlcpy(reason, msg, len);
}

static int lower_copy(struct osec_slice s, char *out, size_t outlen)
{
    OSEC_ENSURE(s.len > 0 && s.len < outlen, OSEC_EINVAL, "bad domain length");
    for (size_t i = 0; i < s.len; i++) {
        uint8_t ch = s.ptr[i];

        OSEC_ENSURE(ch > 0x20 && ch < 0x7f && ch != ',' && ch != '=', OSEC_EINVAL,
                    "bad character in domain");
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    out[s.len] = '\0';
    return 0;
}

static int add_domains(struct osec_slice list, struct osec_sip_peer *out)
{
    struct osec_cursor c;
    struct osec_slice item;

    osec_cursor_init(&c, list.ptr, list.len);
    while (!osec_cursor_eof(&c)) {
        if (osec_cursor_until(&c, ',', &item) < 0)
            (void)osec_cursor_read_bytes(&c, osec_cursor_remaining(&c), &item);
        else
            (void)osec_cursor_eat(&c, ',');
        OSEC_ENSURE(out->n_domains < OSEC_SIP_PEER_DOMAINS_MAX, OSEC_EINVAL,
                    "too many domains for a peer (max %d)", OSEC_SIP_PEER_DOMAINS_MAX);
        OSEC_GUARD(lower_copy(osec_slice_trim(item), out->domains[out->n_domains],
                              sizeof(out->domains[0])));
        out->n_domains++;
    }
    OSEC_ENSURE(out->n_domains > 0, OSEC_EINVAL, "peer without domains");
    return 0;
}

int osec_sip_peer_parse(const char *spec, struct osec_sip_peer *out)
{
    struct osec_slice s = osec_slice_cstr(spec), name;
    long eq = osec_slice_find(s, '=');

    memset(out, 0, sizeof(*out));
    name = eq < 0 ? s : osec_slice_sub(s, 0, (size_t)eq);
    OSEC_ENSURE(name.len > 0 && name.len <= OSEC_STORE_NAME_MAX, OSEC_EINVAL,
                "bad peer '%s' (expected NAME[=DOMAIN,...])", spec ? spec : "");
    for (size_t i = 0; i < name.len; i++)
        OSEC_ENSURE(name.ptr[i] > 0x20 && name.ptr[i] < 0x7f, OSEC_EINVAL,
                    "bad character in peer name");
    OSEC_GUARD(osec_slice_to_cstr(name, out->name, sizeof(out->name)));
    if (eq < 0)
        return add_domains(name, out);
    return add_domains(osec_slice_sub(s, (size_t)eq + 1, s.len), out);
}

const struct osec_sip_peer *osec_sip_peer_find(const struct osec_sip_peer *peers, size_t n,
                                               const char *principal)
{
    for (size_t i = 0; principal && i < n; i++)
        if (strcmp(peers[i].name, principal) == 0)
            return &peers[i];
    return NULL;
}

/* Host part of a canonical "sip:user@host" / "sip:host" AOR ("" for tel). */
static struct osec_slice aor_host(const char *aor)
{
    struct osec_slice s = osec_slice_cstr(aor);
    long at = osec_slice_find(s, '@');

    if (!osec_slice_starts_ci(s, "sip:"))
        return osec_slice_make(NULL, 0);
    return at >= 0 ? osec_slice_sub(s, (size_t)at + 1, s.len) : osec_slice_sub(s, 4, s.len);
}

const struct osec_sip_peer *osec_sip_peer_for_aor(const struct osec_sip_peer *peers, size_t n,
                                                  const char *aor)
{
    struct osec_slice host = aor_host(aor);

    for (size_t i = 0; host.len && i < n; i++)
        for (size_t j = 0; j < peers[i].n_domains; j++)
            if (osec_slice_eq_cstr(host, peers[i].domains[j]))
                return &peers[i];
    return NULL;
}

int osec_sip_policy_aor(struct osec_slice uri, char *out, size_t outlen)
{
    struct osec_sip_uri u;
    struct osec_buf b;
    int rc;

    OSEC_GUARD(osec_sip_uri_parse(uri, &u));
    osec_buf_init(&b, OSEC_SIP_URI_MAX);
    rc = osec_sip_uri_aor(&u, &b);
    if (rc == 0)
        rc = osec_strlcpy(out, osec_buf_cstr(&b), outlen);
    osec_buf_free(&b);
    return rc;
}

static int check_user(const struct osec_sip_db *st, const char *name, const char *aor, char *reason,
                      size_t reasonlen)
{
    char owner[OSEC_STORE_NAME_MAX + 1];
    int rc;

    if (strlen(aor) > OSEC_STORE_URI_MAX) {
        say(reason, reasonlen, "identity not allocated to the user");
        OSEC_BAIL(OSEC_EPERM, "identity too long to be allocated");
    }
    rc = osec_sip_db_owner(st, aor, owner, sizeof(owner));
    if (rc == 0 && strcmp(owner, name) == 0)
        return 0;
    if (rc < 0 && rc != OSEC_ENOTFOUND)
        return rc;
    say(reason, reasonlen, "identity not allocated to the user");
    OSEC_BAIL(OSEC_EPERM, "%s is not allocated to %s", aor, name);
}

static int check_peer(const struct osec_sip_db *st, const struct osec_sip_peer *p, const char *aor,
                      char *reason, size_t reasonlen)
{
    char owner[OSEC_STORE_NAME_MAX + 1];
    int rc;

    if (!p || osec_sip_peer_for_aor(p, 1, aor) != p) {
        say(reason, reasonlen, "identity outside the peer's domains");
        OSEC_BAIL(OSEC_EPERM, "%s is outside the domains of peer %s", aor,
                  p ? p->name : "?");
    }
    rc = strlen(aor) > OSEC_STORE_URI_MAX ? OSEC_ENOTFOUND
                                           : osec_sip_db_owner(st, aor, owner, sizeof(owner));
    if (rc == OSEC_ENOTFOUND)
        return 0;
    OSEC_GUARD(rc);
    say(reason, reasonlen, "identity belongs to a local user");
    OSEC_BAIL(OSEC_EPERM, "peer %s claims %s of a local user", p->name, aor);
}

int osec_sip_policy_identity(const struct osec_sip_db *st, const struct osec_sip_principal *who,
                             struct osec_slice uri, char *aor, size_t aorlen, char *reason,
                             size_t reasonlen)
{
    if (osec_sip_policy_aor(uri, aor, aorlen) < 0) {
        say(reason, reasonlen, "unusable identity");
        OSEC_BAIL(OSEC_EPERM, "identity is not a usable sip/sips/tel URI");
    }
    switch (who->kind) {
    case OSEC_SIP_PRINCIPAL_CORE:
        return 0;
    case OSEC_SIP_PRINCIPAL_USER:
        return check_user(st, who->name, aor, reason, reasonlen);
    case OSEC_SIP_PRINCIPAL_PEER:
        return check_peer(st, who->peer, aor, reason, reasonlen);
    default:
        say(reason, reasonlen, "not authenticated");
        OSEC_BAIL(OSEC_EPERM, "unauthenticated principal");
    }
}

int osec_sip_policy_register(const struct osec_sip_db *st, const struct osec_sip_principal *who,
                             struct osec_slice to_uri, char *aor, size_t aorlen, char *reason,
                             size_t reasonlen)
{
    if (who->kind != OSEC_SIP_PRINCIPAL_USER) {
        say(reason, reasonlen, "only users register");
        OSEC_BAIL(OSEC_EPERM, "registration by a non-user principal");
    }
    return osec_sip_policy_identity(st, who, to_uri, aor, aorlen, reason, reasonlen);
}

bool osec_sip_policy_trusts_pai(const struct osec_sip_principal *who)
{
    return who->kind == OSEC_SIP_PRINCIPAL_CORE ||
           (who->kind == OSEC_SIP_PRINCIPAL_PEER && who->peer && who->peer->trusted);
}

struct first_addr {
    char *out;
    size_t len;
    bool found;
};

static int take_first(const struct osec_store_address *a, void *arg)
{
    struct first_addr *f = arg;

    /* store the canonical form: what P-Asserted-Identity carries */
    if (osec_sip_policy_aor(osec_slice_cstr(a->uri), f->out, f->len) < 0)
        return 0;
    f->found = true;
    return 1;
}

static int default_identity(const struct osec_sip_db *st, const struct osec_sip_principal *who,
                            char *pai, size_t pailen, char *reason, size_t reasonlen)
{
    struct first_addr f = { pai, pailen, false };

    if (who->kind == OSEC_SIP_PRINCIPAL_USER)
        OSEC_GUARD(osec_store_address_list(st->st, who->name, take_first, &f));
    if (f.found)
        return 0;
    say(reason, reasonlen, "no identity to assert");
    OSEC_BAIL(OSEC_EPERM, "anonymous request without an identity of the caller");
}

static bool is_anonymous(struct osec_slice uri)
{
    struct osec_sip_uri u;

    return osec_sip_uri_parse(uri, &u) == 0 && u.scheme != OSEC_SIP_SCHEME_TEL &&
           osec_slice_eq_ci(u.host, ANONYMOUS_HOST);
}

int osec_sip_policy_assert(const struct osec_sip_db *st, const struct osec_sip_principal *who,
                           const struct osec_sip_msg *req, char *pai, size_t pailen,
                           char *reason, size_t reasonlen)
{
    char aor[OSEC_SIP_URI_MAX + 1];
    bool anonymous = is_anonymous(req->from.uri);

    OSEC_ENSURE(who->kind == OSEC_SIP_PRINCIPAL_USER || who->kind == OSEC_SIP_PRINCIPAL_PEER,
                OSEC_EPERM, "no principal to assert for");
    pai[0] = '\0';
    for (size_t i = 0; i < req->n_ppi; i++) {
        OSEC_GUARD(osec_sip_policy_identity(st, who, req->ppi[i].uri, aor, sizeof(aor), reason,
                                            reasonlen));
        if (i == 0)
            OSEC_GUARD(osec_strlcpy(pai, aor, pailen));
    }
    if (!anonymous) {
        OSEC_GUARD(osec_sip_policy_identity(st, who, req->from.uri, aor, sizeof(aor), reason,
                                            reasonlen));
        if (!pai[0])
            OSEC_GUARD(osec_strlcpy(pai, aor, pailen));
    }
    if (pai[0])
        return 0;
    return default_identity(st, who, pai, pailen, reason, reasonlen);
}
