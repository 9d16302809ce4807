/* test_write_bias.c - the write token's bias against everything that can
 * meet it. A thread that makes a few hundred token-only writes in a row
 * gets the token for good and enters without an atomic instruction; any
 * other thread that needs the token revokes that (see wtoken.c). Each case
 * first lets one writer earn the bias with a long solo run, then brings in
 * what must take it back or work around it: other writers, a reader that
 * goes to sleep and must be woken, stats, and EOF. Every byte carries
 * its writer and sequence number, so a lost, doubled or reordered one
 * shows. Where membarrier is missing (and under ThreadSanitizer) nothing
 * is biased and these cases test the plain token. */
#include "rel_util.h"

#include <sched.h>

/* Every byte is a record: the writer in the top three bits, its sequence
 * number modulo 32 below. Writes of up to 64 records may be partial, and
 * other writers' bytes may come between the parts, but each writer's own
 * bytes must come out in order: a lost, doubled or reordered byte shows
 * in the sequence, and the per-writer totals catch the rest. */
#define MAX_WRITERS 8
#define SEQ_MASK 31u
#define CHUNK 64
/* Writers taking turns at the bias; the crowd is all of them. */
#define TURN_WRITERS 3
/* Longer than the longest run that earns the bias (65,536 writes):
 * every solo run earns it, whatever revocations came before. */
#define SOLO_RUN 70000

typedef struct checker {
    uint64_t next[MAX_WRITERS];
    uint64_t records;
    char bad[160]; /* the first problem; empty: none */
} checker;

static void feed(checker *c, const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++, c->records++) {
        unsigned w = d[i] >> 5;
        if (c->bad[0] != '\0')
            continue;
        if ((d[i] & SEQ_MASK) != (c->next[w] & SEQ_MASK))
            snprintf(c->bad, sizeof c->bad, "writer %u: byte %llu has sequence %u, want %llu", w,
                     (unsigned long long)c->records, d[i] & SEQ_MASK,
                     (unsigned long long)(c->next[w] & SEQ_MASK));
        else
            c->next[w]++;
    }
}

/* Writes records seq [from, to) of writer w, up to `most` (at most
 * CHUNK) per write; returns how many went in (fewer only when a write
 * failed, with *err set). */
static uint64_t put_some_records(tp_pipe *p, uint32_t w, uint64_t from, uint64_t to, size_t most,
                                 int *err)
{
    unsigned char chunk[CHUNK];
    for (uint64_t s = from; s < to;) {
        size_t n = to - s < most ? (size_t)(to - s) : most;
        for (size_t i = 0; i < n; i++)
            chunk[i] = (unsigned char)(w << 5 | ((s + i) & SEQ_MASK));
        ssize_t k = tp_pipe_write(p, chunk, n);
        if (k <= 0) {
            *err = k < 0 ? errno : EIO;
            return s - from;
        }
        s += (uint64_t)k;
    }
    return to - from;
}

static uint64_t put_records(tp_pipe *p, uint32_t w, uint64_t from, uint64_t to, int *err)
{
    return put_some_records(p, w, from, to, CHUNK, err);
}

/* Reads until EOF with reads and views of varied sizes. Returns 0, or
 * the errno of a failed read. */
static int read_to_eof(tp_pipe *p, checker *c, uint64_t seed, atomic_uint_least64_t *progress)
{
    uint64_t rng = seed;
    unsigned char buf[4096];
    for (;;) {
        size_t max = 1 + (size_t)rel_below(&rng, sizeof buf);
        ssize_t k;
        if (rel_below(&rng, 4) == 0) {
            const void *d;
            tp_view *v;
            k = tp_pipe_read_view(p, max, &d, &v);
            if (k > 0) {
                feed(c, d, (size_t)k);
                tp_view_release(v);
            }
        } else {
            k = tp_pipe_read(p, buf, max);
            if (k > 0)
                feed(c, buf, (size_t)k);
        }
        if (k == 0)
            return 0;
        if (k < 0)
            return errno;
        if (progress != NULL)
            atomic_store_explicit(progress, c->records, memory_order_relaxed);
    }
}

/* ---- writers taking turns with a biased one ---- */

typedef struct turns {
    tp_pipe *p;
    pthread_barrier_t phase;
    int rounds;
    uint64_t together; /* records each writer writes in a shared phase */
    uint64_t written[MAX_WRITERS];
    int err[MAX_WRITERS];
} turns;

typedef struct turn_arg {
    turns *t;
    uint32_t w;
} turn_arg;

static void *turn_writer(void *arg)
{
    turn_arg *a = arg;
    turns *t = a->t;
    for (int r = 0; r < t->rounds; r++) {
        /* Solo: one writer earns the bias, the others wait. */
        if ((uint32_t)r % TURN_WRITERS == a->w && t->err[a->w] == 0)
            t->written[a->w] += put_some_records(t->p, a->w, t->written[a->w],
                                                 t->written[a->w] + SOLO_RUN, 1, &t->err[a->w]);
        pthread_barrier_wait(&t->phase);
        /* Together: the others' first writes revoke it. */
        if (t->err[a->w] == 0)
            t->written[a->w] += put_records(t->p, a->w, t->written[a->w],
                                            t->written[a->w] + t->together, &t->err[a->w]);
        pthread_barrier_wait(&t->phase);
    }
    return NULL;
}

/* A reader thread: reads p to EOF, checking every byte, and publishes
 * how many it has read so far. */
typedef struct stream_reader {
    tp_pipe *p;
    uint64_t seed;
    checker c;
    atomic_uint_least64_t progress;
    int err;
} stream_reader;

static void *stream_reader_main(void *arg)
{
    stream_reader *sr = arg;
    sr->err = read_to_eof(sr->p, &sr->c, sr->seed, &sr->progress);
    return NULL;
}

/* Sets up r to read p (seeded for its read sizes) and starts it. */
static void start_reader(stream_reader *r, tp_pipe *p, uint64_t seed, pthread_t *t)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->seed = seed;
    atomic_init(&r->progress, 0);
    assert_int_equal(pthread_create(t, NULL, stream_reader_main, r), 0);
}

static void writers_take_turns_with_a_biased_one(void **state)
{
    (void)state;
    turns t;
    memset(&t, 0, sizeof t);
    t.p = tp_pipe_new(8192, true, true, 30.0, "turns");
    assert_non_null(t.p);
    t.rounds = (int)rel_env("TP_FAST_ROUNDS", 1) * 2 * TURN_WRITERS;
    t.together = 5000;
    assert_int_equal(pthread_barrier_init(&t.phase, NULL, TURN_WRITERS), 0);
    stream_reader tr;
    pthread_t rd, wr[TURN_WRITERS];
    turn_arg args[TURN_WRITERS];
    start_reader(&tr, t.p, 11, &rd);
    for (uint32_t w = 0; w < TURN_WRITERS; w++) {
        args[w] = (turn_arg){&t, w};
        assert_int_equal(pthread_create(&wr[w], NULL, turn_writer, &args[w]), 0);
    }
    for (int w = 0; w < TURN_WRITERS; w++)
        pthread_join(wr[w], NULL);
    assert_int_equal(tp_pipe_write_eof(t.p), 0);
    pthread_join(rd, NULL);
    pthread_barrier_destroy(&t.phase);
    if (tr.c.bad[0] != '\0')
        fail_msg("%s", tr.c.bad);
    assert_int_equal(tr.err, 0);
    for (int w = 0; w < TURN_WRITERS; w++) {
        assert_int_equal(t.err[w], 0);
        assert_int_equal(tr.c.next[w], t.written[w]);
    }
    tp_pipe_free(t.p);
}

/* ---- more writers than cores, all streaming ---- */

/* Writers preempted anywhere, for milliseconds, while the others stream:
 * among them, a bias owner preempted between reading its record in the
 * token and marking itself inside, resuming after another writer has
 * revoked its bias and earned one of its own. (A first version kept the
 * busy mark in the pipe, where such a writer cleared the new owner's.)
 * Timing decides whether a run meets that moment: this case is a stress
 * of the trading, not a proof. */
typedef struct crowd {
    tp_pipe *p;
    uint64_t each;
    uint64_t written[MAX_WRITERS];
    int err[MAX_WRITERS];
    uint32_t w; /* the next writer's id, taken by each thread at start */
    pthread_mutex_t id_lock;
} crowd;

static void *crowd_writer(void *arg)
{
    crowd *c = arg;
    pthread_mutex_lock(&c->id_lock);
    uint32_t w = c->w++;
    pthread_mutex_unlock(&c->id_lock);
    /* One byte per write: the most writes, so the longest streaks. */
    c->written[w] = put_some_records(c->p, w, 0, c->each, 1, &c->err[w]);
    return NULL;
}

static void many_writers_trade_the_bias(void **state)
{
    (void)state;
    crowd c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.id_lock, NULL);
    c.p = tp_pipe_new(1 << 16, true, true, 30.0, "crowd");
    assert_non_null(c.p);
    c.each = rel_env("TP_FAST_ROUNDS", 1) * 600000;
    stream_reader tr;
    pthread_t rd, wr[MAX_WRITERS];
    start_reader(&tr, c.p, 11, &rd);
    for (int w = 0; w < MAX_WRITERS; w++)
        assert_int_equal(pthread_create(&wr[w], NULL, crowd_writer, &c), 0);
    for (int w = 0; w < MAX_WRITERS; w++)
        pthread_join(wr[w], NULL);
    assert_int_equal(tp_pipe_write_eof(c.p), 0);
    pthread_join(rd, NULL);
    if (tr.c.bad[0] != '\0')
        fail_msg("%s", tr.c.bad);
    assert_int_equal(tr.err, 0);
    for (int w = 0; w < MAX_WRITERS; w++) {
        assert_int_equal(c.err[w], 0);
        assert_int_equal(tr.c.next[w], c.written[w]);
        assert_int_equal(c.written[w], c.each);
    }
    tp_pipe_free(c.p);
    pthread_mutex_destroy(&c.id_lock);
}

/* ---- a reader going to sleep on a biased writer ---- */

/* Each round the writer earns the bias with a long run of one-byte
 * writes, which the reader drains; then the reader waits for one more
 * byte. A reader about to sleep revokes the bias (it passes through the
 * token), so the two race: the writer's next write either comes before
 * the reader's last look or sees it watching and wakes it. On even
 * rounds the writer writes that byte only once the reader is asleep
 * (its stall callback, which runs only after it counted itself as
 * watching, says so and removes itself, so the next sleep has only the
 * pipe's timeout); on odd rounds after a spin of 0 to 50 us, anywhere in
 * the reader's spin, count-in or sleep. A lost wake-up leaves the reader
 * asleep until the pipe's 20 s timeout: ETIMEDOUT. */
typedef struct sleeper {
    tp_pipe *p;
    atomic_int asleep; /* the round whose read has gone to sleep, + 1 */
    int round;
    int rounds;
    int err;
} sleeper;

static void on_stall(tp_pipe *p, int side, double idle, void *ctx)
{
    (void)idle;
    sleeper *s = ctx;
    if (side == TP_SIDE_READER) {
        tp_pipe_set_stall_fn(p, 0, NULL, NULL);
        atomic_store(&s->asleep, s->round + 1);
    }
}

/* Spins (no system call) for about `us` microseconds. */
static void spin_for(double us)
{
    double until = rel_now() + us * 1e-6;
    while (rel_now() < until)
        ;
}

static void *sleeper_writer(void *arg)
{
    sleeper *s = arg;
    int err = 0;
    uint64_t seq = 0, rng = 3;
    for (int r = 0; r < s->rounds && err == 0; r++) {
        seq += put_some_records(s->p, 0, seq, seq + SOLO_RUN, 1, &err);
        if (r % 2 == 0) {
            for (unsigned i = 0; atomic_load(&s->asleep) != r + 1; i++)
                sched_yield();
        } else {
            spin_for((double)rel_below(&rng, 50));
        }
        if (err == 0)
            seq += put_records(s->p, 0, seq, seq + 1, &err);
    }
    s->err = err;
    tp_pipe_write_eof(s->p);
    return NULL;
}

/* Reads n records, in reads of any size up to n. */
static void read_records(tp_pipe *p, checker *c, uint64_t n, int round)
{
    unsigned char buf[4096];
    for (uint64_t want = c->records + n; c->records < want;) {
        size_t max = want - c->records < sizeof buf ? (size_t)(want - c->records) : sizeof buf;
        ssize_t k = tp_pipe_read(p, buf, max);
        if (k <= 0)
            fail_msg("round %d: read returned %zd (%s)", round, k, k < 0 ? strerror(errno) : "EOF");
        feed(c, buf, (size_t)k);
    }
}

static void reader_sleeps_on_a_biased_writer(void **state)
{
    (void)state;
    sleeper s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.asleep, 0);
    s.p = tp_pipe_new(1 << 16, true, true, 20.0, "sleeper");
    assert_non_null(s.p);
    s.rounds = (int)rel_env("TP_FAST_ROUNDS", 1) * 30;
    checker c;
    memset(&c, 0, sizeof c);
    pthread_t w;
    assert_int_equal(pthread_create(&w, NULL, sleeper_writer, &s), 0);
    for (int r = 0; r < s.rounds; r++) {
        read_records(s.p, &c, SOLO_RUN, r);
        s.round = r;
        if (r % 2 == 0)
            assert_int_equal(tp_pipe_set_stall_fn(s.p, 0.0005, on_stall, &s), 0);
        read_records(s.p, &c, 1, r);
    }
    unsigned char buf[64];
    assert_int_equal(tp_pipe_read(s.p, buf, sizeof buf), 0); /* EOF */
    pthread_join(w, NULL);
    assert_int_equal(s.err, 0);
    if (c.bad[0] != '\0')
        fail_msg("%s", c.bad);
    assert_int_equal(c.records, (uint64_t)s.rounds * (SOLO_RUN + 1));
    tp_pipe_free(s.p);
}

/* ---- EOF and stats from other threads while a writer holds the bias ---- */

typedef struct ender {
    tp_pipe *p;
    uint64_t written;
    int err;
} ender;

static void *endless_writer(void *arg)
{
    ender *e = arg;
    /* Until a write fails: the EOF the test thread writes. */
    for (;;) {
        int err = 0;
        e->written += put_some_records(e->p, 0, e->written, e->written + 1000, 1, &err);
        if (err != 0) {
            e->err = err;
            return NULL;
        }
    }
}

static void eof_and_stats_revoke_the_bias(void **state)
{
    (void)state;
    for (int round = 0; round < (int)rel_env("TP_FAST_ROUNDS", 1) * 5; round++) {
        ender e = {tp_pipe_new(4096, true, true, 30.0, "ender"), 0, 0};
        assert_non_null(e.p);
        stream_reader er;
        pthread_t w, rd;
        start_reader(&er, e.p, 5, &rd);
        assert_int_equal(pthread_create(&w, NULL, endless_writer, &e), 0);
        /* Stats take the token too: a few while the writer streams, each
         * after enough one-byte writes to earn the bias again. */
        for (uint64_t seen = 0; seen < 4 * SOLO_RUN;) {
            tp_pipe_stats st;
            assert_int_equal(tp_pipe_get_stats(e.p, &st), 0);
            assert_true(st.bytes_in >= st.bytes_out);
            seen += SOLO_RUN;
            while (atomic_load_explicit(&er.progress, memory_order_relaxed) < seen)
                sched_yield();
        }
        assert_int_equal(tp_pipe_write_eof(e.p), 0);
        pthread_join(w, NULL);
        pthread_join(rd, NULL);
        assert_int_equal(e.err, EPIPE);
        if (er.c.bad[0] != '\0')
            fail_msg("%s", er.c.bad);
        assert_int_equal(er.err, 0);
        /* Every write that succeeded was read, and nothing else. */
        assert_int_equal(er.c.next[0], e.written);
        tp_pipe_free(e.p);
    }
}

/* ---- write_ref buffers released as they are read ---- */

/* A ref segment that a reader drains while it is the tail can only leave
 * the chain with the write token. A copy tail may wait for a later call
 * when a writer holds the token (or its bias), but a ref tail holds the
 * caller's buffer: once the read that consumed its last byte returns, the
 * release must have run, even though the writer that wrote it still
 * holds the bias and makes no further call. */
typedef struct ref_run {
    tp_pipe *p;
    uint64_t n;
    atomic_uint_least64_t released;
    int err;
} ref_run;

static const unsigned char ref_bytes[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                            11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                            22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void count_release(void *ctx)
{
    atomic_fetch_add_explicit((atomic_uint_least64_t *)ctx, 1, memory_order_relaxed);
}

static void *ref_writer(void *arg)
{
    ref_run *rr = arg;
    for (uint64_t i = 0; i < rr->n; i++) {
        /* Writer 0's byte i: one-byte refs to constant storage. */
        if (tp_pipe_write_ref(rr->p, &ref_bytes[i & SEQ_MASK], 1, count_release, &rr->released) !=
            1) {
            rr->err = errno ? errno : EIO;
            break;
        }
    }
    return NULL;
}

static void refs_are_released_as_they_are_read(void **state)
{
    (void)state;
    for (int round = 0; round < (int)rel_env("TP_FAST_ROUNDS", 1) * 3; round++) {
        ref_run rr;
        memset(&rr, 0, sizeof rr);
        atomic_init(&rr.released, 0);
        rr.p = tp_pipe_new(1 << 20, true, true, 30.0, "refs");
        assert_non_null(rr.p);
        rr.n = SOLO_RUN; /* enough one-writer writes to earn the bias */
        pthread_t w;
        assert_int_equal(pthread_create(&w, NULL, ref_writer, &rr), 0);
        checker c;
        memset(&c, 0, sizeof c);
        read_records(rr.p, &c, rr.n, round);
        /* Before joining the writer: the release must not wait for a
         * later call of the writer (it makes none). */
        uint64_t released = atomic_load(&rr.released);
        pthread_join(w, NULL);
        assert_int_equal(rr.err, 0);
        if (c.bad[0] != '\0')
            fail_msg("%s", c.bad);
        if (released != rr.n)
            fail_msg("round %d: %llu of %llu buffers released once all were read", round,
                     (unsigned long long)released, (unsigned long long)rr.n);
        tp_pipe_free(rr.p);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writers_take_turns_with_a_biased_one),
        cmocka_unit_test(many_writers_trade_the_bias),
        cmocka_unit_test(reader_sleeps_on_a_biased_writer),
        cmocka_unit_test(eof_and_stats_revoke_the_bias),
        cmocka_unit_test(refs_are_released_as_they_are_read),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("write_bias", tests, NULL, NULL);
}
