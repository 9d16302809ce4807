/* bench_pump.c - measures the fd pumps against the alternatives weighed in
 * docs/adapters.md (copying reads, write_ref chunks, vmsplice+splice). Not a
 * test: run by hand, `bench_pump [MiB per run] [runs]`; it also checks whether
 * vmsplice+splice leaves the destination pointing at our memory. */
#define _GNU_SOURCE /* vmsplice, splice */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tpipe.h"

#define CHUNK (64 * 1024)
#define BSIZE (256 * 1024)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_pump: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- pipe -> fd variants ---- */

/* The library's pump: read_views + writev(2). */
static int out_view_write(tp_pipe *p, int fd, size_t *moved)
{
    return tp_pipe_pump_to_fd(p, fd, 0, moved);
}

/* Copy out of the pipe first, then write(2): one extra copy. */
static int out_copy_write(tp_pipe *p, int fd, size_t *moved)
{
    static char buf[CHUNK];
    *moved = 0;
    for (;;) {
        ssize_t r = tp_pipe_read(p, buf, sizeof buf);
        if (r <= 0)
            return (int)r;
        for (ssize_t d = 0; d < r;) {
            ssize_t w = write(fd, buf + d, (size_t)(r - d));
            if (w < 0)
                return -1;
            d += w;
        }
        *moved += (size_t)r;
    }
}

/* vmsplice the view's pages into a private kernel pipe, splice them on to
 * fd, and release the view only once the kernel pipe is empty again. */
static int out_vmsplice(tp_pipe *p, int fd, size_t *moved)
{
    int kp[2];
    if (pipe(kp) != 0)
        return -1;
    fcntl(kp[1], F_SETPIPE_SZ, 1 << 20);
    *moved = 0;
    int rc = 0;
    for (;;) {
        const void *data;
        tp_view *v;
        ssize_t r = tp_pipe_read_view(p, CHUNK, &data, &v);
        if (r <= 0) {
            rc = (int)r;
            break;
        }
        size_t off = 0;
        while (off < (size_t)r) {
            struct iovec iov = {(char *)data + off, (size_t)r - off};
            ssize_t in = vmsplice(kp[1], &iov, 1, 0);
            if (in < 0) {
                rc = -1;
                break;
            }
            for (ssize_t left = in; left > 0;) {
                ssize_t s = splice(kp[0], NULL, fd, NULL, (size_t)left, SPLICE_F_MOVE);
                if (s <= 0) {
                    rc = -1;
                    break;
                }
                left -= s;
            }
            if (rc != 0)
                break;
            off += (size_t)in;
        }
        tp_view_release(v);
        if (rc != 0)
            break;
        *moved += (size_t)r;
    }
    close(kp[0]);
    close(kp[1]);
    return rc;
}

/* ---- fd -> pipe variants ---- */

static int in_pump(tp_pipe *p, int fd, size_t *moved)
{
    return tp_pipe_pump_from_fd(p, fd, 0, moved);
}

/* read(2) into malloc'd chunks handed over with write_ref: no copy into
 * the pipe, a malloc/free per chunk instead. */
static void free_chunk(void *ctx)
{
    free(ctx);
}

static int in_write_ref(tp_pipe *p, int fd, size_t *moved)
{
    *moved = 0;
    for (;;) {
        char *buf = malloc(CHUNK);
        ssize_t r = read(fd, buf, CHUNK);
        if (r <= 0) {
            free(buf);
            return (int)r;
        }
        if (tp_pipe_write_ref(p, buf, (size_t)r, free_chunk, buf) < 0) {
            free(buf);
            return -1;
        }
        *moved += (size_t)r;
    }
}

/* As the pump, but hands each chunk over with write_ref: reads no more
 * than the free room (so nothing is lost on a timeout and the pipe is not
 * overfilled), into a malloc'd chunk the pipe frees when read. */
static int in_write_ref_room(tp_pipe *p, int fd, size_t *moved)
{
    *moved = 0;
    for (;;) {
        ssize_t room = tp_pipe_canwrite(p);
        if (room == 0) {
            if (tp_pipe_write_wait(p, TP_FOREVER) != 0)
                return -1;
            continue;
        }
        if (room < 0)
            return -1;
        size_t want = (size_t)room < CHUNK ? (size_t)room : CHUNK;
        char *buf = malloc(want);
        ssize_t r = read(fd, buf, want);
        if (r <= 0) {
            free(buf);
            return (int)r;
        }
        if (tp_pipe_write_ref(p, buf, (size_t)r, free_chunk, buf) < 0) {
            free(buf);
            return -1;
        }
        *moved += (size_t)r;
    }
}

/* ---- harness ---- */

struct side {
    tp_pipe *p;
    int fd;
    size_t bytes;
    int (*fn)(tp_pipe *, int, size_t *);
    size_t moved;
};

/* Feeds the pipe from memory with write_ref (no copy on this side). */
static void *feed_pipe(void *arg)
{
    struct side *s = arg;
    static char src[CHUNK];
    memset(src, 'x', sizeof src);
    for (size_t off = 0; off < s->bytes; off += CHUNK)
        if (tp_pipe_write_ref(s->p, src, CHUNK, NULL, NULL) < 0)
            die("feed");
    tp_pipe_write_eof(s->p);
    return NULL;
}

/* Drains the pipe with views (no copy on this side). */
static void *drain_pipe(void *arg)
{
    struct side *s = arg;
    for (;;) {
        const void *d;
        tp_view *v;
        ssize_t r = tp_pipe_read_view(s->p, SIZE_MAX, &d, &v);
        if (r <= 0)
            break;
        s->moved += (size_t)r;
        tp_view_release(v);
    }
    return NULL;
}

/* Reads an fd to EOF (the far end of a socket or kernel pipe). */
static void *drain_fd(void *arg)
{
    struct side *s = arg;
    static char buf[256 * 1024];
    for (;;) {
        ssize_t r = read(s->fd, buf, sizeof buf);
        if (r <= 0)
            break;
        s->moved += (size_t)r;
    }
    return NULL;
}

/* Writes s->bytes into an fd, then closes it. */
static void *fill_fd(void *arg)
{
    struct side *s = arg;
    static char buf[CHUNK];
    memset(buf, 'y', sizeof buf);
    for (size_t off = 0; off < s->bytes; off += CHUNK)
        for (size_t d = 0; d < CHUNK;) {
            ssize_t w = write(s->fd, buf + d, CHUNK - d);
            if (w < 0)
                die("fill");
            d += (size_t)w;
        }
    close(s->fd);
    return NULL;
}

enum dest { D_NULL, D_SOCKET, D_KPIPE, D_FILE };
static const char *dest_name[] = {"/dev/null", "unix socket", "kernel pipe", "tmp file"};

static double bench_out(int (*fn)(tp_pipe *, int, size_t *), enum dest d, size_t bytes)
{
    tp_pipe *p = tp_pipe_new(BSIZE, true, true, TP_FOREVER, "bench");
    struct side feed = {.p = p, .bytes = bytes};
    struct side far = {0};
    int fd, other = -1;
    char path[] = "/tmp/tpipe-bench-XXXXXX";
    if (d == D_NULL) {
        fd = open("/dev/null", O_WRONLY);
    } else if (d == D_FILE) {
        fd = mkstemp(path);
        unlink(path);
    } else {
        int pair[2];
        if (d == D_SOCKET ? socketpair(AF_UNIX, SOCK_STREAM, 0, pair) : pipe(pair))
            die("pair");
        fd = d == D_SOCKET ? pair[0] : pair[1];
        other = d == D_SOCKET ? pair[1] : pair[0];
    }
    pthread_t tf, tr;
    far.fd = other;
    double t0 = now();
    pthread_create(&tf, NULL, feed_pipe, &feed);
    if (other >= 0)
        pthread_create(&tr, NULL, drain_fd, &far);
    size_t moved = 0;
    int rc = fn(p, fd, &moved);
    if (d == D_SOCKET)
        shutdown(fd, SHUT_WR);
    else if (d == D_KPIPE)
        close(fd);
    pthread_join(tf, NULL);
    if (other >= 0)
        pthread_join(tr, NULL);
    double secs = now() - t0;
    if (rc != 0 || moved != bytes)
        die("pump out");
    if (d != D_KPIPE)
        close(fd);
    if (other >= 0)
        close(other);
    tp_pipe_free(p);
    return (double)moved / secs / 1048576.0;
}

enum src { S_KPIPE, S_SOCKET, S_FILE };
static const char *src_name[] = {"kernel pipe", "unix socket", "tmp file"};

static double bench_in(int (*fn)(tp_pipe *, int, size_t *), enum src s, size_t bytes)
{
    tp_pipe *p = tp_pipe_new(BSIZE, true, true, TP_FOREVER, "bench");
    struct side drain = {.p = p};
    struct side near = {0};
    int fd, other = -1;
    if (s == S_FILE) {
        char path[] = "/tmp/tpipe-bench-XXXXXX";
        fd = mkstemp(path);
        unlink(path);
        static char buf[CHUNK];
        for (size_t off = 0; off < bytes; off += CHUNK)
            if (write(fd, buf, CHUNK) != CHUNK)
                die("write file");
        lseek(fd, 0, SEEK_SET);
    } else {
        int pair[2];
        if (s == S_SOCKET ? socketpair(AF_UNIX, SOCK_STREAM, 0, pair) : pipe(pair))
            die("pair");
        fd = pair[0];
        other = pair[1];
    }
    near.fd = other;
    near.bytes = bytes;
    pthread_t td, tw;
    double t0 = now();
    pthread_create(&td, NULL, drain_pipe, &drain);
    if (other >= 0)
        pthread_create(&tw, NULL, fill_fd, &near);
    size_t moved = 0;
    int rc;
    rc = fn(p, fd, &moved);
    tp_pipe_write_eof(p);
    pthread_join(td, NULL);
    if (other >= 0)
        pthread_join(tw, NULL);
    double secs = now() - t0;
    if (rc != 0 || moved != bytes || drain.moved != bytes)
        die("pump in");
    close(fd);
    tp_pipe_free(p);
    return (double)moved / secs / 1048576.0;
}

/* ---- is vmsplice safe? ---- */

/* vmsplices a buffer into a kernel pipe, splices that on to dst, then
 * overwrites the buffer as a released view's memory would be reused, and
 * reads back what dst received: any changed byte means dst still pointed at
 * our pages after splice returned. */
static void splice_safety(const char *name, int dst, int readback)
{
    enum { N = 65536 };
    char *buf = aligned_alloc(4096, N), *got = malloc(N);
    memset(buf, 'A', N);
    int kp[2];
    if (pipe(kp) != 0)
        die("pipe");
    struct iovec iov = {buf, N};
    ssize_t in = vmsplice(kp[1], &iov, 1, 0), moved = 0;
    while (in > 0 && moved < in) {
        ssize_t k = splice(kp[0], NULL, dst, NULL, (size_t)(in - moved), 0);
        if (k <= 0)
            die("splice");
        moved += k;
    }
    memset(buf, 'B', N);
    ssize_t r = 0;
    while (r < moved) {
        ssize_t k = readback >= 0 ? read(readback, got + r, (size_t)(N - r))
                                  : pread(dst, got + r, (size_t)(N - r), r);
        if (k <= 0)
            break;
        r += k;
    }
    size_t changed = 0;
    for (ssize_t i = 0; i < r; i++)
        changed += got[i] == 'B';
    printf("vmsplice+splice -> %-12s %zd bytes, %zu changed after the source was reused: %s\n",
           name, r, changed, changed ? "UNSAFE (pages still referenced)" : "copied (safe)");
    close(kp[0]);
    close(kp[1]);
    free(buf);
    free(got);
}

static void splice_safety_all(void)
{
    int sv[2], kp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pipe(kp) != 0)
        die("pairs");
    splice_safety("unix socket", sv[0], sv[1]);
    fcntl(kp[1], F_SETPIPE_SZ, 1 << 20);
    splice_safety("kernel pipe", kp[1], kp[0]);
    char path[] = "/tmp/tpipe-bench-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    splice_safety("regular file", fd, -1);
    /* TCP over loopback only (127.0.0.1, a port the kernel picks). */
    int ls = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0 ||
        connect(c, (struct sockaddr *)&a, sizeof a) != 0)
        die("tcp loopback");
    int s = accept(ls, NULL, NULL);
    splice_safety("tcp loopback", c, s);
    close(s);
    close(c);
    close(ls);
    close(fd);
    close(sv[0]);
    close(sv[1]);
    close(kp[0]);
    close(kp[1]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define MAX_REPS 15

static void report(const char *what, const char *variant, double *v, int reps)
{
    qsort(v, (size_t)reps, sizeof *v, cmp_double);
    printf("%-24s %-24s median %6.0f MiB/s  (min %6.0f, max %6.0f)\n", what, variant, v[reps / 2],
           v[0], v[reps - 1]);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 128;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1 || reps > MAX_REPS)
        reps = 5;
    size_t bytes = mib << 20;
    printf("bench_pump: %zu MiB per run, %d runs per line (interleaved), pipe bsize %d KiB\n", mib,
           reps, BSIZE / 1024);
    splice_safety_all();
    static const char *out_names[] = {"view+write (library)", "read copy+write", "vmsplice+splice"};
    int (*out_fns[])(tp_pipe *, int, size_t *) = {out_view_write, out_copy_write, out_vmsplice};
    for (int d = D_NULL; d <= D_FILE; d++) {
        double v[3][MAX_REPS];
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 3; k++)
                v[k][r] = bench_out(out_fns[k], d, bytes);
        char what[64];
        snprintf(what, sizeof what, "pipe -> %s", dest_name[d]);
        for (int k = 0; k < 3; k++)
            report(what, out_names[k], v[k], reps);
    }
    static const char *in_names[] = {"read+write (library)", "read+write_ref chunks",
                                     "read<=room+write_ref"};
    int (*in_fns[])(tp_pipe *, int, size_t *) = {in_pump, in_write_ref, in_write_ref_room};
    for (int s = S_KPIPE; s <= S_FILE; s++) {
        double v[3][MAX_REPS];
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 3; k++)
                v[k][r] = bench_in(in_fns[k], s, bytes);
        char what[64];
        snprintf(what, sizeof what, "%s -> pipe", src_name[s]);
        for (int k = 0; k < 3; k++)
            report(what, in_names[k], v[k], reps);
    }
    return 0;
}
