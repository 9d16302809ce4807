/* pipe.c - a tp_pipe's life (new, close, free), its state queries, flow
 * control waits and flush, and the head-of-stream helpers that the read and
 * write paths share. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* Copy segments hold at least this many bytes and at most the larger size:
 * small enough that a 64 KiB write fills one, large enough that small
 * writes rarely need a new segment. */
#define TP__SEG_MIN 1024
#define TP__SEG_MAX 65536

tp_pipe *tp_pipe_new(size_t bsize, bool rblocking, bool wblocking, double timeout,
                     const char *name)
{
    tp__deadline probe;
    if (tp__deadline_set(&probe, timeout) != 0) {
        errno = EINVAL;
        return NULL;
    }
    tp_pipe *p = tp__malloc(sizeof *p);
    if (p == NULL)
        return NULL;
    memset(p, 0, sizeof *p);
    p->bsize = bsize ? bsize : TP_DEFAULT_BSIZE;
    p->rblocking = rblocking;
    p->wblocking = wblocking;
    p->timeout = timeout;
    if (name != NULL && (p->name = tp__strdup(name)) == NULL)
        goto fail_name;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail_lock;
    if (tp__cond_init(&p->readable) != 0)
        goto fail_readable;
    if (tp__cond_init(&p->writable) != 0)
        goto fail_writable;
    if (tp__cond_init(&p->drained) != 0)
        goto fail_drained;
    return p;

fail_drained:
    pthread_cond_destroy(&p->writable);
fail_writable:
    pthread_cond_destroy(&p->readable);
fail_readable:
    pthread_mutex_destroy(&p->lock);
fail_lock:
    tp__free(p->name);
fail_name:
    tp__free(p);
    errno = ENOMEM;
    return NULL;
}

int tp__pipe_ensure_pool(tp_pipe *p)
{
    if (p->pool != NULL)
        return 0;
    size_t cap = p->bsize;
    if (cap < TP__SEG_MIN)
        cap = TP__SEG_MIN;
    if (cap > TP__SEG_MAX)
        cap = TP__SEG_MAX;
    /* Enough recycled segments to refill a whole buffer, plus slack for the
     * ones readers are still copying out of. */
    p->pool = tp__pool_new(cap, p->bsize / cap + 2);
    return p->pool ? 0 : ENOMEM;
}

/* Unlinks every segment (the pipe is closing or being freed). */
static tp__seg *unlink_all(tp_pipe *p)
{
    tp__seg *garbage = p->head;
    p->head = p->tail = NULL;
    p->consumed += p->buffered;
    p->buffered = 0;
    p->match.scanned = 0;
    p->match.seg = NULL;
    return garbage;
}

void tp_pipe_free(tp_pipe *p)
{
    if (p == NULL)
        return;
    tp__seg_unref_list(unlink_all(p));
    tp__pool_orphan(p->pool);
    pthread_cond_destroy(&p->drained);
    pthread_cond_destroy(&p->writable);
    pthread_cond_destroy(&p->readable);
    pthread_mutex_destroy(&p->lock);
    tp__free(p->name);
    tp__free(p);
}

const char *tp_pipe_name(const tp_pipe *p)
{
    return p ? p->name : NULL;
}

size_t tp_pipe_bsize(const tp_pipe *p)
{
    return p ? p->bsize : 0;
}

double tp_pipe_timeout(const tp_pipe *p)
{
    return p ? p->timeout : TP_FOREVER;
}

/* The blocking flags are plain bools read under the lock by each call; the
 * getters take the lock too so a setter in another thread is seen at once. */
static bool get_flag(const tp_pipe *p, const bool *flag)
{
    if (p == NULL)
        return false;
    tp_pipe *mp = (tp_pipe *)(uintptr_t)p;
    pthread_mutex_lock(&mp->lock);
    bool v = *flag;
    pthread_mutex_unlock(&mp->lock);
    return v;
}

static void set_flag(tp_pipe *p, bool *flag, bool v)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    *flag = v;
    pthread_mutex_unlock(&p->lock);
}

bool tp_pipe_readblocking(const tp_pipe *p)
{
    return p ? get_flag(p, &p->rblocking) : false;
}

void tp_pipe_set_readblocking(tp_pipe *p, bool blocking)
{
    if (p)
        set_flag(p, &p->rblocking, blocking);
}

bool tp_pipe_writeblocking(const tp_pipe *p)
{
    return p ? get_flag(p, &p->wblocking) : false;
}

void tp_pipe_set_writeblocking(tp_pipe *p, bool blocking)
{
    if (p)
        set_flag(p, &p->wblocking, blocking);
}

size_t tp_pipe_buffered(tp_pipe *p)
{
    if (p == NULL)
        return 0;
    pthread_mutex_lock(&p->lock);
    size_t n = p->buffered;
    pthread_mutex_unlock(&p->lock);
    return n;
}

bool tp_pipe_empty(tp_pipe *p)
{
    return tp_pipe_buffered(p) == 0;
}

size_t tp__pipe_room(const tp_pipe *p)
{
    size_t used = p->buffered + p->reserved;
    /* write_ref may overfill, so used can exceed bsize. */
    return used < p->bsize ? p->bsize - used : 0;
}

void tp__pipe_signal_reader(tp_pipe *p)
{
    if (p->rflag != NULL)
        tp_event_set(p->rflag);
}

ssize_t tp_pipe_canwrite(tp_pipe *p)
{
    if (p == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    if (p->eof || p->closed) {
        pthread_mutex_unlock(&p->lock);
        errno = EPIPE;
        return -1;
    }
    size_t room = tp__pipe_room(p);
    if (room == 0 && p->rflag != NULL)
        tp_event_clear(p->rflag);
    pthread_mutex_unlock(&p->lock);
    return room > SSIZE_MAX ? SSIZE_MAX : (ssize_t)room;
}

int tp_pipe_canread(tp_pipe *p)
{
    if (p == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    int r = p->closed ? -1 : (p->buffered > 0 || p->eof);
    pthread_mutex_unlock(&p->lock);
    if (r < 0)
        errno = EPIPE;
    return r;
}

void tp_pipe_set_rflag(tp_pipe *p, tp_event *ev)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->rflag = ev;
    if (p->closed)
        tp__pipe_signal_reader(p);
    pthread_mutex_unlock(&p->lock);
}

int tp__pipe_sleep(tp_pipe *p, pthread_cond_t *cond, unsigned *waiters, const tp__deadline *d)
{
    (*waiters)++;
    int rc = tp__cond_wait(cond, &p->lock, d);
    (*waiters)--;
    return rc;
}

int tp__pipe_wait_readable(tp_pipe *p, bool blocking, const tp__deadline *d)
{
    for (bool timed_out = false;;) {
        if (p->closed) {
            errno = EPIPE;
            return -1;
        }
        if (p->buffered > 0)
            return 1;
        if (p->eof)
            return 0;
        if (!blocking) {
            errno = EAGAIN;
            return -1;
        }
        if (timed_out) {
            errno = ETIMEDOUT;
            return -1;
        }
        timed_out = tp__pipe_sleep(p, &p->readable, &p->rwaiters, d) == ETIMEDOUT;
    }
}

/* Unlinks the drained head segment. A lone copy segment that nobody else
 * holds is kept and rewound instead, so a steady trickle of small writes
 * reuses one buffer. */
static void drop_head(tp_pipe *p, tp__seg **garbage)
{
    tp__seg *s = p->head;
    p->match.seg = NULL;
    if (s == p->tail && !s->is_ref && atomic_load_explicit(&s->refs, memory_order_acquire) == 1) {
        s->start = s->end = 0;
        return;
    }
    p->head = s->next;
    if (p->head == NULL)
        p->tail = NULL;
    s->next = *garbage;
    *garbage = s;
}

void tp__pipe_consume(tp_pipe *p, size_t n, tp__seg **garbage)
{
    bool was_full = tp__pipe_room(p) == 0;
    p->buffered -= n;
    p->consumed += n;
    p->match.scanned = p->match.scanned > n ? p->match.scanned - n : 0;
    p->match.seg = NULL;
    while (n > 0) {
        tp__seg *s = p->head;
        size_t k = TP__MIN(n, s->end - s->start);
        s->start += k;
        n -= k;
        if (s->start == s->end)
            drop_head(p, garbage);
    }
    /* Writers sleep only on a full pipe: wake them on full -> not full. */
    if (p->wwaiters > 0 && was_full && tp__pipe_room(p) > 0)
        pthread_cond_broadcast(&p->writable);
    if (p->fwaiters > 0)
        pthread_cond_broadcast(&p->drained);
}

void tp__pipe_take(tp_pipe *p, void *dst, size_t n, tp__seg **garbage)
{
    char *out = dst;
    size_t left = n;
    for (tp__seg *s = p->head; left > 0; s = s->next) {
        size_t k = TP__MIN(left, s->end - s->start);
        memcpy(out, s->data + s->start, k);
        out += k;
        left -= k;
    }
    tp__pipe_consume(p, n, garbage);
}

int tp_pipe_write_eof(tp_pipe *p)
{
    if (p == NULL) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    if (!p->eof) {
        p->eof = true;
        if (p->rwaiters > 0)
            pthread_cond_broadcast(&p->readable);
        if (p->wwaiters > 0)
            pthread_cond_broadcast(&p->writable);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

bool tp_pipe_eof(tp_pipe *p)
{
    if (p == NULL)
        return false;
    pthread_mutex_lock(&p->lock);
    bool eof = p->eof;
    pthread_mutex_unlock(&p->lock);
    return eof;
}

void tp_pipe_close(tp_pipe *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->closed) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    size_t discarded = p->buffered;
    tp__seg *garbage = unlink_all(p);
    p->closed = p->eof = true;
    pthread_cond_broadcast(&p->readable);
    pthread_cond_broadcast(&p->writable);
    pthread_cond_broadcast(&p->drained);
    tp__pipe_signal_reader(p);
    pthread_mutex_unlock(&p->lock);

    tp__seg_unref_list(garbage);
    if (discarded > 0)
        tp__log(TP_LOG_WARNING, p->name, "closed with %zu unread bytes, discarded", discarded);
}

bool tp_pipe_closed(tp_pipe *p)
{
    if (p == NULL)
        return false;
    pthread_mutex_lock(&p->lock);
    bool closed = p->closed;
    pthread_mutex_unlock(&p->lock);
    return closed;
}

/* ---- waits and flush ---- */

enum wait_kind { WAIT_WRITABLE, WAIT_READABLE, WAIT_DRAINED };

/* 1: the condition holds; 0: not yet; -1/EPIPE: it never will. */
static int wait_state(const tp_pipe *p, enum wait_kind kind)
{
    if (p->closed || (kind == WAIT_WRITABLE && p->eof)) {
        errno = EPIPE;
        return -1;
    }
    switch (kind) {
    case WAIT_WRITABLE:
        return tp__pipe_room(p) > 0;
    case WAIT_READABLE:
        return p->buffered > 0 || p->eof;
    case WAIT_DRAINED:
    default:
        return p->buffered == 0;
    }
}

static int wait_for(tp_pipe *p, enum wait_kind kind, double timeout)
{
    tp__deadline d;
    if (p == NULL || tp__deadline_set(&d, timeout) != 0) {
        errno = EINVAL;
        return -1;
    }
    pthread_cond_t *cond = kind == WAIT_WRITABLE   ? &p->writable
                           : kind == WAIT_READABLE ? &p->readable
                                                   : &p->drained;
    unsigned *waiters = kind == WAIT_WRITABLE   ? &p->wwaiters
                        : kind == WAIT_READABLE ? &p->rwaiters
                                                : &p->fwaiters;
    int rc;
    pthread_mutex_lock(&p->lock);
    for (bool timed_out = false;;) {
        rc = wait_state(p, kind);
        if (rc != 0)
            break;
        if (timed_out) {
            errno = ETIMEDOUT;
            rc = -1;
            break;
        }
        timed_out = tp__pipe_sleep(p, cond, waiters, &d) == ETIMEDOUT;
    }
    pthread_mutex_unlock(&p->lock);
    return rc < 0 ? -1 : 0;
}

int tp_pipe_write_wait(tp_pipe *p, double timeout)
{
    return wait_for(p, WAIT_WRITABLE, timeout);
}

int tp_pipe_read_wait(tp_pipe *p, double timeout)
{
    return wait_for(p, WAIT_READABLE, timeout);
}

int tp_pipe_flush_wait(tp_pipe *p, double timeout)
{
    return wait_for(p, WAIT_DRAINED, timeout);
}

int tp_pipe_flush(tp_pipe *p)
{
    if (p == NULL) {
        errno = EINVAL;
        return -1;
    }
    int err = 0;
    tp__deadline d;
    pthread_mutex_lock(&p->lock);
    tp__deadline_set(&d, p->timeout);
    uint64_t progress = p->consumed;
    for (bool timed_out = false;;) {
        if (p->closed) {
            err = EPIPE;
            break;
        }
        if (p->buffered == 0)
            break;
        if (!p->wblocking) {
            err = EAGAIN;
            break;
        }
        if (p->consumed != progress) {
            /* The reader moved: the idle clock starts again. */
            progress = p->consumed;
            tp__deadline_set(&d, p->timeout);
            timed_out = false;
        }
        if (timed_out) {
            err = ETIMEDOUT;
            break;
        }
        timed_out = tp__pipe_sleep(p, &p->drained, &p->fwaiters, &d) == ETIMEDOUT;
    }
    pthread_mutex_unlock(&p->lock);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}
