/* readmatch.c - reading through the first occurrence of a delimiter. The
 * search resumes where the previous call stopped (the match cache in the
 * pipe's extras), so a long line trickling in is scanned only once. */
#include "internal.h"

#include <string.h>

static const unsigned char crlf[] = {'\r', '\n'};

/* memcmp for the few bytes of a delimiter, without a library call. */
static inline bool same_bytes(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return false;
    return true;
}

/* Compares the delimiter against the stream starting at s->data[idx],
 * crossing into later segments, looking at `left` bytes at most. 1:
 * match; 0: mismatch; -1: the bytes end before the comparison could
 * finish. */
static int match_at(tp__seg *s, size_t idx, size_t left, const unsigned char *d, size_t dlen)
{
    if (left >= dlen && tp__seg_end(s) - idx >= dlen) /* the usual case: one segment */
        return same_bytes(s->data + idx, d, dlen);
    size_t done = 0;
    while (done < dlen) {
        if (s == NULL || left == 0)
            return -1;
        size_t k = TP__MIN(TP__MIN(dlen - done, tp__seg_end(s) - idx), left);
        if (!same_bytes(s->data + idx, d + done, k))
            return 0;
        done += k;
        left -= k;
        s = tp__seg_next(s);
        if (s != NULL)
            idx = s->start;
    }
    return 1;
}

/* Positions the cursor on byte `scanned` of the stream (walking from the
 * head after a read invalidated it); a new delimiter starts from 0. */
static void seek_cursor(tp_pipe *p, tp__match_cache *m, const unsigned char *d, size_t dlen)
{
    if (m->dlen != dlen || !same_bytes(m->delim, d, dlen)) {
        m->scanned = 0;
        m->seg = NULL;
        /* A delimiter too long to cache is searched from the head each time. */
        m->dlen = dlen <= TP__MATCH_CACHE_MAX ? dlen : 0;
        if (m->dlen)
            memcpy(m->delim, d, dlen);
    }
    if (m->seg != NULL)
        return;
    size_t skip = m->scanned;
    tp__seg *s = p->head;
    for (tp__seg *next; s != NULL && (next = tp__seg_next(s)) != NULL;) {
        size_t unread = tp__seg_unread(s); /* after next: final (see drop_head) */
        if (skip < unread)
            break;
        skip -= unread;
        s = next;
    }
    m->seg = s;
    m->idx = s ? s->start + skip : 0;
}

size_t tp__pipe_find_match(tp_pipe *p, const unsigned char *d, size_t dlen, size_t avail)
{
    tp__match_cache *m = &p->ext->match;
    seek_cursor(p, m, d, dlen);
    tp__seg *s = m->seg;
    size_t idx = m->idx;
    size_t pos = m->scanned;
    while (s != NULL && pos < avail) {
        /* A writer may be appending to the tail: look no further than
         * the bytes counted in `avail`. */
        size_t span = TP__MIN(tp__seg_end(s) - idx, avail - pos);
        const char *hit = memchr(s->data + idx, d[0], span);
        if (hit == NULL) {
            pos += span;
            tp__seg *next = tp__seg_next(s);
            if (next == NULL || pos == avail) {
                idx += span;
                break;
            }
            s = next;
            idx = s->start;
            continue;
        }
        size_t at = (size_t)(hit - s->data);
        pos += at - idx;
        idx = at;
        int r = match_at(s, idx, avail - pos, d, dlen);
        if (r > 0)
            return pos + dlen;
        if (r < 0)
            break; /* a possible match waits for more bytes */
        idx++;
        pos++;
    }
    if (m->dlen == 0) {
        m->scanned = 0; /* uncached delimiter: nothing to resume from */
        m->seg = NULL;
    } else {
        m->seg = s;
        m->idx = idx;
        m->scanned = pos;
    }
    return 0;
}

/* Where a found line goes: a fresh allocation, or the caller's buffer. */
typedef struct line_sink {
    void **out; /* allocate into *out, or NULL */
    void *buf;  /* else copy into buf[0, cap) */
    size_t cap;
} line_sink;

/* Copies out and consumes a found line. ENOMEM or EMSGSIZE leave it. */
static ssize_t take_line(tp_pipe *p, size_t len, const line_sink *sink, tp__seg **garbage)
{
    void *dst = sink->buf;
    if (sink->out == NULL && len > sink->cap)
        return tp__fail(EMSGSIZE);
    if (sink->out != NULL && (dst = tp__malloc(len)) == NULL)
        return -1;
    struct iovec one = {dst, len};
    tp__iovcur cur = {&one, 1, 0};
    tp__pipe_take(p, &cur, len, garbage);
    if (sink->out != NULL)
        *sink->out = dst;
    return (ssize_t)len;
}

/* One look for a line. Returns >0 (taken), 0 (EOF, none), -1 with errno
 * (EPIPE, ENOBUFS, EMSGSIZE, ENOMEM), or -2: nothing yet, worth waiting. */
static ssize_t try_line(tp_pipe *p, const unsigned char *d, size_t dlen, size_t avail,
                        const line_sink *sink, tp__seg **garbage)
{
    if (p->closed)
        return tp__fail(EPIPE);
    size_t len = tp__pipe_find_match(p, d, dlen, avail);
    if (len > 0) {
        ssize_t r = take_line(p, len, sink, garbage);
        if (r > 0)
            tp__pipe_signal_reader(p);
        return r;
    }
    if (p->eof)
        return 0;
    if (sink->out == NULL && avail >= sink->cap)
        return tp__fail(EMSGSIZE); /* the line cannot fit the caller's buffer */
    if (avail >= p->bsize) {
        p->ext->stats.enobufs++;
        return tp__fail(ENOBUFS);
    }
    /* Room left: the writer should know a reader is waiting. */
    tp__pipe_signal_reader(p);
    return -2;
}

/* The common call, without the waiting machinery: a whole line at the
 * start of the head segment, the search starting from scratch (no resumed
 * scan), and nothing in the way. Returns the line's length, -1 with errno
 * ENOMEM, or 0: not this way, take the general path. The lock held, or
 * with `inside`, the read token alone: then the line must end before the
 * head segment does, since unlinking a drained one may need the write
 * token. */
static ssize_t take_line_fast(tp_pipe *p, const unsigned char *d, size_t dlen,
                              const line_sink *sink, bool inside, tp__seg **garbage)
{
    tp__seg *s = p->head;                      /* NULL too once the pipe is closed */
    const tp__match_cache *m = &p->ext->match; /* dlen 0 until a search set it up */
    if (s == NULL || m->scanned != 0 || m->dlen != dlen || !same_bytes(m->delim, d, dlen))
        return 0;
    /* Within the head segment, no further than the published bytes. */
    size_t span = TP__MIN(tp__seg_unread(s), tp__pipe_buffered(p));
    const unsigned char *from = (const unsigned char *)s->data + s->start;
    const unsigned char *hit = memchr(from, d[0], span);
    if (hit == NULL || (size_t)(hit - from) + dlen > span || !same_bytes(hit, d, dlen))
        return 0;
    size_t len = (size_t)(hit - from) + dlen;
    void *dst = sink->buf;
    if ((sink->out == NULL && len > sink->cap) || (inside && len == tp__seg_unread(s)))
        return 0; /* the general path reports it, or drops the segment */
    if (sink->out != NULL && (dst = tp__malloc(len)) == NULL)
        return -1;
    memcpy(dst, from, len);
    tp__pipe_consume(p, len, garbage);
    tp__pipe_signal_reader(p);
    if (sink->out != NULL)
        *sink->out = dst;
    return (ssize_t)len;
}

/* The general path: looks for a line, waiting for more bytes while the
 * end blocks, until one comes, EOF, an error or the deadline (which
 * starts here: the fast path before it does not wait). Returns as
 * try_line, -1 with errno also for EAGAIN and ETIMEDOUT. Called and
 * returns locked. */
static ssize_t wait_for_line(tp_pipe *p, const unsigned char *d, size_t dlen, const line_sink *sink,
                             double timeout, tp__seg **garbage)
{
    if (tp__pipe_ensure_ext(p) != 0)
        return tp__fail(ENOMEM);
    tp__deadline dl;
    tp__deadline_set(&dl, timeout); /* the caller rejected NaN */
    tp__wait w;
    tp__wait_init(&w, TP_SIDE_READER, &dl);
    ssize_t r;
    int err = 0;
    uint64_t progress = tp__count(&p->published);
    for (bool timed_out = false;;) {
        /* What this look covers: writers may add more meanwhile. */
        size_t avail = tp__pipe_buffered(p);
        r = try_line(p, d, dlen, avail, sink, garbage);
        if (r != -2) {
            err = r < 0 ? errno : 0;
            break;
        }
        if (!p->rblocking) {
            err = EAGAIN;
            break;
        }
        if (tp__count(&p->published) != progress) {
            /* New bytes arrived: the idle clock starts again. */
            progress = tp__count(&p->published);
            tp__deadline_set(&dl, timeout);
            timed_out = false;
        }
        if (timed_out) {
            err = ETIMEDOUT;
            break;
        }
        w.need = avail + 1; /* any new byte may complete the line */
        timed_out = tp__pipe_sleep(p, &w, &p->rwaiters) == ETIMEDOUT;
    }
    /* ENOBUFS and friends are not waits; only count the wait's time. */
    tp__wait_end(p, &w, err == ETIMEDOUT ? err : 0);
    return err ? tp__fail(err) : r;
}

/* Whether a line can be taken with the read token alone. The token
 * excludes every holder of the lock, so the line's read may do all that
 * a read does (release spinners, set the rflag, update the readiness
 * descriptors) except wake a sleeper: a thread that counted itself as one
 * lets go of the token before it waits on the condition, and a broadcast
 * in between, without the mutex, would be lost. (The counts change only
 * under the lock, and so the token.) */
static bool nobody_asleep(const tp_pipe *p)
{
    return (p->rwaiters | p->wwaiters | p->fwaiters) == 0 && p->ext != NULL;
}

/* take_line_fast with the read token instead of the pipe lock (see
 * internal.h). Returns as take_line_fast; 0 also when the token is busy
 * or not in use yet, or somebody sleeps. */
static ssize_t take_line_inside(tp_pipe *p, const unsigned char *d, size_t dlen,
                                const line_sink *sink)
{
    if (!tp__rtoken_try_unlocked(p))
        return 0;
    ssize_t r = nobody_asleep(p) ? take_line_fast(p, d, dlen, sink, true, NULL) : 0;
    tp__rtoken_give(p); /* a store: errno stays as the call left it */
    return r;
}

static ssize_t readmatch(tp_pipe *p, const void *match, size_t mlen, const line_sink *sink,
                         double timeout)
{
    if (p == NULL || (match != NULL && mlen == 0) || timeout != timeout)
        return tp__fail(EINVAL);
    const unsigned char *d = match ? match : crlf;
    size_t dlen = match ? mlen : sizeof crlf;
    ssize_t r = take_line_inside(p, d, dlen, sink);
    if (r != 0)
        return r;
    tp__seg *garbage = NULL;
    tp__pipe_lock(p);
    tp__rtoken_start(p);
    r = p->ext != NULL ? take_line_fast(p, d, dlen, sink, false, &garbage) : 0;
    if (r == 0)
        r = wait_for_line(p, d, dlen, sink, timeout, &garbage);
    int err = errno;
    tp__pipe_unlock(p);
    tp__seg_unref_list(garbage); /* may run release callbacks */
    errno = err;
    return r;
}

ssize_t tp_pipe_readmatch_timed(tp_pipe *p, const void *match, size_t mlen, void **out,
                                double timeout)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL)
        return tp__fail(EINVAL);
    line_sink sink = {out, NULL, 0};
    return readmatch(p, match, mlen, &sink, timeout);
}

ssize_t tp_pipe_readmatch(tp_pipe *p, const void *match, size_t mlen, void **out)
{
    return tp_pipe_readmatch_timed(p, match, mlen, out, p ? p->timeout : 0);
}

ssize_t tp_pipe_readmatch_into(tp_pipe *p, const void *match, size_t mlen, void *buf, size_t cap,
                               double timeout)
{
    if (buf == NULL && cap > 0)
        return tp__fail(EINVAL);
    line_sink sink = {NULL, buf, cap};
    return readmatch(p, match, mlen, &sink, timeout);
}
