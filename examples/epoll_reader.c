/* epoll_reader.c - a line server's event loop driven by tpipe readiness fds:
 * lines in from a producer thread, replies out to a consumer thread, once
 * with plain readiness and once with line-aware readiness, counting wake-ups. */

#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "tpipe.h"

#define NLINES 2000
#define FRAGMENTS 4 /* the producer writes each line in this many pieces */
#define LINE_MAX_LEN 128

/* Stops the program with a message: an example has no error recovery. */
static void die(const char *what)
{
    fprintf(stderr, "epoll_reader: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int format_line(char *buf, size_t cap, int i)
{
    return snprintf(buf, cap, "line %06d the quick brown fox jumps over the lazy dog\n", i);
}

/* The producer: writes every line in FRAGMENTS pieces with a short pause
 * between them, as a network peer trickling data would, then EOF. */
static void *producer(void *arg)
{
    tp_pipe *in = arg;
    char line[LINE_MAX_LEN];
    const struct timespec pause = {0, 20 * 1000};
    for (int i = 0; i < NLINES; i++) {
        int len = format_line(line, sizeof line, i);
        int step = (len + FRAGMENTS - 1) / FRAGMENTS;
        for (int off = 0; off < len; off += step) {
            int n = off + step > len ? len - off : step;
            for (int done = 0; done < n;) {
                ssize_t w = tp_pipe_write(in, line + off + done, (size_t)(n - done));
                if (w < 0)
                    die("producer write");
                done += (int)w;
            }
            nanosleep(&pause, NULL);
        }
    }
    tp_pipe_write_eof(in);
    return NULL;
}

/* The consumer: checks that every reply is the matching line in capitals. */
static void *consumer(void *arg)
{
    tp_pipe *out = arg;
    char want[LINE_MAX_LEN];
    long good = 0;
    for (int i = 0;; i++) {
        void *line = NULL;
        ssize_t n = tp_pipe_readmatch(out, "\n", 1, &line);
        if (n <= 0)
            break;
        int len = format_line(want, sizeof want, i);
        for (int k = 0; k < len; k++)
            want[k] = (char)(want[k] >= 'a' && want[k] <= 'z' ? want[k] - 'a' + 'A' : want[k]);
        if (n == len && memcmp(line, want, (size_t)len) == 0)
            good++;
        tp_free(line);
    }
    return (void *)(intptr_t)good;
}

/* The event loop's state for one run. */
struct loop {
    tp_pipe *in, *out;
    int ep, in_fd, out_fd;
    bool line_aware;
    bool in_watched, out_watched, in_eof;
    char pending[LINE_MAX_LEN * 64]; /* replies the out pipe has not taken yet */
    size_t pending_len;
    char partial[LINE_MAX_LEN]; /* plain mode: bytes of an unfinished line */
    size_t partial_len;
    long lines, in_wakeups, empty_wakeups, out_wakeups;
};

static void watch(struct loop *l, int fd, bool on, bool *state)
{
    struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = fd}};
    if (on != *state && epoll_ctl(l->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) != 0)
        die("epoll_ctl");
    *state = on;
}

/* Sends what is pending without blocking; returns true once all is out. */
static bool flush_pending(struct loop *l)
{
    size_t done = 0;
    while (done < l->pending_len) {
        ssize_t w = tp_pipe_write(l->out, l->pending + done, l->pending_len - done);
        if (w < 0) {
            if (errno != EAGAIN)
                die("reply write");
            break;
        }
        done += (size_t)w;
    }
    memmove(l->pending, l->pending + done, l->pending_len - done);
    l->pending_len -= done;
    return l->pending_len == 0;
}

/* The "work": a reply is the line in capitals. */
static void handle_line(struct loop *l, const char *line, size_t n)
{
    if (l->pending_len + n > sizeof l->pending) {
        errno = ENOBUFS;
        die("reply backlog");
    }
    for (size_t k = 0; k < n; k++) {
        char c = line[k];
        l->pending[l->pending_len++] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    l->lines++;
}

/* Line-aware readiness: the fd only fires when a whole line (or EOF) is
 * there, so the loop takes complete lines straight out of the pipe. */
static long drain_lines(struct loop *l)
{
    char line[LINE_MAX_LEN];
    long got = 0;
    for (;;) {
        ssize_t n = tp_pipe_readmatch_into(l->in, "\n", 1, line, sizeof line, 0);
        if (n > 0) {
            handle_line(l, line, (size_t)n);
            got++;
            continue;
        }
        if (n == 0) {
            l->in_eof = true;
            got++; /* EOF is news too */
        } else if (errno != EAGAIN && errno != ETIMEDOUT) {
            die("readmatch_into");
        }
        return got;
    }
}

/* Plain readiness: the fd fires whenever any byte is buffered, so the loop
 * must take the bytes out and assemble lines itself. */
static long drain_bytes(struct loop *l)
{
    char buf[4096];
    long got = 0;
    for (;;) {
        ssize_t n = tp_pipe_read(l->in, buf, sizeof buf);
        if (n == 0) {
            l->in_eof = true;
            return got + 1;
        }
        if (n < 0) {
            if (errno != EAGAIN)
                die("read");
            return got;
        }
        for (ssize_t k = 0; k < n; k++) {
            if (l->partial_len == sizeof l->partial) {
                errno = EMSGSIZE;
                die("line too long");
            }
            l->partial[l->partial_len++] = buf[k];
            if (buf[k] == '\n') {
                handle_line(l, l->partial, l->partial_len);
                l->partial_len = 0;
                got++;
            }
        }
    }
}

static void run(bool line_aware, long *wakeups, long *empty, long *lines, long *good)
{
    struct loop *l = calloc(1, sizeof *l);
    if (l == NULL)
        die("calloc");
    l->line_aware = line_aware;
    /* The loop's ends are non-blocking; the threads' ends block. */
    l->in = tp_pipe_new(4096, false, true, TP_FOREVER, "requests");
    l->out = tp_pipe_new(1024, true, false, TP_FOREVER, "replies");
    if (l->in == NULL || l->out == NULL)
        die("tp_pipe_new");
    if (line_aware && tp_pipe_set_read_fd_match(l->in, "\n", 1) != 0)
        die("tp_pipe_set_read_fd_match");
    l->in_fd = tp_pipe_read_fd(l->in);
    l->out_fd = tp_pipe_write_fd(l->out);
    l->ep = epoll_create1(0);
    if (l->in_fd < 0 || l->out_fd < 0 || l->ep < 0)
        die("readiness fds");

    pthread_t prod, cons;
    if (pthread_create(&prod, NULL, producer, l->in) != 0 ||
        pthread_create(&cons, NULL, consumer, l->out) != 0)
        die("pthread_create");

    watch(l, l->in_fd, true, &l->in_watched);
    while (!(l->in_eof && l->pending_len == 0)) {
        struct epoll_event evs[2];
        int n = epoll_wait(l->ep, evs, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == l->in_fd) {
                l->in_wakeups++;
                long got = line_aware ? drain_lines(l) : drain_bytes(l);
                if (got == 0)
                    l->empty_wakeups++;
            } else {
                l->out_wakeups++;
            }
        }
        /* Backpressure: while replies are stuck, stop reading requests and
         * wait for the reply pipe's write fd instead. */
        bool clear = flush_pending(l);
        watch(l, l->in_fd, clear && !l->in_eof, &l->in_watched);
        watch(l, l->out_fd, !clear, &l->out_watched);
    }
    tp_pipe_write_eof(l->out);

    void *ret;
    pthread_join(prod, NULL);
    pthread_join(cons, &ret);
    *wakeups = l->in_wakeups;
    *empty = l->empty_wakeups;
    *lines = l->lines;
    *good = (long)(intptr_t)ret;
    printf("%-21s %ld lines, %ld read wake-ups (%ld without a line), %ld reply-room wake-ups\n",
           line_aware ? "line-aware readiness:" : "plain readiness:", l->lines, l->in_wakeups,
           l->empty_wakeups, l->out_wakeups);
    watch(l, l->in_fd, false, &l->in_watched);
    watch(l, l->out_fd, false, &l->out_watched);
    close(l->ep);
    tp_pipe_free(l->in);
    tp_pipe_free(l->out);
    free(l);
}

int main(void)
{
    long w_plain, e_plain, n_plain, g_plain, w_line, e_line, n_line, g_line;
    run(false, &w_plain, &e_plain, &n_plain, &g_plain);
    run(true, &w_line, &e_line, &n_line, &g_line);
    printf("wake-ups saved by line-aware readiness: %ld of %ld (%.0f%%)\n", w_plain - w_line,
           w_plain, w_plain > 0 ? 100.0 * (double)(w_plain - w_line) / (double)w_plain : 0.0);
    bool ok = g_plain == NLINES && g_line == NLINES && n_plain == NLINES && n_line == NLINES;
    printf("replies checked: %ld/%d and %ld/%d %s\n", g_plain, NLINES, g_line, NLINES,
           ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
