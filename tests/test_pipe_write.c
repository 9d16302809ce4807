/* test_pipe_write.c - tp_pipe_write: copying, partial writes, a full pipe
 * (EAGAIN, waiting, ETIMEDOUT), EPIPE after and during EOF/close, n == 0. */
#include "test_util.h"

static void write_copies_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    char src[] = "hello";
    assert_int_equal(tp_pipe_write(p, src, 5), 5);
    memcpy(src, "XXXXX", 5); /* the pipe must hold its own copy */
    char buf[8];
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);
    tp_pipe_free(p);
}

static void write_partial_at_most_canwrite(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(16, false, false, 0, NULL);
    char src[32];
    tt_fill_pattern(src, sizeof src, 0);
    assert_int_equal(tp_pipe_write(p, src, 10), 10);
    assert_int_equal(tp_pipe_canwrite(p), 6);
    assert_int_equal(tp_pipe_write(p, src + 10, 22), 6);
    assert_int_equal(tp_pipe_buffered(p), 16);
    assert_int_equal(tp_pipe_canwrite(p), 0);
    size_t len;
    tp_pipe_write_eof(p);
    unsigned char *got = tt_drain(p, &len);
    assert_int_equal(len, 16);
    assert_memory_equal(got, src, 16);
    free(got);
    tp_pipe_free(p);
}

static void write_blocking_partial_does_not_wait(void **state)
{
    (void)state;
    /* A blocking writer with some room copies what fits and returns. */
    tp_pipe *p = tp_pipe_new(8, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcde", 5), 5);
    assert_int_equal(tp_pipe_write(p, "fghijkl", 7), 3);
    tp_pipe_free(p);
}

static void write_blocking_partial_short_timeout(void **state)
{
    (void)state;
    /* A write that wants more room than there is may first wait a moment
     * for the reader to free some; with a timeout shorter than that moment
     * (and no reader), it still copies what fits, without ETIMEDOUT. */
    tp_pipe *p = tp_pipe_new(100, true, true, TP_FOREVER, NULL);
    char src[60];
    tt_fill_pattern(src, sizeof src, 0);
    assert_int_equal(tp_pipe_write(p, src, 45), 45);
    assert_int_equal(tp_pipe_write(p, src, 45), 45);
    assert_int_equal(tp_pipe_write_timed(p, src, sizeof src, 1e-5), 10);
    assert_int_equal(tp_pipe_buffered(p), 100);
    tp_pipe_free(p);
}

static void write_full_nonblocking_eagain(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, true, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "12345678", 8), 8);
    assert_fails_with(tp_pipe_write(p, "9", 1), EAGAIN);
    assert_int_equal(tp_pipe_buffered(p), 8);
    tp_pipe_free(p);
}

static void write_full_blocking_times_out(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, true, true, 0.2, NULL);
    assert_int_equal(tp_pipe_write(p, "12345678", 8), 8);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_write(p, "9", 1), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    assert_int_equal(tp_pipe_buffered(p), 8);
    tp_pipe_free(p);
}

static void write_full_timeout_zero(void **state)
{
    (void)state;
    /* Timeout 0 is not a non-blocking end: ETIMEDOUT, not EAGAIN. */
    tp_pipe *p = tp_pipe_new(8, true, true, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "12345678", 8), 8);
    assert_fails_with(tp_pipe_write(p, "9", 1), ETIMEDOUT);
    tp_pipe_free(p);
}

static void write_blocked_woken_by_reader(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdefgh", 8), 8);
    tt_op op = {.src = "ijklmnop", .n = 8};
    tt_op_start_blocked(&op, TT_WRITE, p);
    char buf[3];
    assert_int_equal(tp_pipe_read(p, buf, 3), 3);
    tt_op_join(&op);
    /* It copied what fitted (1..3 bytes), no more. */
    assert_in_range(op.ret, 1, 3);
    tp_pipe_write_eof(p);
    size_t len;
    unsigned char *got = tt_drain(p, &len);
    assert_int_equal(len, 5 + (size_t)op.ret);
    assert_memory_equal(got, "defghijk", len);
    free(got);
    tp_pipe_free(p);
}

static void write_epipe_after_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "a", 1), 1);
    tp_pipe_write_eof(p);
    assert_fails_with(tp_pipe_write(p, "b", 1), EPIPE);
    assert_fails_with(tp_pipe_write(p, "b", 0), EPIPE);
    assert_int_equal(tp_pipe_buffered(p), 1);
    tp_pipe_free(p);
}

static void write_epipe_after_close(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_write(p, "b", 1), EPIPE);
    assert_fails_with(tp_pipe_write(p, "b", 0), EPIPE);
    tp_pipe_free(p);
}

static void write_zero_returns_zero(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "", 0), 0);
    assert_int_equal(tp_pipe_empty(p), true);
    /* Also on a full pipe: n == 0 never blocks or fails with EAGAIN. */
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_int_equal(tp_pipe_write(p, "", 0), 0);
    tp_pipe_set_writeblocking(p, true);
    assert_int_equal(tp_pipe_write(p, "", 0), 0);
    tp_pipe_free(p);
}

static void write_eof_while_waiting_epipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    tt_op op = {.src = "efgh", .n = 4};
    tt_op_start_blocked(&op, TT_WRITE, p);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    tp_pipe_free(p);
}

static void write_close_while_waiting_epipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    tt_op op = {.src = "efgh", .n = 4};
    tt_op_start_blocked(&op, TT_WRITE, p);
    tp_pipe_close(p);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    tp_pipe_free(p);
}

static void write_stream_order_across_many_writes(void **state)
{
    (void)state;
    /* Many small copies that straddle internal chunk boundaries. */
    enum { TOTAL = 100000 };
    tp_pipe *p = tp_pipe_new(TOTAL, false, false, 0, NULL);
    unsigned char *src = malloc(TOTAL);
    tt_fill_pattern(src, TOTAL, 7);
    size_t off = 0, step = 1;
    while (off < TOTAL) {
        size_t k = step < TOTAL - off ? step : TOTAL - off;
        assert_int_equal(tp_pipe_write(p, src + off, k), k);
        off += k;
        step = step % 997 + 13;
    }
    tp_pipe_write_eof(p);
    size_t len;
    unsigned char *got = tt_drain(p, &len);
    assert_int_equal(len, TOTAL);
    assert_memory_equal(got, src, TOTAL);
    free(got);
    free(src);
    tp_pipe_free(p);
}

static void write_sees_every_byte_the_reader_freed(void **state)
{
    (void)state;
    /* Room the reader frees is room at once: a pipe filled to the brim
     * and emptied takes a full load again, and bytes written after a read
     * found the pipe empty are readable at once. Writes of every size up
     * to the pipe's end segments at every offset; the peak stays exact. */
    enum { BSIZE = 64 };
    tp_pipe *p = tp_pipe_new(BSIZE, false, false, 0, NULL);
    char src[BSIZE], buf[BSIZE];
    tt_fill_pattern(src, sizeof src, 3);
    for (size_t n = 1; n <= BSIZE; n++) {
        for (int round = 0; round < 3; round++) {
            assert_fails_with(tp_pipe_read(p, buf, sizeof buf), EAGAIN);
            size_t done = 0;
            while (done + n <= BSIZE) {
                assert_int_equal(tp_pipe_write(p, src, n), n);
                done += n;
            }
            assert_int_equal(tp_pipe_canwrite(p), BSIZE - done);
            if (done == BSIZE) /* and no room is made up */
                assert_fails_with(tp_pipe_write(p, src, n), EAGAIN);
            for (size_t got = 0; got < done;) {
                ssize_t r = tp_pipe_read(p, buf, n);
                assert_int_equal(r, n);
                assert_memory_equal(buf, src, n);
                got += (size_t)r;
            }
        }
    }
    tp_pipe_stats st;
    assert_int_equal(tp_pipe_get_stats(p, &st), 0);
    assert_int_equal(st.peak_buffered, BSIZE);
    assert_int_equal(st.buffered, 0);
    tp_pipe_free(p);
}

/* One step of small_writes_follow_the_tail: writes up to n more bytes of
 * src (as `how` says) or reads some into out. Returns what it moved. */
enum tail_step { SMALL_WRITE, LARGE_WRITE, REF_WRITE, DRAIN, PART_READ };

static size_t tail_step(tp_pipe *p, enum tail_step how, const unsigned char *src, size_t n,
                        unsigned char *out, size_t unread)
{
    ssize_t r;
    switch (how) {
    case SMALL_WRITE:
    case LARGE_WRITE:
        r = tp_pipe_write(p, src, n);
        break;
    case REF_WRITE:
        r = tp_pipe_write_ref(p, src, n, NULL, NULL);
        break;
    case DRAIN:
    case PART_READ:
    default:
        r = tp_pipe_read(p, out, how == DRAIN ? unread : (unread + 1) / 2);
        break;
    }
    assert_true(r > 0);
    return (size_t)r;
}

static void small_writes_follow_the_tail(void **state)
{
    (void)state;
    /* Writers keep their own copy of where the tail ends. Every other
     * way the tail changes must not leave a small write appending at a
     * stale place: a reader rewinding a drained tail, a new segment, a
     * write_ref, a large write, a drained segment recycled at the same
     * address. A schedule of them all, the stream checked byte for byte. */
    enum { BSIZE = 65536, TOTAL = 4 << 20 };
    tp_pipe *p = tp_pipe_new(BSIZE, false, false, 0, NULL);
    unsigned char *src = malloc(TOTAL), *out = malloc(TOTAL);
    tt_fill_pattern(src, TOTAL, 11);
    size_t written = 0, got = 0;
    unsigned rng = 1;
    while (written < TOTAL) {
        rng = rng * 1103515245u + 12345u;
        unsigned r = rng >> 8;
        /* Mostly small writes, so that segments grow roomy before a
         * write_ref or a large write comes. */
        static const enum tail_step mix[16] = {SMALL_WRITE, SMALL_WRITE, SMALL_WRITE, SMALL_WRITE,
                                               SMALL_WRITE, SMALL_WRITE, SMALL_WRITE, SMALL_WRITE,
                                               SMALL_WRITE, LARGE_WRITE, REF_WRITE,   DRAIN,
                                               DRAIN,       DRAIN,       PART_READ,   PART_READ};
        enum tail_step how = mix[r % 16];
        size_t unread = written - got, room = unread < BSIZE ? BSIZE - unread : 0;
        size_t n = how == SMALL_WRITE   ? 1 + r % 300
                   : how == LARGE_WRITE ? 5000 + r % 20000
                                        : 1 + r % 9000;
        if (n > TOTAL - written)
            n = TOTAL - written;
        if (how <= REF_WRITE && (room == 0 || (how != REF_WRITE && n > room)))
            how = DRAIN; /* a non-blocking write would take less, or fail */
        if (how >= DRAIN && unread == 0)
            continue;
        if (how <= REF_WRITE)
            written += tail_step(p, how, src + written, n, NULL, unread);
        else
            got += tail_step(p, how, NULL, 0, out + got, unread);
    }
    tp_pipe_write_eof(p);
    size_t len;
    unsigned char *rest = tt_drain(p, &len);
    assert_int_equal(got + len, TOTAL);
    memcpy(out + got, rest, len);
    assert_memory_equal(out, src, TOTAL);
    free(rest);
    free(out);
    free(src);
    tp_pipe_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_copies_data),
        cmocka_unit_test(write_partial_at_most_canwrite),
        cmocka_unit_test(write_blocking_partial_does_not_wait),
        cmocka_unit_test(write_blocking_partial_short_timeout),
        cmocka_unit_test(write_full_nonblocking_eagain),
        cmocka_unit_test(write_full_blocking_times_out),
        cmocka_unit_test(write_full_timeout_zero),
        cmocka_unit_test(write_blocked_woken_by_reader),
        cmocka_unit_test(write_epipe_after_eof),
        cmocka_unit_test(write_epipe_after_close),
        cmocka_unit_test(write_zero_returns_zero),
        cmocka_unit_test(write_eof_while_waiting_epipe),
        cmocka_unit_test(write_close_while_waiting_epipe),
        cmocka_unit_test(write_stream_order_across_many_writes),
        cmocka_unit_test(write_sees_every_byte_the_reader_freed),
        cmocka_unit_test(small_writes_follow_the_tail),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
