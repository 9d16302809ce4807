/* test_pump.c - tp_pipe_pump_from_fd / tp_pipe_pump_to_fd with files,
 * kernel pipes and sockets: EOF, max, short writes, and the errors. */
#define _GNU_SOURCE /* F_SETPIPE_SZ (Linux) */
#include "adapters_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

/* Drains a blocking pipe to EOF on a thread (tt_drain) for the inbound pump. */
struct drainer {
    tp_pipe *p;
    unsigned char *data;
    size_t len;
    tt_thread th;
};

static void *drain_main(void *arg)
{
    struct drainer *d = arg;
    d->data = tt_drain(d->p, &d->len);
    return NULL;
}

static void drainer_start(struct drainer *d, tp_pipe *p)
{
    d->p = p;
    d->data = NULL;
    d->len = 0;
    tt_thread_start(&d->th, drain_main, d);
}

static void drainer_join(struct drainer *d)
{
    tt_thread_join(&d->th);
}

static off_t fd_offset(int fd)
{
    return lseek(fd, 0, SEEK_CUR);
}

static void pump_from_file_to_eof(void **state)
{
    (void)state;
    const size_t n = 300007;
    int fd = at_temp_file(n);
    tp_pipe *p = tp_pipe_new(8192, true, true, TP_FOREVER, "from-file");
    struct drainer d;
    drainer_start(&d, p);
    size_t moved = 1;
    assert_int_equal(tp_pipe_pump_from_fd(p, fd, 0, &moved), 0);
    assert_int_equal(moved, n);
    assert_false(tp_pipe_eof(p)); /* the pump does not write EOF */
    tp_pipe_write_eof(p);
    drainer_join(&d);
    assert_int_equal(d.len, n);
    at_assert_pattern(d.data, d.len, 0);
    free(d.data);
    close(fd);
    tp_pipe_free(p);
}

static void pump_from_fd_stops_at_max(void **state)
{
    (void)state;
    int fd = at_temp_file(5000);
    tp_pipe *p = tp_pipe_new(64 * 1024, true, true, TP_FOREVER, NULL);
    size_t moved = 0;
    assert_int_equal(tp_pipe_pump_from_fd(p, fd, 1234, &moved), 0);
    assert_int_equal(moved, 1234);
    assert_int_equal(tp_pipe_buffered(p), 1234);
    assert_int_equal(fd_offset(fd), 1234);                     /* read no further than max */
    assert_int_equal(tp_pipe_pump_from_fd(p, fd, 0, NULL), 0); /* moved may be NULL */
    assert_int_equal(tp_pipe_buffered(p), 5000);
    tp_pipe_write_eof(p);
    size_t len;
    unsigned char *all = tt_drain(p, &len);
    assert_int_equal(len, 5000);
    at_assert_pattern(all, len, 0);
    free(all);
    close(fd);
    tp_pipe_free(p);
}

static void pump_from_empty_file(void **state)
{
    (void)state;
    int fd = at_temp_file(0);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    size_t moved = 99;
    assert_int_equal(tp_pipe_pump_from_fd(p, fd, 0, &moved), 0);
    assert_int_equal(moved, 0);
    assert_true(tp_pipe_empty(p));
    close(fd);
    tp_pipe_free(p);
}

struct kwriter {
    int fd;
    size_t n;
};

static void *kernel_pipe_writer(void *arg)
{
    struct kwriter *w = arg;
    unsigned char buf[3001];
    for (size_t off = 0; off < w->n;) {
        size_t k = w->n - off < sizeof buf ? w->n - off : sizeof buf;
        tt_fill_pattern(buf, k, off);
        for (size_t done = 0; done < k;) {
            ssize_t r = write(w->fd, buf + done, k - done);
            assert_true(r > 0);
            done += (size_t)r;
        }
        off += k;
    }
    close(w->fd); /* the pump sees EOF */
    return NULL;
}

/* Pumps n pattern bytes, written by a thread into fds[1], from fds[0] into
 * a pipe of the given bsize, and checks that a draining reader got them
 * all, in order. Closes fds[0] (the writer thread closes fds[1]). */
static void check_pump_from(int fds[2], size_t n, size_t bsize)
{
    struct kwriter w = {fds[1], n};
    tt_thread th;
    tt_thread_start(&th, kernel_pipe_writer, &w);
    tp_pipe *p = tp_pipe_new(bsize, true, true, TP_FOREVER, NULL);
    struct drainer d;
    drainer_start(&d, p);
    size_t moved = 0;
    assert_int_equal(tp_pipe_pump_from_fd(p, fds[0], 0, &moved), 0);
    assert_int_equal(moved, w.n);
    tp_pipe_write_eof(p);
    drainer_join(&d);
    tt_thread_join(&th);
    assert_int_equal(d.len, w.n);
    at_assert_pattern(d.data, d.len, 0);
    free(d.data);
    close(fds[0]);
    tp_pipe_free(p);
}

static void pump_from_kernel_pipe(void **state)
{
    (void)state;
    int kp[2];
    assert_int_equal(pipe(kp), 0);
    check_pump_from(kp, 200000, 4096);
}

static void pump_from_socket(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    check_pump_from(sv, 150000, 0);
}

static void pump_from_bad_fd_ebadf(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    size_t moved = 99;
    assert_fails_with(tp_pipe_pump_from_fd(p, -1, 0, &moved), EBADF);
    assert_int_equal(moved, 0);
    int kp[2];
    assert_int_equal(pipe(kp), 0);
    moved = 99;
    assert_fails_with(tp_pipe_pump_from_fd(p, kp[1], 0, &moved), EBADF); /* write end */
    assert_int_equal(moved, 0);
    moved = 99;
    assert_fails_with(tp_pipe_pump_from_fd(NULL, kp[0], 0, &moved), EINVAL);
    assert_int_equal(moved, 0);
    close(kp[0]);
    close(kp[1]);
    tp_pipe_free(p);
}

static void pump_from_fd_into_closed_pipe_epipe(void **state)
{
    (void)state;
    int fd = at_temp_file(100);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_close(p);
    size_t moved = 99;
    assert_fails_with(tp_pipe_pump_from_fd(p, fd, 0, &moved), EPIPE);
    assert_int_equal(moved, 0);
    assert_int_equal(fd_offset(fd), 0); /* nothing taken from fd */
    tp_pipe *q = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_write_eof(q);
    assert_fails_with(tp_pipe_pump_from_fd(q, fd, 0, &moved), EPIPE);
    assert_int_equal(fd_offset(fd), 0);
    close(fd);
    tp_pipe_free(p);
    tp_pipe_free(q);
}

static void pump_from_fd_nonblocking_full_pipe_eagain(void **state)
{
    (void)state;
    int fd = at_temp_file(100);
    tp_pipe *p = tp_pipe_new(40, true, false, TP_FOREVER, NULL);
    size_t moved = 99;
    assert_fails_with(tp_pipe_pump_from_fd(p, fd, 0, &moved), EAGAIN);
    assert_int_equal(moved, 40);
    assert_int_equal(fd_offset(fd), 40); /* took only what the pipe took */
    char buf[100];
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 40);
    assert_fails_with(tp_pipe_pump_from_fd(p, fd, 0, &moved), EAGAIN);
    assert_int_equal(moved, 40);
    assert_int_equal(tp_pipe_read(p, buf, sizeof buf), 20 + 20);
    assert_int_equal(tp_pipe_pump_from_fd(p, fd, 0, &moved), 0);
    assert_int_equal(moved, 20);
    close(fd);
    tp_pipe_free(p);
}

static void pump_from_fd_timeout_loses_nothing(void **state)
{
    (void)state;
    int fd = at_temp_file(1000);
    tp_pipe *p = tp_pipe_new(64, true, true, 0.05, NULL);
    size_t moved = 0;
    double t0 = tt_now();
    assert_fails_with(tp_pipe_pump_from_fd(p, fd, 0, &moved), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.05);
    assert_int_equal(moved, 64);
    /* Every byte taken from fd is in the pipe: none was dropped. */
    assert_int_equal(fd_offset(fd), 64);
    assert_int_equal(tp_pipe_buffered(p), 64);
    close(fd);
    tp_pipe_free(p);
}

static void pump_from_nonblocking_fd_eagain(void **state)
{
    (void)state;
    int kp[2];
    assert_int_equal(pipe(kp), 0);
    assert_int_equal(fcntl(kp[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(write(kp[1], "abc", 3), 3);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    size_t moved = 0;
    assert_fails_with(tp_pipe_pump_from_fd(p, kp[0], 0, &moved), EAGAIN);
    assert_int_equal(moved, 3);
    assert_int_equal(tp_pipe_buffered(p), 3);
    close(kp[0]);
    close(kp[1]);
    tp_pipe_free(p);
}

/* Fills a pipe from a thread (pattern bytes, then EOF) for the outbound
 * pump. The test frees buf after joining: write_ref bytes must stay valid
 * until the pump has released its last view. */
struct filler {
    tp_pipe *p;
    size_t n;
    bool by_ref;
    unsigned char *buf;
    size_t small;         /* writes of 1 to `small` bytes; 0: 5000 each */
    long writes;          /* write calls that accepted bytes */
    atomic_long released; /* write_ref buffers given back */
};

static void count_release(void *ctx)
{
    atomic_fetch_add(&((struct filler *)ctx)->released, 1);
}

static void *fill_main(void *arg)
{
    struct filler *f = arg;
    for (size_t off = 0; off < f->n;) {
        size_t k = f->small ? 1 + off * 7919 % f->small : 5000;
        k = f->n - off < k ? f->n - off : k;
        ssize_t w = f->by_ref ? tp_pipe_write_ref(f->p, f->buf + off, k, count_release, f)
                              : tp_pipe_write(f->p, f->buf + off, k);
        assert_true(w > 0);
        off += (size_t)w;
        f->writes++;
    }
    assert_int_equal(tp_pipe_write_eof(f->p), 0);
    return NULL;
}

/* Starts a thread writing n pattern bytes to p then EOF: copies, or
 * write_ref buffers; 5000 bytes a write, or 1 to `small`. */
static void filler_start_sized(struct filler *f, tt_thread *th, tp_pipe *p, size_t n, bool by_ref,
                               size_t small)
{
    f->p = p;
    f->n = n;
    f->by_ref = by_ref;
    f->small = small;
    f->writes = 0;
    atomic_init(&f->released, 0);
    f->buf = malloc(n);
    assert_non_null(f->buf);
    tt_fill_pattern(f->buf, n, 0);
    tt_thread_start(th, fill_main, f);
}

static void filler_start(struct filler *f, tt_thread *th, tp_pipe *p, size_t n, bool by_ref)
{
    filler_start_sized(f, th, p, n, by_ref, 0);
}

static void pump_to_file_to_eof(void **state)
{
    (void)state;
    const size_t n = 250001;
    int fd = at_temp_file(0);
    tp_pipe *p = tp_pipe_new(4096, true, true, TP_FOREVER, "to-file");
    struct filler f;
    tt_thread th;
    filler_start(&f, &th, p, n, false);
    size_t moved = 0;
    assert_int_equal(tp_pipe_pump_to_fd(p, fd, 0, &moved), 0);
    tt_thread_join(&th);
    free(f.buf);
    assert_int_equal(moved, n);
    size_t len;
    unsigned char *got = at_read_file(fd, &len);
    assert_int_equal(len, n);
    at_assert_pattern(got, len, 0);
    free(got);
    close(fd);
    tp_pipe_free(p);
}

static void pump_to_fd_write_ref_data(void **state)
{
    (void)state;
    const size_t n = 100000;
    int fd = at_temp_file(0);
    tp_pipe *p = tp_pipe_new(8192, true, true, TP_FOREVER, NULL);
    struct filler f;
    tt_thread th;
    filler_start(&f, &th, p, n, true);
    size_t moved = 0;
    assert_int_equal(tp_pipe_pump_to_fd(p, fd, 0, &moved), 0);
    tt_thread_join(&th);
    free(f.buf);
    assert_int_equal(moved, n);
    size_t len;
    unsigned char *got = at_read_file(fd, &len);
    assert_int_equal(len, n);
    at_assert_pattern(got, len, 0);
    free(got);
    close(fd);
    tp_pipe_free(p);
}

static void pump_to_fd_stops_at_max(void **state)
{
    (void)state;
    int fd = at_temp_file(0);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    unsigned char buf[100];
    tt_fill_pattern(buf, sizeof buf, 0);
    assert_int_equal(tp_pipe_write(p, buf, 60), 60);
    assert_int_equal(tp_pipe_write(p, buf + 60, 40), 40);
    size_t moved = 0;
    assert_int_equal(tp_pipe_pump_to_fd(p, fd, 70, &moved), 0);
    assert_int_equal(moved, 70);
    assert_int_equal(tp_pipe_buffered(p), 30);
    assert_int_equal(fd_offset(fd), 70);
    size_t len;
    unsigned char *got = at_read_file(fd, &len);
    assert_int_equal(len, 70);
    at_assert_pattern(got, len, 0);
    free(got);
    close(fd);
    tp_pipe_free(p);
}

static void pump_to_fd_empty_at_eof(void **state)
{
    (void)state;
    int fd = at_temp_file(0);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    tp_pipe_write_eof(p);
    size_t moved = 99;
    assert_int_equal(tp_pipe_pump_to_fd(p, fd, 0, &moved), 0);
    assert_int_equal(moved, 0);
    close(fd);
    tp_pipe_free(p);
}

struct kreader {
    int fd;
    size_t got;
    unsigned char *data;
};

static void *fd_reader(void *arg)
{
    struct kreader *r = arg;
    size_t cap = 1 << 20;
    r->data = malloc(cap);
    unsigned char chunk[1500]; /* small reads: the writer sees a full fd */
    for (;;) {
        ssize_t n = read(r->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            break;
        assert_true(r->got + (size_t)n <= cap);
        memcpy(r->data + r->got, chunk, (size_t)n);
        r->got += (size_t)n;
    }
    return NULL;
}

static void pump_to_socket(void **state)
{
    (void)state;
    const size_t n = 400000;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct kreader r = {sv[1], 0, NULL};
    tt_thread rt;
    tt_thread_start(&rt, fd_reader, &r);
    tp_pipe *p = tp_pipe_new(16384, true, true, TP_FOREVER, NULL);
    struct filler f;
    tt_thread ft;
    filler_start(&f, &ft, p, n, false);
    size_t moved = 0;
    assert_int_equal(tp_pipe_pump_to_fd(p, sv[0], 0, &moved), 0);
    assert_int_equal(moved, n);
    shutdown(sv[0], SHUT_WR);
    tt_thread_join(&ft);
    free(f.buf);
    tt_thread_join(&rt);
    assert_int_equal(r.got, n);
    at_assert_pattern(r.data, r.got, 0);
    free(r.data);
    close(sv[0]);
    close(sv[1]);
    tp_pipe_free(p);
}

/* Pumps n pattern bytes, written by a filler thread (see
 * filler_start_sized), into a small non-blocking kernel pipe with a slow
 * reader: write(2) and writev(2) there return short counts and EAGAIN, and
 * the pump must wait for room instead of dropping bytes. Every byte must
 * arrive once, in order, and every write_ref buffer be given back once. */
static void pump_through_small_kernel_pipe(size_t n, size_t bsize, bool by_ref, size_t small)
{
    int kp[2];
    assert_int_equal(pipe(kp), 0);
#ifdef F_SETPIPE_SZ
    (void)fcntl(kp[1], F_SETPIPE_SZ, 4096); /* best effort: smallest size */
#endif
    assert_int_equal(fcntl(kp[1], F_SETFL, O_NONBLOCK), 0);
    struct kreader r = {kp[0], 0, NULL};
    tt_thread rt;
    tt_thread_start(&rt, fd_reader, &r);
    tp_pipe *p = tp_pipe_new(bsize, true, true, TP_FOREVER, NULL);
    struct filler f;
    tt_thread ft;
    filler_start_sized(&f, &ft, p, n, by_ref, small);
    size_t moved = 0;
    assert_int_equal(tp_pipe_pump_to_fd(p, kp[1], 0, &moved), 0);
    assert_int_equal(moved, n);
    close(kp[1]);
    tt_thread_join(&ft);
    tt_thread_join(&rt);
    assert_int_equal(r.got, n);
    at_assert_pattern(r.data, r.got, 0);
    if (by_ref)
        assert_int_equal(atomic_load(&f.released), f.writes);
    free(f.buf);
    free(r.data);
    close(kp[0]);
    tp_pipe_free(p);
}

static void pump_to_nonblocking_kernel_pipe(void **state)
{
    (void)state;
    pump_through_small_kernel_pipe(300000, 65536, false, 0);
}

/* Many small write_ref buffers (1 to 997 bytes), so each writev(2) of the
 * pump carries several of them. A writev of more than PIPE_BUF bytes into
 * the kernel pipe is cut short wherever room ends, inside one buffer or
 * between two. */
static void pump_small_refs_to_nonblocking_kernel_pipe(void **state)
{
    (void)state;
    pump_through_small_kernel_pipe(200000, 16384, true, 997);
}

static void pump_to_fd_reader_gone_epipe(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as the header asks of the caller */
    int kp[2];
    assert_int_equal(pipe(kp), 0);
    close(kp[0]);
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "data", 4), 4);
    size_t moved = 99;
    assert_fails_with(tp_pipe_pump_to_fd(p, kp[1], 0, &moved), EPIPE);
    assert_int_equal(moved, 0);
    close(kp[1]);
    tp_pipe_free(p);
}

static void pump_to_bad_fd_keeps_data(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "data", 4), 4);
    size_t moved = 99;
    assert_fails_with(tp_pipe_pump_to_fd(p, -1, 0, &moved), EBADF);
    assert_int_equal(moved, 0);
    int kp[2];
    assert_int_equal(pipe(kp), 0);
    moved = 99;
    assert_fails_with(tp_pipe_pump_to_fd(p, kp[0], 0, &moved), EBADF); /* read end */
    assert_int_equal(moved, 0);
    assert_int_equal(tp_pipe_buffered(p), 4); /* nothing consumed */
    moved = 99;
    assert_fails_with(tp_pipe_pump_to_fd(NULL, kp[1], 0, &moved), EINVAL);
    assert_int_equal(moved, 0);
    close(kp[0]);
    close(kp[1]);
    tp_pipe_free(p);
}

static void pump_to_fd_pipe_errors(void **state)
{
    (void)state;
    int fd = at_temp_file(0);
    tp_pipe *p = tp_pipe_new(0, false, true, TP_FOREVER, NULL);
    size_t moved = 99;
    assert_int_equal(tp_pipe_write(p, "ab", 2), 2);
    assert_fails_with(tp_pipe_pump_to_fd(p, fd, 0, &moved), EAGAIN);
    assert_int_equal(moved, 2); /* what it wrote before the pipe ran dry */
    tp_pipe_set_readblocking(p, true);
    tp_pipe *q = tp_pipe_new(0, true, true, 0.05, NULL);
    double t0 = tt_now();
    assert_fails_with(tp_pipe_pump_to_fd(q, fd, 0, &moved), ETIMEDOUT);
    assert_not_earlier(tt_now() - t0, 0.05);
    assert_int_equal(moved, 0);
    tp_pipe_close(q);
    moved = 99;
    assert_fails_with(tp_pipe_pump_to_fd(q, fd, 0, &moved), EPIPE);
    assert_int_equal(moved, 0);
    close(fd);
    tp_pipe_free(p);
    tp_pipe_free(q);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pump_from_file_to_eof),
        cmocka_unit_test(pump_from_fd_stops_at_max),
        cmocka_unit_test(pump_from_empty_file),
        cmocka_unit_test(pump_from_kernel_pipe),
        cmocka_unit_test(pump_from_socket),
        cmocka_unit_test(pump_from_bad_fd_ebadf),
        cmocka_unit_test(pump_from_fd_into_closed_pipe_epipe),
        cmocka_unit_test(pump_from_fd_nonblocking_full_pipe_eagain),
        cmocka_unit_test(pump_from_fd_timeout_loses_nothing),
        cmocka_unit_test(pump_from_nonblocking_fd_eagain),
        cmocka_unit_test(pump_to_file_to_eof),
        cmocka_unit_test(pump_to_fd_write_ref_data),
        cmocka_unit_test(pump_to_fd_stops_at_max),
        cmocka_unit_test(pump_to_fd_empty_at_eof),
        cmocka_unit_test(pump_to_socket),
        cmocka_unit_test(pump_to_nonblocking_kernel_pipe),
        cmocka_unit_test(pump_small_refs_to_nonblocking_kernel_pipe),
        cmocka_unit_test(pump_to_fd_reader_gone_epipe),
        cmocka_unit_test(pump_to_bad_fd_keeps_data),
        cmocka_unit_test(pump_to_fd_pipe_errors),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
