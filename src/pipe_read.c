/* pipe_read.c - the read side of a tp_pipe: copying reads (plain, timed,
 * vectored), zero-copy views and readall. Large reads claim segments under
 * the lock and copy outside it, so the writer can refill the pipe meanwhile. */
#include "internal.h"

#include <string.h>

/* Reads up to this size are copied while holding the lock. */
#define TP__READ_LOCKED_MAX 4096
/* Segments one large read may claim; more data waits for the next call. */
#define TP__MAX_CLAIMS 16
/* Smallest free space readall offers to one read. */
#define TP__READALL_CHUNK 65536

/* Blocking reads of at least this size that find fewer bytes give a writer
 * that is still writing a moment to add more (see tp__pipe_grace): taking
 * a few messages at a time would cost a lock round trip, and the cache
 * lines behind it, per few messages. A writer that has stopped ends the
 * moment at once, so a lone message is not held back. */
#define TP__BATCH_BYTES 4096

/* Whether a read can go ahead without waiting: there are bytes (so the
 * pipe is not closed: closing discards them), and it is not a large
 * blocking read that had better let a few more arrive. */
static inline bool readable_now(tp_pipe *p, bool blocking, size_t want)
{
    size_t buffered = tp__pipe_buffered(p);
    return buffered > 0 &&
           (!blocking || p->eof || want < TP__BATCH_BYTES || buffered >= TP__BATCH_BYTES);
}

int tp__pipe_wait_readable(tp_pipe *p, bool blocking, size_t want, const tp__deadline *d)
{
    if (readable_now(p, blocking, want))
        return 1; /* the common case, without the waiting machinery */
    tp__wait w;
    tp__wait_init(&w, TP_SIDE_READER, d);
    int err, r = -1;
    bool graced = false;
    for (bool timed_out = false;;) {
        if (p->closed) {
            err = EPIPE;
            break;
        }
        size_t buffered = tp__pipe_buffered(p);
        if (blocking && !graced && !p->eof && buffered > 0 && want >= TP__BATCH_BYTES &&
            buffered < TP__BATCH_BYTES) {
            graced = true;
            tp__pipe_grace(p, &p->rwaiters, TP__BATCH_BYTES);
            continue;
        }
        if (buffered > 0 || p->eof) {
            r = buffered > 0;
            err = 0;
            break;
        }
        if (!blocking) {
            err = EAGAIN;
            break;
        }
        if (timed_out) {
            err = ETIMEDOUT;
            break;
        }
        timed_out = tp__pipe_sleep(p, &w, &p->rwaiters) == ETIMEDOUT;
    }
    return tp__wait_end(p, &w, err) < 0 ? -1 : r;
}

typedef struct claim {
    tp__seg *seg;
    const char *bytes;
    size_t len;
} claim;

/* Claims up to n bytes from the head: each claimed segment gets a reference
 * so it outlives the unlocked copy. Returns the number of claims. */
static int claim_head(tp_pipe *p, size_t n, claim *claims, size_t *total)
{
    int count = 0;
    size_t left = n;
    for (tp__seg *s = p->head; s != NULL && left > 0 && count < TP__MAX_CLAIMS;
         s = tp__seg_next(s)) {
        size_t k = TP__MIN(left, tp__seg_unread(s));
        if (k == 0)
            continue;
        tp__seg_ref(s);
        claims[count++] = (claim){s, s->data + s->start, k};
        left -= k;
    }
    *total = n - left;
    return count;
}

/* Locks p, sets the rflag and waits for data unless the call returns at
 * once (closed: EPIPE; n == 0: 0). Returns 1 with the lock held when there
 * is data; otherwise unlocks and returns 0 or -1 with errno. */
static int begin_read(tp_pipe *p, size_t n, bool blocking, const tp__deadline *d)
{
    tp__pipe_lock(p);
    tp__pipe_signal_reader(p);
    int r = p->closed ? tp__fail(EPIPE) : n == 0 ? 0 : 1;
    if (r > 0)
        r = tp__pipe_wait_readable(p, blocking || p->rblocking, n, d);
    if (r <= 0) {
        int err = errno;
        tp__pipe_unlock(p);
        errno = err;
    }
    return r;
}

ssize_t tp__pipe_read(tp_pipe *p, tp__iovcur *dst, size_t n, bool force_block,
                      const tp__deadline *d)
{
    int r = begin_read(p, n, force_block, d);
    if (r <= 0)
        return r;
    tp__seg *garbage = NULL;
    claim claims[TP__MAX_CLAIMS];
    int nclaims = 0;
    size_t got = TP__MIN(n, tp__pipe_buffered(p));
    if (got <= TP__READ_LOCKED_MAX) {
        tp__pipe_take(p, dst, got, &garbage);
    } else {
        nclaims = claim_head(p, got, claims, &got);
        tp__pipe_consume(p, got, &garbage);
    }
    tp__pipe_unlock(p);

    for (int i = 0; i < nclaims; i++) {
        tp__iov_scatter(dst, claims[i].bytes, claims[i].len);
        tp__seg_unref(claims[i].seg);
    }
    tp__seg_unref_list(garbage);
    return (ssize_t)got;
}

ssize_t tp_pipe_read_timed(tp_pipe *p, void *buf, size_t n, double timeout)
{
    tp__deadline d;
    if (p == NULL || (buf == NULL && n > 0) || tp__deadline_set(&d, timeout) != 0)
        return tp__fail(EINVAL);
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    struct iovec one = {buf, n};
    tp__iovcur dst = {&one, 1, 0};
    return tp__pipe_read(p, &dst, n, false, &d);
}

ssize_t tp_pipe_read(tp_pipe *p, void *buf, size_t n)
{
    return tp_pipe_read_timed(p, buf, n, p ? p->timeout : 0);
}

ssize_t tp_pipe_readv(tp_pipe *p, const struct iovec *iov, int iovcnt)
{
    size_t n;
    if (p == NULL || tp__iov_validate(iov, iovcnt, &n) != 0)
        return tp__fail(EINVAL);
    tp__deadline d;
    tp__deadline_set(&d, p->timeout);
    tp__iovcur dst = {iov, iovcnt, 0};
    return tp__pipe_read(p, &dst, n, false, &d);
}

/* The zero-copy reads: up to n views of up to max bytes in all (n >= 1).
 * Returns the number of views, 0 at EOF or for max == 0, or -1. */
static int read_views(tp_pipe *p, size_t max, struct iovec *iov, tp_view **views, int n)
{
    if (max > SSIZE_MAX)
        max = SSIZE_MAX;
    tp__deadline d;
    tp__deadline_set(&d, p->timeout);
    int r = begin_read(p, max, false, &d);
    if (r <= 0)
        return r;
    tp__seg *garbage = NULL;
    int count = tp__pipe_take_views(p, max, iov, views, n, &garbage);
    tp__pipe_unlock(p);
    tp__seg_unref_list(garbage);
    return count;
}

ssize_t tp_pipe_read_view(tp_pipe *p, size_t max, const void **data, tp_view **view)
{
    if (data != NULL)
        *data = NULL;
    if (view != NULL)
        *view = NULL;
    if (p == NULL || data == NULL || view == NULL)
        return tp__fail(EINVAL);
    struct iovec one;
    int r = read_views(p, max, &one, view, 1);
    if (r <= 0)
        return r;
    *data = one.iov_base;
    return (ssize_t)one.iov_len;
}

int tp_pipe_read_views(tp_pipe *p, size_t max, struct iovec *iov, tp_view **views, int n)
{
    if (p == NULL || n < 0 || (n > 0 && (iov == NULL || views == NULL)))
        return tp__fail(EINVAL);
    return read_views(p, n == 0 ? 0 : max, iov, views, n);
}

/* Makes room for at least TP__READALL_CHUNK more bytes. 0 or ENOMEM. */
static int grow(char **buf, size_t *cap, size_t used)
{
    if (*cap - used >= TP__READALL_CHUNK)
        return 0;
    size_t want = *cap < TP__READALL_CHUNK ? 2 * TP__READALL_CHUNK : *cap * 2;
    if (want < *cap || want > SSIZE_MAX)
        return ENOMEM;
    char *bigger = tp__realloc(*buf, want);
    if (bigger == NULL)
        return ENOMEM;
    *buf = bigger;
    *cap = want;
    return 0;
}

int tp_pipe_readall(tp_pipe *p, void **out, size_t *len)
{
    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (p == NULL || out == NULL || len == NULL)
        return tp__fail(EINVAL);
    char *buf = NULL;
    size_t cap = 0, used = 0;
    int err = 0;
    for (;;) {
        err = grow(&buf, &cap, used);
        if (err != 0)
            break;
        tp__deadline d;
        tp__deadline_set(&d, p->timeout); /* each read is timed on its own */
        struct iovec free_space = {buf + used, cap - used};
        tp__iovcur dst = {&free_space, 1, 0};
        ssize_t r = tp__pipe_read(p, &dst, cap - used, true, &d);
        if (r == 0)
            break;
        if (r < 0) {
            err = errno;
            break;
        }
        used += (size_t)r;
    }
    if (err != 0 && used == 0) {
        tp__free(buf);
        buf = NULL;
    } else if (used > 0 && used < cap / 2) {
        /* Give back the slack; keep the larger block if that fails. */
        char *fitted = tp__realloc(buf, used);
        if (fitted != NULL)
            buf = fitted;
    }
    *out = buf;
    *len = used;
    return err ? tp__fail(err) : 0;
}
