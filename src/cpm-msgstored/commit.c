/* cpm-msgstored: group commit of APPENDs.
 *
 * Every APPEND must be durable before it is acknowledged (synchronous=FULL:
 * an fsync per commit).  Instead of one transaction per APPEND on each
 * worker (the workers' connections then queue for SQLite's write lock and
 * pay one fsync each), the workers hand APPENDs to one committer thread,
 * which takes everything queued, stores it in one transaction (each APPEND
 * in a savepoint of its own, so one failure fails only that APPEND), pays
 * one fsync, and posts the results back to the workers, which only then
 * answer.  An acknowledged APPEND is exactly as durable as before; only the
 * fsync is shared.  The connection is paused meanwhile, so pipelined
 * commands behind an APPEND wait for its answer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "msgstored.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/mail.h"

#define BATCH_MAX 512

struct ms_committer {
    struct ms *srv;
    struct osec_store *st;
    struct osec_buf sealed;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ms_job *head, *tail;
    bool stop;
};

/* ---- committer thread ------------------------------------------------------------ */

static void post(struct ms_job *j)
{
    struct ms_worker *w = j->w;

    (void)pthread_mutex_lock(&w->mu);
    j->next = w->done;
    w->done = j;
    (void)pthread_mutex_unlock(&w->mu);
    event_active(w->notify, EV_TIMEOUT, 0);
}

static int store_one(struct ms_committer *c, struct ms_job *j)
{
    struct osec_store_msg *m = &j->m;

    OSEC_GUARD(osec_store_msg_next_uid(c->st, j->mb.id, &m->uid, &m->modseq));
    osec_buf_reset(&c->sealed);
    OSEC_GUARD(osec_mail_seal(c->srv->m, j->mb.owner, j->mb.id, m->uid, j->msg, j->len,
                              &c->sealed));
    m->mailbox_id = j->mb.id;
    m->size = j->len;
    m->body.data = c->sealed.data;
    m->body.len = c->sealed.len;
    OSEC_GUARD(osec_store_msg_insert(c->st, m));
    j->uid = m->uid;
    return 0;
}

static void run_batch(struct ms_committer *c, struct ms_job *batch)
{
    int rc = osec_store_begin(c->st);

    for (struct ms_job *j = batch; j && rc == 0; j = j->next) {
        j->rc = osec_store_begin(c->st); /* a savepoint per APPEND */
        if (j->rc == 0) {
            j->rc = store_one(c, j);
            if (j->rc == 0)
                j->rc = osec_store_commit(c->st);
            else
                (void)osec_store_rollback(c->st); /* this one only */
        }
        /* No savepoint, no rollback: that would end the batch's own
         * transaction, and the batch would then "commit" without one. */
        if (j->rc < 0)
            osec_error("imap.append_failed", "owner=%s error=\"%s\"", j->mb.owner,
                       osec_error_msg());
    }
    if (rc == 0)
        rc = osec_store_commit(c->st); /* the one fsync of the batch */
    if (rc == 0)
        osec_metric_inc(ms_m.batches);
    else
        osec_error("imap.append_failed", "error=\"%s\"", osec_error_msg());
    for (struct ms_job *j = batch, *next; j; j = next) {
        next = j->next;
        if (rc < 0)
            j->rc = rc;
        osec_metric_inc(ms_m.appends[j->rc < 0 ? 1 : 0]);
        post(j);
    }
}

static struct ms_job *take(struct ms_committer *c)
{
    struct ms_job *batch = NULL, **tail = &batch;
    int n = 0;

    (void)pthread_mutex_lock(&c->mu);
    while (!c->head && !c->stop)
        (void)pthread_cond_wait(&c->cv, &c->mu);
    while (c->head && n++ < BATCH_MAX) {
        *tail = c->head;
        c->head = c->head->next;
        tail = &(*tail)->next;
    }
    *tail = NULL;
    if (!c->head)
        c->tail = NULL;
    (void)pthread_mutex_unlock(&c->mu);
    return batch;
}

/* The batch ordered by mailbox, arrival order kept within one.  Each
 * APPEND locks its mailbox's row until the batch commits; instances sharing
 * a PostgreSQL store that took two mailboxes' locks in opposite orders
 * would deadlock (and the database would fail one APPEND to break it). */
static struct ms_job *by_mailbox(struct ms_job *batch)
{
    struct ms_job *sorted = NULL;

    while (batch) {
        struct ms_job *j = batch, **at = &sorted;

        batch = batch->next;
        while (*at && (*at)->mb.id <= j->mb.id)
            at = &(*at)->next;
        j->next = *at;
        *at = j;
    }
    return sorted;
}

static void *committer_main(void *arg)
{
    struct ms_committer *c = arg;
    struct ms_job *batch;

    while ((batch = take(c)) != NULL)
        run_batch(c, by_mailbox(batch));
    return NULL;
}

int ms_committer_start(struct ms *srv, struct ms_committer **out)
{
    struct ms_committer *c = calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    OSEC_ENSURE(c != NULL, OSEC_ENOMEM, "out of memory");
    c->srv = srv;
    osec_buf_init(&c->sealed, (size_t)srv->lim.max_literal + 4096);
    OSEC_CHECK(rc, osec_store_open(srv->store_url, &c->st));
    if (pthread_mutex_init(&c->mu, NULL) != 0 || pthread_cond_init(&c->cv, NULL) != 0)
        OSEC_FAIL(rc, OSEC_EINTERNAL, "cannot initialise the committer");
    if (pthread_create(&c->th, NULL, committer_main, c) != 0)
        OSEC_FAIL(rc, OSEC_EINTERNAL, "cannot start the committer thread");
    *out = c;
    return 0;
out:
    osec_store_close(&c->st);
    osec_buf_free(&c->sealed);
    free(c);
    return rc;
}

/* Finishes what is queued (answers go to the workers' lists), then stops. */
void ms_committer_stop(struct ms_committer **pc)
{
    struct ms_committer *c = *pc;

    if (!c)
        return;
    (void)pthread_mutex_lock(&c->mu);
    c->stop = true;
    (void)pthread_cond_signal(&c->cv);
    (void)pthread_mutex_unlock(&c->mu);
    (void)pthread_join(c->th, NULL);
    (void)pthread_mutex_destroy(&c->mu);
    (void)pthread_cond_destroy(&c->cv);
    osec_store_close(&c->st);
    osec_buf_free(&c->sealed);
    free(c);
    *pc = NULL;
}

void ms_committer_submit(struct ms_committer *c, struct ms_job *j)
{
    j->next = NULL;
    (void)pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = j;
    else
        c->head = j;
    c->tail = j;
    (void)pthread_cond_signal(&c->cv);
    (void)pthread_mutex_unlock(&c->mu);
}

/* ---- worker side ----------------------------------------------------------------- */

void ms_job_free(struct ms_job *j)
{
    if (j) {
        free(j->msg);
        free(j);
    }
}

static void answer(struct ms_job *j)
{
    struct ms_session *s = j->s;
    struct osec_buf *out = &s->w->out;
    char code[64];

    osec_buf_reset(out);
    ms_metric_status(j->rc < 0 ? OSEC_IMAP_NO : OSEC_IMAP_OK);
    if (j->rc < 0) {
        (void)osec_imap_write_tagged(out, osec_slice_cstr(s->tag), OSEC_IMAP_NO,
                                     j->rc == OSEC_ESTORE ? "UNAVAILABLE" : "SERVERBUG",
                                     "APPEND failed");
    } else {
        if (s->state == MS_SELECTED && s->sel.mb.id == j->mb.id)
            (void)ms_sync(s, out, true);
        (void)osec_snprintf(code, sizeof(code), "APPENDUID %u %u", j->mb.uidvalidity, j->uid);
        (void)osec_imap_write_tagged(out, osec_slice_cstr(s->tag), OSEC_IMAP_OK, code,
                                     "APPEND completed");
    }
    (void)ms_flush(s, out);
}

/* Event on the worker's base, fired by the committer: answer and go on. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct ms_worker *w = arg;
    struct ms_job *list;

    (void)fd;
    (void)what;
    (void)pthread_mutex_lock(&w->mu);
    list = w->done;
    w->done = NULL;
    (void)pthread_mutex_unlock(&w->mu);
    for (struct ms_job *j = list, *next; j; j = next) {
        struct ms_session *s = j->s;

        next = j->next;
        s->inflight = false;
        if (s->orphan) { /* the client went away meanwhile */
            ms_session_free(s);
        } else {
            answer(j);
            osec_net_conn_resume(s->c); /* may close c: s not used after this */
        }
        ms_job_free(j);
    }
}

int ms_worker_notify_init(struct ms_worker *w)
{
    struct event_base *base = osec_net_worker_base();

    OSEC_ENSURE(base != NULL, OSEC_EINTERNAL, "no worker event base");
    OSEC_ENSURE(pthread_mutex_init(&w->mu, NULL) == 0, OSEC_EINTERNAL, "mutex");
    w->mu_ok = true;
    w->notify = event_new(base, -1, 0, on_done, w);
    OSEC_ENSURE(w->notify != NULL, OSEC_ENOMEM, "out of memory");
    return 0;
}

/* At shutdown, after every connection closed: what the committer posted
 * that no event delivered any more. */
void ms_worker_notify_free(struct ms_worker *w)
{
    struct ms_job *list;

    if (w->notify)
        event_free(w->notify);
    w->notify = NULL;
    if (!w->mu_ok)
        return;
    list = w->done;
    w->done = NULL;
    for (struct ms_job *j = list, *next; j; j = next) {
        next = j->next;
        if (j->s->orphan)
            ms_session_free(j->s);
        ms_job_free(j);
    }
    (void)pthread_mutex_destroy(&w->mu);
    w->mu_ok = false;
}
