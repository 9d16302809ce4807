/* test_errno_event.c - the errno helpers (tp_io_blocked, tp_io_timedout) and
 * tp_event: set/clear/is_set, timed waits and wake-ups across threads. */
#include "test_util.h"

#include <math.h>

static void io_blocked_codes(void **state)
{
    (void)state;
    assert_int_equal(tp_io_blocked(EAGAIN), true);
    assert_int_equal(tp_io_blocked(EWOULDBLOCK), true);
    assert_int_equal(tp_io_blocked(ETIMEDOUT), false);
    assert_int_equal(tp_io_blocked(EPIPE), false);
    assert_int_equal(tp_io_blocked(EINTR), false);
    assert_int_equal(tp_io_blocked(0), false);
    assert_int_equal(tp_io_blocked(-1), false);
}

static void io_timedout_codes(void **state)
{
    (void)state;
    assert_int_equal(tp_io_timedout(ETIMEDOUT), true);
    assert_int_equal(tp_io_timedout(EAGAIN), false);
    assert_int_equal(tp_io_timedout(EWOULDBLOCK), false);
    assert_int_equal(tp_io_timedout(EPIPE), false);
    assert_int_equal(tp_io_timedout(0), false);
}

static void event_starts_cleared(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    assert_non_null(ev);
    assert_int_equal(tp_event_is_set(ev), false);
    tp_event_free(ev);
}

static void event_set_and_clear(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    tp_event_set(ev);
    assert_int_equal(tp_event_is_set(ev), true);
    tp_event_set(ev); /* setting twice keeps it set */
    assert_int_equal(tp_event_is_set(ev), true);
    tp_event_clear(ev);
    assert_int_equal(tp_event_is_set(ev), false);
    tp_event_clear(ev);
    assert_int_equal(tp_event_is_set(ev), false);
    tp_event_free(ev);
}

static void event_wait_when_set_returns_at_once(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    tp_event_set(ev);
    assert_int_equal(tp_event_wait(ev, 0), 0);
    assert_int_equal(tp_event_wait(ev, 5.0), 0);
    assert_int_equal(tp_event_wait(ev, TP_FOREVER), 0);
    /* Waiting does not consume the flag (not an auto-reset event). */
    assert_int_equal(tp_event_is_set(ev), true);
    tp_event_free(ev);
}

static void event_wait_times_out(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    double t0 = tt_now();
    assert_fails_with(tp_event_wait(ev, 0.2), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    tp_event_set(ev);
    tp_event_clear(ev);
    assert_fails_with(tp_event_wait(ev, 0.05), ETIMEDOUT);
    tp_event_free(ev);
}

static void event_wait_zero_timeout(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    assert_fails_with(tp_event_wait(ev, 0), ETIMEDOUT);
    tp_event_free(ev);
}

static void event_null_and_nan(void **state)
{
    (void)state;
    assert_fails_with(tp_event_wait(NULL, 1.0), EINVAL);
    assert_fails_with(tp_event_wait(NULL, TP_FOREVER), EINVAL);
    tp_event_set(NULL);
    tp_event_clear(NULL);
    assert_int_equal(tp_event_is_set(NULL), false);
    tp_event_free(NULL);
    tp_event *ev = tp_event_new();
    assert_fails_with(tp_event_wait(ev, NAN), EINVAL);
    tp_event_free(ev);
}

static void *wait_forever(void *arg)
{
    static int ok = 0;
    int r = tp_event_wait(arg, TP_FOREVER);
    return r == 0 ? &ok : NULL;
}

static void event_wakes_waiter_in_other_thread(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    tt_thread t;
    tt_thread_start(&t, wait_forever, ev);
    tt_thread_wait_blocked(&t);
    tp_event_set(ev);
    assert_non_null(tt_thread_join(&t));
    tp_event_free(ev);
}

static void event_wakes_every_waiter(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    tt_thread t[4];
    for (int i = 0; i < 4; i++)
        tt_thread_start(&t[i], wait_forever, ev);
    for (int i = 0; i < 4; i++)
        tt_thread_wait_blocked(&t[i]);
    tp_event_set(ev);
    for (int i = 0; i < 4; i++)
        assert_non_null(tt_thread_join(&t[i]));
    tp_event_free(ev);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(io_blocked_codes),
        cmocka_unit_test(io_timedout_codes),
        cmocka_unit_test(event_starts_cleared),
        cmocka_unit_test(event_set_and_clear),
        cmocka_unit_test(event_wait_when_set_returns_at_once),
        cmocka_unit_test(event_wait_times_out),
        cmocka_unit_test(event_wait_zero_timeout),
        cmocka_unit_test(event_null_and_nan),
        cmocka_unit_test(event_wakes_waiter_in_other_thread),
        cmocka_unit_test(event_wakes_every_waiter),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
