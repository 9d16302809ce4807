/* readmatch.c - tp_pipe_readmatch: read through the first occurrence of a
 * delimiter. The search resumes where the previous call stopped (the match
 * cache in the pipe), so a long line trickling in is scanned only once. */
#include "internal.h"

#include <errno.h>
#include <string.h>

static const unsigned char crlf[] = {'\r', '\n'};

/* Compares the delimiter against the stream starting at s->data[idx],
 * crossing into later segments. 1: match; 0: mismatch; -1: the buffered
 * bytes end before the comparison could finish. */
static int match_at(const tp__seg *s, size_t idx, const unsigned char *d, size_t dlen)
{
    size_t done = 0;
    while (done < dlen) {
        if (s == NULL)
            return -1;
        size_t k = TP__MIN(dlen - done, s->end - idx);
        if (memcmp(s->data + idx, d + done, k) != 0)
            return 0;
        done += k;
        s = s->next;
        if (s != NULL)
            idx = s->start;
    }
    return 1;
}

/* Positions the cache's cursor on byte `scanned` of the stream (walking from
 * the head after a read invalidated it), resetting it for a new delimiter. */
static void seek_cursor(tp_pipe *p, const unsigned char *d, size_t dlen)
{
    tp__match_cache *m = &p->match;
    bool same = m->dlen == dlen && memcmp(m->delim, d, dlen) == 0;
    if (!same) {
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
    while (s != NULL && skip >= s->end - s->start && s->next != NULL) {
        skip -= s->end - s->start;
        s = s->next;
    }
    m->seg = s;
    m->idx = s ? s->start + skip : 0;
}

/* Finds the delimiter in the buffered bytes. Returns the length of the line
 * up to and including it, or 0 if there is none yet; remembers how far it
 * looked. */
static size_t find_match(tp_pipe *p, const unsigned char *d, size_t dlen)
{
    tp__match_cache *m = &p->match;
    seek_cursor(p, d, dlen);
    tp__seg *s = m->seg;
    size_t idx = m->idx;
    size_t pos = m->scanned;
    while (s != NULL) {
        const char *from = s->data + idx;
        const char *hit = memchr(from, d[0], s->end - idx);
        if (hit == NULL) {
            pos += s->end - idx;
            if (s->next == NULL) {
                idx = s->end;
                break;
            }
            s = s->next;
            idx = s->start;
            continue;
        }
        size_t at = (size_t)(hit - s->data);
        pos += at - idx;
        idx = at;
        int r = match_at(s, idx, d, dlen);
        if (r > 0)
            return pos + dlen;
        if (r < 0)
            break; /* a possible match waits for more bytes */
        idx++;
        pos++;
    }
    m->seg = s;
    m->idx = idx;
    m->scanned = pos;
    if (m->dlen == 0) {
        /* Uncached delimiter: nothing to resume from. */
        m->scanned = 0;
        m->seg = NULL;
    }
    return 0;
}

/* Copies out and consumes a found line; ENOMEM leaves it in the pipe. */
static ssize_t take_line(tp_pipe *p, size_t len, void **out, tp__seg **garbage)
{
    if (len > SSIZE_MAX)
        return tp__fail(ENOBUFS);
    char *line = tp__malloc(len);
    if (line == NULL)
        return -1;
    tp__pipe_take(p, line, len, garbage);
    *out = line;
    return (ssize_t)len;
}

ssize_t tp_pipe_readmatch(tp_pipe *p, const void *match, size_t mlen, void **out)
{
    if (out != NULL)
        *out = NULL;
    if (p == NULL || out == NULL || (match != NULL && mlen == 0)) {
        errno = EINVAL;
        return -1;
    }
    const unsigned char *d = match ? match : crlf;
    size_t dlen = match ? mlen : sizeof crlf;
    tp__seg *garbage = NULL;
    tp__deadline dl;
    ssize_t r;

    pthread_mutex_lock(&p->lock);
    tp__deadline_set(&dl, p->timeout);
    uint64_t progress = p->published;
    for (bool timed_out = false;;) {
        if (p->closed) {
            r = tp__fail(EPIPE);
            break;
        }
        size_t len = find_match(p, d, dlen);
        if (len > 0) {
            r = take_line(p, len, out, &garbage);
            if (r > 0)
                tp__pipe_signal_reader(p);
            break;
        }
        if (p->eof) {
            r = 0;
            break;
        }
        if (p->buffered >= p->bsize) {
            r = tp__fail(ENOBUFS);
            break;
        }
        /* Room left: the writer should know a reader is waiting. */
        tp__pipe_signal_reader(p);
        if (!p->rblocking) {
            r = tp__fail(EAGAIN);
            break;
        }
        if (p->published != progress) {
            /* New bytes arrived: the idle clock starts again. */
            progress = p->published;
            tp__deadline_set(&dl, p->timeout);
            timed_out = false;
        }
        if (timed_out) {
            r = tp__fail(ETIMEDOUT);
            break;
        }
        timed_out = tp__pipe_sleep(p, &p->readable, &p->rwaiters, &dl) == ETIMEDOUT;
    }
    int err = errno;
    pthread_mutex_unlock(&p->lock);
    tp__seg_unref_list(garbage);
    errno = err;
    return r;
}
