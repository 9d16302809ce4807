/* test_bounded_memory.c - with writers at full speed and the reader stalled
 * for seconds, the memory a pipe holds stays within bsize plus one
 * in-flight write per writer, plus a fixed overhead per segment.
 *
 * Measured exactly, not sampled: the counting allocator (fail_alloc.c)
 * tracks the peak of every byte tpipe has allocated, and the test tracks
 * the peak of the caller's write_ref bytes the pipe has not yet released
 * (counted from just before each write_ref call, so a blocked write counts
 * as in flight), while the reader is stalled. The bound asserted:
 *
 *   tpipe bytes <= bsize + (writers + 1) * segment + FIXED_OVERHEAD
 *   caller bytes held <= bsize + (writers + 1) * max write_ref size
 *
 * (a write_ref is accepted whole once there is any room, so the buffer
 * may hold bsize - 1 + one write_ref; each writer may then have one more
 * call in flight)
 * where segment is the copy segment size (bsize clamped to 1-64 KiB, see
 * src/pipe.c): each writer's in-flight copy may end in a partly filled
 * segment, and the chain's head segment may be partly read; FIXED_OVERHEAD
 * covers segment headers, the pipe, its pool and its name. The figures are printed.
 * TP_STALL_SECONDS sets the stall (default 2). */
#include "fail_alloc.h"
#include "rel_util.h"

#define WRITERS 4
#define MAX_REF 8192
#define FIXED_OVERHEAD (16 * 1024)

/* Which writers write_ref: none, every other one, or all. */
enum mix { MIX_COPY, MIX_BOTH, MIX_REF };
static const char *mix_names[] = {"copy writers", "copy and write_ref writers",
                                  "write_ref writers"};

typedef struct shared {
    enum mix mix;
    tp_pipe *p;
    atomic_bool stop;
    atomic_llong held; /* write_ref bytes not yet released */
    atomic_llong held_peak;
    atomic_ullong written;
    rel_failure f;
} shared;

typedef struct refbuf {
    shared *s;
    size_t n;
    unsigned char data[];
} refbuf;

static void note_peak(shared *s, long long now)
{
    long long peak = atomic_load(&s->held_peak);
    while (now > peak && !atomic_compare_exchange_weak(&s->held_peak, &peak, now))
        ;
}

static void release_ref(void *ctx)
{
    refbuf *b = ctx;
    atomic_fetch_sub(&b->s->held, (long long)b->n);
    free(b);
}

typedef struct writer {
    shared *s;
    int id;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    shared *s = w->s;
    uint64_t rng = rel_seed((uint64_t)w->id, 99);
    static unsigned char src[MAX_REF];
    while (!atomic_load(&s->stop)) {
        size_t n = 1 + (size_t)rel_below(&rng, MAX_REF);
        ssize_t k;
        bool ref = s->mix == MIX_REF || (s->mix == MIX_BOTH && w->id % 2 == 1);
        if (!ref) {
            k = tp_pipe_write(s->p, src, n);
        } else {
            refbuf *b = malloc(sizeof *b + n);
            if (b == NULL) {
                rel_fail(&s->f, "out of memory");
                return NULL;
            }
            b->s = s;
            b->n = n;
            note_peak(s, atomic_fetch_add(&s->held, (long long)n) + (long long)n);
            k = tp_pipe_write_ref(s->p, b->data, n, release_ref, b);
            if (k < 0) {
                atomic_fetch_sub(&s->held, (long long)n);
                free(b);
            }
        }
        if (k > 0) {
            atomic_fetch_add(&s->written, (unsigned long long)k);
        } else if (errno == EPIPE) {
            return NULL; /* the test is over */
        } else if (errno != ETIMEDOUT) {
            rel_fail(&s->f, "write: %s", strerror(errno));
            return NULL;
        }
    }
    return NULL;
}

static void run_bound(size_t bsize, enum mix mix)
{
    fa_install();
    shared *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mix = mix;
    /* Blocking writers with a short timeout so they notice the end. */
    s->p = tp_pipe_new(bsize, true, true, 0.2, "bounded");
    assert_non_null(s->p);
    fa_reset_peak();
    writer ws[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        ws[i] = (writer){s, i};
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &ws[i]), 0);
    }
    /* The reader is stalled: nobody reads for a few seconds while the
     * writers push as hard as they can. */
    tp_event *stall = tp_event_new();
    assert_non_null(stall);
    double secs = (double)rel_env("TP_STALL_SECONDS", 2);
    assert_int_equal(tp_event_wait(stall, secs), -1);
    size_t stalled_peak = fa_peak_bytes();
    /* Once the reader runs, bytes it consumed wait a moment for their
     * release callback, so the caller-side bound is taken while stalled. */
    long long held_stalled = atomic_load(&s->held_peak);
    size_t buffered = tp_pipe_buffered(s->p);
    /* Then it drains at full speed while they keep writing. */
    unsigned char *buf = malloc(1 << 16);
    assert_non_null(buf);
    tp_pipe_set_readblocking(s->p, false);
    for (int i = 0; i < 2000; i++)
        if (tp_pipe_read(s->p, buf, 1 << 16) < 0 && errno != EAGAIN)
            break;
    atomic_store(&s->stop, true);
    tp_pipe_close(s->p); /* wakes blocked writers with EPIPE */
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    size_t peak = fa_peak_bytes();
    long long held_peak = atomic_load(&s->held_peak);
    tp_pipe_free(s->p);
    tp_event_free(stall);
    size_t leaked = fa_live_blocks();
    free(buf);
    fa_uninstall();

    size_t seg = bsize < 1024 ? 1024 : bsize > 65536 ? 65536 : bsize;
    size_t tp_bound = bsize + (WRITERS + 1) * seg + FIXED_OVERHEAD;
    long long ref_bound = (long long)bsize + (WRITERS + 1) * (long long)MAX_REF;
    printf("%s, bsize %zu: buffered %zu after a %.0f s stall; tpipe memory peak %zu bytes "
           "(stalled %zu, bound %zu = bsize + %d segments of %zu + %d); caller write_ref bytes "
           "held peak %lld while stalled, %lld overall (bound %lld = bsize + %d writes x %d)\n",
           mix_names[mix], bsize, buffered, secs, peak, stalled_peak, tp_bound, WRITERS + 1, seg,
           FIXED_OVERHEAD, held_stalled, held_peak, ref_bound, WRITERS + 1, MAX_REF);
    if (atomic_load(&s->f.failed))
        fail_msg("%s", s->f.msg);
    assert_int_equal(leaked, 0);
    assert_true(atomic_load(&s->written) > 0);
    assert_true(peak <= tp_bound);
    assert_true(held_stalled <= ref_bound);
    free(s);
}

static void bounded_memory_copy_4k(void **state)
{
    (void)state;
    run_bound(4096, MIX_COPY);
}

static void bounded_memory_mixed_4k(void **state)
{
    (void)state;
    run_bound(4096, MIX_BOTH);
}

static void bounded_memory_ref_4k(void **state)
{
    (void)state;
    run_bound(4096, MIX_REF);
}

static void bounded_memory_copy_1m(void **state)
{
    (void)state;
    run_bound(1 << 20, MIX_COPY);
}

static void bounded_memory_mixed_1m(void **state)
{
    (void)state;
    run_bound(1 << 20, MIX_BOTH);
}

static void bounded_memory_ref_1m(void **state)
{
    (void)state;
    run_bound(1 << 20, MIX_REF);
}

/* A mixed stream, deterministically: runs of small copies long enough
 * for the pipe's segments to grow to full size, each ending in a full-size
 * segment that is barely filled, then a write_ref. The ref would strand
 * the rest of that segment (later copies go after the ref); tpipe gives
 * it back instead, so memory stays near the bytes buffered. With
 * `moving`, the allocator moves every block it shrinks. */
enum { RUN_BYTES = 70000, ROUNDS = 8, SMALL = 100 };

static void count_release(void *ctx)
{
    ++*(int *)ctx;
}

static void expect_bytes(tp_pipe *p, size_t n, unsigned char value)
{
    unsigned char buf[4096];
    while (n > 0) {
        ssize_t r = tp_pipe_read(p, buf, n < sizeof buf ? n : sizeof buf);
        assert_true(r > 0);
        for (ssize_t i = 0; i < r; i++)
            assert_int_equal(buf[i], value);
        n -= (size_t)r;
    }
}

static void mixed_stream(bool moving)
{
    fa_install();
    fa_set_moving(moving);
    tp_pipe *p = tp_pipe_new(1 << 20, false, false, 0, NULL);
    assert_non_null(p);
    unsigned char copy[SMALL], ref[ROUNDS][SMALL];
    memset(copy, 'c', sizeof copy);
    int released = 0;
    size_t copied = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t run = 0; run < RUN_BYTES; run += SMALL, copied += SMALL)
            assert_int_equal(tp_pipe_write(p, copy, SMALL), SMALL);
        memset(ref[round], 'a' + round, SMALL);
        assert_int_equal(tp_pipe_write_ref(p, ref[round], SMALL, count_release, &released), SMALL);
    }
    /* The copied bytes, a header per segment (about 11 per run), at most
     * 4 KiB of free space per ref, and the pipe, its pool and extras. */
    size_t bound = copied + ROUNDS * (4096 + 16 * 128) + FIXED_OVERHEAD;
    size_t live = fa_live_bytes();
    printf("mixed stream%s: %zu bytes copied, %zu live (bound %zu)\n",
           moving ? ", moving allocator" : "", copied, live, bound);
    assert_true(live <= bound);
    for (int round = 0; round < ROUNDS; round++) {
        expect_bytes(p, RUN_BYTES, 'c');
        expect_bytes(p, SMALL, (unsigned char)('a' + round));
    }
    assert_int_equal(released, ROUNDS);

    /* The last segment, partly read, is also the first: a ref after it. */
    for (size_t run = 0; run < RUN_BYTES; run += SMALL)
        assert_int_equal(tp_pipe_write(p, copy, SMALL), SMALL);
    expect_bytes(p, RUN_BYTES - 10, 'c');
    assert_int_equal(tp_pipe_write_ref(p, ref[0], SMALL, count_release, &released), SMALL);
    expect_bytes(p, 10, 'c');
    expect_bytes(p, SMALL, 'a');
    assert_int_equal(released, ROUNDS + 1);
    assert_int_equal(tp_pipe_buffered(p), 0);
    tp_pipe_free(p);
    assert_int_equal(fa_live_blocks(), 0);
    fa_uninstall();
}

static void mixed_stream_strands_no_space(void **state)
{
    (void)state;
    mixed_stream(false);
}

static void mixed_stream_strands_no_space_moving(void **state)
{
    (void)state;
    mixed_stream(true);
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
        cmocka_unit_test(bounded_memory_copy_4k),
        cmocka_unit_test(bounded_memory_mixed_4k),
        cmocka_unit_test(bounded_memory_ref_4k),
        cmocka_unit_test(bounded_memory_copy_1m),
        cmocka_unit_test(bounded_memory_mixed_1m),
        cmocka_unit_test(bounded_memory_ref_1m),
        cmocka_unit_test(mixed_stream_strands_no_space),
        cmocka_unit_test(mixed_stream_strands_no_space_moving),
    };
    tp_set_log_fn(quiet, NULL);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("bounded_memory", tests, NULL, NULL);
}
