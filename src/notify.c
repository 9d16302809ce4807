/* notify.c - readiness descriptors for event loops: an eventfd (Linux) or a
 * self-pipe that polls readable exactly while its owner says "ready". */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

int tp__notify_open(tp__notify *n)
{
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return errno;
    n->rfd = n->wfd = fd;
#else
    int fds[2];
    if (pipe(fds) != 0)
        return errno;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    n->rfd = fds[0];
    n->wfd = fds[1];
#endif
    n->ready = false;
    return 0;
}

void tp__notify_set(tp__notify *n, bool ready)
{
    if (n->rfd < 0 || n->ready == ready)
        return;
    int saved = errno;
    if (ready) {
#ifdef __linux__
        uint64_t one = 1;
        ssize_t r = write(n->wfd, &one, sizeof one);
#else
        char one = 1;
        ssize_t r = write(n->wfd, &one, 1);
#endif
        (void)r; /* cannot fail: the counter / pipe holds at most one token */
    } else {
        uint64_t drain;
        while (read(n->rfd, &drain, sizeof drain) > 0)
            ;
    }
    n->ready = ready;
    errno = saved;
}

void tp__notify_close(tp__notify *n)
{
    if (n->rfd >= 0)
        close(n->rfd);
    if (n->wfd >= 0 && n->wfd != n->rfd)
        close(n->wfd);
    n->rfd = n->wfd = -1;
    n->ready = false;
}
