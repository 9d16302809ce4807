/* test_waits_rflag.c - tp_pipe_write_wait / read_wait / flush_wait and the
 * rflag ("reader detected" event): when it is set and when cleared. */
#include "test_util.h"

/* ---- write_wait ---------------------------------------------------- */

static void write_wait_ready_at_once(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write_wait(p, 0), 0);
    assert_int_equal(tp_pipe_write_wait(p, TP_FOREVER), 0);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_int_equal(tp_pipe_write_wait(p, 0), 0); /* one byte of room */
    tp_pipe_free(p);
}

static void write_wait_times_out_when_full(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_fails_with(tp_pipe_write_wait(p, 0), ETIMEDOUT);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_write_wait(p, 0.2), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    /* The write end's mode does not matter: a wait waits. */
    tp_pipe_set_writeblocking(p, false);
    assert_fails_with(tp_pipe_write_wait(p, 0.05), ETIMEDOUT);
    tp_pipe_free(p);
}

static void write_wait_woken_by_reader(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    tt_op op = {.timeout = TP_FOREVER};
    tt_op_start_blocked(&op, TT_WRITE_WAIT, p);
    char c;
    assert_int_equal(tp_pipe_read(p, &c, 1), 1);
    tt_op_join(&op);
    assert_int_equal(op.ret, 0);
    tp_pipe_free(p);
}

static void write_wait_epipe_rules(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    tp_pipe_write_eof(p);
    assert_fails_with(tp_pipe_write_wait(p, 0), EPIPE);
    assert_fails_with(tp_pipe_write_wait(p, TP_FOREVER), EPIPE);
    tp_pipe_free(p);
    /* EOF written while waiting. */
    p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    tt_op op = {.timeout = TP_FOREVER};
    tt_op_start_blocked(&op, TT_WRITE_WAIT, p);
    tp_pipe_write_eof(p);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    tp_pipe_free(p);
}

/* ---- read_wait ----------------------------------------------------- */

static void read_wait_ready_cases(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "a", 1), 1);
    assert_int_equal(tp_pipe_read_wait(p, 0), 0);
    char c;
    assert_int_equal(tp_pipe_read(p, &c, 1), 1);
    assert_fails_with(tp_pipe_read_wait(p, 0), ETIMEDOUT);
    tp_pipe_write_eof(p); /* EOF makes it readable (the read returns 0) */
    assert_int_equal(tp_pipe_read_wait(p, 0), 0);
    assert_int_equal(tp_pipe_read_wait(p, TP_FOREVER), 0);
    tp_pipe_free(p);
}

static void read_wait_times_out(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, true, TP_FOREVER, NULL);
    double t0 = tt_now();
    /* ETIMEDOUT, not EAGAIN, on a non-blocking read end too. */
    assert_fails_with(tp_pipe_read_wait(p, 0.2), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    tp_pipe_free(p);
}

static void read_wait_woken_by_write_and_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op = {.timeout = TP_FOREVER};
    tt_op_start_blocked(&op, TT_READ_WAIT, p);
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    tt_op_join(&op);
    assert_int_equal(op.ret, 0);
    assert_int_equal(tp_pipe_buffered(p), 1); /* waiting consumed nothing */
    tp_pipe_free(p);

    p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op2 = {.timeout = TP_FOREVER};
    tt_op_start_blocked(&op2, TT_READ_WAIT, p);
    tp_pipe_write_eof(p);
    tt_op_join(&op2);
    assert_int_equal(op2.ret, 0);
    tp_pipe_free(p);
}

static void read_wait_epipe_when_closed(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    tp_pipe_write_eof(p);
    tt_log log;
    tt_log_capture(&log);
    tp_pipe_close(p);
    tt_log_restore(&log);
    assert_fails_with(tp_pipe_read_wait(p, 0), EPIPE);
    assert_fails_with(tp_pipe_read_wait(p, TP_FOREVER), EPIPE);
    tp_pipe_free(p);
}

/* ---- flush_wait ---------------------------------------------------- */

static void flush_wait_empty_and_timeout(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_flush_wait(p, 0), 0);
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    assert_fails_with(tp_pipe_flush_wait(p, 0), ETIMEDOUT);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_flush_wait(p, 0.2), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    tp_pipe_free(p);
}

static void flush_wait_waits_for_drain_after_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    tp_pipe_write_eof(p);
    /* EOF is not EPIPE for flush_wait: the data is still to be read. */
    assert_fails_with(tp_pipe_flush_wait(p, 0.05), ETIMEDOUT);
    tt_op op = {.timeout = TP_FOREVER};
    tt_op_start_blocked(&op, TT_FLUSH_WAIT, p);
    char buf[3];
    assert_int_equal(tp_pipe_read(p, buf, 1), 1);
    tt_thread_wait_blocked(&op.thread); /* still not empty: still waiting */
    assert_int_equal(tp_pipe_read(p, buf + 1, 2), 2);
    tt_op_join(&op);
    assert_int_equal(op.ret, 0);
    assert_int_equal(tp_pipe_flush_wait(p, 0), 0);
    tp_pipe_free(p);
}

static void flush_wait_epipe_when_closed(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_flush_wait(p, 0), EPIPE);
    assert_fails_with(tp_pipe_flush_wait(p, TP_FOREVER), EPIPE);
    tp_pipe_free(p);
}

/* ---- rflag --------------------------------------------------------- */

typedef struct flagged {
    tp_pipe *p;
    tp_event *ev;
} flagged;

static flagged flagged_new(size_t bsize, bool rblocking, double timeout)
{
    flagged f;
    f.p = tp_pipe_new(bsize, rblocking, false, timeout, "flagged");
    f.ev = tp_event_new();
    tp_pipe_set_rflag(f.p, f.ev);
    tp_event_clear(f.ev);
    return f;
}

static void flagged_free(flagged *f)
{
    tp_pipe_free(f->p);
    tp_event_free(f->ev);
}

static void rflag_set_by_read_even_on_eagain(void **state)
{
    (void)state;
    flagged f = flagged_new(0, false, 0);
    char buf[4];
    assert_fails_with(tp_pipe_read(f.p, buf, 4), EAGAIN);
    assert_int_equal(tp_event_is_set(f.ev), true);
    tp_event_clear(f.ev);
    assert_int_equal(tp_pipe_write(f.p, "ab", 2), 2);
    assert_int_equal(tp_event_is_set(f.ev), false); /* writing never sets it */
    assert_int_equal(tp_pipe_read(f.p, buf, 4), 2);
    assert_int_equal(tp_event_is_set(f.ev), true);
    /* Also a blocking read that times out. */
    tp_pipe_set_readblocking(f.p, true);
    tp_event_clear(f.ev);
    assert_fails_with(tp_pipe_read(f.p, buf, 4), ETIMEDOUT);
    assert_int_equal(tp_event_is_set(f.ev), true);
    flagged_free(&f);
}

static void rflag_set_by_read_view(void **state)
{
    (void)state;
    flagged f = flagged_new(0, false, 0);
    const void *d;
    tp_view *v;
    assert_fails_with(tp_pipe_read_view(f.p, 4, &d, &v), EAGAIN);
    assert_int_equal(tp_event_is_set(f.ev), true);
    tp_event_clear(f.ev);
    assert_int_equal(tp_pipe_write(f.p, "ab", 2), 2);
    assert_in_range(tp_pipe_read_view(f.p, 4, &d, &v), 1, 2);
    tp_view_release(v);
    assert_int_equal(tp_event_is_set(f.ev), true);
    flagged_free(&f);
}

static void rflag_set_by_readall(void **state)
{
    (void)state;
    flagged f = flagged_new(0, false, 0);
    assert_int_equal(tp_pipe_write(f.p, "ab", 2), 2);
    tp_pipe_write_eof(f.p);
    void *out;
    size_t len;
    assert_int_equal(tp_pipe_readall(f.p, &out, &len), 0);
    tp_free(out);
    assert_int_equal(tp_event_is_set(f.ev), true);
    flagged_free(&f);
}

static void rflag_set_by_readmatch_success_and_room(void **state)
{
    (void)state;
    flagged f = flagged_new(8, false, 0);
    void *out;
    /* No match, room left: set (the writer should write more). */
    assert_int_equal(tp_pipe_write(f.p, "ab", 2), 2);
    assert_fails_with(tp_pipe_readmatch(f.p, NULL, 0, &out), EAGAIN);
    assert_int_equal(tp_event_is_set(f.ev), true);
    /* Success: set. */
    tp_event_clear(f.ev);
    assert_int_equal(tp_pipe_write(f.p, "\r\n", 2), 2);
    assert_int_equal(tp_pipe_readmatch(f.p, NULL, 0, &out), 4);
    tp_free(out);
    assert_int_equal(tp_event_is_set(f.ev), true);
    flagged_free(&f);
}

static void rflag_not_set_by_readmatch_enobufs(void **state)
{
    (void)state;
    /* No match and no room is not one of the moments the contract lists. */
    flagged f = flagged_new(4, false, 0);
    assert_int_equal(tp_pipe_write(f.p, "abcd", 4), 4);
    tp_event_clear(f.ev);
    void *out;
    assert_fails_with(tp_pipe_readmatch(f.p, NULL, 0, &out), ENOBUFS);
    assert_int_equal(tp_event_is_set(f.ev), false);
    flagged_free(&f);
}

static void rflag_set_while_readmatch_waits(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_event *ev = tp_event_new();
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    tp_pipe_set_rflag(p, ev);
    tp_event_clear(ev);
    tt_op op = {0};
    tt_op_start(&op, TT_READMATCH, p);
    /* The reader announces itself while waiting for the rest of its line. */
    assert_int_equal(tp_event_wait(ev, TP_FOREVER), 0);
    tt_thread_wait_blocked(&op.thread);
    assert_int_equal(tp_pipe_write(p, "\r\n", 2), 2);
    tt_op_join(&op);
    assert_int_equal(op.ret, 5);
    tt_op_cleanup(&op);
    tp_pipe_set_rflag(p, NULL);
    tp_pipe_free(p);
    tp_event_free(ev);
}

static void rflag_cleared_when_canwrite_zero(void **state)
{
    (void)state;
    flagged f = flagged_new(4, false, 0);
    tp_event_set(f.ev);
    assert_int_equal(tp_pipe_write(f.p, "ab", 2), 2);
    assert_int_equal(tp_pipe_canwrite(f.p), 2);
    assert_int_equal(tp_event_is_set(f.ev), true); /* room: left alone */
    assert_int_equal(tp_pipe_write(f.p, "cd", 2), 2);
    assert_int_equal(tp_event_is_set(f.ev), true); /* filling alone: left alone */
    assert_int_equal(tp_pipe_canwrite(f.p), 0);
    assert_int_equal(tp_event_is_set(f.ev), false);
    flagged_free(&f);
}

static void rflag_untouched_by_queries(void **state)
{
    (void)state;
    flagged f = flagged_new(4, false, 0);
    assert_int_equal(tp_pipe_write(f.p, "ab", 2), 2);
    (void)tp_pipe_empty(f.p);
    (void)tp_pipe_buffered(f.p);
    (void)tp_pipe_canread(f.p);
    assert_int_equal(tp_pipe_read_wait(f.p, 0), 0);
    assert_int_equal(tp_event_is_set(f.ev), false);
    tp_pipe_write_eof(f.p);
    assert_int_equal(tp_event_is_set(f.ev), false);
    flagged_free(&f);
}

static void rflag_set_on_close(void **state)
{
    (void)state;
    flagged f = flagged_new(4, false, 0);
    tp_pipe_close(f.p);
    assert_int_equal(tp_event_is_set(f.ev), true);
    flagged_free(&f);
}

static void rflag_set_at_once_on_closed_pipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    tp_event *ev = tp_event_new();
    tp_pipe_set_rflag(p, ev);
    assert_int_equal(tp_event_is_set(ev), true);
    tp_pipe_set_rflag(p, NULL);
    tp_pipe_free(p);
    tp_event_free(ev);
}

static void rflag_removed_and_replaced(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    tp_event *a = tp_event_new(), *b = tp_event_new();
    char c;
    tp_pipe_set_rflag(p, a);
    tp_pipe_set_rflag(p, b);
    tp_event_clear(a);
    tp_event_clear(b);
    assert_fails_with(tp_pipe_read(p, &c, 1), EAGAIN);
    assert_int_equal(tp_event_is_set(a), false);
    assert_int_equal(tp_event_is_set(b), true);
    tp_pipe_set_rflag(p, NULL);
    tp_event_clear(b);
    assert_fails_with(tp_pipe_read(p, &c, 1), EAGAIN);
    assert_int_equal(tp_event_is_set(b), false);
    tp_pipe_free(p);
    tp_event_free(a);
    tp_event_free(b);
}

/* The seed's pattern: a writer sees canwrite 0 (which clears the flag),
 * waits on the flag, and a reader wakes it. */
static void *flag_waiter(void *arg)
{
    static int ok;
    return tp_event_wait(arg, TP_FOREVER) == 0 ? &ok : NULL;
}

static void rflag_wakes_writer_waiting_on_it(void **state)
{
    (void)state;
    flagged f = flagged_new(4, true, TP_FOREVER);
    assert_int_equal(tp_pipe_write(f.p, "abcd", 4), 4);
    tp_event_set(f.ev);
    assert_int_equal(tp_pipe_canwrite(f.p), 0);
    tt_thread t;
    tt_thread_start(&t, flag_waiter, f.ev);
    tt_thread_wait_blocked(&t);
    char c;
    assert_int_equal(tp_pipe_read(f.p, &c, 1), 1);
    assert_non_null(tt_thread_join(&t));
    assert_int_equal(tp_pipe_canwrite(f.p), 1);
    flagged_free(&f);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_wait_ready_at_once),
        cmocka_unit_test(write_wait_times_out_when_full),
        cmocka_unit_test(write_wait_woken_by_reader),
        cmocka_unit_test(write_wait_epipe_rules),
        cmocka_unit_test(read_wait_ready_cases),
        cmocka_unit_test(read_wait_times_out),
        cmocka_unit_test(read_wait_woken_by_write_and_eof),
        cmocka_unit_test(read_wait_epipe_when_closed),
        cmocka_unit_test(flush_wait_empty_and_timeout),
        cmocka_unit_test(flush_wait_waits_for_drain_after_eof),
        cmocka_unit_test(flush_wait_epipe_when_closed),
        cmocka_unit_test(rflag_set_by_read_even_on_eagain),
        cmocka_unit_test(rflag_set_by_read_view),
        cmocka_unit_test(rflag_set_by_readall),
        cmocka_unit_test(rflag_set_by_readmatch_success_and_room),
        cmocka_unit_test(rflag_not_set_by_readmatch_enobufs),
        cmocka_unit_test(rflag_set_while_readmatch_waits),
        cmocka_unit_test(rflag_cleared_when_canwrite_zero),
        cmocka_unit_test(rflag_untouched_by_queries),
        cmocka_unit_test(rflag_set_on_close),
        cmocka_unit_test(rflag_set_at_once_on_closed_pipe),
        cmocka_unit_test(rflag_removed_and_replaced),
        cmocka_unit_test(rflag_wakes_writer_waiting_on_it),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
