/* pipe_write.c - the write side of a tp_pipe: copying writes (small ones
 * under the lock, large ones copied outside it into private segments),
 * their vectored and timed forms, and zero-copy write_ref. A small write
 * that fits the tail segment, and a write_ref, usually take only the
 * write token (see struct tp_pipe in internal.h). */
#include "internal.h"

#include <string.h>

/* Writes up to this size are copied while holding the lock; larger ones
 * reserve room, copy unlocked so a reader can drain in parallel, then link. */
#define TP__COPY_LOCKED_MAX 4096

/* Room worth waking up for: a quarter of the pipe, or what the write
 * wants, up to half the pipe. */
static size_t batch_for(tp_pipe *p, size_t want)
{
    return TP__MIN(p->bsize / 2, want > p->bsize / 4 ? want : p->bsize / 4);
}

/* Before a copying write takes the lock: a pipe short of the room the
 * write wants is being drained a sliver at a time (readmatch frees 80
 * bytes a line), so a moment's wait, without the lock, lets the reader
 * free a batch. Otherwise the two sides would trade the lock for every
 * sliver, or the writer would take it only to wait. A full pipe is left
 * to the locked wait, which hears of room at once: a copy's reader frees
 * a lot at a time (step 18 in docs/benchmarks.md). A call that may not
 * wait does not. Returns what is left of the timeout. */
static double await_batch(tp_pipe *p, size_t want, double timeout)
{
    return tp__pipe_await_room(p, TP__MIN(want, batch_for(p, want)), false, timeout);
}

/* Waits until the pipe has room and no other writer holds the tail (a
 * wait for another writer's copy, bounded, happens even on a non-blocking
 * end). `want` is how much the caller would like to write. Returns the
 * room (> 0), or -1 with errno EPIPE, EAGAIN or ETIMEDOUT. Called and
 * returns with both locks held; lets go of the token while it waits. */
static ssize_t wait_room(tp_pipe *p, double timeout, size_t want)
{
    static const tp__deadline forever = {TP__DL_FOREVER, {0, 0}};
    /* The common case, without the waiting machinery: room, and no reason
     * to wait or fail (eof covers closed: tp_pipe_close sets both). */
    size_t room = tp__pipe_room(p);
    if (room > 0 && !p->tail_busy && !p->eof)
        return room > SSIZE_MAX ? SSIZE_MAX : (ssize_t)room;
    /* The deadline starts when the call first has to wait. */
    tp__deadline dl;
    const tp__deadline *d = &dl;
    tp__deadline_set(&dl, timeout); /* callers rejected NaN */
    tp__wait w;
    tp__wait_init(&w, TP_SIDE_WRITER, d);
    int err;
    bool drained = false;
    size_t batch = batch_for(p, want);
    for (bool timed_out = false;;) {
        if (p->closed || p->eof) {
            err = EPIPE;
            break;
        }
        room = tp__pipe_room(p);
        if (room > 0 && !p->tail_busy) {
            if (w.started && !drained && room < batch) {
                /* Woken into a nearly full pipe by a reader freeing a
                 * sliver at a time (readmatch frees 80 bytes per line,
                 * read_view one segment): let it free a batch, so the
                 * two sides do not trade the lock for every sliver. */
                drained = true;
                tp__wtoken_give(p);
                tp__pipe_grace(p, &p->wwaiters, batch);
                tp__wtoken_take(p);
                continue;
            }
            err = 0;
            break;
        }
        if (room == 0 && !p->wblocking) {
            err = EAGAIN;
            break;
        }
        if (timed_out) {
            err = ETIMEDOUT;
            break;
        }
        /* Waiting for another writer's copy is short and not a wait for
         * the reader: no timeout applies, even on a non-blocking end. */
        w.deadline = room > 0 ? &forever : d;
        tp__wtoken_give(p);
        timed_out = tp__pipe_sleep(p, &w, &p->wwaiters) == ETIMEDOUT;
        tp__wtoken_take(p);
    }
    if (tp__wait_end(p, &w, err) < 0)
        return -1;
    return room > SSIZE_MAX ? SSIZE_MAX : (ssize_t)room;
}

/* Makes n more bytes readable (the write token held): the bytes and the
 * links to them are in place, and the count's release store publishes
 * them. Waking readers is up to the caller. */
static void publish(tp_pipe *p, size_t n)
{
    tp__ext *x = p->ext;
    x->w.published += n;
    atomic_store_explicit(&p->published, x->w.published, memory_order_release);
    x->w.writes++; /* bytes_in is `published`, filled in by tp_pipe_get_stats */
    x->w.last_write_ns = tp__now_coarse_ns();
}

/* Publishes with both locks held, waking the readers that wait. */
static void publish_locked(tp_pipe *p, size_t n)
{
    publish(p, n);
    tp__pipe_changed(p, TP__WAKE_READERS);
}

/* Gives back the token after publishing without the lock, and wakes the
 * readers that watch (see struct tp_pipe: looking at `watched` while
 * still holding the token is what makes this safe). */
static void finish_unlocked(tp_pipe *p)
{
    /* Not before the publish: a biased token orders the two only by the
     * watcher's barrier (see tp__wtoken_sync). */
    atomic_signal_fence(memory_order_seq_cst);
    bool watched = atomic_load_explicit(&p->watched, memory_order_relaxed) != 0;
    tp__wtoken_give_writer(p);
    if (!watched)
        return;
    tp__pipe_lock(p);
    tp__pipe_changed(p, TP__WAKE_READERS);
    tp__pipe_unlock(p);
}

/* Appends a chain [first..last] after the tail (both locks held). A
 * drained tail left behind for reuse is dropped first, unless a reader
 * still copies from it or a view holds it: that reader drops it with its
 * reference, and the next read unlinks it, rather than the writer meet
 * the reader on its reference count. */
static void link_chain(tp_pipe *p, tp__seg *first, tp__seg *last, tp__seg **garbage)
{
    tp__pipe_forget_tail(p);
    /* A drained tail is the only segment (with both locks held, nothing
     * can be behind it or be added to it). */
    if (p->tail != NULL && tp__seg_unread(p->tail) == 0 && tp__seg_refs(p->tail) == 1) {
        tp__seg_set_next(p->tail, *garbage);
        *garbage = p->tail;
        p->head = p->tail = NULL;
        p->ext->match.seg = NULL;
    }
    if (p->tail != NULL)
        tp__seg_set_next(p->tail, first);
    else
        p->head = first;
    p->tail = last;
}

/* Smallest segment small writes start with. */
#define TP__SEG_START 128

/* Capacity for a new segment that small writes will append to: it doubles
 * while writes keep filling segments (a stream of small messages soon uses
 * full, recycled segments) and starts small again after a write_ref broke
 * the run (so alternating tiny copies and refs do not waste memory). */
static size_t small_segment_cap(tp_pipe *p, size_t need)
{
    tp__ext *x = p->ext;
    /* A drained pipe (no tail) keeps the size it had grown to. */
    bool filled_run = p->tail == NULL || !p->tail->is_ref;
    if (!filled_run || x->w.grow_cap < TP__SEG_START)
        x->w.grow_cap = TP__SEG_START;
    else if (x->w.grow_cap < p->pool->seg_cap)
        x->w.grow_cap *= 2;
    return need > x->w.grow_cap ? need : x->w.grow_cap;
}

/* Copies n bytes from the cursor into the tail under both locks, adding
 * segments as it fills. Returns the bytes copied (fewer only on ENOMEM). */
static size_t append_locked(tp_pipe *p, tp__iovcur *src, size_t n, tp__seg **garbage)
{
    tp__pipe_rewind_tail(p);
    tp__pipe_forget_tail(p);
    size_t done = 0;
    while (done < n) {
        tp__seg *t = p->tail;
        if (t == NULL || t->is_ref || tp__seg_end(t) == t->cap) {
            tp__seg *s = tp__seg_new_copy(p->pool, small_segment_cap(p, n - done));
            if (s == NULL)
                break;
            link_chain(p, s, s, garbage);
            t = s;
        }
        size_t end = tp__seg_end(t);
        size_t k = TP__MIN(n - done, t->cap - end);
        tp__iov_gather(src, t->data + end, k);
        tp__seg_set_end(t, end + k);
        done += k;
    }
    return done;
}

/* Fresh segments for n bytes, none written yet; NULL/ENOMEM. The last
 * piece asks for just its size: it gets a recycled full-size segment
 * when one is free (later writes fill the rest), and otherwise no more
 * memory than it needs, so a stalled reader does not pin empty space.
 * Pops the pool: the write token held, or tail_busy set. */
static tp__seg *new_chain(tp__pool *pool, size_t n, tp__seg **last)
{
    tp__seg *first = NULL, *tail = NULL;
    for (size_t got = 0; got < n;) {
        tp__seg *s = tp__seg_new_copy(pool, TP__MIN(n - got, pool->seg_cap));
        if (s == NULL) {
            tp__seg_unref_list(first);
            errno = ENOMEM;
            return NULL;
        }
        got += s->cap;
        if (tail != NULL)
            tp__seg_set_next(tail, s);
        else
            first = s;
        tail = s;
    }
    *last = tail;
    return first;
}

/* Copies n bytes from the cursor into a chain from new_chain(n). */
static void fill_chain(tp__seg *s, tp__iovcur *src, size_t n)
{
    for (; n > 0; s = tp__seg_next(s)) {
        size_t k = TP__MIN(n, s->cap);
        tp__iov_gather(src, s->data, k);
        tp__seg_set_end(s, k);
        n -= k;
    }
}

/* Copies n bytes from the cursor into fresh segments; NULL/ENOMEM. */
static tp__seg *copy_to_chain(tp__pool *pool, tp__iovcur *src, size_t n, tp__seg **last)
{
    tp__seg *first = new_chain(pool, n, last);
    if (first != NULL)
        fill_chain(first, src, n);
    return first;
}

/* A large write in progress: k bytes of room reserved, of which the first
 * `fill` go into the free space of the tail segment `tail` (held with a
 * reference and the tail_busy flag), the rest into a private chain. */
typedef struct big_write {
    size_t k;
    tp__seg *tail;
    size_t at, fill;
} big_write;

/* Under both locks: reserves room and the tail for a large write. */
static void reserve(tp_pipe *p, size_t k, big_write *bw)
{
    tp__pipe_rewind_tail(p);
    tp__seg *t = p->tail;
    bw->k = k;
    bw->tail = NULL;
    bw->at = bw->fill = 0;
    if (t != NULL && !t->is_ref && tp__seg_end(t) < t->cap) {
        tp__seg_ref(t); /* a close may unlink it while we copy */
        bw->tail = t;
        bw->at = tp__seg_end(t);
        bw->fill = TP__MIN(k, t->cap - bw->at);
    }
    p->reserved += k;
    p->tail_busy = true;
    tp__pipe_forget_tail(p); /* its end moves when the write is done */
}

/* The unlocked copy of a large write, then linking it in. Contiguous in
 * the stream: no other writer can add to the tail meanwhile. */
static ssize_t write_reserved(tp_pipe *p, tp__iovcur *src, const big_write *bw)
{
    size_t rest = bw->k - bw->fill;
    tp__seg *last = NULL, *chain = NULL, *garbage = NULL;
    if (bw->fill > 0)
        tp__iov_gather(src, bw->tail->data + bw->at, bw->fill);
    if (rest > 0)
        chain = copy_to_chain(p->pool, src, rest, &last);
    int err = (rest > 0 && chain == NULL) ? ENOMEM : 0;

    tp__pipe_lock_both(p);
    p->reserved -= bw->k;
    p->tail_busy = false;
    if (err == 0 && (p->closed || p->eof)) {
        /* The reader closed (or EOF was written) while we copied. */
        err = EPIPE;
        garbage = chain;
    } else if (err == 0) {
        if (bw->fill > 0) /* still the tail: nobody could move it */
            tp__seg_set_end(bw->tail, bw->at + bw->fill);
        if (chain != NULL)
            link_chain(p, chain, last, &garbage);
        publish_locked(p, bw->k);
    }
    tp__pipe_changed(p, TP__WAKE_WRITERS); /* the tail (and any unused room) is free */
    tp__pipe_unlock_both(p);

    if (bw->tail != NULL)
        tp__seg_unref(bw->tail);
    tp__seg_unref_list(garbage);
    return err ? tp__fail(err) : (ssize_t)bw->k;
}

/* A zero-length write never waits: it fails only after EOF or close, and
 * write_ref's release runs at once since the pipe keeps nothing. */
static ssize_t zero_write(tp_pipe *p, tp_release_fn release, void *ctx)
{
    tp__pipe_lock(p);
    bool ended = p->closed || p->eof;
    tp__pipe_unlock(p);
    if (ended)
        return tp__fail(EPIPE);
    if (release != NULL)
        release(ctx);
    return 0;
}

/* Whether n more bytes fit, by the writers' copies of the counters. */
static inline bool fits_by_copies(const tp__ext *x, size_t n)
{
    size_t used = (size_t)(x->w.published - x->w.consumed);
    return used < x->w.bsize && x->w.bsize - used >= n;
}

/* Whether n more bytes fit the pipe, for a write holding the token with
 * no large write in progress (so nothing is reserved). The writers' copy
 * of `consumed` answers first; the reader's counter, on the reader's
 * line, is read only when the copy says no. */
static inline bool room_for(tp_pipe *p, size_t n)
{
    tp__ext *x = p->ext;
    if (fits_by_copies(x, n))
        return true;
    x->w.consumed = tp__count(&p->consumed);
    return fits_by_copies(x, n);
}

/* Looks up the tail t for the writers' copy (see tp__ext.w.tail): once
 * per segment, not once per write. The write token held, no large write
 * in progress. */
static void learn_tail(tp__ext *x, tp__seg *t)
{
    x->w.tail = t;
    x->w.tail_end = t->is_ref ? 0 : tp__seg_end(t);
    x->w.tail_cap = t->is_ref ? 0 : t->cap;
}

/* Free space at the end of a copy tail worth giving back before a ref
 * segment, or a large write's ready chain, is linked after it (nothing
 * can be appended to it after that). */
#define TP__STRANDED_MAX 4096

/* Whether linking after a copy segment filled to `end` of `cap` would
 * strand more free space than TP__STRANDED_MAX. Without giving it back,
 * a stream that mixes small writes with refs or large writes could hold
 * up to twice bsize: each could follow a large copy segment that small
 * writes had only begun to fill. */
static inline bool strands(size_t cap, size_t end)
{
    return cap - end > TP__STRANDED_MAX;
}

/* strands for the segment t (a ref segment strands nothing). */
static inline bool strands_space(tp__seg *t)
{
    return !t->is_ref && strands(t->cap, tp__seg_end(t));
}

/* strands_space for the tail the writers know (see known_tail; a ref
 * tail is known with no room). */
static inline bool known_tail_strands_space(const tp__ext *x)
{
    return strands(x->w.tail_cap, x->w.tail_end);
}

/* For a write that takes the write token alone: the ext, whose w.tail
 * is then the tail, if nothing is in the way (a tail to add to, no other
 * writer's large copy in progress, no EOF, which covers closed:
 * tp_pipe_close sets both). NULL otherwise. The write token held. The
 * ext is read only once there is a tail: a reader may be making it under
 * the lock alone, but a tail is linked with the token, after the ext was
 * made. A copy that names another segment is relearned too (the pointer
 * is at hand); the forgets are what cover a new tail at the old one's
 * address. */
static tp__ext *known_tail(tp_pipe *p)
{
    tp__seg *t = p->tail;
    if (t == NULL || p->tail_busy || p->eof)
        return NULL;
    tp__ext *x = p->ext;
    if (x->w.tail != t)
        learn_tail(x, t);
    return x;
}

/* Links the private chain [first..last] of n bytes after the tail the
 * writers know (x from known_tail), which `last` then is for them too,
 * publishes the bytes and gives back the write token. */
static void link_after_known(tp_pipe *p, tp__ext *x, tp__seg *first, tp__seg *last, size_t n)
{
    /* The last touch of the old tail: once linked, a reader may unlink it. */
    tp__seg_set_next(x->w.tail, first);
    p->tail = last;
    learn_tail(x, last);
    publish(p, n);
    finish_unlocked(p);
}

/* The common small write (n <= TP__COPY_LOCKED_MAX), with the write
 * token alone: it fits the tail's free space and the pipe's room, and
 * nothing is in the way. Returns whether it wrote. */
static bool write_fast(tp_pipe *p, const void *buf, size_t n)
{
    if (!tp__wtoken_try(p))
        return false; /* another writer is busy: queue on the lock */
    tp__ext *x = known_tail(p);
    if (x == NULL || x->w.tail_cap - x->w.tail_end < n || !room_for(p, n)) {
        tp__wtoken_give(p);
        return false;
    }
    tp__seg *t = x->w.tail;
    memcpy(tp__seg_inline_data(t) + x->w.tail_end, buf, n);
    x->w.tail_end += n;
    tp__seg_set_end(t, x->w.tail_end);
    publish(p, n);
    finish_unlocked(p);
    return true;
}

/* Gives back the free space of a copy tail that a ref segment or a large
 * write's ready chain is about to follow (both locks held), unless someone else holds a reference
 * to it (a view, or a large read copying out of it) or it is drained (link_chain drops it). The
 * allocator may move the block: then whatever pointed at it is pointed at the new one. */
static void shrink_tail(tp_pipe *p)
{
    tp__seg *t = p->tail;
    if (t == NULL || !strands_space(t) || tp__seg_unread(t) == 0 || p->tail_busy ||
        tp__seg_refs(t) != 1)
        return;
    size_t end = tp__seg_end(t);
    tp__seg *moved = tp__realloc(t, sizeof(tp__seg) + end);
    if (moved == NULL)
        return;       /* keep the space; nothing is lost */
    moved->cap = end; /* no longer full-size: freed, not recycled, when read */
    tp__pipe_forget_tail(p);
    if (moved == t)
        return;
    moved->data = tp__seg_inline_data(moved);
    if (p->head == t) {
        p->head = moved;
    } else {
        tp__seg *prev = p->head;
        while (tp__seg_next(prev) != t)
            prev = tp__seg_next(prev);
        tp__seg_set_next(prev, moved);
    }
    p->tail = moved;
    p->ext->match.seg = NULL; /* readmatch's cursor may point into t */
}

/* Cuts a filled chain after its first n bytes (0 < n <= what it holds):
 * returns the segments past them, and sets *last to the one they end in.
 * The chain is private: no reader can see it yet. */
static tp__seg *cut_chain(tp__seg *first, size_t n, tp__seg **last)
{
    tp__seg *s = first;
    for (; tp__seg_end(s) < n; s = tp__seg_next(s))
        n -= tp__seg_end(s);
    tp__seg_set_end(s, n);
    tp__seg *rest = tp__seg_next(s);
    tp__seg_set_next(s, NULL);
    *last = s;
    return rest;
}

/* Links a filled private chain [first..last] of n bytes with the write
 * token alone, if nothing is in the way: a tail to link after that would
 * strand no space, and room for all n. Returns whether it did. */
static bool link_fast(tp_pipe *p, tp__seg *first, tp__seg *last, size_t n)
{
    if (!tp__wtoken_try(p))
        return false;
    tp__ext *x = known_tail(p);
    if (x == NULL || known_tail_strands_space(x) || !room_for(p, n)) {
        tp__wtoken_give(p);
        return false;
    }
    link_after_known(p, x, first, last, n);
    return true;
}

/* Links as much of a filled private chain of n bytes as there is room
 * for, under both locks, waiting for room as any copying write does.
 * Returns the bytes linked, or -1 with wait_room's errno; frees the rest. */
static ssize_t link_locked(tp_pipe *p, tp__seg *first, size_t n, double timeout)
{
    tp__seg *garbage = NULL, *last = NULL;
    tp__pipe_lock_both(p);
    ssize_t room = wait_room(p, timeout, n);
    if (room < 0) {
        int err = errno;
        tp__pipe_unlock_both(p);
        tp__seg_unref_list(first);
        return tp__fail(err);
    }
    size_t k = TP__MIN(n, (size_t)room);
    tp__seg *rest = cut_chain(first, k, &last);
    shrink_tail(p);
    link_chain(p, first, last, &garbage);
    publish_locked(p, k);
    tp__pipe_unlock_both(p);
    tp__seg_unref_list(rest);
    tp__seg_unref_list(garbage);
    return (ssize_t)k;
}

/* Most bytes one large write copies before it knows there is room. */
#define TP__PRECOPY_MAX (1024 * 1024)

/* How much of an n-byte write to copy before linking it: all that the
 * writers' copies of the counters say fits now, or, in a pipe fuller
 * than that, up to TP__PRECOPY_MAX (and bsize) to hold ready. */
static size_t precopy_size(const tp__ext *x, size_t n)
{
    size_t used = (size_t)(x->w.published - x->w.consumed);
    size_t room = used < x->w.bsize ? x->w.bsize - used : 0;
    size_t ready = TP__MIN(x->w.bsize, TP__PRECOPY_MAX);
    return TP__MIN(TP__MIN(n, (size_t)SSIZE_MAX), room > ready ? room : ready);
}

/* A large write (more than TP__COPY_LOCKED_MAX bytes) that may wait, on
 * a pipe with a tail that would strand no space: copies first, into
 * fresh segments taken with the write token, and links after, once there
 * is room. A writer streaming to a reader that keeps the pipe full then
 * has its bytes ready when the reader makes room, instead of starting to
 * copy only then: its copy overlaps the reader's, not the round trip
 * between them. The pipe holds no more than bsize; the writer's private
 * chain (see precopy_size) comes on top until it is linked.
 * Returns the bytes written, -1 with errno, or -2 to leave the write to
 * the reserving path (nothing done). */
static ssize_t write_precopied(tp_pipe *p, const void *buf, size_t n, double timeout)
{
    if (timeout == 0 || !atomic_load_explicit(&p->wblocking, memory_order_relaxed) ||
        !tp__wtoken_try(p))
        return -2;
    tp__ext *x = known_tail(p);
    tp__seg *first = NULL, *last = NULL;
    size_t k = 0;
    if (x != NULL && !known_tail_strands_space(x)) {
        k = precopy_size(x, n);
        first = new_chain(p->pool, k, &last); /* pops the pool: token held */
    }
    tp__wtoken_give(p);
    if (first == NULL)
        return -2;
    struct iovec one = {(void *)(uintptr_t)buf, k};
    tp__iovcur src = {&one, 1, 0};
    fill_chain(first, &src, k);
    timeout = tp__pipe_await_room(p, k, true, timeout);
    if (link_fast(p, first, last, k))
        return (ssize_t)k;
    return link_locked(p, first, k, timeout);
}

/* Every copying write of n > 0 bytes from the cursor, waiting up to
 * timeout seconds (not NaN). Called with both locks held, returns with
 * neither. */
static ssize_t write_copy_locked(tp_pipe *p, tp__iovcur *src, size_t n, double timeout)
{
    tp__seg *garbage = NULL;
    ssize_t room = wait_room(p, timeout, n);
    int err = room < 0 ? errno : tp__pipe_ensure_pool(p);
    if (err != 0) {
        tp__pipe_unlock_both(p);
        return tp__fail(err);
    }
    size_t k = TP__MIN(n, (size_t)room);
    if (k > TP__COPY_LOCKED_MAX) {
        big_write bw;
        reserve(p, k, &bw);
        tp__pipe_unlock_both(p);
        return write_reserved(p, src, &bw);
    }
    size_t done = append_locked(p, src, k, &garbage);
    if (done > 0)
        publish_locked(p, done);
    tp__pipe_unlock_both(p);
    tp__seg_unref_list(garbage);
    return done > 0 ? (ssize_t)done : tp__fail(ENOMEM);
}

ssize_t tp_pipe_write_timed(tp_pipe *p, const void *buf, size_t n, double timeout)
{
    if (p == NULL || (buf == NULL && n > 0) || timeout != timeout)
        return tp__fail(EINVAL);
    if (n == 0)
        return zero_write(p, NULL, NULL);
    if (n <= TP__COPY_LOCKED_MAX && write_fast(p, buf, n))
        return (ssize_t)n;
    if (n > TP__COPY_LOCKED_MAX) {
        ssize_t r = write_precopied(p, buf, n, timeout);
        if (r != -2)
            return r;
    }
    timeout = await_batch(p, n, timeout);
    tp__pipe_lock_both(p);
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    struct iovec one = {(void *)(uintptr_t)buf, n};
    tp__iovcur src = {&one, 1, 0};
    return write_copy_locked(p, &src, n, timeout);
}

ssize_t tp_pipe_write(tp_pipe *p, const void *buf, size_t n)
{
    return tp_pipe_write_timed(p, buf, n, p ? p->timeout : 0);
}

ssize_t tp_pipe_writev(tp_pipe *p, const struct iovec *iov, int iovcnt)
{
    size_t n;
    if (p == NULL || tp__iov_validate(iov, iovcnt, &n) != 0)
        return tp__fail(EINVAL);
    if (n == 0)
        return zero_write(p, NULL, NULL);
    tp__iovcur src = {iov, iovcnt, 0};
    double timeout = await_batch(p, n, p->timeout);
    tp__pipe_lock_both(p);
    return write_copy_locked(p, &src, n, timeout);
}

/* A write_ref with the write token alone: there is a tail to link after
 * (the empty pipe's first link sets the head, under the lock) and room.
 * Returns whether it wrote. */
static bool write_ref_fast(tp_pipe *p, const void *buf, size_t n, tp_release_fn release, void *ctx)
{
    if (!tp__wtoken_try(p))
        return false;
    tp__ext *x = known_tail(p);
    tp__seg *s = NULL;
    if (x != NULL && room_for(p, 1) && !known_tail_strands_space(x))
        s = tp__seg_new_ref(p->pool, buf, n, release, ctx);
    if (s == NULL) {
        tp__wtoken_give(p);
        return false;
    }
    link_after_known(p, x, s, s, n); /* a ref tail is known with no room */
    return true;
}

ssize_t tp_pipe_write_ref(tp_pipe *p, const void *buf, size_t n, tp_release_fn release, void *ctx)
{
    if (p == NULL || (buf == NULL && n > 0) || n > SSIZE_MAX)
        return tp__fail(EINVAL);
    if (n == 0)
        return zero_write(p, release, ctx);
    if (write_ref_fast(p, buf, n, release, ctx))
        return (ssize_t)n;
    /* A full pipe too: a zero-copy reader frees one buffer at a time, and
     * the writer that waits unlocked can then link with the token alone,
     * where the locked wait would trade the lock with the reader at every
     * buffer (step 22 in docs/benchmarks.md). */
    double timeout = tp__pipe_await_room(p, TP__MIN(n, batch_for(p, n)), true, p->timeout);
    if (write_ref_fast(p, buf, n, release, ctx))
        return (ssize_t)n;
    tp__seg *garbage = NULL;
    tp__pipe_lock_both(p);
    /* Any room takes the whole buffer; n only sizes the batch to wait for. */
    ssize_t room = wait_room(p, timeout, n);
    int err = room < 0 ? errno : tp__pipe_ensure_pool(p);
    tp__seg *s = err == 0 ? tp__seg_new_ref(p->pool, buf, n, release, ctx) : NULL;
    if (s == NULL) {
        tp__pipe_unlock_both(p);
        return tp__fail(err ? err : ENOMEM);
    }
    shrink_tail(p);
    link_chain(p, s, s, &garbage);
    publish_locked(p, n);
    tp__pipe_unlock_both(p);
    tp__seg_unref_list(garbage);
    return (ssize_t)n;
}
