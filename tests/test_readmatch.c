/* test_readmatch.c - tp_pipe_readmatch: delimiters, matches split across
 * writes, ENOBUFS, EOF, waiting and timeouts, resumed searches and the
 * linear cost of a line that trickles in. */
#include "test_util.h"

#include <poll.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>

/* Calls readmatch and checks it returned want (a line, or 0 with NULL). */
static void expect_line(tp_pipe *p, const void *match, size_t mlen, const char *want)
{
    void *out = (void *)&out;
    errno = 0;
    ssize_t r = tp_pipe_readmatch(p, match, mlen, &out);
    if (r < 0)
        fail_msg("readmatch failed: errno %d (%s), wanted \"%s\"", errno, strerror(errno), want);
    if (want == NULL) {
        assert_int_equal(r, 0);
        assert_null(out);
        return;
    }
    assert_int_equal(r, strlen(want));
    assert_non_null(out);
    assert_memory_equal(out, want, strlen(want));
    tp_free(out);
}

/* Calls readmatch and checks it failed with err, consuming nothing. */
static void expect_fail(tp_pipe *p, const void *match, size_t mlen, int err)
{
    size_t before = tp_pipe_buffered(p);
    void *out = (void *)&out;
    assert_fails_with(tp_pipe_readmatch(p, match, mlen, &out), err);
    assert_null(out);
    if (err != EPIPE)
        assert_int_equal(tp_pipe_buffered(p), before);
}

static void readmatch_default_crlf(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "ab\r\ncd\r\n\r\n", 10), 10);
    expect_line(p, NULL, 0, "ab\r\n");
    expect_line(p, NULL, 12345, "cd\r\n"); /* mlen ignored with NULL */
    expect_line(p, NULL, 0, "\r\n");
    expect_fail(p, NULL, 0, EAGAIN);
    tp_pipe_free(p);
}

static void readmatch_bare_lf_is_not_crlf(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "a\nb\rc\r\n", 7), 7);
    expect_line(p, NULL, 0, "a\nb\rc\r\n");
    tp_pipe_free(p);
}

static void readmatch_custom_delimiters(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "x||y||z\n||", 10), 10);
    expect_line(p, "||", 2, "x||");
    expect_line(p, "||", 2, "y||");
    expect_line(p, "\n", 1, "z\n");
    expect_line(p, "||", 2, "||"); /* delimiter at the very start */
    tp_pipe_free(p);
}

static void readmatch_nul_delimiter(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "ab\0cd\0\0ef", 9), 9);
    void *out = NULL;
    assert_int_equal(tp_pipe_readmatch(p, "\0\0", 2, &out), 7);
    assert_memory_equal(out, "ab\0cd\0\0", 7);
    tp_free(out);
    assert_int_equal(tp_pipe_buffered(p), 2);
    tp_pipe_free(p);
}

static void readmatch_overlapping_delimiter(void **state)
{
    (void)state;
    /* "aab" in "xaaab": a search that skips the whole partial match "aa"
     * after the first mismatch would miss it. */
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "xaaab", 5), 5);
    expect_line(p, "aab", 3, "xaaab");
    /* The same, split so the resumed search starts inside the match. */
    assert_int_equal(tp_pipe_write(p, "xaa", 3), 3);
    expect_fail(p, "aab", 3, EAGAIN);
    assert_int_equal(tp_pipe_write(p, "a", 1), 1);
    expect_fail(p, "aab", 3, EAGAIN);
    assert_int_equal(tp_pipe_write(p, "b", 1), 1);
    expect_line(p, "aab", 3, "xaaab");
    tp_pipe_free(p);
}

static void readmatch_split_across_writes(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "abc\r", 4), 4);
    expect_fail(p, NULL, 0, EAGAIN);
    assert_int_equal(tp_pipe_write(p, "\ndef", 4), 4);
    expect_line(p, NULL, 0, "abc\r\n");
    assert_int_equal(tp_pipe_buffered(p), 3);
    tp_pipe_free(p);
}

static void readmatch_split_across_write_ref_segments(void **state)
{
    (void)state;
    static const char s1[] = "xx<E", s2[] = "O", s3[] = "R>yy";
    tt_release r1, r2, r3;
    tt_release_init(&r1);
    tt_release_init(&r2);
    tt_release_init(&r3);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write_ref(p, s1, 4, tt_release_cb, &r1), 4);
    expect_fail(p, "<EOR>", 5, EAGAIN);
    assert_int_equal(tp_pipe_write_ref(p, s2, 1, tt_release_cb, &r2), 1);
    expect_fail(p, "<EOR>", 5, EAGAIN);
    assert_int_equal(tp_pipe_write_ref(p, s3, 4, tt_release_cb, &r3), 4);
    expect_line(p, "<EOR>", 5, "xx<EOR>");
    /* The first two buffers are consumed, the third still holds "yy". */
    assert_int_equal(tt_release_calls(&r1), 1);
    assert_int_equal(tt_release_calls(&r2), 1);
    assert_int_equal(tt_release_calls(&r3), 0);
    char buf[4];
    assert_int_equal(tp_pipe_read(p, buf, 4), 2);
    assert_memory_equal(buf, "yy", 2);
    assert_int_equal(tt_release_calls(&r3), 1);
    tp_pipe_free(p);
}

static void readmatch_mixed_copy_and_ref(void **state)
{
    (void)state;
    static const char ref[] = "\nline2";
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "line1\r", 6), 6);
    assert_int_equal(tp_pipe_write_ref(p, ref, 6, NULL, NULL), 6);
    assert_int_equal(tp_pipe_write(p, "\r\n", 2), 2);
    expect_line(p, NULL, 0, "line1\r\n");
    expect_line(p, NULL, 0, "line2\r\n");
    tp_pipe_free(p);
}

static void readmatch_many_lines_in_one_write(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    char text[1000];
    size_t off = 0;
    for (int i = 0; i < 50; i++)
        off += (size_t)snprintf(text + off, sizeof text - off, "line %d\r\n", i);
    assert_int_equal(tp_pipe_write(p, text, off), off);
    for (int i = 0; i < 50; i++) {
        char want[32];
        snprintf(want, sizeof want, "line %d\r\n", i);
        expect_line(p, NULL, 0, want);
    }
    assert_int_equal(tp_pipe_empty(p), true);
    tp_pipe_free(p);
}

static void readmatch_after_partial_read(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "abcd\r\nef\r\n", 10), 10);
    char buf[2];
    assert_int_equal(tp_pipe_read(p, buf, 2), 2);
    expect_line(p, NULL, 0, "cd\r\n");
    expect_line(p, NULL, 0, "ef\r\n");
    tp_pipe_free(p);
}

static void readmatch_resume_after_read_consumed(void **state)
{
    (void)state;
    /* A failed search remembers how far it got; bytes taken by read in
     * between must not confuse the resumed search. */
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdef\r", 7), 7);
    expect_fail(p, NULL, 0, EAGAIN);
    char buf[5];
    assert_int_equal(tp_pipe_read(p, buf, 5), 5);
    assert_memory_equal(buf, "abcde", 5);
    assert_int_equal(tp_pipe_write(p, "\nxyz\r\n", 6), 6);
    expect_line(p, NULL, 0, "f\r\n");
    expect_line(p, NULL, 0, "xyz\r\n");
    /* The same with read_view. */
    assert_int_equal(tp_pipe_write(p, "12345\r", 6), 6);
    expect_fail(p, NULL, 0, EAGAIN);
    const void *d;
    tp_view *v;
    ssize_t r = tp_pipe_read_view(p, 3, &d, &v);
    assert_in_range(r, 1, 3);
    tp_view_release(v);
    assert_int_equal(tp_pipe_write(p, "\n", 1), 1);
    expect_line(p, NULL, 0, &"12345\r\n"[r]);
    tp_pipe_free(p);
}

static void readmatch_resume_with_other_delimiter(void **state)
{
    (void)state;
    /* A search for CRLF that failed must not hide an earlier "-". */
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "a-b-c\r", 6), 6);
    expect_fail(p, NULL, 0, EAGAIN);
    expect_line(p, "-", 1, "a-");
    expect_fail(p, NULL, 0, EAGAIN);
    expect_line(p, "-", 1, "b-");
    assert_int_equal(tp_pipe_write(p, "\n", 1), 1);
    expect_line(p, NULL, 0, "c\r\n");
    tp_pipe_free(p);
}

static void readmatch_enobufs_when_full(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdefg\r", 8), 8);
    expect_fail(p, NULL, 0, ENOBUFS); /* blocking, but it could never match */
    char buf[8];
    assert_int_equal(tp_pipe_read(p, buf, 8), 8);
    assert_memory_equal(buf, "abcdefg\r", 8); /* nothing was consumed */
    tp_pipe_set_readblocking(p, false);
    assert_int_equal(tp_pipe_write(p, "12345678", 8), 8);
    expect_fail(p, "\n", 1, ENOBUFS);
    tp_pipe_free(p);
}

static void readmatch_enobufs_when_overfilled_by_ref(void **state)
{
    (void)state;
    static const char ref[] = "twenty bytes, no end";
    tp_pipe *p = tp_pipe_new(8, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write_ref(p, ref, 20, NULL, NULL), 20);
    expect_fail(p, NULL, 0, ENOBUFS);
    assert_int_equal(tp_pipe_buffered(p), 20);
    /* A match inside the overfilled buffer is found though. */
    expect_line(p, "bytes", 5, "twenty bytes");
    tp_pipe_free(p);
}

static void readmatch_eof_beats_enobufs(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "abcdefgh", 8), 8);
    tp_pipe_write_eof(p);
    expect_line(p, NULL, 0, NULL);
    char buf[8];
    assert_int_equal(tp_pipe_read(p, buf, 8), 8);
    assert_memory_equal(buf, "abcdefgh", 8);
    tp_pipe_free(p);
}

static void readmatch_eof_without_match(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "ab\r\ncd", 6), 6);
    tp_pipe_write_eof(p);
    expect_line(p, NULL, 0, "ab\r\n"); /* a match before EOF is still returned */
    expect_line(p, NULL, 0, NULL);
    assert_int_equal(tp_pipe_buffered(p), 2);
    char buf[4];
    assert_int_equal(tp_pipe_read(p, buf, 4), 2);
    assert_memory_equal(buf, "cd", 2);
    assert_int_equal(tp_pipe_read(p, buf, 4), 0);
    expect_line(p, NULL, 0, NULL);
    tp_pipe_free(p);
}

static void readmatch_nonblocking_eagain(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    expect_fail(p, NULL, 0, EAGAIN); /* empty */
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    expect_fail(p, NULL, 0, EAGAIN); /* data, no match */
    assert_int_equal(tp_pipe_buffered(p), 3);
    tp_pipe_free(p);
}

static void readmatch_blocking_waits_for_more(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tt_op op = {.src = NULL, .n = 0};
    tt_op_start_blocked(&op, TT_READMATCH, p);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    tt_thread_wait_blocked(&op.thread); /* no match yet: it waits again */
    assert_int_equal(tp_pipe_write(p, "\r", 1), 1);
    tt_thread_wait_blocked(&op.thread);
    assert_int_equal(tp_pipe_write(p, "\ntail", 5), 5);
    tt_op_join(&op);
    assert_int_equal(op.ret, 5);
    assert_memory_equal(op.out, "abc\r\n", 5);
    tt_op_cleanup(&op);
    assert_int_equal(tp_pipe_buffered(p), 4);
    tp_pipe_free(p);
}

static void readmatch_times_out(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0.2, NULL);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    double t0 = tt_now();
    expect_fail(p, NULL, 0, ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.2);
    tp_pipe_free(p);
    p = tp_pipe_new(0, true, true, 0, NULL);
    expect_fail(p, NULL, 0, ETIMEDOUT); /* timeout 0: at once */
    tp_pipe_free(p);
}

typedef struct trickle {
    tp_pipe *p;
    const char *text;
    double pause;
} trickle;

static void *trickle_main(void *arg)
{
    trickle *t = arg;
    for (const char *c = t->text; *c; c++) {
        tt_sleep(t->pause); /* pacing, not synchronisation */
        if (tp_pipe_write(t->p, c, 1) != 1)
            return NULL;
    }
    return t;
}

static void readmatch_timeout_restarts_on_new_data(void **state)
{
    (void)state;
    /* 17 bytes, one every 0.1 s: longer than the 1 s timeout in all. */
    const double timeout = 1.0;
    tp_pipe *p = tp_pipe_new(0, true, true, timeout, NULL);
    trickle tr = {.p = p, .text = "abcdefghijklmno\r\n", .pause = timeout / 10};
    tt_thread t;
    double t0 = tt_now();
    tt_thread_start(&t, trickle_main, &tr);
    void *out = NULL;
    ssize_t r = tp_pipe_readmatch(p, NULL, 0, &out);
    int err = errno;
    double elapsed = tt_now() - t0;
    assert_non_null(tt_thread_join(&t));
    if (r < 0)
        fail_msg("readmatch: errno %d (%s) after %.3f s", err, strerror(err), elapsed);
    assert_int_equal(r, 17);
    assert_memory_equal(out, "abcdefghijklmno\r\n", 17);
    assert_not_earlier(elapsed, timeout);
    tp_free(out);
    tp_pipe_free(p);
}

static void readmatch_bad_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_int_equal(tp_pipe_write(p, "ab\r\n", 4), 4);
    expect_fail(p, "x", 0, EINVAL);
    assert_fails_with(tp_pipe_readmatch(p, NULL, 0, NULL), EINVAL);
    void *out = &out;
    assert_fails_with(tp_pipe_readmatch(NULL, NULL, 0, &out), EINVAL);
    assert_null(out);
    expect_line(p, NULL, 0, "ab\r\n");
    tp_pipe_free(p);
}

static void readmatch_closed_epipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    expect_fail(p, NULL, 0, EPIPE);
    tp_pipe_free(p);
}

static void readmatch_delimiter_longer_than_bsize(void **state)
{
    (void)state;
    /* bsize 4 can never hold an 8-byte delimiter written by copy: the
     * answer is ENOBUFS, not a wait for data that can never come. */
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "ABCD", 4), 4);
    expect_fail(p, "ABCDEFGH", 8, ENOBUFS);
    char buf[4];
    assert_int_equal(tp_pipe_read(p, buf, 4), 4);
    /* write_ref can overfill, so the delimiter can be found then. */
    static const char ref[] = "xABCDEFGHy";
    assert_int_equal(tp_pipe_write_ref(p, ref, 10, NULL, NULL), 10);
    expect_line(p, "ABCDEFGH", 8, "xABCDEFGH");
    tp_pipe_free(p);
}

/* The linearity check: a 1 MB line arriving one byte per write, with a
 * readmatch attempt after every byte. Rescanning from the start each time
 * would cost about 5e11 byte visits and miss the CTest timeout by far.
 * with_refs alternates copies and 1-byte write_refs, so the buffer is also a
 * chain of a million tiny segments. */
static void trickle_line(bool with_refs)
{
    enum { LINE = 1 << 20 };
    unsigned char *line = malloc(LINE + 2);
    for (size_t i = 0; i < LINE; i++)
        line[i] = (unsigned char)('a' + i % 13); /* never '\r' or '\n' */
    line[LINE] = '\r';
    line[LINE + 1] = '\n';
    tp_pipe *p = tp_pipe_new(2 * LINE, false, false, 0, NULL);
    tt_release rel;
    tt_release_init(&rel);
    double t0 = tt_now();
    for (size_t i = 0; i < LINE + 2; i++) {
        ssize_t w = (with_refs && i % 2) ? tp_pipe_write_ref(p, line + i, 1, tt_release_cb, &rel)
                                         : tp_pipe_write(p, line + i, 1);
        if (w != 1)
            fail_msg("write %zu returned %zd errno %d", i, w, errno);
        void *out = NULL;
        ssize_t r = tp_pipe_readmatch(p, NULL, 0, &out);
        if (i < LINE + 1) {
            if (r != -1 || errno != EAGAIN)
                fail_msg("readmatch after byte %zu: %zd errno %d (%s)", i, r, errno,
                         strerror(errno));
        } else {
            assert_int_equal(r, LINE + 2);
            assert_memory_equal(out, line, LINE + 2);
            tp_free(out);
        }
    }
    print_message("1 MB trickled line matched in %.2f s\n", tt_now() - t0);
    assert_int_equal(tp_pipe_empty(p), true);
    assert_int_equal(tt_release_calls(&rel), with_refs ? (LINE + 2) / 2 : 0);
    tp_pipe_free(p);
    free(line);
}

static void readmatch_trickle_is_linear(void **state)
{
    (void)state;
    trickle_line(false);
}

static void readmatch_trickle_over_ref_segments_is_linear(void **state)
{
    (void)state;
    trickle_line(true);
}

/* Most lines are taken with a read token instead of the pipe lock once a
 * pipe has seen a readmatch (see src/internal.h). Such a line must still
 * do everything a read does for whoever watches the pipe. Each test below
 * reads one line first, which puts the token in use. */

/* Writes s whole (the pipe has room for it). */
static void put(tp_pipe *p, const char *s)
{
    assert_int_equal(tp_pipe_write(p, s, strlen(s)), (ssize_t)strlen(s));
}

/* Whether fd polls readable now. */
static bool readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, 0);
    assert_true(n >= 0);
    return n == 1 && (pfd.revents & POLLIN);
}

static void readmatch_sets_rflag_for_every_line(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    tp_event *ev = tp_event_new();
    assert_non_null(p);
    assert_non_null(ev);
    tp_pipe_set_rflag(p, ev);
    put(p, "a\nb\nc\nd\n");
    static const char *lines[] = {"a\n", "b\n", "c\n", "d\n"};
    for (int i = 0; i < 4; i++) {
        tp_event_clear(ev);
        expect_line(p, "\n", 1, lines[i]);
        assert_true(tp_event_is_set(ev));
    }
    tp_pipe_free(p);
    tp_event_free(ev);
}

static void readmatch_keeps_readiness_fds_current(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(8, false, false, 0, NULL);
    assert_non_null(p);
    put(p, "x\n");
    expect_line(p, "\n", 1, "x\n");
    int rfd = tp_pipe_read_fd(p), wfd = tp_pipe_write_fd(p);
    assert_true(rfd >= 0 && wfd >= 0);
    put(p, "ab\ncd\nef");
    assert_int_equal(tp_pipe_canwrite(p), 0);
    assert_false(readable(wfd));
    /* Full to not full: the writer's fd turns readable. */
    expect_line(p, "\n", 1, "ab\n");
    assert_true(readable(wfd));
    /* With line-aware readiness, the reader's fd says whether another
     * whole line is buffered. */
    assert_int_equal(tp_pipe_set_read_fd_match(p, "\n", 1), 0);
    assert_true(readable(rfd));
    expect_line(p, "\n", 1, "cd\n");
    assert_false(readable(rfd));
    tp_pipe_free(p);
}

/* A writer asleep on a full pipe: its stall callback says it is asleep
 * (and removes itself, so that the writer's next sleep has no timer). */
typedef struct sleeper {
    tp_pipe *p;
    sem_t asleep, done;
    int rc, err;
} sleeper;

static void on_writer_stall(tp_pipe *p, int side, double idle_secs, void *ctx)
{
    (void)idle_secs;
    sleeper *s = ctx;
    if (side != TP_SIDE_WRITER)
        return;
    tp_pipe_set_stall_fn(p, 0, NULL, NULL);
    sem_post(&s->asleep);
}

/* sem_wait for at most ten seconds: a failure, not a measurement, for
 * what takes microseconds. */
static int wait_a_while(sem_t *sem)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    return sem_timedwait(sem, &until);
}

static void *room_waiter_main(void *arg)
{
    sleeper *s = arg;
    s->rc = tp_pipe_write_wait(s->p, -1);
    s->err = errno;
    sem_post(&s->done);
    return NULL;
}

static void readmatch_wakes_writer_asleep_on_full_pipe(void **state)
{
    (void)state;
    sleeper s = {.p = tp_pipe_new(8, true, true, -1, "full")};
    assert_non_null(s.p);
    assert_int_equal(sem_init(&s.asleep, 0, 0), 0);
    assert_int_equal(sem_init(&s.done, 0, 0), 0);
    put(s.p, "x\n");
    expect_line(s.p, "\n", 1, "x\n");
    put(s.p, "ab\ncd\nef");
    assert_int_equal(tp_pipe_set_stall_fn(s.p, 0.001, on_writer_stall, &s), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, room_waiter_main, &s), 0);
    int asleep = wait_a_while(&s.asleep);
    if (asleep == 0)
        expect_line(s.p, "\n", 1, "ab\n");
    /* The writer waits forever unless woken. */
    int woken = asleep == 0 ? wait_a_while(&s.done) : -1;
    if (woken != 0)
        tp_pipe_close(s.p); /* frees the writer, with EPIPE */
    pthread_join(t, NULL);
    assert_int_equal(asleep, 0);
    assert_int_equal(woken, 0);
    assert_int_equal(s.rc, 0);
    sem_destroy(&s.asleep);
    sem_destroy(&s.done);
    tp_pipe_free(s.p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(readmatch_default_crlf),
        cmocka_unit_test(readmatch_bare_lf_is_not_crlf),
        cmocka_unit_test(readmatch_custom_delimiters),
        cmocka_unit_test(readmatch_nul_delimiter),
        cmocka_unit_test(readmatch_overlapping_delimiter),
        cmocka_unit_test(readmatch_split_across_writes),
        cmocka_unit_test(readmatch_split_across_write_ref_segments),
        cmocka_unit_test(readmatch_mixed_copy_and_ref),
        cmocka_unit_test(readmatch_many_lines_in_one_write),
        cmocka_unit_test(readmatch_after_partial_read),
        cmocka_unit_test(readmatch_resume_after_read_consumed),
        cmocka_unit_test(readmatch_resume_with_other_delimiter),
        cmocka_unit_test(readmatch_enobufs_when_full),
        cmocka_unit_test(readmatch_enobufs_when_overfilled_by_ref),
        cmocka_unit_test(readmatch_eof_beats_enobufs),
        cmocka_unit_test(readmatch_eof_without_match),
        cmocka_unit_test(readmatch_nonblocking_eagain),
        cmocka_unit_test(readmatch_blocking_waits_for_more),
        cmocka_unit_test(readmatch_times_out),
        cmocka_unit_test(readmatch_timeout_restarts_on_new_data),
        cmocka_unit_test(readmatch_bad_arguments),
        cmocka_unit_test(readmatch_closed_epipe),
        cmocka_unit_test(readmatch_delimiter_longer_than_bsize),
        cmocka_unit_test(readmatch_trickle_is_linear),
        cmocka_unit_test(readmatch_trickle_over_ref_segments_is_linear),
        cmocka_unit_test(readmatch_sets_rflag_for_every_line),
        cmocka_unit_test(readmatch_keeps_readiness_fds_current),
        cmocka_unit_test(readmatch_wakes_writer_asleep_on_full_pipe),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
