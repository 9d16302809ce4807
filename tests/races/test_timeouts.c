/* test_timeouts.c - timed waits: thousands of 1-100 ms waits of every kind,
 * none may return early (lateness p50/p99/max is printed, never asserted:
 * the machine is shared); timeout 0; huge timeouts that must not overflow
 * into "at once"; NaN; and a wall-clock step that must neither cut nor
 * stretch a wait.
 *
 * The wall-clock step is simulated by a clock shim: this executable defines
 * clock_gettime, so it also serves the calls libtpipe makes, and shifts
 * CLOCK_REALTIME by an hour either way. A library computing deadlines from
 * the wall clock would return at once (backward step) or sleep an hour
 * (forward step, caught by the CTest timeout); tpipe uses CLOCK_MONOTONIC
 * deadlines with pthread_condattr_setclock (src/deadline.c), which the
 * shift cannot touch. TP_TIMEOUT_WAITS sets the number of timed waits
 * (default 2000). */
#define _GNU_SOURCE
#include "rel_util.h"

#include <float.h>
#include <math.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static _Atomic long long realtime_shift_ns;

/* The shim: everything passes through, CLOCK_REALTIME* is shifted. */
int clock_gettime(clockid_t id, struct timespec *ts)
{
    long r = syscall(SYS_clock_gettime, id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        long long ns =
            (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + atomic_load(&realtime_shift_ns);
        ts->tv_sec = (time_t)(ns / 1000000000LL);
        ts->tv_nsec = (long)(ns % 1000000000LL);
    }
    return (int)r;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

enum kind {
    K_EVENT,
    K_READ_WAIT,
    K_WRITE_WAIT,
    K_FLUSH_WAIT,
    K_READ,
    K_WRITE,
    K_READMATCH,
    K_FLUSH,
    K_READALL,
    K_WRITE_REF,
    NKINDS
};
static const char *kind_names[] = {"event_wait", "read_wait", "write_wait", "flush_wait",
                                   "read",       "write",     "readmatch",  "flush",
                                   "readall",    "write_ref"};

/* One timed wait of kind k for t seconds that nothing will satisfy.
 * Returns the elapsed nanoseconds, or -1 after recording a failure. */
static long long timed_wait(enum kind k, double t, rel_failure *f)
{
    /* Pipe timeouts apply to blocked reads, writes and flushes. */
    tp_pipe *p = tp_pipe_new(8, true, true, t, "timeouts");
    tp_event *ev = tp_event_new();
    if (p == NULL || ev == NULL) {
        rel_fail(f, "out of memory");
        tp_pipe_free(p);
        tp_event_free(ev);
        return -1;
    }
    static const char fill[8] = "abcdefgh";
    if (k == K_WRITE_WAIT || k == K_WRITE || k == K_WRITE_REF)
        tp_pipe_write(p, fill, 8);
    else if (k == K_FLUSH_WAIT || k == K_FLUSH || k == K_READMATCH)
        tp_pipe_write(p, fill, 3);
    unsigned char buf[8];
    void *out = NULL;
    size_t len;
    long long r;
    long long t0 = now_ns();
    errno = 0;
    /* One line per kind reads as a table. */
    /* clang-format off */
    switch (k) {
    case K_EVENT: r = tp_event_wait(ev, t); break;
    case K_READ_WAIT: r = tp_pipe_read_wait(p, t); break;
    case K_WRITE_WAIT: r = tp_pipe_write_wait(p, t); break;
    case K_FLUSH_WAIT: r = tp_pipe_flush_wait(p, t); break;
    case K_READ: r = tp_pipe_read(p, buf, sizeof buf); break;
    case K_WRITE: r = tp_pipe_write(p, fill, 8); break;
    case K_READMATCH: r = tp_pipe_readmatch(p, "\n", 1, &out); break;
    case K_FLUSH: r = tp_pipe_flush(p); break;
    case K_READALL: r = tp_pipe_readall(p, &out, &len); break;
    default: r = tp_pipe_write_ref(p, fill, 8, NULL, NULL); break;
    }
    /* clang-format on */
    int e = errno;
    long long el = now_ns() - t0;
    tp_free(out);
    tp_pipe_free(p);
    tp_event_free(ev);
    if (r != -1 || e != ETIMEDOUT) {
        rel_fail(f, "%s(%.6f s) returned %lld errno %d (%s), expected ETIMEDOUT", kind_names[k], t,
                 r, e, strerror(e));
        return -1;
    }
    /* 1 us of slack for the double -> timespec conversion of t. */
    if ((double)el < t * 1e9 - 1000.0) {
        rel_fail(f, "%s(%.6f s) returned early, after %.6f s", kind_names[k], t, (double)el * 1e-9);
        return -1;
    }
    return el;
}

typedef struct sampler {
    int id, n;
    double *late; /* lateness in seconds, one per wait */
    rel_failure *f;
} sampler;

static void *sampler_main(void *arg)
{
    sampler *s = arg;
    uint64_t rng = rel_seed((uint64_t)s->id, 4242);
    for (int i = 0; i < s->n && !atomic_load(&s->f->failed); i++) {
        double t = (double)(1000 + rel_below(&rng, 99001)) * 1e-6; /* 1..100 ms */
        enum kind k = (enum kind)rel_below(&rng, NKINDS);
        long long el = timed_wait(k, t, s->f);
        if (el < 0)
            return NULL;
        s->late[i] = (double)el * 1e-9 - t;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_timed_waits(const char *label)
{
    enum { THREADS = 32 };
    int total = (int)rel_env("TP_TIMEOUT_WAITS", 2000);
    int per = (total + THREADS - 1) / THREADS;
    rel_failure f = {0};
    double *late = calloc((size_t)per * THREADS, sizeof *late);
    assert_non_null(late);
    sampler s[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (sampler){i, per, late + (size_t)i * per, &f};
        assert_int_equal(pthread_create(&t[i], NULL, sampler_main, &s[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    if (atomic_load(&f.failed)) {
        free(late);
        fail_msg("%s", f.msg);
    }
    int n = per * THREADS;
    qsort(late, (size_t)n, sizeof *late, cmp_double);
    printf("%s: %d timed waits of 1-100 ms, none early; lateness p50 %.3f ms, p99 %.3f ms, "
           "max %.3f ms\n",
           label, n, late[n / 2] * 1e3, late[(n * 99) / 100] * 1e3, late[n - 1] * 1e3);
    free(late);
}

static void timed_waits_never_return_early(void **state)
{
    (void)state;
    run_timed_waits("monotonic clock");
}

static void wall_clock_steps_neither_cut_nor_stretch(void **state)
{
    (void)state;
    /* The shim is in force: the wall clock we read moved, gettimeofday
     * (which does not go through clock_gettime) did not. */
    atomic_store(&realtime_shift_ns, -3600LL * 1000000000LL);
    struct timespec ts;
    struct timeval tv;
    clock_gettime(CLOCK_REALTIME, &ts);
    gettimeofday(&tv, NULL);
    assert_true(tv.tv_sec - ts.tv_sec > 3000);
    rel_failure f = {0};
    for (int k = 0; k < NKINDS; k++)
        assert_true(timed_wait((enum kind)k, 0.02, &f) >= 0);
    atomic_store(&realtime_shift_ns, 3600LL * 1000000000LL);
    for (int k = 0; k < NKINDS; k++)
        assert_true(timed_wait((enum kind)k, 0.02, &f) >= 0); /* would sleep an hour */
    atomic_store(&realtime_shift_ns, 0);
    if (atomic_load(&f.failed))
        fail_msg("%s", f.msg);
}

static void timeout_zero_fails_at_once(void **state)
{
    (void)state;
    rel_failure f = {0};
    for (int k = 0; k < NKINDS; k++) {
        /* timed_wait expects ETIMEDOUT and elapsed >= 0: both hold for 0. */
        assert_true(timed_wait((enum kind)k, 0.0, &f) >= 0);
    }
    if (atomic_load(&f.failed))
        fail_msg("%s", f.msg);
}

/* A waiter with a huge timeout must sleep until the data comes, not time
 * out at once because the deadline overflowed. */
typedef struct huge {
    tp_pipe *p;
    tp_event *ev;
    double t;
    int which;
    long long ret;
    int err;
} huge;

static void *huge_main(void *arg)
{
    huge *h = arg;
    unsigned char b;
    errno = 0;
    if (h->which == 0)
        h->ret = tp_pipe_read_wait(h->p, h->t);
    else if (h->which == 1)
        h->ret = tp_pipe_read(h->p, &b, 1);
    else
        h->ret = tp_event_wait(h->ev, h->t);
    h->err = errno;
    return NULL;
}

static void huge_timeouts_do_not_overflow(void **state)
{
    (void)state;
    const double ts[] = {1e9, 1e12, 1e15, 1e18, 1e300, DBL_MAX, HUGE_VAL};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        for (int which = 0; which < 3; which++) {
            huge h = {0};
            h.t = ts[i];
            h.which = which;
            h.p = tp_pipe_new(8, true, true, ts[i], "huge");
            h.ev = tp_event_new();
            assert_non_null(h.p);
            assert_non_null(h.ev);
            pthread_t t;
            assert_int_equal(pthread_create(&t, NULL, huge_main, &h), 0);
            uint64_t rng = rel_seed(i, (uint64_t)which);
            rel_jitter(&rng, 20000); /* usually asleep by now; correct either way */
            if (which == 2)
                tp_event_set(h.ev);
            else
                assert_int_equal(tp_pipe_write(h.p, "x", 1), 1);
            pthread_join(t, NULL);
            if (h.ret < 0)
                fail_msg("timeout %g (%s): returned -1 errno %s", ts[i],
                         which == 0   ? "read_wait"
                         : which == 1 ? "read"
                                      : "event_wait",
                         strerror(h.err));
            tp_pipe_free(h.p);
            tp_event_free(h.ev);
        }
    }
}

static void nan_timeout_is_einval(void **state)
{
    (void)state;
    errno = 0;
    assert_null(tp_pipe_new(8, true, true, NAN, "nan"));
    assert_int_equal(errno, EINVAL);
    tp_pipe *p = tp_pipe_new(8, true, true, 1.0, "nan");
    tp_event *ev = tp_event_new();
    assert_non_null(p);
    assert_non_null(ev);
    errno = 0;
    assert_int_equal(tp_pipe_read_wait(p, NAN), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(tp_pipe_write_wait(p, NAN), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(tp_pipe_flush_wait(p, NAN), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(tp_event_wait(ev, NAN), -1);
    assert_int_equal(errno, EINVAL);
    tp_pipe_free(p);
    tp_event_free(ev);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timed_waits_never_return_early),
        cmocka_unit_test(wall_clock_steps_neither_cut_nor_stretch),
        cmocka_unit_test(timeout_zero_fails_at_once),
        cmocka_unit_test(huge_timeouts_do_not_overflow),
        cmocka_unit_test(nan_timeout_is_einval),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("timeouts", tests, NULL, NULL);
}
