/* wrapper.c - tp_wrapper: buffers the head of any readable source so that a
 * short source becomes seekable and a long one can still be peeked at. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct tp_wrapper {
    pthread_mutex_t lock; /* serialises every call on the wrapper */
    tp_read_fn read;
    void *ctx;
    void *owned_ctx; /* source state the wrapper frees (ready-made sources) */
    char *buf;       /* the first `len` bytes of the source */
    size_t len;
    off_t pos;       /* read position; past len only when seekable */
    bool overflow;   /* the source did not end within the buffer */
    int pending_err; /* a source error met while buffering, not yet reported */
};

/* Reads the source until EOF, a full buffer, a block or an error. */
static void fill(tp_wrapper *w, size_t cap)
{
    while (w->len < cap) {
        ssize_t r = w->read(w->ctx, w->buf + w->len, cap - w->len);
        if (r == 0)
            return; /* EOF within the buffer: seekable */
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (size_t)r > cap - w->len) {
            /* A blocked source only means "more may come"; any other error
             * (or a source claiming more than it was asked for) is reported
             * where the buffered bytes end. */
            w->overflow = true;
            if (r > 0 || !tp_io_blocked(errno))
                w->pending_err = r > 0 ? EIO : errno;
            return;
        }
        w->len += (size_t)r;
    }
    w->overflow = true; /* exactly full: the source may go on */
}

tp_wrapper *tp__wrapper_new_owning(tp_read_fn read, void *ctx, size_t buffsize, void *owned);

tp_wrapper *tp__wrapper_new_owning(tp_read_fn read, void *ctx, size_t buffsize, void *owned)
{
    if (read == NULL) {
        tp__free(owned);
        errno = EINVAL;
        return NULL;
    }
    size_t cap = buffsize ? buffsize : TP_DEFAULT_BSIZE;
    tp_wrapper *w = tp__malloc(sizeof *w);
    char *buf = (w != NULL && cap <= SSIZE_MAX) ? tp__malloc(cap) : NULL;
    if (buf == NULL || pthread_mutex_init(&w->lock, NULL) != 0) {
        tp__free(buf);
        tp__free(w);
        tp__free(owned);
        errno = ENOMEM;
        return NULL;
    }
    *w = (tp_wrapper){.read = read, .ctx = ctx, .owned_ctx = owned, .buf = buf};
    pthread_mutex_init(&w->lock, NULL);
    int saved = errno;
    fill(w, cap);
    errno = saved;
    return w;
}

tp_wrapper *tp_wrapper_new(tp_read_fn read, void *ctx, size_t buffsize)
{
    return tp__wrapper_new_owning(read, ctx, buffsize, NULL);
}

void tp_wrapper_free(tp_wrapper *w)
{
    if (w == NULL)
        return;
    pthread_mutex_destroy(&w->lock);
    tp__free(w->buf);
    tp__free(w->owned_ctx);
    tp__free(w);
}

bool tp_wrapper_seekable(tp_wrapper *w)
{
    return w != NULL && !w->overflow;
}

off_t tp_wrapper_length(tp_wrapper *w)
{
    return (w == NULL || w->overflow) ? -1 : (off_t)w->len;
}

/* EINVAL for NULL, ESPIPE when overflowed; 0 if seeking is allowed. */
static int seek_check(const tp_wrapper *w)
{
    if (w == NULL)
        return EINVAL;
    return w->overflow ? ESPIPE : 0;
}

off_t tp_wrapper_tell(tp_wrapper *w)
{
    int err = seek_check(w);
    if (err != 0) {
        errno = err;
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    off_t pos = w->pos;
    pthread_mutex_unlock(&w->lock);
    return pos;
}

off_t tp_wrapper_seek(tp_wrapper *w, off_t off, int whence)
{
    int err = seek_check(w);
    if (err != 0) {
        errno = err;
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? w->pos : (off_t)w->len;
    off_t target;
    if ((whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) ||
        __builtin_add_overflow(base, off, &target) || target < 0) {
        pthread_mutex_unlock(&w->lock);
        errno = EINVAL;
        return -1;
    }
    w->pos = target;
    pthread_mutex_unlock(&w->lock);
    return target;
}

/* Bytes of the buffer at the current position (0 past the buffered part). */
static size_t buffered_ahead(const tp_wrapper *w)
{
    return (size_t)w->pos < w->len ? w->len - (size_t)w->pos : 0;
}

ssize_t tp_wrapper_read(tp_wrapper *w, void *buf, size_t n)
{
    if (w == NULL || (buf == NULL && n > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    ssize_t r;
    pthread_mutex_lock(&w->lock);
    size_t ahead = buffered_ahead(w);
    if (n == 0) {
        r = 0;
    } else if (ahead > 0) {
        size_t k = TP__MIN(n, ahead);
        memcpy(buf, w->buf + w->pos, k);
        w->pos += (off_t)k;
        r = (ssize_t)k;
    } else if (!w->overflow) {
        r = 0;
    } else if (w->pending_err != 0) {
        /* Reported once; later reads ask the source again. */
        errno = w->pending_err;
        w->pending_err = 0;
        r = -1;
    } else {
        r = w->read(w->ctx, buf, n);
        if (r > (ssize_t)n) {
            /* A source claiming more than it was asked for is broken; do
             * not hand the caller a count larger than its buffer. */
            errno = EIO;
            r = -1;
        }
    }
    int err = errno;
    pthread_mutex_unlock(&w->lock);
    errno = err;
    return r;
}

ssize_t tp_wrapper_peek(tp_wrapper *w, void *buf, size_t n)
{
    if (w == NULL || (buf == NULL && n > 0)) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    size_t k = TP__MIN(n, buffered_ahead(w));
    if (k > 0)
        memcpy(buf, w->buf + w->pos, k);
    pthread_mutex_unlock(&w->lock);
    return k > SSIZE_MAX ? SSIZE_MAX : (ssize_t)k;
}
