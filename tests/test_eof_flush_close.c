/* test_eof_flush_close.c - tp_pipe_write_eof, tp_pipe_flush and
 * tp_pipe_close: wake-ups, EPIPE rules, the discard warning, idempotence. */
#include "test_util.h"

static void write_eof_idempotent(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_eof(p), false);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_eof(p), true);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_eof(p), true);
    assert_int_equal(tp_pipe_closed(p), false);
    tp_pipe_free(p);
}

static void write_eof_on_closed_pipe_returns_zero(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_eof(p), true);
    tp_pipe_free(p);
}

static void write_eof_data_stays_readable(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_buffered(p), 3);
    assert_int_equal(tp_pipe_canread(p), 1);
    char buf[8];
    assert_int_equal(tp_pipe_read(p, buf, 2), 2);
    assert_int_equal(tp_pipe_read(p, buf + 2, 6), 1);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(tp_pipe_read(p, buf, 8), 0);
    assert_int_equal(tp_pipe_read(p, buf, 8), 0); /* EOF stays EOF */
    tp_pipe_free(p);
}

static void write_eof_wakes_blocked_reader(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op = {.n = 10};
    tt_op_start_blocked(&op, TT_READ, p);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    tt_op_join(&op);
    assert_int_equal(op.ret, 0);
    tp_pipe_free(p);
}

static void flush_empty_returns_zero(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_flush(p), 0);
    tp_pipe_set_writeblocking(p, false);
    assert_int_equal(tp_pipe_flush(p), 0);
    tp_pipe_free(p);
}

static void flush_nonblocking_with_data_eagain(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_fails_with(tp_pipe_flush(p), EAGAIN);
    assert_int_equal(tp_pipe_buffered(p), 3);
    tp_pipe_free(p);
}

static void flush_blocked_woken_by_reader(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdef", 6), 6);
    tt_op op = {0};
    tt_op_start_blocked(&op, TT_FLUSH, p);
    char buf[6];
    assert_int_equal(tp_pipe_read(p, buf, 3), 3);
    assert_int_equal(tp_pipe_read(p, buf + 3, 3), 3);
    tt_op_join(&op);
    assert_int_equal(op.ret, 0);
    tp_pipe_free(p);
}

static void flush_times_out_when_reader_idle(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0.2, NULL);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_flush(p), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    assert_int_equal(tp_pipe_buffered(p), 3);
    tp_pipe_free(p);
}

typedef struct slow_reader {
    tp_pipe *p;
    int bytes;
    double pause;
    int got;
} slow_reader;

static void *slow_reader_main(void *arg)
{
    slow_reader *r = arg;
    char c;
    for (int i = 0; i < r->bytes; i++) {
        tt_sleep(r->pause); /* pacing, not synchronisation */
        if (tp_pipe_read(r->p, &c, 1) == 1)
            r->got++;
    }
    return NULL;
}

static void flush_clock_restarts_on_reader_progress(void **state)
{
    (void)state;
    /* The reader takes one byte every 0.1 s, 15 bytes: about 1.5 s in all,
     * longer than the 1 s timeout, but never idle for 1 s. */
    const double timeout = 1.0;
    tp_pipe *p = tp_pipe_new(0, true, true, timeout, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdefghijklmno", 15), 15);
    slow_reader r = {.p = p, .bytes = 15, .pause = timeout / 10};
    tt_thread t;
    double t0 = tt_now();
    tt_thread_start(&t, slow_reader_main, &r);
    int ret = tp_pipe_flush(p);
    int err = errno;
    double elapsed = tt_now() - t0;
    tt_thread_join(&t);
    assert_int_equal(r.got, 15);
    if (ret != 0)
        fail_msg("flush returned %d with errno %d (%s) after %.3f s", ret, err, strerror(err),
                 elapsed);
    assert_not_earlier(elapsed, timeout); /* it did outlive one timeout */
    tp_pipe_free(p);
}

static void flush_epipe_when_closed(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_flush(p), EPIPE);
    tp_pipe_set_writeblocking(p, false);
    assert_fails_with(tp_pipe_flush(p), EPIPE);
    tp_pipe_free(p);
}

static void flush_close_while_waiting_epipe(void **state)
{
    (void)state;
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, "flush-close");
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    tt_op op = {0};
    tt_op_start_blocked(&op, TT_FLUSH, p);
    tp_pipe_close(p);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    tp_pipe_free(p);
    tt_log_restore(&log);
}

static void close_discards_and_releases(void **state)
{
    (void)state;
    static const char ref[] = "referenced";
    tt_release rel;
    tt_release_init(&rel);
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, "discard");
    assert_int_equal(tp_pipe_write(p, "copied", 6), 6);
    assert_int_equal(tp_pipe_write_ref(p, ref, 10, tt_release_cb, &rel), 10);
    tp_pipe_close(p);
    assert_int_equal(tt_release_calls(&rel), 1);
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tp_pipe_empty(p), true);
    assert_int_equal(tp_pipe_closed(p), true);
    assert_int_equal(tp_pipe_eof(p), true);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
    tt_log_restore(&log);
}

static void close_logs_warning_naming_pipe(void **state)
{
    (void)state;
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, "my-named-pipe");
    assert_int_equal(tp_pipe_write(p, "unread", 6), 6);
    tp_pipe_close(p);
    assert_int_equal(tt_log_count(&log), 1);
    assert_int_equal(log.level, TP_LOG_WARNING);
    assert_int_equal(log.had_name, true);
    assert_string_equal(log.name, "my-named-pipe");
    assert_int_equal(strlen(log.msg) > 0, true);
    tp_pipe_close(p); /* idempotent: nothing more to discard or log */
    assert_int_equal(tt_log_count(&log), 1);
    tp_pipe_free(p);
    tt_log_restore(&log);
}

static void close_empty_pipe_does_not_log(void **state)
{
    (void)state;
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, "quiet");
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    char buf[2];
    assert_int_equal(tp_pipe_read(p, buf, 2), 2);
    tp_pipe_close(p);
    assert_int_equal(tt_log_count(&log), 0);
    tp_pipe_free(p);

    /* An unnamed pipe's warning has a NULL name. */
    p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    tp_pipe_close(p);
    assert_int_equal(tt_log_count(&log), 1);
    assert_int_equal(log.level, TP_LOG_WARNING);
    assert_int_equal(log.had_name, false);
    tp_pipe_free(p);
    tt_log_restore(&log);
}

static void close_idempotent(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    tp_pipe_close(p);
    assert_int_equal(tp_pipe_closed(p), true);
    tp_pipe_free(p);
}

static void calls_after_close_fail_with_epipe(void **state)
{
    (void)state;
    static const char ref[] = "ref";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    char buf[4];
    const void *data = buf;
    tp_view *view = (tp_view *)buf;
    void *out = buf;
    size_t len = 7;
    assert_fails_with(tp_pipe_read(p, buf, 4), EPIPE);
    assert_fails_with(tp_pipe_read(p, buf, 0), EPIPE);
    assert_fails_with(tp_pipe_read_view(p, 4, &data, &view), EPIPE);
    assert_null(data);
    assert_null(view);
    assert_fails_with(tp_pipe_readall(p, &out, &len), EPIPE);
    assert_null(out);
    assert_int_equal(len, 0);
    out = buf;
    assert_fails_with(tp_pipe_readmatch(p, NULL, 0, &out), EPIPE);
    assert_null(out);
    assert_fails_with(tp_pipe_write(p, "a", 1), EPIPE);
    assert_fails_with(tp_pipe_write_ref(p, ref, 3, tt_release_cb, &rel), EPIPE);
    assert_int_equal(tt_release_calls(&rel), 0);
    assert_fails_with(tp_pipe_flush(p), EPIPE);
    assert_fails_with(tp_pipe_write_wait(p, 1.0), EPIPE);
    assert_fails_with(tp_pipe_read_wait(p, 1.0), EPIPE);
    assert_fails_with(tp_pipe_flush_wait(p, 1.0), EPIPE);
    assert_fails_with(tp_pipe_canwrite(p), EPIPE);
    assert_fails_with(tp_pipe_canread(p), EPIPE);
    /* write_eof and the state queries still answer. */
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_empty(p), true);
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tp_pipe_closed(p), true);
    assert_int_equal(tp_pipe_eof(p), true);
    /* Also on non-blocking ends (EPIPE wins over EAGAIN). */
    tp_pipe_set_readblocking(p, false);
    tp_pipe_set_writeblocking(p, false);
    assert_fails_with(tp_pipe_read(p, buf, 4), EPIPE);
    assert_fails_with(tp_pipe_write(p, "a", 1), EPIPE);
    tp_pipe_free(p);
}

/* close wakes every kind of blocked call with EPIPE. */
static void close_wakes_blocked_calls(void **state)
{
    (void)state;
    tt_log log;
    tt_log_capture(&log);
    /* An empty pipe blocks the readers and read_wait. */
    tp_pipe *empty = tp_pipe_new(0, true, true, TP_FOREVER, "empty");
    /* A full pipe blocks writers, flushers, write_wait and flush_wait. */
    tp_pipe *full = tp_pipe_new(4, true, true, TP_FOREVER, "full");
    assert_int_equal(tp_pipe_write(full, "full", 4), 4);
    static const char src[] = "more";
    tt_op ops[] = {
        {.kind = TT_READ, .p = empty, .n = 4},
        {.kind = TT_READ_VIEW, .p = empty, .n = 4},
        {.kind = TT_READALL, .p = empty},
        {.kind = TT_READMATCH, .p = empty},
        {.kind = TT_READ_WAIT, .p = empty, .timeout = TP_FOREVER},
        {.kind = TT_WRITE, .p = full, .src = src, .n = 4},
        {.kind = TT_WRITE_REF, .p = full, .src = src, .n = 4},
        {.kind = TT_FLUSH, .p = full},
        {.kind = TT_WRITE_WAIT, .p = full, .timeout = TP_FOREVER},
        {.kind = TT_FLUSH_WAIT, .p = full, .timeout = TP_FOREVER},
    };
    enum { NOPS = sizeof ops / sizeof ops[0] };
    for (int i = 0; i < NOPS; i++)
        tt_op_start_blocked(&ops[i], ops[i].kind, ops[i].p);
    tp_pipe_close(empty);
    tp_pipe_close(full);
    for (int i = 0; i < NOPS; i++)
        tt_op_join(&ops[i]);
    for (int i = 0; i < NOPS; i++) {
        print_message("op kind %d\n", (int)ops[i].kind);
        assert_int_equal(ops[i].ret, -1);
        assert_int_equal(ops[i].err, EPIPE);
        assert_int_equal(tt_release_calls(&ops[i].rel), 0);
        assert_null(ops[i].out);
    }
    tp_pipe_free(empty);
    tp_pipe_free(full);
    tt_log_restore(&log);
}

/* EOF wakes waiting readers (read returns 0, read_wait 0) and fails
 * waiting writers with EPIPE; flush_wait keeps waiting for the drain. */
static void eof_wakes_blocked_calls(void **state)
{
    (void)state;
    tp_pipe *empty = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe *full = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(full, "full", 4), 4);
    static const char src[] = "more";
    tt_op ops[] = {
        {.kind = TT_READ, .p = empty, .n = 4},
        {.kind = TT_READ_VIEW, .p = empty, .n = 4},
        {.kind = TT_READALL, .p = empty},
        {.kind = TT_READMATCH, .p = empty},
        {.kind = TT_READ_WAIT, .p = empty, .timeout = TP_FOREVER},
        {.kind = TT_WRITE, .p = full, .src = src, .n = 4},
        {.kind = TT_WRITE_REF, .p = full, .src = src, .n = 4},
        {.kind = TT_WRITE_WAIT, .p = full, .timeout = TP_FOREVER},
    };
    enum { NOPS = sizeof ops / sizeof ops[0] };
    for (int i = 0; i < NOPS; i++)
        tt_op_start_blocked(&ops[i], ops[i].kind, ops[i].p);
    tp_pipe_write_eof(empty);
    tp_pipe_write_eof(full);
    for (int i = 0; i < NOPS; i++)
        tt_op_join(&ops[i]);
    long long want_ret[] = {0, 0, 0, 0, 0, -1, -1, -1};
    int want_err[] = {0, 0, 0, 0, 0, EPIPE, EPIPE, EPIPE};
    for (int i = 0; i < NOPS; i++) {
        print_message("op kind %d\n", (int)ops[i].kind);
        assert_int_equal(ops[i].ret, want_ret[i]);
        if (want_ret[i] == -1)
            assert_int_equal(ops[i].err, want_err[i]);
    }
    assert_non_null(ops[2].out); /* readall: empty but non-NULL */
    assert_int_equal(ops[2].outlen, 0);
    assert_null(ops[3].out); /* readmatch at EOF: nothing */
    tt_op_cleanup(&ops[2]);
    assert_int_equal(tp_pipe_buffered(full), 4); /* EOF keeps the data */
    tp_pipe_free(empty);
    tp_pipe_free(full);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_eof_idempotent),
        cmocka_unit_test(write_eof_on_closed_pipe_returns_zero),
        cmocka_unit_test(write_eof_data_stays_readable),
        cmocka_unit_test(write_eof_wakes_blocked_reader),
        cmocka_unit_test(flush_empty_returns_zero),
        cmocka_unit_test(flush_nonblocking_with_data_eagain),
        cmocka_unit_test(flush_blocked_woken_by_reader),
        cmocka_unit_test(flush_times_out_when_reader_idle),
        cmocka_unit_test(flush_clock_restarts_on_reader_progress),
        cmocka_unit_test(flush_epipe_when_closed),
        cmocka_unit_test(flush_close_while_waiting_epipe),
        cmocka_unit_test(close_discards_and_releases),
        cmocka_unit_test(close_logs_warning_naming_pipe),
        cmocka_unit_test(close_empty_pipe_does_not_log),
        cmocka_unit_test(close_idempotent),
        cmocka_unit_test(calls_after_close_fail_with_epipe),
        cmocka_unit_test(close_wakes_blocked_calls),
        cmocka_unit_test(eof_wakes_blocked_calls),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
