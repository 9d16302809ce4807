/* test_fds.c - the pollable readiness fds: tp_pipe_read_fd, tp_pipe_write_fd,
 * tp_event_fd and line-aware readiness (tp_pipe_set_read_fd_match). */
#define _POSIX_C_SOURCE 200809L
#include "adapters_util.h"

static void fds_are_stable_and_distinct(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, "fds");
    int r = tp_pipe_read_fd(p), w = tp_pipe_write_fd(p);
    assert_true(r >= 0);
    assert_true(w >= 0);
    assert_int_not_equal(r, w);
    assert_int_equal(tp_pipe_read_fd(p), r);
    assert_int_equal(tp_pipe_write_fd(p), w);
    tp_pipe_free(p);
}

static void fds_reject_null(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_fails_with(tp_pipe_read_fd(NULL), EINVAL);
    assert_fails_with(tp_pipe_write_fd(NULL), EINVAL);
    assert_fails_with(tp_event_fd(NULL), EINVAL);
    assert_fails_with(tp_pipe_set_read_fd_match(NULL, "\n", 1), EINVAL);
    assert_fails_with(tp_pipe_set_read_fd_match(p, "\n", 0), EINVAL);
    char big[65] = {0};
    assert_fails_with(tp_pipe_set_read_fd_match(p, big, sizeof big), EINVAL);
    assert_int_equal(tp_pipe_set_read_fd_match(p, big, 64), 0);
    assert_int_equal(tp_pipe_set_read_fd_match(p, NULL, 0), 0);
    tp_pipe_free(p);
}

static void read_fd_follows_buffered_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    int fd = tp_pipe_read_fd(p);
    char buf[8];
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write(p, "a", 1), 1);
    assert_readable(fd, true);
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 1);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_int_equal(tp_pipe_read(p, buf, 1), 1);
    assert_readable(fd, true); /* level-triggered: still data */
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 2);
    assert_readable(fd, false);
    tp_pipe_free(p);
}

static void read_fd_made_after_data_is_readable(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "xy", 2), 2);
    assert_readable(tp_pipe_read_fd(p), true);
    tp_pipe_free(p);
}

static void read_fd_follows_ref_and_view(void **state)
{
    (void)state;
    static const char data[] = "zero-copy";
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    int fd = tp_pipe_read_fd(p);
    assert_int_equal(tp_pipe_write_ref(p, data, 9, NULL, NULL), 9);
    assert_readable(fd, true);
    const void *d;
    tp_view *v;
    assert_int_equal(tp_pipe_read_view(p, 9, &d, &v), 9);
    assert_readable(fd, false);
    tp_view_release(v);
    tp_pipe_free(p);
}

static void read_fd_readable_at_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    int fd = tp_pipe_read_fd(p);
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    char buf[8];
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 2);
    /* Drained, but EOF: the next read returns 0 at once, so readable. */
    assert_readable(fd, true);
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 0);
    assert_readable(fd, true);
    tp_pipe_free(p);
}

static void close_makes_both_fds_readable(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, false, false, TP_FOREVER, NULL);
    int r = tp_pipe_read_fd(p), w = tp_pipe_write_fd(p);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4); /* full: w not readable */
    assert_readable(w, false);
    tp_pipe_close(p);
    assert_readable(r, true);
    assert_readable(w, true);
    tp_pipe_free(p);
}

static void fds_made_after_close_are_readable(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, false, false, TP_FOREVER, NULL);
    tp_pipe_close(p);
    assert_readable(tp_pipe_read_fd(p), true);
    assert_readable(tp_pipe_write_fd(p), true);
    tp_pipe_free(p);
}

static void write_fd_follows_room(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, false, false, TP_FOREVER, NULL);
    int fd = tp_pipe_write_fd(p);
    char buf[8];
    assert_readable(fd, true);
    assert_int_equal(tp_pipe_write(p, "1234567", 7), 7);
    assert_readable(fd, true); /* one byte of room left */
    assert_int_equal(tp_pipe_write(p, "8", 1), 1);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_read(p, buf, 1), 1);
    assert_readable(fd, true);
    tp_pipe_free(p);
}

static void write_fd_readable_after_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, false, false, TP_FOREVER, NULL);
    int fd = tp_pipe_write_fd(p);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    /* The writer must learn that writing is over. */
    assert_readable(fd, true);
    tp_pipe_free(p);
}

static void read_fd_wakes_poller_on_write(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    at_poller pl;
    at_poller_start(&pl, tp_pipe_read_fd(p));
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    at_poller_join_readable(&pl);
    tp_pipe_free(p);
}

static void read_fd_wakes_poller_on_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    at_poller pl;
    at_poller_start(&pl, tp_pipe_read_fd(p));
    assert_int_equal(tp_pipe_write_eof(p), 0);
    at_poller_join_readable(&pl);
    tp_pipe_free(p);
}

static void read_fd_wakes_poller_on_close(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    at_poller pl;
    at_poller_start(&pl, tp_pipe_read_fd(p));
    tp_pipe_close(p);
    at_poller_join_readable(&pl);
    tp_pipe_free(p);
}

static void write_fd_wakes_poller_on_read(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, false, false, TP_FOREVER, NULL);
    char buf[4];
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    at_poller pl;
    at_poller_start(&pl, tp_pipe_write_fd(p));
    assert_int_equal(tp_pipe_read(p, buf, 2), 2);
    at_poller_join_readable(&pl);
    tp_pipe_free(p);
}

static void write_fd_wakes_poller_on_close(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    at_poller pl;
    at_poller_start(&pl, tp_pipe_write_fd(p));
    tp_pipe_close(p);
    at_poller_join_readable(&pl);
    tp_pipe_free(p);
}

/* A reader that drains until EAGAIN after each wake-up sees every byte,
 * which is what edge-triggered use relies on. */
struct stream_ctx {
    tp_pipe *p;
    size_t total;
};

static void *stream_writer(void *arg)
{
    struct stream_ctx *c = arg;
    unsigned char buf[700];
    for (size_t off = 0; off < c->total;) {
        size_t n = c->total - off < sizeof buf ? c->total - off : sizeof buf;
        tt_fill_pattern(buf, n, off);
        for (size_t done = 0; done < n;) {
            ssize_t w = tp_pipe_write(c->p, buf + done, n - done);
            assert_true(w > 0);
            done += (size_t)w;
        }
        off += n;
    }
    tp_pipe_write_eof(c->p);
    return NULL;
}

static void read_fd_drives_nonblocking_reader(void **state)
{
    (void)state;
    struct stream_ctx c = {tp_pipe_new(1024, false, true, TP_FOREVER, "poll-reader"), 200000};
    int fd = tp_pipe_read_fd(c.p);
    tt_thread th;
    tt_thread_start(&th, stream_writer, &c);
    unsigned char buf[512];
    size_t got = 0;
    for (bool eof = false; !eof;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        assert_int_equal(poll(&pfd, 1, 30000), 1);
        for (;;) {
            ssize_t r = tp_pipe_read(c.p, buf, sizeof buf);
            if (r == 0) {
                eof = true;
                break;
            }
            if (r < 0) {
                assert_int_equal(errno, EAGAIN);
                break;
            }
            at_assert_pattern(buf, (size_t)r, got);
            got += (size_t)r;
        }
    }
    tt_thread_join(&th);
    assert_int_equal(got, c.total);
    tp_pipe_free(c.p);
}

static void event_fd_follows_event(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    int fd = tp_event_fd(ev);
    assert_true(fd >= 0);
    assert_int_equal(tp_event_fd(ev), fd);
    assert_readable(fd, false);
    tp_event_set(ev);
    assert_readable(fd, true);
    tp_event_set(ev); /* idempotent */
    assert_readable(fd, true);
    tp_event_clear(ev);
    assert_readable(fd, false);
    tp_event_clear(ev);
    assert_readable(fd, false);
    tp_event_free(ev);
}

static void event_fd_made_while_set_is_readable(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    tp_event_set(ev);
    assert_readable(tp_event_fd(ev), true);
    tp_event_free(ev);
}

static void event_fd_wakes_poller_on_set(void **state)
{
    (void)state;
    tp_event *ev = tp_event_new();
    at_poller pl;
    at_poller_start(&pl, tp_event_fd(ev));
    tp_event_set(ev);
    at_poller_join_readable(&pl);
    tp_event_free(ev);
}

static void event_fd_follows_rflag(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, false, false, TP_FOREVER, NULL);
    tp_event *ev = tp_event_new();
    int fd = tp_event_fd(ev);
    tp_pipe_set_rflag(p, ev);
    char buf[4];
    assert_int_equal(tp_pipe_write(p, "abcd", 4), 4);
    assert_int_equal(tp_pipe_canwrite(p), 0); /* clears the rflag */
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_read(p, buf, 1), 1); /* a reader came */
    assert_readable(fd, true);
    tp_pipe_set_rflag(p, NULL);
    tp_pipe_free(p);
    tp_event_free(ev);
}

static void line_fd_waits_for_delimiter(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    int fd = tp_pipe_read_fd(p);
    char buf[64];
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_readable(fd, false); /* data, but no whole line */
    assert_int_equal(tp_pipe_write(p, "d\nef", 4), 4);
    assert_readable(fd, true);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "abcd\n", 5);
    assert_readable(fd, false); /* "ef" is left: no line */
    assert_int_equal(tp_pipe_write(p, "\ng\nh", 4), 4);
    assert_readable(fd, true);
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 3);
    assert_readable(fd, true); /* "g\n" still there */
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 2);
    assert_readable(fd, false);
    tp_pipe_free(p);
}

static void line_fd_finds_split_delimiter(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\r\n", 2), 0);
    int fd = tp_pipe_read_fd(p);
    assert_int_equal(tp_pipe_write(p, "hello\r", 6), 6);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write(p, "\n", 1), 1);
    assert_readable(fd, true);
    void *line = NULL;
    assert_int_equal(tp_pipe_readmatch(p, NULL, 0, &line), 7);
    tp_free(line);
    assert_readable(fd, false);
    tp_pipe_free(p);
}

static void line_fd_readable_when_full(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    int fd = tp_pipe_read_fd(p);
    assert_int_equal(tp_pipe_write(p, "1234567", 7), 7);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write(p, "8", 1), 1);
    /* Full without a match: readmatch would fail with ENOBUFS at once. */
    assert_readable(fd, true);
    char buf[16];
    assert_fails_with(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), ENOBUFS);
    tp_pipe_free(p);
}

static void line_fd_readable_at_eof_and_close(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    int fd = tp_pipe_read_fd(p);
    assert_int_equal(tp_pipe_write(p, "tail", 4), 4);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_readable(fd, true);
    tp_pipe *q = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_set_read_fd_match(q, "\n", 1), 0);
    int qfd = tp_pipe_read_fd(q);
    assert_int_equal(tp_pipe_write(q, "part", 4), 4);
    tp_pipe_close(q);
    assert_readable(qfd, true);
    tp_pipe_free(q);
    tp_pipe_free(p);
}

static void line_fd_match_change_takes_effect(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    int fd = tp_pipe_read_fd(p);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_readable(fd, true);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    assert_readable(fd, false); /* a partial line no longer counts */
    assert_int_equal(tp_pipe_set_read_fd_match(p, "b", 1), 0);
    assert_readable(fd, true); /* "ab" is a whole record for this delimiter */
    assert_int_equal(tp_pipe_set_read_fd_match(p, NULL, 0), 0);
    assert_readable(fd, true);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_set_read_fd_match(p, NULL, 0), 0);
    assert_readable(fd, true); /* plain readiness again */
    tp_pipe_free(p);
}

static void line_fd_delimiter_is_copied(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    char delim[2] = {'|', 0};
    assert_int_equal(tp_pipe_set_read_fd_match(p, delim, 1), 0);
    delim[0] = 'x';
    int fd = tp_pipe_read_fd(p);
    assert_int_equal(tp_pipe_write(p, "axb", 3), 3);
    assert_readable(fd, false);
    assert_int_equal(tp_pipe_write(p, "|", 1), 1);
    assert_readable(fd, true);
    tp_pipe_free(p);
}

/* A poller woken through a line-aware fd must find a whole line: the
 * partial write before it must not have woken it. */
static void line_fd_wakes_poller_only_for_line(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(64, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    at_poller pl;
    at_poller_start(&pl, tp_pipe_read_fd(p));
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_int_equal(tp_pipe_write(p, "\n", 1), 1);
    at_poller_join_readable(&pl);
    char buf[8];
    assert_int_equal(tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0), 4);
    tp_pipe_free(p);
}

/* One wake-up per line: a reader that drains whole lines after each poll
 * never finds the fd readable without a line (or EOF) to take. */
static void *line_writer(void *arg)
{
    tp_pipe *p = arg;
    for (int i = 0; i < 300; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        for (int k = 0; k < n; k++) /* a byte at a time: many partial states */
            while (tp_pipe_write(p, line + k, 1) != 1)
                assert_int_equal(tp_pipe_write_wait(p, 30), 0);
    }
    tp_pipe_write_eof(p);
    return NULL;
}

static void line_fd_never_wakes_without_line(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(256, false, false, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    int fd = tp_pipe_read_fd(p);
    tt_thread th;
    tt_thread_start(&th, line_writer, p);
    int lines = 0, empty = 0;
    for (bool eof = false; !eof;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        assert_int_equal(poll(&pfd, 1, 30000), 1);
        int got = 0;
        for (;;) {
            char buf[32], want[32];
            ssize_t n = tp_pipe_readmatch_into(p, "\n", 1, buf, sizeof buf, 0);
            if (n == 0) {
                eof = true;
                got++;
                break;
            }
            if (n < 0) {
                assert_int_equal(errno, EAGAIN);
                break;
            }
            int wn = snprintf(want, sizeof want, "line %d\n", lines++);
            assert_int_equal(n, wn);
            assert_memory_equal(buf, want, (size_t)wn);
            got++;
        }
        empty += got == 0;
    }
    tt_thread_join(&th);
    assert_int_equal(lines, 300);
    assert_int_equal(empty, 0);
    tp_pipe_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fds_are_stable_and_distinct),
        cmocka_unit_test(fds_reject_null),
        cmocka_unit_test(read_fd_follows_buffered_data),
        cmocka_unit_test(read_fd_made_after_data_is_readable),
        cmocka_unit_test(read_fd_follows_ref_and_view),
        cmocka_unit_test(read_fd_readable_at_eof),
        cmocka_unit_test(close_makes_both_fds_readable),
        cmocka_unit_test(fds_made_after_close_are_readable),
        cmocka_unit_test(write_fd_follows_room),
        cmocka_unit_test(write_fd_readable_after_eof),
        cmocka_unit_test(read_fd_wakes_poller_on_write),
        cmocka_unit_test(read_fd_wakes_poller_on_eof),
        cmocka_unit_test(read_fd_wakes_poller_on_close),
        cmocka_unit_test(write_fd_wakes_poller_on_read),
        cmocka_unit_test(write_fd_wakes_poller_on_close),
        cmocka_unit_test(read_fd_drives_nonblocking_reader),
        cmocka_unit_test(event_fd_follows_event),
        cmocka_unit_test(event_fd_made_while_set_is_readable),
        cmocka_unit_test(event_fd_wakes_poller_on_set),
        cmocka_unit_test(event_fd_follows_rflag),
        cmocka_unit_test(line_fd_waits_for_delimiter),
        cmocka_unit_test(line_fd_finds_split_delimiter),
        cmocka_unit_test(line_fd_readable_when_full),
        cmocka_unit_test(line_fd_readable_at_eof_and_close),
        cmocka_unit_test(line_fd_match_change_takes_effect),
        cmocka_unit_test(line_fd_delimiter_is_copied),
        cmocka_unit_test(line_fd_wakes_poller_only_for_line),
        cmocka_unit_test(line_fd_never_wakes_without_line),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
