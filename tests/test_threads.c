/* test_threads.c - the pipe across threads: wake-ups both ways, several
 * writers whose records must arrive whole and in order, and a bulk transfer
 * of tens of MB through every write and read flavour, checked byte by byte. */
#include "test_util.h"

#include <stdio.h>

static uint32_t rng_next(uint32_t *s)
{
    /* xorshift32: deterministic per seed, good enough to vary sizes. */
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* ---- wake-ups ------------------------------------------------------ */

typedef struct echo {
    tp_pipe *in, *out;
    int rounds;
    int done;
} echo;

static void *echo_main(void *arg)
{
    echo *e = arg;
    char buf[64];
    for (;;) {
        ssize_t r = tp_pipe_read(e->in, buf, sizeof buf);
        if (r <= 0)
            break;
        size_t off = 0;
        while (off < (size_t)r) {
            ssize_t w = tp_pipe_write(e->out, buf + off, (size_t)r - off);
            if (w < 0)
                return NULL;
            off += (size_t)w;
        }
        e->done++;
    }
    tp_pipe_write_eof(e->out);
    return e;
}

static void writer_wakes_blocked_reader(void **state)
{
    (void)state;
    /* Ping-pong: each side blocks reading until the other writes. */
    tp_pipe *there = tp_pipe_new(0, true, true, TP_FOREVER, "there");
    tp_pipe *back = tp_pipe_new(0, true, true, TP_FOREVER, "back");
    echo e = {.in = there, .out = back};
    tt_thread t;
    tt_thread_start(&t, echo_main, &e);
    for (int i = 0; i < 2000; i++) {
        char msg[16], got[16];
        int n = snprintf(msg, sizeof msg, "ping %d", i);
        assert_int_equal(tp_pipe_write(there, msg, (size_t)n), n);
        int have = 0;
        while (have < n) {
            ssize_t r = tp_pipe_read(back, got + have, sizeof got - (size_t)have);
            assert_ge(r, 1);
            have += (int)r;
        }
        assert_int_equal(have, n);
        assert_memory_equal(got, msg, (size_t)n);
    }
    tp_pipe_write_eof(there);
    assert_non_null(tt_thread_join(&t));
    char c;
    assert_int_equal(tp_pipe_read(back, &c, 1), 0);
    tp_pipe_free(there);
    tp_pipe_free(back);
}

typedef struct producer {
    tp_pipe *p;
    size_t total;
    int failed_errno;
} producer;

static void *producer_main(void *arg)
{
    producer *pr = arg;
    unsigned char chunk[1000];
    size_t off = 0;
    while (off < pr->total) {
        size_t k = pr->total - off < sizeof chunk ? pr->total - off : sizeof chunk;
        tt_fill_pattern(chunk, k, off);
        ssize_t w = tp_pipe_write(pr->p, chunk, k);
        if (w < 0) {
            pr->failed_errno = errno;
            return NULL;
        }
        off += (size_t)w;
    }
    tp_pipe_write_eof(pr->p);
    return pr;
}

static void reader_wakes_blocked_writer(void **state)
{
    (void)state;
    /* A 16-byte pipe and 200 kB: the writer is full and waiting most of the
     * time, and every read has to wake it. */
    tp_pipe *p = tp_pipe_new(16, true, true, TP_FOREVER, NULL);
    producer pr = {.p = p, .total = 200000};
    tt_thread t;
    tt_thread_start(&t, producer_main, &pr);
    tt_thread_wait_blocked(&t); /* it has filled the pipe */
    size_t len;
    unsigned char *got = tt_drain(p, &len);
    assert_non_null(tt_thread_join(&t));
    assert_int_equal(pr.failed_errno, 0);
    assert_int_equal(len, 200000);
    unsigned char *want = malloc(len);
    tt_fill_pattern(want, len, 0);
    assert_memory_equal(got, want, len);
    free(want);
    free(got);
    tp_pipe_free(p);
}

/* ---- several writers ----------------------------------------------- */

/* A record: magic, writer, sequence number, payload length, payload. */
enum { REC_HEAD = 8, REC_MAX_PAYLOAD = 250, MAGIC = 0xA5 };

static size_t rec_payload_len(int writer, uint32_t seq)
{
    return (size_t)((writer * 131u + seq * 37u) % REC_MAX_PAYLOAD);
}

static size_t rec_build(unsigned char *rec, int writer, uint32_t seq)
{
    size_t n = rec_payload_len(writer, seq);
    rec[0] = MAGIC;
    rec[1] = (unsigned char)writer;
    rec[2] = (unsigned char)(seq >> 24);
    rec[3] = (unsigned char)(seq >> 16);
    rec[4] = (unsigned char)(seq >> 8);
    rec[5] = (unsigned char)seq;
    rec[6] = (unsigned char)(n >> 8);
    rec[7] = (unsigned char)n;
    for (size_t i = 0; i < n; i++)
        rec[REC_HEAD + i] = (unsigned char)(writer * 7 + seq + i);
    return REC_HEAD + n;
}

typedef struct writer {
    tp_pipe *p;
    int id;
    uint32_t records;
    bool refs_only;
    /* outcome: the first thing that went wrong, if anything */
    char problem[160];
} writer;

static void free_record(void *ctx)
{
    free(ctx);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (uint32_t seq = 0; seq < w->records; seq++) {
        unsigned char *rec = malloc(REC_HEAD + REC_MAX_PAYLOAD);
        size_t n = rec_build(rec, w->id, seq);
        if (w->refs_only || seq % 3 == 0) {
            /* One write_ref: accepted whole once there is any room. */
            if (tp_pipe_write_ref(w->p, rec, n, free_record, rec) != (ssize_t)n) {
                snprintf(w->problem, sizeof w->problem, "write_ref %u: errno %d", seq, errno);
                free(rec);
                return NULL;
            }
            continue;
        }
        /* One copy write, made once canwrite shows room for all of it. */
        for (;;) {
            ssize_t room = tp_pipe_canwrite(w->p);
            if (room >= (ssize_t)n)
                break;
            if (room < 0 || tp_pipe_write_wait(w->p, TP_FOREVER) != 0) {
                snprintf(w->problem, sizeof w->problem, "canwrite/wait: errno %d", errno);
                free(rec);
                return NULL;
            }
            if (tp_pipe_canwrite(w->p) < (ssize_t)n)
                tt_sleep(0.0005); /* some room, not enough: let the reader run */
        }
        ssize_t got = tp_pipe_write(w->p, rec, n);
        free(rec);
        if (got != (ssize_t)n) {
            snprintf(w->problem, sizeof w->problem, "write %u: %zd of %zu bytes, errno %d", seq,
                     got, n, errno);
            return NULL;
        }
    }
    return w;
}

/* One tp_pipe_read_views of up to `want` bytes in up to 3 views, copied
 * to `to`; returns the bytes, or what the call returned (0 or -1). */
static ssize_t read_views_copying(tp_pipe *p, unsigned char *to, size_t want)
{
    struct iovec iov[3];
    tp_view *views[3];
    int n = tp_pipe_read_views(p, want, iov, views, 3);
    size_t got = 0;
    for (int i = 0; i < n; i++) {
        memcpy(to + got, iov[i].iov_base, iov[i].iov_len);
        got += iov[i].iov_len;
    }
    if (n > 0 && want % 2) /* both ways of releasing */
        tp_views_release(views, n);
    else
        for (int i = 0; i < n; i++)
            tp_view_release(views[i]);
    if (n > 0 && (got == 0 || got > want))
        fail_msg("read_views: %d views of %zu bytes for %zu asked", n, got, want);
    return n > 0 ? (ssize_t)got : n;
}

/* Reads everything with a mix of read, read_views and read_view. */
static unsigned char *read_mixed(tp_pipe *p, size_t *len, uint32_t seed)
{
    size_t cap = 1 << 16, used = 0;
    unsigned char *all = malloc(cap);
    for (;;) {
        if (cap - used < 4096) {
            cap *= 2;
            all = realloc(all, cap);
        }
        size_t want = 1 + rng_next(&seed) % 3000;
        ssize_t r;
        uint32_t how = rng_next(&seed) % 3;
        if (how == 0) {
            r = tp_pipe_read(p, all + used, want);
        } else if (how == 1) {
            r = read_views_copying(p, all + used, want);
        } else {
            const void *d;
            tp_view *v;
            r = tp_pipe_read_view(p, want, &d, &v);
            if (r > 0)
                memcpy(all + used, d, (size_t)r);
            tp_view_release(v);
        }
        if (r == 0)
            break;
        if (r < 0)
            fail_msg("read failed: errno %d (%s)", errno, strerror(errno));
        used += (size_t)r;
    }
    *len = used;
    return all;
}

/* Checks the stream is a sequence of whole records, each writer's in order. */
static void check_records(const unsigned char *all, size_t len, int nwriters, uint32_t per)
{
    uint32_t next[16] = {0};
    size_t off = 0, count = 0;
    while (off < len) {
        if (len - off < REC_HEAD)
            fail_msg("truncated record head at offset %zu", off);
        const unsigned char *h = all + off;
        if (h[0] != MAGIC || h[1] >= nwriters)
            fail_msg("no record starts at offset %zu (bytes %02x %02x)", off, h[0], h[1]);
        int w = h[1];
        uint32_t seq = (uint32_t)h[2] << 24 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 8 | h[5];
        size_t n = (size_t)h[6] << 8 | h[7];
        if (seq != next[w])
            fail_msg("writer %d: record %u arrived, expected %u (offset %zu)", w, seq, next[w],
                     off);
        unsigned char want[REC_HEAD + REC_MAX_PAYLOAD];
        size_t wn = rec_build(want, w, seq);
        if (wn != REC_HEAD + n || len - off < wn || memcmp(h, want, wn) != 0)
            fail_msg("writer %d record %u is damaged (offset %zu)", w, seq, off);
        next[w]++;
        off += wn;
        count++;
    }
    for (int w = 0; w < nwriters; w++)
        assert_int_equal(next[w], per);
    assert_int_equal(count, (size_t)nwriters * per);
}

typedef struct writers {
    tp_pipe *p;
    int n;
    writer ws[16];
    tt_thread ts[16];
} writers;

/* Joins the writers, then marks EOF so the reader knows it has it all. */
static void *join_then_eof(void *arg)
{
    writers *g = arg;
    for (int i = 0; i < g->n; i++)
        tt_thread_join(&g->ts[i]);
    tp_pipe_write_eof(g->p);
    return g;
}

static void run_writers(tp_pipe *p, int nwriters, uint32_t per, bool refs_only)
{
    writers *g = calloc(1, sizeof *g);
    g->p = p;
    g->n = nwriters;
    for (int i = 0; i < nwriters; i++) {
        g->ws[i] = (writer){.p = p, .id = i, .records = per, .refs_only = refs_only};
        tt_thread_start(&g->ts[i], writer_main, &g->ws[i]);
    }
    tt_thread joiner;
    tt_thread_start(&joiner, join_then_eof, g);
    size_t len;
    unsigned char *all = read_mixed(p, &len, 12345); /* concurrently, to EOF */
    tt_thread_join(&joiner);
    for (int i = 0; i < nwriters; i++)
        if (g->ws[i].problem[0])
            fail_msg("writer %d: %s", i, g->ws[i].problem);
    check_records(all, len, nwriters, per);
    free(all);
    free(g);
}

static void multi_writer_records_whole_and_ordered(void **state)
{
    (void)state;
    /* 6 writers, copies (sized by canwrite) and write_refs mixed. The pipe
     * is big enough that the check-then-write of one writer cannot be
     * overtaken by the others filling it (6 * 3000 records < 2.5 MB), so a
     * record cut short would be the pipe's fault. */
    tp_pipe *p = tp_pipe_new(4 << 20, true, true, TP_FOREVER, "multi");
    run_writers(p, 6, 3000, false);
    tp_pipe_free(p);
}

static void multi_writer_write_ref_flow_controlled(void **state)
{
    (void)state;
    /* A 64-byte pipe: every writer waits for room again and again, and each
     * write_ref (up to 258 bytes) overfills it whole. */
    tp_pipe *p = tp_pipe_new(64, true, true, TP_FOREVER, "flow");
    run_writers(p, 4, 2000, true);
    tp_pipe_free(p);
}

/* ---- bulk ------------------------------------------------------------ */

typedef struct bulk_writer {
    tp_pipe *p;
    uint64_t total;
    atomic_int releases_due;
    tt_release rel;
    char problem[160];
} bulk_writer;

typedef struct ref_chunk {
    bulk_writer *bw;
    unsigned char bytes[];
} ref_chunk;

static void free_chunk(void *ctx)
{
    ref_chunk *c = ctx;
    tt_release_cb(&c->bw->rel);
    free(c);
}

static void *bulk_writer_main(void *arg)
{
    bulk_writer *bw = arg;
    uint32_t seed = 0xC0FFEE;
    enum { MAXCOPY = 100000 };
    unsigned char *scratch = malloc(MAXCOPY);
    uint64_t off = 0;
    while (off < bw->total) {
        uint32_t pick = rng_next(&seed);
        size_t left = (size_t)(bw->total - off < MAXCOPY ? bw->total - off : MAXCOPY);
        size_t n = 1 + rng_next(&seed) % (pick % 4 == 0 ? 16 : left);
        if (n > left)
            n = left;
        if (pick % 3 == 0) {
            ref_chunk *c = malloc(sizeof *c + n);
            c->bw = bw;
            tt_fill_pattern(c->bytes, n, off);
            atomic_fetch_add(&bw->releases_due, 1);
            if (tp_pipe_write_ref(bw->p, c->bytes, n, free_chunk, c) != (ssize_t)n) {
                snprintf(bw->problem, sizeof bw->problem, "write_ref at %llu: errno %d",
                         (unsigned long long)off, errno);
                free(c);
                break;
            }
            off += n;
        } else {
            tt_fill_pattern(scratch, n, off);
            ssize_t w = tp_pipe_write(bw->p, scratch, n);
            if (w < 1) {
                snprintf(bw->problem, sizeof bw->problem, "write at %llu: %zd, errno %d",
                         (unsigned long long)off, w, errno);
                break;
            }
            off += (uint64_t)w;
        }
    }
    free(scratch);
    tp_pipe_write_eof(bw->p);
    return bw;
}

/* A view the reader holds on to for a while before checking and releasing
 * it, so views stay alive while later reads and writes go on. */
typedef struct held {
    const unsigned char *d;
    size_t n;
    uint64_t off;
    tp_view *v;
} held;

static void check_bytes(const unsigned char *d, size_t n, uint64_t off, unsigned char *scratch)
{
    tt_fill_pattern(scratch, n, off);
    if (memcmp(d, scratch, n) != 0) {
        size_t i = 0;
        while (d[i] == scratch[i])
            i++;
        fail_msg("stream byte %llu is %u, want %u", (unsigned long long)(off + i), d[i],
                 scratch[i]);
    }
}

static void bulk_transfer_checked(void **state)
{
    (void)state;
    /* 32 MB by default; TP_TEST_BULK_MB scales it (docs/testing.md). */
    const char *env = getenv("TP_TEST_BULK_MB");
    uint64_t total = (uint64_t)(env ? atoi(env) : 32) << 20;
    tp_pipe *p = tp_pipe_new(65536, true, true, TP_FOREVER, "bulk");
    bulk_writer *bw = calloc(1, sizeof *bw);
    bw->p = p;
    bw->total = total;
    atomic_init(&bw->releases_due, 0);
    tt_release_init(&bw->rel);
    tt_thread t;
    tt_thread_start(&t, bulk_writer_main, bw);

    enum { MAXREAD = 200000, HOLD = 4 };
    unsigned char *buf = malloc(MAXREAD), *scratch = malloc(MAXREAD + 70000);
    held hold[HOLD];
    int nheld = 0;
    uint64_t off = 0;
    uint32_t seed = 0xBEEF;
    for (;;) {
        uint32_t pick = rng_next(&seed);
        size_t want = 1 + rng_next(&seed) % (pick % 5 == 0 ? 7 : MAXREAD);
        ssize_t r;
        if (pick % 4 == 1) {
            r = tp_pipe_read(p, buf, want);
            if (r > 0)
                check_bytes(buf, (size_t)r, off, scratch);
        } else if (pick % 4 == 3) {
            r = read_views_copying(p, buf, want);
            if (r > 0)
                check_bytes(buf, (size_t)r, off, scratch);
        } else {
            const void *d;
            tp_view *v;
            r = tp_pipe_read_view(p, want, &d, &v);
            if (r > 0) {
                if (nheld == HOLD) { /* check and release the oldest */
                    check_bytes(hold[0].d, hold[0].n, hold[0].off, scratch);
                    tp_view_release(hold[0].v);
                    memmove(hold, hold + 1, sizeof hold[0] * (HOLD - 1));
                    nheld--;
                }
                hold[nheld++] = (held){d, (size_t)r, off, v};
            }
        }
        if (r == 0)
            break;
        if (r < 0)
            fail_msg("read at %llu: errno %d (%s)", (unsigned long long)off, errno,
                     strerror(errno));
        off += (uint64_t)r;
    }
    for (int i = 0; i < nheld; i++) {
        check_bytes(hold[i].d, hold[i].n, hold[i].off, scratch);
        tp_view_release(hold[i].v);
    }
    assert_non_null(tt_thread_join(&t));
    if (bw->problem[0])
        fail_msg("writer: %s", bw->problem);
    assert_int_equal(off, total);
    assert_int_equal(tt_release_calls(&bw->rel), atomic_load(&bw->releases_due));
    print_message("bulk: %llu bytes, %d write_ref buffers\n", (unsigned long long)total,
                  tt_release_calls(&bw->rel));
    tp_pipe_free(p);
    free(buf);
    free(scratch);
    free(bw);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writer_wakes_blocked_reader),
        cmocka_unit_test(reader_wakes_blocked_writer),
        cmocka_unit_test(multi_writer_records_whole_and_ordered),
        cmocka_unit_test(multi_writer_write_ref_flow_controlled),
        cmocka_unit_test(bulk_transfer_checked),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
