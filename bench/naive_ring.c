/* naive_ring.c - the naive baseline ring: every call takes the one mutex,
 * waits on a condition variable while it cannot proceed, copies, signals. */
#include "naive_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* All fields after the condition variables are guarded by lock. */
struct naive_ring {
    pthread_mutex_t lock;
    pthread_cond_t not_empty; /* signalled after every write */
    pthread_cond_t not_full;  /* signalled after every read */
    unsigned char *data;
    size_t capacity;
    size_t head; /* next byte to read */
    size_t used; /* bytes stored */
    bool eof;
};

naive_ring *naive_ring_new(size_t capacity)
{
    naive_ring *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->data = malloc(capacity);
    if (!r->data || pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r->data);
        free(r);
        return NULL;
    }
    pthread_cond_init(&r->not_empty, NULL);
    pthread_cond_init(&r->not_full, NULL);
    r->capacity = capacity;
    return r;
}

void naive_ring_free(naive_ring *r)
{
    if (!r)
        return;
    pthread_cond_destroy(&r->not_empty);
    pthread_cond_destroy(&r->not_full);
    pthread_mutex_destroy(&r->lock);
    free(r->data);
    free(r);
}

ssize_t naive_ring_write(naive_ring *r, const void *buf, size_t n)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&r->lock);
    while (r->used == r->capacity && !r->eof)
        pthread_cond_wait(&r->not_full, &r->lock);
    if (r->eof) {
        pthread_mutex_unlock(&r->lock);
        errno = EPIPE;
        return -1;
    }
    size_t room = r->capacity - r->used;
    size_t take = n < room ? n : room;
    size_t tail = (r->head + r->used) % r->capacity;
    size_t first = r->capacity - tail < take ? r->capacity - tail : take;
    memcpy(r->data + tail, buf, first);
    memcpy(r->data, (const unsigned char *)buf + first, take - first);
    r->used += take;
    pthread_cond_signal(&r->not_empty);
    pthread_mutex_unlock(&r->lock);
    return (ssize_t)take;
}

ssize_t naive_ring_read(naive_ring *r, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&r->lock);
    while (r->used == 0 && !r->eof)
        pthread_cond_wait(&r->not_empty, &r->lock);
    size_t take = n < r->used ? n : r->used;
    size_t first = r->capacity - r->head < take ? r->capacity - r->head : take;
    memcpy(buf, r->data + r->head, first);
    memcpy((unsigned char *)buf + first, r->data, take - first);
    r->head = (r->head + take) % r->capacity;
    r->used -= take;
    /* One waiter is enough: a writer that leaves room behind is followed by
     * another read, which wakes the next one. */
    pthread_cond_signal(&r->not_full);
    pthread_mutex_unlock(&r->lock);
    return (ssize_t)take;
}

void naive_ring_write_eof(naive_ring *r)
{
    pthread_mutex_lock(&r->lock);
    r->eof = true;
    pthread_cond_broadcast(&r->not_empty);
    pthread_cond_broadcast(&r->not_full);
    pthread_mutex_unlock(&r->lock);
}

size_t naive_ring_footprint(const naive_ring *r)
{
    return sizeof *r + r->capacity;
}
