/* test_pipe_state.c - pipe construction, defaults, blocking getters/setters,
 * empty/buffered/canwrite/canread, NULL arguments and tp_pipe_free. */
#include "test_util.h"

#include <math.h>

static void new_defaults(void **state)
{
    (void)state;
    char name[] = "state-pipe";
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, name);
    assert_non_null(p);
    name[0] = 'X'; /* the pipe keeps its own copy */
    assert_string_equal(tp_pipe_name(p), "state-pipe");
    assert_int_equal(tp_pipe_bsize(p), 8192);
    assert_int_equal(tp_pipe_bsize(p), TP_DEFAULT_BSIZE);
    assert_int_equal(tp_pipe_timeout(p) < 0, true);
    assert_int_equal(tp_pipe_readblocking(p), true);
    assert_int_equal(tp_pipe_writeblocking(p), true);
    assert_int_equal(tp_pipe_empty(p), true);
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tp_pipe_canwrite(p), 8192);
    assert_int_equal(tp_pipe_canread(p), 0);
    assert_int_equal(tp_pipe_eof(p), false);
    assert_int_equal(tp_pipe_closed(p), false);
    tp_pipe_free(p);
}

static void new_keeps_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(100, false, true, 2.5, NULL);
    assert_non_null(p);
    assert_null(tp_pipe_name(p));
    assert_int_equal(tp_pipe_bsize(p), 100);
    assert_int_equal((long long)(tp_pipe_timeout(p) * 1000), 2500);
    assert_int_equal(tp_pipe_readblocking(p), false);
    assert_int_equal(tp_pipe_writeblocking(p), true);
    assert_int_equal(tp_pipe_canwrite(p), 100);
    tp_pipe_free(p);

    p = tp_pipe_new(1, true, false, 0, "tiny");
    assert_int_equal(tp_pipe_readblocking(p), true);
    assert_int_equal(tp_pipe_writeblocking(p), false);
    assert_int_equal(tp_pipe_canwrite(p), 1);
    tp_pipe_free(p);
}

static void new_nan_timeout_einval(void **state)
{
    (void)state;
    assert_null_with(tp_pipe_new(0, true, true, NAN, "nan"), EINVAL);
}

static void blocking_setters(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_set_readblocking(p, false);
    assert_int_equal(tp_pipe_readblocking(p), false);
    assert_int_equal(tp_pipe_writeblocking(p), true);
    tp_pipe_set_writeblocking(p, false);
    assert_int_equal(tp_pipe_writeblocking(p), false);
    tp_pipe_set_readblocking(p, true);
    assert_int_equal(tp_pipe_readblocking(p), true);
    tp_pipe_set_writeblocking(p, true);
    assert_int_equal(tp_pipe_writeblocking(p), true);
    /* The new mode governs the next call: non-blocking read on empty. */
    tp_pipe_set_readblocking(p, false);
    char c;
    assert_fails_with(tp_pipe_read(p, &c, 1), EAGAIN);
    tp_pipe_free(p);
}

static void empty_buffered_track_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, 0, NULL);
    char buf[16];
    assert_int_equal(tp_pipe_write(p, "0123456789", 10), 10);
    assert_int_equal(tp_pipe_empty(p), false);
    assert_int_equal(tp_pipe_buffered(p), 10);
    assert_int_equal(tp_pipe_canwrite(p), 54);
    assert_int_equal(tp_pipe_canread(p), 1);
    assert_int_equal(tp_pipe_read(p, buf, 4), 4);
    assert_int_equal(tp_pipe_buffered(p), 6);
    assert_int_equal(tp_pipe_canwrite(p), 58);
    size_t got = 0;
    while (got < 6) {
        ssize_t r = tp_pipe_read(p, buf + got, sizeof buf - got);
        assert_ge(r, 1);
        got += (size_t)r;
    }
    assert_int_equal(got, 6);
    assert_memory_equal(buf, "456789", 6);
    assert_int_equal(tp_pipe_empty(p), true);
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tp_pipe_canread(p), 0);
    assert_int_equal(tp_pipe_canwrite(p), 64);
    tp_pipe_free(p);
}

static void canwrite_zero_when_full_never_negative(void **state)
{
    (void)state;
    static const char big[40] = "0123456789012345678901234567890123456789";
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(16, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, big, 16), 16);
    assert_int_equal(tp_pipe_canwrite(p), 0);
    tp_pipe_free(p);

    /* write_ref overfills: buffered > bsize, canwrite still 0, not negative. */
    p = tp_pipe_new(16, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, big, 40, tt_release_cb, &rel), 40);
    assert_int_equal(tp_pipe_buffered(p), 40);
    assert_int_equal(tp_pipe_canwrite(p), 0);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
}

static void canwrite_epipe_after_eof_or_close(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_fails_with(tp_pipe_canwrite(p), EPIPE);
    tp_pipe_free(p);

    p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_canwrite(p), EPIPE);
    tp_pipe_free(p);
}

static void canread_data_eof_closed(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_canread(p), 0);
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    assert_int_equal(tp_pipe_canread(p), 1);
    char c;
    assert_int_equal(tp_pipe_read(p, &c, 1), 1);
    assert_int_equal(tp_pipe_canread(p), 0);
    /* EOF on an empty pipe: the next read will not block (it returns 0). */
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_canread(p), 1);
    assert_int_equal(tp_pipe_read(p, &c, 1), 0);
    assert_int_equal(tp_pipe_canread(p), 1);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_canread(p), EPIPE);
    tp_pipe_free(p);
}

static void null_pipe_arguments(void **state)
{
    (void)state;
    char buf[4];
    const void *data = &buf;
    tp_view *view = (tp_view *)&buf;
    void *out = &buf;
    size_t len = 99;
    tt_release rel;
    tt_release_init(&rel);

    assert_int_equal(tp_pipe_bsize(NULL), 0);
    assert_int_equal(tp_pipe_readblocking(NULL), false);
    assert_int_equal(tp_pipe_writeblocking(NULL), false);
    tp_pipe_set_readblocking(NULL, true);
    tp_pipe_set_writeblocking(NULL, true);
    assert_int_equal(tp_pipe_empty(NULL), true);
    assert_int_equal(tp_pipe_buffered(NULL), 0);
    assert_fails_with(tp_pipe_canwrite(NULL), EINVAL);
    assert_fails_with(tp_pipe_canread(NULL), EINVAL);
    tp_pipe_set_rflag(NULL, NULL);
    assert_fails_with(tp_pipe_write_wait(NULL, 0), EINVAL);
    assert_fails_with(tp_pipe_read_wait(NULL, 0), EINVAL);
    assert_fails_with(tp_pipe_flush_wait(NULL, 0), EINVAL);
    assert_fails_with(tp_pipe_write(NULL, "a", 1), EINVAL);
    assert_fails_with(tp_pipe_write_ref(NULL, "a", 1, tt_release_cb, &rel), EINVAL);
    assert_int_equal(tt_release_calls(&rel), 0);
    assert_fails_with(tp_pipe_write_eof(NULL), EINVAL);
    assert_fails_with(tp_pipe_flush(NULL), EINVAL);
    tp_pipe_close(NULL);
    assert_fails_with(tp_pipe_read(NULL, buf, 1), EINVAL);
    assert_fails_with(tp_pipe_read_view(NULL, 1, &data, &view), EINVAL);
    assert_null(data);
    assert_null(view);
    struct iovec iov[1];
    tp_view *views[1];
    assert_fails_with(tp_pipe_read_views(NULL, 1, iov, views, 1), EINVAL);
    assert_fails_with(tp_pipe_read_views(NULL, 1, iov, views, 0), EINVAL);
    assert_fails_with(tp_pipe_readall(NULL, &out, &len), EINVAL);
    out = &buf;
    assert_fails_with(tp_pipe_readmatch(NULL, NULL, 0, &out), EINVAL);
    assert_null(out);
    tp_view_release(NULL);
    tp_pipe_free(NULL);
}

static void null_buffer_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    const void *data;
    tp_view *view;
    void *out;
    size_t len;
    tt_release rel;
    tt_release_init(&rel);

    assert_fails_with(tp_pipe_write(p, NULL, 1), EINVAL);
    assert_fails_with(tp_pipe_write_ref(p, NULL, 1, tt_release_cb, &rel), EINVAL);
    assert_int_equal(tt_release_calls(&rel), 0);
    assert_int_equal(tp_pipe_write(p, NULL, 0), 0);
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_fails_with(tp_pipe_read(p, NULL, 1), EINVAL);
    assert_int_equal(tp_pipe_read(p, NULL, 0), 0);
    assert_fails_with(tp_pipe_read_view(p, 1, NULL, &view), EINVAL);
    assert_fails_with(tp_pipe_read_view(p, 1, &data, NULL), EINVAL);
    struct iovec iov[1];
    tp_view *views[1];
    assert_fails_with(tp_pipe_read_views(p, 1, NULL, views, 1), EINVAL);
    assert_fails_with(tp_pipe_read_views(p, 1, iov, NULL, 1), EINVAL);
    assert_fails_with(tp_pipe_read_views(p, 1, iov, views, -1), EINVAL);
    assert_fails_with(tp_pipe_readall(p, NULL, &len), EINVAL);
    assert_fails_with(tp_pipe_readall(p, &out, NULL), EINVAL);
    assert_fails_with(tp_pipe_readmatch(p, NULL, 0, NULL), EINVAL);
    /* None of the rejected calls consumed anything. */
    assert_int_equal(tp_pipe_buffered(p), 3);
    tp_pipe_free(p);
}

static void nan_wait_timeouts_einval(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_fails_with(tp_pipe_write_wait(p, NAN), EINVAL);
    assert_fails_with(tp_pipe_read_wait(p, NAN), EINVAL);
    assert_fails_with(tp_pipe_flush_wait(p, NAN), EINVAL);
    tp_pipe_free(p);
}

static void free_releases_each_buffer_once(void **state)
{
    (void)state;
    static const char a[] = "first", b[] = "second", c[] = "third";
    tt_release ra, rb, rc;
    tt_release_init(&ra);
    tt_release_init(&rb);
    tt_release_init(&rc);
    tp_pipe *p = tp_pipe_new(64, false, false, 0, "free");
    assert_int_equal(tp_pipe_write_ref(p, a, 5, tt_release_cb, &ra), 5);
    assert_int_equal(tp_pipe_write(p, "xyz", 3), 3);
    assert_int_equal(tp_pipe_write_ref(p, b, 6, tt_release_cb, &rb), 6);
    assert_int_equal(tp_pipe_write_ref(p, c, 5, tt_release_cb, &rc), 5);
    char buf[2];
    assert_int_equal(tp_pipe_read(p, buf, 2), 2); /* a is partly consumed */
    assert_int_equal(tt_release_calls(&ra), 0);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&ra), 1);
    assert_int_equal(tt_release_calls(&rb), 1);
    assert_int_equal(tt_release_calls(&rc), 1);
}

static void free_after_eof_with_data(void **state)
{
    (void)state;
    /* Copies, refs and EOF still buffered: free must not leak (ASan and
     * valgrind runs check) and must release the ref once. */
    static char ref[3000];
    tt_release rel;
    tt_release_init(&rel);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, "free-eof");
    char chunk[5000];
    memset(chunk, 'c', sizeof chunk);
    assert_int_equal(tp_pipe_write(p, chunk, sizeof chunk), 5000);
    assert_int_equal(tp_pipe_write_ref(p, ref, sizeof ref, tt_release_cb, &rel), 3000);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    tp_pipe_free(p);
    assert_int_equal(tt_release_calls(&rel), 1);
}

/* With the default allocator a pipe starts a cache line, so which of its
 * fields share lines does not change from one pipe to the next (see
 * tp__malloc_lines in src/alloc.c): a speed property, checked here since
 * no benchmark would notice it missing on a lucky heap. */
static void pipes_start_a_cache_line(void **state)
{
    (void)state;
    tp_pipe *p[8];
    for (int i = 0; i < 8; i++) {
        void *spacer = malloc((size_t)(16 * i + 1)); /* moves malloc's next block */
        p[i] = tp_pipe_new(0, true, true, TP_FOREVER, i % 2 ? "named" : NULL);
        free(spacer);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 64, 0);
    }
    for (int i = 0; i < 8; i++)
        tp_pipe_free(p[i]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_defaults),
        cmocka_unit_test(new_keeps_arguments),
        cmocka_unit_test(new_nan_timeout_einval),
        cmocka_unit_test(blocking_setters),
        cmocka_unit_test(empty_buffered_track_data),
        cmocka_unit_test(canwrite_zero_when_full_never_negative),
        cmocka_unit_test(canwrite_epipe_after_eof_or_close),
        cmocka_unit_test(canread_data_eof_closed),
        cmocka_unit_test(null_pipe_arguments),
        cmocka_unit_test(null_buffer_arguments),
        cmocka_unit_test(nan_wait_timeouts_einval),
        cmocka_unit_test(free_releases_each_buffer_once),
        cmocka_unit_test(free_after_eof_with_data),
        cmocka_unit_test(pipes_start_a_cache_line),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
