/* segment.c - reference-counted segments of a pipe's byte stream and the
 * per-pipe pool that recycles them, so steady-state writes do not allocate. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

/* Ref-segment descriptors kept for reuse by one pool. */
#define TP__MAX_FREE_REF 64

tp__pool *tp__pool_new(size_t seg_cap, size_t max_free_copy)
{
    tp__pool *pool = tp__malloc(sizeof *pool);
    if (pool == NULL)
        return NULL;
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        tp__free(pool);
        errno = ENOMEM;
        return NULL;
    }
    pool->seg_cap = seg_cap;
    pool->max_free_copy = max_free_copy;
    pool->free_copy = pool->free_ref = NULL;
    pool->n_free_copy = pool->n_free_ref = 0;
    pool->live = 0;
    pool->orphaned = false;
    return pool;
}

static void free_list(tp__seg *s)
{
    while (s != NULL) {
        tp__seg *next = s->next;
        tp__free(s);
        s = next;
    }
}

static void pool_destroy(tp__pool *pool)
{
    free_list(pool->free_copy);
    free_list(pool->free_ref);
    pthread_mutex_destroy(&pool->lock);
    tp__free(pool);
}

void tp__pool_orphan(tp__pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->orphaned = true;
    bool idle = pool->live == 0;
    pthread_mutex_unlock(&pool->lock);
    /* Otherwise the last segment to come back frees the pool. */
    if (idle)
        pool_destroy(pool);
}

/* Pops a recycled segment from *list (if list is not NULL), or allocates
 * one of `size` bytes. */
static tp__seg *pool_get(tp__pool *pool, tp__seg **list, size_t *count, size_t size)
{
    pthread_mutex_lock(&pool->lock);
    tp__seg *s = list ? *list : NULL;
    if (s != NULL) {
        *list = s->next;
        (*count)--;
    }
    pool->live++;
    pthread_mutex_unlock(&pool->lock);
    if (s != NULL)
        return s;

    s = tp__malloc(size);
    if (s == NULL) {
        pthread_mutex_lock(&pool->lock);
        pool->live--;
        pthread_mutex_unlock(&pool->lock);
        return NULL;
    }
    return s;
}

static void seg_init(tp__seg *s, tp__pool *pool)
{
    s->next = NULL;
    s->start = s->end = 0;
    atomic_init(&s->refs, 1);
    s->release = NULL;
    s->ctx = NULL;
    s->pool = pool;
}

tp__seg *tp__seg_new_copy(tp__pool *pool, size_t cap)
{
    tp__seg *s = NULL;
    if (cap < pool->seg_cap) {
        /* A recycled full-size segment costs nothing; otherwise allocate
         * just the smaller size, which is freed rather than recycled. */
        pthread_mutex_lock(&pool->lock);
        if (pool->free_copy != NULL)
            cap = pool->seg_cap;
        pthread_mutex_unlock(&pool->lock);
    }
    if (cap >= pool->seg_cap) {
        cap = pool->seg_cap;
        s = pool_get(pool, &pool->free_copy, &pool->n_free_copy, sizeof(tp__seg) + cap);
    } else {
        s = pool_get(pool, NULL, NULL, sizeof(tp__seg) + cap);
    }
    if (s == NULL)
        return NULL;
    seg_init(s, pool);
    s->is_ref = false;
    s->data = (char *)(s + 1);
    s->cap = cap;
    return s;
}

tp__seg *tp__seg_new_ref(tp__pool *pool, const void *buf, size_t n, tp_release_fn release,
                         void *ctx)
{
    tp__seg *s = pool_get(pool, &pool->free_ref, &pool->n_free_ref, sizeof(tp__seg));
    if (s == NULL)
        return NULL;
    seg_init(s, pool);
    s->is_ref = true;
    /* The caller's bytes are never written through this pointer. */
    s->data = (char *)(uintptr_t)buf;
    s->cap = s->end = n;
    s->release = release;
    s->ctx = ctx;
    return s;
}

void tp__seg_ref(tp__seg *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

/* Returns a dead segment to its pool, or frees it when the pool is full or
 * orphaned; frees the pool too when it was waiting for this segment. */
static void pool_put(tp__seg *s)
{
    tp__pool *pool = s->pool;
    bool keep_pool_alive = true;
    pthread_mutex_lock(&pool->lock);
    pool->live--;
    if (!pool->orphaned && s->is_ref && pool->n_free_ref < TP__MAX_FREE_REF) {
        s->next = pool->free_ref;
        pool->free_ref = s;
        pool->n_free_ref++;
        s = NULL;
    } else if (!pool->orphaned && !s->is_ref && s->cap == pool->seg_cap &&
               pool->n_free_copy < pool->max_free_copy) {
        s->next = pool->free_copy;
        pool->free_copy = s;
        pool->n_free_copy++;
        s = NULL;
    }
    if (pool->orphaned && pool->live == 0)
        keep_pool_alive = false;
    pthread_mutex_unlock(&pool->lock);
    tp__free(s);
    if (!keep_pool_alive)
        pool_destroy(pool);
}

void tp__seg_unref(tp__seg *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (s->is_ref && s->release != NULL)
        s->release(s->ctx);
    pool_put(s);
}

void tp__seg_unref_some(tp__seg *list)
{
    int saved = errno;
    while (list != NULL) {
        tp__seg *next = list->next;
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
