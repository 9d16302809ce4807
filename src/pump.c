/* pump.c - tp_pipe_pump_from_fd / tp_pipe_pump_to_fd: move bytes between a
 * file descriptor and a pipe with read(2)/writev(2), using only the public API. */

#include "tpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

/* Largest read(2) the inbound pump makes. Big enough that the system call
 * cost is small next to the copy; the pipe's free room usually caps it. */
#define PUMP_CHUNK (128 * 1024)

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* EBADF unless fd is open for reading (want_write false) or writing. Checked
 * up front so that a bad fd fails before any byte leaves the pipe. */
static int check_fd(int fd, bool want_write)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    int acc = fl & O_ACCMODE;
    if (acc != O_RDWR && acc != (want_write ? O_WRONLY : O_RDONLY)) {
        errno = EBADF;
        return -1;
    }
    return 0;
}

/* Waits until the pipe has room, honouring the write end's mode: a
 * non-blocking end fails with EAGAIN instead of waiting. Returns the room
 * (> 0) or -1 with errno (EAGAIN, ETIMEDOUT, EPIPE). */
static ssize_t wait_for_room(tp_pipe *p)
{
    for (;;) {
        ssize_t room = tp_pipe_canwrite(p);
        if (room != 0)
            return room;
        if (!tp_pipe_writeblocking(p)) {
            errno = EAGAIN;
            return -1;
        }
        if (tp_pipe_write_wait(p, tp_pipe_timeout(p)) != 0)
            return -1;
    }
}

/* Puts all n bytes into the pipe. The caller read no more than the free
 * room, so with a single writer the first call takes everything; another
 * writer may have taken room meanwhile, and then we wait for more (also on
 * a non-blocking end: the bytes are already out of fd and would be lost).
 * Returns 0, or -1 with errno (EPIPE, ETIMEDOUT...); *put counts what went in. */
static int write_all(tp_pipe *p, const char *buf, size_t n, size_t *put)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = tp_pipe_write(p, buf + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EAGAIN && tp_pipe_write_wait(p, tp_pipe_timeout(p)) == 0)
            continue;
        *put = done;
        return -1;
    }
    *put = done;
    return 0;
}

TP_API int tp_pipe_pump_from_fd(tp_pipe *p, int fd, size_t max, size_t *moved)
{
    size_t total = 0;
    int rc = 0, err = 0;
    char *buf = NULL;

    if (p == NULL) {
        err = EINVAL;
        rc = -1;
        goto out;
    }
    if (check_fd(fd, false) != 0) {
        err = errno;
        rc = -1;
        goto out;
    }
    size_t cap = min_size(PUMP_CHUNK, max > 0 ? max : SIZE_MAX);
    buf = malloc(cap);
    if (buf == NULL) {
        err = ENOMEM;
        rc = -1;
        goto out;
    }
    while (max == 0 || total < max) {
        /* Read only what the pipe can take now: if the pipe then times out
         * or is closed, no byte has been taken out of fd and lost. */
        ssize_t room = wait_for_room(p);
        if (room < 0) {
            err = errno;
            rc = -1;
            break;
        }
        size_t want = min_size(cap, (size_t)room);
        if (max > 0)
            want = min_size(want, max - total);
        ssize_t r = read(fd, buf, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            rc = -1;
            break;
        }
        if (r == 0)
            break;
        size_t put = 0;
        int w = write_all(p, buf, (size_t)r, &put);
        total += put;
        if (w != 0) {
            err = errno;
            rc = -1;
            break;
        }
    }
out:
    free(buf);
    if (moved != NULL)
        *moved = total;
    if (rc != 0)
        errno = err;
    return rc;
}

/* Views the outbound pump takes per call: one writev(2) sends them all. */
#define PUMP_VIEWS 16

/* Drops the first k bytes of the n buffers at *iov: whole ones leave the
 * array, and the first that remains starts later. */
static void skip_bytes(struct iovec **iov, int *n, size_t k)
{
    while (*n > 0 && k >= (*iov)->iov_len) {
        k -= (*iov)->iov_len;
        (*iov)++;
        (*n)--;
    }
    if (*n > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + k;
        (*iov)->iov_len -= k;
    }
}

/* Writes the n buffers whole to fd, in order: retries EINTR and short
 * writes, and waits with poll(2) when a non-blocking fd is full (the bytes
 * have already left the pipe, so giving up on EAGAIN would lose them).
 * Changes iov. Returns 0 or -1 with errno; *out counts the bytes
 * written. */
static int writev_fd_all(int fd, struct iovec *iov, int n, size_t *out)
{
    size_t done = 0;
    int rc = 0;
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w > 0) {
            done += (size_t)w;
            skip_bytes(&iov, &n, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT, .revents = 0};
            if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
                continue;
        }
        if (w == 0)
            errno = EIO; /* writev(2) of bytes must not return 0 */
        rc = -1;
        break;
    }
    *out = done;
    return rc;
}

TP_API int tp_pipe_pump_to_fd(tp_pipe *p, int fd, size_t max, size_t *moved)
{
    size_t total = 0;
    int rc = 0, err = 0;

    if (p == NULL) {
        err = EINVAL;
        rc = -1;
    } else if (check_fd(fd, true) != 0) {
        err = errno;
        rc = -1;
    }
    /* Zero-copy out of the pipe: writev(2) straight from the buffered
     * bytes (for write_ref data, from the writers' own buffers), a piece
     * per segment, then release them all. */
    while (rc == 0 && (max == 0 || total < max)) {
        struct iovec iov[PUMP_VIEWS];
        tp_view *views[PUMP_VIEWS];
        int n = tp_pipe_read_views(p, max > 0 ? max - total : SIZE_MAX, iov, views, PUMP_VIEWS);
        if (n == 0)
            break;
        if (n < 0) {
            err = errno;
            rc = -1;
            break;
        }
        size_t out = 0;
        if (writev_fd_all(fd, iov, n, &out) != 0) {
            err = errno;
            rc = -1;
        }
        total += out;
        tp_views_release(views, n);
    }
    if (moved != NULL)
        *moved = total;
    if (rc != 0)
        errno = err;
    return rc;
}
