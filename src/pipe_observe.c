/* pipe_observe.c - what lets others watch a pipe: readiness descriptors for
 * event loops (plain or line-aware), statistics and the stall callback. */
#include "internal.h"

#include <string.h>

/* Read side readiness: canread, or with a delimiter set, "a readmatch
 * would finish at once". */
static bool read_ready(tp_pipe *p)
{
    const tp__ext *x = p->ext;
    if (p->closed || p->eof)
        return true;
    size_t buffered = tp__pipe_buffered(p);
    if (x->fd_dlen == 0)
        return buffered > 0;
    if (buffered >= p->bsize)
        return true; /* readmatch would fail with ENOBUFS */
    return tp__pipe_find_match(p, x->fd_delim, x->fd_dlen, buffered) > 0;
}

void tp__pipe_update_fds(tp_pipe *p)
{
    tp__ext *x = p->ext;
    if (x->rnotify.rfd >= 0)
        tp__notify_set(&x->rnotify, read_ready(p));
    if (x->wnotify.rfd >= 0)
        tp__notify_set(&x->wnotify, p->closed || p->eof || tp__pipe_room(p) > 0);
}

/* Opens (once) one of the pipe's readiness descriptors. */
static int pipe_fd(tp_pipe *p, bool reader)
{
    if (p == NULL)
        return tp__fail(EINVAL);
    int fd = -1, err = 0;
    tp__pipe_lock(p);
    err = tp__pipe_ensure_ext(p);
    if (err == 0) {
        tp__notify *n = reader ? &p->ext->rnotify : &p->ext->wnotify;
        if (n->rfd < 0)
            err = tp__notify_open(n);
        if (err == 0) {
            if (!p->has_fds) /* writers must now update them on every write */
                tp__pipe_watch(p, 1);
            p->has_fds = true;
            tp__pipe_update_fds(p);
            fd = n->rfd;
        }
    }
    tp__pipe_unlock(p);
    if (fd < 0)
        errno = err;
    return fd;
}

int tp_pipe_read_fd(tp_pipe *p)
{
    return pipe_fd(p, true);
}

int tp_pipe_write_fd(tp_pipe *p)
{
    return pipe_fd(p, false);
}

int tp_pipe_set_read_fd_match(tp_pipe *p, const void *match, size_t mlen)
{
    if (p == NULL || (match != NULL && (mlen == 0 || mlen > TP__MATCH_CACHE_MAX)))
        return tp__fail(EINVAL);
    tp__pipe_lock(p);
    int err = tp__pipe_ensure_ext(p);
    if (err == 0) {
        p->ext->fd_dlen = match ? mlen : 0;
        if (match != NULL)
            memcpy(p->ext->fd_delim, match, mlen);
        tp__pipe_update_fds(p);
    }
    tp__pipe_unlock(p);
    return err ? tp__fail(err) : 0;
}

int tp_pipe_get_stats(tp_pipe *p, tp_pipe_stats *out)
{
    if (p == NULL || out == NULL)
        return tp__fail(EINVAL);
    tp__pipe_lock_both(p); /* writers update their figures holding the token */
    if (p->ext != NULL) {
        *out = p->ext->stats;
        out->writes = p->ext->w.writes;
        out->last_write = (double)p->ext->w.last_write_ns / 1e9;
        out->last_read = (double)p->ext->last_read_ns / 1e9;
    } else {
        memset(out, 0, sizeof *out);
    }
    out->buffered = tp__pipe_buffered(p);
    if (out->buffered > out->peak_buffered)
        out->peak_buffered = out->buffered; /* piled up since the last read */
    out->bytes_in = tp__count(&p->published);
    tp__pipe_unlock_both(p);
    return 0;
}

int tp_pipe_set_stall_fn(tp_pipe *p, double after, tp_stall_fn fn, void *ctx)
{
    if (p == NULL || (fn != NULL && !(after > 0)))
        return tp__fail(EINVAL);
    tp__pipe_lock(p);
    int err = tp__pipe_ensure_ext(p);
    if (err == 0) {
        p->ext->stall_fn = fn;
        p->ext->stall_ctx = fn ? ctx : NULL;
        p->ext->stall_after = fn ? after : 0;
        /* Sleepers pick the new timer up on their next wake-up. */
        pthread_cond_broadcast(&p->changed);
    }
    tp__pipe_unlock(p);
    return err ? tp__fail(err) : 0;
}
