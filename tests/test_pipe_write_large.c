/* test_pipe_write_large.c - tp_pipe_write of more than 4 KiB on a pipe that
 * already has a tail: such a write may copy its bytes before there is room
 * for them and link them once there is. Seen from outside it must behave
 * as any write: all of it once the reader makes room, only what fits when
 * the reader stops, ETIMEDOUT, EAGAIN and EPIPE as the pipe's state says,
 * and never a byte out of place. */
#include "test_util.h"

#define BIG 65536

/* A blocking pipe of BIG bytes, full of the pattern from offset 0, with a
 * tail segment that writers can link after. */
static tp_pipe *full_pipe(double timeout)
{
    tp_pipe *p = tp_pipe_new(BIG, true, true, timeout, NULL);
    unsigned char *src = malloc(BIG);
    assert_non_null(src);
    tt_fill_pattern(src, BIG, 0);
    assert_int_equal(tp_pipe_write(p, src, BIG), BIG);
    free(src);
    assert_int_equal(tp_pipe_canwrite(p), 0);
    return p;
}

/* Reads n bytes and checks they are the pattern from `offset`. */
static void expect_pattern(tp_pipe *p, size_t n, uint64_t offset)
{
    unsigned char *want = malloc(n), *got = malloc(n);
    assert_non_null(want);
    assert_non_null(got);
    tt_fill_pattern(want, n, offset);
    for (size_t have = 0; have < n;) {
        ssize_t r = tp_pipe_read(p, got + have, n - have);
        assert_true(r > 0);
        have += (size_t)r;
    }
    assert_memory_equal(got, want, n);
    free(want);
    free(got);
}

static void large_write_waits_for_room_then_writes_all(void **state)
{
    (void)state;
    tp_pipe *p = full_pipe(TP_FOREVER);
    unsigned char *next = malloc(BIG);
    assert_non_null(next);
    tt_fill_pattern(next, BIG, BIG);
    tt_op op = {.src = next, .n = BIG};
    tt_op_start_blocked(&op, TT_WRITE, p);
    /* One read frees the whole pipe at once: room for all of the write. */
    expect_pattern(p, BIG, 0);
    tt_op_join(&op);
    assert_int_equal(op.ret, BIG);
    expect_pattern(p, BIG, BIG);
    assert_true(tp_pipe_empty(p));
    free(next);
    tp_pipe_free(p);
}

static void large_write_with_some_room_writes_what_fits(void **state)
{
    (void)state;
    /* 48 KiB buffered, 16 KiB of room, and no reader: a blocking write of
     * 64 KiB copies the 16 KiB that fit and returns, as a small one does. */
    tp_pipe *p = tp_pipe_new(BIG, true, true, TP_FOREVER, NULL);
    unsigned char *src = malloc(2 * BIG);
    assert_non_null(src);
    tt_fill_pattern(src, 2 * BIG, 0);
    const size_t first = 3 * BIG / 4;
    assert_int_equal(tp_pipe_write(p, src, first), first);
    assert_int_equal(tp_pipe_write(p, src + first, BIG), BIG - first);
    assert_int_equal(tp_pipe_buffered(p), BIG);
    /* Nothing of the 48 KiB it copied but could not fit shows up later,
     * even beside the bytes of the next write. */
    expect_pattern(p, BIG / 2, 0);
    memset(src, 0xab, BIG / 2);
    assert_int_equal(tp_pipe_write(p, src, BIG / 2), BIG / 2);
    expect_pattern(p, BIG / 2, BIG / 2);
    unsigned char got[BIG / 2];
    assert_int_equal(tp_pipe_read(p, got, sizeof got), sizeof got);
    assert_memory_equal(got, src, sizeof got);
    assert_true(tp_pipe_empty(p));
    free(src);
    tp_pipe_free(p);
}

static void large_write_that_fits_is_written_whole(void **state)
{
    (void)state;
    /* More than the writer copies ahead while it waits (1 MiB), but it
     * all fits: one call takes it all. */
    const size_t n = 3 * 1024 * 1024;
    tp_pipe *p = tp_pipe_new(4 * 1024 * 1024, true, true, TP_FOREVER, NULL);
    unsigned char *src = malloc(n + 1);
    assert_non_null(src);
    tt_fill_pattern(src, n + 1, 0);
    assert_int_equal(tp_pipe_write(p, src, 1), 1); /* a tail to link after */
    assert_int_equal(tp_pipe_write(p, src + 1, n), n);
    assert_int_equal(tp_pipe_buffered(p), n + 1);
    expect_pattern(p, n + 1, 0);
    free(src);
    tp_pipe_free(p);
}

static void large_write_times_out_on_a_full_pipe(void **state)
{
    (void)state;
    tp_pipe *p = full_pipe(0.2);
    unsigned char *src = calloc(1, BIG);
    assert_non_null(src);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_write(p, src, BIG), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    assert_int_equal(tp_pipe_buffered(p), BIG);
    expect_pattern(p, BIG, 0); /* nothing of the failed write got in */
    free(src);
    tp_pipe_free(p);
}

static void large_write_nonblocking_full_pipe_eagain(void **state)
{
    (void)state;
    tp_pipe *p = full_pipe(TP_FOREVER);
    tp_pipe_set_writeblocking(p, false);
    unsigned char *src = calloc(1, BIG);
    assert_non_null(src);
    assert_fails_with(tp_pipe_write(p, src, BIG), EAGAIN);
    assert_fails_with(tp_pipe_write_timed(p, src, BIG, 0), EAGAIN);
    tp_pipe_set_writeblocking(p, true);
    assert_fails_with(tp_pipe_write_timed(p, src, BIG, 0), ETIMEDOUT);
    assert_int_equal(tp_pipe_buffered(p), BIG);
    free(src);
    tp_pipe_free(p);
}

/* A large write blocked on a full pipe, then `end` (EOF or close). */
static void large_write_ended_while_waiting(void (*end)(tp_pipe *))
{
    tp_pipe *p = full_pipe(TP_FOREVER);
    unsigned char *src = calloc(1, BIG);
    assert_non_null(src);
    tt_op op = {.src = src, .n = BIG};
    tt_op_start_blocked(&op, TT_WRITE, p);
    end(p);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    free(src);
    tp_pipe_free(p);
}

static void write_eof(tp_pipe *p)
{
    assert_int_equal(tp_pipe_write_eof(p), 0);
}

static void large_write_eof_while_waiting_epipe(void **state)
{
    (void)state;
    large_write_ended_while_waiting(write_eof);
}

static void large_write_close_while_waiting_epipe(void **state)
{
    (void)state;
    large_write_ended_while_waiting(tp_pipe_close);
}

static void large_write_after_small_ones_keeps_order(void **state)
{
    (void)state;
    /* Small writes leave a tail with free space; a large write must not
     * leave it stranded or put its bytes before theirs. Round after round,
     * with the reader taking a little less than was written. */
    tp_pipe *p = tp_pipe_new(4 * BIG, true, true, TP_FOREVER, NULL);
    enum { ROUNDS = 64, SMALL = 100, LARGE = 3 * 4096 + 7 };
    size_t total = (size_t)ROUNDS * (3 * SMALL + LARGE);
    unsigned char *src = malloc(total);
    assert_non_null(src);
    tt_fill_pattern(src, total, 0);
    size_t written = 0, read = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < 3; i++, written += SMALL)
            assert_int_equal(tp_pipe_write(p, src + written, SMALL), SMALL);
        assert_int_equal(tp_pipe_write(p, src + written, LARGE), LARGE);
        written += LARGE;
        size_t take = tp_pipe_buffered(p) - SMALL;
        expect_pattern(p, take, read);
        read += take;
    }
    expect_pattern(p, written - read, read);
    assert_true(tp_pipe_empty(p));
    free(src);
    tp_pipe_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(large_write_waits_for_room_then_writes_all),
        cmocka_unit_test(large_write_with_some_room_writes_what_fits),
        cmocka_unit_test(large_write_that_fits_is_written_whole),
        cmocka_unit_test(large_write_times_out_on_a_full_pipe),
        cmocka_unit_test(large_write_nonblocking_full_pipe_eagain),
        cmocka_unit_test(large_write_eof_while_waiting_epipe),
        cmocka_unit_test(large_write_close_while_waiting_epipe),
        cmocka_unit_test(large_write_after_small_ones_keeps_order),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
