/* test_oom.c - out-of-memory injection: each scenario runs with the Nth
 * tpipe allocation failing, for N = 1, 2, ... until a run sees no failure,
 * in fail-once and keep-failing modes. Every failing call must report
 * ENOMEM (or a partial count), the pipe must stay usable with no byte lost
 * or invented, each release callback must run exactly once for an accepted
 * write_ref and never for a rejected one, and nothing may leak: the
 * counting allocator must end with no live block (LSan checks the rest). */
#include "fail_alloc.h"
#include "rel_util.h"

#define MAX_N 100000

/* The bytes a scenario expects to read back, in order. */
typedef struct expect {
    unsigned char buf[1 << 16];
    size_t len;
} expect;

static void expect_add(expect *e, const void *d, size_t n)
{
    assert_true(e->len + n <= sizeof e->buf);
    memcpy(e->buf + e->len, d, n);
    e->len += n;
}

/* A write_ref buffer and its release count. */
typedef struct rbuf {
    unsigned char data[6000];
    int released;
    bool accepted;
} rbuf;

static void on_release(void *ctx)
{
    ((rbuf *)ctx)->released++;
}

static void assert_enomem(long long r, int e, const char *what)
{
    if (r != -1 || e != ENOMEM)
        fail_msg("%s under allocation failure: returned %lld errno %d (%s), expected -1/ENOMEM",
                 what, r, e, strerror(e));
}

/* Reads everything buffered (non-blocking) and compares it with e. */
static void drain_and_compare(tp_pipe *p, const expect *e)
{
    static unsigned char got[1 << 16];
    size_t n = 0;
    tp_pipe_set_readblocking(p, false);
    for (;;) {
        ssize_t k = tp_pipe_read(p, got + n, sizeof got - n);
        if (k <= 0) {
            if (k < 0)
                assert_int_equal(errno, EAGAIN);
            break;
        }
        n += (size_t)k;
    }
    assert_int_equal(n, e->len);
    assert_memory_equal(got, e->buf, n);
}

/* After the failures: the pipe still moves bytes both ways. */
static void assert_usable(tp_pipe *p)
{
    expect *e = calloc(1, sizeof *e);
    assert_non_null(e);
    static const char msg[] = "still usable\r\n";
    assert_int_equal(tp_pipe_write(p, msg, sizeof msg - 1), (ssize_t)(sizeof msg - 1));
    void *line = NULL;
    assert_int_equal(tp_pipe_readmatch(p, NULL, 0, &line), (ssize_t)(sizeof msg - 1));
    assert_memory_equal(line, msg, sizeof msg - 1);
    tp_free(line);
    expect_add(e, "x", 1);
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    drain_and_compare(p, e);
    free(e);
}

typedef bool (*scenario)(enum fa_mode mode, unsigned long n);

/* Runs s for N = 1.. until a run injects no failure, in both modes. */
static void run_scenario(scenario s, const char *name)
{
    static const enum fa_mode modes[] = {FA_ONCE, FA_FROM};
    fa_install();
    for (int m = 0; m < 2; m++) {
        unsigned long n;
        for (n = 1; n < MAX_N; n++) {
            assert_int_equal(fa_live_blocks(), 0);
            bool fired = s(modes[m], n);
            fa_arm(FA_OFF, 0);
            if (fa_live_blocks() != 0)
                fail_msg("%s: %zu tpipe blocks leaked (mode %s, N=%lu)", name, fa_live_blocks(),
                         m ? "keep-failing" : "fail-once", n);
            if (!fired)
                break;
        }
        assert_true(n < MAX_N);
        printf("%s: %s mode, failed allocations 1..%lu, all handled\n", name,
               m ? "keep-failing" : "fail-once", n - 1);
    }
    fa_uninstall();
}

/* Creation of every object kind. */
static bool s_create(enum fa_mode mode, unsigned long n)
{
    static const char data[] = "0123456789abcdefghij";
    /* A pipe with data and EOF, made before arming, for wrapper_new_pipe. */
    tp_pipe *src = tp_pipe_new(64, true, true, 0.0, "src");
    assert_non_null(src);
    assert_int_equal(tp_pipe_write(src, data, 20), 20);
    assert_int_equal(tp_pipe_write_eof(src), 0);

    /* A fresh pipe's first readmatch may allocate its search state. */
    tp_pipe *fresh = tp_pipe_new(64, false, false, 0.0, "fresh");
    assert_non_null(fresh);

    fa_arm(mode, n);
    void *line = (void *)1;
    errno = 0;
    ssize_t km = tp_pipe_readmatch(fresh, "\n", 1, &line);
    int k_err = errno;
    if (!(km == -1 && k_err == EAGAIN))
        assert_enomem(km, k_err, "tp_pipe_readmatch on a fresh pipe");
    assert_null(line);
    errno = 0;
    tp_pipe *p = tp_pipe_new(64, true, true, 1.0, "a name to copy");
    if (p == NULL)
        assert_enomem(-1, errno, "tp_pipe_new");
    errno = 0;
    tp_event *ev = tp_event_new();
    if (ev == NULL)
        assert_enomem(-1, errno, "tp_event_new");
    errno = 0;
    tp_wrapper *w = tp_wrapper_new_mem(data, 20, 8);
    if (w == NULL)
        assert_enomem(-1, errno, "tp_wrapper_new_mem");
    errno = 0;
    tp_wrapper *wp = tp_wrapper_new_pipe(src, 64);
    int wp_err = errno;
    bool fired = fa_failures() > 0;
    fa_arm(FA_OFF, 0);

    if (wp == NULL) {
        assert_enomem(-1, wp_err, "tp_wrapper_new_pipe");
        /* Nothing may be lost: the bytes are still in the pipe. */
        assert_int_equal(tp_pipe_buffered(src), 20);
    } else {
        unsigned char buf[32];
        assert_int_equal(tp_wrapper_read(wp, buf, sizeof buf), 20);
        assert_memory_equal(buf, data, 20);
    }
    if (w != NULL) {
        unsigned char buf[32];
        ssize_t k, total = 0;
        while ((k = tp_wrapper_read(w, buf + total, sizeof buf - (size_t)total)) > 0)
            total += k;
        assert_int_equal(total, 20);
        assert_memory_equal(buf, data, 20);
    }
    if (p != NULL) {
        assert_string_equal(tp_pipe_name(p), "a name to copy");
        assert_usable(p);
    }
    tp_wrapper_free(wp);
    tp_wrapper_free(w);
    tp_event_free(ev);
    tp_pipe_free(p);
    tp_pipe_free(src);
    assert_usable(fresh);
    tp_pipe_free(fresh);
    return fired;
}

/* Copy writes of several sizes, some partial. */
static bool s_copy_writes(enum fa_mode mode, unsigned long n)
{
    static unsigned char data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    expect *e = calloc(1, sizeof *e);
    assert_non_null(e);
    tp_pipe *p = tp_pipe_new(8192, true, false, 0.0, "copy");
    assert_non_null(p);
    static const size_t sizes[] = {1, 100, 3000, 1500, 5000, 7, 2048};
    size_t off = 0;
    fa_arm(mode, n);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        ssize_t k = tp_pipe_write(p, data + off, sizes[i]);
        int err = errno;
        if (k > 0) {
            assert_true((size_t)k <= sizes[i]);
            expect_add(e, data + off, (size_t)k);
            off += (size_t)k;
        } else if (!(k == -1 && err == EAGAIN)) {
            assert_enomem(k, err, "tp_pipe_write");
        }
        assert_int_equal(tp_pipe_buffered(p), e->len);
    }
    bool fired = fa_failures() > 0;
    fa_arm(FA_OFF, 0);
    drain_and_compare(p, e);
    assert_usable(p);
    tp_pipe_free(p);
    free(e);
    return fired;
}

/* write_ref: accepted buffers are released once, rejected ones never;
 * half of the runs discard by close instead of reading. */
static bool s_write_ref(enum fa_mode mode, unsigned long n)
{
    static const size_t sizes[] = {10, 2000, 0, 5000, 3};
    enum { NB = 5 };
    rbuf *b = calloc(NB, sizeof *b);
    expect *e = calloc(1, sizeof *e);
    assert_non_null(b);
    assert_non_null(e);
    tp_pipe *p = tp_pipe_new(4096, true, false, 0.0, "ref");
    assert_non_null(p);
    fa_arm(mode, n);
    for (int i = 0; i < NB; i++) {
        memset(b[i].data, 'a' + i, sizeof b[i].data);
        errno = 0;
        ssize_t k = tp_pipe_write_ref(p, b[i].data, sizes[i], on_release, &b[i]);
        int err = errno;
        if (k == (ssize_t)sizes[i]) {
            b[i].accepted = true;
            expect_add(e, b[i].data, sizes[i]);
            if (sizes[i] == 0)
                assert_int_equal(b[i].released, 1);
        } else if (k == -1 && err == EAGAIN) {
            assert_int_equal(b[i].released, 0);
        } else {
            assert_enomem(k, err, "tp_pipe_write_ref");
            assert_int_equal(b[i].released, 0);
        }
    }
    bool fired = fa_failures() > 0;
    fa_arm(FA_OFF, 0);
    if (n % 2) {
        drain_and_compare(p, e);
    } else {
        tp_pipe_close(p);
    }
    for (int i = 0; i < NB; i++)
        if (b[i].released != (b[i].accepted ? 1 : 0))
            fail_msg("write_ref %d (%s): released %d times", i,
                     b[i].accepted ? "accepted" : "rejected", b[i].released);
    if (n % 2)
        assert_usable(p);
    tp_pipe_free(p);
    for (int i = 0; i < NB; i++)
        assert_int_equal(b[i].released, b[i].accepted ? 1 : 0);
    free(b);
    free(e);
    return fired;
}

/* readmatch, read_view and readall under failures: a failed call consumes
 * nothing (readall: hands over what it consumed), and every byte is read
 * exactly once in the end. */
static bool s_reads(enum fa_mode mode, unsigned long n)
{
    static const char text[] = "first line\r\nsecond\r\nno end";
    static rbuf ref;
    memset(ref.data, 'R', 300);
    ref.released = 0;
    expect *all = calloc(1, sizeof *all), *got = calloc(1, sizeof *got);
    assert_non_null(all);
    assert_non_null(got);
    tp_pipe *p = tp_pipe_new(4096, false, false, 0.0, "reads");
    assert_non_null(p);
    assert_int_equal(tp_pipe_write(p, text, 12), 12);
    assert_int_equal(tp_pipe_write_ref(p, ref.data, 300, on_release, &ref), 300);
    assert_int_equal(tp_pipe_write(p, text + 12, sizeof text - 13), (ssize_t)(sizeof text - 13));
    expect_add(all, text, 12);
    expect_add(all, ref.data, 300);
    expect_add(all, text + 12, sizeof text - 13);
    assert_int_equal(tp_pipe_write_eof(p), 0);

    fa_arm(mode, n);
    for (int step = 0; step < 4; step++) {
        size_t before = tp_pipe_buffered(p);
        void *out = NULL;
        errno = 0;
        ssize_t k;
        int err;
        if (step == 0 || step == 2) {
            k = tp_pipe_readmatch(p, NULL, 0, &out);
            err = errno;
            if (k > 0) {
                expect_add(got, out, (size_t)k);
            } else if (k < 0) {
                assert_enomem(k, err, "tp_pipe_readmatch");
                assert_null(out);
                assert_int_equal(tp_pipe_buffered(p), before);
            }
            tp_free(out);
        } else if (step == 1) {
            const void *d = NULL;
            tp_view *v = NULL;
            k = tp_pipe_read_view(p, 200, &d, &v);
            err = errno;
            if (k > 0) {
                expect_add(got, d, (size_t)k);
                tp_view_release(v);
            } else {
                assert_enomem(k, err, "tp_pipe_read_view");
                assert_int_equal(tp_pipe_buffered(p), before);
            }
        } else {
            size_t len = 0;
            int r = tp_pipe_readall(p, &out, &len);
            err = errno;
            if (r != 0)
                assert_enomem(r, err, "tp_pipe_readall");
            assert_int_equal(tp_pipe_buffered(p), before - len);
            if (len > 0)
                expect_add(got, out, len);
            tp_free(out);
        }
    }
    bool fired = fa_failures() > 0;
    fa_arm(FA_OFF, 0);
    /* Whatever is left comes out with plain reads. */
    unsigned char buf[512];
    ssize_t k;
    while ((k = tp_pipe_read(p, buf, sizeof buf)) > 0)
        expect_add(got, buf, (size_t)k);
    assert_int_equal(k, 0); /* EOF */
    assert_int_equal(got->len, all->len);
    assert_memory_equal(got->buf, all->buf, all->len);
    assert_int_equal(ref.released, 1);
    tp_pipe_free(p);
    assert_int_equal(ref.released, 1);
    free(all);
    free(got);
    return fired;
}

/* Lines after the first: readmatch's search state already exists and each
 * line lies in one segment, the path most calls take. A failed call,
 * whether it allocates the line or copies it into the caller's buffer
 * (which allocates nothing), consumes nothing. */
static bool s_lines(enum fa_mode mode, unsigned long n)
{
    static const char text[] = "one\r\ntwo\r\nthree\r\nfour\r\n";
    expect *got = calloc(1, sizeof *got);
    assert_non_null(got);
    tp_pipe *p = tp_pipe_new(4096, false, false, 0.0, "lines");
    assert_non_null(p);
    assert_int_equal(tp_pipe_write(p, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    assert_int_equal(tp_pipe_write_eof(p), 0);
    void *out = NULL;
    assert_int_equal(tp_pipe_readmatch(p, NULL, 0, &out), 5); /* "one": sets up the search */
    expect_add(got, out, 5);
    tp_free(out);

    fa_arm(mode, n);
    for (int step = 0; step < 3; step++) {
        size_t before = tp_pipe_buffered(p);
        char buf[16];
        out = NULL;
        errno = 0;
        ssize_t k = step % 2 ? tp_pipe_readmatch_into(p, NULL, 0, buf, sizeof buf, 0)
                             : tp_pipe_readmatch(p, NULL, 0, &out);
        int err = errno;
        if (k > 0) {
            expect_add(got, step % 2 ? (void *)buf : out, (size_t)k);
        } else {
            assert_enomem(k, err, "tp_pipe_readmatch");
            assert_null(out);
            assert_int_equal(tp_pipe_buffered(p), before);
        }
        tp_free(out);
    }
    bool fired = fa_failures() > 0;
    fa_arm(FA_OFF, 0);
    ssize_t k;
    while ((k = tp_pipe_readmatch(p, NULL, 0, &out)) > 0) {
        expect_add(got, out, (size_t)k);
        tp_free(out);
    }
    assert_int_equal(k, 0); /* EOF */
    assert_int_equal(got->len, sizeof text - 1);
    assert_memory_equal(got->buf, text, sizeof text - 1);
    tp_pipe_free(p);
    free(got);
    return fired;
}

static void oom_create(void **state)
{
    (void)state;
    run_scenario(s_create, "create");
}

static void oom_copy_writes(void **state)
{
    (void)state;
    run_scenario(s_copy_writes, "copy_writes");
}

static void oom_write_ref(void **state)
{
    (void)state;
    run_scenario(s_write_ref, "write_ref");
}

static void oom_reads(void **state)
{
    (void)state;
    run_scenario(s_reads, "reads");
}

static void oom_lines(void **state)
{
    (void)state;
    run_scenario(s_lines, "lines");
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
        cmocka_unit_test(oom_create),    cmocka_unit_test(oom_copy_writes),
        cmocka_unit_test(oom_write_ref), cmocka_unit_test(oom_reads),
        cmocka_unit_test(oom_lines),
    };
    tp_set_log_fn(quiet, NULL);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("oom", tests, NULL, NULL);
}
