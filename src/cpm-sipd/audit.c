/* Audit events, written by one thread in batches: one transaction (one
 * fsync) per batch instead of one per event keeps a registration storm from
 * waiting on the disk.  The queue is bounded; events that do not fit are
 * counted and reported in the log (and in the next audit record). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"
#include "sipd.h"

#define QUEUE_MAX 8192
#define BATCH_MAX 256

struct item {
    struct item *next;
    struct osec_store_audit a;
};

struct sipd_audit {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct item *head, *tail;
    size_t n;
    unsigned long dropped;
    bool stop;
    struct osec_store *st;
};

static void write_batch(struct sipd_audit *q, struct item *list)
{
    bool tx = osec_store_begin(q->st) == 0;

    for (struct item *it = list; it; it = it->next)
        if (osec_store_audit_add(q->st, &it->a) < 0)
            osec_error("audit.write_failed", "event=%s error=\"%s\"", it->a.event,
                       osec_error_msg());
    if (tx && osec_store_commit(q->st) < 0)
        osec_error("audit.commit_failed", "error=\"%s\"", osec_error_msg());
    while (list) {
        struct item *it = list;

        list = it->next;
        free(it);
    }
}

/* Take up to BATCH_MAX items; NULL when stopping with an empty queue. */
static struct item *take(struct sipd_audit *q, unsigned long *dropped)
{
    struct item *list = NULL, **tail = &list;

    (void)pthread_mutex_lock(&q->lock);
    while (!q->head && !q->stop)
        (void)pthread_cond_wait(&q->cond, &q->lock);
    for (int i = 0; i < BATCH_MAX && q->head; i++) {
        *tail = q->head;
        q->head = q->head->next;
        tail = &(*tail)->next;
        q->n--;
    }
    *tail = NULL;
    if (!q->head)
        q->tail = NULL;
    *dropped = q->dropped;
    q->dropped = 0;
    (void)pthread_mutex_unlock(&q->lock);
    return list;
}

static void *audit_main(void *arg)
{
    struct sipd_audit *q = arg;
    struct item *list;
    unsigned long dropped;

    while ((list = take(q, &dropped)) != NULL || dropped) {
        if (dropped)
            osec_warn("audit.dropped", "events=%lu reason=queue-full", dropped);
        write_batch(q, list);
    }
    return NULL;
}

int sipd_audit_start(struct sipd *srv)
{
    struct sipd_audit *q = calloc(1, sizeof(*q));
    int rc;

    OSEC_ENSURE(q != NULL, OSEC_ENOMEM, "out of memory");
    (void)pthread_mutex_init(&q->lock, NULL);
    (void)pthread_cond_init(&q->cond, NULL);
    OSEC_CHECK(rc, osec_store_open(srv->store_url, &q->st));
    if (pthread_create(&q->thread, NULL, audit_main, q) != 0)
        OSEC_FAIL(rc, OSEC_EINTERNAL, "cannot start the audit thread");
    srv->audit = q;
    return 0;
out:
    osec_store_close(&q->st);
    (void)pthread_cond_destroy(&q->cond);
    (void)pthread_mutex_destroy(&q->lock);
    free(q);
    return rc;
}

void sipd_audit_stop(struct sipd *srv)
{
    struct sipd_audit *q = srv->audit;

    if (!q)
        return;
    (void)pthread_mutex_lock(&q->lock);
    q->stop = true;
    (void)pthread_cond_signal(&q->cond);
    (void)pthread_mutex_unlock(&q->lock);
    (void)pthread_join(q->thread, NULL); /* drains the queue first */
    osec_store_close(&q->st);
    (void)pthread_cond_destroy(&q->cond);
    (void)pthread_mutex_destroy(&q->lock);
    free(q);
    srv->audit = NULL;
}

void sipd_audit(struct sipd *srv, const char *event, const char *actor, const char *subject,
                const char *fmt, ...)
{
    struct sipd_audit *q = srv->audit;
    struct item *it;
    va_list ap;

    if (!q || !(it = calloc(1, sizeof(*it))))
        return;
    it->a.ts = osec_time_now();
    (void)osec_strlcpy(it->a.event, event, sizeof(it->a.event));
    /* truncation of untrusted names is acceptable here: the record survives */
    (void)osec_snprintf(it->a.actor, sizeof(it->a.actor), "%.*s",
                        (int)(sizeof(it->a.actor) - 1), actor ? actor : "");
    (void)osec_snprintf(it->a.subject, sizeof(it->a.subject), "%.*s",
                        (int)(sizeof(it->a.subject) - 1), subject ? subject : "");
    va_start(ap, fmt);
    (void)vsnprintf(it->a.detail, sizeof(it->a.detail), fmt, ap);
    va_end(ap);
    (void)pthread_mutex_lock(&q->lock);
    if (q->n >= QUEUE_MAX || q->stop) {
        q->dropped++;
        free(it);
    } else {
        if (q->tail)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
        q->n++;
        (void)pthread_cond_signal(&q->cond);
    }
    (void)pthread_mutex_unlock(&q->lock);
}
