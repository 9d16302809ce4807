/* test_stdio.c - tp_pipe_fopen: pipe ends as stdio streams (fprintf, fgets,
 * fread, getline), EOF and close on fclose, and errors through ferror. */
#define _POSIX_C_SOURCE 200809L
#include "adapters_util.h"

#include <stdio.h>

static void fopen_rejects_bad_arguments(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_null_with(tp_pipe_fopen(NULL, "r"), EINVAL);
    assert_null_with(tp_pipe_fopen(p, NULL), EINVAL);
    static const char *bad[] = {"", "a", "r+", "w+", "rw", "x", "rbx", "wr"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null_with(tp_pipe_fopen(p, bad[i]), EINVAL);
    FILE *f = tp_pipe_fopen(p, "rb");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    tp_pipe_free(p);
}

static void fprintf_then_fclose_writes_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    FILE *f = tp_pipe_fopen(p, "w");
    assert_non_null(f);
    assert_true(fprintf(f, "hello %d\n", 42) > 0);
    assert_true(fputs("second line\n", f) >= 0);
    assert_false(tp_pipe_eof(p));
    assert_int_equal(fclose(f), 0);
    assert_true(tp_pipe_eof(p));
    assert_false(tp_pipe_closed(p));
    void *out = NULL;
    size_t len = 0;
    assert_int_equal(tp_pipe_readall(p, &out, &len), 0);
    assert_int_equal(len, 21);
    assert_memory_equal(out, "hello 42\nsecond line\n", 21);
    tp_free(out);
    tp_pipe_free(p);
}

static void fflush_makes_bytes_readable(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    FILE *f = tp_pipe_fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputc('x', f), 'x');
    assert_int_equal(fflush(f), 0);
    assert_int_equal(tp_pipe_buffered(p), 1);
    assert_int_equal(fclose(f), 0);
    tp_pipe_free(p);
}

static void fgets_reads_lines_then_eof(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "one\ntwo\nlast", 12), 12);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    FILE *f = tp_pipe_fopen(p, "r");
    assert_non_null(f);
    char line[16];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "one\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "two\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "last");
    assert_null(fgets(line, sizeof line, f));
    assert_true(feof(f));
    assert_false(ferror(f));
    assert_false(tp_pipe_closed(p));
    assert_int_equal(fclose(f), 0);
    assert_true(tp_pipe_closed(p)); /* the reader closes */
    tp_pipe_free(p);
}

static void getline_and_fscanf_work(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "17 apples\nrest of it\n", 21), 21);
    assert_int_equal(tp_pipe_write_eof(p), 0);
    FILE *f = tp_pipe_fopen(p, "r");
    int n = 0;
    char word[16];
    assert_int_equal(fscanf(f, "%d %15s\n", &n, word), 2);
    assert_int_equal(n, 17);
    assert_string_equal(word, "apples");
    char *line = NULL;
    size_t cap = 0;
    assert_int_equal(getline(&line, &cap, f), 11);
    assert_string_equal(line, "rest of it\n");
    assert_int_equal(getline(&line, &cap, f), -1);
    free(line);
    assert_int_equal(fclose(f), 0);
    tp_pipe_free(p);
}

/* A big fwrite through a small pipe: the stream must loop over the pipe's
 * partial writes and lose nothing. */
struct big_write {
    tp_pipe *p;
    size_t n;
    int close_rc;
};

static void *fwrite_all(void *arg)
{
    struct big_write *w = arg;
    unsigned char *buf = malloc(w->n);
    tt_fill_pattern(buf, w->n, 0);
    FILE *f = tp_pipe_fopen(w->p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, w->n / 2, f), w->n / 2);
    for (size_t i = w->n / 2; i < w->n; i++) /* and byte by byte */
        assert_int_equal(fputc(buf[i], f), buf[i]);
    w->close_rc = fclose(f);
    free(buf);
    return NULL;
}

static void fwrite_fread_large_stream(void **state)
{
    (void)state;
    struct big_write w = {tp_pipe_new(1000, true, true, TP_FOREVER, "stdio-bulk"), 300000, -5};
    tt_thread th;
    tt_thread_start(&th, fwrite_all, &w);
    FILE *f = tp_pipe_fopen(w.p, "r");
    assert_non_null(f);
    unsigned char *got = malloc(w.n + 16);
    size_t total = 0;
    for (;;) {
        size_t r = fread(got + total, 1, 7777, f); /* odd sizes on purpose */
        total += r;
        if (r < 7777)
            break;
        assert_true(total <= w.n);
    }
    assert_true(feof(f));
    tt_thread_join(&th);
    assert_int_equal(w.close_rc, 0);
    assert_int_equal(total, w.n);
    at_assert_pattern(got, total, 0);
    free(got);
    assert_int_equal(fclose(f), 0);
    tp_pipe_free(w.p);
}

static void fclose_reader_fails_blocked_writer(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(4, true, true, TP_FOREVER, NULL);
    assert_int_equal(tp_pipe_write(p, "full", 4), 4);
    FILE *f = tp_pipe_fopen(p, "r");
    tt_op op = {.src = "more", .n = 4};
    tt_op_start_blocked(&op, TT_WRITE, p);
    assert_int_equal(fclose(f), 0);
    tt_op_join(&op);
    assert_int_equal(op.ret, -1);
    assert_int_equal(op.err, EPIPE);
    tt_op_cleanup(&op);
    tp_pipe_free(p);
}

static void write_stream_reports_epipe(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
    FILE *f = tp_pipe_fopen(p, "w");
    tp_pipe_close(p);
    assert_true(fputs("lost", f) >= 0); /* buffered by stdio */
    errno = 0;
    assert_int_equal(fflush(f), EOF);
    assert_int_equal(errno, EPIPE);
    assert_true(ferror(f));
    fclose(f);
    tp_pipe_free(p);
}

static void read_stream_reports_eagain(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, false, true, TP_FOREVER, NULL);
    FILE *f = tp_pipe_fopen(p, "r");
    errno = 0;
    assert_int_equal(fgetc(f), EOF);
    assert_int_equal(errno, EAGAIN);
    assert_true(ferror(f));
    assert_false(feof(f));
    /* After clearerr the stream can be read again once data is there. */
    clearerr(f);
    assert_int_equal(tp_pipe_write(p, "z", 1), 1);
    assert_int_equal(fgetc(f), 'z');
    assert_int_equal(fclose(f), 0);
    tp_pipe_free(p);
}

static void read_stream_reports_etimedout(void **state)
{
    (void)state;
    tp_pipe *p = tp_pipe_new(0, true, true, 0.02, NULL);
    FILE *f = tp_pipe_fopen(p, "r");
    char line[8];
    errno = 0;
    assert_null(fgets(line, sizeof line, f));
    assert_int_equal(errno, ETIMEDOUT);
    assert_true(ferror(f));
    assert_int_equal(fclose(f), 0);
    tp_pipe_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fopen_rejects_bad_arguments),
        cmocka_unit_test(fprintf_then_fclose_writes_eof),
        cmocka_unit_test(fflush_makes_bytes_readable),
        cmocka_unit_test(fgets_reads_lines_then_eof),
        cmocka_unit_test(getline_and_fscanf_work),
        cmocka_unit_test(fwrite_fread_large_stream),
        cmocka_unit_test(fclose_reader_fails_blocked_writer),
        cmocka_unit_test(write_stream_reports_epipe),
        cmocka_unit_test(read_stream_reports_eagain),
        cmocka_unit_test(read_stream_reports_etimedout),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
