/* pipe_write.c - the write side of a tp_pipe: copying writes (small ones
 * under the lock, large ones copied outside it into private segments) and
 * zero-copy write_ref. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* Writes up to this size are copied while holding the lock; larger ones
 * reserve room, copy unlocked so a reader can drain in parallel, then link. */
#define TP__COPY_LOCKED_MAX 4096

/* Waits until the pipe has room. Returns the room (> 0), or -1 with
 * errno EPIPE, EAGAIN or ETIMEDOUT. Called and returns locked. */
static ssize_t wait_room(tp_pipe *p, const tp__deadline *d)
{
    for (bool timed_out = false;;) {
        if (p->closed || p->eof) {
            errno = EPIPE;
            return -1;
        }
        size_t room = tp__pipe_room(p);
        if (room > 0)
            return room > SSIZE_MAX ? SSIZE_MAX : (ssize_t)room;
        if (!p->wblocking) {
            errno = EAGAIN;
            return -1;
        }
        if (timed_out) {
            errno = ETIMEDOUT;
            return -1;
        }
        timed_out = tp__pipe_sleep(p, &p->writable, &p->wwaiters, d) == ETIMEDOUT;
    }
}

/* Makes `published` bytes readable and wakes readers that sleep. */
static void publish(tp_pipe *p, size_t n)
{
    p->buffered += n;
    p->published += n;
    if (p->rwaiters > 0)
        pthread_cond_broadcast(&p->readable);
}

/* Appends a chain [first..last] after the tail. A drained tail left
 * behind for reuse is dropped first so the head always holds data. */
static void link_chain(tp_pipe *p, tp__seg *first, tp__seg *last, tp__seg **garbage)
{
    if (p->tail != NULL && p->tail->start == p->tail->end) {
        /* Drained and rewound: it is the only segment. */
        p->tail->next = *garbage;
        *garbage = p->tail;
        p->head = p->tail = NULL;
        p->match.seg = NULL;
    }
    if (p->tail != NULL)
        p->tail->next = first;
    else
        p->head = first;
    p->tail = last;
}

/* Copies buf[0, n) into the tail under the lock, adding segments as it
 * fills. Returns the bytes copied (fewer than n only on ENOMEM). */
static size_t append_locked(tp_pipe *p, const char *buf, size_t n, tp__seg **garbage)
{
    size_t done = 0;
    while (done < n) {
        tp__seg *t = p->tail;
        if (t == NULL || t->is_ref || t->end == t->cap) {
            tp__seg *s = tp__seg_new_copy(p->pool);
            if (s == NULL)
                break;
            link_chain(p, s, s, garbage);
            t = s;
        }
        size_t k = TP__MIN(n - done, t->cap - t->end);
        memcpy(t->data + t->end, buf + done, k);
        t->end += k;
        done += k;
    }
    return done;
}

/* Copies buf[0, n) into fresh segments; NULL/ENOMEM (nothing kept). */
static tp__seg *copy_to_chain(tp__pool *pool, const char *buf, size_t n, tp__seg **last)
{
    tp__seg *first = NULL, *tail = NULL;
    for (size_t done = 0; done < n;) {
        tp__seg *s = tp__seg_new_copy(pool);
        if (s == NULL) {
            tp__seg_unref_list(first);
            errno = ENOMEM;
            return NULL;
        }
        size_t k = TP__MIN(n - done, s->cap);
        memcpy(s->data, buf + done, k);
        s->end = k;
        done += k;
        if (tail != NULL)
            tail->next = s;
        else
            first = s;
        tail = s;
    }
    *last = tail;
    return first;
}

/* The unlocked part of a large write: the room is already reserved. */
static ssize_t write_reserved(tp_pipe *p, const char *buf, size_t k)
{
    tp__seg *last = NULL;
    tp__seg *first = copy_to_chain(p->pool, buf, k, &last);
    int err = first ? 0 : ENOMEM;
    tp__seg *garbage = NULL;

    pthread_mutex_lock(&p->lock);
    p->reserved -= k;
    if (err == 0 && (p->closed || p->eof)) {
        /* The reader closed (or EOF was written) while we copied. */
        err = EPIPE;
        garbage = first;
    } else if (err == 0) {
        link_chain(p, first, last, &garbage);
        publish(p, k);
    }
    if (err != 0 && p->wwaiters > 0)
        pthread_cond_broadcast(&p->writable); /* the reservation is free again */
    pthread_mutex_unlock(&p->lock);

    tp__seg_unref_list(garbage);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return (ssize_t)k;
}

/* A zero-length write never waits: it fails only after EOF or close, and
 * write_ref's release runs at once since the pipe keeps nothing. */
static ssize_t zero_write(tp_pipe *p, tp_release_fn release, void *ctx)
{
    pthread_mutex_lock(&p->lock);
    bool ended = p->closed || p->eof;
    pthread_mutex_unlock(&p->lock);
    if (ended) {
        errno = EPIPE;
        return -1;
    }
    if (release != NULL)
        release(ctx);
    return 0;
}

ssize_t tp_pipe_write(tp_pipe *p, const void *buf, size_t n)
{
    if (p == NULL || (buf == NULL && n > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return zero_write(p, NULL, NULL);
    tp__deadline d;
    tp__seg *garbage = NULL;
    pthread_mutex_lock(&p->lock);
    tp__deadline_set(&d, p->timeout);
    ssize_t room = wait_room(p, &d);
    if (room < 0 || tp__pipe_ensure_pool(p) != 0) {
        int err = room < 0 ? errno : ENOMEM;
        pthread_mutex_unlock(&p->lock);
        errno = err;
        return -1;
    }
    size_t k = TP__MIN(n, (size_t)room);
    if (k > TP__COPY_LOCKED_MAX) {
        p->reserved += k;
        pthread_mutex_unlock(&p->lock);
        return write_reserved(p, buf, k);
    }
    size_t done = append_locked(p, buf, k, &garbage);
    if (done > 0)
        publish(p, done);
    pthread_mutex_unlock(&p->lock);
    tp__seg_unref_list(garbage);
    if (done == 0) {
        errno = ENOMEM;
        return -1;
    }
    return (ssize_t)done;
}

ssize_t tp_pipe_write_ref(tp_pipe *p, const void *buf, size_t n, tp_release_fn release, void *ctx)
{
    if (p == NULL || (buf == NULL && n > 0) || n > SSIZE_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (n == 0)
        return zero_write(p, release, ctx);
    tp__deadline d;
    tp__seg *garbage = NULL;
    pthread_mutex_lock(&p->lock);
    tp__deadline_set(&d, p->timeout);
    ssize_t room = wait_room(p, &d);
    int err = room < 0 ? errno : tp__pipe_ensure_pool(p);
    tp__seg *s = err == 0 ? tp__seg_new_ref(p->pool, buf, n, release, ctx) : NULL;
    if (s == NULL) {
        if (err == 0)
            err = ENOMEM;
        pthread_mutex_unlock(&p->lock);
        errno = err;
        return -1;
    }
    link_chain(p, s, s, &garbage);
    publish(p, n);
    pthread_mutex_unlock(&p->lock);
    tp__seg_unref_list(garbage);
    return (ssize_t)n;
}
