/* test_hostile.c - size arithmetic and hostile input: SIZE_MAX and near it,
 * huge bsize, a delimiter longer than bsize, NULL and zero-length arguments
 * everywhere, and every call on a closed pipe. Each must give a clear
 * result or errno: never a crash, an abort, a hang or a wrapped size.
 * (Sizes the caller lies about - a 10-byte buffer passed as SIZE_MAX bytes
 * that the library would have to read - are the caller's bug and are only
 * used where tpipe reads at most what is buffered or has room.) */
#include "rel_util.h"

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

/* Expects -1 and errno e from expr, printing what came instead. */
#define FAILS_WITH(expr, e)                                                                        \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long long r_ = (long long)(expr);                                                          \
        int e_ = errno;                                                                            \
        if (r_ != -1 || e_ != (e))                                                                 \
            fail_msg("%s: returned %lld errno %d (%s), expected -1/%s", #expr, r_, e_,             \
                     strerror(e_), #e);                                                            \
    } while (0)

static int releases;

static void on_release(void *ctx)
{
    (void)ctx;
    releases++;
}

static void null_pipe_everywhere(void **state)
{
    (void)state;
    unsigned char b[4] = {0};
    void *out = (void *)1;
    size_t len = 7;
    const void *d = (const void *)1;
    tp_view *v = (tp_view *)1;
    FAILS_WITH(tp_pipe_write(NULL, b, 1), EINVAL);
    FAILS_WITH(tp_pipe_write(NULL, b, 0), EINVAL);
    FAILS_WITH(tp_pipe_write_ref(NULL, b, 1, on_release, NULL), EINVAL);
    assert_int_equal(releases, 0);
    FAILS_WITH(tp_pipe_read(NULL, b, 1), EINVAL);
    FAILS_WITH(tp_pipe_read_view(NULL, 1, &d, &v), EINVAL);
    FAILS_WITH(tp_pipe_readmatch(NULL, "\n", 1, &out), EINVAL);
    FAILS_WITH(tp_pipe_readall(NULL, &out, &len), EINVAL);
    FAILS_WITH(tp_pipe_canwrite(NULL), EINVAL);
    FAILS_WITH(tp_pipe_canread(NULL), EINVAL);
    FAILS_WITH(tp_pipe_write_wait(NULL, 0), EINVAL);
    FAILS_WITH(tp_pipe_read_wait(NULL, 0), EINVAL);
    FAILS_WITH(tp_pipe_flush_wait(NULL, 0), EINVAL);
    FAILS_WITH(tp_pipe_flush(NULL), EINVAL);
    FAILS_WITH(tp_pipe_write_eof(NULL), EINVAL);
    /* The void and boolean ones are no-ops with neutral answers. */
    tp_pipe_close(NULL);
    tp_pipe_free(NULL);
    tp_pipe_set_rflag(NULL, NULL);
    tp_pipe_set_readblocking(NULL, true);
    tp_pipe_set_writeblocking(NULL, true);
    assert_false(tp_pipe_readblocking(NULL));
    assert_false(tp_pipe_writeblocking(NULL));
    assert_true(tp_pipe_empty(NULL));
    assert_int_equal(tp_pipe_buffered(NULL), 0);
    assert_int_equal(tp_pipe_bsize(NULL), 0);
    assert_false(tp_pipe_eof(NULL));
    assert_false(tp_pipe_closed(NULL));
    tp_view_release(NULL);
    tp_free(NULL);
    tp_event_set(NULL);
    tp_event_clear(NULL);
    tp_event_free(NULL);
    assert_false(tp_event_is_set(NULL));
    FAILS_WITH(tp_event_wait(NULL, 0), EINVAL);
    tp_wrapper_free(NULL);
    FAILS_WITH(tp_wrapper_read(NULL, b, 1), EINVAL);
    FAILS_WITH(tp_wrapper_peek(NULL, b, 1), EINVAL);
    FAILS_WITH(tp_wrapper_seek(NULL, 0, SEEK_SET), EINVAL);
    FAILS_WITH(tp_wrapper_tell(NULL), EINVAL);
    assert_int_equal(tp_wrapper_length(NULL), -1);
    assert_null(tp_wrapper_new(NULL, NULL, 0));
    tp_allocator half = {NULL, NULL, NULL, NULL};
    FAILS_WITH(tp_set_allocator(&half), EINVAL);
}

static void null_and_zero_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(16, false, false, 0.0, NULL);
    assert_non_null(p);
    assert_null(tp_pipe_name(p));
    void *out = (void *)1;
    size_t len;
    const void *d;
    tp_view *v;
    /* NULL buffers with a length are EINVAL; with length 0 they are fine. */
    FAILS_WITH(tp_pipe_write(p, NULL, 1), EINVAL);
    FAILS_WITH(tp_pipe_write_ref(p, NULL, 1, on_release, NULL), EINVAL);
    assert_int_equal(releases, 0);
    FAILS_WITH(tp_pipe_read(p, NULL, 1), EINVAL);
    assert_int_equal(tp_pipe_write(p, NULL, 0), 0);
    releases = 0;
    assert_int_equal(tp_pipe_write_ref(p, NULL, 0, on_release, NULL), 0);
    assert_int_equal(releases, 1); /* n == 0: released before returning */
    assert_int_equal(tp_pipe_write_ref(p, NULL, 0, NULL, NULL), 0);
    assert_int_equal(tp_pipe_read(p, NULL, 0), 0);
    assert_true(tp_pipe_empty(p));
    FAILS_WITH(tp_pipe_read_view(p, 1, NULL, &v), EINVAL);
    FAILS_WITH(tp_pipe_read_view(p, 1, &d, NULL), EINVAL);
    FAILS_WITH(tp_pipe_readmatch(p, "\n", 1, NULL), EINVAL);
    FAILS_WITH(tp_pipe_readmatch(p, "\n", 0, &out), EINVAL); /* non-NULL match, mlen 0 */
    assert_null(out);
    FAILS_WITH(tp_pipe_readall(p, NULL, &len), EINVAL);
    FAILS_WITH(tp_pipe_readall(p, &out, NULL), EINVAL);
    /* Zero-length reads on data return 0 and consume nothing. */
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3);
    assert_int_equal(tp_pipe_read(p, (char[1]){0}, 0), 0);
    assert_int_equal(tp_pipe_read_view(p, 0, &d, &v), 0);
    assert_null(v);
    assert_int_equal(tp_pipe_buffered(p), 3);
    /* match NULL means CRLF whatever mlen says. */
    assert_int_equal(tp_pipe_write(p, "\r\n", 2), 2);
    assert_int_equal(tp_pipe_readmatch(p, NULL, 12345, &out), 5);
    tp_free(out);
    /* Wrappers: zero-length sources and reads. */
    tp_wrapper *w = tp_wrapper_new_mem("", 0, 0);
    assert_non_null(w);
    assert_true(tp_wrapper_seekable(w));
    assert_int_equal(tp_wrapper_length(w), 0);
    assert_int_equal(tp_wrapper_read(w, NULL, 0), 0);
    FAILS_WITH(tp_wrapper_read(w, NULL, 1), EINVAL);
    FAILS_WITH(tp_wrapper_peek(w, NULL, 1), EINVAL);
    tp_wrapper_free(w);
    tp_pipe_free(p);
}

static void sizes_near_size_max(void **state)
{
    (void)state;
    static unsigned char big[64];
    tp_pipe *p = tp_pipe_new(16, false, false, 0.0, "sizes");
    assert_non_null(p);
    /* A copy write never takes more than the room, so a huge n with a
     * buffer at least that big is safe; the count returned fits. */
    ssize_t k = tp_pipe_write(p, big, SIZE_MAX);
    assert_int_equal(k, 16);
    assert_int_equal(tp_pipe_canwrite(p), 0);
    /* Reads take at most what is buffered. */
    unsigned char out[64];
    assert_int_equal(tp_pipe_read(p, out, SIZE_MAX), 16);
    assert_int_equal(tp_pipe_write(p, big, SIZE_MAX - 1), 16);
    const void *d;
    tp_view *v;
    k = tp_pipe_read_view(p, SIZE_MAX, &d, &v);
    assert_true(k >= 1 && k <= 16);
    tp_view_release(v);
    if (k < 16)
        assert_int_equal(tp_pipe_read(p, out, sizeof out), 16 - k);
    assert_true(tp_pipe_empty(p));
    /* write_ref lengths that cannot be returned as ssize_t, or that would
     * wrap the buffered count, are refused without keeping the buffer. */
    releases = 0;
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    FAILS_WITH(tp_pipe_write_ref(p, big, SIZE_MAX, on_release, NULL), EINVAL);
    FAILS_WITH(tp_pipe_write_ref(p, big, SIZE_MAX - 1, on_release, NULL), EINVAL);
    FAILS_WITH(tp_pipe_write_ref(p, big, (size_t)SSIZE_MAX + 1, on_release, NULL), EINVAL);
    assert_int_equal(releases, 0);
    assert_int_equal(tp_pipe_buffered(p), 1);
    /* Overfilling with write_ref leaves canwrite at 0, never negative. */
    assert_int_equal(tp_pipe_write_ref(p, big, sizeof big, on_release, NULL), (ssize_t)sizeof big);
    assert_int_equal(tp_pipe_buffered(p), 1 + sizeof big);
    assert_int_equal(tp_pipe_canwrite(p), 0);
    FAILS_WITH(tp_pipe_write(p, big, 1), EAGAIN);
    FAILS_WITH(tp_pipe_write_ref(p, big, 1, on_release, NULL), EAGAIN);
    void *all = NULL;
    size_t len = 0;
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_readall(p, &all, &len), 0);
    assert_int_equal(len, 1 + sizeof big);
    tp_free(all);
    assert_int_equal(releases, 1);
    tp_pipe_free(p);
}

static void huge_bsize(void **state)
{
    (void)state;
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2, (size_t)SSIZE_MAX + 1,
                            (size_t)1 << 40};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        tp_pipe *p = tp_pipe_new(sizes[i], false, false, 0.0, "huge");
        if (p == NULL) {
            /* Refusing is fine, with a clear errno. */
            assert_true(errno == EINVAL || errno == ENOMEM);
            continue;
        }
        /* No memory in proportion to bsize is taken up front or per write. */
        ssize_t room = tp_pipe_canwrite(p);
        assert_true(room > 0);
        assert_int_equal(tp_pipe_write(p, "hello", 5), 5);
        assert_int_equal(tp_pipe_buffered(p), 5);
        ssize_t room2 = tp_pipe_canwrite(p);
        assert_true(room2 > 0 && room2 <= room);
        unsigned char b[8];
        assert_int_equal(tp_pipe_read(p, b, sizeof b), 5);
        assert_memory_equal(b, "hello", 5);
        tp_pipe_free(p);
    }
}

typedef struct filler {
    tp_pipe *p;
    size_t n;
} filler;

static void *fill_main(void *arg)
{
    filler *f = arg;
    static const unsigned char z[64];
    size_t done = 0;
    while (done < f->n) {
        ssize_t k = tp_pipe_write(f->p, z, f->n - done);
        if (k <= 0)
            break;
        done += (size_t)k;
    }
    return NULL;
}

static void delimiter_longer_than_bsize(void **state)
{
    (void)state;
    static const char delim[32] = "0123456789abcdefghijklmnopqrstu";
    void *out = (void *)1;
    /* Non-blocking: EAGAIN while there is room, ENOBUFS once full. */
    tp_pipe *p = tp_pipe_new(8, false, false, 0.0, "delim");
    assert_non_null(p);
    FAILS_WITH(tp_pipe_readmatch(p, delim, sizeof delim, &out), EAGAIN);
    assert_int_equal(tp_pipe_write(p, "0123", 4), 4);
    FAILS_WITH(tp_pipe_readmatch(p, delim, sizeof delim, &out), EAGAIN);
    assert_int_equal(tp_pipe_write(p, "4567", 4), 4);
    FAILS_WITH(tp_pipe_readmatch(p, delim, sizeof delim, &out), ENOBUFS);
    assert_null(out);
    assert_int_equal(tp_pipe_buffered(p), 8);
    /* EOF takes precedence over ENOBUFS. */
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_int_equal(tp_pipe_readmatch(p, delim, sizeof delim, &out), 0);
    tp_pipe_free(p);

    /* Blocking, with a writer filling the pipe: ENOBUFS, not a hang. The
     * pipe timeout only bounds a wrong implementation. */
    p = tp_pipe_new(8, true, true, 30.0, "delim-blocking");
    assert_non_null(p);
    filler f = {p, 8};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fill_main, &f), 0);
    FAILS_WITH(tp_pipe_readmatch(p, delim, sizeof delim, &out), ENOBUFS);
    pthread_join(t, NULL);
    tp_pipe_free(p);
}

/* Delimiters longer than any cache the implementation may keep, split
 * across writes, must still be found, and only where they really occur. */
static void long_delimiter_found_across_writes(void **state)
{
    (void)state;
    char delim[200];
    for (size_t i = 0; i < sizeof delim; i++)
        delim[i] = (char)('a' + i % 7);
    tp_pipe *p = tp_pipe_new(4096, false, false, 0.0, "long-delim");
    assert_non_null(p);
    void *out = NULL;
    /* A near miss (all but the last byte), then the real thing in pieces. */
    assert_int_equal(tp_pipe_write(p, "head", 4), 4);
    assert_int_equal(tp_pipe_write(p, delim, sizeof delim - 1), (ssize_t)(sizeof delim - 1));
    assert_int_equal(tp_pipe_write(p, "X", 1), 1);
    FAILS_WITH(tp_pipe_readmatch(p, delim, sizeof delim, &out), EAGAIN);
    for (size_t off = 0; off < sizeof delim; off += 37) {
        size_t n = sizeof delim - off < 37 ? sizeof delim - off : 37;
        assert_int_equal(tp_pipe_write(p, delim + off, n), (ssize_t)n);
        if (off + n < sizeof delim)
            FAILS_WITH(tp_pipe_readmatch(p, delim, sizeof delim, &out), EAGAIN);
    }
    ssize_t want = 4 + (ssize_t)sizeof delim - 1 + 1 + (ssize_t)sizeof delim;
    assert_int_equal(tp_pipe_readmatch(p, delim, sizeof delim, &out), want);
    assert_memory_equal((char *)out + want - (ssize_t)sizeof delim, delim, sizeof delim);
    tp_free(out);
    assert_true(tp_pipe_empty(p));
    tp_pipe_free(p);
}

/* Bad arguments to the ready-made sources. */
static void bad_sources(void **state)
{
    (void)state;
    assert_null(tp_pipe_name(NULL));
    assert_true(tp_pipe_timeout(NULL) < 0);
    errno = 0;
    assert_null(tp_wrapper_new_pipe(NULL, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tp_wrapper_new_fd(-1, 0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tp_wrapper_new_mem(NULL, 5, 0));
    assert_int_equal(errno, EINVAL);
}

/* A source that claims to have read more than it was asked for (a buggy
 * tp_read_fn) must not make the wrapper overrun its buffer: it is an EIO
 * error reported after the good bytes. */
static ssize_t lying_read(void *ctx, void *buf, size_t n)
{
    int *calls = ctx;
    if ((*calls)++ == 0) {
        memset(buf, 'g', n < 4 ? n : 4);
        return 4;
    }
    return (ssize_t)n + 100; /* the lie */
}

static void lying_source_is_an_error(void **state)
{
    (void)state;
    int calls = 0;
    tp_wrapper *w = tp_wrapper_new(lying_read, &calls, 16);
    assert_non_null(w);
    assert_false(tp_wrapper_seekable(w));
    unsigned char buf[16];
    assert_int_equal(tp_wrapper_read(w, buf, sizeof buf), 4);
    assert_memory_equal(buf, "gggg", 4);
    FAILS_WITH(tp_wrapper_read(w, buf, sizeof buf), EIO);
    /* Past the buffer, reads go straight to the source: the lie must not
     * reach the caller as a count larger than its buffer. */
    errno = 0;
    ssize_t k = tp_wrapper_read(w, buf, sizeof buf);
    tp_wrapper_free(w);
    if (k > (ssize_t)sizeof buf)
        fail_msg("tp_wrapper_read returned %zd for a %zu-byte buffer", k, sizeof buf);
}

static void closed_pipe_everywhere(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(16, true, true, TP_FOREVER, "closed");
    assert_non_null(p);
    assert_int_equal(tp_pipe_write(p, "data", 4), 4);
    tp_pipe_close(p);
    tp_pipe_close(p); /* idempotent */
    unsigned char b[4];
    void *out = (void *)1;
    size_t len = 99;
    const void *d;
    tp_view *v;
    releases = 0;
    /* Blocking ends with TP_FOREVER: a hang here would be the bug. */
    FAILS_WITH(tp_pipe_write(p, b, 1), EPIPE);
    FAILS_WITH(tp_pipe_write(p, b, 0), EPIPE);
    FAILS_WITH(tp_pipe_write_ref(p, b, 1, on_release, NULL), EPIPE);
    FAILS_WITH(tp_pipe_write_ref(p, b, 0, on_release, NULL), EPIPE);
    assert_int_equal(releases, 0);
    FAILS_WITH(tp_pipe_read(p, b, 1), EPIPE);
    FAILS_WITH(tp_pipe_read(p, b, 0), EPIPE);
    FAILS_WITH(tp_pipe_read_view(p, 1, &d, &v), EPIPE);
    FAILS_WITH(tp_pipe_readmatch(p, "\n", 1, &out), EPIPE);
    FAILS_WITH(tp_pipe_readall(p, &out, &len), EPIPE);
    assert_null(out);
    assert_int_equal(len, 0);
    FAILS_WITH(tp_pipe_canwrite(p), EPIPE);
    FAILS_WITH(tp_pipe_canread(p), EPIPE);
    FAILS_WITH(tp_pipe_write_wait(p, TP_FOREVER), EPIPE);
    FAILS_WITH(tp_pipe_read_wait(p, TP_FOREVER), EPIPE);
    FAILS_WITH(tp_pipe_flush_wait(p, TP_FOREVER), EPIPE);
    FAILS_WITH(tp_pipe_flush(p), EPIPE);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    assert_true(tp_pipe_closed(p));
    assert_true(tp_pipe_eof(p));
    assert_true(tp_pipe_empty(p));
    /* The rflag is set at once when installed on a closed pipe. */
    tp_event *ev = tp_event_new();
    assert_non_null(ev);
    tp_pipe_set_rflag(p, ev);
    assert_true(tp_event_is_set(ev));
    tp_pipe_set_rflag(p, NULL);
    tp_event_free(ev);
    /* A wrapper over a closed pipe reports EPIPE from the read that gets
     * there, not at construction. */
    tp_wrapper *w = tp_wrapper_new_pipe(p, 16);
    assert_non_null(w);
    assert_false(tp_wrapper_seekable(w));
    FAILS_WITH(tp_wrapper_read(w, b, sizeof b), EPIPE);
    tp_wrapper_free(w);
    tp_pipe_free(p);
}

static void wrapper_offsets_do_not_overflow(void **state)
{
    (void)state;
    tp_wrapper *w = tp_wrapper_new_mem("0123456789", 10, 0);
    assert_non_null(w);
    off_t max = (off_t)((~(unsigned long long)0) >> 1);
    assert_int_equal(tp_wrapper_seek(w, max, SEEK_SET), max);
    unsigned char b[4];
    assert_int_equal(tp_wrapper_read(w, b, sizeof b), 0);
    assert_int_equal(tp_wrapper_peek(w, b, sizeof b), 0);
    /* max + 1 and max + 10 overflow off_t: a clear error, no UB. */
    errno = 0;
    off_t r = tp_wrapper_seek(w, 1, SEEK_CUR);
    assert_true(r == -1 && (errno == EINVAL || errno == EOVERFLOW));
    errno = 0;
    r = tp_wrapper_seek(w, max, SEEK_END);
    assert_true(r == -1 && (errno == EINVAL || errno == EOVERFLOW));
    FAILS_WITH(tp_wrapper_seek(w, -max, SEEK_SET), EINVAL);
    FAILS_WITH(tp_wrapper_seek(w, -11, SEEK_END), EINVAL);
    FAILS_WITH(tp_wrapper_seek(w, 0, 12345), EINVAL);
    assert_int_equal(tp_wrapper_seek(w, -10, SEEK_END), 0);
    assert_int_equal(tp_wrapper_read(w, b, 4), 4);
    assert_memory_equal(b, "0123", 4);
    tp_wrapper_free(w);
    /* A huge buffsize is refused or allocated lazily, never a crash. */
    errno = 0;
    w = tp_wrapper_new_mem("abc", 3, SIZE_MAX);
    if (w == NULL) {
        assert_true(errno == ENOMEM || errno == EINVAL);
    } else {
        assert_true(tp_wrapper_seekable(w));
        assert_int_equal(tp_wrapper_length(w), 3);
        tp_wrapper_free(w);
    }
}

static void quiet(int level, const char *name, const char *msg, void *ctx)
{
    (void)level;
    (void)name;
    (void)msg;
    (void)ctx;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_pipe_everywhere),
        cmocka_unit_test(null_and_zero_arguments),
        cmocka_unit_test(sizes_near_size_max),
        cmocka_unit_test(huge_bsize),
        cmocka_unit_test(delimiter_longer_than_bsize),
        cmocka_unit_test(long_delimiter_found_across_writes),
        cmocka_unit_test(bad_sources),
        cmocka_unit_test(lying_source_is_an_error),
        cmocka_unit_test(closed_pipe_everywhere),
        cmocka_unit_test(wrapper_offsets_do_not_overflow),
    };
    tp_set_log_fn(quiet, NULL);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}
