/* rel_util.h - small helpers shared by the reliability tests (stress, races,
 * oom): cmocka includes, a per-thread PRNG, a monotonic clock, environment
 * knobs, and a failure flag that worker threads raise instead of calling
 * cmocka (whose assertions may only run on the test's own thread). */
#ifndef TP_REL_UTIL_H
#define TP_REL_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tpipe.h"

/* xorshift64*: fast, deterministic per seed, one state per thread. */
static inline uint64_t rel_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A seed that is never 0 (xorshift's fixed point). */
static inline uint64_t rel_seed(uint64_t a, uint64_t b)
{
    uint64_t s = (a + 1) * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);
    s ^= s >> 31;
    return s ? s : 1;
}

/* Uniform in [0, n) (n > 0); the bias is irrelevant here. */
static inline uint64_t rel_below(uint64_t *s, uint64_t n)
{
    return rel_rand(s) % n;
}

static inline double rel_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* An unsigned knob from the environment, or def when unset or malformed. */
static inline unsigned long long rel_env(const char *name, unsigned long long def)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    unsigned long long x = strtoull(v, &end, 0);
    return *end == '\0' ? x : def;
}

/* Worker threads record the first failure here; the test thread asserts
 * that nothing was recorded once the workers are joined. */
typedef struct rel_failure {
    atomic_int failed;
    char msg[512];
} rel_failure;

static inline void rel_fail(rel_failure *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void rel_fail(rel_failure *f, const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&f->failed, &expected, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAILURE: %s\n", f->msg);
}

/* Sleeps for a random time below max_us microseconds (0: maybe yield).
 * Used only to vary interleavings, never to synchronise. */
static inline void rel_jitter(uint64_t *s, unsigned max_us)
{
    uint64_t us = max_us ? rel_below(s, max_us) : 0;
    if (us == 0)
        return;
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

#endif /* TP_REL_UTIL_H */
