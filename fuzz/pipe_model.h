/* pipe_model.h - a sequential reference model of one tp_pipe (and of a
 * memory-backed tp_wrapper), written from SPEC.md, that the fuzz harness
 * compares the library against after every operation. */
#ifndef TP_PIPE_MODEL_H
#define TP_PIPE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the model knows about the rflag: some calls leave it unspecified. */
enum model_flag { FLAG_CLEAR, FLAG_SET, FLAG_UNKNOWN };

/* One write_ref buffer: the stream range it covers and its release state. */
typedef struct model_ref {
    uint64_t start, end; /* stream offsets [start, end) */
    int released;        /* times the callback ran (must end as 1) */
    bool discarded;      /* close or free dropped it */
    bool dead;           /* its pipe was freed */
} model_ref;

/* One outstanding zero-copy view: the stream range it pins. */
typedef struct model_view {
    uint64_t start, end;
    int pipe_gen; /* which incarnation of the pipe it came from */
} model_view;

/* The model of one pipe. Timeout is always 0 in the harness, so a call
 * that would block fails with ETIMEDOUT (blocking end) or EAGAIN. */
typedef struct pipe_model {
    size_t bsize;
    bool rblocking, wblocking;
    bool eof, closed;
    unsigned char *buf; /* unread bytes */
    size_t len, cap;
    uint64_t rpos, wpos; /* stream offsets: bytes consumed / accepted */
    enum model_flag rflag;
    bool has_rflag; /* an event is installed */
    int gen;        /* bumped when the harness frees and recreates */
} pipe_model;

void model_init(pipe_model *m, size_t bsize, bool rblocking, bool wblocking);
void model_destroy(pipe_model *m);

/* Each model_* call returns what the library must return and sets *err to
 * the errno it must set (0 when the call succeeds). */

/* Copy write: min(n, room) when room > 0. */
ssize_t model_write(pipe_model *m, const void *data, size_t n, int *err);
/* write_ref: all of it when room > 0; sets *accepted. */
ssize_t model_write_ref(pipe_model *m, const void *data, size_t n, int *err);
/* The bytes a read may return: *avail = how many are at the head. Returns
 * -1 (with *err) when the read fails, 0 for EOF / n == 0, 1 when 1..n bytes
 * are due (the caller then calls model_consume with the count it got). */
int model_read_begin(pipe_model *m, size_t n, int *err, size_t *avail);
void model_consume(pipe_model *m, size_t n);
/* readmatch: returns the line length, 0, or -1 with *err. */
ssize_t model_readmatch(pipe_model *m, const unsigned char *match, size_t mlen, int *err);
/* readall: consumes everything; returns 0 (EOF) or -1 with *err, and the
 * number of bytes handed over in *got. */
int model_readall(pipe_model *m, int *err, size_t *got);
void model_write_eof(pipe_model *m);
/* close: discards; returns how many bytes were discarded. */
size_t model_close(pipe_model *m);
ssize_t model_canwrite(pipe_model *m, int *err);
int model_canread(const pipe_model *m, int *err);
int model_write_wait(const pipe_model *m, int *err);
int model_read_wait(const pipe_model *m, int *err);
int model_flush_wait(const pipe_model *m, int *err);
int model_flush(const pipe_model *m, int *err);
size_t model_room(const pipe_model *m);

/* The model of a tp_wrapper over a memory block of len bytes. */
typedef struct wrapper_model {
    size_t len, buffsize;
    bool seekable;
    uint64_t pos;
} wrapper_model;

void wmodel_init(wrapper_model *w, size_t len, size_t buffsize);
/* Bytes a read may return at the current position (0 = end). */
size_t wmodel_read_avail(const wrapper_model *w, size_t n);
/* Exact bytes a peek returns. */
size_t wmodel_peek(const wrapper_model *w, size_t n);
off_t wmodel_seek(wrapper_model *w, off_t off, int whence, int *err);
off_t wmodel_tell(const wrapper_model *w, int *err);

#endif /* TP_PIPE_MODEL_H */
