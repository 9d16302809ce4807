/* floor.c - tpfloor: what this machine allows between two threads, with no
 * library in the way, to put tpbench's figures in proportion:
 *
 *   1. a cache line bounced between two threads: the round trip, and so the
 *      cost of every variable that both sides of a pipe write;
 *   2. one byte sent to another thread and echoed back through two bare
 *      rings, with the bytes on lines of their own or beside the count the
 *      reader watches (floor_pingpong.c): the floor for tpbench's ping-pong;
 *   3. a bare single-producer single-consumer byte ring of 64 KiB: small
 *      messages copied in one at a time and published by a release store,
 *      a reader that lets a few KiB gather (as tpipe's reader does) and
 *      copies them out in one go. No lock, no statistics, no blocking, one
 *      writer only: the ceiling for small messages through shared memory;
 *   4. tpbench's bulk workload (64 KiB writes and reads) through a bare
 *      byte ring of 64 KiB and of 1 MiB, its two bsizes (floor_bulk.c):
 *      the ceiling for the copy path;
 *   5. bare zero-copy hand-offs with tpbench's zero-copy harness: the
 *      writer takes each buffer from the same pool of 64 (a busy flag on a
 *      line of its own, cleared by a release callback on the reader's
 *      thread) and passes a descriptor through a ring with room for 16
 *      (1 MiB of 64 KiB buffers, the pipe tpbench uses); the reader takes
 *      every descriptor there is, releases each buffer and frees the ring
 *      space in one store. The ceiling for the zero-copy workload.
 *   6. the same hand-offs with tpipe's zero-copy design added one feature
 *      at a time (floor_ladder.c): what each costs on this machine.
 *
 * Usage: tpfloor [--runs=N] [--quick]. Prints the median of N runs (5). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "floor.h"

#define RING 65536u /* bytes in the bare ring */
#define BATCH 4096u /* what the reader lets gather before copying */

/* ---- 1. a cache line bounced between two threads ---- */

typedef struct bounce {
    _Alignas(LINE) atomic_int turn; /* 1: the echo thread's move */
    long rounds;
} bounce;

static void *echo_main(void *arg)
{
    bounce *b = arg;
    for (long i = 0; i < b->rounds; i++) {
        while (atomic_load_explicit(&b->turn, memory_order_acquire) != 1)
            tf_relax();
        atomic_store_explicit(&b->turn, 0, memory_order_release);
    }
    return NULL;
}

/* Nanoseconds per round trip of one cache line. */
static double line_round_trip(long rounds)
{
    static bounce b;
    atomic_init(&b.turn, 0);
    b.rounds = rounds;
    pthread_t t;
    tf_run_thread(&t, echo_main, &b);
    double t0 = tf_now();
    for (long i = 0; i < rounds; i++) {
        atomic_store_explicit(&b.turn, 1, memory_order_release);
        while (atomic_load_explicit(&b.turn, memory_order_acquire) != 0)
            tf_relax();
    }
    double secs = tf_now() - t0;
    pthread_join(t, NULL);
    return secs / (double)rounds * 1e9;
}

/* ---- 3. the bare ring ---- */

typedef struct ring {
    _Alignas(LINE) atomic_size_t tail; /* bytes ever written; the writer's */
    _Alignas(LINE) atomic_size_t head; /* bytes ever read; the reader's */
    _Alignas(LINE) atomic_bool done;
    size_t msg;
    long count;
    _Alignas(LINE) unsigned char data[RING];
} ring;

static void *ring_writer(void *arg)
{
    ring *r = arg;
    unsigned char m[256];
    memset(m, 0x5a, sizeof m);
    size_t tail = 0, head_seen = 0;
    for (long i = 0; i < r->count; i++) {
        while (tail + r->msg - head_seen > RING) {
            head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
            if (tail + r->msg - head_seen > RING)
                tf_relax();
        }
        /* RING is a multiple of every message size used: no wrap inside. */
        memcpy(r->data + tail % RING, m, r->msg);
        tail += r->msg;
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&r->done, true, memory_order_release);
    return NULL;
}

/* Messages per second through the ring, msg bytes each. */
static double ring_rate(size_t msg, double seconds)
{
    static ring r;
    static unsigned char out[RING];
    atomic_init(&r.tail, 0);
    atomic_init(&r.head, 0);
    atomic_init(&r.done, false);
    r.msg = msg;
    r.count = (long)(seconds * 60e6); /* about `seconds` at 60 M msg/s */
    pthread_t t;
    double t0 = tf_now();
    tf_run_thread(&t, ring_writer, &r);
    size_t head = 0;
    for (unsigned waited = 0;;) {
        size_t avail = atomic_load_explicit(&r.tail, memory_order_acquire) - head;
        bool done = atomic_load_explicit(&r.done, memory_order_acquire);
        if (avail == 0 && done && atomic_load_explicit(&r.tail, memory_order_acquire) == head)
            break;
        if (avail == 0 || (avail < BATCH && !done && ++waited % 64 != 0)) {
            for (int i = 0; i < 16; i++)
                tf_relax();
            continue;
        }
        size_t at = head % RING;
        size_t k = avail < RING - at ? avail : RING - at;
        memcpy(out, r.data + at, k);
        head += k;
        atomic_store_explicit(&r.head, head, memory_order_release);
    }
    double secs = tf_now() - t0;
    pthread_join(t, NULL);
    if (head != (size_t)r.count * msg) {
        fprintf(stderr, "tpfloor: the ring lost bytes\n");
        exit(3);
    }
    return (double)r.count / secs;
}

/* ---- 5. bare zero-copy hand-offs ---- */

/* What a zero-copy hand-off passes: the bytes, and whom to tell when the
 * reader is done with them. */
typedef struct handoff {
    const void *data;
    size_t len;
    void (*release)(void *ctx);
    void *ctx;
} handoff;

typedef struct zring {
    _Alignas(LINE) atomic_ulong tail; /* descriptors ever written; the writer's */
    _Alignas(LINE) atomic_ulong head; /* descriptors ever taken; the reader's */
    _Alignas(LINE) atomic_bool done;
    long count;
    _Alignas(LINE) handoff slots[IN_FLIGHT];
    pooled pool[BUFFERS];
} zring;

static void *zring_writer(void *arg)
{
    static const char bytes[1];
    zring *z = arg;
    unsigned long tail = 0, head_seen = 0;
    for (long i = 0; i < z->count; i++) {
        pooled *b = tf_take_buffer(z->pool, i);
        tf_await_room(&z->head, tail, &head_seen);
        z->slots[tail % IN_FLIGHT] = (handoff){bytes, 65536, tf_release_pooled, b};
        tail++;
        atomic_store_explicit(&z->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&z->done, true, memory_order_release);
    return NULL;
}

/* Hand-offs per second through the ring. */
static double zring_rate(double seconds)
{
    static zring z;
    atomic_init(&z.tail, 0);
    atomic_init(&z.head, 0);
    atomic_init(&z.done, false);
    for (int i = 0; i < BUFFERS; i++)
        atomic_init(&z.pool[i].busy, false);
    z.count = (long)(seconds * 8e6); /* about `seconds` at 8 M hand-offs/s */
    pthread_t t;
    double t0 = tf_now();
    tf_run_thread(&t, zring_writer, &z);
    unsigned long head = 0, tail = 0;
    size_t bytes = 0;
    for (;;) {
        bool done = atomic_load_explicit(&z.done, memory_order_acquire);
        tail = atomic_load_explicit(&z.tail, memory_order_acquire);
        if (tail == head) {
            if (done)
                break;
            tf_relax();
            continue;
        }
        for (; head != tail; head++) {
            handoff *h = &z.slots[head % IN_FLIGHT];
            bytes += h->len;
            h->release(h->ctx);
        }
        atomic_store_explicit(&z.head, head, memory_order_release);
    }
    double secs = tf_now() - t0;
    pthread_join(t, NULL);
    if (head != (unsigned long)z.count || bytes != (size_t)z.count * 65536) {
        fprintf(stderr, "tpfloor: the zero-copy ring lost hand-offs\n");
        exit(3);
    }
    return (double)z.count / secs;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Section 6. The rungs take turns within each run, so that a change in
 * the machine's speed during the runs weighs on each rung alike. */
static void print_ladder(int runs, double seconds)
{
    enum { MAX_RUNGS = 8 };
    static double v[MAX_RUNGS][64];
    int n = tf_ladder_rungs < MAX_RUNGS ? tf_ladder_rungs : MAX_RUNGS;
    for (int i = 0; i < runs; i++)
        for (int rung = 0; rung < n; rung++)
            v[rung][i] = tf_ladder_rate(rung, seconds);
    printf("tpipe's zero-copy design added one feature at a time (M hand-offs/s, median):\n");
    for (int rung = 0; rung < n; rung++)
        printf("  %d. %s: %.2f\n", rung, tf_ladder_name(rung), median(v[rung], runs) / 1e6);
}

/* Section 4. The two sizes take turns within each run, as the rungs do. */
static void print_bulk(int runs, double seconds)
{
    static double v[2][64];
    for (int i = 0; i < runs; i++)
        for (int big = 0; big < 2; big++)
            v[big][i] = tf_bulk_rate(big ? 1024 * 1024 : 64 * 1024, seconds);
    printf("bare SPSC byte ring, 64 KiB writes and reads (tpbench's bulk), GB/s:\n"
           "  ring of 64 KiB: %.2f\n"
           "  ring of 1 MiB: %.2f\n",
           median(v[0], runs), median(v[1], runs));
}

/* Section 2. The layouts take turns within each run, as the rungs do. */
static void print_pingpong(int runs, double seconds)
{
    static double v[2][64];
    for (int i = 0; i < runs; i++)
        for (int beside = 0; beside < 2; beside++)
            v[beside][i] = tf_pingpong_round_trip(beside, seconds);
    printf("1-byte ping-pong through two bare rings (mean round trip, median of runs):\n"
           "  bytes on a line of their own: %.3f us\n"
           "  bytes beside the count the reader watches: %.3f us\n",
           median(v[0], runs) * 1e6, median(v[1], runs) * 1e6);
}

int main(int argc, char **argv)
{
    int runs = 5;
    double seconds = 0.3;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--runs=", 7) == 0 && atoi(argv[i] + 7) > 0) {
            runs = atoi(argv[i] + 7);
        } else if (strcmp(argv[i], "--quick") == 0) {
            runs = 1;
            seconds = 0.01;
        } else {
            fprintf(stderr, "usage: tpfloor [--runs=N] [--quick]\n");
            return 2;
        }
    }
    if (runs > 64)
        runs = 64;
    double v[64];
    for (int i = 0; i < runs; i++)
        v[i] = line_round_trip((long)(seconds * 4e6));
    double rt = median(v, runs);
    printf("cache line round trip between two threads: %.1f ns (%.1f ns one way)\n", rt, rt / 2);
    print_pingpong(runs, seconds);
    static const size_t sizes[] = {16, 64};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int i = 0; i < runs; i++)
            v[i] = ring_rate(sizes[s], seconds);
        printf("bare SPSC ring, %zu B messages: %.1f M msg/s\n", sizes[s], median(v, runs) / 1e6);
    }
    print_bulk(runs, seconds);
    for (int i = 0; i < runs; i++)
        v[i] = zring_rate(seconds);
    printf("bare zero-copy hand-offs, tpbench's buffer pool: %.2f M/s\n", median(v, runs) / 1e6);
    printf("(median of %d run%s; no locks, no statistics, one writer: a ceiling, not a "
           "rival)\n",
           runs, runs == 1 ? "" : "s");
    print_ladder(runs, seconds);
    return 0;
}
