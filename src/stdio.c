/* stdio.c - tp_pipe_fopen: one end of a pipe as a stdio FILE *, through
 * fopencookie (glibc) or funopen (BSD, macOS), using only the public API. */

/* fopencookie and cookie_io_functions_t are GNU extensions; this file alone
 * needs them, so the feature macro lives here and not on the target. */
#define _GNU_SOURCE

#include "tpipe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) ||     \
    defined(__OpenBSD__) || defined(__DragonFly__)
#define TP_HAVE_COOKIE_STREAMS 1
#endif

#ifdef TP_HAVE_COOKIE_STREAMS

/* Pushes all of buf into the pipe. stdio treats a short count from the
 * cookie as an error and drops the rest of its buffer, so partial pipe
 * writes (the pipe takes at most canwrite bytes per call) are looped over
 * here. Returns the bytes accepted; fewer than n means errno says why. */
static size_t write_all(tp_pipe *p, const char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = tp_pipe_write(p, buf + done, n - done);
        if (r < 0)
            break;
        done += (size_t)r;
    }
    return done;
}

/* A read(2)-like pull of what is buffered: stdio takes -1 as an error (the
 * errno stays for the caller: EAGAIN, ETIMEDOUT, EPIPE) and 0 as EOF. */
static ssize_t read_some(tp_pipe *p, char *buf, size_t n)
{
    return tp_pipe_read(p, buf, n);
}

#if defined(__GLIBC__)

static ssize_t cookie_read(void *cookie, char *buf, size_t n)
{
    return read_some(cookie, buf, n);
}

/* glibc wants the count written, or 0 on error: never a negative value. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t n)
{
    return (ssize_t)write_all(cookie, buf, n);
}

static int cookie_close_reader(void *cookie)
{
    tp_pipe_close(cookie);
    return 0;
}

static int cookie_close_writer(void *cookie)
{
    /* stdio has already flushed its buffer through cookie_write. */
    return tp_pipe_write_eof(cookie);
}

static FILE *open_stream(tp_pipe *p, bool reading)
{
    cookie_io_functions_t io;
    memset(&io, 0, sizeof io);
    if (reading) {
        io.read = cookie_read;
        io.close = cookie_close_reader;
    } else {
        io.write = cookie_write;
        io.close = cookie_close_writer;
    }
    FILE *f = fopencookie(p, reading ? "r" : "w", io);
    if (f == NULL && errno == 0)
        errno = ENOMEM;
    return f;
}

#else /* funopen: BSD and macOS */

static int funopen_read(void *cookie, char *buf, int n)
{
    return (int)read_some(cookie, buf, n < 0 ? 0 : (size_t)n);
}

/* funopen's write follows write(2): a count, or -1 when nothing went in. */
static int funopen_write(void *cookie, const char *buf, int n)
{
    size_t done = write_all(cookie, buf, n < 0 ? 0 : (size_t)n);
    return done == 0 && n > 0 ? -1 : (int)done;
}

static int funopen_close_reader(void *cookie)
{
    tp_pipe_close(cookie);
    return 0;
}

static int funopen_close_writer(void *cookie)
{
    return tp_pipe_write_eof(cookie);
}

static FILE *open_stream(tp_pipe *p, bool reading)
{
    FILE *f;
    if (reading)
        f = funopen(p, funopen_read, NULL, NULL, funopen_close_reader);
    else
        f = funopen(p, NULL, funopen_write, NULL, funopen_close_writer);
    if (f == NULL && errno == 0)
        errno = ENOMEM;
    return f;
}

#endif

/* Accepts "r" and "w", each optionally followed by 'b' (meaningless on
 * POSIX, but common in portable code). Anything else, "+" and "a"
 * included, is EINVAL: a pipe end is one-way and has no position. */
static int parse_mode(const char *mode, bool *reading)
{
    if (mode == NULL || (mode[0] != 'r' && mode[0] != 'w'))
        return -1;
    if (mode[1] != '\0' && !(mode[1] == 'b' && mode[2] == '\0'))
        return -1;
    *reading = mode[0] == 'r';
    return 0;
}

TP_API FILE *tp_pipe_fopen(tp_pipe *p, const char *mode)
{
    bool reading;
    if (p == NULL || parse_mode(mode, &reading) != 0) {
        errno = EINVAL;
        return NULL;
    }
    errno = 0;
    return open_stream(p, reading);
}

#else /* neither fopencookie nor funopen */

TP_API FILE *tp_pipe_fopen(tp_pipe *p, const char *mode)
{
    (void)p;
    (void)mode;
    errno = ENOSYS;
    return NULL;
}

#endif
