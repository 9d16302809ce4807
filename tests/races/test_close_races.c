/* test_close_races.c - close / EOF / free races: for every blocking call and
 * each closing action (reader close, write_eof), 64 threads block in the
 * call (some are still on their way in) while the test thread closes; every
 * one must return the documented result, and the pipe is then freed (ASan
 * sees any use after free). Thousands of rounds with random delays.
 *
 * Documented results (tpipe.h):
 *   close:     every call fails with EPIPE; write_ref does not release.
 *   write_eof: read / read_view 0, readmatch 0 (no match, bytes stay),
 *              readall 0 with what it read, read_wait 0; write, write_ref
 *              and write_wait EPIPE; flush and flush_wait keep waiting
 *              until the reader drains the buffer, then return 0.
 * TP_RACES_ROUNDS sets the rounds per (call, action) pair (default 100). */
#include "rel_util.h"

#define NWAITERS 64
#define BSIZE 64

enum call {
    C_READ,
    C_READ_VIEW,
    C_READMATCH,
    C_READALL,
    C_READ_WAIT,
    C_WRITE,
    C_WRITE_REF,
    C_WRITE_WAIT,
    C_FLUSH,
    C_FLUSH_WAIT,
    NCALLS
};
static const char *call_names[] = {"read",  "read_view", "readmatch",  "readall", "read_wait",
                                   "write", "write_ref", "write_wait", "flush",   "flush_wait"};
enum action { A_CLOSE, A_EOF };

typedef struct pool pool;

typedef struct waiter {
    pool *pl;
    int id;
    uint64_t rng;
    long long ret;
    int err;
    size_t got; /* bytes a read handed over */
} waiter;

struct pool {
    pthread_barrier_t start;
    tp_pipe *p; /* this round's pipe; set before the barrier */
    enum call call;
    atomic_int returned;
    tp_event *all_back;
    atomic_int releases;
    atomic_bool quit;
    waiter w[NWAITERS];
    pthread_t t[NWAITERS];
};

/* Counts the warnings close logs when it discards data (and keeps the
 * test output readable). */
static atomic_int warnings;

static void count_log(int level, const char *name, const char *msg, void *ctx)
{
    (void)name;
    (void)msg;
    (void)ctx;
    if (level == TP_LOG_WARNING)
        atomic_fetch_add(&warnings, 1);
}

static void on_release(void *ctx)
{
    atomic_fetch_add(&((pool *)ctx)->releases, 1);
}

static void do_call(waiter *w)
{
    pool *pl = w->pl;
    tp_pipe *p = pl->p;
    unsigned char buf[16];
    static const unsigned char data[BSIZE] = {0};
    void *out = NULL;
    size_t len = 0;
    errno = 0;
    w->got = 0;
    switch (pl->call) {
    case C_READ:
        w->ret = tp_pipe_read(p, buf, sizeof buf);
        w->got = w->ret > 0 ? (size_t)w->ret : 0;
        break;
    case C_READ_VIEW: {
        const void *d = NULL;
        tp_view *v = NULL;
        w->ret = tp_pipe_read_view(p, sizeof buf, &d, &v);
        w->got = w->ret > 0 ? (size_t)w->ret : 0;
        tp_view_release(v);
        break;
    }
    case C_READMATCH:
        w->ret = tp_pipe_readmatch(p, "\n", 1, &out);
        w->got = w->ret > 0 ? (size_t)w->ret : 0;
        tp_free(out);
        break;
    case C_READALL:
        w->ret = tp_pipe_readall(p, &out, &len);
        w->got = len;
        if (w->ret == 0 && out == NULL)
            w->ret = 99; /* success must hand over a buffer */
        tp_free(out);
        break;
    case C_READ_WAIT:
        w->ret = tp_pipe_read_wait(p, TP_FOREVER);
        break;
    case C_WRITE:
        w->ret = tp_pipe_write(p, data, sizeof data);
        break;
    case C_WRITE_REF:
        w->ret = tp_pipe_write_ref(p, data, sizeof data, on_release, pl);
        break;
    case C_WRITE_WAIT:
        w->ret = tp_pipe_write_wait(p, TP_FOREVER);
        break;
    case C_FLUSH:
        w->ret = tp_pipe_flush(p);
        break;
    default:
        w->ret = tp_pipe_flush_wait(p, TP_FOREVER);
        break;
    }
    w->err = errno;
}

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    pool *pl = w->pl;
    for (;;) {
        pthread_barrier_wait(&pl->start);
        if (atomic_load(&pl->quit))
            return NULL;
        rel_jitter(&w->rng, 300); /* some arrive after the close */
        do_call(w);
        if (atomic_fetch_add(&pl->returned, 1) + 1 == NWAITERS)
            tp_event_set(pl->all_back);
    }
}

/* A pipe in which `call` blocks: empty for readers, full for writers,
 * holding data for flushers; readmatch finds bytes but no newline. */
static tp_pipe *blocking_pipe(enum call c)
{
    tp_pipe *p = tp_pipe_new(BSIZE, true, true, TP_FOREVER, "races");
    assert_non_null(p);
    static const unsigned char fill[BSIZE] = {1};
    if (c == C_READMATCH)
        assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    else if (c >= C_WRITE && c <= C_WRITE_WAIT)
        assert_int_equal(tp_pipe_write(p, fill, BSIZE), BSIZE);
    else if (c >= C_FLUSH)
        assert_int_equal(tp_pipe_write(p, fill, 5), 5);
    return p;
}

static void check_results(pool *pl, enum call c, enum action a, size_t *total_got)
{
    *total_got = 0;
    for (int i = 0; i < NWAITERS; i++) {
        waiter *w = &pl->w[i];
        long long want = -1;
        int want_err = EPIPE;
        if (a == A_EOF) {
            if (c <= C_READ_WAIT || c >= C_FLUSH) {
                want = 0;
                want_err = 0;
            }
        }
        if (w->ret != want || (want < 0 && w->err != want_err))
            fail_msg("%s after %s: waiter %d returned %lld errno %d (%s); expected %lld%s%s",
                     call_names[c], a == A_CLOSE ? "close" : "write_eof", i, w->ret, w->err,
                     strerror(w->err), want, want < 0 ? " errno " : "",
                     want < 0 ? strerror(want_err) : "");
        *total_got += w->got;
    }
}

static void run_pair(enum call c, enum action a)
{
    pool *pl = calloc(1, sizeof *pl);
    assert_non_null(pl);
    pl->all_back = tp_event_new();
    assert_non_null(pl->all_back);
    assert_int_equal(pthread_barrier_init(&pl->start, NULL, NWAITERS + 1), 0);
    for (int i = 0; i < NWAITERS; i++) {
        pl->w[i] = (waiter){.pl = pl, .id = i, .rng = rel_seed((uint64_t)c * 100 + a, (uint64_t)i)};
        assert_int_equal(pthread_create(&pl->t[i], NULL, waiter_main, &pl->w[i]), 0);
    }
    uint64_t rng = rel_seed((uint64_t)c, (uint64_t)a + 17);
    unsigned rounds = (unsigned)rel_env("TP_RACES_ROUNDS", 100);
    for (unsigned round = 0; round < rounds; round++) {
        pl->p = blocking_pipe(c);
        pl->call = c;
        atomic_store(&pl->returned, 0);
        atomic_store(&pl->releases, 0);
        tp_event_clear(pl->all_back);
        pthread_barrier_wait(&pl->start);
        rel_jitter(&rng, 400); /* most, not all, are asleep by now */
        size_t before = tp_pipe_buffered(pl->p);
        if (a == A_CLOSE) {
            atomic_store(&warnings, 0);
            tp_pipe_close(pl->p);
            /* A non-empty discard is logged once, naming the pipe. */
            assert_int_equal(atomic_load(&warnings), before > 0 ? 1 : 0);
        } else {
            assert_int_equal(tp_pipe_write_eof(pl->p), 0);
            if (c >= C_FLUSH) {
                /* flush waits for the drain even after EOF: drain it. */
                unsigned char buf[BSIZE];
                while (tp_pipe_read(pl->p, buf, sizeof buf) > 0)
                    ;
            }
        }
        /* "Promptly": a generous bound that only a lost wake-up exceeds. */
        if (tp_event_wait(pl->all_back, 60.0) != 0) {
            fprintf(stderr, "%s/%s round %u: only %d of %d waiters returned (buffered=%zu)\n",
                    call_names[c], a == A_CLOSE ? "close" : "eof", round,
                    atomic_load(&pl->returned), NWAITERS, tp_pipe_buffered(pl->p));
            fflush(stderr);
            abort(); /* the stuck threads make clean recovery impossible */
        }
        size_t got;
        check_results(pl, c, a, &got);
        assert_int_equal(atomic_load(&pl->releases), 0); /* every write_ref was refused */
        if (a == A_EOF && c == C_READMATCH)
            assert_int_equal(tp_pipe_buffered(pl->p), before); /* no match: bytes stay */
        if (a == A_EOF && c <= C_READ_WAIT)
            assert_int_equal(got + tp_pipe_buffered(pl->p), before);
        tp_pipe_free(pl->p); /* after close and the return of every waiter */
        pl->p = NULL;
    }
    atomic_store(&pl->quit, true);
    pthread_barrier_wait(&pl->start);
    for (int i = 0; i < NWAITERS; i++)
        pthread_join(pl->t[i], NULL);
    pthread_barrier_destroy(&pl->start);
    tp_event_free(pl->all_back);
    free(pl);
}

/* Large copy writes are copied outside the pipe lock; a close (or
 * write_eof) landing in that window must fail the write with EPIPE, drop
 * the copied bytes, and leave nothing behind (ASan/LSan) - and a write may
 * never succeed after close / write_eof returned. */
typedef struct big_writer {
    tp_pipe *p;
    atomic_bool *closed;
    rel_failure *f;
} big_writer;

static void *big_writer_main(void *arg)
{
    big_writer *b = arg;
    static unsigned char chunk[256 * 1024];
    for (;;) {
        bool was_closed = atomic_load(b->closed);
        ssize_t k = tp_pipe_write(b->p, chunk, sizeof chunk);
        if (k > 0 && was_closed) {
            rel_fail(b->f, "a write succeeded after close returned");
            return NULL;
        }
        if (k < 0) {
            if (errno != EPIPE)
                rel_fail(b->f, "large write failed with %s", strerror(errno));
            return NULL;
        }
    }
}

static void close_during_large_copy_writes(void **state)
{
    (void)state;
    enum { WRITERS = 4 };
    unsigned rounds = (unsigned)rel_env("TP_RACES_ROUNDS", 100);
    uint64_t rng = rel_seed(77, 78);
    rel_failure f = {0};
    for (unsigned round = 0; round < rounds && !atomic_load(&f.failed); round++) {
        tp_pipe *p = tp_pipe_new(4 << 20, true, true, TP_FOREVER, "big");
        assert_non_null(p);
        atomic_bool closed = false;
        big_writer b = {p, &closed, &f};
        pthread_t t[WRITERS];
        for (int i = 0; i < WRITERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, big_writer_main, &b), 0);
        /* Read a little, so writers are both blocked and copying. */
        unsigned char buf[65536];
        tp_pipe_set_readblocking(p, false);
        for (uint64_t i = rel_below(&rng, 64); i > 0; i--)
            if (tp_pipe_read(p, buf, sizeof buf) < 0)
                rel_jitter(&rng, 200);
        /* Half of the rounds end with write_eof instead: same EPIPE. */
        if (round % 2)
            assert_int_equal(tp_pipe_write_eof(p), 0);
        else
            tp_pipe_close(p);
        atomic_store(&closed, true);
        for (int i = 0; i < WRITERS; i++)
            pthread_join(t[i], NULL);
        if (round % 2 == 0)
            assert_true(tp_pipe_empty(p));
        tp_pipe_free(p);
    }
    if (atomic_load(&f.failed))
        fail_msg("%s", f.msg);
}

#define PAIR(c, a)                                                                                 \
    static void c##_##a(void **state)                                                              \
    {                                                                                              \
        (void)state;                                                                               \
        run_pair(c, a);                                                                            \
    }
PAIR(C_READ, A_CLOSE)
PAIR(C_READ, A_EOF)
PAIR(C_READ_VIEW, A_CLOSE)
PAIR(C_READ_VIEW, A_EOF)
PAIR(C_READMATCH, A_CLOSE)
PAIR(C_READMATCH, A_EOF)
PAIR(C_READALL, A_CLOSE)
PAIR(C_READALL, A_EOF)
PAIR(C_READ_WAIT, A_CLOSE)
PAIR(C_READ_WAIT, A_EOF)
PAIR(C_WRITE, A_CLOSE)
PAIR(C_WRITE, A_EOF)
PAIR(C_WRITE_REF, A_CLOSE)
PAIR(C_WRITE_REF, A_EOF)
PAIR(C_WRITE_WAIT, A_CLOSE)
PAIR(C_WRITE_WAIT, A_EOF)
PAIR(C_FLUSH, A_CLOSE)
PAIR(C_FLUSH, A_EOF)
PAIR(C_FLUSH_WAIT, A_CLOSE)
PAIR(C_FLUSH_WAIT, A_EOF)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(C_READ_A_CLOSE),
        cmocka_unit_test(C_READ_A_EOF),
        cmocka_unit_test(C_READ_VIEW_A_CLOSE),
        cmocka_unit_test(C_READ_VIEW_A_EOF),
        cmocka_unit_test(C_READMATCH_A_CLOSE),
        cmocka_unit_test(C_READMATCH_A_EOF),
        cmocka_unit_test(C_READALL_A_CLOSE),
        cmocka_unit_test(C_READALL_A_EOF),
        cmocka_unit_test(C_READ_WAIT_A_CLOSE),
        cmocka_unit_test(C_READ_WAIT_A_EOF),
        cmocka_unit_test(C_WRITE_A_CLOSE),
        cmocka_unit_test(C_WRITE_A_EOF),
        cmocka_unit_test(C_WRITE_REF_A_CLOSE),
        cmocka_unit_test(C_WRITE_REF_A_EOF),
        cmocka_unit_test(C_WRITE_WAIT_A_CLOSE),
        cmocka_unit_test(C_WRITE_WAIT_A_EOF),
        cmocka_unit_test(C_FLUSH_A_CLOSE),
        cmocka_unit_test(C_FLUSH_A_EOF),
        cmocka_unit_test(C_FLUSH_WAIT_A_CLOSE),
        cmocka_unit_test(C_FLUSH_WAIT_A_EOF),
        cmocka_unit_test(close_during_large_copy_writes),
    };
    tp_set_log_fn(count_log, NULL);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("close_races", tests, NULL, NULL);
}
