/* floor_pingpong.c - tpfloor's ping-pong floor: one byte sent to another
 * thread and echoed back, as tpbench's ping-pong does, through two bare
 * single-producer single-consumer rings with no library in the way.
 *
 * Each ring has a count of bytes ever sent, which the reader spins on, and
 * a count of bytes ever taken, which the writer looks at only when the
 * room it knows of runs out; each side keeps its own copy of its own
 * count, so it never loads a line the other side is watching. The two
 * layouts differ only in where the bytes go:
 *   - on a line of their own, as in any ring whose messages outgrow a
 *     cache line (and in tpipe, whose bytes live in segments): the reader
 *     that sees the count move then fetches a second line;
 *   - on the count's line, which fits only tiny messages: the line that
 *     signals also carries the byte.
 * One byte is in flight at a time, so neither ring ever fills. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floor.h"

#define APART_BYTES 4096u                          /* a ring with its bytes on lines of their own */
#define BESIDE_BYTES (LINE - sizeof(atomic_ulong)) /* bytes on the count's line */

typedef struct pp_ring {
    _Alignas(LINE) atomic_ulong sent; /* bytes ever sent; the writer's */
    unsigned char beside[BESIDE_BYTES];
    _Alignas(LINE) atomic_ulong taken;                /* bytes ever taken; the reader's */
    _Alignas(LINE) unsigned long my_sent, taken_seen; /* the writer's own */
    _Alignas(LINE) unsigned long my_taken;            /* the reader's own */
    _Alignas(LINE) unsigned char apart[APART_BYTES];
} pp_ring;

typedef struct pp_run {
    pp_ring there, back;
    bool beside; /* which layout */
    _Alignas(LINE) atomic_bool stop;
} pp_run;

static unsigned long ring_size(const pp_run *r)
{
    return r->beside ? BESIDE_BYTES : APART_BYTES;
}

static void put(pp_run *r, pp_ring *q, unsigned char byte)
{
    unsigned long size = ring_size(r);
    /* Once per ring's worth of bytes; it never waits, with one byte in
     * flight. */
    while (q->my_sent - q->taken_seen >= size)
        q->taken_seen = atomic_load_explicit(&q->taken, memory_order_acquire);
    unsigned char *slot = r->beside ? &q->beside[q->my_sent % size] : &q->apart[q->my_sent % size];
    *slot = byte;
    q->my_sent++;
    atomic_store_explicit(&q->sent, q->my_sent, memory_order_release);
}

/* The next byte, or -1 once told to stop while waiting. */
static int get(pp_run *r, pp_ring *q)
{
    while (atomic_load_explicit(&q->sent, memory_order_acquire) == q->my_taken) {
        if (atomic_load_explicit(&r->stop, memory_order_relaxed))
            return -1;
        tf_relax();
    }
    unsigned long size = ring_size(r);
    unsigned char byte = r->beside ? q->beside[q->my_taken % size] : q->apart[q->my_taken % size];
    q->my_taken++;
    atomic_store_explicit(&q->taken, q->my_taken, memory_order_release);
    return byte;
}

static void *echo_main(void *arg)
{
    pp_run *r = arg;
    for (int byte; (byte = get(r, &r->there)) >= 0;)
        put(r, &r->back, (unsigned char)byte);
    return NULL;
}

double tf_pingpong_round_trip(bool beside, double seconds)
{
    pp_run *r = aligned_alloc(LINE, sizeof *r);
    if (r == NULL) {
        fprintf(stderr, "tpfloor: out of memory\n");
        exit(1);
    }
    memset(r, 0, sizeof *r);
    r->beside = beside;
    pp_ring *rings[] = {&r->there, &r->back};
    for (int i = 0; i < 2; i++) {
        atomic_init(&rings[i]->sent, 0);
        atomic_init(&rings[i]->taken, 0);
    }
    atomic_init(&r->stop, false);
    pthread_t t;
    tf_run_thread(&t, echo_main, r);
    double t0 = tf_now(), elapsed = 0;
    long trips = 0;
    for (;; trips++) {
        unsigned char out = (unsigned char)trips;
        put(r, &r->there, out);
        if (get(r, &r->back) != out) {
            fprintf(stderr, "tpfloor: the ping-pong rings lost a byte\n");
            exit(3);
        }
        if (trips % 256 == 0 && (elapsed = tf_now() - t0) >= seconds)
            break;
    }
    atomic_store_explicit(&r->stop, true, memory_order_relaxed);
    pthread_join(t, NULL);
    free(r);
    return elapsed / (double)(trips + 1);
}
