/* fuzz_pipe.c - libFuzzer harness: decodes the input into up to a few hundred
 * operations on one or two pipes and a memory wrapper, runs each on the
 * library and on the reference model (pipe_model.c), and aborts with a
 * description at the first result, errno, byte or release that differs.
 *
 * Everything is single-threaded and every pipe has timeout 0, so no call can
 * block: a call that would wait fails at once (ETIMEDOUT, or EAGAIN on a
 * non-blocking end), which the model predicts exactly. */
#include "pipe_model.h"

#include "tpipe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 400
#define MAX_VIEWS 16
#define MAX_REFS (MAX_OPS + 8)
#define MAX_IO 96

/* Bytes written are drawn from a small alphabet so that delimiters match
 * often; the first four letters are also the delimiter alphabet. */
static const unsigned char alpha[8] = {'a', '\r', '\n', 'b', 'x', 0, 0xff, 'y'};

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static unsigned take(input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* A write_ref buffer given to the library. */
typedef struct ref_slot {
    bool used;
    int pipe, gen;
    model_ref r;
    unsigned char *buf;
} ref_slot;

typedef struct view_slot {
    tp_view *view;
    const void *data;
    unsigned char *expect;
    size_t n;
    int pipe, gen;
    uint64_t start, end;
} view_slot;

static struct harness {
    int op;           /* index of the running operation */
    const char *what; /* its name, for divergence reports */
    int npipes;
    tp_pipe *pipe[2];
    pipe_model model[2];
    tp_event *ev[2];
    size_t bsize;
    bool rblocking, wblocking;
    ref_slot refs[MAX_REFS];
    int nrefs;
    view_slot views[MAX_VIEWS];
    int nviews;
    tp_wrapper *w;
    wrapper_model wm;
    unsigned char *wdata;   /* the wrapper's source */
    void *nullref[MAX_OPS]; /* write_ref buffers given with release NULL */
    int nnull;
} H;

static void diverge(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void diverge(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz_pipe: divergence at op %d (%s): ", H.op, H.what ? H.what : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            diverge(__VA_ARGS__);                                                                  \
    } while (0)

/* Compares a library result with the model's: value, then errno on -1. */
static void expect_ret(long long got, int got_err, long long want, int want_err)
{
    CHECK(got == want, "returned %lld, model says %lld (errno %d, model errno %d)", got, want,
          got < 0 ? got_err : 0, want_err);
    if (got < 0)
        CHECK(got_err == want_err, "errno %d (%s), model says %d (%s)", got_err, strerror(got_err),
              want_err, strerror(want_err));
}

/* Warnings logged by the library (close discarding data logs one). */
static int warnings;

static void count_log(int level, const char *name, const char *msg, void *ctx)
{
    (void)name;
    (void)msg;
    (void)ctx;
    if (level == TP_LOG_WARNING)
        warnings++;
}

static void on_release(void *ctx)
{
    ref_slot *s = ctx;
    s->r.released++;
    /* Poison the bytes: a library that reads them after release shows up
     * as a byte divergence even without ASan. */
    memset(s->buf, 0xA5, (size_t)(s->r.end - s->r.start));
    free(s->buf);
    s->buf = NULL;
}

static bool ref_pinned(const ref_slot *s)
{
    for (int i = 0; i < H.nviews; i++) {
        const view_slot *v = &H.views[i];
        if (v->pipe == s->pipe && v->gen == s->gen && v->start < s->r.end && s->r.start < v->end)
            return true;
    }
    return false;
}

/* Every buffer is released at most once, never while it may still be read,
 * and (strictly) as soon as nothing can read it any more. */
static void check_refs(void)
{
    for (int i = 0; i < H.nrefs; i++) {
        ref_slot *s = &H.refs[i];
        if (!s->used)
            continue;
        const pipe_model *m = &H.model[s->pipe];
        bool gone = s->r.dead || s->r.discarded || (m->gen == s->gen && m->rpos >= s->r.end);
        bool allowed = gone && !ref_pinned(s);
        CHECK(s->r.released <= 1, "ref %d released %d times", i, s->r.released);
        CHECK(!s->r.released || allowed, "ref %d [%llu,%llu) released while still readable", i,
              (unsigned long long)s->r.start, (unsigned long long)s->r.end);
        CHECK(!allowed || s->r.released, "ref %d [%llu,%llu) not released though consumed", i,
              (unsigned long long)s->r.start, (unsigned long long)s->r.end);
    }
}

static void check_state(int pi)
{
    tp_pipe *p = H.pipe[pi];
    pipe_model *m = &H.model[pi];
    CHECK(tp_pipe_buffered(p) == m->len, "buffered %zu, model %zu", tp_pipe_buffered(p), m->len);
    CHECK(tp_pipe_empty(p) == (m->len == 0), "empty disagrees (model len %zu)", m->len);
    CHECK(tp_pipe_eof(p) == m->eof, "eof %d, model %d", tp_pipe_eof(p), m->eof);
    CHECK(tp_pipe_closed(p) == m->closed, "closed %d, model %d", tp_pipe_closed(p), m->closed);
    CHECK(tp_pipe_readblocking(p) == m->rblocking, "readblocking disagrees");
    CHECK(tp_pipe_writeblocking(p) == m->wblocking, "writeblocking disagrees");
    if (m->has_rflag && m->rflag != FLAG_UNKNOWN)
        CHECK(tp_event_is_set(H.ev[pi]) == (m->rflag == FLAG_SET), "rflag %d, model %d",
              tp_event_is_set(H.ev[pi]), m->rflag == FLAG_SET);
    if (m->has_rflag)
        m->rflag = tp_event_is_set(H.ev[pi]) ? FLAG_SET : FLAG_CLEAR; /* resync unknowns */
}

static void make_pipe(int pi)
{
    H.pipe[pi] = tp_pipe_new(H.bsize, H.rblocking, H.wblocking, 0.0, pi ? "fuzz-b" : "fuzz-a");
    if (H.pipe[pi] == NULL)
        abort();
    int gen = H.model[pi].gen;
    model_init(&H.model[pi], H.bsize, H.rblocking, H.wblocking);
    H.model[pi].gen = gen + 1;
    CHECK(tp_pipe_bsize(H.pipe[pi]) == H.model[pi].bsize, "bsize %zu, model %zu",
          tp_pipe_bsize(H.pipe[pi]), H.model[pi].bsize);
}

static void drop_view(int i)
{
    view_slot *v = &H.views[i];
    CHECK(memcmp(v->data, v->expect, v->n) == 0, "view bytes changed before release");
    tp_view_release(v->view);
    free(v->expect);
    H.views[i] = H.views[--H.nviews];
}

static void free_pipe(int pi)
{
    tp_pipe_free(H.pipe[pi]);
    H.pipe[pi] = NULL;
    for (int i = 0; i < H.nrefs; i++)
        if (H.refs[i].used && H.refs[i].pipe == pi)
            H.refs[i].r.dead = true;
    model_destroy(&H.model[pi]);
    H.model[pi].has_rflag = false;
}

static void fill(input *in, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = alpha[take(in) & 7];
}

static void op_write(input *in, int pi, bool ref)
{
    tp_pipe *p = H.pipe[pi];
    pipe_model *m = &H.model[pi];
    size_t n = take(in) % MAX_IO;
    unsigned char data[MAX_IO];
    fill(in, data, n);
    int merr;
    if (!ref) {
        H.what = "write";
        errno = 0;
        ssize_t r = tp_pipe_write(p, data, n);
        int e = errno;
        long long want_ = model_write(m, data, n, &merr);
        expect_ret(r, e, want_, merr);
        return;
    }
    H.what = "write_ref";
    bool null_release = (take(in) & 15) == 0;
    unsigned char *buf = malloc(n ? n : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data, n);
    uint64_t start = m->wpos;
    if (null_release) {
        errno = 0;
        ssize_t r = tp_pipe_write_ref(p, buf, n, NULL, NULL);
        int e = errno;
        long long want_ = model_write_ref(m, data, n, &merr);
        expect_ret(r, e, want_, merr);
        H.nullref[H.nnull++] = buf; /* freed once every pipe is gone */
        return;
    }
    ref_slot *s = &H.refs[H.nrefs];
    memset(s, 0, sizeof *s);
    s->pipe = pi;
    s->gen = m->gen;
    s->buf = buf;
    s->r.start = start;
    s->r.end = start + n;
    errno = 0;
    ssize_t r = tp_pipe_write_ref(p, buf, n, on_release, s);
    int e = errno;
    long long want_ = model_write_ref(m, data, n, &merr);
    expect_ret(r, e, want_, merr);
    if (r < 0) {
        CHECK(s->r.released == 0, "release called for a rejected write_ref");
        free(buf);
        return;
    }
    if (n == 0) {
        CHECK(s->r.released == 1, "write_ref of 0 bytes did not release before returning");
        return;
    }
    s->used = true;
    H.nrefs++;
}

static void op_read(input *in, int pi)
{
    H.what = "read";
    unsigned char buf[MAX_IO];
    size_t n = take(in) % MAX_IO;
    size_t avail;
    int merr;
    memset(buf, 0xEE, sizeof buf);
    errno = 0;
    ssize_t r = tp_pipe_read(H.pipe[pi], buf, n);
    int e = errno;
    int want = model_read_begin(&H.model[pi], n, &merr, &avail);
    if (want <= 0) {
        expect_ret(r, e, want, merr);
        return;
    }
    CHECK(r >= 1 && (size_t)r <= avail, "read returned %zd, model allows 1..%zu", r, avail);
    CHECK(memcmp(buf, H.model[pi].buf, (size_t)r) == 0, "read bytes differ");
    model_consume(&H.model[pi], (size_t)r);
}

/* Keeps a view the library handed out, with a copy of its bytes, to check
 * them again at release and to pin the ref buffers it lies in. */
static void keep_view(int pi, tp_view *view, const void *data, size_t n, uint64_t start)
{
    view_slot *v = &H.views[H.nviews++];
    v->view = view;
    v->data = data;
    v->n = n;
    v->expect = malloc(n);
    if (v->expect == NULL)
        abort();
    memcpy(v->expect, data, n);
    v->pipe = pi;
    v->gen = H.model[pi].gen;
    v->start = start;
    v->end = start + (uint64_t)n;
}

static void op_read_view(input *in, int pi)
{
    H.what = "read_view";
    if (H.nviews == MAX_VIEWS)
        drop_view(0);
    size_t n = take(in) % MAX_IO;
    size_t avail;
    int merr;
    const void *data = (const void *)1;
    tp_view *view = (tp_view *)1;
    errno = 0;
    ssize_t r = tp_pipe_read_view(H.pipe[pi], n, &data, &view);
    int e = errno;
    pipe_model *m = &H.model[pi];
    int want = model_read_begin(m, n, &merr, &avail);
    if (want <= 0) {
        expect_ret(r, e, want, merr);
        CHECK(data == NULL && view == NULL, "read_view returned nothing but set data/view");
        return;
    }
    CHECK(r >= 1 && (size_t)r <= avail, "read_view returned %zd, model allows 1..%zu", r, avail);
    CHECK(data != NULL && view != NULL, "read_view returned %zd bytes without a view", r);
    CHECK(memcmp(data, m->buf, (size_t)r) == 0, "read_view bytes differ");
    keep_view(pi, view, data, (size_t)r, m->rpos);
    model_consume(m, (size_t)r);
}

#define MAX_PIECES 4

/* read_views of up to MAX_PIECES pieces: together they are the stream's
 * next bytes, each kept as a view. */
static void op_read_views(input *in, int pi)
{
    H.what = "read_views";
    while (H.nviews > MAX_VIEWS - MAX_PIECES)
        drop_view(0);
    size_t n = take(in) % MAX_IO;
    int nv = 1 + (int)(take(in) % MAX_PIECES);
    struct iovec iov[MAX_PIECES];
    tp_view *views[MAX_PIECES];
    errno = 0;
    int r = tp_pipe_read_views(H.pipe[pi], n, iov, views, nv);
    int e = errno;
    pipe_model *m = &H.model[pi];
    size_t avail;
    int merr;
    int want = model_read_begin(m, n, &merr, &avail);
    if (want <= 0) {
        expect_ret(r, e, want, merr);
        return;
    }
    CHECK(r >= 1 && r <= nv, "read_views returned %d views, asked for 1..%d", r, nv);
    size_t off = 0;
    for (int i = 0; i < r; i++) {
        size_t k = iov[i].iov_len;
        CHECK(k >= 1 && off + k <= avail, "read_views piece %d: %zu bytes after %zu of %zu", i, k,
              off, avail);
        CHECK(iov[i].iov_base != NULL && views[i] != NULL, "read_views piece %d unset", i);
        CHECK(memcmp(iov[i].iov_base, m->buf + off, k) == 0, "read_views piece %d differs", i);
        keep_view(pi, views[i], iov[i].iov_base, k, m->rpos + off);
        off += k;
    }
    model_consume(m, off);
}

/* Gives back the last 2..MAX_PIECES views kept, in one tp_views_release. */
static void drop_views(input *in)
{
    H.what = "views_release";
    int k = 2 + (int)(take(in) % (MAX_PIECES - 1));
    if (k > H.nviews)
        k = H.nviews;
    tp_view *views[MAX_PIECES];
    for (int i = 0; i < k; i++) {
        view_slot *v = &H.views[H.nviews - k + i];
        CHECK(memcmp(v->data, v->expect, v->n) == 0, "view bytes changed before release");
        views[i] = v->view;
        free(v->expect);
    }
    H.nviews -= k;
    tp_views_release(views, k);
}

static void op_readmatch(input *in, int pi)
{
    H.what = "readmatch";
    unsigned b = take(in);
    unsigned char match[4];
    const unsigned char *mp = NULL;
    size_t mlen = 0;
    if ((b & 7) != 0) {
        mlen = 1 + ((b >> 3) & 3);
        for (size_t i = 0; i < mlen; i++)
            match[i] = alpha[take(in) & 3];
        mp = match;
    }
    void *out = (void *)1;
    errno = 0;
    ssize_t r = tp_pipe_readmatch(H.pipe[pi], mp, mlen, &out);
    int e = errno;
    int merr;
    pipe_model *m = &H.model[pi];
    ssize_t want = model_readmatch(m, mp, mlen, &merr);
    expect_ret(r, e, want, merr);
    if (r <= 0) {
        CHECK(out == NULL, "readmatch returned %zd but *out is not NULL", r);
        return;
    }
    CHECK(out != NULL && memcmp(out, m->buf, (size_t)r) == 0, "readmatch bytes differ");
    model_consume(m, (size_t)r);
    tp_free(out);
}

static void op_readall(int pi)
{
    H.what = "readall";
    pipe_model *m = &H.model[pi];
    unsigned char *before = malloc(m->len ? m->len : 1);
    if (before == NULL)
        abort();
    if (m->len > 0)
        memcpy(before, m->buf, m->len);
    void *out = (void *)1;
    size_t len = 12345;
    errno = 0;
    int r = tp_pipe_readall(H.pipe[pi], &out, &len);
    int e = errno;
    int merr;
    size_t got;
    int want = model_readall(m, &merr, &got);
    expect_ret(r, e, want, merr);
    CHECK(len == got, "readall handed over %zu bytes, model %zu", len, got);
    if (r == 0 || got > 0)
        CHECK(out != NULL, "readall: *out NULL with %zu bytes (ret %d)", got, r);
    else
        CHECK(out == NULL, "readall failed with nothing read but *out is set");
    if (got > 0)
        CHECK(memcmp(out, before, got) == 0, "readall bytes differ");
    tp_free(out);
    free(before);
}

static void op_wait(input *in, int pi)
{
    unsigned b = take(in);
    pipe_model *m = &H.model[pi];
    int merr, want, r, e;
    int kind = (int)(b % 4);
    /* Mostly timeout 0; a tiny real wait or "forever" only where the model
     * says the call returns without waiting. */
    double t = 0.0;
    int (*fn)(tp_pipe *, double);
    switch (kind) {
    case 0:
        H.what = "write_wait";
        want = model_write_wait(m, &merr);
        fn = tp_pipe_write_wait;
        break;
    case 1:
        H.what = "read_wait";
        want = model_read_wait(m, &merr);
        fn = tp_pipe_read_wait;
        break;
    case 2:
        H.what = "flush_wait";
        want = model_flush_wait(m, &merr);
        fn = tp_pipe_flush_wait;
        break;
    default:
        H.what = "flush";
        want = model_flush(m, &merr);
        errno = 0;
        r = tp_pipe_flush(H.pipe[pi]);
        e = errno;
        expect_ret(r, e, want, merr);
        return;
    }
    if (b & 0x10)
        t = merr == ETIMEDOUT ? 1e-4 : TP_FOREVER;
    errno = 0;
    r = fn(H.pipe[pi], t);
    e = errno;
    expect_ret(r, e, want, merr);
}

static void op_query(input *in, int pi)
{
    tp_pipe *p = H.pipe[pi];
    pipe_model *m = &H.model[pi];
    unsigned b = take(in);
    int merr, e;
    errno = 0;
    if (b & 1) {
        H.what = "canwrite";
        ssize_t r = tp_pipe_canwrite(p);
        e = errno;
        long long want_ = model_canwrite(m, &merr);
        expect_ret(r, e, want_, merr);
    } else {
        H.what = "canread";
        int r = tp_pipe_canread(p);
        e = errno;
        long long want_ = model_canread(m, &merr);
        expect_ret(r, e, want_, merr);
    }
}

static void op_mode(input *in, int pi)
{
    unsigned b = take(in);
    H.what = "set_blocking";
    if (b & 1) {
        H.model[pi].rblocking = b & 2;
        tp_pipe_set_readblocking(H.pipe[pi], b & 2);
    } else {
        H.model[pi].wblocking = b & 2;
        tp_pipe_set_writeblocking(H.pipe[pi], b & 2);
    }
}

static void op_rflag(input *in, int pi)
{
    unsigned b = take(in);
    pipe_model *m = &H.model[pi];
    H.what = "set_rflag";
    if (b & 1) {
        tp_pipe_set_rflag(H.pipe[pi], NULL);
        m->has_rflag = false;
        return;
    }
    tp_pipe_set_rflag(H.pipe[pi], NULL);
    tp_event_clear(H.ev[pi]);
    tp_pipe_set_rflag(H.pipe[pi], H.ev[pi]);
    m->has_rflag = true;
    m->rflag = m->closed ? FLAG_SET : FLAG_CLEAR;
}

static void op_wrapper(input *in)
{
    unsigned b = take(in);
    int err, e;
    if (H.w == NULL || (b & 7) == 7) {
        H.what = "wrapper_new";
        tp_wrapper_free(H.w);
        free(H.wdata);
        size_t len = take(in) % 48;
        size_t bs = take(in) % 40;
        H.wdata = malloc(len ? len : 1);
        if (H.wdata == NULL)
            abort();
        fill(in, H.wdata, len);
        H.w = tp_wrapper_new_mem(H.wdata, len, bs);
        CHECK(H.w != NULL, "tp_wrapper_new_mem failed: %s", strerror(errno));
        wmodel_init(&H.wm, len, bs);
        CHECK(tp_wrapper_seekable(H.w) == H.wm.seekable, "seekable %d, model %d",
              tp_wrapper_seekable(H.w), H.wm.seekable);
        CHECK(tp_wrapper_length(H.w) == (H.wm.seekable ? (off_t)len : -1),
              "length %lld, model len %zu seekable %d", (long long)tp_wrapper_length(H.w), len,
              H.wm.seekable);
        return;
    }
    unsigned char buf[MAX_IO];
    size_t n = take(in) % MAX_IO;
    switch (b & 7) {
    case 0:
    case 1: {
        H.what = "wrapper_read";
        errno = 0;
        ssize_t r = tp_wrapper_read(H.w, buf, n);
        size_t avail = wmodel_read_avail(&H.wm, n);
        if (avail == 0) {
            expect_ret(r, errno, 0, 0);
            break;
        }
        CHECK(r >= 1 && (size_t)r <= avail, "wrapper_read %zd, model allows 1..%zu", r, avail);
        CHECK(memcmp(buf, H.wdata + H.wm.pos, (size_t)r) == 0, "wrapper_read bytes differ");
        H.wm.pos += (uint64_t)r;
        break;
    }
    case 2: {
        H.what = "wrapper_peek";
        errno = 0;
        ssize_t r = tp_wrapper_peek(H.w, buf, n);
        e = errno;
        size_t want = wmodel_peek(&H.wm, n);
        expect_ret(r, e, (long long)want, 0);
        CHECK(memcmp(buf, H.wdata + H.wm.pos, want) == 0, "wrapper_peek bytes differ");
        break;
    }
    case 3:
    case 4: {
        H.what = "wrapper_seek";
        off_t off = (off_t)(int8_t)take(in) % 64;
        int whence = (int)(take(in) % 4); /* 3 is not a valid whence */
        int wh = whence == 0 ? SEEK_SET : whence == 1 ? SEEK_CUR : whence == 2 ? SEEK_END : 77;
        errno = 0;
        off_t r = tp_wrapper_seek(H.w, off, wh);
        e = errno;
        off_t want = wmodel_seek(&H.wm, off, wh, &err);
        /* Not seekable and a bad whence: either error is fair. */
        if (!H.wm.seekable && wh == 77 && r == -1 && e == EINVAL)
            break;
        expect_ret(r, e, want, err);
        break;
    }
    default: {
        H.what = "wrapper_tell";
        errno = 0;
        off_t r = tp_wrapper_tell(H.w);
        e = errno;
        off_t want = wmodel_tell(&H.wm, &err);
        expect_ret(r, e, want, err);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t bsizes[8] = {1, 2, 3, 5, 8, 16, 64, 0};
    input in = {data, size};
    memset(&H, 0, sizeof H);
    tp_set_log_fn(count_log, NULL);
    unsigned cfg = take(&in);
    H.bsize = bsizes[cfg & 7];
    H.rblocking = cfg & 8;
    H.wblocking = cfg & 16;
    H.npipes = (cfg & 32) ? 2 : 1;
    for (int i = 0; i < H.npipes; i++) {
        H.ev[i] = tp_event_new();
        if (H.ev[i] == NULL)
            abort();
        make_pipe(i);
    }
    for (H.op = 0; H.op < MAX_OPS && in.n > 0; H.op++) {
        unsigned b = take(&in);
        int pi = (H.npipes == 2 && (b & 0x80)) ? 1 : 0;
        switch (b & 0x1f) {
        case 0:
        case 1:
        case 2:
        case 3:
            op_write(&in, pi, false);
            break;
        case 4:
        case 5:
        case 6:
            op_write(&in, pi, true);
            break;
        case 7:
        case 8:
        case 9:
            op_read(&in, pi);
            break;
        case 10:
            op_read_view(&in, pi);
            break;
        case 11:
            op_read_views(&in, pi);
            break;
        case 12:
            H.what = "view_release";
            if (take(&in) & 1)
                drop_views(&in);
            else if (H.nviews > 0)
                drop_view((int)(take(&in) % (unsigned)H.nviews));
            break;
        case 13:
        case 14:
        case 15:
            op_readmatch(&in, pi);
            break;
        case 16:
            op_readall(pi);
            break;
        case 17: {
            H.what = "write_eof";
            errno = 0;
            int r = tp_pipe_write_eof(H.pipe[pi]);
            expect_ret(r, errno, 0, 0);
            model_write_eof(&H.model[pi]);
            break;
        }
        case 18: {
            H.what = "close";
            int before = warnings;
            tp_pipe_close(H.pipe[pi]);
            size_t discarded = model_close(&H.model[pi]);
            CHECK(warnings - before == (discarded > 0 ? 1 : 0),
                  "close discarding %zu bytes logged %d warnings", discarded, warnings - before);
            break;
        }
        case 19:
        case 20:
            op_wait(&in, pi);
            break;
        case 21:
        case 22:
            op_query(&in, pi);
            break;
        case 23:
            op_mode(&in, pi);
            break;
        case 24:
            op_rflag(&in, pi);
            break;
        case 25:
        case 26:
        case 27:
            op_wrapper(&in);
            break;
        case 28:
            H.what = "free_and_recreate";
            if ((take(&in) & 3) == 0) {
                free_pipe(pi);
                make_pipe(pi);
            }
            break;
        default:
            H.what = "nop";
            break;
        }
        for (int i = 0; i < H.npipes; i++)
            check_state(i);
        check_refs();
    }
    H.what = "teardown";
    /* Free the pipes while views are still out: they must stay valid. */
    for (int i = 0; i < H.npipes; i++)
        free_pipe(i);
    while (H.nviews > 0)
        drop_view(H.nviews - 1);
    check_refs();
    for (int i = 0; i < H.nrefs; i++)
        CHECK(!H.refs[i].used || H.refs[i].r.released == 1, "ref %d released %d times at the end",
              i, H.refs[i].r.released);
    for (int i = 0; i < H.npipes; i++)
        tp_event_free(H.ev[i]);
    for (int i = 0; i < H.nnull; i++)
        free(H.nullref[i]);
    tp_wrapper_free(H.w);
    free(H.wdata);
    return 0;
}
