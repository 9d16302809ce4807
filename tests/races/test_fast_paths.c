/* test_fast_paths.c - the writes that take only the write token (a small
 * write that fits the tail segment, and write_ref) against readers under
 * the pipe lock. The stream is a known sequence of bytes, so a byte lost,
 * doubled or read before it was written shows at its offset; every write
 * mixes in the other kinds of write, so the tail changes kind, fills up,
 * drains and is rewound while the other side is busy.
 * TP_FAST_ROUNDS scales the work (default 1). */
#include "rel_util.h"

/* Byte i of every test's stream. */
static unsigned char stream_byte(uint64_t i)
{
    return (unsigned char)(i * 2654435761u >> 13);
}

/* write_ref buffers: one per in-flight write, from a ring the writer waits
 * on (a buffer comes back when the pipe releases it). */
#define REF_SLOTS 64
#define REF_MAX 300

typedef struct ref_slot {
    atomic_bool busy;
    unsigned char bytes[REF_MAX];
} ref_slot;

typedef struct job {
    tp_pipe *p;
    uint64_t total; /* bytes the writer writes */
    uint64_t seed;
    ref_slot *slots;
    atomic_uint_least64_t released;
    int write_err; /* errno of the first failed write; 0: none */
    /* reader results */
    uint64_t got;
    uint64_t bad_at; /* first wrong offset + 1; 0: none */
    int read_err;
} job;

static void on_release(void *ctx)
{
    ref_slot *s = ctx;
    atomic_store_explicit(&s->busy, false, memory_order_release);
}

/* Copies [from, from + n) of the stream into the pipe, taking partial
 * writes. false (and write_err set) on failure. */
static bool put_copy(job *j, uint64_t from, size_t n)
{
    unsigned char small[REF_MAX];
    unsigned char *buf = n <= sizeof small ? small : malloc(n);
    if (buf == NULL) {
        j->write_err = ENOMEM;
        return false;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = stream_byte(from + i);
    for (size_t off = 0; off < n;) {
        ssize_t k = tp_pipe_write(j->p, buf + off, n - off);
        if (k <= 0) {
            j->write_err = k < 0 ? errno : EIO;
            break;
        }
        off += (size_t)k;
    }
    if (buf != small)
        free(buf);
    return j->write_err == 0;
}

/* Hands [from, from + n) (n <= REF_MAX) over with write_ref. */
static bool put_ref(job *j, uint64_t from, size_t n, unsigned *next_slot)
{
    ref_slot *s = &j->slots[(*next_slot)++ % REF_SLOTS];
    while (atomic_load_explicit(&s->busy, memory_order_acquire))
        sched_yield();
    for (size_t i = 0; i < n; i++)
        s->bytes[i] = stream_byte(from + i);
    atomic_store_explicit(&s->busy, true, memory_order_relaxed);
    ssize_t k = tp_pipe_write_ref(j->p, s->bytes, n, on_release, s);
    if (k != (ssize_t)n)
        j->write_err = k < 0 ? errno : EIO;
    return j->write_err == 0;
}

static void *writer_main(void *arg)
{
    job *j = arg;
    uint64_t rng = j->seed;
    unsigned next_slot = 0;
    for (uint64_t at = 0; at < j->total;) {
        /* Mostly small copies, about one in four a ref, now and then a
         * large copy (written outside both locks). */
        uint64_t dice = rel_below(&rng, 100);
        size_t n = 1 + (size_t)rel_below(&rng, dice < 3 ? 9000 : REF_MAX - 1);
        if (n > j->total - at)
            n = (size_t)(j->total - at);
        bool ok = n > REF_MAX || dice < 75 ? put_copy(j, at, n) : put_ref(j, at, n, &next_slot);
        if (!ok)
            break;
        at += n;
    }
    tp_pipe_write_eof(j->p); /* also after a failure: the reader stops */
    return NULL;
}

/* Checks n bytes read at the reader's offset. */
static void check(job *j, const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n && j->bad_at == 0; i++)
        if (d[i] != stream_byte(j->got + i))
            j->bad_at = j->got + i + 1;
    j->got += n;
}

static void *reader_main(void *arg)
{
    job *j = arg;
    uint64_t rng = j->seed ^ 0x5bd1e995u;
    unsigned char buf[70000];
    for (;;) {
        size_t max = 1 + (size_t)rel_below(&rng, rel_below(&rng, 8) == 0 ? sizeof buf : 200);
        ssize_t k;
        if (rel_below(&rng, 2) == 0) {
            const void *d;
            tp_view *v;
            k = tp_pipe_read_view(j->p, max, &d, &v);
            if (k > 0) {
                check(j, d, (size_t)k);
                tp_view_release(v);
            }
        } else {
            k = tp_pipe_read(j->p, buf, max);
            if (k > 0)
                check(j, buf, (size_t)k);
        }
        if (k <= 0) {
            j->read_err = k < 0 ? errno : 0;
            return NULL;
        }
    }
}

static void run_stream(size_t bsize, uint64_t seed)
{
    job j;
    memset(&j, 0, sizeof j);
    j.p = tp_pipe_new(bsize, true, true, 30.0, "fast");
    assert_non_null(j.p);
    j.total = rel_env("TP_FAST_ROUNDS", 1) * 8000000ull;
    j.seed = seed;
    j.slots = calloc(REF_SLOTS, sizeof *j.slots);
    assert_non_null(j.slots);
    pthread_t w, r;
    assert_int_equal(pthread_create(&r, NULL, reader_main, &j), 0);
    assert_int_equal(pthread_create(&w, NULL, writer_main, &j), 0);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    assert_int_equal(j.write_err, 0);
    if (j.bad_at != 0)
        fail_msg("wrong byte at stream offset %llu", (unsigned long long)(j.bad_at - 1));
    assert_int_equal(j.read_err, 0);
    assert_int_equal(j.got, j.total);
    assert_int_equal(tp_pipe_buffered(j.p), 0);
    tp_pipe_free(j.p);
    for (int i = 0; i < REF_SLOTS; i++)
        assert_false(atomic_load(&j.slots[i].busy)); /* every buffer came back */
    free(j.slots);
}

/* A small pipe: the writer keeps filling it, tails fill and drain often. */
static void mixed_writes_small_pipe(void **state)
{
    (void)state;
    run_stream(4096, 1);
}

/* A large one: the reader often drains it and finds the tail empty. */
static void mixed_writes_large_pipe(void **state)
{
    (void)state;
    run_stream(1 << 20, 2);
}

/* Ping-pong over two pipes with 1-byte writes (token-only ones): each side
 * blocks on an empty pipe until the other writes, so every round is a
 * chance for a wake-up to be lost between a reader's last look and its
 * sleep. The pipes' timeout turns a lost one into ETIMEDOUT. */
typedef struct pong {
    tp_pipe *in, *out;
    long rounds;
    int err;
} pong;

static void *ponger_main(void *arg)
{
    pong *pg = arg;
    unsigned char c;
    for (long i = 0; i < pg->rounds; i++) {
        if (tp_pipe_read(pg->in, &c, 1) != 1 || tp_pipe_write(pg->out, &c, 1) != 1) {
            pg->err = errno ? errno : EIO;
            return NULL;
        }
    }
    return NULL;
}

static void no_wakeup_lost_in_ping_pong(void **state)
{
    (void)state;
    /* Blocking ends, 20 s timeout: a round takes microseconds. */
    tp_pipe *a = tp_pipe_new(64, true, true, 20.0, "ping");
    tp_pipe *b = tp_pipe_new(64, true, true, 20.0, "pong");
    assert_non_null(a);
    assert_non_null(b);
    pong pg = {a, b, (long)rel_env("TP_FAST_ROUNDS", 1) * 30000, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ponger_main, &pg), 0);
    unsigned char c = 'x', back;
    for (long i = 0; i < pg.rounds; i++) {
        assert_int_equal(tp_pipe_write(a, &c, 1), 1);
        errno = 0;
        ssize_t k = tp_pipe_read(b, &back, 1);
        if (k != 1)
            fail_msg("round %ld: read returned %zd (%s)", i, k, strerror(errno));
        assert_int_equal(back, c);
        c++;
    }
    pthread_join(t, NULL);
    assert_int_equal(pg.err, 0);
    tp_pipe_free(a);
    tp_pipe_free(b);
}

/* readmatch finds lines whose bytes arrive through writes of random
 * sizes, the delimiter often split across writes: each line must come out
 * whole, no shorter and no longer. Writes of up to 512 bytes mostly take
 * only the write token; larger ones lock, and first wait for a reader that
 * frees a line at a time to free a batch. */
typedef struct liner {
    tp_pipe *p;
    long lines;
    size_t block;     /* the largest write */
    unsigned cut;     /* 1 in `cut` bytes also ends a write */
    long flush_every; /* lines between flushes; 0: none */
    bool write_ok;
} liner;

/* Line i: a length from i, bytes that never contain '\n', then '\n'. */
static size_t line_len(long i)
{
    return 1 + (size_t)((unsigned long)i * 7919u % 300u);
}

/* A write that takes partial counts (a write accepts what fits). */
static bool write_all(tp_pipe *p, const unsigned char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t k = tp_pipe_write(p, buf + off, n - off);
        if (k <= 0)
            return false;
        off += (size_t)k;
    }
    return true;
}

static void *line_writer_main(void *arg)
{
    liner *l = arg;
    bool ok = true;
    uint64_t rng = 7;
    unsigned char buf[8192];
    size_t have = 0;
    for (long i = 0; i < l->lines; i++) {
        size_t n = line_len(i);
        unsigned char line[302];
        for (size_t k = 0; k < n; k++)
            line[k] = (unsigned char)('a' + (i + (long)k) % 26);
        line[n] = '\n';
        /* Cut the stream into writes of random sizes, not at line ends. */
        for (size_t k = 0; k <= n; k++) {
            buf[have++] = line[k];
            if (have == l->block || rel_below(&rng, l->cut) == 0) {
                ok = ok && write_all(l->p, buf, have);
                have = 0;
            }
        }
        /* A flusher sleeps until the reader has drained the pipe: only a
         * reader that wakes it gets further than this. */
        if (l->flush_every > 0 && i % l->flush_every == l->flush_every - 1) {
            ok = ok && write_all(l->p, buf, have) && tp_pipe_flush(l->p) == 0;
            have = 0;
        }
    }
    if (have > 0)
        ok = ok && write_all(l->p, buf, have);
    l->write_ok = ok;
    tp_pipe_write_eof(l->p);
    return NULL;
}

/* A third thread's calls that take the pipe lock, over and over, while
 * readmatch takes lines with the read token alone (see internal.h): the
 * state queries, the statistics, and an rflag put in and taken out while
 * lines taken with the token set it. */
typedef struct poker {
    tp_pipe *p;
    atomic_bool stop;
    long pokes;
    bool ok;
} poker;

static void *poker_main(void *arg)
{
    poker *k = arg;
    tp_event *ev = tp_event_new();
    k->ok = ev != NULL;
    uint64_t last_out = 0;
    while (k->ok && !atomic_load(&k->stop)) {
        tp_pipe_stats st;
        k->ok = tp_pipe_get_stats(k->p, &st) == 0 && st.bytes_out >= last_out &&
                st.buffered <= st.bytes_in - st.bytes_out;
        last_out = st.bytes_out;
        k->ok = k->ok && tp_pipe_canread(k->p) >= 0 && tp_pipe_buffered(k->p) <= 1u << 20;
        tp_pipe_set_rflag(k->p, k->pokes % 2 ? ev : NULL);
        tp_pipe_canwrite(k->p); /* -1 once EOF is written */
        k->pokes++;
    }
    tp_pipe_set_rflag(k->p, NULL);
    tp_event_free(ev);
    return NULL;
}

/* Options of read_lines: what else goes on while the lines are read. */
typedef struct lines_with {
    bool poker;       /* a third thread takes the lock all along */
    long flush_every; /* the writer flushes every so many lines */
} lines_with;

static void read_lines_with(size_t bsize, size_t block, unsigned cut, lines_with with)
{
    tp_pipe *p = tp_pipe_new(bsize, true, true, 30.0, "lines");
    assert_non_null(p);
    liner l = {p, (long)rel_env("TP_FAST_ROUNDS", 1) * 100000, block, cut, with.flush_every, false};
    pthread_t t, pt;
    poker pk = {.p = p};
    atomic_init(&pk.stop, false);
    assert_int_equal(pthread_create(&t, NULL, line_writer_main, &l), 0);
    if (with.poker)
        assert_int_equal(pthread_create(&pt, NULL, poker_main, &pk), 0);
    uint64_t bytes = 0;
    for (long i = 0; i < l.lines; i++) {
        void *out;
        ssize_t k = tp_pipe_readmatch(p, "\n", 1, &out);
        if (k != (ssize_t)line_len(i) + 1)
            fail_msg("line %ld: readmatch returned %zd, want %zu (%s)", i, k, line_len(i) + 1,
                     k < 0 ? strerror(errno) : "");
        const unsigned char *d = out;
        for (size_t c = 0; c < line_len(i); c++)
            if (d[c] != (unsigned char)('a' + (i + (long)c) % 26))
                fail_msg("line %ld: wrong byte at %zu", i, c);
        tp_free(out);
        bytes += (uint64_t)k;
    }
    void *out;
    assert_int_equal(tp_pipe_readmatch(p, "\n", 1, &out), 0);
    pthread_join(t, NULL);
    if (with.poker) {
        atomic_store(&pk.stop, true);
        pthread_join(pt, NULL);
        assert_true(pk.ok);
        assert_true(pk.pokes > 0);
    }
    assert_true(l.write_ok);
    /* Every line counted once, whichever way it was taken. */
    tp_pipe_stats st;
    assert_int_equal(tp_pipe_get_stats(p, &st), 0);
    assert_int_equal(st.bytes_out, bytes);
    assert_int_equal(st.bytes_in, bytes);
    assert_true(st.reads >= (uint64_t)l.lines);
    tp_pipe_free(p);
}

static void read_lines(size_t bsize, size_t block, unsigned cut)
{
    read_lines_with(bsize, block, cut, (lines_with){false, 0});
}

static void readmatch_sees_whole_lines(void **state)
{
    (void)state;
    read_lines(8192, 512, 40);
}

static void readmatch_sees_whole_lines_of_large_writes(void **state)
{
    (void)state;
    read_lines(16384, 8192, 6000);
}

/* readmatch's read token against every kind of locked call at once. */
static void readmatch_token_excludes_locked_calls(void **state)
{
    (void)state;
    read_lines_with(8192, 512, 40, (lines_with){true, 0});
}

/* A reader taking lines with the read token still wakes the writers it
 * frees room for and the flushes it completes: a small pipe keeps the
 * writer waiting for room, and it flushes every 500 lines. */
static void readmatch_token_wakes_writers_and_flushes(void **state)
{
    (void)state;
    read_lines_with(1024, 512, 40, (lines_with){false, 500});
}

/* Zero-copy reads that keep catching up with the writer, their views
 * released late and out of order by a third thread: a drained buffer
 * stays in the pipe as a husk while its view is out, and write_ref links
 * after it. Every buffer must come out in order, be released exactly once
 * per write, and never while a view of it is out. */
#define HUSK_BUFS 64
#define HUSK_LEN 64
#define HUSK_HELD 8 /* views the releaser holds at most */
#define HUSK_QUEUE 1024

typedef struct held_view {
    tp_view *v; /* NULL: the reader is done */
    int buf;
} held_view;

typedef struct husk_job {
    tp_pipe *p;
    long writes;
    unsigned char bufs[HUSK_BUFS][HUSK_LEN];
    atomic_bool busy[HUSK_BUFS]; /* written, release not yet run */
    atomic_int views_out[HUSK_BUFS];
    atomic_int bad_release; /* releases early, or twice */
    int write_err, read_err;
    long bad_view; /* first view out of order + 1 */
    /* views on their way from the reader to the releaser */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    held_view queue[HUSK_QUEUE];
    unsigned head, tail;
} husk_job;

typedef struct husk_ref {
    husk_job *j;
    int buf;
} husk_ref;

static husk_ref husk_refs[HUSK_BUFS];

static size_t husk_len(long k)
{
    return 1 + (size_t)(k * 7 % HUSK_LEN);
}

static void husk_release(void *ctx)
{
    husk_ref *r = ctx;
    if (atomic_load(&r->j->views_out[r->buf]) != 0 || !atomic_exchange(&r->j->busy[r->buf], false))
        atomic_fetch_add(&r->j->bad_release, 1);
}

static void *husk_writer_main(void *arg)
{
    husk_job *j = arg;
    for (long k = 0; k < j->writes; k++) {
        int i = (int)(k % HUSK_BUFS);
        /* The buffer's previous write is still out; its release would
         * have come long since unless one went missing. */
        for (double t0 = rel_now(); atomic_load(&j->busy[i]);) {
            if (rel_now() - t0 > 10) {
                j->write_err = ETIMEDOUT;
                tp_pipe_write_eof(j->p);
                return NULL;
            }
            sched_yield();
        }
        memset(j->bufs[i], (int)(k & 0xff), HUSK_LEN);
        atomic_store(&j->busy[i], true);
        ssize_t n = tp_pipe_write_ref(j->p, j->bufs[i], husk_len(k), husk_release, &husk_refs[i]);
        if (n != (ssize_t)husk_len(k)) {
            j->write_err = n < 0 ? errno : EIO;
            break;
        }
    }
    tp_pipe_write_eof(j->p);
    return NULL;
}

static void husk_send(husk_job *j, held_view h)
{
    pthread_mutex_lock(&j->mu);
    while (j->tail - j->head == HUSK_QUEUE)
        pthread_cond_wait(&j->cv, &j->mu);
    j->queue[j->tail++ % HUSK_QUEUE] = h;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static held_view husk_receive(husk_job *j)
{
    pthread_mutex_lock(&j->mu);
    while (j->head == j->tail)
        pthread_cond_wait(&j->cv, &j->mu);
    held_view h = j->queue[j->head++ % HUSK_QUEUE];
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return h;
}

/* Holds up to HUSK_HELD views, letting a random one go now and then. */
static void *husk_releaser_main(void *arg)
{
    husk_job *j = arg;
    uint64_t rng = 99;
    held_view held[HUSK_HELD];
    int n = 0;
    for (bool done = false; !done || n > 0;) {
        if (!done && n < HUSK_HELD) {
            held_view h = husk_receive(j);
            done = h.v == NULL;
            if (!done)
                held[n++] = h;
        }
        if (n > 0 && (done || n == HUSK_HELD || rel_below(&rng, 2) == 0)) {
            int k = (int)rel_below(&rng, (uint64_t)n);
            held_view go = held[k];
            held[k] = held[--n];
            atomic_fetch_sub(&j->views_out[go.buf], 1);
            tp_view_release(go.v);
        }
    }
    return NULL;
}

/* Reads views of random sizes, checks each against the write it is part
 * of, and passes it on to the releaser. */
static void husk_read(husk_job *j)
{
    uint64_t rng = 5;
    long k = 0;
    size_t off = 0;
    for (;;) {
        const void *d;
        tp_view *v;
        ssize_t n = tp_pipe_read_view(j->p, 1 + (size_t)rel_below(&rng, 80), &d, &v);
        if (n <= 0) {
            j->read_err = n < 0 ? errno : 0;
            break;
        }
        int i = (int)(k % HUSK_BUFS);
        const unsigned char *b = d;
        bool ok = b == j->bufs[i] + off && off + (size_t)n <= husk_len(k);
        for (ssize_t c = 0; ok && c < n; c++)
            ok = b[c] == (unsigned char)(k & 0xff);
        if (!ok && j->bad_view == 0)
            j->bad_view = k + 1;
        atomic_fetch_add(&j->views_out[i], 1);
        husk_send(j, (held_view){v, i});
        off += (size_t)n;
        if (off == husk_len(k)) {
            k++;
            off = 0;
        }
    }
    husk_send(j, (held_view){NULL, 0});
    if (k != j->writes && j->bad_view == 0)
        j->bad_view = k + 1;
}

static void views_released_late_while_reads_catch_up(void **state)
{
    (void)state;
    husk_job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    j->p = tp_pipe_new(256, true, true, 30.0, "husks");
    assert_non_null(j->p);
    j->writes = (long)rel_env("TP_FAST_ROUNDS", 1) * 200000;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    for (int i = 0; i < HUSK_BUFS; i++)
        husk_refs[i] = (husk_ref){j, i};
    pthread_t w, r;
    assert_int_equal(pthread_create(&r, NULL, husk_releaser_main, j), 0);
    assert_int_equal(pthread_create(&w, NULL, husk_writer_main, j), 0);
    husk_read(j);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    tp_pipe_free(j->p);
    assert_int_equal(j->write_err, 0);
    assert_int_equal(j->read_err, 0);
    if (j->bad_view != 0)
        fail_msg("write %ld came out wrong", j->bad_view - 1);
    assert_int_equal(atomic_load(&j->bad_release), 0);
    for (int i = 0; i < HUSK_BUFS; i++)
        assert_false(atomic_load(&j->busy[i])); /* every release ran */
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mixed_writes_small_pipe),
        cmocka_unit_test(mixed_writes_large_pipe),
        cmocka_unit_test(no_wakeup_lost_in_ping_pong),
        cmocka_unit_test(readmatch_sees_whole_lines),
        cmocka_unit_test(readmatch_sees_whole_lines_of_large_writes),
        cmocka_unit_test(readmatch_token_excludes_locked_calls),
        cmocka_unit_test(readmatch_token_wakes_writers_and_flushes),
        cmocka_unit_test(views_released_late_while_reads_catch_up),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("fast_paths", tests, NULL, NULL);
}
