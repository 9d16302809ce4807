/* test_timed_iov.c - per-call timeouts (read/write/readmatch _timed),
 * tp_pipe_readmatch_into, and vectored tp_pipe_readv / tp_pipe_writev. */
#define _POSIX_C_SOURCE 200809L
#include "adapters_util.h"

#include <limits.h>
#include <math.h>

static void read_timed_times_out_no_earlier(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    char buf[4];
    double t0 = tt_now();
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, 0.05), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.05);
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, 0), ETIMEDOUT);
    tp_pipe_free(p);
}

static void read_timed_overrides_pipe_timeout(void **state)
{
    (void)state;
    /* The pipe's own timeout is shorter: the call's must win. */
    tp_pipe *p = tp_pipe_new(0, true, true, 0.001, NULL);
    char buf[4];
    double t0 = tt_now();
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, 0.1), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.1);
    tp_pipe_free(p);
}

static void read_timed_keeps_mode_and_checks(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, true, TP_FOREVER, NULL);
    char buf[4];
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, 10), EAGAIN);
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, NAN), EINVAL);
    assert_fails_with(tp_pipe_read_timed(NULL, buf, sizeof buf, 1), EINVAL);
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    assert_int_equal(tp_pipe_read_timed(p, buf, sizeof buf, 0), 2);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_read_timed(p, buf, sizeof buf, 0), 0);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_read_timed(p, buf, sizeof buf, 1), EPIPE);
    tp_pipe_free(p);
}

static void *write_xyz(void *arg)
{
    assert_int_equal(tp_pipe_write(arg, "xyz", 3), 3);
    return NULL;
}

static void read_timed_wakes_on_data(void **state)
{
    (void)state;
    /* The pipe would give up after 1 ms; the call waits up to 30 s. */
    tp_pipe *p = tp_pipe_new(0, true, true, 0.001, NULL);
    tt_thread th;
    tt_thread_start(&th, write_xyz, p);
    char buf[4];
    assert_int_equal(tp_pipe_read_timed(p, buf, sizeof buf, 30), 3);
    assert_memory_equal(buf, "xyz", 3);
    tt_thread_join(&th);
    tp_pipe_free(p);
}

static void write_timed_times_out_no_earlier(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_write_timed(p, "e", 1, 0.05), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.05);
    assert_fails_with(tp_pipe_write_timed(p, "e", 1, 0), ETIMEDOUT);
    assert_fails_with(tp_pipe_write_timed(p, "e", 1, NAN), EINVAL);
    tp_pipe_set_writeblocking(p, false);
    assert_fails_with(tp_pipe_write_timed(p, "e", 1, 10), EAGAIN);
    assert_int_equal(tp_pipe_buffered(p), 4);
    tp_pipe_free(p);
}

static void write_timed_partial_and_epipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, 0.001, NULL);
    assert_int_equal(tp_pipe_write_timed(p, "abcdef", 6, 5), 4);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_fails_with(tp_pipe_write_timed(p, "x", 1, 5), EPIPE);
    tp_pipe_free(p);
}

static void write_timed_overrides_pipe_timeout(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, 0.001, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_write_timed(p, "e", 1, 0.1), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.1);
    tp_pipe_free(p);
}

static void readmatch_timed_times_out_no_earlier(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, NULL);
    void *out = (void *)1;
    assert_int_equal(tp_pipe_write(p, "partial", 7), 7);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_readmatch_timed(p, "\n", 1, &out, 0.05), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.05);
    assert_null(out);
    assert_int_equal(tp_pipe_buffered(p), 7);
    assert_fails_with(tp_pipe_readmatch_timed(p, "\n", 1, &out, NAN), EINVAL);
    assert_int_equal(tp_pipe_write(p, "\n", 1), 1);
    assert_int_equal(tp_pipe_readmatch_timed(p, "\n", 1, &out, 0), 8);
    assert_memory_equal(out, "partial\n", 8);
    tp_free(out);
    tp_pipe_free(p);
}

static void readmatch_timed_eof_and_enobufs(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, false, true, TP_FOREVER, NULL);
    void *out = NULL;
    assert_fails_with(tp_pipe_readmatch_timed(p, "\n", 1, &out, 1), EAGAIN);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_fails_with(tp_pipe_readmatch_timed(p, "\n", 1, &out, 1), ENOBUFS);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_readmatch_timed(p, "\n", 1, &out, 1), 0);
    assert_null(out);
    tp_pipe_free(p);
}

static void readmatch_into_copies_lines(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char buf[16];
    assert_int_equal(tp_pipe_write(p, "ab\ncd", 5), 5);
    assert_int_equal(tp_pipe_write(p, "\nrest", 5), 5);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "ab\n", 3);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "cd\n", 3);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), EAGAIN);
    assert_int_equal(tp_pipe_buffered(p), 4);
    tp_pipe_free(p);
}

static void readmatch_into_default_crlf(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char buf[16];
    assert_int_equal(tp_pipe_write(p, "a\nb\r\nc", 6), 6);
    assert_int_equal(tp_pipe_readmatch_into(p, NULL, 99, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "a\nb\r\n", 5);
    tp_pipe_free(p);
}

static void readmatch_into_exact_fit(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char buf[4];
    assert_int_equal(tp_pipe_write(p, "abc\n", 4), 4);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, 4, 0), 4);
    assert_memory_equal(buf, "abc\n", 4);
    tp_pipe_free(p);
}

static void readmatch_into_long_line_emsgsize(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char buf[16];
    assert_int_equal(tp_pipe_write(p, "abcdef\nxy", 9), 9);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, 4, 0), EMSGSIZE);
    assert_int_equal(tp_pipe_buffered(p), 9); /* nothing consumed */
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 7);
    assert_memory_equal(buf, "abcdef\n", 7);
    /* Again once the search is set up (the path later lines take). */
    assert_int_equal(tp_pipe_write(p, "zw\n", 3), 3);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, 4, 0), EMSGSIZE);
    assert_int_equal(tp_pipe_buffered(p), 5);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "xyzw\n", 5);
    tp_pipe_free(p);
}

static void readmatch_into_cap_without_match_emsgsize(void **state)
{
    (void)state;
    /* cap bytes buffered, no delimiter: it can never fit, so EMSGSIZE even
     * on a blocking end (not a wait) and with room left in the pipe. */
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, NULL);
    char buf[4];
    assert_int_equal(tp_pipe_write(p, "abcdefgh", 8), 8);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, 4, 5), EMSGSIZE);
    assert_int_equal(tp_pipe_buffered(p), 8);
    char all[8];
    assert_int_equal(tp_pipe_read(p, all, sizeof all), 8);
    assert_memory_equal(all, "abcdefgh", 8);
    tp_pipe_free(p);
}

static void readmatch_into_errors(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    char buf[16];
    assert_fails_with(tp_pipe_readmatch_into(NULL, "\n", 1, buf, sizeof buf, 0), EINVAL);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 0, buf, sizeof buf, 0), EINVAL);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, NAN), EINVAL);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, NULL, 4, 0), EINVAL);
    /* No buffer and no room: no line could ever fit, so no wait either. */
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, NULL, 0, 1), EMSGSIZE);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0.05), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.05);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), ENOBUFS);
    assert_int_equal(tp_pipe_buffered(p), 4);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 0);
    assert_int_equal(tp_pipe_buffered(p), 4); /* remains readable */
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), EPIPE);
    tp_pipe_free(p);
}

static void *line_later(void *arg)
{
    tp_pipe *p = arg;
    assert_int_equal(tp_pipe_write(p, "late\n", 5), 5);
    return NULL;
}

static void readmatch_into_waits_for_line(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, 0.001, NULL);
    char buf[16];
    assert_int_equal(tp_pipe_write(p, "is ", 3), 3);
    tt_thread th;
    tt_thread_start(&th, line_later, p);
    /* Waits with its own timeout (30 s), not the pipe's (1 ms). */
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 30), 8);
    assert_memory_equal(buf, "is late\n", 8);
    tt_thread_join(&th);
    tp_pipe_free(p);
}

static void writev_gathers_in_order(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, NULL);
    struct iovec iov[3] = {{"head:", 5}, {"", 0}, {"body\n", 5}};
    assert_int_equal(tp_pipe_writev(p, iov, 3), 10);
    char buf[16];
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 10);
    assert_memory_equal(buf, "head:body\n", 10);
    tp_pipe_free(p);
}

static void writev_partial_takes_room_only(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, true, false, TP_FOREVER, NULL);
    struct iovec iov[3] = {{"abc", 3}, {"defgh", 5}, {"ijkl", 4}};
    assert_int_equal(tp_pipe_writev(p, iov, 3), 8);
    assert_fails_with(tp_pipe_writev(p, iov, 3), EAGAIN);
    char buf[16];
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 8);
    assert_memory_equal(buf, "abcdefgh", 8);
    tp_pipe_free(p);
}

static void writev_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, true, true, TP_FOREVER, NULL);
    struct iovec iov[1] = {{"a", 1}};
    assert_int_equal(tp_pipe_writev(p, iov, 0), 0);
    assert_int_equal(tp_pipe_writev(p, NULL, 0), 0);
    assert_fails_with(tp_pipe_writev(p, iov, -1), EINVAL);
    assert_fails_with(tp_pipe_writev(p, NULL, 1), EINVAL);
    assert_fails_with(tp_pipe_writev(NULL, iov, 1), EINVAL);
    assert_fails_with(tp_pipe_readv(p, iov, -1), EINVAL);
    assert_fails_with(tp_pipe_readv(p, NULL, 1), EINVAL);
    assert_fails_with(tp_pipe_readv(NULL, iov, 1), EINVAL);
    assert_int_equal(tp_pipe_readv(p, iov, 0), 0);
    /* Lengths that add up past SSIZE_MAX, or past SIZE_MAX: the bases are
     * never touched. */
    struct iovec huge[2] = {{"a", (size_t)SSIZE_MAX}, {"b", (size_t)SSIZE_MAX}};
    struct iovec wraps[2] = {{"a", 1}, {"b", SIZE_MAX}};
    assert_fails_with(tp_pipe_writev(p, huge, 2), EINVAL);
    assert_fails_with(tp_pipe_writev(p, wraps, 2), EINVAL);
    assert_fails_with(tp_pipe_readv(p, huge, 2), EINVAL);
    assert_fails_with(tp_pipe_readv(p, wraps, 2), EINVAL);
    assert_int_equal(tp_pipe_buffered(p), 0);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_fails_with(tp_pipe_writev(p, iov, 1), EPIPE);
    tp_pipe_free(p);
}

/* Two writers send [header][body] records with writev; the bytes of one
 * call must never be split by the other writer. The reader takes whole
 * records only, so the free room is always a multiple of a record and
 * every writev (which copies min(total, room)) must take a whole one. */
struct rec_writer {
    tp_pipe *p;
    char tag;
};

#define RECORDS 2000
#define BODY 37
#define REC (2 + BODY)

static void *record_writer(void *arg)
{
    struct rec_writer *w = arg;
    char head[2] = {'<', w->tag};
    char body[BODY];
    memset(body, w->tag, sizeof body);
    body[BODY - 1] = '>';
    for (int i = 0; i < RECORDS; i++) {
        struct iovec iov[2] = {{head, 2}, {body, BODY}};
        assert_int_equal(tp_pipe_writev(w->p, iov, 2), REC);
    }
    return NULL;
}

static void writev_concurrent_calls_stay_contiguous(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(REC * 8, true, true, TP_FOREVER, NULL);
    struct rec_writer a = {p, 'a'}, b = {p, 'b'};
    tt_thread ta, tb;
    tt_thread_start(&ta, record_writer, &a);
    tt_thread_start(&tb, record_writer, &b);
    int na = 0, nb = 0, torn = 0;
    char rec[REC];
    for (int i = 0; i < 2 * RECORDS; i++) {
        assert_int_equal(tp_pipe_readmatch_into(p, ">", 1, rec, sizeof rec, 30), REC);
        char t = rec[1];
        bool whole = rec[0] == '<' && (t == 'a' || t == 'b');
        for (int k = 2; whole && k < REC - 1; k++)
            whole = rec[k] == t;
        if (!whole)
            torn++;
        na += t == 'a';
        nb += t == 'b';
    }
    tt_thread_join(&ta);
    tt_thread_join(&tb);
    assert_int_equal(torn, 0);
    assert_int_equal(na, RECORDS);
    assert_int_equal(nb, RECORDS);
    tp_pipe_free(p);
}

static void readv_scatters_in_order(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "0123456789", 10), 10);
    char a[3], b[1], c[10];
    struct iovec iov[4] = {{a, 3}, {NULL, 0}, {b, 1}, {c, 10}};
    /* One readv returns 1..n bytes; loop like read(2) until all ten. */
    ssize_t n = tp_pipe_readv(p, iov, 4);
    assert_true(n >= 1);
    char all[14];
    memcpy(all, a, 3);
    memcpy(all + 3, b, 1);
    memcpy(all + 4, c, 10);
    assert_memory_equal(all, "0123456789", (size_t)n);
    size_t got = (size_t)n;
    while (got < 10) {
        ssize_t r = tp_pipe_read(p, all + got, 10 - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(all, "0123456789", 10);
    tp_pipe_free(p);
}

static void readv_takes_across_writes(void **state)
{
    (void)state;
    static const char ref[] = "REFDATA";
    tp_pipe *p = tp_pipe_new(64, false, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "copy-", 5), 5);
    assert_int_equal(tp_pipe_write_ref(p, ref, 7, NULL, NULL), 7);
    char a[6], b[6];
    struct iovec iov[2] = {{a, 6}, {b, 6}};
    size_t got = 0;
    char all[12];
    while (got < 12) {
        ssize_t n = tp_pipe_readv(p, iov, 2);
        assert_true(n > 0);
        memcpy(all + got, a, (size_t)n < 6 ? (size_t)n : 6);
        if (n > 6)
            memcpy(all + got + 6, b, (size_t)n - 6);
        got += (size_t)n;
    }
    assert_memory_equal(all, "copy-REFDATA", 12);
    tp_pipe_free(p);
}

static void readv_eof_eagain_epipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, true, TP_FOREVER, NULL);
    char a[4];
    struct iovec iov[1] = {{a, 4}};
    assert_fails_with(tp_pipe_readv(p, iov, 1), EAGAIN);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_readv(p, iov, 1), 0);
    tp_pipe_close(p);
    assert_fails_with(tp_pipe_readv(p, iov, 1), EPIPE);
    tp_pipe_free(p);
}

static void readv_blocking_times_out(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, true, true, 0.05, NULL);
    char a[4];
    struct iovec iov[1] = {{a, 4}};
    double t0 = tt_now();
    assert_fails_with(tp_pipe_readv(p, iov, 1), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.05);
    tp_pipe_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_timed_times_out_no_earlier),
        cmocka_unit_test(read_timed_overrides_pipe_timeout),
        cmocka_unit_test(read_timed_keeps_mode_and_checks),
        cmocka_unit_test(read_timed_wakes_on_data),
        cmocka_unit_test(write_timed_times_out_no_earlier),
        cmocka_unit_test(write_timed_partial_and_epipe),
        cmocka_unit_test(write_timed_overrides_pipe_timeout),
        cmocka_unit_test(readmatch_timed_times_out_no_earlier),
        cmocka_unit_test(readmatch_timed_eof_and_enobufs),
        cmocka_unit_test(readmatch_into_copies_lines),
        cmocka_unit_test(readmatch_into_default_crlf),
        cmocka_unit_test(readmatch_into_exact_fit),
        cmocka_unit_test(readmatch_into_long_line_emsgsize),
        cmocka_unit_test(readmatch_into_cap_without_match_emsgsize),
        cmocka_unit_test(readmatch_into_errors),
        cmocka_unit_test(readmatch_into_waits_for_line),
        cmocka_unit_test(writev_gathers_in_order),
        cmocka_unit_test(writev_partial_takes_room_only),
        cmocka_unit_test(writev_arguments),
        cmocka_unit_test(writev_concurrent_calls_stay_contiguous),
        cmocka_unit_test(readv_scatters_in_order),
        cmocka_unit_test(readv_takes_across_writes),
        cmocka_unit_test(readv_eof_eagain_epipe),
        cmocka_unit_test(readv_blocking_times_out),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
