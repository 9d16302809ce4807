/* segment.c - reference-counted segments of a pipe's byte stream and the
 * per-pipe pool that recycles them, so steady-state writes do not allocate. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

/* Segments the popper counts as out in one go (see tp__pool). */
#define TP__CREDIT_BATCH 64
/* Ref descriptors the popper hands out between takes of the released
 * ones (see tp__pool). */
#define TP__REF_BATCH 8
/* How far down the released list each descriptor points (`ahead`): the
 * popper starts fetching a descriptor this many hand-offs before it
 * needs it, about the time a line takes to cross between cores when the
 * cores are far apart (one hand-off ahead was not enough there). */
#define TP__REF_AHEAD 3

static void stack_init(tp__stack *st)
{
    atomic_init(&st->top, NULL);
    atomic_init(&st->count, 0);
}

/* Pushes s unless the stack already holds `max`; returns whether it did. */
static bool stack_push(tp__stack *st, tp__seg *s, size_t max)
{
    if (atomic_fetch_add_explicit(&st->count, 1, memory_order_relaxed) >= max) {
        atomic_fetch_sub_explicit(&st->count, 1, memory_order_relaxed);
        return false;
    }
    tp__seg *top = atomic_load_explicit(&st->top, memory_order_relaxed);
    do
        atomic_store_explicit(&s->next, top, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&st->top, &top, s, memory_order_release,
                                                  memory_order_relaxed));
    return true;
}

/* Pops a segment, or NULL. Only the pool's single popper calls this. */
static tp__seg *stack_pop(tp__stack *st)
{
    tp__seg *top = atomic_load_explicit(&st->top, memory_order_acquire);
    /* top->next is stable: only this thread takes nodes off, and pushers
     * write the next field of their own node before publishing it. */
    while (top != NULL &&
           !atomic_compare_exchange_weak_explicit(
               &st->top, &top, atomic_load_explicit(&top->next, memory_order_relaxed),
               memory_order_acquire, memory_order_acquire))
        ;
    if (top != NULL)
        atomic_fetch_sub_explicit(&st->count, 1, memory_order_relaxed);
    return top;
}

static bool stack_empty(tp__stack *st)
{
    return atomic_load_explicit(&st->top, memory_order_relaxed) == NULL;
}

/* Frees every segment of a list linked through next; returns how many. */
static size_t free_list(tp__seg *s)
{
    size_t n = 0;
    for (; s != NULL; n++) {
        tp__seg *next = atomic_load_explicit(&s->next, memory_order_relaxed);
        tp__free(s);
        s = next;
    }
    return n;
}

/* What the released ref descriptors' list holds once the pipe is gone: a
 * descriptor released after that is freed rather than pushed. */
static tp__seg closed_list;
#define TP__REF_LIST_CLOSED (&closed_list)

tp__pool *tp__pool_new(size_t seg_cap, size_t max_free_copy)
{
    tp__pool *pool = tp__malloc_lines(sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->seg_cap = seg_cap;
    pool->max_free_copy = max_free_copy;
    pool->own_ref = NULL;
    pool->ref_since = 0;
    pool->credit = 0;
    stack_init(&pool->free_copy);
    atomic_init(&pool->free_ref, NULL);
    atomic_init(&pool->users, 1); /* the pipe */
    return pool;
}

/* Drops n users; the last one frees the pool and what it kept. */
static void pool_leave(tp__pool *pool, size_t n)
{
    if (atomic_fetch_sub_explicit(&pool->users, n, memory_order_acq_rel) != n)
        return;
    /* The pipe took the ref descriptors when it let go (tp__pool_orphan). */
    free_list(atomic_load_explicit(&pool->free_copy.top, memory_order_acquire));
    tp__free(pool);
}

void tp__pool_orphan(tp__pool *pool)
{
    if (pool == NULL)
        return;
    /* Ref descriptors count as users from allocation to free, so the ones
     * kept for reuse go now, and those still out are freed on release. */
    tp__seg *released =
        atomic_exchange_explicit(&pool->free_ref, TP__REF_LIST_CLOSED, memory_order_acquire);
    size_t kept = free_list(released) + free_list(pool->own_ref);
    pool->own_ref = NULL;
    pool_leave(pool, 1 + pool->credit + kept); /* and the pipe, and what it counted ahead */
}

/* Counts one more segment out (the popper only). */
static void count_out(tp__pool *pool)
{
    if (pool->credit == 0) {
        atomic_fetch_add_explicit(&pool->users, TP__CREDIT_BATCH, memory_order_relaxed);
        pool->credit = TP__CREDIT_BATCH;
    }
    pool->credit--;
}

/* Takes the released ref descriptors as the popper's own and pops one,
 * or NULL if none came back. */
static tp__seg *take_released(tp__pool *pool)
{
    pool->ref_since = 0;
    if (atomic_load_explicit(&pool->free_ref, memory_order_relaxed) == NULL)
        return NULL;
    tp__seg *s = atomic_exchange_explicit(&pool->free_ref, NULL, memory_order_acquire);
    pool->own_ref = atomic_load_explicit(&s->next, memory_order_relaxed);
    return s;
}

/* Starts fetching both lines of descriptor s (if any) for writing. */
static inline void prefetch_for_writing(const tp__seg *s)
{
    if (s != NULL) {
        __builtin_prefetch(s, 1);
        __builtin_prefetch((const char *)s + 64, 1);
    }
}

/* A released ref descriptor, or NULL for a new one (the popper only).
 * Takes the released list only a batch after the last take, so that the
 * releasing thread, which pushes one descriptor per hand-off, finds the
 * list's line in its own cache most of the time. */
static tp__seg *pop_ref(tp__pool *pool)
{
    tp__seg *s = pool->own_ref;
    if (s != NULL)
        pool->own_ref = atomic_load_explicit(&s->next, memory_order_relaxed);
    else if (pool->ref_since >= TP__REF_BATCH)
        s = take_released(pool);
    pool->ref_since++;
    /* The lines of the ones to come were last written by the releasing
     * thread: start fetching them now, for writing, rather than stall on
     * them at a later hand-off (both lines: a descriptor is 80 bytes).
     * The next one, in case the list is new; the one `ahead`, in time. */
    prefetch_for_writing(pool->own_ref);
    if (s != NULL)
        prefetch_for_writing(s->ahead);
    return s;
}

/* Pushes released ref descriptors [first..last], n of them linked through
 * next, for reuse; or frees them once the pipe is gone, letting go of the
 * pool for each. */
static void push_refs(tp__pool *pool, tp__seg *first, tp__seg *last, size_t n)
{
    tp__seg *top = atomic_load_explicit(&pool->free_ref, memory_order_relaxed);
    do {
        if (top == TP__REF_LIST_CLOSED) {
            atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
            free_list(first);
            pool_leave(pool, n);
            return;
        }
        atomic_store_explicit(&last->next, top, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&pool->free_ref, &top, first,
                                                    memory_order_release, memory_order_relaxed));
}

/* Ref descriptors due back to one pool, gathered by tp_views_release so
 * that they go back in one atomic operation: it waits until this thread's
 * earlier stores (the descriptors' links among them) have reached the
 * other cores, and one wait for a batch beats one per descriptor. */
typedef struct returns {
    tp__pool *pool;
    tp__seg *first, *last;
    size_t n;
    tp__seg *recent[TP__REF_AHEAD]; /* the last ones added, by n modulo */
} returns;

static void returns_flush(returns *r)
{
    if (r->n > 0)
        push_refs(r->pool, r->first, r->last, r->n);
    r->n = 0;
}

static void returns_add(returns *r, tp__seg *s)
{
    if (r->n > 0 && r->pool != s->pool)
        returns_flush(r);
    if (r->n == 0) {
        r->pool = s->pool;
        r->last = s;
    } else {
        atomic_store_explicit(&s->next, r->first, memory_order_relaxed);
    }
    /* The list runs from the last one added: the one added
     * TP__REF_AHEAD before s lies that far down after it. */
    size_t slot = r->n % TP__REF_AHEAD;
    s->ahead = r->n >= TP__REF_AHEAD ? r->recent[slot] : NULL;
    r->recent[slot] = s;
    r->first = s;
    r->n++;
}

/* A recycled segment (`recycled`, possibly NULL), or a new one of `size`
 * bytes; counted as out. */
static tp__seg *pool_get(tp__pool *pool, tp__seg *recycled, size_t size)
{
    tp__seg *s = recycled ? recycled : tp__malloc(size);
    if (s != NULL)
        count_out(pool);
    return s;
}

static void seg_init(tp__seg *s, tp__pool *pool)
{
    atomic_init(&s->next, NULL);
    s->start = 0;
    atomic_init(&s->end, 0);
    atomic_init(&s->holds, TP__HOLD_REF | TP__HOLD_BYTES); /* the chain's */
    s->husk = false;
    s->release = NULL;
    s->ctx = NULL;
    s->pool = pool;
}

tp__seg *tp__seg_new_copy(tp__pool *pool, size_t cap)
{
    /* A recycled full-size segment costs nothing; otherwise allocate just
     * the smaller size, which is freed rather than recycled. */
    if (cap < pool->seg_cap && !stack_empty(&pool->free_copy))
        cap = pool->seg_cap;
    bool full = cap >= pool->seg_cap;
    if (full)
        cap = pool->seg_cap;
    tp__seg *s = pool_get(pool, full ? stack_pop(&pool->free_copy) : NULL, sizeof(tp__seg) + cap);
    if (s == NULL)
        return NULL;
    seg_init(s, pool);
    s->is_ref = false;
    s->data = tp__seg_inline_data(s);
    s->cap = cap;
    return s;
}

tp__seg *tp__seg_new_ref(tp__pool *pool, const void *buf, size_t n, tp_release_fn release,
                         void *ctx)
{
    /* A recycled descriptor is still counted as a user (see tp__pool).
     * Out of memory, a released one is better than a failure. */
    tp__seg *s = pop_ref(pool);
    if (s == NULL)
        s = pool_get(pool, NULL, sizeof(tp__seg));
    if (s == NULL)
        s = take_released(pool);
    if (s == NULL)
        return NULL;
    seg_init(s, pool);
    s->is_ref = true;
    /* The caller's bytes are never written through this pointer. */
    s->data = (char *)(uintptr_t)buf;
    s->cap = n;
    atomic_init(&s->end, n);
    s->release = release;
    s->ctx = ctx;
    return s;
}

void tp__seg_ref(tp__seg *s)
{
    atomic_fetch_add_explicit(&s->holds, TP__HOLD_REF | TP__HOLD_BYTES, memory_order_relaxed);
}

/* Returns a dead segment to its pool for reuse (a ref descriptor by way
 * of r, if given), or frees it when the pool keeps enough (or it is a
 * short copy segment); then lets go of the pool. */
static void pool_put(tp__seg *s, returns *r)
{
    tp__pool *pool = s->pool;
    if (s->is_ref) {
        /* A ref descriptor lets go of the pool only when it is freed. */
        if (r != NULL) {
            returns_add(r, s);
        } else {
            s->ahead = NULL;
            push_refs(pool, s, s, 1);
        }
        return;
    }
    if (s->cap != pool->seg_cap || !stack_push(&pool->free_copy, s, pool->max_free_copy))
        tp__free(s);
    pool_leave(pool, 1);
}

/* Drops a reference that does not hold the bytes (or no longer needs
 * to: see tp__seg_unref). */
static void drop_ref(tp__seg *s, uint64_t hold, returns *r)
{
    uint64_t left = atomic_fetch_sub_explicit(&s->holds, hold, memory_order_acq_rel) - hold;
    if ((uint32_t)left == 0)
        pool_put(s, r);
}

/* tp__seg_unref, with ref descriptors due back gathered in r if given. */
static void unref(tp__seg *s, returns *r)
{
    if (atomic_load_explicit(&s->holds, memory_order_acquire) == (TP__HOLD_REF | TP__HOLD_BYTES)) {
        /* The only holder, as when a view took over the chain's hold: no
         * one else can reach the segment to take a hold, so letting go
         * needs no atomic operation. */
        if (s->is_ref && s->release != NULL)
            s->release(s->ctx);
        pool_put(s, r);
        return;
    }
    if (!s->is_ref) {
        drop_ref(s, TP__HOLD_REF | TP__HOLD_BYTES, r);
        return;
    }
    /* The bytes first, while the reference keeps the segment ours: a
     * husk's chain may let go of it at any moment. */
    uint64_t left =
        atomic_fetch_sub_explicit(&s->holds, TP__HOLD_BYTES, memory_order_acq_rel) - TP__HOLD_BYTES;
    if (left >> 32 == 0 && s->release != NULL)
        s->release(s->ctx);
    drop_ref(s, TP__HOLD_REF, r);
}

void tp__seg_unref(tp__seg *s)
{
    unref(s, NULL);
}

bool tp__seg_make_husk(tp__seg *s)
{
    if (s->husk)
        return true; /* the chain let go of the bytes already */
    uint64_t h = atomic_load_explicit(&s->holds, memory_order_relaxed);
    do {
        if (h >> 32 <= 1)
            return false; /* the chain's hold is the only one */
    } while (!atomic_compare_exchange_weak_explicit(&s->holds, &h, h - TP__HOLD_BYTES,
                                                    memory_order_acq_rel, memory_order_relaxed));
    s->husk = true;
    return true;
}

void tp__seg_unref_some(tp__seg *list)
{
    int saved = errno;
    while (list != NULL) {
        tp__seg *next = atomic_load_explicit(&list->next, memory_order_relaxed);
        if (list->husk)
            drop_ref(list, TP__HOLD_REF, NULL); /* the chain let go of the bytes already */
        else
            tp__seg_unref(list);
        list = next;
    }
    errno = saved;
}

void tp_view_release(tp_view *v)
{
    if (v != NULL)
        tp__seg_unref((tp__seg *)(void *)v);
}

void tp_views_release(tp_view **views, int n)
{
    if (views == NULL)
        return;
    returns r = {.pool = NULL};
    for (int i = 0; i < n; i++)
        if (views[i] != NULL)
            unref((tp__seg *)(void *)views[i], &r);
    returns_flush(&r);
}
