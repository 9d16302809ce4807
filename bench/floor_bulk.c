/* floor_bulk.c - tpfloor's bulk section: tpbench's bulk workload through a
 * bare single-producer single-consumer byte ring. The writer copies 64 KiB
 * blocks in, as much of each as there is room for; the reader copies out
 * up to 64 KiB of whatever is there. One release store publishes each
 * copy and nothing else is shared: no lock, no statistics, no sleeping.
 * With the ring as large as tpbench's bsize, it is the ceiling for the
 * copy path at that size, since every byte crosses between the cores once
 * on its way in and the ring's space crosses back to be written again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floor.h"

#define BLOCK 65536u /* tpbench's bulk write and read size */

typedef struct byte_ring {
    _Alignas(LINE) atomic_size_t tail; /* bytes ever written; the writer's */
    _Alignas(LINE) atomic_size_t head; /* bytes ever read; the reader's */
    _Alignas(LINE) atomic_bool stop;
    size_t cap;
    unsigned char *data;
} byte_ring;

/* Copies n bytes into the ring at stream offset pos, wrapping at the end. */
static void copy_in(byte_ring *r, size_t pos, const unsigned char *src, size_t n)
{
    size_t at = pos % r->cap;
    size_t first = n < r->cap - at ? n : r->cap - at;
    memcpy(r->data + at, src, first);
    memcpy(r->data, src + first, n - first);
}

static void copy_out(byte_ring *r, size_t pos, unsigned char *dst, size_t n)
{
    size_t at = pos % r->cap;
    size_t first = n < r->cap - at ? n : r->cap - at;
    memcpy(dst, r->data + at, first);
    memcpy(dst + first, r->data, n - first);
}

static void *bulk_writer(void *arg)
{
    byte_ring *r = arg;
    static unsigned char block[BLOCK];
    for (size_t i = 0; i < BLOCK; i++)
        block[i] = (unsigned char)(i * 7 + 1);
    size_t tail = 0, head_seen = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        for (size_t off = 0; off < BLOCK;) {
            size_t room = r->cap - (tail - head_seen);
            if (room == 0) {
                head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
                if (tail - head_seen == r->cap) {
                    if (atomic_load_explicit(&r->stop, memory_order_relaxed))
                        return NULL;
                    tf_relax();
                }
                continue;
            }
            size_t k = BLOCK - off < room ? BLOCK - off : room;
            copy_in(r, tail, block + off, k);
            tail += k;
            off += k;
            atomic_store_explicit(&r->tail, tail, memory_order_release);
        }
    }
    return NULL;
}

double tf_bulk_rate(size_t cap, double seconds)
{
    static byte_ring r;
    static unsigned char out[BLOCK];
    r.cap = cap;
    r.data = malloc(cap);
    if (r.data == NULL) {
        fprintf(stderr, "tpfloor: out of memory\n");
        exit(1);
    }
    memset(r.data, 0, cap); /* the pages exist before the clock starts */
    atomic_init(&r.tail, 0);
    atomic_init(&r.head, 0);
    atomic_init(&r.stop, false);
    pthread_t t;
    tf_run_thread(&t, bulk_writer, &r);
    size_t head = 0;
    double t0 = tf_now(), elapsed = 0;
    for (unsigned reads = 1; elapsed < seconds; reads++) {
        size_t avail;
        while ((avail = atomic_load_explicit(&r.tail, memory_order_acquire) - head) == 0)
            tf_relax();
        size_t k = avail < BLOCK ? avail : BLOCK;
        copy_out(&r, head, out, k);
        if (out[0] != (unsigned char)((head % BLOCK) * 7 + 1)) {
            fprintf(stderr, "tpfloor: the byte ring delivered wrong data\n");
            exit(3);
        }
        head += k;
        atomic_store_explicit(&r.head, head, memory_order_release);
        if (reads % 64 == 0)
            elapsed = tf_now() - t0;
    }
    elapsed = tf_now() - t0;
    atomic_store_explicit(&r.stop, true, memory_order_relaxed);
    pthread_join(t, NULL);
    free(r.data);
    return (double)head / elapsed / 1e9;
}
