/* test_util.h - helpers shared by the cmocka core tests: cmocka includes,
 * errno and ordering assertions that print both values, a monotonic clock,
 * release-callback counters, log capture and threads we can see blocking. */
#ifndef TP_TEST_UTIL_H
#define TP_TEST_UTIL_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tpipe.h"

/* Fails unless the expression returned -1 and set errno to err; prints the
 * value returned and both errno names. errno is cleared first so a stale
 * value cannot satisfy the check. */
#define assert_fails_with(expr, err)                                                               \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long long tt_r_ = (long long)(expr);                                                       \
        int tt_e_ = errno;                                                                         \
        tt_check_failure(#expr, tt_r_, tt_e_, (err), __FILE__, __LINE__);                          \
    } while (0)

/* As assert_fails_with, for calls that return a pointer (NULL on failure). */
#define assert_null_with(expr, err)                                                                \
    do {                                                                                           \
        errno = 0;                                                                                 \
        const void *tt_p_ = (expr);                                                                \
        int tt_e_ = errno;                                                                         \
        tt_check_failure(#expr, tt_p_ == NULL ? -1 : 1, tt_e_, (err), __FILE__, __LINE__);         \
    } while (0)

/* a >= b, printing both. */
#define assert_ge(a, b)                                                                            \
    do {                                                                                           \
        long long tt_a_ = (long long)(a), tt_b_ = (long long)(b);                                  \
        if (!(tt_a_ >= tt_b_))                                                                     \
            fail_msg("%s >= %s failed: %lld < %lld", #a, #b, tt_a_, tt_b_);                        \
    } while (0)

/* a <= b, printing both. */
#define assert_le(a, b)                                                                            \
    do {                                                                                           \
        long long tt_a_ = (long long)(a), tt_b_ = (long long)(b);                                  \
        if (!(tt_a_ <= tt_b_))                                                                     \
            fail_msg("%s <= %s failed: %lld > %lld", #a, #b, tt_a_, tt_b_);                        \
    } while (0)

/* The call took at least `seconds` (timeouts must not fire early). One
 * millisecond of slack covers the rounding of a double timeout to a
 * timespec; there is deliberately no upper bound (the machine is shared). */
#define assert_not_earlier(elapsed, seconds)                                                       \
    assert_ge((long long)((elapsed)*1e6), (long long)((seconds)*1e6) - 1000)

void tt_check_failure(const char *expr, long long ret, int got, int want, const char *file,
                      int line);

/* Seconds on CLOCK_MONOTONIC. */
double tt_now(void);

/* Sleeps for s seconds. Only for pacing a producer or consumer (never to
 * wait for another thread: use events, joins or tt_thread_wait_blocked). */
void tt_sleep(double s);

/* Counts release callbacks; pass &counter as ctx with tt_release_cb. */
typedef struct tt_release {
    atomic_int calls;
} tt_release;
void tt_release_init(tt_release *r);
void tt_release_cb(void *ctx);
int tt_release_calls(tt_release *r);

/* Captures tpipe log lines for the duration of a test. */
typedef struct tt_log {
    pthread_mutex_t mu;
    int count;
    int level;
    bool had_name;
    char name[128];
    char msg[512];
} tt_log;
void tt_log_capture(tt_log *log);
void tt_log_restore(tt_log *log);
int tt_log_count(tt_log *log);

/* A thread whose kernel state the test can observe, so it can wait until the
 * thread sleeps inside a blocking tpipe call instead of guessing with sleeps. */
typedef struct tt_thread {
    pthread_t th;
    void *(*fn)(void *);
    void *arg;
    void *ret;
    atomic_int tid;
    atomic_bool done;
} tt_thread;
void tt_thread_start(tt_thread *t, void *(*fn)(void *), void *arg);
/* Returns once the thread sleeps in the kernel (or has finished). A thread
 * that becomes runnable again within the poll interval may be missed; the
 * tests are correct either way, this only makes them reach the wait path. */
void tt_thread_wait_blocked(tt_thread *t);
void *tt_thread_join(tt_thread *t);

/* One blocking pipe operation run on a thread, with its outcome. */
enum tt_op_kind {
    TT_READ,
    TT_READ_VIEW,
    TT_READ_VIEWS, /* up to 4 views; buf gets their bytes, ret their total */
    TT_READALL,
    TT_READMATCH,
    TT_WRITE,
    TT_WRITE_REF,
    TT_FLUSH,
    TT_READ_WAIT,
    TT_WRITE_WAIT,
    TT_FLUSH_WAIT,
};
typedef struct tt_op {
    enum tt_op_kind kind;
    tp_pipe *p;
    const void *src; /* write / write_ref source; readmatch delimiter (NULL: CRLF) */
    size_t n;        /* bytes to read or write; readmatch delimiter length */
    double timeout;  /* for the waits */
    tt_release rel;  /* write_ref release counter */
    /* outcome */
    long long ret;
    int err;
    double elapsed;
    unsigned char buf[256]; /* read: the bytes */
    void *out;              /* readall / readmatch: the buffer */
    size_t outlen;
    tt_thread thread;
} tt_op;
void tt_op_start(tt_op *op, enum tt_op_kind kind, tp_pipe *p);
/* Starts op and returns once it sleeps inside the call. */
void tt_op_start_blocked(tt_op *op, enum tt_op_kind kind, tp_pipe *p);
void tt_op_join(tt_op *op);
void tt_op_cleanup(tt_op *op);

/* Fills buf with a byte pattern that depends on the absolute stream offset. */
unsigned char tt_pattern(uint64_t offset);
void tt_fill_pattern(void *buf, size_t n, uint64_t offset);

/* Bytes read so far from p until it returns 0 (EOF); the pipe must be
 * blocking or hold EOF. Returns a malloc'd buffer and sets *len. */
unsigned char *tt_drain(tp_pipe *p, size_t *len);

#endif
