/* baselines.c - one-way byte channels with a common interface over tpipe,
 * kernel pipes (default and 1 MiB), socketpair and the naive ring. */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "tpbench.h"

#include "naive_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tb_chan {
    enum tb_transport t;
    int wfd; /* kernel transports: write end (-1 once EOF was sent) */
    int rfd; /* kernel transports: read end */
    tp_pipe *tp;
    naive_ring *ring;
};

static const char *const names[TB_NTRANSPORTS] = {
    [TB_TPIPE] = "tpipe",           [TB_PIPE] = "pipe",   [TB_PIPE_1M] = "pipe-1M",
    [TB_SOCKETPAIR] = "socketpair", [TB_NAIVE] = "naive",
};

const char *tb_transport_name(enum tb_transport t)
{
    return (unsigned)t < TB_NTRANSPORTS ? names[t] : "?";
}

tb_chan *tb_chan_open(enum tb_transport t, size_t bsize)
{
    tb_chan *c = calloc(1, sizeof *c);
    if (!c)
        tb_die("calloc");
    c->t = t;
    c->wfd = c->rfd = -1;
    int fds[2];
    switch (t) {
    case TB_TPIPE:
        c->tp = tp_pipe_new(bsize, true, true, TP_FOREVER, NULL);
        if (!c->tp)
            tb_die("tp_pipe_new");
        break;
    case TB_NAIVE:
        c->ring = naive_ring_new(bsize);
        if (!c->ring)
            tb_die("naive_ring_new");
        break;
    case TB_PIPE:
    case TB_PIPE_1M:
        if (pipe(fds) != 0)
            tb_die("pipe");
        /* 1 MiB is the default /proc/sys/fs/pipe-max-size, so no privilege
         * is needed; failing here would silently bench the default size. */
        if (t == TB_PIPE_1M && fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0)
            tb_die("fcntl(F_SETPIPE_SZ, 1 MiB)");
        c->rfd = fds[0];
        c->wfd = fds[1];
        break;
    case TB_SOCKETPAIR:
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
            tb_die("socketpair");
        c->rfd = fds[0];
        c->wfd = fds[1];
        break;
    default:
        tb_die("unknown transport");
    }
    return c;
}

int tb_chan_write(tb_chan *c, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w;
        switch (c->t) {
        case TB_TPIPE:
            w = tp_pipe_write(c->tp, p, n);
            break;
        case TB_NAIVE:
            w = naive_ring_write(c->ring, p, n);
            break;
        default:
            w = write(c->wfd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            break;
        }
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t tb_chan_read(tb_chan *c, void *buf, size_t n)
{
    switch (c->t) {
    case TB_TPIPE:
        return tp_pipe_read(c->tp, buf, n);
    case TB_NAIVE:
        return naive_ring_read(c->ring, buf, n);
    default:
        for (;;) {
            ssize_t r = read(c->rfd, buf, n);
            if (r >= 0 || errno != EINTR)
                return r;
        }
    }
}

void tb_chan_write_eof(tb_chan *c)
{
    switch (c->t) {
    case TB_TPIPE:
        tp_pipe_write_eof(c->tp);
        break;
    case TB_NAIVE:
        naive_ring_write_eof(c->ring);
        break;
    case TB_SOCKETPAIR:
        /* The fd stays open (closed in tb_chan_close) so that a reader
         * still using rfd never races with fd reuse. */
        shutdown(c->wfd, SHUT_WR);
        break;
    default:
        if (c->wfd >= 0)
            close(c->wfd);
        c->wfd = -1;
        break;
    }
}

void tb_chan_close(tb_chan *c)
{
    if (!c)
        return;
    tp_pipe_free(c->tp);
    naive_ring_free(c->ring);
    if (c->wfd >= 0)
        close(c->wfd);
    if (c->rfd >= 0)
        close(c->rfd);
    free(c);
}

tp_pipe *tb_chan_tpipe(tb_chan *c)
{
    return c->tp;
}

long tb_chan_footprint(const tb_chan *c)
{
    if (c->ring)
        return (long)(sizeof *c + naive_ring_footprint(c->ring));
    return -1;
}
