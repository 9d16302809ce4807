/* test_wrapper.c - tp_wrapper: construction (EOF, overflow, EAGAIN, source
 * errors), seeking, peek, reads past the buffer, and the three ready-made
 * sources (pipe, file descriptor, memory). */
#include "test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* A scripted source: each step returns some bytes, EOF, or an error. */
typedef struct step {
    const char *bytes; /* NULL: fail with err (0: EOF) */
    int err;
} step;

typedef struct script {
    const step *steps;
    size_t nsteps, at;
    size_t partial; /* bytes of the current step already handed out */
    int calls;
} script;

static ssize_t script_read(void *ctx, void *buf, size_t n)
{
    script *s = ctx;
    s->calls++;
    if (s->at >= s->nsteps)
        return 0;
    const step *st = &s->steps[s->at];
    if (st->bytes == NULL) {
        s->at++;
        if (st->err == 0)
            return 0;
        errno = st->err;
        return -1;
    }
    size_t len = strlen(st->bytes) - s->partial;
    size_t k = len < n ? len : n;
    memcpy(buf, st->bytes + s->partial, k);
    s->partial += k;
    if (s->partial == strlen(st->bytes)) {
        s->at++;
        s->partial = 0;
    }
    return (ssize_t)k;
}

#define SCRIPT(...)                                                                                \
    static const step steps_[] = {__VA_ARGS__};                                                    \
    script src = {steps_, sizeof steps_ / sizeof steps_[0], 0, 0, 0}

static void expect_read(tp_wrapper *w, size_t n, const char *want)
{
    char buf[256];
    errno = 0;
    ssize_t r = tp_wrapper_read(w, buf, n);
    if (r < 0)
        fail_msg("wrapper read failed: errno %d (%s), wanted \"%s\"", errno, strerror(errno), want);
    assert_int_equal(r, strlen(want));
    assert_memory_equal(buf, want, strlen(want));
}

static void reads_to_eof_and_is_seekable(void **state)
{
    (void)state;
    SCRIPT({"hello ", 0}, {"world", 0}, {NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 0);
    assert_non_null(w);
    assert_int_equal(tp_wrapper_seekable(w), true);
    assert_int_equal(tp_wrapper_length(w), 11);
    assert_int_equal(tp_wrapper_tell(w), 0);
    int calls = src.calls;
    expect_read(w, 100, "hello world");
    assert_int_equal(tp_wrapper_tell(w), 11);
    expect_read(w, 100, "");
    assert_int_equal(src.calls, calls); /* served from the buffer */
    tp_wrapper_free(w);
}

static void empty_source(void **state)
{
    (void)state;
    SCRIPT({NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 16);
    assert_int_equal(tp_wrapper_seekable(w), true);
    assert_int_equal(tp_wrapper_length(w), 0);
    expect_read(w, 10, "");
    tp_wrapper_free(w);
}

static void construction_collects_many_small_reads(void **state)
{
    (void)state;
    SCRIPT({"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}, {"e", 0}, {NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 64);
    assert_int_equal(tp_wrapper_seekable(w), true);
    assert_int_equal(tp_wrapper_length(w), 5);
    expect_read(w, 64, "abcde");
    tp_wrapper_free(w);
}

static void fewer_than_buffsize_is_seekable(void **state)
{
    (void)state;
    char data[15];
    memset(data, 'x', sizeof data);
    tp_wrapper *w = tp_wrapper_new_mem(data, 15, 16);
    assert_int_equal(tp_wrapper_seekable(w), true);
    assert_int_equal(tp_wrapper_length(w), 15);
    tp_wrapper_free(w);
}

static void exactly_buffsize_overflows(void **state)
{
    (void)state;
    /* 16 bytes into a 16-byte buffer: EOF was not seen, so not seekable. */
    static const char data[] = "0123456789abcdef";
    tp_wrapper *w = tp_wrapper_new_mem(data, 16, 16);
    assert_int_equal(tp_wrapper_seekable(w), false);
    assert_int_equal(tp_wrapper_length(w), -1);
    assert_fails_with(tp_wrapper_tell(w), ESPIPE);
    assert_fails_with(tp_wrapper_seek(w, 0, SEEK_SET), ESPIPE);
    expect_read(w, 10, "0123456789");
    expect_read(w, 10, "abcdef");
    expect_read(w, 10, "");
    tp_wrapper_free(w);
}

static void default_buffsize_is_8192(void **state)
{
    (void)state;
    static char data[8193];
    memset(data, 'd', sizeof data);
    tp_wrapper *w = tp_wrapper_new_mem(data, 8191, 0);
    assert_int_equal(tp_wrapper_seekable(w), true);
    tp_wrapper_free(w);
    w = tp_wrapper_new_mem(data, 8192, 0);
    assert_int_equal(tp_wrapper_seekable(w), false);
    tp_wrapper_free(w);
    w = tp_wrapper_new_mem(data, 8193, 0);
    assert_int_equal(tp_wrapper_seekable(w), false);
    tp_wrapper_free(w);
}

static void overflow_reads_continue_from_source(void **state)
{
    (void)state;
    SCRIPT({"abcdefgh", 0}, {"ijkl", 0}, {NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 4);
    assert_int_equal(tp_wrapper_seekable(w), false);
    char all[32];
    size_t got = 0;
    for (;;) {
        ssize_t r = tp_wrapper_read(w, all + got, 3);
        assert_in_range(r, 0, 3);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    assert_int_equal(got, 12);
    assert_memory_equal(all, "abcdefghijkl", 12);
    tp_wrapper_free(w);
}

static void eagain_source_overflows_and_passes_through(void **state)
{
    (void)state;
    /* Two EAGAINs: one ends construction, one is seen by a later read. */
    SCRIPT({"12345", 0}, {NULL, EAGAIN}, {NULL, EAGAIN}, {"6789", 0}, {NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 100);
    assert_non_null(w);
    assert_int_equal(tp_wrapper_seekable(w), false);
    assert_int_equal(tp_wrapper_length(w), -1);
    assert_fails_with(tp_wrapper_tell(w), ESPIPE);
    expect_read(w, 5, "12345");
    assert_fails_with(tp_wrapper_read(w, (char[8]){0}, 8), EAGAIN); /* source still blocked */
    expect_read(w, 100, "6789");
    expect_read(w, 100, "");
    tp_wrapper_free(w);
}

static void source_error_reported_once_after_buffered_bytes(void **state)
{
    (void)state;
    SCRIPT({"abcd", 0}, {NULL, EIO}, {"efg", 0}, {NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 100);
    assert_non_null(w);
    assert_int_equal(tp_wrapper_seekable(w), false);
    expect_read(w, 2, "ab");
    expect_read(w, 100, "cd"); /* the buffered bytes first, nothing lost */
    assert_fails_with(tp_wrapper_read(w, (char[8]){0}, 8), EIO);
    expect_read(w, 100, "efg"); /* reported once; then the source again */
    expect_read(w, 100, "");
    tp_wrapper_free(w);
}

static void source_error_at_start(void **state)
{
    (void)state;
    SCRIPT({NULL, ECONNRESET}, {NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 100);
    assert_non_null(w);
    assert_int_equal(tp_wrapper_seekable(w), false);
    assert_fails_with(tp_wrapper_read(w, (char[8]){0}, 8), ECONNRESET);
    expect_read(w, 100, "");
    tp_wrapper_free(w);
}

static void seek_and_tell(void **state)
{
    (void)state;
    static const char data[] = "0123456789";
    tp_wrapper *w = tp_wrapper_new_mem(data, 10, 0);
    assert_int_equal(tp_wrapper_seek(w, 3, SEEK_SET), 3);
    expect_read(w, 2, "34");
    assert_int_equal(tp_wrapper_tell(w), 5);
    assert_int_equal(tp_wrapper_seek(w, -2, SEEK_CUR), 3);
    assert_int_equal(tp_wrapper_seek(w, 4, SEEK_CUR), 7);
    expect_read(w, 1, "7");
    assert_int_equal(tp_wrapper_seek(w, -1, SEEK_END), 9);
    expect_read(w, 5, "9");
    expect_read(w, 5, "");
    assert_int_equal(tp_wrapper_seek(w, 0, SEEK_END), 10);
    /* Past the end is allowed and reads 0. */
    assert_int_equal(tp_wrapper_seek(w, 20, SEEK_SET), 20);
    assert_int_equal(tp_wrapper_tell(w), 20);
    expect_read(w, 5, "");
    assert_int_equal(tp_wrapper_peek(w, (char[4]){0}, 4), 0);
    assert_int_equal(tp_wrapper_seek(w, 5, SEEK_END), 15);
    assert_int_equal(tp_wrapper_seek(w, 0, SEEK_SET), 0);
    expect_read(w, 3, "012");
    tp_wrapper_free(w);
}

static void seek_rejects_bad_arguments(void **state)
{
    (void)state;
    static const char data[] = "0123456789";
    tp_wrapper *w = tp_wrapper_new_mem(data, 10, 0);
    assert_int_equal(tp_wrapper_seek(w, 4, SEEK_SET), 4);
    assert_fails_with(tp_wrapper_seek(w, -1, SEEK_SET), EINVAL);
    assert_fails_with(tp_wrapper_seek(w, -5, SEEK_CUR), EINVAL);
    assert_fails_with(tp_wrapper_seek(w, -11, SEEK_END), EINVAL);
    assert_fails_with(tp_wrapper_seek(w, 0, 42), EINVAL);
    assert_fails_with(tp_wrapper_seek(w, 0, -1), EINVAL);
    assert_int_equal(tp_wrapper_tell(w), 4);               /* failed seeks do not move */
    assert_int_equal(tp_wrapper_seek(w, -4, SEEK_CUR), 0); /* exactly 0 is fine */
    tp_wrapper_free(w);
}

static void peek_does_not_advance(void **state)
{
    (void)state;
    static const char data[] = "abcdef";
    tp_wrapper *w = tp_wrapper_new_mem(data, 6, 0);
    char buf[8];
    assert_int_equal(tp_wrapper_peek(w, buf, 3), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(tp_wrapper_tell(w), 0);
    assert_int_equal(tp_wrapper_peek(w, buf, 0), 0);
    expect_read(w, 4, "abcd");
    assert_int_equal(tp_wrapper_peek(w, buf, 8), 2);
    assert_memory_equal(buf, "ef", 2);
    expect_read(w, 8, "ef");
    assert_int_equal(tp_wrapper_peek(w, buf, 8), 0);
    tp_wrapper_free(w);
}

static void peek_never_reads_the_source(void **state)
{
    (void)state;
    SCRIPT({"abcdefgh", 0}, {"ijkl", 0}, {NULL, 0});
    tp_wrapper *w = tp_wrapper_new(script_read, &src, 4);
    char buf[8];
    int calls = src.calls;
    assert_int_equal(tp_wrapper_peek(w, buf, 8), 4); /* only the buffered part */
    assert_memory_equal(buf, "abcd", 4);
    expect_read(w, 4, "abcd");
    assert_int_equal(tp_wrapper_peek(w, buf, 8), 0); /* past the buffered part */
    assert_int_equal(src.calls, calls);
    tp_wrapper_free(w);
}

static void null_arguments(void **state)
{
    (void)state;
    char buf[4];
    assert_null_with(tp_wrapper_new(NULL, NULL, 0), EINVAL);
    assert_fails_with(tp_wrapper_read(NULL, buf, 4), EINVAL);
    assert_fails_with(tp_wrapper_peek(NULL, buf, 4), EINVAL);
    assert_fails_with(tp_wrapper_tell(NULL), EINVAL);
    assert_fails_with(tp_wrapper_seek(NULL, 0, SEEK_SET), EINVAL);
    assert_int_equal(tp_wrapper_length(NULL), -1);
    assert_int_equal(tp_wrapper_seekable(NULL), false);
    tp_wrapper_free(NULL);
    static const char data[] = "abc";
    tp_wrapper *w = tp_wrapper_new_mem(data, 3, 0);
    assert_fails_with(tp_wrapper_read(w, NULL, 4), EINVAL);
    assert_fails_with(tp_wrapper_peek(w, NULL, 4), EINVAL);
    assert_int_equal(tp_wrapper_read(w, NULL, 0), 0);
    assert_int_equal(tp_wrapper_peek(w, NULL, 0), 0);
    assert_int_equal(tp_wrapper_tell(w), 0);
    tp_wrapper_free(w);
    /* A memory source without memory: only an empty one is valid. */
    assert_null_with(tp_wrapper_new_mem(NULL, 3, 0), EINVAL);
    w = tp_wrapper_new_mem(NULL, 0, 0);
    assert_non_null(w);
    assert_int_equal(tp_wrapper_read(w, buf, sizeof buf), 0);
    assert_int_equal(tp_wrapper_length(w), 0);
    tp_wrapper_free(w);
}

static void pipe_source_with_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "from a pipe", 11), 11);
    tp_pipe_write_eof(p);
    tp_wrapper *w = tp_wrapper_new_pipe(p, 0);
    assert_int_equal(tp_wrapper_seekable(w), true);
    assert_int_equal(tp_wrapper_length(w), 11);
    assert_int_equal(tp_wrapper_seek(w, 7, SEEK_SET), 7);
    expect_read(w, 10, "pipe");
    tp_wrapper_free(w);
    tp_pipe_free(p);
}

static void pipe_source_nonblocking_overflows(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "head", 4), 4);
    tp_wrapper *w = tp_wrapper_new_pipe(p, 0);
    assert_int_equal(tp_wrapper_seekable(w), false); /* the pipe blocked */
    expect_read(w, 10, "head");
    assert_fails_with(tp_wrapper_read(w, (char[8]){0}, 8), EAGAIN);
    assert_int_equal(tp_pipe_write(p, "tail", 4), 4);
    tp_pipe_write_eof(p);
    expect_read(w, 10, "tail");
    expect_read(w, 10, "");
    tp_wrapper_free(w);
    tp_pipe_free(p);
}

static void pipe_source_timeout_is_a_source_error(void **state)
{
    (void)state;
    /* A blocking pipe that times out during construction: the ETIMEDOUT is
     * kept and reported after the buffered bytes. */
    tp_pipe *p = tp_pipe_new(0, true, true, 0.1, NULL);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    tp_wrapper *w = tp_wrapper_new_pipe(p, 0);
    assert_non_null(w);
    assert_int_equal(tp_wrapper_seekable(w), false);
    expect_read(w, 10, "abc");
    assert_fails_with(tp_wrapper_read(w, (char[8]){0}, 8), ETIMEDOUT);
    tp_pipe_write_eof(p);
    expect_read(w, 10, "");
    tp_wrapper_free(w);
    tp_pipe_free(p);
}

static void fd_source_kernel_pipe(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "kernel", 6), 6);
    close(fds[1]);
    tp_wrapper *w = tp_wrapper_new_fd(fds[0], 0);
    assert_int_equal(tp_wrapper_seekable(w), true);
    assert_int_equal(tp_wrapper_length(w), 6);
    expect_read(w, 10, "kernel");
    tp_wrapper_free(w);
    assert_int_equal(fcntl(fds[0], F_GETFD) != -1, true); /* not closed */
    close(fds[0]);
}

static void fd_source_nonblocking_kernel_pipe(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(write(fds[1], "part", 4), 4);
    tp_wrapper *w = tp_wrapper_new_fd(fds[0], 0);
    assert_int_equal(tp_wrapper_seekable(w), false);
    expect_read(w, 10, "part");
    errno = 0;
    ssize_t r = tp_wrapper_read(w, (char[8]){0}, 8);
    int err = errno;
    assert_int_equal(r, -1);
    assert_int_equal(tp_io_blocked(err), true);
    assert_int_equal(write(fds[1], "rest", 4), 4);
    close(fds[1]);
    expect_read(w, 10, "rest");
    expect_read(w, 10, "");
    tp_wrapper_free(w);
    close(fds[0]);
}

static void fd_source_temp_file(void **state)
{
    (void)state;
    char path[] = "/tmp/tpipe-wrapper-XXXXXX";
    int fd = mkstemp(path);
    assert_int_not_equal(fd, -1);
    unlink(path);
    enum { SIZE = 20000 };
    unsigned char *data = malloc(SIZE);
    tt_fill_pattern(data, SIZE, 0);
    assert_int_equal(write(fd, data, SIZE), SIZE);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    tp_wrapper *w = tp_wrapper_new_fd(fd, 8192);
    assert_int_equal(tp_wrapper_seekable(w), false);
    unsigned char *got = malloc(SIZE + 1);
    size_t off = 0;
    for (;;) {
        ssize_t r = tp_wrapper_read(w, got + off, SIZE + 1 - off < 3000 ? SIZE + 1 - off : 3000);
        assert_ge(r, 0);
        if (r == 0)
            break;
        off += (size_t)r;
    }
    assert_int_equal(off, SIZE);
    assert_memory_equal(got, data, SIZE);
    tp_wrapper_free(w);
    /* A file that fits is seekable. */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    w = tp_wrapper_new_fd(fd, SIZE + 1);
    assert_int_equal(tp_wrapper_seekable(w), true);
    assert_int_equal(tp_wrapper_length(w), SIZE);
    assert_int_equal(tp_wrapper_seek(w, -10, SEEK_END), SIZE - 10);
    assert_int_equal(tp_wrapper_read(w, got, 100), 10);
    assert_memory_equal(got, data + SIZE - 10, 10);
    tp_wrapper_free(w);
    close(fd);
    free(data);
    free(got);
}

static void mem_source_overflowed(void **state)
{
    (void)state;
    static char data[100];
    tt_fill_pattern(data, sizeof data, 0);
    tp_wrapper *w = tp_wrapper_new_mem(data, 100, 10);
    assert_int_equal(tp_wrapper_seekable(w), false);
    char got[100];
    size_t off = 0;
    for (;;) {
        ssize_t r = tp_wrapper_read(w, got + off, 100 - off < 7 ? 100 - off : 7);
        assert_ge(r, 0);
        if (r == 0)
            break;
        off += (size_t)r;
    }
    assert_int_equal(off, 100);
    assert_memory_equal(got, data, 100);
    tp_wrapper_free(w);
}

static void read_adapters(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    char buf[8];
    assert_fails_with(tp_read_pipe(p, buf, 8), EAGAIN);
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    assert_int_equal(tp_read_pipe(p, buf, 8), 2);
    tp_pipe_write_eof(p);
    assert_int_equal(tp_read_pipe(p, buf, 8), 0);
    tp_pipe_free(p);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "cd", 2), 2);
    close(fds[1]);
    assert_int_equal(tp_read_fd((void *)(intptr_t)fds[0], buf, 8), 2);
    assert_memory_equal(buf, "cd", 2);
    assert_int_equal(tp_read_fd((void *)(intptr_t)fds[0], buf, 8), 0);
    close(fds[0]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_to_eof_and_is_seekable),
        cmocka_unit_test(empty_source),
        cmocka_unit_test(construction_collects_many_small_reads),
        cmocka_unit_test(fewer_than_buffsize_is_seekable),
        cmocka_unit_test(exactly_buffsize_overflows),
        cmocka_unit_test(default_buffsize_is_8192),
        cmocka_unit_test(overflow_reads_continue_from_source),
        cmocka_unit_test(eagain_source_overflows_and_passes_through),
        cmocka_unit_test(source_error_reported_once_after_buffered_bytes),
        cmocka_unit_test(source_error_at_start),
        cmocka_unit_test(seek_and_tell),
        cmocka_unit_test(seek_rejects_bad_arguments),
        cmocka_unit_test(peek_does_not_advance),
        cmocka_unit_test(peek_never_reads_the_source),
        cmocka_unit_test(null_arguments),
        cmocka_unit_test(pipe_source_with_eof),
        cmocka_unit_test(pipe_source_nonblocking_overflows),
        cmocka_unit_test(pipe_source_timeout_is_a_source_error),
        cmocka_unit_test(fd_source_kernel_pipe),
        cmocka_unit_test(fd_source_nonblocking_kernel_pipe),
        cmocka_unit_test(fd_source_temp_file),
        cmocka_unit_test(mem_source_overflowed),
        cmocka_unit_test(read_adapters),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
