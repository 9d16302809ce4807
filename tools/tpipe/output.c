/* output.c - one output thread: drains its own tp_pipe (zero-copy views,
 * or whole lines with readmatch in line mode) into its file descriptor,
 * honouring the -P start mark and the -r rate limit. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Token bucket for -r: tokens are bytes that may be written now. */
struct bucket {
    double rate;  /* bytes per second; 0 = unlimited */
    double burst; /* most tokens that may pile up */
    double tokens;
    uint64_t last_ns;
};

/* Sleeps until n more bytes fit the rate. False if the run aborted. */
static bool throttle(struct tpc_run *run, struct bucket *bk, size_t n)
{
    if (bk->rate <= 0)
        return true;
    uint64_t now = tpc_now_ns();
    bk->tokens += (double)(now - bk->last_ns) * 1e-9 * bk->rate;
    if (bk->tokens > bk->burst)
        bk->tokens = bk->burst;
    bk->last_ns = now;
    bk->tokens -= (double)n;
    if (bk->tokens >= 0)
        return true;
    double secs = -bk->tokens / bk->rate;
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    struct timespec left;
    /* SIGUSR1 (sent on abort) interrupts the sleep; the debt stays in the
     * bucket, so an interrupted sleep just shortens this one pause. */
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &left) == EINTR) {
        if (atomic_load(&run->abort))
            return false;
        ts = left;
    }
    return true;
}

/* Writes all of buf, retrying short writes and EINTR. Bytes of a mapped
 * input file go into a pipe output with splice(2) from the file itself:
 * the pipe then references the page cache and nothing is copied. Returns
 * 0, or -1 with errno (ECANCELED when the run aborted). */
static int write_all(struct tpc_output *out, const unsigned char *buf, size_t n)
{
    struct tpc_run *run = out->run;
    int src_fd = -1;
    off_t src_off = 0;
    bool splice_ok = run->opt->zero_copy && out->is_fifo &&
                     tpc_pool_find_file(&run->pool, buf, &src_fd, &src_off);
    while (n > 0) {
        ssize_t w;
        if (splice_ok) {
            w = splice(src_fd, &src_off, out->fd, NULL, n, SPLICE_F_MORE);
            if (w < 0 && (errno == EINVAL || errno == ENOSYS)) {
                splice_ok = false; /* not for this file system: write */
                continue;
            }
            if (w == 0) {
                /* The file shrank under us: what we mapped past its end
                 * cannot be read either. Report it, never make bytes up. */
                errno = EIO;
                return -1;
            }
            if (w > 0)
                atomic_store(&run->zero_copy_used, true);
        } else {
            w = write(out->fd, buf, n);
        }
        if (w < 0) {
            if (errno == EINTR) {
                if (atomic_load(&run->abort)) {
                    errno = ECANCELED;
                    return -1;
                }
                continue;
            }
            return -1;
        }
        buf += w;
        n -= (size_t)w;
        atomic_fetch_add(&out->bytes, (uint64_t)w);
    }
    return 0;
}

/* This output cannot go on: record why, drop what its pipe holds (so the
 * input stops feeding it) and tell the main thread. */
static void fail_output(struct tpc_output *out, int err)
{
    struct tpc_run *run = out->run;
    if (err == ECANCELED)
        return; /* aborted, not failed */
    out->error = err;
    atomic_store(&out->failed, true);
    tp_pipe_close(out->pipe);
    fprintf(stderr, "tpipe: %s: %s\n", strcmp(out->name, "-") == 0 ? "standard output" : out->name,
            strerror(err));
    if (run->opt->stop_on_error) {
        atomic_store(&run->stop, true);
        atomic_store(&run->abort, true);
    }
    tpc_notify(run);
    tpc_wake_main(run);
}

/* -P: waits until the pipe holds the start mark, or input ended. */
static void wait_start_mark(struct tpc_output *out)
{
    struct tpc_run *run = out->run;
    uint64_t t0 = tpc_now_ns();
    while (!atomic_load(&run->abort)) {
        uint64_t seen = tpc_gen(run);
        if (tp_pipe_buffered(out->pipe) >= run->high_bytes || tp_pipe_eof(out->pipe))
            break;
        tpc_wait_gen(run, seen, 0.2);
    }
    atomic_fetch_add(&out->wait_ns, tpc_now_ns() - t0);
}

static bool ran_empty(struct tpc_output *out)
{
    return out->run->high_bytes > 0 && tp_pipe_empty(out->pipe) && !tp_pipe_eof(out->pipe);
}

/* Byte mode: each view is written as it comes. */
static void drain_bytes(struct tpc_output *out, struct bucket *bk)
{
    struct tpc_run *run = out->run;
    size_t max = SIZE_MAX;
    if (bk->rate > 0)
        max = (size_t)bk->burst;
    bool need_fill = run->high_bytes > 0;
    while (!atomic_load(&run->abort)) {
        if (need_fill)
            wait_start_mark(out);
        const void *data;
        tp_view *view;
        uint64_t t0 = tpc_now_ns();
        ssize_t n = tp_pipe_read_view(out->pipe, max, &data, &view);
        atomic_fetch_add(&out->wait_ns, tpc_now_ns() - t0);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno != EPIPE) /* EPIPE: closed by an abort */
                fail_output(out, errno);
            break;
        }
        int rc = throttle(run, bk, (size_t)n) ? write_all(out, data, (size_t)n) : -1;
        int err = errno;
        tp_view_release(view);
        tpc_notify(run);
        if (rc < 0) {
            fail_output(out, rc < 0 && !atomic_load(&run->abort) ? err : ECANCELED);
            break;
        }
        need_fill = ran_empty(out);
    }
}

/* Line mode: whole lines come from tp_pipe_readmatch (the read end is
 * non-blocking) and are gathered into a batch, which is written when it is
 * full or when no complete line is waiting, so a write never ends inside a
 * line. A line longer than the buffer cannot be held whole: it is written
 * in pieces (said once on stderr). */
static void drain_lines(struct tpc_output *out, struct bucket *bk)
{
    struct tpc_run *run = out->run;
    size_t cap = run->opt->block_size;
    unsigned char *batch = malloc(cap);
    size_t len = 0;
    bool warned = false;
    bool need_fill = run->high_bytes > 0;
    if (batch == NULL) {
        fail_output(out, ENOMEM);
        return;
    }
#define FLUSH()                                                                                    \
    do {                                                                                           \
        if (len > 0) {                                                                             \
            if (!throttle(run, bk, len) || write_all(out, batch, len) < 0) {                       \
                fail_output(out, atomic_load(&run->abort) ? ECANCELED : errno);                    \
                goto done;                                                                         \
            }                                                                                      \
            len = 0;                                                                               \
        }                                                                                          \
    } while (0)

    while (!atomic_load(&run->abort)) {
        if (need_fill) {
            FLUSH();
            wait_start_mark(out);
        }
        uint64_t seen = tpc_gen(run);
        void *line;
        ssize_t n = tp_pipe_readmatch(out->pipe, "\n", 1, &line);
        if (n > 0) {
            atomic_store(&out->idle, false);
            atomic_fetch_add(&out->lines, 1);
            tpc_notify(run);
            if (len + (size_t)n > cap && len > 0) {
                bool ok = throttle(run, bk, len) && write_all(out, batch, len) == 0;
                if (!ok) {
                    int err = atomic_load(&run->abort) ? ECANCELED : errno;
                    tp_free(line);
                    fail_output(out, err);
                    goto done;
                }
                len = 0;
            }
            if ((size_t)n > cap) {
                int rc = throttle(run, bk, (size_t)n) ? write_all(out, line, (size_t)n) : -1;
                int err = atomic_load(&run->abort) ? ECANCELED : errno;
                tp_free(line);
                if (rc < 0) {
                    fail_output(out, err);
                    goto done;
                }
            } else {
                memcpy(batch + len, line, (size_t)n);
                len += (size_t)n;
                tp_free(line);
            }
            need_fill = ran_empty(out);
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            /* No complete line yet: write what we have, then sleep until
             * the input hands over more (or ends). Say we are idle first
             * (and look once more): an input waiting for -p must not wait
             * for us to drain a partial line we cannot drain. */
            FLUSH();
            if (!atomic_load(&out->idle)) {
                atomic_store(&out->idle, true);
                tpc_notify(run);
                continue;
            }
            uint64_t t0 = tpc_now_ns();
            tpc_wait_gen(run, seen, 0.2);
            atomic_fetch_add(&out->wait_ns, tpc_now_ns() - t0);
            continue;
        }
        if (n < 0 && errno == ENOBUFS) {
            if (!warned) {
                fprintf(stderr, "tpipe: %s: a line longer than the buffer (-m) was split\n",
                        out->name);
                warned = true;
            }
            FLUSH();
            n = 0; /* fall through to draining what is buffered */
        } else if (n < 0) {
            if (errno != EPIPE)
                fail_output(out, errno);
            goto done;
        }
        /* readmatch returned 0 (EOF and no newline left) or ENOBUFS: write
         * out what is buffered as it is. At EOF that is the last, partial
         * line; wc -l does not count it, neither do we. */
        bool at_eof = tp_pipe_eof(out->pipe);
        FLUSH();
        for (;;) {
            const void *data;
            tp_view *view;
            n = tp_pipe_read_view(out->pipe, SIZE_MAX, &data, &view);
            if (n <= 0)
                break;
            int rc = throttle(run, bk, (size_t)n) ? write_all(out, data, (size_t)n) : -1;
            int err = atomic_load(&run->abort) ? ECANCELED : errno;
            tp_view_release(view);
            tpc_notify(run);
            if (rc < 0) {
                fail_output(out, err);
                goto done;
            }
        }
        if (at_eof && tp_pipe_empty(out->pipe))
            break;
    }
    FLUSH();
done:
    free(batch);
#undef FLUSH
}

void *tpc_output_main(void *arg)
{
    struct tpc_output *out = arg;
    struct tpc_run *run = out->run;
    tpc_worker_signals();
    struct bucket bk = {0};
    if (run->opt->rate > 0) {
        bk.rate = (double)run->opt->rate;
        /* A twentieth of a second of data per write keeps the rate smooth
         * while the writes stay large enough to be cheap. */
        bk.burst = bk.rate / 20.0;
        if (bk.burst < 1.0)
            bk.burst = 1.0;
        if (bk.burst > (double)run->opt->block_size)
            bk.burst = (double)run->opt->block_size;
        bk.last_ns = tpc_now_ns();
    }
    if (run->opt->lines)
        drain_lines(out, &bk);
    else
        drain_bytes(out, &bk);
    if (out->fd != STDOUT_FILENO && close(out->fd) < 0 && !atomic_load(&out->failed))
        fail_output(out, errno);
    out->fd = -1;
    atomic_store(&out->done, true);
    tpc_notify(run);
    atomic_fetch_add(&run->finished, 1);
    tpc_wake_main(run);
    return NULL;
}
