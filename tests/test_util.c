/* test_util.c - shared helpers for the core tests (see test_util.h). */
#define _GNU_SOURCE /* syscall(SYS_gettid) to find a thread in /proc */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void tt_check_failure(const char *expr, long long ret, int got, int want, const char *file,
                      int line)
{
    if (ret == -1 && got == want)
        return;
    char gotname[64], wantname[64];
    snprintf(gotname, sizeof gotname, "%s", strerror(got));
    snprintf(wantname, sizeof wantname, "%s", strerror(want));
    fail_msg("%s:%d: %s: want -1 with errno %d (%s), got %lld with errno %d (%s)", file, line, expr,
             want, wantname, ret, got, gotname);
}

double tt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tt_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void tt_release_init(tt_release *r)
{
    atomic_init(&r->calls, 0);
}

void tt_release_cb(void *ctx)
{
    atomic_fetch_add(&((tt_release *)ctx)->calls, 1);
}

int tt_release_calls(tt_release *r)
{
    return atomic_load(&r->calls);
}

static void log_sink(int level, const char *name, const char *msg, void *ctx)
{
    tt_log *log = ctx;
    pthread_mutex_lock(&log->mu);
    log->count++;
    log->level = level;
    log->had_name = name != NULL;
    snprintf(log->name, sizeof log->name, "%s", name ? name : "");
    snprintf(log->msg, sizeof log->msg, "%s", msg ? msg : "");
    pthread_mutex_unlock(&log->mu);
}

void tt_log_capture(tt_log *log)
{
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->mu, NULL);
    tp_set_log_fn(log_sink, log);
}

void tt_log_restore(tt_log *log)
{
    tp_set_log_fn(NULL, NULL);
    pthread_mutex_destroy(&log->mu);
}

int tt_log_count(tt_log *log)
{
    pthread_mutex_lock(&log->mu);
    int n = log->count;
    pthread_mutex_unlock(&log->mu);
    return n;
}

static void *trampoline(void *arg)
{
    tt_thread *t = arg;
    atomic_store(&t->tid, (int)syscall(SYS_gettid));
    t->ret = t->fn(t->arg);
    atomic_store(&t->done, true);
    return NULL;
}

void tt_thread_start(tt_thread *t, void *(*fn)(void *), void *arg)
{
    t->fn = fn;
    t->arg = arg;
    t->ret = NULL;
    atomic_init(&t->tid, 0);
    atomic_init(&t->done, false);
    if (pthread_create(&t->th, NULL, trampoline, t) != 0)
        fail_msg("%s", "pthread_create failed");
}

/* The state letter of a thread of this process ('S' sleeping, 'R' running),
 * or 0 if it cannot be read. */
static char thread_state(int tid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name is in parentheses and may hold spaces. */
    char *close = strrchr(line, ')');
    return close && close[1] == ' ' ? close[2] : 0;
}

void tt_thread_wait_blocked(tt_thread *t)
{
    /* Polls a condition (the thread's kernel state) with a bound so a
     * broken /proc cannot hang the test; the bound is not a timing
     * assertion: the test's checks hold whether or not it was reached. */
    double give_up = tt_now() + 10.0;
    int seen_sleeping = 0;
    while (!atomic_load(&t->done) && tt_now() < give_up) {
        int tid = atomic_load(&t->tid);
        if (tid != 0) {
            char st = thread_state(tid);
            if (st == 0)
                break;
            /* Two sightings in a row: not a passing page fault or a lock
             * taken briefly on the way into the call. */
            seen_sleeping = (st == 'S') ? seen_sleeping + 1 : 0;
            if (seen_sleeping >= 2)
                return;
        }
        tt_sleep(0.002);
    }
}

void *tt_thread_join(tt_thread *t)
{
    pthread_join(t->th, NULL);
    return t->ret;
}

static void *op_main(void *arg)
{
    tt_op *op = arg;
    const void *data = NULL;
    tp_view *view = NULL;
    double t0 = tt_now();
    errno = 0;
    switch (op->kind) {
    case TT_READ:
        op->ret = tp_pipe_read(op->p, op->buf, op->n < sizeof op->buf ? op->n : sizeof op->buf);
        break;
    case TT_READ_VIEW:
        op->ret = tp_pipe_read_view(op->p, op->n, &data, &view);
        if (op->ret > 0) {
            size_t k = (size_t)op->ret < sizeof op->buf ? (size_t)op->ret : sizeof op->buf;
            memcpy(op->buf, data, k);
        }
        op->err = errno;
        tp_view_release(view);
        errno = op->err;
        break;
    case TT_READ_VIEWS: {
        struct iovec iov[4];
        tp_view *views[4];
        int n = tp_pipe_read_views(op->p, op->n, iov, views, 4);
        op->err = errno;
        op->ret = n;
        if (n > 0) {
            op->ret = 0;
            for (int i = 0; i < n; i++) {
                size_t room = sizeof op->buf - (size_t)op->ret;
                memcpy(op->buf + op->ret, iov[i].iov_base,
                       iov[i].iov_len < room ? iov[i].iov_len : room);
                op->ret += (long long)iov[i].iov_len;
                tp_view_release(views[i]);
            }
        }
        errno = op->err;
        break;
    }
    case TT_READALL:
        op->ret = tp_pipe_readall(op->p, &op->out, &op->outlen);
        break;
    case TT_READMATCH:
        op->ret = tp_pipe_readmatch(op->p, op->src, op->n, &op->out);
        if (op->ret > 0)
            op->outlen = (size_t)op->ret;
        break;
    case TT_WRITE:
        op->ret = tp_pipe_write(op->p, op->src, op->n);
        break;
    case TT_WRITE_REF:
        op->ret = tp_pipe_write_ref(op->p, op->src, op->n, tt_release_cb, &op->rel);
        break;
    case TT_FLUSH:
        op->ret = tp_pipe_flush(op->p);
        break;
    case TT_READ_WAIT:
        op->ret = tp_pipe_read_wait(op->p, op->timeout);
        break;
    case TT_WRITE_WAIT:
        op->ret = tp_pipe_write_wait(op->p, op->timeout);
        break;
    case TT_FLUSH_WAIT:
        op->ret = tp_pipe_flush_wait(op->p, op->timeout);
        break;
    }
    op->err = errno;
    op->elapsed = tt_now() - t0;
    return NULL;
}

void tt_op_start(tt_op *op, enum tt_op_kind kind, tp_pipe *p)
{
    op->kind = kind;
    op->p = p;
    op->ret = -2;
    op->err = 0;
    tt_release_init(&op->rel);
    tt_thread_start(&op->thread, op_main, op);
}

void tt_op_start_blocked(tt_op *op, enum tt_op_kind kind, tp_pipe *p)
{
    tt_op_start(op, kind, p);
    tt_thread_wait_blocked(&op->thread);
}

void tt_op_join(tt_op *op)
{
    tt_thread_join(&op->thread);
}

void tt_op_cleanup(tt_op *op)
{
    tp_free(op->out);
    op->out = NULL;
}

unsigned char tt_pattern(uint64_t offset)
{
    /* Not periodic over short spans, so a dropped or repeated chunk shows. */
    uint64_t x = offset * 0x9E3779B97F4A7C15ull;
    return (unsigned char)((x >> 29) ^ (offset >> 8) ^ offset);
}

void tt_fill_pattern(void *buf, size_t n, uint64_t offset)
{
    unsigned char *b = buf;
    for (size_t i = 0; i < n; i++)
        b[i] = tt_pattern(offset + i);
}

unsigned char *tt_drain(tp_pipe *p, size_t *len)
{
    size_t cap = 4096, used = 0;
    unsigned char *out = malloc(cap);
    for (;;) {
        if (cap - used < 4096) {
            cap *= 2;
            out = realloc(out, cap);
        }
        ssize_t r = tp_pipe_read(p, out + used, cap - used);
        if (r <= 0) {
            if (r < 0)
                fail_msg("tt_drain: read failed with errno %d (%s)", errno, strerror(errno));
            break;
        }
        used += (size_t)r;
    }
    *len = used;
    return out;
}
