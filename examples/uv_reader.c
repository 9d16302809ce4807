/* uv_reader.c - a libuv loop reading lines from a tpipe: uv_poll_t watches
 * the pipe's line-aware read fd, so the callback runs once per line batch. */

#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "tpipe.h"

#define NLINES 1000
#define FRAGMENTS 3

static void die(const char *what, int err)
{
    fprintf(stderr, "uv_reader: %s: %s\n", what, strerror(err));
    exit(1);
}

static int format_line(char *buf, size_t cap, int i)
{
    return snprintf(buf, cap, "record %05d: some payload for the loop\n", i);
}

/* Writes every line in pieces, pausing between them, then EOF. */
static void *producer(void *arg)
{
    tp_pipe *p = arg;
    char line[96];
    const struct timespec pause = {0, 20 * 1000};
    for (int i = 0; i < NLINES; i++) {
        int len = format_line(line, sizeof line, i);
        int step = (len + FRAGMENTS - 1) / FRAGMENTS;
        for (int off = 0; off < len;) {
            ssize_t w = tp_pipe_write(p, line + off, (size_t)(off + step > len ? len - off : step));
            if (w < 0)
                die("write", errno);
            off += (int)w;
            nanosleep(&pause, NULL);
        }
    }
    tp_pipe_write_eof(p);
    return NULL;
}

struct reader {
    uv_poll_t poll;
    tp_pipe *p;
    int next; /* number of the line expected next */
    long wakeups, bad;
};

/* Runs when the read fd is readable: a line (or EOF) is waiting. */
static void on_readable(uv_poll_t *h, int status, int events)
{
    struct reader *r = h->data;
    (void)events;
    if (status < 0)
        die("uv_poll", -status);
    r->wakeups++;
    char line[96], want[96];
    for (;;) {
        ssize_t n = tp_pipe_readmatch_into(r->p, "\n", 1, line, sizeof line, 0);
        if (n > 0) {
            int len = format_line(want, sizeof want, r->next++);
            if (n != len || memcmp(line, want, (size_t)len) != 0)
                r->bad++;
            continue;
        }
        if (n == 0) { /* EOF: stop watching so uv_run returns */
            uv_poll_stop(h);
            uv_close((uv_handle_t *)h, NULL);
        } else if (errno != EAGAIN) {
            die("readmatch_into", errno);
        }
        return;
    }
}

int main(void)
{
    struct reader r = {.next = 0, .wakeups = 0, .bad = 0};
    r.p = tp_pipe_new(4096, false, true, TP_FOREVER, "uv-lines");
    if (r.p == NULL || tp_pipe_set_read_fd_match(r.p, "\n", 1) != 0)
        die("pipe", errno);
    int fd = tp_pipe_read_fd(r.p);
    if (fd < 0)
        die("tp_pipe_read_fd", errno);

    uv_loop_t *loop = uv_default_loop();
    int rc = uv_poll_init(loop, &r.poll, fd);
    r.poll.data = &r;
    if (rc == 0)
        rc = uv_poll_start(&r.poll, UV_READABLE, on_readable);
    if (rc != 0)
        die("uv_poll", -rc);

    pthread_t th;
    if (pthread_create(&th, NULL, producer, r.p) != 0)
        die("pthread_create", errno);
    uv_run(loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    uv_loop_close(loop);
    tp_pipe_free(r.p);

    bool ok = r.next == NLINES && r.bad == 0;
    printf("uv_reader: %d lines in %ld wake-ups (%d pieces written), %s\n", r.next, r.wakeups,
           NLINES * FRAGMENTS, ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
