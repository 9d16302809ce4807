/* pipe_model.c - the sequential reference model of a pipe and of a memory
 * wrapper: plain arrays and the rules of SPEC.md, nothing clever, so that a
 * disagreement with the library points at the library. */
#include "pipe_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void model_init(pipe_model *m, size_t bsize, bool rblocking, bool wblocking)
{
    memset(m, 0, sizeof *m);
    m->bsize = bsize ? bsize : 8192;
    m->rblocking = rblocking;
    m->wblocking = wblocking;
    m->rflag = FLAG_CLEAR;
}

void model_destroy(pipe_model *m)
{
    free(m->buf);
    m->buf = NULL;
    m->len = m->cap = 0;
}

size_t model_room(const pipe_model *m)
{
    return m->len < m->bsize ? m->bsize - m->len : 0;
}

static void append(pipe_model *m, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        while (cap < m->len + n)
            cap *= 2;
        unsigned char *nb = realloc(m->buf, cap);
        if (nb == NULL)
            abort(); /* the model itself has no OOM story */
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
    m->wpos += n;
}

void model_consume(pipe_model *m, size_t n)
{
    if (n == 0)
        return;
    memmove(m->buf, m->buf + n, m->len - n);
    m->len -= n;
    m->rpos += n;
}

/* The checks every write shares; returns 1 when the write may go ahead. */
static int write_gate(pipe_model *m, size_t n, int *err, ssize_t *ret)
{
    *err = 0;
    if (m->closed || m->eof) {
        *err = EPIPE;
        *ret = -1;
        return 0;
    }
    if (n == 0) {
        *ret = 0;
        return 0;
    }
    if (model_room(m) == 0) {
        *err = m->wblocking ? ETIMEDOUT : EAGAIN;
        *ret = -1;
        return 0;
    }
    return 1;
}

ssize_t model_write(pipe_model *m, const void *data, size_t n, int *err)
{
    ssize_t ret;
    if (!write_gate(m, n, err, &ret))
        return ret;
    size_t room = model_room(m);
    size_t take = n < room ? n : room;
    append(m, data, take);
    return (ssize_t)take;
}

ssize_t model_write_ref(pipe_model *m, const void *data, size_t n, int *err)
{
    ssize_t ret;
    if (!write_gate(m, n, err, &ret))
        return ret;
    append(m, data, n);
    return (ssize_t)n;
}

/* A call the spec does not say sets the flag: a clear flag becomes unknown. */
static void flag_maybe(pipe_model *m)
{
    if (m->rflag == FLAG_CLEAR)
        m->rflag = FLAG_UNKNOWN;
}

static void flag_set(pipe_model *m)
{
    m->rflag = FLAG_SET;
}

int model_read_begin(pipe_model *m, size_t n, int *err, size_t *avail)
{
    *err = 0;
    *avail = 0;
    if (m->closed) {
        *err = EPIPE;
        return -1;
    }
    if (n == 0) {
        flag_maybe(m);
        return 0;
    }
    flag_set(m);
    if (m->len > 0) {
        *avail = m->len < n ? m->len : n;
        return 1;
    }
    if (m->eof)
        return 0;
    *err = m->rblocking ? ETIMEDOUT : EAGAIN;
    return -1;
}

ssize_t model_readmatch(pipe_model *m, const unsigned char *match, size_t mlen, int *err)
{
    static const unsigned char crlf[2] = {'\r', '\n'};
    *err = 0;
    if (m->closed) {
        *err = EPIPE;
        return -1;
    }
    if (match == NULL) {
        match = crlf;
        mlen = 2;
    }
    if (mlen == 0) {
        *err = EINVAL;
        return -1;
    }
    for (size_t i = 0; i + mlen <= m->len; i++) {
        if (memcmp(m->buf + i, match, mlen) == 0) {
            flag_set(m);
            return (ssize_t)(i + mlen);
        }
    }
    if (m->eof) {
        flag_maybe(m);
        return 0;
    }
    if (model_room(m) == 0) {
        *err = ENOBUFS;
        return -1;
    }
    flag_set(m);
    *err = m->rblocking ? ETIMEDOUT : EAGAIN;
    return -1;
}

int model_readall(pipe_model *m, int *err, size_t *got)
{
    *err = 0;
    *got = 0;
    if (m->closed) {
        *err = EPIPE;
        return -1;
    }
    flag_set(m);
    *got = m->len;
    model_consume(m, m->len);
    if (m->eof)
        return 0;
    *err = ETIMEDOUT;
    return -1;
}

void model_write_eof(pipe_model *m)
{
    m->eof = true;
}

size_t model_close(pipe_model *m)
{
    size_t n = m->len;
    model_consume(m, n);
    m->eof = m->closed = true;
    if (m->has_rflag)
        flag_set(m);
    return n;
}

ssize_t model_canwrite(pipe_model *m, int *err)
{
    *err = 0;
    if (m->closed || m->eof) {
        *err = EPIPE;
        return -1;
    }
    size_t room = model_room(m);
    if (room == 0)
        m->rflag = FLAG_CLEAR;
    return (ssize_t)room;
}

int model_canread(const pipe_model *m, int *err)
{
    *err = 0;
    if (m->closed) {
        *err = EPIPE;
        return -1;
    }
    return m->len > 0 || m->eof;
}

int model_write_wait(const pipe_model *m, int *err)
{
    *err = 0;
    if (m->closed || m->eof)
        *err = EPIPE;
    else if (model_room(m) == 0)
        *err = ETIMEDOUT;
    return *err ? -1 : 0;
}

int model_read_wait(const pipe_model *m, int *err)
{
    *err = 0;
    if (m->closed)
        *err = EPIPE;
    else if (m->len == 0 && !m->eof)
        *err = ETIMEDOUT;
    return *err ? -1 : 0;
}

int model_flush_wait(const pipe_model *m, int *err)
{
    *err = 0;
    if (m->closed)
        *err = EPIPE;
    else if (m->len > 0)
        *err = ETIMEDOUT;
    return *err ? -1 : 0;
}

int model_flush(const pipe_model *m, int *err)
{
    *err = 0;
    if (m->closed)
        *err = EPIPE;
    else if (m->len > 0)
        *err = m->wblocking ? ETIMEDOUT : EAGAIN;
    return *err ? -1 : 0;
}

void wmodel_init(wrapper_model *w, size_t len, size_t buffsize)
{
    w->len = len;
    w->buffsize = buffsize ? buffsize : 8192;
    /* Reading exactly buffsize bytes without seeing EOF is an overflow. */
    w->seekable = len < w->buffsize;
    w->pos = 0;
}

size_t wmodel_read_avail(const wrapper_model *w, size_t n)
{
    if (w->pos >= w->len)
        return 0;
    size_t left = (size_t)(w->len - w->pos);
    return left < n ? left : n;
}

size_t wmodel_peek(const wrapper_model *w, size_t n)
{
    size_t end = w->seekable ? w->len : w->buffsize;
    if (w->pos >= end)
        return 0;
    size_t left = (size_t)(end - w->pos);
    return left < n ? left : n;
}

off_t wmodel_seek(wrapper_model *w, off_t off, int whence, int *err)
{
    *err = 0;
    if (!w->seekable) {
        *err = ESPIPE;
        return -1;
    }
    long long base;
    if (whence == SEEK_SET)
        base = 0;
    else if (whence == SEEK_CUR)
        base = (long long)w->pos;
    else if (whence == SEEK_END)
        base = (long long)w->len;
    else {
        *err = EINVAL;
        return -1;
    }
    long long np = base + (long long)off;
    if (np < 0) {
        *err = EINVAL;
        return -1;
    }
    w->pos = (uint64_t)np;
    return (off_t)np;
}

off_t wmodel_tell(const wrapper_model *w, int *err)
{
    *err = 0;
    if (!w->seekable) {
        *err = ESPIPE;
        return -1;
    }
    return (off_t)w->pos;
}
