/* pipe_wait.c - how a pipe call waits: a brief adaptive spin (the other side
 * is often about to act), then sleep on the pipe's condition with one
 * absolute deadline; plus the public waits and flush built on it. */
#include "internal.h"

#include <errno.h>

/* Spin budget bounds: spins that pay off double it, futile ones halve it.
 * The floor must exceed the time a sleeping partner takes to wake up and
 * answer (a few to ~20 us), or two threads that once fell asleep would
 * never catch each other spinning again; an idle reader pays one such
 * spin per wait, then sleeps. */
#define TP__SPIN_MIN_NS 20000u
#define TP__SPIN_MAX_NS 100000u

void tp__wait_init(tp__wait *w, int side, const tp__deadline *d)
{
    /* start_wait sets the clocks when the call really waits; they are
     * zeroed here so that no path can read them unset. */
    w->deadline = d;
    w->side = side;
    w->need = 1;
    w->spun = false;
    w->watching = false;
    w->started = false;
    w->since = w->last_move = w->next_stall = 0;
    w->progress = 0;
}

/* Registers a spinning waiter, of the kind whose sleepers `waiters`
 * counts, and what would end its spin (see spinner_may_go in pipe.c).
 * Several spinners of a kind share the smallest need; a stale one only
 * ends a spin early. */
static void spin_enter(tp_pipe *p, const unsigned *waiters, size_t need)
{
    if (waiters == &p->rwaiters) {
        if (p->rspinners++ == 0 || need < p->rspin_need)
            p->rspin_need = need;
    } else if (waiters == &p->wwaiters) {
        if (p->wspinners++ == 0 || need < p->wspin_need)
            p->wspin_need = need;
    } else {
        p->fspinners++;
    }
}

static void spin_leave(tp_pipe *p, const unsigned *waiters)
{
    if (waiters == &p->rwaiters)
        p->rspinners--;
    else if (waiters == &p->wwaiters)
        p->wspinners--;
    else
        p->fspinners--;
}

/* Drops the lock and watches the spin word until the other side bumps it
 * (it does so only when this wait may be over) or `ns` pass; or, given a
 * `moving` counter, until it stands still for one look (about a
 * microsecond): the other side paused. A reader's spin also ends as soon
 * as writers have published `need` bytes: writers that publish without
 * the lock bump the word only for readers counted as watching, and a
 * spinning reader is not (see tp__pipe_sleep). Returns whether anything
 * changed meanwhile (the caller must re-check before it sleeps). Called
 * and returns locked. */
static bool watch_spin_word(tp_pipe *p, const unsigned *waiters, size_t need, unsigned ns,
                            const tp__counter *moving)
{
    atomic_uint *word = &p->ext->seq;
    spin_enter(p, waiters, need);
    unsigned seen = atomic_load_explicit(word, memory_order_relaxed);
    uint64_t progress = tp__pipe_progress(p);
    const tp__counter *published = waiters == &p->rwaiters && moving == NULL ? &p->published : NULL;
    uint64_t seen_published = published ? tp__count(published) : 0;
    const tp__seg *head = published ? p->head : NULL;
    const char *next_byte = head ? head->data + head->start : NULL;
    tp__pipe_unlock(p);
    bool bumped = false;
    double until = tp__now() + ns / 1e9;
    uint64_t moved = moving ? tp__count(moving) : 0;
    for (unsigned i = 1;; i++) {
        tp__spin_step(i);
        if (atomic_load_explicit(word, memory_order_relaxed) != seen) {
            bumped = true;
            break;
        }
        uint64_t now_published = published != NULL ? tp__count(published) : seen_published;
        if (now_published != seen_published) {
            /* The reader is about to read the head segment's header and
             * its next byte, two lines the writer has just written, and
             * then to store its counter, whose line the writer's store
             * just took: asking for all three now (the last one to
             * write) overlaps their trips between the cores, which
             * otherwise come one after another, the last while the
             * unlock waits for the store. A prefetch of a segment that
             * has gone meanwhile does no harm. */
            if (head != NULL) {
                __builtin_prefetch(head);
                __builtin_prefetch(next_byte);
                __builtin_prefetch(&p->consumed, 1);
            }
            /* Enough for the caller (readmatch may need a whole line)? */
            seen_published = now_published;
            if (tp__pipe_buffered(p) >= need) {
                bumped = true;
                break;
            }
        }
        if (i % 64 != 0)
            continue;
        if (tp__now() >= until)
            break;
        if (moving != NULL) {
            /* A rare look at a line the other side writes: cheap. */
            uint64_t now_moved = tp__count(moving);
            if (now_moved == moved)
                break;
            moved = now_moved;
            /* Writers that publish without the lock bump the word only
             * for watching readers: a grace looks for itself. */
            if (moving == &p->published && tp__pipe_buffered(p) >= need)
                break;
        }
    }
    tp__pipe_lock(p);
    spin_leave(p, waiters);
    /* A change must not be slept through: nobody broadcast it, since
     * nobody was asleep. That covers a bump between the last look and
     * re-locking, and moves that did not meet `need` but may still matter
     * to the caller (another reader took bytes, then new ones came). */
    return bumped || atomic_load_explicit(word, memory_order_relaxed) != seen ||
           tp__pipe_progress(p) != progress;
}

/* The brief spin before sleeping, with an adaptive budget: spins that pay
 * off double it, futile ones halve it. Returns whether the other side
 * acted meanwhile. Called and returns locked. */
static bool spin_for_change(tp_pipe *p, const tp__wait *w, unsigned *waiters)
{
    if (p->ext == NULL)
        return false; /* no spin word: go straight to sleep */
    unsigned budget = p->spin_ns ? p->spin_ns : TP__SPIN_MIN_NS;
    bool changed = watch_spin_word(p, waiters, w->need, budget, NULL);
    if (changed)
        p->spin_ns = budget * 2 < TP__SPIN_MAX_NS ? budget * 2 : TP__SPIN_MAX_NS;
    else
        p->spin_ns = budget / 2 > TP__SPIN_MIN_NS ? budget / 2 : TP__SPIN_MIN_NS;
    return changed;
}

/* How long tp__pipe_grace waits at most. */
#define TP__GRACE_NS 10000u

void tp__pipe_grace(tp_pipe *p, unsigned *waiters, size_t need)
{
    /* A reader waits for bytes to be published, a writer for them to be
     * consumed; either gives up as soon as the other side stops. */
    const tp__counter *moving = waiters == &p->rwaiters ? &p->published : &p->consumed;
    if (p->ext != NULL)
        watch_spin_word(p, waiters, need, TP__GRACE_NS, moving);
}

/* Room a writer can count on without the lock: another writer's
 * reservation is not seen, so this is a hint, checked again locked. */
static size_t room_hint(tp_pipe *p)
{
    size_t buffered = tp__pipe_buffered(p);
    return buffered < p->bsize ? p->bsize - buffered : 0;
}

/* How long tp__pipe_await_room waits at most: about the time a reader
 * that frees 80 bytes at a time takes to free a batch of 32 KiB. */
#define TP__AWAIT_ROOM_SECS 50e-6
/* Its first look at the reader's counter, and the least time between
 * looks: soon for a full pipe, whose reader (zero-copy, as a rule) frees
 * whole buffers a fraction of a microsecond apart; later for a pipe with
 * a sliver of room, whose reader frees it a line at a time, since every
 * look costs that reader a miss. And how long the counter may stand
 * still before the reader counts as paused. */
#define TP__AWAIT_FIRST_LOOK_FULL 125e-9
#define TP__AWAIT_FIRST_LOOK 1e-6
#define TP__AWAIT_PAUSED 1e-6
/* Pauses between readings of the clock: a pause takes 25 ns on the
 * machine tuned for, a clock reading about as long. */
#define TP__AWAIT_CLOCK_EVERY 4u

/* When tp__pipe_await_room looks next, at `now`: while the reader has
 * freed nothing, after twice as long as it has waited so far; then when
 * the reader, at the pace seen since `start`, will have freed `short_by`
 * more bytes. Never sooner than `gap` from now. */
static double next_look(double start, double now, double gap, uint64_t freed, size_t short_by)
{
    double wait = now - start;
    if (freed > 0)
        wait = (double)short_by / ((double)freed / (now - start));
    return now + (wait > gap ? wait : gap);
}

double tp__pipe_await_room(tp_pipe *p, size_t need, bool when_full, double timeout)
{
    size_t room = room_hint(p);
    if ((room == 0 && !when_full) || room >= need || timeout == 0 ||
        !atomic_load_explicit(&p->wblocking, memory_order_relaxed))
        return timeout;
    double most = timeout > 0 && timeout < TP__AWAIT_ROOM_SECS ? timeout : TP__AWAIT_ROOM_SECS;
    /* Each look at the reader's counter costs the reader a cache miss on
     * its next read, so the clock (a local read) decides when to look:
     * first after a delay that suits the kind of wait, then about when
     * the reader, at the pace seen so far, will have freed enough. */
    uint64_t first = tp__count(&p->consumed), moved = first;
    double start = tp__now(), until = start + most;
    double gap = room == 0 ? TP__AWAIT_FIRST_LOOK_FULL : TP__AWAIT_FIRST_LOOK;
    double look = start + gap;
    double moved_at = start;
    for (unsigned i = 1;; i++) {
        tp__cpu_relax();
        if (i % TP__AWAIT_CLOCK_EVERY != 0)
            continue;
        double now = tp__now();
        if (now < look)
            continue;
        uint64_t now_moved = tp__count(&p->consumed);
        room = room_hint(p);
        if (now_moved != moved) {
            moved = now_moved;
            moved_at = now;
        }
        if (room >= need || now - moved_at >= TP__AWAIT_PAUSED || now >= until) {
            /* Enough room, or the reader paused, or time is up. */
            if (timeout < 0)
                return timeout;
            return timeout > now - start ? timeout - (now - start) : 0;
        }
        look = next_look(start, now, gap, moved - first, need - room);
        if (look > until)
            look = until;
    }
}

/* The first wait of a call: counts it and starts its clocks. */
static void start_wait(tp_pipe *p, tp__wait *w)
{
    w->started = true;
    w->since = w->last_move = tp__now();
    w->progress = tp__pipe_progress(p);
    if (p->ext == NULL)
        tp__pipe_ensure_ext(p); /* stats are best effort if this fails */
    if (p->ext != NULL) {
        if (w->side == TP_SIDE_READER)
            p->ext->stats.read_waits++;
        else
            p->ext->stats.write_waits++;
        w->next_stall = w->since + p->ext->stall_after;
    }
}

/* If a stall callback is installed and due before the real deadline,
 * returns true and sets *dl to when it is due. */
static bool stall_timer(tp_pipe *p, tp__wait *w, tp__deadline *dl)
{
    if (p->ext == NULL || p->ext->stall_fn == NULL)
        return false;
    uint64_t progress = tp__pipe_progress(p);
    if (progress != w->progress) {
        w->progress = progress;
        w->last_move = tp__now();
        w->next_stall = w->last_move + p->ext->stall_after;
    }
    double due = w->next_stall;
    const tp__deadline *real = w->deadline;
    if (real->kind == TP__DL_AT && (double)real->at.tv_sec + (double)real->at.tv_nsec / 1e9 <= due)
        return false;
    dl->kind = TP__DL_AT;
    dl->at.tv_sec = (time_t)due;
    dl->at.tv_nsec = (long)((due - (double)dl->at.tv_sec) * 1e9);
    return true;
}

/* The stall timer fired: tell the callback if nothing moved meanwhile. */
static void stall_fired(tp_pipe *p, tp__wait *w)
{
    double now = tp__now();
    uint64_t progress = tp__pipe_progress(p);
    if (progress != w->progress) {
        w->progress = progress;
        w->last_move = now;
    } else if (p->ext != NULL && p->ext->stall_fn != NULL) {
        tp_stall_fn fn = p->ext->stall_fn;
        void *ctx = p->ext->stall_ctx;
        tp__pipe_unlock(p);
        fn(p, w->side, now - w->last_move, ctx);
        tp__pipe_lock(p);
    }
    if (p->ext != NULL)
        w->next_stall = now + p->ext->stall_after;
}

/* Sleeps on the pipe's condition until a wake-up or the deadline, the
 * read token given back meanwhile (the mutex is, by the wait). */
static int sleep_unlocked(tp_pipe *p, const tp__deadline *dl)
{
    if (tp__rtoken_in_use(p))
        tp__rtoken_give(p);
    int rc = tp__cond_wait(&p->changed, &p->lock, dl);
    /* In use now even if it was not: a readmatch may have started it. */
    if (tp__rtoken_in_use(p))
        tp__rtoken_take(p);
    return rc;
}

int tp__pipe_sleep(tp_pipe *p, tp__wait *w, unsigned *waiters)
{
    if (w->deadline->kind == TP__DL_NOW)
        return ETIMEDOUT;
    if (!w->started)
        start_wait(p, w);
    /* A reader spins before it counts itself as watching: while it is not
     * counted, writers that publish without the lock need not take it to
     * wake anybody, and a reader that has just caught up with its writer
     * is usually fed again within the spin. */
    if (!w->spun) {
        w->spun = true;
        if (spin_for_change(p, w, waiters))
            return 0;
    }
    if (waiters == &p->rwaiters && !w->watching) {
        /* A writer may have published without the lock since the caller
         * last looked, and seen nobody watching. Count this reader as
         * watching first, pass through the token, then have the caller
         * look again (see struct tp_pipe). */
        w->watching = true;
        tp__pipe_watch(p, 1);
        return 0;
    }
    tp__deadline stall_dl;
    bool stall = stall_timer(p, w, &stall_dl);
    (*waiters)++;
    int rc = sleep_unlocked(p, stall ? &stall_dl : w->deadline);
    (*waiters)--;
    if (rc == ETIMEDOUT && stall) {
        stall_fired(p, w);
        return 0; /* the real deadline has not passed yet */
    }
    return rc;
}

int tp__wait_end_slow(tp_pipe *p, tp__wait *w, int err)
{
    if (w->watching)
        tp__pipe_watch(p, -1);
    if (p->ext != NULL) {
        tp_pipe_stats *st = &p->ext->stats;
        if (w->started) {
            double secs = tp__now() - w->since;
            if (w->side == TP_SIDE_READER)
                st->read_wait_secs += secs;
            else
                st->write_wait_secs += secs;
        }
        if (err == ETIMEDOUT)
            st->timeouts++;
    }
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- the public waits and flush ---- */

enum wait_kind { WAIT_WRITABLE, WAIT_READABLE, WAIT_DRAINED };

/* 1: the condition holds; 0: not yet; -1/EPIPE: it never will. */
static int wait_state(tp_pipe *p, enum wait_kind kind)
{
    if (p->closed || (kind == WAIT_WRITABLE && p->eof)) {
        errno = EPIPE;
        return -1;
    }
    switch (kind) {
    case WAIT_WRITABLE:
        return tp__pipe_room(p) > 0;
    case WAIT_READABLE:
        return tp__pipe_buffered(p) > 0 || p->eof;
    case WAIT_DRAINED:
    default:
        return tp__pipe_buffered(p) == 0;
    }
}

static int wait_for(tp_pipe *p, enum wait_kind kind, double timeout)
{
    tp__deadline d;
    if (p == NULL || tp__deadline_set(&d, timeout) != 0)
        return tp__fail(EINVAL);
    unsigned *waiters = kind == WAIT_WRITABLE   ? &p->wwaiters
                        : kind == WAIT_READABLE ? &p->rwaiters
                                                : &p->fwaiters;
    tp__wait w;
    tp__wait_init(&w, kind == WAIT_READABLE ? TP_SIDE_READER : TP_SIDE_WRITER, &d);
    int err = 0;
    tp__pipe_lock(p);
    for (bool timed_out = false;;) {
        int st = wait_state(p, kind);
        if (st != 0) {
            err = st < 0 ? errno : 0;
            break;
        }
        if (timed_out) {
            err = ETIMEDOUT;
            break;
        }
        timed_out = tp__pipe_sleep(p, &w, waiters) == ETIMEDOUT;
    }
    int rc = tp__wait_end(p, &w, err);
    tp__pipe_unlock(p);
    if (rc < 0)
        errno = err;
    return rc;
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
    if (p == NULL)
        return tp__fail(EINVAL);
    tp__deadline d;
    tp__deadline_set(&d, p->timeout);
    tp__wait w;
    tp__wait_init(&w, TP_SIDE_WRITER, &d);
    int err = 0;
    tp__pipe_lock(p);
    uint64_t progress = tp__count(&p->consumed);
    for (bool timed_out = false;;) {
        if (p->closed) {
            err = EPIPE;
            break;
        }
        if (tp__pipe_buffered(p) == 0)
            break;
        if (!p->wblocking) {
            err = EAGAIN;
            break;
        }
        if (tp__count(&p->consumed) != progress) {
            /* The reader moved: the idle clock starts again. */
            progress = tp__count(&p->consumed);
            tp__deadline_set(&d, p->timeout);
            timed_out = false;
        }
        if (timed_out) {
            err = ETIMEDOUT;
            break;
        }
        timed_out = tp__pipe_sleep(p, &w, &p->fwaiters) == ETIMEDOUT;
    }
    int rc = tp__wait_end(p, &w, err);
    tp__pipe_unlock(p);
    if (rc < 0)
        errno = err;
    return rc;
}
