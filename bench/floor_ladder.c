/* floor_ladder.c - tpfloor section 6: what tpipe's zero-copy design costs,
 * one feature at a time, on top of section 5's bare ring. Each rung adds
 * one thing tpipe's read_view and write_ref do, with the same writer, pool
 * and room (IN_FLIGHT hand-offs) as section 5:
 *
 *   0. a read takes one hand-off and stores the read count (`consumed`),
 *      which shares a line with the written count, as tpipe's counters
 *      do: what an exact count after every call needs. The descriptor
 *      (tpipe's 80 bytes) is written into the ring itself;
 *   1. each descriptor lives outside the ring, which holds a pointer to
 *      it, as a chain of descriptors does (64 of them, one per buffer);
 *   2. tpipe's descriptors: 80 bytes, linked in a chain, recycled through
 *      a lock-free stack (the writer takes it back once per 8), each with
 *      a reference count that the reader decrements;
 *   3. a reader lock entered and left with plain stores, what a lock
 *      biased to the one reader would cost;
 *   4. instead, a pthread mutex, tried and released at every read: tpipe's
 *      pipe lock;
 *   5. with that mutex, a read takes every hand-off published (up to
 *      IN_FLIGHT) under one lock and stores the count once, then releases
 *      them: tpipe's read_views.
 * No blocking, no statistics, no error paths: the cost of each feature's
 * memory traffic alone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "floor.h"

#define RECYCLE_BATCH 8 /* hand-offs between the writer's takes of the stack */

enum feature {
    INLINE = 16,     /* rung 0 only */
    DESCRIPTORS = 1, /* rung 2 */
    PLAIN_LOCK = 2,  /* rung 3 */
    MUTEX = 4,       /* rung 4 */
    BATCH = 8,       /* rung 5 */
};

static const struct rung {
    const char *name;
    unsigned features;
} rungs[] = {
    {"one hand-off per read, exact counts, descriptors in the ring", INLINE},
    {"+ descriptors outside the ring, found through a pointer", 0},
    {"+ tpipe's descriptors (chained, counted, recycled)", DESCRIPTORS},
    {"+ a reader lock taken with plain stores", DESCRIPTORS | PLAIN_LOCK},
    {"+ a pthread mutex instead (tpipe's pipe lock)", DESCRIPTORS | MUTEX},
    {"rung 4, all hand-offs published per read (read_views)", DESCRIPTORS | MUTEX | BATCH},
};
const int tf_ladder_rungs = (int)(sizeof rungs / sizeof rungs[0]);

/* Shaped like tpipe's segment, field for field. */
typedef struct desc {
    _Atomic(struct desc *) next; /* the chain, or the stack */
    const char *data;
    size_t start;
    atomic_size_t end;
    size_t cap;
    atomic_uint_least64_t holds;
    bool is_ref, husk;
    void (*release)(void *ctx);
    void *ctx;
    void *pool;
} desc;

typedef struct ladder {
    unsigned features;
    long count;
    _Alignas(LINE) atomic_ulong published; /* hand-offs ever written */
    atomic_ulong consumed;                 /* ever read: the same line */
    _Alignas(LINE) pthread_mutex_t mutex;
    _Alignas(LINE) atomic_int lock_word;
    _Alignas(LINE) _Atomic(desc *) released; /* the recycling stack */
    _Alignas(LINE) atomic_bool done;
    _Alignas(LINE) desc slots[IN_FLIGHT];           /* rung 0: the descriptors themselves */
    _Alignas(LINE) _Atomic(desc *) ring[IN_FLIGHT]; /* rung 1: by position */
    desc sentinel;                                  /* the chain's start */
    desc fixed[BUFFERS];                            /* rung 1: one per buffer, reused with it */
    pooled pool[BUFFERS];
} ladder;

/* The writer's own recycled descriptors and when it last took the stack. */
typedef struct recycler {
    desc *own;
    unsigned since;
} recycler;

static desc *take_desc(ladder *l, recycler *r)
{
    desc *d = r->own;
    if (d != NULL) {
        r->own = atomic_load_explicit(&d->next, memory_order_relaxed);
    } else if (r->since >= RECYCLE_BATCH) {
        r->since = 0;
        d = atomic_exchange_explicit(&l->released, NULL, memory_order_acquire);
        if (d != NULL)
            r->own = atomic_load_explicit(&d->next, memory_order_relaxed);
    }
    r->since++;
    if (d == NULL && (d = malloc(sizeof *d)) == NULL) {
        perror("tpfloor");
        exit(1);
    }
    return d;
}

static void recycle_desc(ladder *l, desc *d)
{
    atomic_fetch_sub_explicit(&d->holds, 1, memory_order_acq_rel);
    desc *top = atomic_load_explicit(&l->released, memory_order_relaxed);
    do
        atomic_store_explicit(&d->next, top, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&l->released, &top, d, memory_order_release,
                                                  memory_order_relaxed));
}

static void free_descs(desc *d)
{
    while (d != NULL) {
        desc *next = atomic_load_explicit(&d->next, memory_order_relaxed);
        free(d);
        d = next;
    }
}

static void fill_desc(desc *d, pooled *b)
{
    static const char bytes[1];
    atomic_init(&d->next, NULL);
    d->data = bytes;
    d->start = 0;
    atomic_init(&d->end, 65536);
    d->cap = 65536;
    atomic_init(&d->holds, 1);
    d->is_ref = true;
    d->husk = false;
    d->release = tf_release_pooled;
    d->ctx = b;
    d->pool = NULL;
}

static void *ladder_writer(void *arg)
{
    ladder *l = arg;
    bool chained = l->features & DESCRIPTORS;
    recycler r = {NULL, 0};
    desc *tail = &l->sentinel;
    unsigned long published = 0, consumed_seen = 0;
    for (long i = 0; i < l->count; i++) {
        pooled *b = tf_take_buffer(l->pool, i);
        tf_await_room(&l->consumed, published, &consumed_seen);
        desc *d = chained                ? take_desc(l, &r)
                  : l->features & INLINE ? &l->slots[published % IN_FLIGHT]
                                         : &l->fixed[i % BUFFERS];
        fill_desc(d, b);
        if (chained) {
            atomic_store_explicit(&tail->next, d, memory_order_release);
            tail = d;
        } else if (!(l->features & INLINE)) {
            atomic_store_explicit(&l->ring[published % IN_FLIGHT], d, memory_order_relaxed);
        }
        published++;
        atomic_store_explicit(&l->published, published, memory_order_release);
    }
    free_descs(r.own);
    atomic_store_explicit(&l->done, true, memory_order_release);
    return NULL;
}

static bool enter(ladder *l)
{
    if (l->features & MUTEX)
        return pthread_mutex_trylock(&l->mutex) == 0;
    if (l->features & PLAIN_LOCK)
        atomic_store_explicit(&l->lock_word, 1, memory_order_relaxed);
    return true;
}

static void leave(ladder *l)
{
    if (l->features & MUTEX)
        pthread_mutex_unlock(&l->mutex);
    else if (l->features & PLAIN_LOCK)
        atomic_store_explicit(&l->lock_word, 0, memory_order_release);
}

/* A hand-off a read took, to release after leaving the lock. The
 * release is copied out: once the read count is stored, the writer may
 * reuse a descriptor that lives in the ring. */
typedef struct taken {
    desc *d;
    void (*release)(void *ctx);
    void *ctx;
    desc *passed; /* the descriptor the chain no longer needs, or NULL */
} taken;

/* Takes the next hand-off (one is published): the chain's next, or the
 * ring's slot. */
static taken take_next(ladder *l, desc **last, unsigned long consumed)
{
    taken t = {NULL, NULL, NULL, NULL};
    if (l->features & INLINE) {
        t.d = &l->slots[consumed % IN_FLIGHT];
    } else if (l->features & DESCRIPTORS) {
        t.d = atomic_load_explicit(&(*last)->next, memory_order_acquire);
        if (*last != &l->sentinel)
            t.passed = *last;
        *last = t.d;
    } else {
        t.d = atomic_load_explicit(&l->ring[consumed % IN_FLIGHT], memory_order_relaxed);
    }
    t.release = t.d->release;
    t.ctx = t.d->ctx;
    return t;
}

/* The reader: one hand-off per read (every one published, with BATCH),
 * released once the lock is left. Returns the bytes it was handed. */
static size_t ladder_read(ladder *l)
{
    desc *last = &l->sentinel; /* the chain's newest taken descriptor */
    unsigned long consumed = 0;
    size_t bytes = 0;
    taken batch[IN_FLIGHT];
    for (;;) {
        if (!enter(l)) {
            tf_relax();
            continue;
        }
        bool done = atomic_load_explicit(&l->done, memory_order_acquire);
        unsigned long published = atomic_load_explicit(&l->published, memory_order_acquire);
        if (published == consumed) {
            leave(l);
            if (done)
                break;
            tf_relax();
            continue;
        }
        unsigned long n = l->features & BATCH ? published - consumed : 1;
        for (unsigned long i = 0; i < n; i++) {
            batch[i] = take_next(l, &last, consumed + i);
            desc *d = batch[i].d;
            bytes += atomic_load_explicit(&d->end, memory_order_relaxed) - d->start;
        }
        consumed += n;
        atomic_store_explicit(&l->consumed, consumed, memory_order_release);
        leave(l);
        for (unsigned long i = 0; i < n; i++) {
            batch[i].release(batch[i].ctx);
            if (batch[i].passed != NULL)
                recycle_desc(l, batch[i].passed);
        }
    }
    if ((l->features & DESCRIPTORS) && last != &l->sentinel)
        free(last);
    return bytes;
}

const char *tf_ladder_name(int rung)
{
    return rungs[rung].name;
}

double tf_ladder_rate(int rung, double seconds)
{
    static ladder l;
    l.features = rungs[rung].features;
    l.count = (long)(seconds * 8e6); /* about `seconds` at 8 M hand-offs/s */
    atomic_init(&l.published, 0);
    atomic_init(&l.consumed, 0);
    pthread_mutex_init(&l.mutex, NULL);
    atomic_init(&l.lock_word, 0);
    atomic_init(&l.released, NULL);
    atomic_init(&l.done, false);
    atomic_init(&l.sentinel.next, NULL);
    for (int i = 0; i < BUFFERS; i++)
        atomic_init(&l.pool[i].busy, false);
    pthread_t t;
    double t0 = tf_now();
    tf_run_thread(&t, ladder_writer, &l);
    size_t bytes = ladder_read(&l);
    double secs = tf_now() - t0;
    pthread_join(t, NULL);
    free_descs(atomic_load_explicit(&l.released, memory_order_relaxed));
    pthread_mutex_destroy(&l.mutex);
    if (bytes != (size_t)l.count * 65536) {
        fprintf(stderr, "tpfloor: the ladder lost hand-offs\n");
        exit(3);
    }
    return (double)l.count / secs;
}
