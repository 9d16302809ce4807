/* floor.h - what tpfloor's sections and tpab share: the clock, the pause,
 * thread start-up, and the zero-copy harness's buffer pool (defined in
 * floor_common.c). */
#ifndef TP_BENCH_FLOOR_H
#define TP_BENCH_FLOOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define LINE 64      /* keeps the shared words on lines of their own */
#define IN_FLIGHT 16 /* zero-copy hand-offs a pipe holds (1 MiB of 64 KiB) */
#define BUFFERS 64   /* buffers in the zero-copy writer's pool */

/* One buffer of the zero-copy writer's pool, as tpbench keeps them. */
typedef struct pooled {
    _Alignas(LINE) atomic_bool busy; /* handed off and not yet released */
} pooled;

/* CLOCK_MONOTONIC in seconds. */
double tf_now(void);
/* One spin-wait pause. */
void tf_relax(void);
/* Starts a thread or exits with a message. */
void tf_run_thread(pthread_t *t, void *(*fn)(void *), void *arg);
/* The release callback of a pooled buffer: clears its busy flag. */
void tf_release_pooled(void *ctx);
/* The zero-copy writer's buffer for hand-off i: waits until the reader has
 * released it, then marks it busy. */
pooled *tf_take_buffer(pooled *pool, long i);
/* Waits until fewer than IN_FLIGHT of `written` hand-offs are unread;
 * `*read_seen` is the writer's copy of the reader's count `read`. */
void tf_await_room(atomic_ulong *read, unsigned long written, unsigned long *read_seen);

/* Section 2 (floor_pingpong.c): one run of the ping-pong floor, with the
 * bytes beside the ring's count or on lines of their own, for about
 * `seconds`: the mean round trip in seconds. */
double tf_pingpong_round_trip(bool beside, double seconds);

/* Section 4 (floor_bulk.c): one run of tpbench's bulk workload, 64 KiB
 * writes and reads, through a bare byte ring of `cap` bytes for about
 * `seconds`: GB/s. */
double tf_bulk_rate(size_t cap, double seconds);

/* Section 6 (floor_ladder.c): the rungs, and one run of rung `rung`
 * (0 <= rung < tf_ladder_rungs) for about `seconds`: hand-offs per second. */
extern const int tf_ladder_rungs;
const char *tf_ladder_name(int rung);
double tf_ladder_rate(int rung, double seconds);

#endif
