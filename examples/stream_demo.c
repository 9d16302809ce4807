/* stream_demo.c - streams a few hundred MB from a producer thread to a
 * consumer thread through a tp_pipe, then through a kernel pipe(2), and
 * prints both throughputs and their ratio. */
#define _GNU_SOURCE
#include <tpipe.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

static size_t total_bytes = 256u << 20;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The producer's bytes: a pattern the consumer can check cheaply. */
static void fill_pattern(unsigned char *buf, size_t n, size_t offset)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)((offset + i) * 131u >> 3);
}

typedef struct transport {
    const char *name;
    ssize_t (*write)(void *ctx, const void *buf, size_t n);
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    void (*finish)(void *ctx); /* the writer is done */
    void *wctx, *rctx;
} transport;

static void *producer(void *arg)
{
    const transport *t = arg;
    unsigned char *buf = malloc(CHUNK);
    fill_pattern(buf, CHUNK, 0);
    for (size_t sent = 0; sent < total_bytes;) {
        /* A write may be partial: continue from where the stream is. */
        size_t at = sent % CHUNK;
        size_t n = CHUNK - at;
        if (n > total_bytes - sent)
            n = total_bytes - sent;
        ssize_t w = t->write(t->wctx, buf + at, n);
        if (w < 0) {
            perror("write");
            break;
        }
        sent += (size_t)w;
    }
    t->finish(t->wctx);
    free(buf);
    return NULL;
}

/* Runs one transfer; returns GB/s, or -1 if the bytes came out wrong. */
static double run(const transport *t)
{
    unsigned char *buf = malloc(CHUNK), *expect = malloc(CHUNK);
    fill_pattern(expect, CHUNK, 0);
    pthread_t th;
    double t0 = now();
    pthread_create(&th, NULL, producer, (void *)t);
    size_t got = 0, pos = 0;
    bool ok = true;
    for (;;) {
        ssize_t r = t->read(t->rctx, buf, CHUNK);
        if (r <= 0)
            break;
        /* The stream repeats the CHUNK-byte pattern: compare piecewise. */
        for (size_t i = 0; i < (size_t)r;) {
            size_t at = (pos + i) % CHUNK;
            size_t k = CHUNK - at < (size_t)r - i ? CHUNK - at : (size_t)r - i;
            if (memcmp(buf + i, expect + at, k) != 0)
                ok = false;
            i += k;
        }
        pos = (pos + (size_t)r) % CHUNK;
        got += (size_t)r;
    }
    double secs = now() - t0;
    pthread_join(th, NULL);
    free(buf);
    free(expect);
    if (!ok || got != total_bytes)
        return -1;
    return (double)got / secs / 1e9;
}

static ssize_t tp_w(void *p, const void *b, size_t n)
{
    return tp_pipe_write(p, b, n);
}
static ssize_t tp_r(void *p, void *b, size_t n)
{
    return tp_pipe_read(p, b, n);
}
static void tp_fin(void *p)
{
    tp_pipe_write_eof(p);
}
static ssize_t fd_w(void *fd, const void *b, size_t n)
{
    ssize_t w;
    while ((w = write((int)(intptr_t)fd, b, n)) < 0 && errno == EINTR)
        ;
    return w;
}
static ssize_t fd_r(void *fd, void *b, size_t n)
{
    ssize_t r;
    while ((r = read((int)(intptr_t)fd, b, n)) < 0 && errno == EINTR)
        ;
    return r;
}
static void fd_fin(void *fd)
{
    close((int)(intptr_t)fd);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        total_bytes = (size_t)strtoull(argv[1], NULL, 10) << 20;
    printf("Streaming %zu MiB from a producer thread to a consumer thread, %d KiB writes\n",
           total_bytes >> 20, CHUNK / 1024);

    tp_pipe *p = tp_pipe_new(1 << 20, true, true, 10.0, "demo");
    transport tpt = {"tpipe (bsize 1 MiB)", tp_w, tp_r, tp_fin, p, p};
    double tp_rate = run(&tpt);
    tp_pipe_close(p);
    tp_pipe_free(p);

    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    transport kt = {"kernel pipe(2)",        fd_w, fd_r, fd_fin, (void *)(intptr_t)fds[1],
                    (void *)(intptr_t)fds[0]};
    double k_rate = run(&kt);
    close(fds[0]);

    if (tp_rate < 0 || k_rate < 0) {
        fprintf(stderr, "data check failed\n");
        return 1;
    }
    printf("%-22s %8.2f GB/s\n", tpt.name, tp_rate);
    printf("%-22s %8.2f GB/s\n", kt.name, k_rate);
    printf("tpipe / kernel pipe:   %8.2fx\n", tp_rate / k_rate);
    return 0;
}
