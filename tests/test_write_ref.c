/* test_write_ref.c - tp_pipe_write_ref: no copy, overfilling bsize, waiting
 * and failing like write, and the release callback's exactly-once timing. */
#include "test_util.h"

static void write_ref_no_copy(void **state)
{
    (void)state;
    static const char buf[] = "zero-copy bytes";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, buf, 15, tt_release_cb, &rel), 15);
    const void *data = NULL;
    tp_view *view = NULL;
    assert_int_equal(tp_pipe_read_view(p, 100, &data, &view), 15);
    assert_ptr_equal(data, buf);
    assert_non_null(view);
    tp_view_release(view);
    assert_int_equal(tt_release_calls(&rel), 1);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
}

static void write_ref_overfills_bsize(void **state)
{
    (void)state;
    static char big[100];
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(16, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "0123456789", 10), 10);
    /* Some room (6 bytes): the whole 100 are accepted. */
    assert_int_equal(tp_pipe_write_ref(p, big, 100, tt_release_cb, &rel), 100);
    assert_int_equal(tp_pipe_buffered(p), 110);
    assert_int_equal(tp_pipe_canwrite(p), 0);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
}

static void write_ref_full_nonblocking_eagain(void **state)
{
    (void)state;
    static const char buf[] = "more";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(4, true, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "full", 4), 4);
    assert_fails_with(tp_pipe_write_ref(p, buf, 4, tt_release_cb, &rel), EAGAIN);
    assert_int_equal(tp_pipe_buffered(p), 4);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 0);
}

static void write_ref_full_blocking_times_out(void **state)
{
    (void)state;
    static const char buf[] = "more";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(4, true, true, 0.2, NULL);
    assert_int_equal(tp_pipe_write(p, "full", 4), 4);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_write_ref(p, buf, 4, tt_release_cb, &rel), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    assert_int_equal(tp_pipe_buffered(p), 4);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 0);
}

static void write_ref_epipe_no_release(void **state)
{
    (void)state;
    static const char buf[] = "late";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_write_eof(p);
    assert_fails_with(tp_pipe_write_ref(p, buf, 4, tt_release_cb, &rel), EPIPE);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_write_ref(p, buf, 4, tt_release_cb, &rel), EPIPE);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 0);
}

static void write_ref_zero_calls_release_at_once(void **state)
{
    (void)state;
    static const char buf[] = "x";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, buf, 0, tt_release_cb, &rel), 0);
    assert_int_equal(tt_release_calls(&rel), 1);
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tp_pipe_write_ref(p, NULL, 0, tt_release_cb, &rel), 0);
    assert_int_equal(tt_release_calls(&rel), 2);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 2);
}

static void write_ref_null_release(void **state)
{
    (void)state;
    static const char buf[] = "no callback";
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, buf, 11, NULL, NULL), 11);
    assert_int_equal(tp_pipe_write_ref(p, buf, 0, NULL, NULL), 0);
    char out[16];
    assert_int_equal(tp_pipe_read(p, out, sizeof out), 11);
    assert_memory_equal(out, buf, 11);
    assert_int_equal(tp_pipe_write_ref(p, buf, 11, NULL, NULL), 11);
    tp_pipe_free(p);
}

static void release_after_read_consumes_all(void **state)
{
    (void)state;
    static const char buf[] = "0123456789";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, buf, 10, tt_release_cb, &rel), 10);
    char out[10];
    assert_int_equal(tp_pipe_read(p, out, 4), 4);
    assert_int_equal(tt_release_calls(&rel), 0);
    assert_int_equal(tp_pipe_read(p, out + 4, 6), 6);
    assert_memory_equal(out, buf, 10);
    assert_int_equal(tt_release_calls(&rel), 1);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
}

static void release_after_close(void **state)
{
    (void)state;
    static const char buf[] = "0123456789";
    tt_release rel;
    tt_release_init(&rel);
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, "ref-close");
    assert_int_equal(tp_pipe_write_ref(p, buf, 10, tt_release_cb, &rel), 10);
    char out[3];
    assert_int_equal(tp_pipe_read(p, out, 3), 3);
    tp_pipe_close(p);
    assert_int_equal(tt_release_calls(&rel), 1);
    tp_pipe_close(p);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
    tt_log_restore(&log);
}

static void release_after_last_view(void **state)
{
    (void)state;
    static const char buf[] = "0123456789";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, buf, 10, tt_release_cb, &rel), 10);
    const void *d1, *d2;
    tp_view *v1, *v2;
    assert_int_equal(tp_pipe_read_view(p, 4, &d1, &v1), 4);
    assert_ptr_equal(d1, buf);
    assert_int_equal(tp_pipe_read_view(p, 6, &d2, &v2), 6);
    assert_ptr_equal(d2, buf + 4);
    /* Everything is read, but two views still point into buf. */
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tt_release_calls(&rel), 0);
    tp_view_release(v2);
    assert_int_equal(tt_release_calls(&rel), 0);
    tp_view_release(v1);
    assert_int_equal(tt_release_calls(&rel), 1);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
}

static void release_after_view_outlives_close_and_free(void **state)
{
    (void)state;
    static const char buf[] = "0123456789";
    tt_release rel;
    tt_release_init(&rel);
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, "views");
    assert_int_equal(tp_pipe_write_ref(p, buf, 10, tt_release_cb, &rel), 10);
    const void *d;
    tp_view *v;
    assert_int_equal(tp_pipe_read_view(p, 5, &d, &v), 5);
    tp_pipe_close(p); /* discards the other 5 bytes, but v still holds buf */
    assert_int_equal(tt_release_calls(&rel), 0);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 0);
    assert_memory_equal(d, "01234", 5);
    tp_view_release(v);
    assert_int_equal(tt_release_calls(&rel), 1);
    tt_log_restore(&log);
}

/* Zero-copy reads that catch up with the writer: the drained last buffer
 * stays in the pipe as an empty husk while its view is out, and writes go
 * on after it. Each buffer's release comes with its last view, once.
 * caught_up_start writes "first" and reads it all through a view. */
typedef struct caught_up {
    tp_pipe *p;
    tt_release ra, rb; /* "first", "second" */
    const void *da;
    tp_view *va;
} caught_up;

static void caught_up_start(caught_up *c)
{
    tt_release_init(&c->ra);
    tt_release_init(&c->rb);
    c->p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(c->p, "first", 5, tt_release_cb, &c->ra), 5);
    assert_int_equal(tp_pipe_read_view(c->p, 100, &c->da, &c->va), 5);
    assert_int_equal(tp_pipe_buffered(c->p), 0);
    assert_int_equal(tp_pipe_write_ref(c->p, "second", 6, tt_release_cb, &c->rb), 6);
}

static void caught_up_end(caught_up *c)
{
    tp_pipe_free(c->p);
    assert_int_equal(tt_release_calls(&c->ra), 1);
    assert_int_equal(tt_release_calls(&c->rb), 1);
}

static void release_of_caught_up_view_waits_for_the_view(void **state)
{
    (void)state;
    caught_up c;
    caught_up_start(&c);
    assert_int_equal(tt_release_calls(&c.ra), 0); /* va still points into "first" */
    tp_view_release(c.va);
    assert_int_equal(tt_release_calls(&c.ra), 1);
    const void *db;
    tp_view *vb;
    assert_int_equal(tp_pipe_read_view(c.p, 100, &db, &vb), 6);
    assert_memory_equal(db, "second", 6);
    assert_int_equal(tt_release_calls(&c.rb), 0);
    tp_view_release(vb);
    assert_int_equal(tt_release_calls(&c.rb), 1);
    caught_up_end(&c);
}

/* The same, with the drained buffer leaving the pipe before its view goes:
 * when the next write_ref is read, and when a copying write follows it. */
static void release_of_caught_up_view_after_it_left_the_pipe(void **state)
{
    (void)state;
    caught_up c;
    caught_up_start(&c);
    const void *db;
    tp_view *vb;
    assert_int_equal(tp_pipe_read_view(c.p, 100, &db, &vb), 6);
    assert_int_equal(tt_release_calls(&c.ra), 0);
    assert_int_equal(tp_pipe_write(c.p, "xyz", 3), 3); /* follows the husk of "second" */
    char got[3];
    assert_int_equal(tp_pipe_read(c.p, got, sizeof got), 3);
    assert_memory_equal(got, "xyz", 3);
    assert_int_equal(tt_release_calls(&c.rb), 0);
    assert_memory_equal(c.da, "first", 5);
    assert_memory_equal(db, "second", 6);
    tp_view_release(vb);
    assert_int_equal(tt_release_calls(&c.rb), 1);
    assert_int_equal(tt_release_calls(&c.ra), 0);
    tp_view_release(c.va);
    assert_int_equal(tt_release_calls(&c.ra), 1);
    caught_up_end(&c);
}

/* A husk still in the pipe when it is freed, its view released after. */
static void release_of_caught_up_view_outlives_free(void **state)
{
    (void)state;
    static const char a[] = "only";
    tt_release ra;
    tt_release_init(&ra);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, a, 4, tt_release_cb, &ra), 4);
    const void *da;
    tp_view *va;
    assert_int_equal(tp_pipe_read_view(p, 100, &da, &va), 4);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&ra), 0);
    assert_memory_equal(da, "only", 4);
    tp_view_release(va);
    assert_int_equal(tt_release_calls(&ra), 1);
}

static void release_from_view_on_other_thread(void **state)
{
    (void)state;
    static const char buf[] = "abcdef";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, buf, 6, tt_release_cb, &rel), 6);
    tt_op op = {.n = 6};
    tt_op_start(&op, TT_READ_VIEW, p); /* reads, copies, releases its view */
    tt_op_join(&op);
    assert_int_equal(op.ret, 6);
    assert_memory_equal(op.buf, "abcdef", 6);
    assert_int_equal(tt_release_calls(&rel), 1);
    tp_pipe_free(p);
}

static void write_ref_blocked_woken_accepts_all(void **state)
{
    (void)state;
    static char big[1000];
    tp_pipe *p = tp_pipe_new(8, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdefgh", 8), 8);
    tt_op op = {.src = big, .n = sizeof big};
    tt_op_start_blocked(&op, TT_WRITE_REF, p);
    char c;
    assert_int_equal(tp_pipe_read(p, &c, 1), 1);
    tt_op_join(&op);
    assert_int_equal(op.ret, 1000);
    assert_int_equal(tp_pipe_buffered(p), 1007);
    assert_int_equal(tt_release_calls(&op.rel), 0);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&op.rel), 1);
}

static void write_ref_eof_or_close_while_waiting(void **state)
{
    (void)state;
    static const char buf[] = "wait";
    for (int close = 0; close < 2; close++) {
        tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
        assert_int_equal(tp_pipe_write(p, "full", 4), 4);
        tt_op op = {.src = buf, .n = 4};
        tt_op_start_blocked(&op, TT_WRITE_REF, p);
        if (close) {
            tt_log log;
            tt_log_capture(&log);
            tp_pipe_close(p);
            tt_op_join(&op);
            tt_log_restore(&log);
        } else {
            tp_pipe_write_eof(p);
            tt_op_join(&op);
        }
        assert_int_equal(op.ret, -1);
        assert_int_equal(op.err, EPIPE);
        tp_pipe_free(p);
        assert_int_equal(tt_release_calls(&op.rel), 0);
    }
}

/* A release callback that calls back into the pipe it came from: the pipe
 * must not hold its lock while calling it (that would deadlock here). */
typedef struct reentrant {
    tp_pipe *p;
    tp_pipe *other;
    int calls;
    size_t seen_buffered;
} reentrant;

static void reentrant_release(void *ctx)
{
    reentrant *r = ctx;
    r->calls++;
    r->seen_buffered = tp_pipe_buffered(r->p);
    (void)tp_pipe_canwrite(r->p);
    (void)tp_pipe_write(r->other, "r", 1);
}

static void release_callback_may_call_tpipe(void **state)
{
    (void)state;
    static const char buf[] = "0123456789";
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *other = tp_pipe_new(0, false, false, 0, NULL);
    reentrant r = {0};
    r.p = tp_pipe_new(0, false, false, 0, "reentrant");
    r.other = other;
    /* Released by a read. */
    assert_int_equal(tp_pipe_write_ref(r.p, buf, 10, reentrant_release, &r), 10);
    assert_int_equal(tp_pipe_write(r.p, "tail", 4), 4);
    char out[10];
    assert_int_equal(tp_pipe_read(r.p, out, 10), 10);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.seen_buffered, 4);
    /* Released by a view. */
    const void *d;
    tp_view *v;
    assert_int_equal(tp_pipe_write_ref(r.p, buf, 10, reentrant_release, &r), 10);
    char tail[4];
    assert_int_equal(tp_pipe_read(r.p, tail, 4), 4);
    assert_int_equal(tp_pipe_read_view(r.p, 10, &d, &v), 10);
    tp_view_release(v);
    assert_int_equal(r.calls, 2);
    /* Released by close, then by free. */
    assert_int_equal(tp_pipe_write_ref(r.p, buf, 10, reentrant_release, &r), 10);
    tp_pipe_close(r.p);
    assert_int_equal(r.calls, 3);
    tp_pipe *q = tp_pipe_new(0, false, false, 0, NULL);
    reentrant r2 = {.p = q, .other = other};
    assert_int_equal(tp_pipe_write_ref(q, buf, 10, reentrant_release, &r2), 10);
    r2.p = other; /* q is being freed: query the other pipe instead */
    tp_pipe_free(q);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(tp_pipe_buffered(other), 4);
    tp_pipe_free(r.p);
    tp_pipe_free(other);
    tt_log_restore(&log);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_ref_no_copy),
        cmocka_unit_test(write_ref_overfills_bsize),
        cmocka_unit_test(write_ref_full_nonblocking_eagain),
        cmocka_unit_test(write_ref_full_blocking_times_out),
        cmocka_unit_test(write_ref_epipe_no_release),
        cmocka_unit_test(write_ref_zero_calls_release_at_once),
        cmocka_unit_test(write_ref_null_release),
        cmocka_unit_test(release_after_read_consumes_all),
        cmocka_unit_test(release_after_close),
        cmocka_unit_test(release_after_last_view),
        cmocka_unit_test(release_after_view_outlives_close_and_free),
        cmocka_unit_test(release_of_caught_up_view_waits_for_the_view),
        cmocka_unit_test(release_of_caught_up_view_after_it_left_the_pipe),
        cmocka_unit_test(release_of_caught_up_view_outlives_free),
        cmocka_unit_test(release_from_view_on_other_thread),
        cmocka_unit_test(write_ref_blocked_woken_accepts_all),
        cmocka_unit_test(write_ref_eof_or_close_while_waiting),
        cmocka_unit_test(release_callback_may_call_tpipe),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
