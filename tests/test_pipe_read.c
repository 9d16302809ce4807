/* test_pipe_read.c - tp_pipe_read, tp_pipe_read_view(s) and tp_pipe_readall:
 * partial returns, EOF, EAGAIN/ETIMEDOUT/EPIPE, zero-copy views, readall's
 * blocking and what it keeps on failure. */
#include "test_util.h"

static void read_returns_what_is_there(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "hello", 5), 5);
    char buf[100];
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);
    tp_pipe_free(p);
}

static void read_returns_as_soon_as_some_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op = {.n = 200};
    tt_op_start_blocked(&op, TT_READ, p);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    tt_op_join(&op);
    assert_int_equal(op.ret, 3); /* did not wait for 200 bytes */
    assert_memory_equal(op.buf, "abc", 3);
    tp_pipe_free(p);
}

static void read_zero_at_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    tp_pipe_write_eof(p);
    char buf[4];
    assert_int_equal(tp_pipe_read(p, buf, 4), 0);
    tp_pipe_set_readblocking(p, true);
    assert_int_equal(tp_pipe_read(p, buf, 4), 0);
    tp_pipe_free(p);
}

static void read_n_zero_returns_zero(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    char buf[4];
    /* Empty non-blocking pipe: 0, not EAGAIN. */
    assert_int_equal(tp_pipe_read(p, buf, 0), 0);
    tp_pipe_set_readblocking(p, true); /* and it never blocks */
    assert_int_equal(tp_pipe_read(p, buf, 0), 0);
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    assert_int_equal(tp_pipe_read(p, buf, 0), 0);
    assert_int_equal(tp_pipe_buffered(p), 2);
    tp_pipe_free(p);
}

static void read_nonblocking_empty_eagain(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, true, TP_FOREVER, NULL);
    char buf[4];
    assert_fails_with(tp_pipe_read(p, buf, 4), EAGAIN);
    tp_pipe_free(p);
}

static void read_blocking_times_out(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0.2, NULL);
    char buf[4];
    double t0 = tt_now();
    assert_fails_with(tp_pipe_read(p, buf, 4), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    tp_pipe_free(p);
}

static void read_timeout_zero_etimedout(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0, NULL);
    char buf[4];
    assert_fails_with(tp_pipe_read(p, buf, 4), ETIMEDOUT);
    tp_pipe_free(p);
}

static void read_close_while_waiting_epipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op = {.n = 4};
    tt_op_start_blocked(&op, TT_READ, p);
    tp_pipe_close(p);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    tp_pipe_free(p);
}

static void read_across_copy_and_ref_segments(void **state)
{
    (void)state;
    static char ref1[300], ref2[5];
    tt_fill_pattern(ref1, sizeof ref1, 100);
    tt_fill_pattern(ref2, sizeof ref2, 500);
    char c1[100], c2[100];
    tt_fill_pattern(c1, sizeof c1, 0);
    tt_fill_pattern(c2, sizeof c2, 400);
    unsigned char want[505];
    tt_fill_pattern(want, sizeof want, 0);
    tp_pipe *p = tp_pipe_new(1000, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, c1, 100), 100);
    assert_int_equal(tp_pipe_write_ref(p, ref1, 300, NULL, NULL), 300);
    assert_int_equal(tp_pipe_write(p, c2, 100), 100);
    assert_int_equal(tp_pipe_write_ref(p, ref2, 5, NULL, NULL), 5);
    tp_pipe_write_eof(p);
    /* Odd-sized reads straddle every boundary. */
    unsigned char got[505];
    size_t off = 0;
    for (;;) {
        ssize_t r = tp_pipe_read(p, got + off, off + 37 <= sizeof got ? 37 : sizeof got - off);
        if (r == 0)
            break;
        assert_in_range(r, 1, 37);
        off += (size_t)r;
    }
    assert_int_equal(off, 505);
    assert_memory_equal(got, want, 505);
    tp_pipe_free(p);
}

static void read_view_of_copied_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdefgh", 8), 8);
    const void *data;
    tp_view *view;
    ssize_t r = tp_pipe_read_view(p, 3, &data, &view);
    assert_in_range(r, 1, 3);
    assert_memory_equal(data, "abc", (size_t)r);
    /* The bytes count as read at once, before the view is released. */
    assert_int_equal(tp_pipe_buffered(p), 8 - (size_t)r);
    assert_int_equal(tp_pipe_canwrite(p), 8192 - 8 + r);
    tp_view_release(view);
    char rest[8];
    assert_int_equal(tp_pipe_read(p, rest, 8), 8 - r);
    assert_memory_equal(rest, &"abcdefgh"[r], 8 - (size_t)r);
    tp_pipe_free(p);
}

static void read_view_stops_at_noncontiguous_bytes(void **state)
{
    (void)state;
    static const char a[] = "AAAAAAAAAA", b[] = "BBBBBBBBBB";
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, a, 10, NULL, NULL), 10);
    assert_int_equal(tp_pipe_write_ref(p, b, 10, NULL, NULL), 10);
    const void *data;
    tp_view *view;
    /* 20 asked, but a's bytes and b's are not contiguous: no copy is made. */
    ssize_t r = tp_pipe_read_view(p, 20, &data, &view);
    assert_in_range(r, 1, 10);
    assert_ptr_equal(data, a);
    tp_view_release(view);
    size_t got = (size_t)r;
    while (got < 20) {
        r = tp_pipe_read_view(p, 20, &data, &view);
        assert_ge(r, 1);
        if (got >= 10)
            assert_ptr_equal(data, b + (got - 10));
        got += (size_t)r;
        tp_view_release(view);
    }
    assert_int_equal(got, 20);
    tp_pipe_free(p);
}

static void read_view_valid_after_close_and_free(void **state)
{
    (void)state;
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, "view-life");
    char src[64];
    tt_fill_pattern(src, sizeof src, 3);
    assert_int_equal(tp_pipe_write(p, src, 64), 64);
    const void *d1, *d2;
    tp_view *v1, *v2;
    ssize_t r1 = tp_pipe_read_view(p, 20, &d1, &v1);
    assert_in_range(r1, 1, 20);
    ssize_t r2 = tp_pipe_read_view(p, 20, &d2, &v2);
    assert_in_range(r2, 1, 20);
    tp_pipe_close(p);
    assert_memory_equal(d1, src, (size_t)r1);
    tp_view_release(v1);
    tp_pipe_free(p);
    /* ASan/valgrind runs check these bytes are still owned. */
    assert_memory_equal(d2, src + r1, (size_t)r2);
    tp_view_release(v2);
    tt_log_restore(&log);
}

static void read_view_outputs_null_when_nothing(void **state)
{
    (void)state;
    char dummy;
    const void *data = &dummy;
    tp_view *view = (tp_view *)&dummy;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_fails_with(tp_pipe_read_view(p, 4, &data, &view), EAGAIN);
    assert_null(data);
    assert_null(view);
    data = &dummy;
    view = (tp_view *)&dummy;
    assert_int_equal(tp_pipe_read_view(p, 0, &data, &view), 0);
    assert_null(data);
    assert_null(view);
    tp_pipe_set_readblocking(p, true);
    data = &dummy;
    view = (tp_view *)&dummy;
    assert_fails_with(tp_pipe_read_view(p, 4, &data, &view), ETIMEDOUT); /* timeout 0 */
    assert_null(data);
    assert_null(view);
    tp_pipe_write_eof(p);
    data = &dummy;
    view = (tp_view *)&dummy;
    assert_int_equal(tp_pipe_read_view(p, 4, &data, &view), 0);
    assert_null(data);
    assert_null(view);
    tp_pipe_free(p);
}

/* A non-blocking pipe holding the three strings as write_ref buffers,
 * whose releases rel counts. */
static tp_pipe *pipe_of_refs(const char *a, const char *b, const char *c, tt_release *rel)
{
    tt_release_init(rel);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    const char *bufs[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(bufs[i]);
        assert_int_equal(tp_pipe_write_ref(p, bufs[i], n, tt_release_cb, rel), (ssize_t)n);
    }
    return p;
}

static void read_views_takes_each_buffer_whole(void **state)
{
    (void)state;
    static const char a[] = "AAAAAAAAAA", b[] = "BBBBB", c[] = "CCCCCCC";
    tt_release rel;
    tp_pipe *p = pipe_of_refs(a, b, c, &rel);
    struct iovec iov[8];
    tp_view *views[8];
    assert_int_equal(tp_pipe_read_views(p, 100, iov, views, 8), 3);
    /* The writer's own buffers, in order, nothing copied. */
    assert_ptr_equal(iov[0].iov_base, a);
    assert_int_equal(iov[0].iov_len, 10);
    assert_ptr_equal(iov[1].iov_base, b);
    assert_int_equal(iov[1].iov_len, 5);
    assert_ptr_equal(iov[2].iov_base, c);
    assert_int_equal(iov[2].iov_len, 7);
    /* Read at once; released only with the views. */
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tt_release_calls(&rel), 0);
    tp_view_release(views[1]);
    assert_int_equal(tt_release_calls(&rel), 1);
    tp_view_release(views[0]);
    tp_view_release(views[2]);
    assert_int_equal(tt_release_calls(&rel), 3);
    tp_pipe_free(p);
}

static void read_views_stops_at_max_and_n(void **state)
{
    (void)state;
    static const char a[] = "0123456789", b[] = "abcdefghij", c[] = "KLMNOPQRST";
    tt_release rel;
    tp_pipe *p = pipe_of_refs(a, b, c, &rel);
    struct iovec iov[4];
    tp_view *views[4];
    /* max ends the second piece early ... */
    assert_int_equal(tp_pipe_read_views(p, 14, iov, views, 4), 2);
    assert_ptr_equal(iov[0].iov_base, a);
    assert_int_equal(iov[0].iov_len, 10);
    assert_ptr_equal(iov[1].iov_base, b);
    assert_int_equal(iov[1].iov_len, 4);
    assert_int_equal(tp_pipe_buffered(p), 16);
    /* ... and n the number of pieces; the rest stays buffered. */
    struct iovec more[1];
    tp_view *more_views[1];
    assert_int_equal(tp_pipe_read_views(p, 100, more, more_views, 1), 1);
    assert_ptr_equal(more[0].iov_base, b + 4);
    assert_int_equal(more[0].iov_len, 6);
    tp_view_release(views[1]);
    assert_int_equal(tt_release_calls(&rel), 0); /* b is still held */
    tp_view_release(more_views[0]);
    assert_int_equal(tt_release_calls(&rel), 1);
    assert_int_equal(tp_pipe_read_views(p, 100, iov + 2, views + 2, 2), 1);
    assert_ptr_equal(iov[2].iov_base, c);
    assert_int_equal(iov[2].iov_len, 10);
    tp_view_release(views[0]);
    tp_view_release(views[2]);
    assert_int_equal(tt_release_calls(&rel), 3);
    tp_pipe_free(p);
}

static void read_views_of_copied_and_ref_data(void **state)
{
    (void)state;
    char src[3000];
    tt_fill_pattern(src, sizeof src, 11);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, src, 1000), 1000);
    assert_int_equal(tp_pipe_write_ref(p, src + 1000, 1000, NULL, NULL), 1000);
    assert_int_equal(tp_pipe_write(p, src + 2000, 1000), 1000);
    struct iovec iov[8];
    tp_view *views[8];
    char got[3000];
    size_t used = 0;
    while (used < sizeof got) {
        int n = tp_pipe_read_views(p, 700, iov, views, 8);
        assert_in_range(n, 1, 8);
        size_t call = 0;
        for (int i = 0; i < n; i++) {
            assert_in_range(iov[i].iov_len, 1, 700);
            memcpy(got + used, iov[i].iov_base, iov[i].iov_len);
            used += iov[i].iov_len;
            call += iov[i].iov_len;
            tp_view_release(views[i]);
        }
        assert_in_range(call, 1, 700);
    }
    assert_memory_equal(got, src, sizeof src);
    assert_int_equal(tp_pipe_buffered(p), 0);
    tp_pipe_free(p);
}

static void read_views_waits_and_fails_like_read(void **state)
{
    (void)state;
    struct iovec iov[2] = {{NULL, 99}, {NULL, 99}};
    tp_view *views[2] = {NULL, NULL};
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_fails_with(tp_pipe_read_views(p, 4, iov, views, 2), EAGAIN);
    assert_int_equal(tp_pipe_read_views(p, 0, iov, views, 2), 0);
    assert_int_equal(tp_pipe_read_views(p, 4, iov, views, 0), 0);
    assert_int_equal(tp_pipe_read_views(p, 4, NULL, NULL, 0), 0);
    tp_pipe_set_readblocking(p, true);
    assert_fails_with(tp_pipe_read_views(p, 4, iov, views, 2), ETIMEDOUT); /* timeout 0 */
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    assert_int_equal(tp_pipe_read_views(p, 4, iov, views, 0), 0);
    assert_int_equal(tp_pipe_buffered(p), 2);
    tp_pipe_write_eof(p);
    assert_int_equal(tp_pipe_read_views(p, 4, iov, views, 2), 1);
    /* The entry past the count is left as it was. */
    assert_null(iov[1].iov_base);
    assert_int_equal(iov[1].iov_len, 99);
    assert_null(views[1]);
    assert_memory_equal(iov[0].iov_base, "ab", 2);
    tp_view_release(views[0]);
    assert_int_equal(tp_pipe_read_views(p, 4, iov, views, 2), 0);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_read_views(p, 4, iov, views, 2), EPIPE);
    assert_fails_with(tp_pipe_read_views(p, 4, iov, views, 0), EPIPE);
    tp_pipe_free(p);
}

static void read_views_blocks_until_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op = {.n = 100};
    tt_op_start_blocked(&op, TT_READ_VIEWS, p);
    assert_int_equal(tp_pipe_write(p, "xyz", 3), 3);
    tt_op_join(&op);
    assert_int_equal(op.ret, 3);
    assert_memory_equal(op.buf, "xyz", 3);
    tp_pipe_free(p);
}

static void read_views_valid_after_close_and_free(void **state)
{
    (void)state;
    tt_log log;
    tt_log_capture(&log);
    tt_release rel;
    tt_release_init(&rel);
    static char ref[32];
    tt_fill_pattern(ref, sizeof ref, 5);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, "views-life");
    assert_int_equal(tp_pipe_write(p, "head", 4), 4);
    assert_int_equal(tp_pipe_write_ref(p, ref, sizeof ref, tt_release_cb, &rel), 32);
    assert_int_equal(tp_pipe_write(p, "tail", 4), 4);
    struct iovec iov[2];
    tp_view *views[2];
    assert_int_equal(tp_pipe_read_views(p, 100, iov, views, 2), 2);
    tp_pipe_close(p); /* discards "tail" */
    tp_pipe_free(p);
    /* ASan/valgrind runs check these bytes are still owned. */
    assert_memory_equal(iov[0].iov_base, "head", 4);
    assert_ptr_equal(iov[1].iov_base, ref);
    assert_int_equal(tt_release_calls(&rel), 0);
    tp_view_release(views[0]);
    tp_view_release(views[1]);
    assert_int_equal(tt_release_calls(&rel), 1);
    tt_log_restore(&log);
}

static void views_release_runs_each_release_once(void **state)
{
    (void)state;
    static const char a[] = "first", b[] = "second";
    tt_release rel_p, rel_q;
    tt_release_init(&rel_p);
    tt_release_init(&rel_q);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    tp_pipe *q = tp_pipe_new(0, false, false, 0, NULL);
    tp_view *views[6] = {NULL};
    struct iovec iov[6];
    /* Views of two pipes, copied and ref bytes, and NULL entries. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tp_pipe_write_ref(p, a, 5, tt_release_cb, &rel_p), 5);
        assert_int_equal(tp_pipe_write_ref(q, b, 6, tt_release_cb, &rel_q), 6);
    }
    assert_int_equal(tp_pipe_write(q, "copied", 6), 6);
    assert_int_equal(tp_pipe_read_views(p, 100, iov, views, 2), 2);
    assert_int_equal(tp_pipe_read_views(q, 100, iov + 3, views + 3, 3), 3);
    assert_memory_equal(iov[5].iov_base, "copied", 6);
    tp_views_release(views, 0); /* nothing */
    tp_views_release(NULL, 6);
    assert_int_equal(tt_release_calls(&rel_p) + tt_release_calls(&rel_q), 0);
    tp_pipe_free(p); /* the views outlive it, and go back to a closed pool */
    tp_views_release(views, 6);
    assert_int_equal(tt_release_calls(&rel_p), 2);
    assert_int_equal(tt_release_calls(&rel_q), 2);
    /* q's descriptors went back for reuse: the next hand-offs work. */
    assert_int_equal(tp_pipe_write_ref(q, b, 6, tt_release_cb, &rel_q), 6);
    assert_int_equal(tp_pipe_read_views(q, 100, iov, views, 6), 1);
    assert_ptr_equal(iov[0].iov_base, b);
    tp_views_release(views, 1);
    assert_int_equal(tt_release_calls(&rel_q), 3);
    tp_pipe_free(q);
}

static void read_view_blocks_until_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op = {.n = 100};
    tt_op_start_blocked(&op, TT_READ_VIEW, p);
    assert_int_equal(tp_pipe_write(p, "xyz", 3), 3);
    tt_op_join(&op);
    assert_in_range(op.ret, 1, 3);
    assert_memory_equal(op.buf, "xyz", (size_t)op.ret);
    tp_pipe_free(p);
}

static void readall_returns_everything(void **state)
{
    (void)state;
    static char ref[5000];
    tt_fill_pattern(ref, sizeof ref, 10);
    char head[10];
    tt_fill_pattern(head, sizeof head, 0);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, head, 10), 10);
    assert_int_equal(tp_pipe_write_ref(p, ref, 5000, NULL, NULL), 5000);
    tp_pipe_write_eof(p);
    void *out = NULL;
    size_t len = 0;
    assert_int_equal(tp_pipe_readall(p, &out, &len), 0);
    assert_int_equal(len, 5010);
    unsigned char want[5010];
    tt_fill_pattern(want, sizeof want, 0);
    assert_memory_equal(out, want, 5010);
    tp_free(out);
    tp_pipe_free(p);
}

static void readall_empty_at_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_write_eof(p);
    void *out = NULL;
    size_t len = 99;
    assert_int_equal(tp_pipe_readall(p, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, 0);
    tp_free(out);
    tp_pipe_free(p);
}

typedef struct trickle {
    tp_pipe *p;
    int bytes;
    double pause;
    bool eof;
    tp_event *start; /* NULL: start at once */
} trickle;

static void *trickle_main(void *arg)
{
    trickle *t = arg;
    if (t->start)
        tp_event_wait(t->start, TP_FOREVER);
    for (int i = 0; i < t->bytes; i++) {
        if (t->pause > 0)
            tt_sleep(t->pause); /* pacing, not synchronisation */
        unsigned char c = tt_pattern((uint64_t)i);
        if (tp_pipe_write(t->p, &c, 1) != 1)
            return NULL;
    }
    if (t->eof)
        tp_pipe_write_eof(t->p);
    return t;
}

static void readall_blocks_on_nonblocking_end(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, true, TP_FOREVER, NULL);
    tp_event *rflag = tp_event_new();
    tp_pipe_set_rflag(p, rflag);
    /* The writer starts once readall has made its first read (the rflag). */
    trickle tr = {.p = p, .bytes = 50, .eof = true, .start = rflag};
    tt_thread t;
    tt_thread_start(&t, trickle_main, &tr);
    void *out = NULL;
    size_t len = 0;
    int ret = tp_pipe_readall(p, &out, &len);
    int err = errno;
    assert_non_null(tt_thread_join(&t));
    if (ret != 0)
        fail_msg("readall: %d errno %d (%s)", ret, err, strerror(err));
    assert_int_equal(len, 50);
    unsigned char want[50];
    tt_fill_pattern(want, 50, 0);
    assert_memory_equal(out, want, 50);
    assert_int_equal(tp_pipe_readblocking(p), false); /* mode unchanged */
    tp_free(out);
    tp_pipe_set_rflag(p, NULL);
    tp_pipe_free(p);
    tp_event_free(rflag);
}

static void readall_keeps_blocking_mode(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0.05, NULL);
    void *out;
    size_t len;
    assert_fails_with(tp_pipe_readall(p, &out, &len), ETIMEDOUT);
    assert_int_equal(tp_pipe_readblocking(p), true);
    tp_pipe_set_readblocking(p, false);
    assert_fails_with(tp_pipe_readall(p, &out, &len), ETIMEDOUT);
    assert_int_equal(tp_pipe_readblocking(p), false);
    tp_pipe_free(p);
}

static void readall_timeout_keeps_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0.2, NULL);
    assert_int_equal(tp_pipe_write(p, "partial", 7), 7);
    void *out = NULL;
    size_t len = 0;
    double t0 = tt_now();
    assert_fails_with(tp_pipe_readall(p, &out, &len), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    assert_int_equal(len, 7);
    assert_non_null(out);
    assert_memory_equal(out, "partial", 7);
    assert_int_equal(tp_pipe_buffered(p), 0);
    tp_free(out);
    tp_pipe_free(p);
}

static void readall_timeout_with_nothing(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0.1, NULL);
    char dummy;
    void *out = &dummy;
    size_t len = 99;
    assert_fails_with(tp_pipe_readall(p, &out, &len), ETIMEDOUT);
    assert_null(out);
    assert_int_equal(len, 0);
    tp_pipe_free(p);
}

static void readall_timeout_is_per_read(void **state)
{
    (void)state;
    /* 15 bytes, one every 0.1 s: 1.5 s in all, longer than the 1 s timeout,
     * but no read waits anywhere near 1 s. */
    const double timeout = 1.0;
    tp_pipe *p = tp_pipe_new(0, true, true, timeout, NULL);
    trickle tr = {.p = p, .bytes = 15, .pause = timeout / 10, .eof = true};
    tt_thread t;
    double t0 = tt_now();
    tt_thread_start(&t, trickle_main, &tr);
    void *out = NULL;
    size_t len = 0;
    int ret = tp_pipe_readall(p, &out, &len);
    int err = errno;
    double elapsed = tt_now() - t0;
    assert_non_null(tt_thread_join(&t));
    if (ret != 0)
        fail_msg("readall: %d errno %d (%s) after %.3f s", ret, err, strerror(err), elapsed);
    assert_int_equal(len, 15);
    assert_not_earlier(elapsed, timeout);
    tp_free(out);
    tp_pipe_free(p);
}

static void readall_close_keeps_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "kept", 4), 4);
    tt_op op = {0};
    tt_op_start(&op, TT_READALL, p);
    /* Wait until it has taken the 4 bytes and sleeps for more. */
    assert_int_equal(tp_pipe_flush_wait(p, TP_FOREVER), 0);
    tt_thread_wait_blocked(&op.thread);
    tp_pipe_close(p);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    assert_int_equal(op.outlen, 4);
    assert_non_null(op.out);
    assert_memory_equal(op.out, "kept", 4);
    tt_op_cleanup(&op);
    tp_pipe_free(p);
}

static void readall_large(void **state)
{
    (void)state;
    enum { TOTAL = 1 << 20 };
    tp_pipe *p = tp_pipe_new(4096, true, true, TP_FOREVER, NULL);
    unsigned char *src = malloc(TOTAL);
    tt_fill_pattern(src, TOTAL, 0);
    tt_op op = {0};
    tt_op_start(&op, TT_READALL, p);
    size_t off = 0;
    while (off < TOTAL) {
        ssize_t w = tp_pipe_write(p, src + off, TOTAL - off < 3000 ? TOTAL - off : 3000);
        assert_ge(w, 1);
        off += (size_t)w;
    }
    tp_pipe_write_eof(p);
    tt_op_join(&op);
    assert_int_equal(op.ret, 0);
    assert_int_equal(op.outlen, TOTAL);
    assert_memory_equal(op.out, src, TOTAL);
    tt_op_cleanup(&op);
    free(src);
    tp_pipe_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_returns_what_is_there),
        cmocka_unit_test(read_returns_as_soon_as_some_data),
        cmocka_unit_test(read_zero_at_eof),
        cmocka_unit_test(read_n_zero_returns_zero),
        cmocka_unit_test(read_nonblocking_empty_eagain),
        cmocka_unit_test(read_blocking_times_out),
        cmocka_unit_test(read_timeout_zero_etimedout),
        cmocka_unit_test(read_close_while_waiting_epipe),
        cmocka_unit_test(read_across_copy_and_ref_segments),
        cmocka_unit_test(read_view_of_copied_data),
        cmocka_unit_test(read_view_stops_at_noncontiguous_bytes),
        cmocka_unit_test(read_view_valid_after_close_and_free),
        cmocka_unit_test(read_view_outputs_null_when_nothing),
        cmocka_unit_test(read_view_blocks_until_data),
        cmocka_unit_test(read_views_takes_each_buffer_whole),
        cmocka_unit_test(read_views_stops_at_max_and_n),
        cmocka_unit_test(read_views_of_copied_and_ref_data),
        cmocka_unit_test(read_views_waits_and_fails_like_read),
        cmocka_unit_test(read_views_blocks_until_data),
        cmocka_unit_test(read_views_valid_after_close_and_free),
        cmocka_unit_test(views_release_runs_each_release_once),
        cmocka_unit_test(readall_returns_everything),
        cmocka_unit_test(readall_empty_at_eof),
        cmocka_unit_test(readall_blocks_on_nonblocking_end),
        cmocka_unit_test(readall_keeps_blocking_mode),
        cmocka_unit_test(readall_timeout_keeps_data),
        cmocka_unit_test(readall_timeout_with_nothing),
        cmocka_unit_test(readall_timeout_is_per_read),
        cmocka_unit_test(readall_close_keeps_data),
        cmocka_unit_test(readall_large),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
