/* adapters_util.c - helpers for the adapter tests (see adapters_util.h). */
#define _POSIX_C_SOURCE 200809L
#include "adapters_util.h"

#include <stdlib.h>
#include <unistd.h>

bool at_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    int r = poll(&pfd, 1, 0);
    if (r < 0)
        fail_msg("poll(%d): %s", fd, strerror(errno));
    return r == 1 && (pfd.revents & POLLIN) != 0;
}

static void *poller_main(void *arg)
{
    at_poller *pl = arg;
    struct pollfd pfd = {.fd = pl->fd, .events = POLLIN, .revents = 0};
    /* Long enough never to fire on a working library, short enough that a
     * broken one fails the assertion instead of hanging CTest. */
    do {
        pl->ret = poll(&pfd, 1, 30000);
    } while (pl->ret < 0 && errno == EINTR);
    pl->revents = pfd.revents;
    return NULL;
}

void at_poller_start(at_poller *pl, int fd)
{
    pl->fd = fd;
    pl->ret = -2;
    pl->revents = 0;
    tt_thread_start(&pl->thread, poller_main, pl);
    tt_thread_wait_blocked(&pl->thread);
}

void at_poller_join_readable(at_poller *pl)
{
    tt_thread_join(&pl->thread);
    assert_int_equal(pl->ret, 1);
    assert_true(pl->revents & POLLIN);
}

int at_temp_file(size_t n)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tpipe-adapters-XXXXXX", dir != NULL ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    unsigned char buf[8192];
    for (size_t off = 0; off < n;) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        tt_fill_pattern(buf, k, off);
        ssize_t w = write(fd, buf, k);
        assert_true(w > 0);
        off += (size_t)w;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

unsigned char *at_read_file(int fd, size_t *len)
{
    off_t end = lseek(fd, 0, SEEK_END);
    assert_true(end >= 0);
    unsigned char *buf = malloc((size_t)end + 1);
    assert_non_null(buf);
    size_t got = 0;
    while (got < (size_t)end) {
        ssize_t r = pread(fd, buf + got, (size_t)end - got, (off_t)got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    *len = got;
    return buf;
}

void at_assert_pattern(const unsigned char *buf, size_t n, uint64_t from)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != tt_pattern(from + i))
            fail_msg("byte %zu (stream offset %llu): got 0x%02x, want 0x%02x", i,
                     (unsigned long long)(from + i), buf[i], tt_pattern(from + i));
    }
}
