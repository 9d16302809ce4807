/* floor_common.c - what tpfloor's sections and tpab share (see floor.h):
 * the clock, the pause, thread start-up, and the zero-copy harness's
 * buffer pool, as tpbench's zero-copy writer keeps it. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "floor.h"

double tf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tf_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void tf_run_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) { /* pthread_create returns the error, not errno */
        fprintf(stderr, "pthread_create: %s\n", strerror(rc));
        exit(1);
    }
}

void tf_release_pooled(void *ctx)
{
    atomic_store_explicit(&((pooled *)ctx)->busy, false, memory_order_release);
}

pooled *tf_take_buffer(pooled *pool, long i)
{
    pooled *b = &pool[i % BUFFERS];
    while (atomic_load_explicit(&b->busy, memory_order_acquire))
        sched_yield(); /* as tpbench's writer does */
    atomic_store_explicit(&b->busy, true, memory_order_relaxed);
    return b;
}

void tf_await_room(atomic_ulong *read, unsigned long written, unsigned long *read_seen)
{
    while (written - *read_seen >= IN_FLIGHT) {
        *read_seen = atomic_load_explicit(read, memory_order_acquire);
        if (written - *read_seen >= IN_FLIGHT)
            tf_relax();
    }
}
