/* iov.c - copying between flat buffers and iovec arrays, so every read and
 * write path is written once for both the plain and the vectored calls.
 * The cursor moves past an iovec lazily, when more bytes are wanted, so an
 * empty iovec (even one with a NULL base) is skipped, never copied from. */
#include "internal.h"

#include <string.h>

int tp__iov_validate(const struct iovec *iov, int cnt, size_t *total)
{
    if (cnt < 0 || (iov == NULL && cnt > 0))
        return EINVAL;
    size_t sum = 0;
    for (int i = 0; i < cnt; i++) {
        if (__builtin_add_overflow(sum, iov[i].iov_len, &sum) || sum > SSIZE_MAX)
            return EINVAL;
    }
    *total = sum;
    return 0;
}

void tp__iov_copy_some(tp__iovcur *c, void *flat, size_t n, bool into_iov)
{
    char *f = flat;
    while (n > 0) {
        if (c->off == c->iov->iov_len) {
            c->iov++;
            c->cnt--;
            c->off = 0;
            continue;
        }
        size_t k = TP__MIN(n, c->iov->iov_len - c->off);
        char *at = (char *)c->iov->iov_base + c->off;
        if (into_iov)
            memcpy(at, f, k);
        else
            memcpy(f, at, k);
        f += k;
        n -= k;
        c->off += k;
    }
}
