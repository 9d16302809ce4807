/* test_stats_stall.c - tp_pipe_get_stats counters and the stall callback
 * (tp_pipe_set_stall_fn). */
#define _POSIX_C_SOURCE 200809L
#include "adapters_util.h"

#include <math.h>

static tp_pipe_stats stats_of(tp_pipe *p)
{
    tp_pipe_stats st;
    memset(&st, 0xa5, sizeof st); /* garbage the call must overwrite */
    assert_int_equal(tp_pipe_get_stats(p, &st), 0);
    return st;
}

static void stats_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_stats st;
    assert_fails_with(tp_pipe_get_stats(NULL, &st), EINVAL);
    assert_fails_with(tp_pipe_get_stats(p, NULL), EINVAL);
    tp_pipe_free(p);
}

static void stats_start_at_zero(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_stats st = stats_of(p);
    assert_int_equal(st.bytes_in, 0);
    assert_int_equal(st.bytes_out, 0);
    assert_int_equal(st.writes, 0);
    assert_int_equal(st.reads, 0);
    assert_int_equal(st.write_waits, 0);
    assert_int_equal(st.read_waits, 0);
    assert_true(st.write_wait_secs == 0.0);
    assert_true(st.read_wait_secs == 0.0);
    assert_int_equal(st.buffered, 0);
    assert_int_equal(st.peak_buffered, 0);
    assert_int_equal(st.enobufs, 0);
    assert_int_equal(st.timeouts, 0);
    assert_true(st.last_write == 0.0);
    assert_true(st.last_read == 0.0);
    tp_pipe_free(p);
}

static void stats_count_bytes_and_calls(void **state)
{
    (void)state;
    static const char ref[] = "0123456789";
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char buf[64];
    assert_int_equal(tp_pipe_write(p, "hello\n", 6), 6);
    assert_int_equal(tp_pipe_write_ref(p, ref, 10, NULL, NULL), 10);
    struct iovec iov[2] = {{"ab", 2}, {"c\n", 2}};
    assert_int_equal(tp_pipe_writev(p, iov, 2), 4);
    assert_fails_with(tp_pipe_write(p, NULL, 1), EINVAL); /* no bytes: not counted */
    assert_int_equal(tp_pipe_write(p, "", 0), 0);
    tp_pipe_stats st = stats_of(p);
    assert_int_equal(st.bytes_in, 20);
    assert_int_equal(st.writes, 3);
    assert_int_equal(st.buffered, 20);

    void *line = NULL;
    assert_int_equal(tp_pipe_readmatch(p, "\n", 1, &line), 6);
    tp_free(line);
    const void *d;
    tp_view *v;
    assert_int_equal(tp_pipe_read_view(p, 4, &d, &v), 4);
    tp_view_release(v);
    assert_int_equal(tp_pipe_read(p, buf, 3), 3);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 7);
    st = stats_of(p);
    assert_int_equal(st.bytes_out, 20);
    assert_int_equal(st.reads, 4);
    assert_int_equal(st.buffered, 0);
    assert_fails_with(tp_pipe_read(p, buf, 1), EAGAIN); /* returned no bytes */
    assert_int_equal(stats_of(p).reads, 4);
    tp_pipe_free(p);
}

static void stats_peak_buffered_between_reads(void **state)
{
    (void)state;
    /* The peak is what a read found, or what piled up since the last. */
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char buf[64];
    assert_int_equal(tp_pipe_write(p, "0123456789", 10), 10);
    assert_int_equal(tp_pipe_read(p, buf, 4), 4);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_int_equal(stats_of(p).peak_buffered, 10);
    assert_int_equal(tp_pipe_write(p, "defgh", 5), 5);
    tp_pipe_stats st = stats_of(p);
    assert_int_equal(st.peak_buffered, 14);
    assert_int_equal(st.buffered, 14);
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 14);
    assert_int_equal(stats_of(p).peak_buffered, 14);
    tp_pipe_free(p);
}

static void stats_peak_buffered(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char buf[64];
    assert_int_equal(tp_pipe_write(p, "0123456789", 10), 10);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 13);
    assert_int_equal(tp_pipe_write(p, "xy", 2), 2);
    tp_pipe_stats st = stats_of(p);
    assert_int_equal(st.peak_buffered, 13);
    assert_int_equal(st.buffered, 2);
    tp_pipe_free(p);
}

static void stats_count_enobufs_and_timeouts(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    char buf[8];
    void *out = NULL;
    assert_fails_with(tp_pipe_read_timed(p, buf, 1, 0.01), ETIMEDOUT);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_fails_with(tp_pipe_write_timed(p, "e", 1, 0.01), ETIMEDOUT);
    assert_fails_with(tp_pipe_readmatch(p, "\n", 1, &out), ENOBUFS);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 1), ENOBUFS);
    tp_pipe_stats st = stats_of(p);
    assert_int_equal(st.enobufs, 2);
    assert_int_equal(st.timeouts, 2);
    tp_pipe_free(p);
}

/* The times come from a coarse monotonic clock (a few ms per tick, never
 * ahead of CLOCK_MONOTONIC): allow one generous tick below t0. */
#define COARSE_SLACK 0.05

static void stats_last_progress_times(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, NULL);
    char buf[8];
    double t0 = tt_now();
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    double t1 = tt_now();
    tp_pipe_stats st = stats_of(p);
    assert_true(st.last_write >= t0 - COARSE_SLACK && st.last_write <= t1);
    assert_true(st.last_read == 0.0);
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 2);
    double t2 = tt_now();
    st = stats_of(p);
    assert_true(st.last_read >= t1 - COARSE_SLACK && st.last_read <= t2);
    double first_write = st.last_write, first_read = st.last_read;
    /* A timed-out wait guarantees 0.1 s pass before the next progress. */
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, 0.1), ETIMEDOUT);
    assert_int_equal(tp_pipe_write(p, "c", 1), 1);
    st = stats_of(p);
    assert_true(st.last_write >= first_write + 0.1 - COARSE_SLACK);
    assert_true(st.last_read == first_read); /* a failed read is no progress */
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 1);
    st = stats_of(p);
    assert_true(st.last_read >= first_read + 0.1 - COARSE_SLACK);
    tp_pipe_free(p);
}

/* What the stall callback saw: the event lets the test wait for it. */
struct stall_seen {
    tp_pipe *p;
    tp_event *fired;
    atomic_int calls;
    int side;
    double idle;
    bool close_pipe;
};

static void on_stall(tp_pipe *p, int side, double idle_secs, void *ctx)
{
    struct stall_seen *s = ctx;
    if (atomic_fetch_add(&s->calls, 1) == 0) {
        s->p = p;
        s->side = side;
        s->idle = idle_secs;
    }
    if (s->close_pipe)
        tp_pipe_close(p); /* it may call back into tpipe */
    tp_event_set(s->fired);
}

static void stall_seen_init(struct stall_seen *s)
{
    memset(s, 0, sizeof *s);
    s->fired = tp_event_new();
    atomic_init(&s->calls, 0);
    s->side = -1;
}

static void stats_count_reader_wait(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, NULL);
    /* The stall callback fires only from inside a wait: it tells the test
     * for sure that the reader is waiting (no sleeps, no guessing). */
    struct stall_seen s;
    stall_seen_init(&s);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0.01, on_stall, &s), 0);
    tt_op op = {.n = 8};
    tt_op_start(&op, TT_READ, p);
    assert_int_equal(tp_event_wait(s.fired, 60), 0);
    assert_int_equal(tp_pipe_write(p, "go", 2), 2);
    tt_op_join(&op);
    assert_int_equal(op.ret, 2);
    tp_pipe_stats st = stats_of(p);
    assert_int_equal(st.read_waits, 1);
    assert_true(st.read_wait_secs >= 0.01 - 0.001);
    assert_int_equal(st.write_waits, 0);
    tt_op_cleanup(&op);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

static void stats_count_writer_wait(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    struct stall_seen s;
    stall_seen_init(&s);
    char buf[8];
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0.01, on_stall, &s), 0);
    tt_op op = {.src = "e", .n = 1};
    tt_op_start(&op, TT_WRITE, p);
    assert_int_equal(tp_event_wait(s.fired, 60), 0);
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 4);
    tt_op_join(&op);
    assert_int_equal(op.ret, 1);
    tp_pipe_stats st = stats_of(p);
    assert_int_equal(st.write_waits, 1);
    assert_true(st.write_wait_secs >= 0.01 - 0.001);
    assert_int_equal(st.read_waits, 0);
    tt_op_cleanup(&op);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

static void stall_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    struct stall_seen s;
    stall_seen_init(&s);
    assert_fails_with(tp_pipe_set_stall_fn(NULL, 1, on_stall, &s), EINVAL);
    assert_fails_with(tp_pipe_set_stall_fn(p, 0, on_stall, &s), EINVAL);
    assert_fails_with(tp_pipe_set_stall_fn(p, -1, on_stall, &s), EINVAL);
    assert_fails_with(tp_pipe_set_stall_fn(p, NAN, on_stall, &s), EINVAL);
    assert_int_equal(tp_pipe_set_stall_fn(p, 1, on_stall, &s), 0);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0, NULL, NULL), 0);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

static void stall_fires_for_waiting_reader(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, 60, "stalled-reader");
    struct stall_seen s;
    stall_seen_init(&s);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0.05, on_stall, &s), 0);
    tt_op op = {.n = 8};
    tt_op_start(&op, TT_READ, p);
    assert_int_equal(tp_event_wait(s.fired, 60), 0);
    assert_int_equal(tp_pipe_write(p, "ok", 2), 2); /* unblock the reader */
    tt_op_join(&op);
    assert_int_equal(op.ret, 2);
    assert_ptr_equal(s.p, p);
    assert_int_equal(s.side, TP_SIDE_READER);
    assert_true(s.idle >= 0.05 - 0.001);
    tt_op_cleanup(&op);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

static void stall_fires_for_waiting_writer(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, 60, "stalled-writer");
    struct stall_seen s;
    stall_seen_init(&s);
    assert_int_equal(tp_pipe_write(p, "full", 4), 4);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0.05, on_stall, &s), 0);
    tt_op op = {.src = "x", .n = 1};
    tt_op_start(&op, TT_WRITE, p);
    assert_int_equal(tp_event_wait(s.fired, 60), 0);
    char buf[4];
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 4);
    tt_op_join(&op);
    assert_int_equal(op.ret, 1);
    assert_int_equal(s.side, TP_SIDE_WRITER);
    assert_true(s.idle >= 0.05 - 0.001);
    tt_op_cleanup(&op);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

static void stall_repeats_while_stalled(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, 60, NULL);
    struct stall_seen s;
    stall_seen_init(&s);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0.02, on_stall, &s), 0);
    tt_op op = {.n = 8};
    tt_op_start(&op, TT_READ, p);
    /* Wait for a second call: clear the event after the first. */
    assert_int_equal(tp_event_wait(s.fired, 60), 0);
    while (atomic_load(&s.calls) < 2) {
        tp_event_clear(s.fired);
        if (atomic_load(&s.calls) >= 2)
            break;
        assert_int_equal(tp_event_wait(s.fired, 60), 0);
    }
    tp_pipe_close(p);
    tt_op_join(&op);
    assert_int_equal(op.err, EPIPE);
    assert_ge(atomic_load(&s.calls), 2);
    tt_op_cleanup(&op);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

static void stall_callback_may_close_pipe(void **state)
{
    (void)state;
    /* A watchdog: the callback closes the pipe, the stuck reader gets EPIPE. */
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, "watchdog");
    struct stall_seen s;
    stall_seen_init(&s);
    s.close_pipe = true;
    assert_int_equal(tp_pipe_set_stall_fn(p, 0.05, on_stall, &s), 0);
    char buf[4];
    assert_fails_with(tp_pipe_read(p, buf, sizeof buf), EPIPE);
    assert_int_equal(atomic_load(&s.calls), 1);
    assert_int_equal(s.side, TP_SIDE_READER);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

static void stall_removed_does_not_fire(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, NULL);
    struct stall_seen s;
    stall_seen_init(&s);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0.01, on_stall, &s), 0);
    assert_int_equal(tp_pipe_set_stall_fn(p, 0, NULL, NULL), 0);
    char buf[4];
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, 0.1), ETIMEDOUT);
    assert_int_equal(atomic_load(&s.calls), 0);
    tp_pipe_free(p);
    tp_event_free(s.fired);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stats_arguments),
        cmocka_unit_test(stats_start_at_zero),
        cmocka_unit_test(stats_count_bytes_and_calls),
        cmocka_unit_test(stats_peak_buffered),
        cmocka_unit_test(stats_peak_buffered_between_reads),
        cmocka_unit_test(stats_count_enobufs_and_timeouts),
        cmocka_unit_test(stats_last_progress_times),
        cmocka_unit_test(stats_count_reader_wait),
        cmocka_unit_test(stats_count_writer_wait),
        cmocka_unit_test(stall_arguments),
        cmocka_unit_test(stall_fires_for_waiting_reader),
        cmocka_unit_test(stall_fires_for_waiting_writer),
        cmocka_unit_test(stall_repeats_while_stalled),
        cmocka_unit_test(stall_callback_may_close_pipe),
        cmocka_unit_test(stall_removed_does_not_fire),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
