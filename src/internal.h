/* internal.h - private declarations shared by tpipe's source files: the
 * allocator seam, logging, deadlines, segments and the pipe structure. */
#ifndef TP_INTERNAL_H
#define TP_INTERNAL_H

#include "tpipe.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

/* The smaller size. A function, not a macro: an argument may be an atomic
 * load that must be read once. */
static inline size_t tp__min(size_t a, size_t b)
{
    return a < b ? a : b;
}
#define TP__MIN(a, b) tp__min((a), (b))

/* Tells the CPU this thread is spinning (frees the core's resources for
 * the other hyperthread, saves power). */
static inline void tp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin iterations that only pause before a spinner starts yielding. */
#define TP__SPIN_PAUSES 256u

/* One step of a spin-wait: a pause at first; later a sched_yield, so on a
 * machine with more runnable threads than cores the spinner hands its core
 * to the thread it waits for instead of burning it (on an idle core the
 * yield returns at once and the spin goes on). */
static inline void tp__spin_step(unsigned i)
{
    if (i < TP__SPIN_PAUSES)
        tp__cpu_relax();
    else
        sched_yield();
}

/* Sets errno and returns -1: the failure return of most calls. */
static inline int tp__fail(int err)
{
    errno = err;
    return -1;
}

/* ---- alloc.c: every allocation goes through the installed allocator ---- */
void *tp__malloc(size_t n);
/* tp__malloc on a cache-line boundary, with the default allocator (an
 * installed one aligns as it does); freed with tp__free. For the
 * structures both sides of a pipe touch: the pipe, its extras, its pool. */
void *tp__malloc_lines(size_t n);
void *tp__realloc(void *ptr, size_t n);
void tp__free(void *ptr);
char *tp__strdup(const char *s);

/* ---- log.c ---- */
void tp__log(int level, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- deadline.c: one absolute CLOCK_MONOTONIC deadline per wait ---- */
enum tp__deadline_kind { TP__DL_FOREVER, TP__DL_NOW, TP__DL_AT };
typedef struct tp__deadline {
    enum tp__deadline_kind kind;
    struct timespec at; /* valid for TP__DL_AT */
} tp__deadline;

/* Sets d to "timeout seconds from now". Returns 0 or EINVAL (NaN). */
int tp__deadline_set(tp__deadline *d, double timeout);
/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
int tp__cond_init(pthread_cond_t *c);
/* One wait on c (may wake spuriously). Returns 0, or ETIMEDOUT once the
 * deadline has passed (at once for TP__DL_NOW). */
int tp__cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const tp__deadline *d);

/* ---- segment.c: the pieces a pipe's byte stream is made of ----
 *
 * A segment is either a copy segment (tpipe owns an inline buffer of
 * pool->seg_cap bytes that writers append to) or a ref segment (the
 * caller's buffer from tp_pipe_write_ref, released through its callback).
 * Segments are reference counted: the pipe's chain holds one reference and
 * every outstanding view or in-flight read copy holds one more, so the
 * bytes stay valid while a reader copies them outside the pipe lock and
 * after the pipe itself is gone. A tp_view * is simply a segment pointer. */
typedef struct tp__seg {
    /* Chain link, or the free stack's. Atomic: a writer holding only the
     * write token links a new tail after the old one while a reader, under
     * the pipe lock, looks at whether that one has a successor. */
    _Atomic(struct tp__seg *) next;
    union {
        char *data; /* inline buffer (copy) or the caller's bytes (ref) */
        /* A released ref descriptor, on its pool's list: the one a few
         * further down, for the popper to fetch early (see segment.c). */
        struct tp__seg *ahead;
    };
    size_t start; /* unread bytes are data[start, end); pipe lock */
    /* The end of the written bytes: the writer holding the write token
     * appends, then moves it with a release store; readers load it with
     * acquire and may read everything before it. */
    atomic_size_t end;
    size_t cap; /* copy: size of data; ref: the write's length */
    /* References, in the low 32 bits: the chain's, views', in-flight
     * copies'. In the high 32 bits, those of them that hold the bytes: all
     * but the chain's hold on a husk. A ref segment's release callback
     * runs when no one holds the bytes, the segment goes back to its pool
     * when no one refers to it. */
    atomic_uint_least64_t holds;
    bool is_ref; /* set at creation, then read-only */
    /* A drained ref tail that views still hold stays in the chain as a
     * husk, so that writers can go on linking after it without the lock:
     * the chain then refers to it but no longer holds the caller's bytes
     * (see tp__seg_make_husk). Pipe lock. */
    bool husk;
    tp_release_fn release; /* ref segments: run once no one holds the bytes */
    void *ctx;
    struct tp__pool *pool; /* where the segment returns to */
} tp__seg;

#define TP__HOLD_REF 1ull           /* a reference, in tp__seg.holds */
#define TP__HOLD_BYTES (1ull << 32) /* a hold on the bytes, in tp__seg.holds */

/* References to s. */
static inline unsigned tp__seg_refs(tp__seg *s)
{
    return (uint32_t)atomic_load_explicit(&s->holds, memory_order_acquire);
}

static inline tp__seg *tp__seg_next(tp__seg *s)
{
    return atomic_load_explicit(&s->next, memory_order_acquire);
}
static inline void tp__seg_set_next(tp__seg *s, tp__seg *next)
{
    atomic_store_explicit(&s->next, next, memory_order_release);
}
static inline size_t tp__seg_end(tp__seg *s)
{
    return atomic_load_explicit(&s->end, memory_order_acquire);
}
static inline void tp__seg_set_end(tp__seg *s, size_t end)
{
    atomic_store_explicit(&s->end, end, memory_order_release);
}
/* Where a copy segment's bytes are: right after its header. */
static inline char *tp__seg_inline_data(tp__seg *s)
{
    return (char *)(s + 1);
}
/* Unread bytes in s (pipe lock held). */
static inline size_t tp__seg_unread(tp__seg *s)
{
    return tp__seg_end(s) - s->start;
}

/* A stack of recycled segments that any thread may push onto (the last
 * unref of a segment can happen anywhere) and one thread at a time pops
 * from, so a compare-and-swap suffices: with a single popper, a node
 * cannot leave and come back between its load and the swap (no ABA). */
typedef struct tp__stack {
    _Atomic(tp__seg *) top;
    atomic_size_t count; /* may briefly run ahead of the nodes */
} tp__stack;

/* Recycles segments for one pipe so steady-state writes do not allocate,
 * without a lock: a reader returning a view and a writer taking a fresh
 * segment must not queue behind each other on every hand-off.
 *
 * Pops come only from the pipe's writing path, one thread at a time: the
 * holder of the write token, or the large write that set tail_busy (which
 * keeps every other write waiting). Pushes come from anywhere.
 *
 * Ref descriptors go back on a plain list that the popper takes whole
 * when its own runs out: one atomic exchange for a batch instead of a
 * compare-and-swap per pop on a line the releasing thread just wrote.
 * The popper takes it only after handing out TP__REF_BATCH descriptors
 * since the last take, allocating the shortfall: so the pool grows to
 * what is ever in flight at once plus about a batch, and in steady state
 * the list's line moves to the popper once a batch, not once a hand-off
 * (a releasing thread then finds it in its own cache).
 *
 * The pool outlives the pipe while any segment is still out (held by a
 * view): `users` counts the copy segments out, every ref descriptor from
 * its allocation to its free (so a hand-off costs no count), and one for
 * the pipe; whoever drops it to zero frees the pool. When the pipe lets
 * go it frees the ref descriptors kept for reuse and closes their list,
 * so that one released later is freed. The popper counts segments out
 * in advance, a batch at a time (`credit`), for the same reason. */
typedef struct tp__pool {
    size_t seg_cap;       /* data bytes of a copy segment */
    size_t max_free_copy; /* copy segments kept for reuse */
    /* The popper's own. */
    tp__seg *own_ref;            /* descriptors taken from free_ref, ready */
    size_t ref_since;            /* descriptors handed out since the last take */
    size_t credit;               /* users counted for segments not yet out */
    char pad[64];                /* the rest is written by releasing threads */
    tp__stack free_copy;         /* full-size copy segments */
    _Atomic(tp__seg *) free_ref; /* released ref descriptors */
    atomic_size_t users;
} tp__pool;

tp__pool *tp__pool_new(size_t seg_cap, size_t max_free_copy);
/* The pipe lets go of its pool; it frees itself once the last outstanding
 * segment comes back. */
void tp__pool_orphan(tp__pool *pool);
/* A copy segment for cap bytes (pool->seg_cap at most; a recycled
 * full-size one when available), no bytes yet, refs 1; or NULL/ENOMEM.
 * Only full-size segments are recycled. */
tp__seg *tp__seg_new_copy(tp__pool *pool, size_t cap);
/* A ref segment over buf[0, n) with refs 1, or NULL/ENOMEM. */
tp__seg *tp__seg_new_ref(tp__pool *pool, const void *buf, size_t n, tp_release_fn release,
                         void *ctx);
/* Takes one more reference, which holds the bytes too. */
void tp__seg_ref(tp__seg *s);
/* Drops a reference that holds the bytes. The last hold on a ref
 * segment's bytes runs its release callback; the last reference returns
 * the segment to its pool. Never call with a pipe lock held. */
void tp__seg_unref(tp__seg *s);
/* For a drained ref segment at the tail, the pipe lock held: if views (or
 * a large read's copy) still hold its bytes, the chain lets go of them
 * and keeps the segment as a husk, and the last of those holders runs
 * the release; returns true. False if the chain holds the bytes alone:
 * unlink it. */
bool tp__seg_make_husk(tp__seg *s);
/* Drops the chain's reference of each segment in a list linked through
 * next, segments that have left the chain (most calls have nothing to
 * drop: keep that check inline). */
void tp__seg_unref_some(tp__seg *list);
static inline void tp__seg_unref_list(tp__seg *list)
{
    if (list != NULL)
        tp__seg_unref_some(list);
}

/* ---- notify.c: a descriptor that polls readable while a condition holds ---- */
typedef struct tp__notify {
    int rfd, wfd; /* eventfd: the same fd twice; self-pipe: its two ends; -1: none */
    bool ready;   /* whether the descriptor currently polls readable */
} tp__notify;
#define TP__NOTIFY_NONE ((tp__notify){-1, -1, false})
/* Opens the descriptor (not ready). 0 or an errno. */
int tp__notify_open(tp__notify *n);
/* Makes it poll readable (or not); a system call only on a change. */
void tp__notify_set(tp__notify *n, bool ready);
void tp__notify_close(tp__notify *n);

/* ---- event.c ---- */
/* tp_event_fd's descriptor follows the flag; kept up to date by set/clear. */

/* ---- iov.c: copying between flat buffers and iovec arrays ---- */
typedef struct tp__iovcur {
    const struct iovec *iov;
    int cnt;
    size_t off; /* offset into iov[0] */
} tp__iovcur;
/* Checks a readv/writev argument list: 0 with the total length in *total,
 * or EINVAL (negative count, NULL array, total beyond SSIZE_MAX). */
int tp__iov_validate(const struct iovec *iov, int cnt, size_t *total);
/* Copies n bytes between the cursor's buffers and the flat buffer `flat`,
 * into the cursor (into_iov) or out of it, advancing it. */
void tp__iov_copy_some(tp__iovcur *c, void *flat, size_t n, bool into_iov);
/* The same, inline for the usual case: a copy within the current buffer
 * (every single-buffer call). */
static inline void tp__iov_copy(tp__iovcur *c, void *flat, size_t n, bool into_iov)
{
    if (n == 0)
        return;
    if (c->iov->iov_len - c->off < n) {
        tp__iov_copy_some(c, flat, n, into_iov);
        return;
    }
    char *at = (char *)c->iov->iov_base + c->off;
    if (into_iov)
        memcpy(at, flat, n);
    else
        memcpy(flat, at, n);
    c->off += n;
}
/* Copies n bytes out of the cursor into dst. */
static inline void tp__iov_gather(tp__iovcur *c, void *dst, size_t n)
{
    tp__iov_copy(c, dst, n, false);
}
/* Copies n bytes from src into the cursor's buffers (src is only read). */
static inline void tp__iov_scatter(tp__iovcur *c, const void *src, size_t n)
{
    tp__iov_copy(c, (void *)(uintptr_t)src, n, true);
}

/* ---- time.c ---- */
/* Monotonic seconds, for waits and spins. */
double tp__now(void);
/* Coarse monotonic nanoseconds (a few ms steps, cheap): for statistics on
 * hot paths. */
uint64_t tp__now_coarse_ns(void);

/* ---- the pipe (pipe.c, pipe_wait.c, pipe_write.c, pipe_read.c, readmatch.c) ---- */

/* A byte counter with one writer at a time (`published`: the write
 * token's holder; `consumed`: the pipe lock's), read by anyone: a release
 * store after the bytes it counts, so a reader that loads it with acquire
 * (tp__pipe_buffered) sees them. Plain loads and stores on common CPUs. */
typedef atomic_uint_least64_t tp__counter;
static inline uint64_t tp__count(const tp__counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}
static inline void tp__count_add(tp__counter *c, uint64_t n)
{
    atomic_store_explicit(c, tp__count(c) + n, memory_order_release);
}

/* Where readmatch stopped: positions before `scanned` hold no match start
 * for the cached delimiter, so a line trickling in is scanned once. */
#define TP__MATCH_CACHE_MAX 64
typedef struct tp__match_cache {
    size_t scanned; /* bytes from the head known to start no match */
    tp__seg *seg;   /* the segment holding byte `scanned`, or NULL */
    size_t idx;     /* index into seg->data of that byte */
    size_t dlen;    /* cached delimiter length; 0: nothing cached */
    unsigned char delim[TP__MATCH_CACHE_MAX];
} tp__match_cache;

/* What an idle pipe does not need: allocated at the first write or the
 * first use of readmatch, readiness descriptors, stats or stall callbacks,
 * so an unused pipe stays small. Guarded by the pipe lock. */
typedef struct tp__ext {
    /* What writes update, under the write token, on lines of their own:
     * the reader updates its figures on every call too, and sharing a
     * line would cost each side a miss per call. First in the structure,
     * so that what every fast write touches fills the allocation's first
     * line. */
    struct {
        uint64_t writes;    /* the stats' `writes` */
        uint64_t published; /* the writers' copy of `published` */
        /* `consumed` as the writers last read it: the room they can count
         * on without a look at the reader's line (see room_for in
         * pipe_write.c). It only lags, so it never overstates the room. */
        uint64_t consumed;
        /* The pipe's, copied here: the pipe's own shares the counters'
         * line, which room_for keeps away from. */
        size_t bsize;
        uint64_t last_write_ns; /* tp__now_coarse_ns of the last write */
        /* The tail segment as the writers know it, so that a small write
         * need not load the segment's header: a reader that has looked
         * at the header since has taken its line to the reader's core.
         * NULL when unknown (see tp__pipe_forget_tail); otherwise it is
         * the pipe's tail, and tail_end its end, unless a reader has
         * unlinked the tail since (the pipe then has none). A ref tail is
         * known with no room (end and cap 0). */
        tp__seg *tail;
        size_t tail_end, tail_cap;
        /* -- the rest, off the fast writes' line -- */
        size_t grow_cap; /* size of the next small-write segment */
        /* The write token's bias (see wtoken.c). */
        unsigned streak;         /* fast writes in a row by streak_by */
        unsigned bias_doublings; /* revocations so far (capped): the streak that
                                  * earns the bias doubles with each */
        uintptr_t streak_by;     /* tp__self of the thread on the streak */
        uint64_t biased_at;      /* `writes` when the bias was last granted */
    } w;
    char pad_writer[64];
    tp__match_cache match;
    /* Everything but what tp_pipe_get_stats derives or finds in `w`. */
    tp_pipe_stats stats;
    uint64_t last_read_ns; /* tp__now_coarse_ns of the last read */
    tp__notify rnotify;    /* tp_pipe_read_fd */
    tp__notify wnotify;    /* tp_pipe_write_fd */
    size_t fd_dlen;        /* line-aware read readiness; 0: off */
    unsigned char fd_delim[TP__MATCH_CACHE_MAX];
    tp_stall_fn stall_fn;
    void *stall_ctx;
    double stall_after;
    /* Spinning waiters watch this word and nothing else. The padding keeps
     * it alone on its cache line: watching it must not pull in the lines
     * the other side writes on every call, or each call pays a miss. */
    char pad_before[64];
    atomic_uint seq; /* bumped when a spinner's wait may be over */
    char pad_after[64];
} tp__ext;
_Static_assert(offsetof(tp__ext, w.grow_cap) == 64, "a fast write's fields must fill one line");

/* Two locks guard a pipe. The pipe lock guards everything below it,
 * except what says otherwise. The write token (`wtoken`) belongs to the
 * writer appending at the tail: a small write that fits the tail segment,
 * or a write_ref, takes only the token (see pipe_write.c), so a writer and
 * a reader streaming to each other do not trade the pipe lock's cache line
 * on every call. So:
 * - fields marked "lock + token" change only with both held, and may be
 *   read with either;
 * - the tail segment's `end`, `tail` and the tail's `next` change with the
 *   token alone: readers never read `tail` and follow `next` and `end`
 *   with acquire loads;
 * - the unread byte count is `published` (written by the token's holder)
 *   minus `consumed` (written under the lock), so each side writes only
 *   its own counter, with plain stores: it may grow under a reader's feet
 *   and shrink under a writer's, never the other way;
 * - a reader that is about to sleep for bytes (it spins briefly first,
 *   watching `published`, and is not counted then) counts itself in
 *   `watched`, syncs with the token (tp__wtoken_sync), then looks again.
 *   A writer that publishes without the lock looks at `watched` before it
 *   gives the token back and, if anybody watches, takes the lock to wake
 *   them. The sync orders the two: either the writer's turn came first
 *   and the reader sees its bytes, or the writer sees the reader.
 * Lock order: the pipe lock, then the token. Nobody sleeps or takes the
 * pipe lock while holding the token. */
struct tp_pipe {
    /* Fields are grouped by who touches them on every call. Both sides
     * write the counters, and both read the fields that are seldom
     * written; a side pays one miss for the counters' line per call
     * anyway, so those fields may share lines. The write token and the
     * tail, which only writers touch on every call, must not share a line
     * with anything a reader looks at on every call: each look would cost
     * the next writer a miss on the token. Cold fields keep them 64 bytes
     * apart, so whatever the allocation's alignment no line holds both.
     * With the default allocator a pipe starts a cache line (see
     * tp__malloc_lines): which other fields share lines changes with the
     * alignment, and so does the speed, by up to a quarter. */

    /* -- the reader's: the lock, and what waits change --
     * A field marked "lock" is guarded by the pipe lock, which includes
     * the read token once that is in use: readmatch's short path reads
     * and writes such fields holding the token alone (see
     * tp__rtoken_try). */
    pthread_mutex_t lock;
    atomic_uint rtoken;                       /* the read token (see tp__rtoken_try) */
    unsigned spin_ns;                         /* adaptive spin budget before sleeping */
    tp__seg *head;                            /* the oldest unread bytes; lock */
    unsigned rwaiters, wwaiters, fwaiters;    /* threads asleep for data, room, drain */
    unsigned rspinners, wspinners, fspinners; /* threads spinning for the same */
    size_t rspin_need;                        /* buffered bytes that end a reader's spin */
    size_t wspin_need;                        /* room that ends a writer's spin */

    /* -- the counters: each side writes one, reads the other -- */
    tp__counter consumed;  /* bytes ever read or discarded: flush's progress clock; lock */
    tp__counter published; /* bytes ever made readable: readmatch's progress clock; token */

    /* -- read on every call, seldom written -- */
    size_t bsize; /* read-only after creation */
    /* Bytes being copied in by writers, not yet linked; lock + token.
     * Never above 0 without tail_busy, which fast writes check instead. */
    size_t reserved;
    tp__ext *ext; /* created on first need */
    tp_event *rflag;
    double timeout;      /* read-only after creation */
    atomic_uint watched; /* readers waiting for bytes, + 1 once fds exist; lock */
    /* Set under the lock; atomic so that a writer can look before it
     * takes the lock (see tp__pipe_await_room). */
    atomic_bool rblocking, wblocking;
    bool has_fds;     /* a readiness descriptor was asked for (known from
                       * ext too; kept here so that the check every call
                       * makes stays on the pipe's own cache lines) */
    bool eof, closed; /* lock + token */
    /* A large write is filling the tail's free space outside both locks:
     * other writers wait, and readers neither rewind nor unlink the tail.
     * Lock + token. */
    bool tail_busy;
    atomic_bool rtoken_wanted; /* a lock holder waits for the read token; lock */

    /* -- the spacer between readers' fields and the writer's: what
     * readers do not look at on every call -- */
    tp__pool *pool; /* created at the first write; lock + token */
    /* One condition for every waiter: a pipe is rarely both empty and
     * full, so readers and writers seldom sleep at the same time, and each
     * kind is woken only on a transition it waits for (see the waiter
     * counts). */
    pthread_cond_t changed;
    char *name; /* read-only after creation */

    /* -- the writer's -- */
    /* The write token: TP__WTOKEN_FREE, TP__WTOKEN_HELD, or biased to the
     * thread whose record it holds (see wtoken.c). */
    atomic_uintptr_t wtoken;
    tp__seg *tail; /* where writes append; token */
};
/* No cache line holds both the write token and a field that readers look
 * at on every call (see above), whatever the pipe's alignment. */
_Static_assert(offsetof(struct tp_pipe, wtoken) - offsetof(struct tp_pipe, rtoken_wanted) >= 64,
               "the write token may share a cache line with readers' fields");
_Static_assert(sizeof(struct tp_pipe) <= 256, "an idle pipe must stay within 256 bytes");

/* Makes the writers forget what they know of the tail (tp__ext.w.tail),
 * with the write token: called by everything that makes a segment the
 * tail, or moves the tail's end, other than the fast write that keeps
 * the copy. Otherwise a segment recycled at the same address could pass
 * for the one known. (A reader that unlinks the tail leaves the pipe
 * with none, which writers check first.) */
static inline void tp__pipe_forget_tail(tp_pipe *p)
{
    if (p->ext != NULL)
        p->ext->w.tail = NULL;
}

/* Unread bytes. `consumed` is read first: read later, it might count
 * bytes that the `published` read does not yet. */
static inline size_t tp__pipe_buffered(tp_pipe *p)
{
    uint64_t out = atomic_load_explicit(&p->consumed, memory_order_acquire);
    return (size_t)(atomic_load_explicit(&p->published, memory_order_acquire) - out);
}

/* ---- wtoken.c: the write token, and its bias ----
 *
 * Taking a spin flag is an atomic read-modify-write, and on x86 that waits
 * until the taker's earlier stores have left its core: for a writer of
 * small messages, the previous message's bytes and counter, whose lines
 * the reader has looked at since. That wait was a quarter of a 64-byte
 * write in the benchmark.
 * So a thread that takes the token many times in a row with nobody else
 * taking it gets it for good: the token is *biased* to it (wtoken holds
 * the thread's record), and it enters with plain stores and loads: it
 * writes the pipe into its record's `inside`, then checks that the bias
 * still stands. Anyone else who needs the token revokes the bias: swaps
 * the record for HELD, makes every thread of the process execute a memory
 * barrier (membarrier(2)), then waits until the record no longer says it
 * is inside. The barrier is what makes the owner's unfenced
 * mark-then-check safe, an asymmetric Dekker: either the revoker sees the
 * mark or the owner sees the revocation.
 *
 * The mark is in the thread's own record, not in the pipe: a thread that
 * read its own record in wtoken, was preempted, and meanwhile lost the
 * bias to another thread, writes only its own mark when it resumes, so
 * it cannot clear the new owner's. Records are never freed (a revoker may
 * read the record of a thread that has exited): an exiting thread's
 * record goes to the next new thread, which thereby inherits its biases,
 * safely, since one live thread at a time has it. */
enum { TP__WTOKEN_FREE = 0, TP__WTOKEN_HELD = 1 };

typedef struct tp__thread {
    /* The pipe whose token this thread holds through its bias, or NULL.
     * Written by its thread on every biased entry and exit, read by
     * revokers: alone on its cache line. */
    _Atomic(tp_pipe *) inside;
    struct tp__thread *next_free; /* on the free list while no thread has it */
    struct tp__thread *next_all;  /* every record, so that none looks leaked */
    char pad[64 - sizeof(void *) * 3];
} tp__thread;

/* This thread's record, NULL until its first fast write. Initial-exec:
 * one instruction to read, on every write. */
extern __thread tp__thread *tp__me __attribute__((tls_model("initial-exec")));
/* This thread's id in wtoken: its record's address, or 0 before it has
 * one (so it never equals FREE, HELD or another thread's id). */
static inline uintptr_t tp__self(void)
{
    return (uintptr_t)tp__me;
}

/* The bias owner's entry: mark, then check the bias stands. The check's
 * load may not be answered before the mark is visible to others (x86 lets
 * a load pass an earlier store): the revoker's membarrier makes up for
 * the fence this side does not execute. */
static inline bool tp__wtoken_enter_biased(tp_pipe *p)
{
    tp__thread *me = tp__me;
    atomic_store_explicit(&me->inside, p, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->wtoken, memory_order_acquire) != (uintptr_t)me) {
        atomic_store_explicit(&me->inside, NULL, memory_order_release);
        return false;
    }
    return true;
}

/* Takes the write token if it is free or biased to this thread. */
static inline bool tp__wtoken_try(tp_pipe *p)
{
    uintptr_t v = atomic_load_explicit(&p->wtoken, memory_order_relaxed);
    if (v == TP__WTOKEN_FREE)
        return atomic_compare_exchange_strong_explicit(&p->wtoken, &v, TP__WTOKEN_HELD,
                                                       memory_order_acquire, memory_order_relaxed);
    return v == tp__self() && tp__wtoken_enter_biased(p);
}
/* Takes it, politely, revoking another thread's bias if need be; with the
 * pipe lock held or not. */
void tp__wtoken_take(tp_pipe *p);
/* Whether the caller, holding the token, came in through its bias: its
 * own record says so (no thread holds two tokens at once). */
static inline bool tp__wtoken_held_biased(tp_pipe *p)
{
    tp__thread *me = tp__me;
    return me != NULL && atomic_load_explicit(&me->inside, memory_order_relaxed) == p;
}
/* The bias owner's exit: the token stays biased to it. */
static inline void tp__wtoken_leave_biased(void)
{
    atomic_store_explicit(&tp__me->inside, NULL, memory_order_release);
}
static inline void tp__wtoken_give(tp_pipe *p)
{
    if (tp__wtoken_held_biased(p))
        tp__wtoken_leave_biased();
    else
        atomic_store_explicit(&p->wtoken, TP__WTOKEN_FREE, memory_order_release);
}
/* Gives it back after a write that took it with tp__wtoken_try, and
 * counts the streak that may earn this thread the bias. */
void tp__wtoken_give_streak(tp_pipe *p);
static inline void tp__wtoken_give_writer(tp_pipe *p)
{
    if (tp__wtoken_held_biased(p))
        tp__wtoken_leave_biased();
    else
        tp__wtoken_give_streak(p);
}
/* Orders the caller's earlier stores against whoever holds the token:
 * afterwards, a holder either sees them or finished before the caller's
 * next look. Passes through the token, revoking a bias. */
void tp__wtoken_sync(tp_pipe *p);
/* Counts a watcher in or out (pipe lock held). Counting in syncs with
 * the token: a writer that published without the lock either did so
 * before (and the caller, looking again, sees the bytes) or will see the
 * count. */
static inline void tp__pipe_watch(tp_pipe *p, int delta)
{
    unsigned n = atomic_load_explicit(&p->watched, memory_order_relaxed);
    atomic_store_explicit(&p->watched, n + (unsigned)delta, memory_order_relaxed);
    if (delta > 0)
        tp__wtoken_sync(p);
}
/* ---- the read token ----
 *
 * readmatch's common call (a whole line inside the head segment, nobody
 * asleep on the pipe) takes only the read token, a spin flag, instead of
 * the pipe lock: one atomic operation where a trylock and an unlock take two,
 * which were about a quarter of a line's cost. For that, once a pipe has
 * seen a readmatch, every holder of the pipe lock also holds the read
 * token (and lets go of it while it sleeps or spins unlocked), so the
 * token alone excludes every locked section. A pipe that never
 * readmatches keeps its token OFF and pays a load per lock. Order: the
 * lock, the read token, the write token. A thread holding the read token
 * without the lock takes nothing else and never waits. */
enum { TP__RTOKEN_OFF = 0, TP__RTOKEN_FREE = 1, TP__RTOKEN_HELD = 2 };

static inline bool tp__rtoken_in_use(const tp_pipe *p)
{
    return atomic_load_explicit(&p->rtoken, memory_order_relaxed) != TP__RTOKEN_OFF;
}
/* Takes the read token if it is in use and free. */
static inline bool tp__rtoken_try(tp_pipe *p)
{
    unsigned v = TP__RTOKEN_FREE;
    return atomic_compare_exchange_strong_explicit(&p->rtoken, &v, TP__RTOKEN_HELD,
                                                   memory_order_acquire, memory_order_relaxed);
}
static inline void tp__rtoken_give(tp_pipe *p)
{
    atomic_store_explicit(&p->rtoken, TP__RTOKEN_FREE, memory_order_release);
}
/* For a thread without the lock: takes the token unless a lock holder
 * waits for it. A reader taking line after line would otherwise win it
 * back each time, since the line it lives on stays on the reader's core,
 * and keep a writer holding the lock waiting until the pipe ran dry. */
static inline bool tp__rtoken_try_unlocked(tp_pipe *p)
{
    if (!tp__rtoken_try(p))
        return false;
    if (!atomic_load_explicit(&p->rtoken_wanted, memory_order_relaxed))
        return true;
    tp__rtoken_give(p);
    return false;
}
/* With the lock: spins for the token, which its holder without the lock
 * keeps for one line. */
void tp__rtoken_take(tp_pipe *p);
/* With the pipe lock: puts the token in use, held by the caller. */
static inline void tp__rtoken_start(tp_pipe *p)
{
    if (!tp__rtoken_in_use(p))
        atomic_store_explicit(&p->rtoken, TP__RTOKEN_HELD, memory_order_relaxed);
}

/* The pipe lock (with the read token once it is in use); the lock and
 * the write token, in order; and their releases. */
void tp__pipe_lock(tp_pipe *p);
static inline void tp__pipe_unlock(tp_pipe *p)
{
    if (tp__rtoken_in_use(p))
        tp__rtoken_give(p);
    pthread_mutex_unlock(&p->lock);
}
static inline void tp__pipe_lock_both(tp_pipe *p)
{
    tp__pipe_lock(p);
    tp__wtoken_take(p);
}
static inline void tp__pipe_unlock_both(tp_pipe *p)
{
    tp__wtoken_give(p);
    tp__pipe_unlock(p);
}

/* Both byte counters together: whether either side moved. */
static inline uint64_t tp__pipe_progress(const tp_pipe *p)
{
    return tp__count(&p->published) + tp__count(&p->consumed);
}

/* What a change may have made true, for tp__pipe_changed. */
enum { TP__WAKE_READERS = 1, TP__WAKE_WRITERS = 2, TP__WAKE_FLUSHERS = 4 };

/* One waiting call's bookkeeping: the spin, stats and stall timer. */
typedef struct tp__wait {
    const tp__deadline *deadline;
    int side;          /* TP_SIDE_READER or TP_SIDE_WRITER, for stats */
    size_t need;       /* what ends the spin: buffered bytes for a reader,
                        * room for a writer (1 unless the caller says) */
    bool spun;         /* the brief spin already happened */
    bool watching;     /* a reader counted in p->watched */
    bool started;      /* counted as a wait in the stats */
    double since;      /* when this call began waiting */
    uint64_t progress; /* published + consumed when last checked */
    double last_move;  /* when progress last changed (or the wait began) */
    double next_stall; /* when the stall callback is next due */
} tp__wait;

/* Bytes a write may add now: bsize - buffered - reserved, at least 0. */
static inline size_t tp__pipe_room(tp_pipe *p)
{
    size_t used = tp__pipe_buffered(p) + p->reserved;
    /* write_ref may overfill, so used can exceed bsize. */
    return used < p->bsize ? p->bsize - used : 0;
}

/* Sets the rflag if there is one. */
static inline void tp__pipe_signal_reader(tp_pipe *p)
{
    if (p->rflag != NULL)
        tp_event_set(p->rflag);
}

/* Creates the extras on first need (make_ext: unconditionally). 0 or ENOMEM. */
int tp__pipe_make_ext(tp_pipe *p);
static inline int tp__pipe_ensure_ext(tp_pipe *p)
{
    return p->ext != NULL ? 0 : tp__pipe_make_ext(p);
}
/* Creates the segment pool (and extras) on first write (make_pool:
 * unconditionally). 0 or ENOMEM. */
int tp__pipe_make_pool(tp_pipe *p);
static inline int tp__pipe_ensure_pool(tp_pipe *p)
{
    return p->pool != NULL ? 0 : tp__pipe_make_pool(p);
}
/* The part of tp__pipe_changed for a pipe somebody watches. */
void tp__pipe_tell_watchers(tp_pipe *p, int wake);
/* Records a state change: wakes sleepers of the given kinds, releases
 * spinners, and updates the readiness descriptors. Inline, because on
 * most calls nobody waits, spins or polls and there is nothing to do. */
static inline void tp__pipe_changed(tp_pipe *p, int wake)
{
    if ((p->rwaiters | p->wwaiters | p->fwaiters | p->rspinners | p->wspinners | p->fspinners) !=
            0 ||
        p->has_fds)
        tp__pipe_tell_watchers(p, wake);
}
/* Refreshes the readiness descriptors (no-op when none was asked for). */
void tp__pipe_update_fds(tp_pipe *p);

/* pipe_wait.c */
void tp__wait_init(tp__wait *w, int side, const tp__deadline *d);
/* Waits once for a change (a brief spin first, then sleep; the stall
 * callback may run meanwhile). Returns 0 (re-check the state) or
 * ETIMEDOUT once the deadline has passed. */
int tp__pipe_sleep(tp_pipe *p, tp__wait *w, unsigned *waiters);
/* A woken waiter that finds only a sliver of what it wants (a writer a
 * little room, a reader a few bytes of a large read) gives the other side
 * a few microseconds to make it `need` (buffered bytes or room, by the
 * kind of `waiters`), so both move data in batches instead of one lock
 * round trip per sliver. Bounded: as soon as the other side stops (or
 * after 10 us), the call goes on with what there is. Called and returns
 * locked. */
void tp__pipe_grace(tp_pipe *p, unsigned *waiters, size_t need);
/* Much the same for a writer before it takes the lock, which it would
 * otherwise take only to wait: if the pipe has less than `need` bytes of
 * room (but some, unless `when_full`), waits until it has `need`, the
 * reader stops freeing it, or 50 us (at most `timeout`) pass. Returns at
 * once if the write may not wait. Returns what is left of `timeout`.
 * Takes no lock. */
double tp__pipe_await_room(tp_pipe *p, size_t need, bool when_full, double timeout);
/* Ends a wait: adds its time to the stats; counts a timeout if err is one.
 * Returns -1 with errno = err if err != 0, else 0. */
int tp__wait_end_slow(tp_pipe *p, tp__wait *w, int err);
static inline int tp__wait_end(tp_pipe *p, tp__wait *w, int err)
{
    if (!w->started && err == 0)
        return 0; /* the common case: no wait happened */
    return tp__wait_end_slow(p, w, err);
}

/* Waits until something is readable; `want` is how much the caller would
 * take. Returns 1 (data), 0 (EOF, drained) or -1 with errno EPIPE, EAGAIN
 * or ETIMEDOUT. Called and returns locked. */
int tp__pipe_wait_readable(tp_pipe *p, bool blocking, size_t want, const tp__deadline *d);
/* Copies n <= buffered bytes from the head into the cursor and consumes
 * them; drained segments are pushed onto *garbage to unref after unlocking. */
void tp__pipe_take(tp_pipe *p, tp__iovcur *dst, size_t n, tp__seg **garbage);
/* Drops drained segments from the head (a reader leaves a drained tail
 * in place), so that it holds the first unread byte. Call only when bytes
 * are buffered. */
void tp__pipe_trim_head(tp_pipe *p, tp__seg **garbage);
/* Rewinds a drained copy tail that nobody else holds, so that writes
 * fill the same buffer again from its start (so a steady trickle of
 * small writes reuses one buffer). Both locks held, no large write in
 * progress. */
void tp__pipe_rewind_tail(tp_pipe *p);
/* Consumes n <= buffered bytes from the head, waking writers and flushers. */
void tp__pipe_consume(tp_pipe *p, size_t n, tp__seg **garbage);
/* The zero-copy read: trims the head, then takes up to max counted bytes
 * from it as at most n views, one per segment, filling iov[i] and
 * views[i]; consumes them, waking writers and flushers. Returns how many
 * views (at least 1: call only when bytes are buffered). */
int tp__pipe_take_views(tp_pipe *p, size_t max, struct iovec *iov, tp_view **views, int n,
                        tp__seg **garbage);
/* Read into iovecs with its deadline given; force_block makes a
 * non-blocking read end wait anyway (readall). */
ssize_t tp__pipe_read(tp_pipe *p, tp__iovcur *dst, size_t n, bool force_block,
                      const tp__deadline *d);
/* Finds the cached-or-given delimiter in the first `avail` (at most
 * buffered) bytes; returns the line length through the match, or 0
 * (readmatch.c). */
size_t tp__pipe_find_match(tp_pipe *p, const unsigned char *d, size_t dlen, size_t avail);

#endif /* TP_INTERNAL_H */
