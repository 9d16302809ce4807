/* pipe_read.c - the read side of a tp_pipe: copying reads, zero-copy views
 * and readall. Large reads claim segments under the lock and copy outside
 * it, so the writer can refill the pipe meanwhile. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* Reads up to this size are copied while holding the lock. */
#define TP__READ_LOCKED_MAX 4096
/* Segments one large read may claim; more data waits for the next call. */
#define TP__MAX_CLAIMS 16
/* Smallest free space readall offers to one read. */
#define TP__READALL_CHUNK 65536

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
    for (tp__seg *s = p->head; s != NULL && left > 0 && count < TP__MAX_CLAIMS; s = s->next) {
        size_t k = TP__MIN(left, s->end - s->start);
        if (k == 0)
            continue;
        tp__seg_ref(s);
        claims[count++] = (claim){s, s->data + s->start, k};
        left -= k;
    }
    *total = n - left;
    return count;
}

ssize_t tp__pipe_read(tp_pipe *p, void *buf, size_t n, bool force_block, const tp__deadline *d)
{
    tp__seg *garbage = NULL;
    claim claims[TP__MAX_CLAIMS];
    int nclaims = 0;
    size_t got;

    pthread_mutex_lock(&p->lock);
    tp__pipe_signal_reader(p);
    int r = p->closed ? tp__fail(EPIPE) : n == 0 ? 0 : 1;
    if (r > 0)
        r = tp__pipe_wait_readable(p, force_block || p->rblocking, d);
    if (r <= 0) {
        int err = errno;
        pthread_mutex_unlock(&p->lock);
        errno = err;
        return r;
    }
    got = TP__MIN(n, p->buffered);
    if (got <= TP__READ_LOCKED_MAX) {
        tp__pipe_take(p, buf, got, &garbage);
    } else {
        nclaims = claim_head(p, got, claims, &got);
        tp__pipe_consume(p, got, &garbage);
    }
    pthread_mutex_unlock(&p->lock);

    char *out = buf;
    for (int i = 0; i < nclaims; i++) {
        memcpy(out, claims[i].bytes, claims[i].len);
        out += claims[i].len;
        tp__seg_unref(claims[i].seg);
    }
    tp__seg_unref_list(garbage);
    return (ssize_t)got;
}

ssize_t tp_pipe_read(tp_pipe *p, void *buf, size_t n)
{
    tp__deadline d;
    if (p == NULL || (buf == NULL && n > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    tp__deadline_set(&d, p->timeout);
    return tp__pipe_read(p, buf, n, false, &d);
}

ssize_t tp_pipe_read_view(tp_pipe *p, size_t max, const void **data, tp_view **view)
{
    if (data != NULL)
        *data = NULL;
    if (view != NULL)
        *view = NULL;
    if (p == NULL || data == NULL || view == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (max > SSIZE_MAX)
        max = SSIZE_MAX;
    tp__deadline d;
    tp__deadline_set(&d, p->timeout);
    tp__seg *garbage = NULL;

    pthread_mutex_lock(&p->lock);
    tp__pipe_signal_reader(p);
    int r = p->closed ? tp__fail(EPIPE) : max == 0 ? 0 : 1;
    if (r > 0)
        r = tp__pipe_wait_readable(p, p->rblocking, &d);
    if (r <= 0) {
        int err = errno;
        pthread_mutex_unlock(&p->lock);
        errno = err;
        return r;
    }
    tp__seg *s = p->head;
    size_t k = TP__MIN(max, s->end - s->start);
    tp__seg_ref(s);
    *data = s->data + s->start;
    *view = (tp_view *)(void *)s;
    tp__pipe_consume(p, k, &garbage);
    pthread_mutex_unlock(&p->lock);
    tp__seg_unref_list(garbage);
    return (ssize_t)k;
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
    if (p == NULL || out == NULL || len == NULL) {
        errno = EINVAL;
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0, used = 0;
    int err = 0;
    for (;;) {
        err = grow(&buf, &cap, used);
        if (err != 0)
            break;
        tp__deadline d;
        tp__deadline_set(&d, p->timeout); /* each read is timed on its own */
        ssize_t r = tp__pipe_read(p, buf + used, cap - used, true, &d);
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
    }
    *out = buf;
    *len = used;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}
