/* cpm-msgstored: the CPM Message Storage Server (IMAP4rev1 + ACL + TLS/PSK). */
#ifndef CPM_MSGSTORED_H
#define CPM_MSGSTORED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "omasec/buf.h"
#include "omasec/credcache.h"
#include "omasec/imap.h"
#include "omasec/imap_acl.h"
#include "omasec/metrics.h"
#include "omasec/msgpolicy.h"
#include "omasec/net.h"
#include "omasec/ratelimit.h"
#include "omasec/seal.h"
#include "omasec/store.h"

#define MS_PATH_MAX 4200
#define MS_TAG_MAX 128
#define MS_OUT_FLUSH (256 * 1024)     /* flush the response buffer past this */
#define MS_PREAUTH_MAX (16 * 1024)    /* bytes an unauthenticated client may queue */
#define MS_OTHER_PREFIX "Other Users/" /* RFC 2342 other users' namespace */
#define MS_META_CERT "/private/vendor/omasec/smime-certificate"
#define MS_META_PROTECT "/private/vendor/omasec/message-protection"

struct ms_listener {
    bool on;
    bool tls;                  /* implicit TLS (imaps) */
    char host[64];
    uint16_t port;
    struct osec_net_server *net;
};

/* The command line: it overrides the configuration file, at start and at
 * every reload. */
struct ms_opts {
    const char *listen[2];
    int nlisten;
    const char *store, *log_level, *metrics;
    int workers;
    bool check;
};

struct ms {
    /* command line and configuration */
    const char *data;
    const char *config_path;
    char store_url[MS_PATH_MAX];
    char master_path[MS_PATH_MAX];
    char cert[MS_PATH_MAX], key[MS_PATH_MAX], ca[MS_PATH_MAX];
    struct ms_listener imap, imaps;
    int workers;
    /* read by the workers, changed by a reload (SIGHUP): atomic */
    _Atomic enum osec_tls_policy tls_policy;
    bool psk;                  /* TLS-PSK: identity = entity id, principal = its user */
    bool client_certs;         /* ask for client certificates (SASL EXTERNAL) */
    atomic_bool psk_preauth;   /* implicit TLS + PSK: greet with PREAUTH */
    bool smime;                /* provider allows S/MIME message protection */
    bool cpm_layout;           /* default folders + CPM folder rules */
    unsigned handshake_ms, request_ms, idle_ms;
    atomic_uint idle_poll_ms;
    /* lim: as at start (sizes the worker buffers); max_literal/max_line: the
     * limits in force, at most those of lim (lowered by a reload) */
    struct osec_imap_limits lim;
    _Atomic uint64_t max_literal;
    _Atomic size_t max_line;
    unsigned auth_cache_ttl;   /* seconds; 0: off */
    char metrics_addr[80];     /* "": no metrics listener */
    const struct ms_opts *opts;
    bool has_log_level;
    int log_level;             /* enum osec_log_level, when has_log_level */
    /* shared state */
    struct osec_master *m;
    struct osec_ratelimit *rl;
    struct osec_credcache *cache;
    struct ms_committer *commit; /* group commit of APPENDs (commit.c) */
    SSL_CTX *ssl;              /* STARTTLS and imaps; swapped by a reload under ctx_mu */
    pthread_mutex_t ctx_mu;
    struct osec_metrics *metrics;
    X509 *sign_cert;           /* signs S/MIME-protected messages */
    EVP_PKEY *sign_key;
    atomic_bool reload;
};

struct ms_job;

/* Per worker thread: its store handle and parse storage. */
struct ms_worker {
    struct ms *srv;
    struct osec_store *st;
    struct event *notify;      /* fired by the committer: APPENDs done */
    pthread_mutex_t mu;        /* guards done */
    bool mu_ok;
    struct ms_job *done;
    struct osec_imap_cmd cmd;
    struct osec_imap_limits lim; /* this worker's copy of the limits in force */
    struct osec_imap_arg *nodes;
    uint8_t *arena;
    struct osec_buf out;       /* responses of the command being handled */
    struct osec_buf tmp;       /* unsealed message text */
    struct osec_buf tmp2;      /* built sections, protected messages */
};

enum ms_state { MS_NOAUTH = 0, MS_AUTH, MS_SELECTED, MS_LOGOUT };
enum ms_mode { MS_CMD = 0, MS_SASL, MS_IDLE };

struct ms_selected {
    struct osec_store_mailbox mb;
    char display[OSEC_STORE_MAILBOX_MAX + 1]; /* name as the user sees it */
    uint32_t rights;
    bool readonly;
    bool examined;             /* EXAMINE (read-only by request, not by rights) */
    uint32_t *uids;            /* sequence number n -> uids[n - 1] */
    size_t n, cap;
    uint64_t modseq;           /* last mod-sequence the session reported */
    uint32_t uidnext;
};

struct ms_session {
    struct ms_worker *w;
    struct osec_net_conn *c;
    bool implicit_tls;
    bool tls_done;             /* STARTTLS happened */
    bool hs_counted;           /* its handshake is in the metrics */
    SSL_CTX *starttls_ctx;     /* a reference for the STARTTLS handshake */
    enum ms_state state;
    enum ms_mode mode;
    struct osec_imap_scan scan;
    char tag[MS_TAG_MAX + 1];  /* of the pending AUTHENTICATE / IDLE */
    int sasl_mech;             /* pending AUTHENTICATE mechanism */
    char user[OSEC_STORE_NAME_MAX + 1];
    uint32_t user_flags;
    enum osec_msgauth how;
    bool condstore;
    bool protect;              /* S/MIME-protect fetched messages */
    bool protect_blocked;      /* asked for, but cannot be applied: serve no text */
    X509 *protect_cert;
    struct ms_selected sel;
    bool inflight;             /* an APPEND is with the committer: paused */
    bool orphan;               /* closed meanwhile: the committer's answer frees it */
};

/* An APPEND on its way through the committer. */
struct ms_job {
    struct ms_job *next;
    struct ms_session *s;
    struct ms_worker *w;
    struct osec_store_mailbox mb;
    struct osec_store_msg m;   /* flags, keywords, internal date in; UID out */
    uint8_t *msg;              /* a copy of the literal */
    size_t len;
    int rc;
    uint32_t uid;
};

/* What a handler got: the parsed command and a place to answer. */
struct ms_req {
    struct ms_session *s;
    const struct osec_imap_cmd *cmd;
    struct osec_buf *out;
};

/* metrics.c */
enum ms_mech { MS_MECH_LOGIN = 0, MS_MECH_PLAIN, MS_MECH_EXTERNAL, MS_MECH_PSK, MS_MECH_N };
enum ms_login {
    MS_LOGIN_OK = 0, MS_LOGIN_CREDENTIALS, MS_LOGIN_RATE_LIMITED, MS_LOGIN_TLS_REQUIRED,
    MS_LOGIN_DENIED, MS_LOGIN_MALFORMED, MS_LOGIN_N
};
enum ms_hs { MS_HS_STARTTLS = 0, MS_HS_IMAPS, MS_HS_PSK, MS_HS_N };

/* All NULL (and so free) without --metrics. */
struct ms_metrics {
    struct osec_metric *commands[OSEC_IMAP_CMD_COUNT_]; /* [UNKNOWN]: "other" */
    struct osec_metric *responses[3];                   /* OK, NO, BAD */
    struct osec_metric *logins[MS_MECH_N][MS_LOGIN_N];
    struct osec_metric *hs[MS_HS_N];
    struct osec_metric *conns;
    struct osec_metric *acl_denied, *integrity;
    struct osec_metric *appends[2];                     /* ok, failed */
    struct osec_metric *batches, *smime;
    struct osec_metric *latency;
    struct osec_metric *reload_ok, *reload_failed;
};
extern struct ms_metrics ms_m;
int ms_metrics_init(struct osec_metrics *r);
void ms_metric_status(enum osec_imap_status st);
void ms_metric_command(enum osec_imap_cmd_name n);
void ms_metric_login(enum ms_mech mech, enum ms_login result);

/* main.c */
struct osec_config;
/* Read the configuration (cfg may be NULL) and the command line into srv;
 * nothing is applied to the process (log level, TLS). */
int ms_config_read(struct ms *srv, const struct osec_config *cfg, const struct ms_opts *o,
                   struct osec_ratelimit_config *rl);
/* A server context for the certificates and options of cfg; PSK lookups go
 * to run (the running server). */
SSL_CTX *ms_tls_ctx(struct ms *run, const struct ms *cfg);
/* A reference to the TLS context in force (SSL_CTX_free it). */
SSL_CTX *ms_ssl_ref(struct ms *srv);

/* reload.c: SIGHUP */
void ms_reload(void *arg);

/* conn.c */
extern const struct osec_net_handlers ms_handlers_plain;
extern const struct osec_net_handlers ms_handlers_tls;
struct ms_worker *ms_current_worker(void);
bool ms_tls(struct ms_session *s);
void ms_tagged(struct ms_req *r, enum osec_imap_status st, const char *code, const char *text);
const char *ms_fail_code(void);
void ms_untagged(struct ms_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ms_flush(struct ms_session *s, struct osec_buf *out);
int ms_capability(struct ms_session *s, struct osec_buf *out);
void ms_audit(struct ms_session *s, const char *event, const char *subject, const char *detail);

/* auth.c */
void ms_cmd_starttls(struct ms_req *r);
void ms_cmd_login(struct ms_req *r);
void ms_cmd_authenticate(struct ms_req *r);
int ms_sasl_line(struct ms_session *s, const uint8_t *data, size_t len, struct osec_buf *out);
int ms_psk_preauth(struct ms_session *s);
int ms_psk_lookup(void *arg, const char *identity, uint8_t *psk, size_t psk_max,
                  size_t *psk_len);

/* mbox.c: names, namespaces, mailbox commands */
struct ms_ref {
    char owner[OSEC_STORE_NAME_MAX + 1];
    char name[OSEC_STORE_MAILBOX_MAX + 1];       /* owner-relative */
    char display[OSEC_STORE_MAILBOX_MAX + 1];    /* as the user sees it */
};
int ms_resolve(struct ms_session *s, struct osec_slice raw, struct ms_ref *ref);
/* Open a mailbox for op: 0 with mb and rights, or the tagged NO already
 * written (and the denial audited). */
int ms_open(struct ms_req *r, struct osec_slice raw, enum osec_imap_acl_op op,
            struct ms_ref *ref, struct osec_store_mailbox *mb, uint32_t *rights);
int ms_default_folders(struct ms_session *s);
uint32_t ms_uidvalidity(void);
void ms_cmd_create(struct ms_req *r);
void ms_cmd_delete(struct ms_req *r);
void ms_cmd_rename(struct ms_req *r);
void ms_cmd_subscribe(struct ms_req *r, bool on);
void ms_cmd_list(struct ms_req *r, bool lsub);
void ms_cmd_status(struct ms_req *r);
void ms_cmd_namespace(struct ms_req *r);

/* select.c */
void ms_cmd_select(struct ms_req *r, bool examine);
void ms_cmd_close(struct ms_req *r, bool expunge);
void ms_cmd_expunge(struct ms_req *r, bool uid);
void ms_cmd_noop(struct ms_req *r);
void ms_cmd_idle(struct ms_req *r);
int ms_idle_line(struct ms_session *s, const uint8_t *data, size_t len, struct osec_buf *out);
int ms_idle_tick(struct ms_session *s, struct osec_buf *out);
/* Report changes of the selected mailbox (EXISTS, FETCH FLAGS and, when
 * allowed, EXPUNGE). */
int ms_sync(struct ms_session *s, struct osec_buf *out, bool expunge_ok);
void ms_unselect(struct ms_session *s);
/* Re-read the user's rights on the selected mailbox (an ACL may change
 * while it is selected) and check op: 0, or the NO written and audited. */
int ms_sel_check(struct ms_req *r, enum osec_imap_acl_op op);
/* Sequence number of uid (0 if not in the session's view). */
uint32_t ms_seq_of(const struct ms_selected *sel, uint32_t uid);

/* fetch.c */
void ms_cmd_fetch(struct ms_req *r);
void ms_cmd_store(struct ms_req *r);
void ms_cmd_search(struct ms_req *r);
/* Walk a sequence set (uid: UID set) as UID ranges of the session view. */
typedef int (*ms_range_fn)(uint32_t lo, uint32_t hi, void *arg);
int ms_seqset_uids(const struct ms_selected *sel, struct osec_slice set, bool uid,
                   ms_range_fn fn, void *arg);
int ms_keywords_parse(const char *kw, struct osec_imap_flags *f);
int ms_keywords_join(const struct osec_imap_flags *f, char *out, size_t outlen);
/* Unseal a stored message into out; EINTEGRITY is logged and audited. */
int ms_unseal(struct ms_session *s, const struct osec_store_mailbox *mb,
              const struct osec_store_msg *m, struct osec_buf *out);

/* commit.c */
struct ms_committer;
int ms_committer_start(struct ms *srv, struct ms_committer **out);
void ms_committer_stop(struct ms_committer **c);
void ms_committer_submit(struct ms_committer *c, struct ms_job *j);
void ms_job_free(struct ms_job *j);
int ms_worker_notify_init(struct ms_worker *w);
void ms_worker_notify_free(struct ms_worker *w);
void ms_session_free(struct ms_session *s);

/* append.c */
void ms_cmd_append(struct ms_req *r);
void ms_cmd_copy(struct ms_req *r);

/* acl.c */
void ms_cmd_acl(struct ms_req *r);
void ms_cmd_getmetadata(struct ms_req *r);
void ms_cmd_setmetadata(struct ms_req *r);
int ms_protect_setup(struct ms_session *s);

#endif
