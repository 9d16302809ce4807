/* pipe.c - a tp_pipe's life (new, close, free), its state queries and the
 * head-of-stream bookkeeping that the read and write paths share. */
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP, where the C library has it */
#include "internal.h"

#include <string.h>

/* Copy segments hold at least this many bytes and at most the larger size:
 * small enough that a 64 KiB write fills one, large enough that small
 * writes rarely need a new segment. */
#define TP__SEG_MIN 1024
#define TP__SEG_MAX 65536

/* The pipe lock is held for short stretches by two busy threads: a mutex
 * that spins a little before sleeping avoids a futex round trip each time
 * reader and writer collide. */
static int init_lock(pthread_mutex_t *m)
{
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc != 0)
        return rc;
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    rc = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc;
#else
    return pthread_mutex_init(m, NULL);
#endif
}

/* The lock is mostly held by the other side for a short call, over and
 * over (a writer streaming small messages holds it most of the time). A
 * mutex that spins on the lock word would pull its cache line away from
 * the holder at every look, slowing the very call it waits for, and one
 * that sleeps turns the holder's unlock into a system call. So: try, and
 * on failure back off without touching the line, trying again after
 * exponentially longer pauses; only then wait in the mutex. */
static void lock_mutex(tp_pipe *p)
{
    if (pthread_mutex_trylock(&p->lock) == 0)
        return;
    for (unsigned pauses = 1; pauses <= 256; pauses *= 2) {
        for (unsigned i = 0; i < pauses; i++)
            tp__cpu_relax();
        if (pthread_mutex_trylock(&p->lock) == 0)
            return;
    }
    pthread_mutex_lock(&p->lock);
}

void tp__pipe_lock(tp_pipe *p)
{
    lock_mutex(p);
    if (tp__rtoken_in_use(p))
        tp__rtoken_take(p);
}

void tp__rtoken_take(tp_pipe *p)
{
    if (tp__rtoken_try(p))
        return;
    atomic_store_explicit(&p->rtoken_wanted, true, memory_order_relaxed);
    /* Reads until it looks free, to leave the line with the holder. */
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&p->rtoken, memory_order_relaxed) == TP__RTOKEN_FREE &&
            tp__rtoken_try(p))
            break;
        tp__spin_step(i);
    }
    atomic_store_explicit(&p->rtoken_wanted, false, memory_order_relaxed);
}

tp_pipe *tp_pipe_new(size_t bsize, bool rblocking, bool wblocking, double timeout, const char *name)
{
    tp__deadline probe;
    if (tp__deadline_set(&probe, timeout) != 0) {
        errno = EINVAL;
        return NULL;
    }
    tp_pipe *p = tp__malloc_lines(sizeof *p);
    if (p == NULL)
        return NULL;
    memset(p, 0, sizeof *p);
    atomic_init(&p->published, 0);
    atomic_init(&p->consumed, 0);
    atomic_init(&p->wtoken, 0);
    atomic_init(&p->watched, 0);
    atomic_init(&p->rtoken, TP__RTOKEN_OFF);
    atomic_init(&p->rtoken_wanted, false);
    p->bsize = bsize ? bsize : TP_DEFAULT_BSIZE;
    atomic_init(&p->rblocking, rblocking);
    atomic_init(&p->wblocking, wblocking);
    p->timeout = timeout;
    if (name != NULL && (p->name = tp__strdup(name)) == NULL)
        goto fail_name;
    if (init_lock(&p->lock) != 0)
        goto fail_lock;
    if (tp__cond_init(&p->changed) != 0)
        goto fail_cond;
    return p;

fail_cond:
    pthread_mutex_destroy(&p->lock);
fail_lock:
    tp__free(p->name);
fail_name:
    tp__free(p);
    errno = ENOMEM;
    return NULL;
}

int tp__pipe_make_ext(tp_pipe *p)
{
    tp__ext *ext = tp__malloc_lines(sizeof *ext);
    if (ext == NULL)
        return ENOMEM;
    memset(ext, 0, sizeof *ext);
    atomic_init(&ext->seq, 0);
    ext->rnotify = ext->wnotify = TP__NOTIFY_NONE;
    ext->stats.peak_buffered = tp__pipe_buffered(p);
    ext->w.published = tp__count(&p->published);
    ext->w.consumed = tp__count(&p->consumed);
    ext->w.bsize = p->bsize;
    p->ext = ext;
    return 0;
}

int tp__pipe_make_pool(tp_pipe *p)
{
    if (tp__pipe_ensure_ext(p) != 0)
        return ENOMEM;
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

/* Forgets where readmatch stopped (its segment pointer may go away). */
static void forget_match_cursor(tp_pipe *p)
{
    if (p->ext != NULL)
        p->ext->match.seg = NULL;
}

/* Unlinks every segment (the pipe is closing or being freed). Called
 * with both locks held, or by the pipe's last user. */
static tp__seg *unlink_all(tp_pipe *p)
{
    tp__seg *garbage = p->head;
    p->head = p->tail = NULL;
    tp__pipe_forget_tail(p);
    tp__count_add(&p->consumed, tp__pipe_buffered(p));
    if (p->ext != NULL)
        p->ext->match.scanned = 0;
    forget_match_cursor(p);
    return garbage;
}

void tp_pipe_free(tp_pipe *p)
{
    if (p == NULL)
        return;
    tp__seg_unref_list(unlink_all(p));
    tp__pool_orphan(p->pool);
    if (p->ext != NULL) {
        tp__notify_close(&p->ext->rnotify);
        tp__notify_close(&p->ext->wnotify);
        tp__free(p->ext);
    }
    pthread_cond_destroy(&p->changed);
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

/* The blocking flags are set under the lock and read under it by each
 * call (a writer also looks before locking: tp__pipe_await_room); the
 * getters take it too so a setter in another thread is seen at once. */
static bool get_flag(const tp_pipe *p, const atomic_bool *flag)
{
    tp_pipe *mp = (tp_pipe *)(uintptr_t)p;
    tp__pipe_lock(mp);
    bool v = *flag;
    tp__pipe_unlock(mp);
    return v;
}

static void set_flag(tp_pipe *p, atomic_bool *flag, bool v)
{
    tp__pipe_lock(p);
    *flag = v;
    tp__pipe_unlock(p);
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
    return p ? tp__pipe_buffered(p) : 0;
}

bool tp_pipe_empty(tp_pipe *p)
{
    return tp_pipe_buffered(p) == 0;
}

/* Whether the wait of some spinning thread may be over. Bumping the spin
 * word when it is not would cost that spinner, and then this side, a
 * cache miss for nothing on every call. */
static bool spinner_may_go(tp_pipe *p)
{
    if ((p->rspinners | p->wspinners | p->fspinners) == 0)
        return false;
    if (p->closed || p->eof)
        return true;
    size_t buffered = tp__pipe_buffered(p);
    return (p->rspinners && buffered >= p->rspin_need) ||
           (p->wspinners && !p->tail_busy && tp__pipe_room(p) >= p->wspin_need) ||
           (p->fspinners && buffered == 0);
}

void tp__pipe_tell_watchers(tp_pipe *p, int wake)
{
    if (spinner_may_go(p))
        atomic_fetch_add_explicit(&p->ext->seq, 1, memory_order_release);
    if (((wake & TP__WAKE_READERS) && p->rwaiters > 0) ||
        ((wake & TP__WAKE_WRITERS) && p->wwaiters > 0) ||
        ((wake & TP__WAKE_FLUSHERS) && p->fwaiters > 0))
        pthread_cond_broadcast(&p->changed);
    if (p->has_fds)
        tp__pipe_update_fds(p);
}

ssize_t tp_pipe_canwrite(tp_pipe *p)
{
    if (p == NULL)
        return tp__fail(EINVAL);
    tp__pipe_lock(p);
    if (p->eof || p->closed) {
        tp__pipe_unlock(p);
        return tp__fail(EPIPE);
    }
    size_t room = tp__pipe_room(p);
    if (room == 0 && p->rflag != NULL)
        tp_event_clear(p->rflag);
    tp__pipe_unlock(p);
    return room > SSIZE_MAX ? SSIZE_MAX : (ssize_t)room;
}

int tp_pipe_canread(tp_pipe *p)
{
    if (p == NULL)
        return tp__fail(EINVAL);
    tp__pipe_lock(p);
    int r = p->closed ? -1 : (tp__pipe_buffered(p) > 0 || p->eof);
    tp__pipe_unlock(p);
    if (r < 0)
        errno = EPIPE;
    return r;
}

void tp_pipe_set_rflag(tp_pipe *p, tp_event *ev)
{
    if (p == NULL)
        return;
    tp__pipe_lock(p);
    p->rflag = ev;
    if (p->closed)
        tp__pipe_signal_reader(p);
    tp__pipe_unlock(p);
}

void tp__pipe_rewind_tail(tp_pipe *p)
{
    tp__seg *t = p->tail;
    if (t == NULL || t->is_ref || p->tail_busy || tp__seg_end(t) == 0 || tp__seg_unread(t) != 0 ||
        tp__seg_refs(t) != 1)
        return;
    forget_match_cursor(p);
    t->start = 0;
    tp__seg_set_end(t, 0);
    tp__pipe_forget_tail(p);
}

/* Unlinks the drained tail, with the write token, unless a large write
 * is about to fill or link after it. Returns whether it did (the pipe then
 * has no tail). The writers' copy of the tail goes stale, but with no
 * tail they look no further (see known_tail in pipe_write.c). */
static bool let_go_of_tail(tp_pipe *p)
{
    if (p->tail_busy)
        return false;
    p->tail = NULL;
    return true;
}

/* Unlinks the drained head segment. The last segment is the tail, which
 * writers append to holding only the write token: it is let go of only
 * with the token. A drained copy tail that nobody else holds stays: it is
 * only memory, writers append to it, and rewind it when they next hold
 * both locks (tp__pipe_rewind_tail). A reader that took the token to
 * rewind it would write the token's line, the tail's header and the
 * writers' copy of it (tp__ext.w.tail), and cost the writer a miss on each
 * at its next write, every time the pipe ran dry. One that a large read
 * is still copying from, or a view holds, stays too, though it cannot be
 * rewound: a large write links after it with the token alone (see
 * write_precopied in pipe_write.c), and the next read unlinks it as the
 * head it then is. A drained ref tail holds the caller's buffer, whose
 * release is due now. If a view holds it too (zero-copy reads), it stays
 * as a husk and the view's release runs the callback: the writer's next
 * write_ref then links after it, without the lock. Otherwise the reader
 * waits out a writer's short turn, or revokes the bias, to unlink it. */
static void drop_head(tp_pipe *p, tp__seg **garbage)
{
    tp__seg *s = p->head;
    forget_match_cursor(p);
    tp__seg *next = tp__seg_next(s);
    /* Read after next: once s has a successor, its end is final. Before,
     * a writer may have added bytes since the caller looked. */
    if (tp__seg_unread(s) != 0)
        return;
    if (next == NULL) {
        if (!s->is_ref || tp__seg_make_husk(s))
            return;
        tp__wtoken_take(p);
        /* A writer may have linked a segment before the token came free
         * (nothing is ever appended to a ref segment). */
        next = tp__seg_next(s);
        bool keep = next == NULL && !let_go_of_tail(p);
        tp__wtoken_give(p);
        if (keep)
            return;
    }
    p->head = next;
    tp__seg_set_next(s, *garbage);
    *garbage = s;
}

void tp__pipe_trim_head(tp_pipe *p, tp__seg **garbage)
{
    while (tp__seg_unread(p->head) == 0)
        drop_head(p, garbage);
}

/* Counts n more bytes as read, and the read in the statistics. The
 * reader keeps the peak of what was buffered: bytes pile up only between
 * reads, so the most there ever were is what a read found (or what is
 * there now, which tp_pipe_get_stats adds). */
static void count_consumed(tp_pipe *p, size_t n)
{
    if (p->ext != NULL) {
        tp_pipe_stats *st = &p->ext->stats;
        size_t found = tp__pipe_buffered(p);
        if (found > st->peak_buffered)
            st->peak_buffered = found;
    }
    tp__count_add(&p->consumed, n);
    if (p->ext != NULL) {
        tp__match_cache *m = &p->ext->match;
        m->scanned = m->scanned > n ? m->scanned - n : 0;
        m->seg = NULL;
        p->ext->stats.bytes_out += n;
        p->ext->stats.reads++;
        p->ext->last_read_ns = tp__now_coarse_ns();
    }
}

/* After a read: writers sleep only on a full pipe, so they are woken on
 * full -> not full; flushers on any progress. */
static void end_consume(tp_pipe *p, bool was_full)
{
    int wake = TP__WAKE_FLUSHERS;
    if (was_full && tp__pipe_room(p) > 0)
        wake |= TP__WAKE_WRITERS;
    tp__pipe_changed(p, wake);
}

void tp__pipe_consume(tp_pipe *p, size_t n, tp__seg **garbage)
{
    bool was_full = tp__pipe_room(p) == 0;
    count_consumed(p, n);
    while (n > 0) {
        tp__seg *s = p->head;
        size_t k = TP__MIN(n, tp__seg_unread(s));
        s->start += k;
        n -= k;
        if (tp__seg_unread(s) == 0)
            drop_head(p, garbage);
    }
    end_consume(p, was_full);
}

/* Takes k bytes of the head segment s for a view. A whole segment with a
 * successor leaves the chain (as in drop_head): the view takes over the
 * chain's reference rather than add one that the unlink then drops, two
 * atomic operations on a line the writer just wrote. Otherwise the view's
 * own reference also keeps drop_head from rewinding the segment for reuse.
 * `next` must have been read before s's end: only then is that final. */
static void view_head(tp_pipe *p, tp__seg *s, tp__seg *next, size_t k, tp__seg **garbage)
{
    if (next != NULL && k == tp__seg_unread(s)) {
        s->start += k;
        forget_match_cursor(p);
        p->head = next;
        return;
    }
    tp__seg_ref(s);
    s->start += k;
    if (tp__seg_unread(s) == 0)
        drop_head(p, garbage);
}

int tp__pipe_take_views(tp_pipe *p, size_t max, struct iovec *iov, tp_view **views, int n,
                        tp__seg **garbage)
{
    tp__pipe_trim_head(p, garbage);
    /* Only counted bytes: a writer holding just the token may have put
     * more at the tail (or linked it) without counting them yet. */
    size_t left = TP__MIN(max, tp__pipe_buffered(p)), taken = 0;
    bool was_full = tp__pipe_room(p) == 0;
    int count = 0;
    while (left > 0 && count < n) {
        tp__seg *s = p->head;
        tp__seg *next = tp__seg_next(s);
        size_t k = TP__MIN(left, tp__seg_unread(s));
        if (k == 0)
            break; /* not expected past the trimmed head; never a 0-byte view */
        iov[count].iov_base = s->data + s->start;
        iov[count].iov_len = k;
        views[count++] = (tp_view *)(void *)s;
        view_head(p, s, next, k, garbage);
        left -= k;
        taken += k;
    }
    count_consumed(p, taken);
    end_consume(p, was_full);
    return count;
}

void tp__pipe_take(tp_pipe *p, tp__iovcur *dst, size_t n, tp__seg **garbage)
{
    size_t left = n;
    for (tp__seg *s = p->head; left > 0; s = tp__seg_next(s)) {
        size_t k = TP__MIN(left, tp__seg_unread(s));
        tp__iov_scatter(dst, s->data + s->start, k);
        left -= k;
    }
    tp__pipe_consume(p, n, garbage);
}

int tp_pipe_write_eof(tp_pipe *p)
{
    if (p == NULL)
        return tp__fail(EINVAL);
    tp__pipe_lock_both(p);
    if (!p->eof) {
        p->eof = true;
        tp__pipe_changed(p, TP__WAKE_READERS | TP__WAKE_WRITERS);
    }
    tp__pipe_unlock_both(p);
    return 0;
}

bool tp_pipe_eof(tp_pipe *p)
{
    if (p == NULL)
        return false;
    tp__pipe_lock(p);
    bool eof = p->eof;
    tp__pipe_unlock(p);
    return eof;
}

void tp_pipe_close(tp_pipe *p)
{
    if (p == NULL)
        return;
    tp__pipe_lock_both(p);
    if (p->closed) {
        tp__pipe_unlock_both(p);
        return;
    }
    size_t discarded = tp__pipe_buffered(p);
    tp__seg *garbage = unlink_all(p);
    p->closed = p->eof = true;
    tp__pipe_changed(p, TP__WAKE_READERS | TP__WAKE_WRITERS | TP__WAKE_FLUSHERS);
    tp__pipe_signal_reader(p);
    tp__pipe_unlock_both(p);

    tp__seg_unref_list(garbage);
    if (discarded > 0)
        tp__log(TP_LOG_WARNING, p->name, "closed with %zu unread bytes, discarded", discarded);
}

bool tp_pipe_closed(tp_pipe *p)
{
    if (p == NULL)
        return false;
    tp__pipe_lock(p);
    bool closed = p->closed;
    tp__pipe_unlock(p);
    return closed;
}
