/* workloads_stream.c - the streaming workloads: bulk copy, zero-copy,
 * small messages, CRLF lines and many-writer contention. Writers and the
 * reader are separate threads; the rate is bytes delivered over the time
 * from the common start until the reader saw end of data. */
#include "tpbench.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define KIB 1024u
#define RBUF (64 * KIB) /* every reader reads with a 64 KiB buffer */
#define MAX_WRITERS 8
#define POOL_SLOTS 64     /* write_ref buffers in circulation */
#define VIEWS_PER_READ 16 /* R_VIEWS: as many as the pipe holds (1 MiB) */

enum wmode { W_COPY, W_REF };
/* How the reader reads: copies, views, a view array, readmatch (or, for
 * the baselines, their own line splitter), or the splitter on every
 * transport, tpipe included. */
enum rmode { R_COPY, R_VIEW, R_VIEWS, R_LINES, R_SPLIT };

/* A write_ref buffer: busy from hand-off until the pipe releases it. A
 * cache line each: the reader's thread releases one slot while the writer
 * takes the next, and a shared line would cost both a miss per hand-off
 * that is the harness's, not tpipe's. */
typedef struct ref_slot {
    atomic_int busy;
    unsigned char *buf;
    char pad[64 - sizeof(atomic_int) - sizeof(unsigned char *)];
} ref_slot;

/* One transfer. The fields above `start` are set before the threads start
 * and only read afterwards; the results are written by the reader before
 * it exits and read by the main thread after joining it. */
typedef struct stream_job {
    tb_chan *c;
    enum tb_transport t;
    enum wmode wmode;
    enum rmode rmode;
    size_t wsize;             /* bytes per write call */
    const unsigned char *src; /* writers cycle through src, wsize at a time */
    size_t srclen;            /* a multiple of wsize */
    bool whole_src;           /* stop only at the end of src (whole lines) */
    double seconds;           /* per writer: stop after this long ... */
    uint64_t limit;           /* ... or after this many bytes (if > 0) */
    ref_slot *pool;           /* W_REF: POOL_SLOTS buffers of wsize bytes */
    bool verify;              /* reader checks every byte against src */
    pthread_barrier_t start;
    /* results */
    uint64_t rbytes;
    uint64_t rlines;
    uint64_t bad_at; /* verify: first offset that differed, +1 (0: none) */
    double elapsed;
    atomic_int failed;
} stream_job;

static void ref_release(void *ctx)
{
    atomic_store_explicit(&((ref_slot *)ctx)->busy, 0, memory_order_release);
}

static void *writer_main(void *arg)
{
    stream_job *j = arg;
    tp_pipe *tp = tb_chan_tpipe(j->c);
    /* Reading the clock costs ~20 ns: for small writes, look at it about
     * once per 64 KiB written rather than on every write; for zero-copy
     * hand-offs (~150 ns each), once per 16. */
    unsigned every = j->wsize >= RBUF ? 1 : (unsigned)(RBUF / j->wsize);
    if (j->wmode == W_REF)
        every = 16;
    uint64_t written = 0;
    size_t off = 0;
    unsigned next = 0;
    pthread_barrier_wait(&j->start);
    double end = tb_now() + j->seconds;
    for (unsigned k = 0;; k++) {
        if (!j->whole_src || off == 0) {
            if (j->limit ? written >= j->limit : (k % every == 0 && tb_now() >= end))
                break;
        }
        if (j->wmode == W_REF) {
            ref_slot *s = &j->pool[next++ % POOL_SLOTS];
            while (atomic_load_explicit(&s->busy, memory_order_acquire))
                sched_yield();
            atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
            if (tp_pipe_write_ref(tp, s->buf, j->wsize, ref_release, s) != (ssize_t)j->wsize) {
                atomic_store(&j->failed, errno ? errno : EIO);
                break;
            }
        } else if (tb_chan_write(j->c, j->src + off, j->wsize) != 0) {
            atomic_store(&j->failed, errno ? errno : EIO);
            break;
        }
        written += j->wsize;
        off += j->wsize;
        if (off >= j->srclen)
            off = 0;
    }
    return NULL;
}

/* --verify: compares what the reader got with what the stream must hold
 * at that offset (src repeated), remembering the first difference. */
static void check(stream_job *j, const void *data, size_t n)
{
    const unsigned char *d = data;
    uint64_t pos = j->rbytes;
    while (n > 0 && !j->bad_at) {
        size_t off = (size_t)(pos % j->srclen);
        size_t take = j->srclen - off < n ? j->srclen - off : n;
        if (memcmp(d, j->src + off, take) != 0)
            j->bad_at = pos + 1;
        d += take;
        n -= take;
        pos += take;
    }
}

/* The line reader a program without readmatch would write: read 64 KiB
 * blocks, find each "\r\n", hand the line out in its own malloc'd buffer
 * (as readmatch does, to keep the comparison like for like). */
static void read_lines_baseline(stream_job *j)
{
    size_t cap = 2 * RBUF, have = 0, start = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        tb_die("malloc");
    for (;;) {
        unsigned char *cr = have > start ? memchr(buf + start, '\r', have - start) : NULL;
        if (cr && (size_t)(cr - buf) + 1 < have) {
            size_t end = (size_t)(cr - buf) + 1;
            if (buf[end] != '\n') {
                start = end; /* a lone CR is part of the line: skip it */
                continue;
            }
            size_t len = end + 1 - start;
            void *line = malloc(len);
            if (!line)
                tb_die("malloc");
            memcpy(line, buf + start, len);
            if (j->verify)
                check(j, line, len);
            j->rlines++;
            j->rbytes += len;
            free(line);
            start += len;
            continue;
        }
        /* No complete line left: keep the tail, refill behind it. */
        memmove(buf, buf + start, have - start);
        have -= start;
        start = 0;
        ssize_t r = tb_chan_read(j->c, buf + have, cap - have < RBUF ? cap - have : RBUF);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    free(buf);
}

static void *reader_main(void *arg)
{
    stream_job *j = arg;
    tp_pipe *tp = tb_chan_tpipe(j->c);
    unsigned char *buf = malloc(RBUF);
    if (!buf)
        tb_die("malloc");
    pthread_barrier_wait(&j->start);
    double t0 = tb_now();
    ssize_t r;
    switch (j->rmode) {
    case R_COPY:
        while ((r = tb_chan_read(j->c, buf, RBUF)) > 0) {
            if (j->verify)
                check(j, buf, (size_t)r);
            j->rbytes += (uint64_t)r;
        }
        break;
    case R_VIEW: {
        const void *data;
        tp_view *view;
        while ((r = tp_pipe_read_view(tp, RBUF, &data, &view)) > 0) {
            if (j->verify)
                check(j, data, (size_t)r);
            j->rbytes += (uint64_t)r;
            tp_view_release(view);
        }
        break;
    }
    case R_VIEWS: {
        struct iovec iov[VIEWS_PER_READ];
        tp_view *views[VIEWS_PER_READ];
        size_t max = VIEWS_PER_READ * RBUF;
        int n;
        while ((n = tp_pipe_read_views(tp, max, iov, views, VIEWS_PER_READ)) > 0) {
            for (int i = 0; i < n; i++) {
                if (j->verify)
                    check(j, iov[i].iov_base, iov[i].iov_len);
                j->rbytes += iov[i].iov_len;
            }
            tp_views_release(views, n);
        }
        r = n;
        break;
    }
    case R_LINES:
        if (tp) {
            void *line;
            while ((r = tp_pipe_readmatch(tp, NULL, 0, &line)) > 0) {
                if (j->verify)
                    check(j, line, (size_t)r);
                j->rlines++;
                j->rbytes += (uint64_t)r;
                tp_free(line);
            }
        } else {
            read_lines_baseline(j);
        }
        break;
    case R_SPLIT:
        read_lines_baseline(j);
        break;
    }
    j->elapsed = tb_now() - t0;
    free(buf);
    return NULL;
}

/* Runs j with n writers; fills j's results. */
static void run_job(stream_job *j, int n)
{
    pthread_t w[MAX_WRITERS], rd;
    if (pthread_barrier_init(&j->start, NULL, (unsigned)n + 1) != 0)
        tb_die("pthread_barrier_init");
    if (pthread_create(&rd, NULL, reader_main, j) != 0)
        tb_die("pthread_create");
    for (int i = 0; i < n; i++)
        if (pthread_create(&w[i], NULL, writer_main, j) != 0)
            tb_die("pthread_create");
    for (int i = 0; i < n; i++)
        pthread_join(w[i], NULL);
    tb_chan_write_eof(j->c);
    pthread_join(rd, NULL);
    pthread_barrier_destroy(&j->start);
    if (atomic_load(&j->failed)) {
        errno = atomic_load(&j->failed);
        tb_die("write");
    }
    if (j->bad_at) {
        fprintf(stderr, "\ntpbench: %s delivered wrong data at stream offset %llu\n",
                tb_transport_name(j->t), (unsigned long long)(j->bad_at - 1));
        exit(3);
    }
}

/* Bytes cycled through by copy writers: a 64 KiB block of varied bytes,
 * filled by the main thread before any writer starts. */
static unsigned char pattern_block[RBUF];

static void fill_pattern(void)
{
    /* xorshift32: no short period, so a lost or repeated chunk shows. */
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof pattern_block; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pattern_block[i] = (unsigned char)x;
    }
}

static void job_init(stream_job *j, const tb_options *o, enum tb_transport t, size_t bsize,
                     size_t wsize)
{
    memset(j, 0, sizeof *j);
    j->c = tb_chan_open(t, bsize);
    j->t = t;
    j->verify = o->verify;
    j->wsize = wsize;
    j->src = pattern_block;
    j->srclen = sizeof pattern_block;
    j->seconds = tb_run_seconds(o);
    j->limit = tb_run_bytes(o);
    atomic_init(&j->failed, 0);
}

double tb_bulk_transfer(tb_chan *c, double seconds, uint64_t bytes)
{
    stream_job j;
    memset(&j, 0, sizeof j);
    fill_pattern();
    j.c = c;
    j.wsize = RBUF;
    j.src = pattern_block;
    j.srclen = sizeof pattern_block;
    j.seconds = seconds;
    j.limit = bytes;
    atomic_init(&j.failed, 0);
    run_job(&j, 1);
    return j.elapsed > 0 ? (double)j.rbytes / j.elapsed / 1e9 : 0.0;
}

void tb_wl_bulk(const tb_options *o)
{
    static const struct {
        const char *name;
        size_t bsize;
    } variants[] = {{"bsize=64K", 64 * KIB}, {"bsize=1M", 1024 * KIB}};
    fill_pattern();
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
        for (int run = 1; run <= o->runs; run++)
            for (int t = 0; t < TB_NTRANSPORTS; t++) {
                if (!tb_selected(o, t))
                    continue;
                tb_progress(o, "bulk", variants[v].name, t, run);
                stream_job j;
                job_init(&j, o, t, variants[v].bsize, RBUF);
                run_job(&j, 1);
                tb_chan_close(j.c);
                tb_record("bulk", variants[v].name, "GB/s", true, t,
                          (double)j.rbytes / j.elapsed / 1e9);
            }
}

/* tpipe's zero-copy readers: many hand-offs per call (the headline
 * figure, with the baselines' copy path beside it) and one per call. */
static const struct {
    const char *name;
    enum rmode rmode;
    bool baselines;
} zerocopy_readers[] = {{"64K refs", R_VIEWS, true}, {"64K read_view", R_VIEW, false}};

void tb_wl_zerocopy(const tb_options *o)
{
    /* The baselines have no zero-copy path: they run their copy path with
     * the same 64 KiB blocks, which is what zero-copy replaces. tpipe gets
     * bsize 1 MiB so that several hand-offs can be in flight. */
    fill_pattern();
    ref_slot *pool = calloc(POOL_SLOTS, sizeof *pool);
    if (!pool)
        tb_die("calloc");
    for (int i = 0; i < POOL_SLOTS; i++) {
        pool[i].buf = malloc(RBUF);
        if (!pool[i].buf)
            tb_die("malloc");
        memcpy(pool[i].buf, pattern_block, RBUF);
        atomic_init(&pool[i].busy, 0);
    }
    size_t nreaders = sizeof zerocopy_readers / sizeof zerocopy_readers[0];
    for (int run = 1; run <= o->runs; run++)
        for (size_t v = 0; v < nreaders; v++)
            for (int t = 0; t < TB_NTRANSPORTS; t++) {
                const char *name = zerocopy_readers[v].name;
                if (!tb_selected(o, t) || (t != TB_TPIPE && !zerocopy_readers[v].baselines))
                    continue;
                tb_progress(o, "zerocopy", name, t, run);
                stream_job j;
                job_init(&j, o, t, 1024 * KIB, RBUF);
                if (t == TB_TPIPE) {
                    j.wmode = W_REF;
                    j.rmode = zerocopy_readers[v].rmode;
                    j.pool = pool;
                }
                run_job(&j, 1);
                tb_chan_close(j.c);
                /* tp_pipe_free released every buffer: the pool is idle again. */
                tb_record("zerocopy", name, "GB/s", true, t, (double)j.rbytes / j.elapsed / 1e9);
                tb_record("zerocopy", name, "M hand-offs/s", true, t,
                          (double)(j.rbytes / RBUF) / j.elapsed / 1e6);
            }
    for (int i = 0; i < POOL_SLOTS; i++)
        free(pool[i].buf);
    free(pool);
}

void tb_wl_small(const tb_options *o)
{
    static const struct {
        const char *name;
        size_t size;
    } variants[] = {{"16B", 16}, {"64B", 64}};
    fill_pattern();
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
        for (int run = 1; run <= o->runs; run++)
            for (int t = 0; t < TB_NTRANSPORTS; t++) {
                if (!tb_selected(o, t))
                    continue;
                tb_progress(o, "small", variants[v].name, t, run);
                stream_job j;
                job_init(&j, o, t, o->bsize, variants[v].size);
                run_job(&j, 1);
                tb_chan_close(j.c);
                tb_record("small", variants[v].name, "M msg/s", true, t,
                          (double)(j.rbytes / variants[v].size) / j.elapsed / 1e6);
            }
}

void tb_wl_lines(const tb_options *o)
{
    /* 4096 lines of 80 bytes are exactly five 64 KiB blocks, so the stream
     * is whole lines whenever the writer stops at the end of the text. */
    enum { LINE = 80, NLINES = 4096 };
    unsigned char *text = malloc((size_t)LINE * NLINES);
    if (!text)
        tb_die("malloc");
    for (size_t i = 0; i < NLINES; i++) {
        unsigned char *l = text + i * LINE;
        for (size_t k = 0; k < LINE - 2; k++)
            l[k] = (unsigned char)('a' + (i + k) % 26);
        l[LINE - 2] = '\r';
        l[LINE - 1] = '\n';
    }
    /* Each transport's line reader (readmatch for tpipe), then the same
     * splitter of 64 KiB reads on all of them. */
    static const struct {
        const char *name;
        enum rmode rmode;
    } readers[] = {{"80B CRLF", R_LINES}, {"80B split", R_SPLIT}};
    for (int run = 1; run <= o->runs; run++)
        for (size_t v = 0; v < sizeof readers / sizeof readers[0]; v++)
            for (int t = 0; t < TB_NTRANSPORTS; t++) {
                if (!tb_selected(o, t))
                    continue;
                tb_progress(o, "lines", readers[v].name, t, run);
                stream_job j;
                job_init(&j, o, t, o->bsize, RBUF);
                j.src = text;
                j.srclen = (size_t)LINE * NLINES;
                j.whole_src = true;
                j.rmode = readers[v].rmode;
                run_job(&j, 1);
                tb_chan_close(j.c);
                tb_record("lines", readers[v].name, "M lines/s", true, t,
                          (double)j.rlines / j.elapsed / 1e6);
                tb_record("lines", readers[v].name, "GB/s", true, t,
                          (double)j.rbytes / j.elapsed / 1e9);
            }
    free(text);
}

void tb_wl_contention(const tb_options *o)
{
    static const int writers[] = {1, 2, 4, 8};
    fill_pattern();
    /* Each run goes through every writer count back to back, so the
     * 8-writer / 1-writer ratio of one run compares figures taken under
     * the same machine conditions (see tb_report_targets). */
    for (int run = 1; run <= o->runs; run++)
        for (size_t v = 0; v < sizeof writers / sizeof writers[0]; v++) {
            char name[32];
            snprintf(name, sizeof name, "%d writer%s", writers[v], writers[v] == 1 ? "" : "s");
            for (int t = 0; t < TB_NTRANSPORTS; t++) {
                if (!tb_selected(o, t))
                    continue;
                tb_progress(o, "contention", name, t, run);
                stream_job j;
                job_init(&j, o, t, o->bsize, 64);
                /* --bytes is the total, shared among the writers. */
                j.limit /= (uint64_t)writers[v];
                /* Several writers interleave their messages: no single
                 * expected stream to compare with. */
                j.verify = false;
                run_job(&j, writers[v]);
                tb_chan_close(j.c);
                tb_record("contention", name, "M msg/s", true, t,
                          (double)(j.rbytes / 64) / j.elapsed / 1e6);
            }
        }
}
