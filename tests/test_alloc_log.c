/* test_alloc_log.c - the process-wide hooks: tp_set_allocator / tp_free
 * (buffers handed out come from the installed allocator, ENOMEM surfaces)
 * and tp_set_log_fn (the default stderr line, replacing and restoring). */
#include "test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

typedef struct counting {
    atomic_long live;  /* allocations not yet freed */
    atomic_long total; /* allocations made */
    atomic_bool fail;  /* make every allocation fail */
} counting;

static void *c_malloc(size_t n, void *ctx)
{
    counting *c = ctx;
    if (atomic_load(&c->fail))
        return NULL;
    void *p = malloc(n);
    if (p) {
        atomic_fetch_add(&c->live, 1);
        atomic_fetch_add(&c->total, 1);
    }
    return p;
}

static void *c_realloc(void *ptr, size_t n, void *ctx)
{
    counting *c = ctx;
    if (atomic_load(&c->fail))
        return NULL;
    void *p = realloc(ptr, n);
    if (p && ptr == NULL) {
        atomic_fetch_add(&c->live, 1);
        atomic_fetch_add(&c->total, 1);
    }
    return p;
}

static void c_free(void *ptr, void *ctx)
{
    counting *c = ctx;
    if (ptr)
        atomic_fetch_sub(&c->live, 1);
    free(ptr);
}

static void set_allocator_rejects_missing_functions(void **state)
{
    (void)state;
    counting c = {0};
    tp_allocator a = {c_malloc, c_realloc, NULL, &c};
    assert_fails_with(tp_set_allocator(&a), EINVAL);
    a = (tp_allocator){NULL, c_realloc, c_free, &c};
    assert_fails_with(tp_set_allocator(&a), EINVAL);
    a = (tp_allocator){c_malloc, NULL, c_free, &c};
    assert_fails_with(tp_set_allocator(&a), EINVAL);
    assert_int_equal(tp_set_allocator(NULL), 0);
    /* The rejected allocator was not installed. */
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    tp_pipe_free(p);
    assert_int_equal(atomic_load(&c.total), 0);
}

static void allocator_serves_every_allocation(void **state)
{
    (void)state;
    counting c = {0};
    tp_allocator a = {c_malloc, c_realloc, c_free, &c};
    assert_int_equal(tp_set_allocator(&a), 0);

    tp_event *ev = tp_event_new();
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, "counted");
    tp_pipe_set_rflag(p, ev);
    assert_int_equal(tp_pipe_write(p, "one\r\ntwo", 8), 8);
    void *line = NULL;
    assert_int_equal(tp_pipe_readmatch(p, NULL, 0, &line), 5);
    tp_pipe_write_eof(p);
    void *rest = NULL;
    size_t len = 0;
    assert_int_equal(tp_pipe_readall(p, &rest, &len), 0);
    assert_int_equal(len, 3);
    tp_wrapper *w = tp_wrapper_new_mem("abc", 3, 0);
    assert_ge(atomic_load(&c.total), 5);
    /* Buffers handed out are released with tp_free, by the same allocator. */
    long before = atomic_load(&c.live);
    tp_free(line);
    tp_free(rest);
    assert_int_equal(atomic_load(&c.live), before - 2);
    tp_free(NULL);
    tp_wrapper_free(w);
    tp_pipe_set_rflag(p, NULL);
    tp_pipe_free(p);
    tp_event_free(ev);
    assert_int_equal(atomic_load(&c.live), 0); /* nothing leaked or freed elsewhere */
    assert_int_equal(tp_set_allocator(NULL), 0);
}

/* Writes k zero-copy buffers of `size` bytes, reads each as a view and
 * releases the views in reverse order. */
static void ref_round(tp_pipe *p, const char *buf, size_t size, int k)
{
    tp_view *views[4];
    for (int i = 0; i < k; i++)
        assert_int_equal(tp_pipe_write_ref(p, buf, size, NULL, NULL), (ssize_t)size);
    for (int i = 0; i < k; i++) {
        const void *data;
        assert_int_equal(tp_pipe_read_view(p, size, &data, &views[i]), (ssize_t)size);
        assert_ptr_equal(data, buf);
    }
    while (k > 0)
        tp_view_release(views[--k]);
}

/* A zero-copy pipe (bsize 4 KiB) under the counting allocator. */
typedef struct counted_pipe {
    counting c;
    tp_pipe *p;
} counted_pipe;

static void counted_pipe_open(counted_pipe *f)
{
    tp_allocator a = {c_malloc, c_realloc, c_free, &f->c};
    assert_int_equal(tp_set_allocator(&a), 0);
    f->p = tp_pipe_new(4096, true, true, TP_FOREVER, NULL);
    assert_non_null(f->p);
}

/* Frees the pipe: everything it allocated must come back. */
static void counted_pipe_close(counted_pipe *f)
{
    atomic_store(&f->c.fail, false);
    tp_pipe_free(f->p);
    assert_int_equal(atomic_load(&f->c.live), 0);
    assert_int_equal(tp_set_allocator(NULL), 0);
}

/* A zero-copy stream recycles its buffer descriptors: after a warm-up,
 * hand-offs allocate nothing, and the pipe keeps a bounded number of
 * descriptors however long the stream runs. */
static void write_ref_recycles_descriptors(void **state)
{
    (void)state;
    counted_pipe fixture = {0}, *f = &fixture;
    counted_pipe_open(f);
    static const char buf[1024];
    long idle = atomic_load(&f->c.live);
    for (int r = 0; r < 100; r++)
        ref_round(f->p, buf, sizeof buf, 1 + r % 4);
    long warm = atomic_load(&f->c.total), kept = atomic_load(&f->c.live) - idle;
    for (int r = 0; r < 5000; r++)
        ref_round(f->p, buf, sizeof buf, 1 + r % 4);
    assert_int_equal(atomic_load(&f->c.total), warm); /* steady state: no allocation */
    /* At most 4 buffers in flight: a few dozen descriptors, not one per
     * hand-off (the pipe's own state is a few more). */
    assert_in_range(kept, 1, 32);
    assert_int_equal(atomic_load(&f->c.live) - idle, kept);
    counted_pipe_close(f);
}

/* Out of memory, a write_ref takes a descriptor that came back rather
 * than fail, even while the pool would rather grow (right after its first
 * hand-offs). */
static void write_ref_out_of_memory_reuses_a_released_descriptor(void **state)
{
    (void)state;
    counted_pipe fixture = {0}, *f = &fixture;
    counted_pipe_open(f);
    static const char buf[1024];
    /* Two descriptors: the first comes back once its view is released,
     * the second stays as the drained tail until the next write. */
    ref_round(f->p, buf, sizeof buf, 2);
    long made = atomic_load(&f->c.total);
    atomic_store(&f->c.fail, true);
    for (int r = 0; r < 3; r++)
        ref_round(f->p, buf, sizeof buf, 1);
    assert_int_equal(atomic_load(&f->c.total), made);
    counted_pipe_close(f);
}

static void failing_allocator_gives_enomem(void **state)
{
    (void)state;
    counting c = {0};
    atomic_store(&c.fail, true);
    tp_allocator a = {c_malloc, c_realloc, c_free, &c};
    assert_int_equal(tp_set_allocator(&a), 0);
    assert_null_with(tp_pipe_new(0, true, true, TP_FOREVER, "x"), ENOMEM);
    assert_null_with(tp_event_new(), ENOMEM);
    assert_null_with(tp_wrapper_new_mem("abc", 3, 0), ENOMEM);

    /* A pipe made before the failures start: its first write allocates. */
    atomic_store(&c.fail, false);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, NULL);
    assert_non_null(p);
    atomic_store(&c.fail, true);
    assert_fails_with(tp_pipe_write(p, "abc", 3), ENOMEM);
    assert_int_equal(tp_pipe_buffered(p), 0);
    atomic_store(&c.fail, false);
    assert_int_equal(tp_pipe_write(p, "abc", 3), 3); /* recovers */
    tp_pipe_free(p);
    assert_int_equal(atomic_load(&c.live), 0);
    assert_int_equal(tp_set_allocator(NULL), 0);
}

static void log_fn_replaced_and_restored(void **state)
{
    (void)state;
    tt_log log;
    tt_log_capture(&log);
    tp_pipe *p = tp_pipe_new(0, false, false, 0, "logged");
    assert_int_equal(tp_pipe_write(p, "x", 1), 1);
    tp_pipe_close(p);
    tp_pipe_free(p);
    assert_int_equal(tt_log_count(&log), 1);
    assert_string_equal(log.name, "logged");
    tt_log_restore(&log);

    /* The default sink: one line on stderr, "tpipe: WARNING: pipe NAME: MSG". */
    fflush(stderr);
    char path[] = "/tmp/tpipe-log-XXXXXX";
    int fd = mkstemp(path);
    assert_int_not_equal(fd, -1);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    p = tp_pipe_new(0, false, false, 0, "default-sink");
    assert_int_equal(tp_pipe_write(p, "xy", 2), 2);
    tp_pipe_close(p);
    tp_pipe_free(p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char line[512] = {0};
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    assert_ge(n, 1);
    const char *want = "tpipe: WARNING: pipe default-sink: ";
    if (strncmp(line, want, strlen(want)) != 0)
        fail_msg("default log line is \"%s\", want it to start with \"%s\"", line, want);
    assert_int_equal(line[n - 1], '\n');
    assert_ptr_equal(strchr(line, '\n'), line + n - 1); /* exactly one line */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_allocator_rejects_missing_functions),
        cmocka_unit_test(allocator_serves_every_allocation),
        cmocka_unit_test(write_ref_recycles_descriptors),
        cmocka_unit_test(write_ref_out_of_memory_reuses_a_released_descriptor),
        cmocka_unit_test(failing_allocator_gives_enomem),
        cmocka_unit_test(log_fn_replaced_and_restored),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
