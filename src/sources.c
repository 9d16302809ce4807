/* sources.c - ready-made tp_read_fn sources for tp_wrapper: a tp_pipe, a
 * file descriptor and a memory block. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

tp_wrapper *tp__wrapper_new_owning(tp_read_fn read, void *ctx, size_t buffsize, void *owned);

ssize_t tp_read_pipe(void *pipe, void *buf, size_t n)
{
    return tp_pipe_read(pipe, buf, n);
}

ssize_t tp_read_fd(void *fd, void *buf, size_t n)
{
    ssize_t r;
    do {
        r = read((int)(intptr_t)fd, buf, n);
    } while (r < 0 && errno == EINTR);
    return r;
}

typedef struct mem_source {
    const char *data;
    size_t len, pos;
} mem_source;

static ssize_t read_mem(void *ctx, void *buf, size_t n)
{
    mem_source *m = ctx;
    size_t k = TP__MIN(n, m->len - m->pos);
    if (k == 0)
        return 0; /* an empty source may have no memory at all (data NULL) */
    if (k > SSIZE_MAX)
        k = SSIZE_MAX;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (ssize_t)k;
}

tp_wrapper *tp_wrapper_new_pipe(tp_pipe *p, size_t buffsize)
{
    if (p == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return tp_wrapper_new(tp_read_pipe, p, buffsize);
}

tp_wrapper *tp_wrapper_new_fd(int fd, size_t buffsize)
{
    if (fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    return tp_wrapper_new(tp_read_fd, (void *)(intptr_t)fd, buffsize);
}

tp_wrapper *tp_wrapper_new_mem(const void *data, size_t len, size_t buffsize)
{
    if (data == NULL && len > 0) {
        errno = EINVAL;
        return NULL;
    }
    mem_source *m = tp__malloc(sizeof *m);
    if (m == NULL)
        return NULL;
    *m = (mem_source){data, len, 0};
    return tp__wrapper_new_owning(read_mem, m, buffsize, m);
}
