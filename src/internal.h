/* internal.h - private declarations shared by tpipe's source files: the
 * allocator seam, logging, deadlines, segments and the pipe structure. */
#ifndef TP_INTERNAL_H
#define TP_INTERNAL_H

#include "tpipe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <time.h>

#define TP__MIN(a, b) ((a) < (b) ? (a) : (b))

/* Sets errno and returns -1: the failure return of most calls. */
static inline int tp__fail(int err)
{
    errno = err;
    return -1;
}

/* ---- alloc.c: every allocation goes through the installed allocator ---- */
void *tp__malloc(size_t n);
void *tp__realloc(void *ptr, size_t n);
void tp__free(void *ptr);
char *tp__strdup(const char *s);

/* ---- log.c ---- */
void tp__log(int level, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- deadline.c: one absolute CLOCK_MONOTONIC deadline per wait ---- */
enum tp__deadline_kind { TP__DL_FOREVER, TP__DL_NOW, TP__DL_AT };
typedef struct tp__deadline {
    enum tp__deadline_kind kind;
    struct timespec at; /* valid for TP__DL_AT */
} tp__deadline;

/* Sets d to "timeout seconds from now". Returns 0 or EINVAL (NaN). */
int tp__deadline_set(tp__deadline *d, double timeout);
/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
int tp__cond_init(pthread_cond_t *c);
/* One wait on c (may wake spuriously). Returns 0, or ETIMEDOUT once the
 * deadline has passed (at once for TP__DL_NOW). */
int tp__cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const tp__deadline *d);

/* ---- segment.c: the pieces a pipe's byte stream is made of ----
 *
 * A segment is either a copy segment (tpipe owns an inline buffer of
 * pool->seg_cap bytes that writers append to) or a ref segment (the
 * caller's buffer from tp_pipe_write_ref, released through its callback).
 * Segments are reference counted: the pipe's chain holds one reference and
 * every outstanding view or in-flight read copy holds one more, so the
 * bytes stay valid while a reader copies them outside the pipe lock and
 * after the pipe itself is gone. A tp_view * is simply a segment pointer. */
typedef struct tp__seg {
    struct tp__seg *next;  /* chain link; pipe lock (free lists: pool lock) */
    char *data;            /* inline buffer (copy) or the caller's bytes (ref) */
    size_t start, end;     /* unread bytes are data[start, end); pipe lock */
    size_t cap;            /* copy: size of data; ref: the write's length */
    atomic_uint refs;      /* chain + views + in-flight copies */
    bool is_ref;           /* set at creation, then read-only */
    tp_release_fn release; /* ref segments: run once refs reaches 0 */
    void *ctx;
    struct tp__pool *pool; /* where the segment returns to */
} tp__seg;

/* Recycles segments for one pipe so steady-state writes do not allocate.
 * Outlives the pipe while any segment is still out (held by a view). */
typedef struct tp__pool {
    pthread_mutex_t lock;
    size_t seg_cap;             /* data bytes of a copy segment */
    size_t max_free_copy;       /* copy segments kept for reuse */
    tp__seg *free_copy;         /* lock */
    tp__seg *free_ref;          /* lock */
    size_t n_free_copy, n_free_ref; /* lock */
    size_t live;                /* segments handed out; lock */
    bool orphaned;              /* the pipe was freed; lock */
} tp__pool;

tp__pool *tp__pool_new(size_t seg_cap, size_t max_free_copy);
/* Marks the pool as no longer owned by a pipe; it frees itself once the
 * last outstanding segment comes back. */
void tp__pool_orphan(tp__pool *pool);
/* A copy segment with no bytes and refs 1, or NULL/ENOMEM. */
tp__seg *tp__seg_new_copy(tp__pool *pool);
/* A ref segment over buf[0, n) with refs 1, or NULL/ENOMEM. */
tp__seg *tp__seg_new_ref(tp__pool *pool, const void *buf, size_t n, tp_release_fn release,
                         void *ctx);
/* Takes one more reference. */
void tp__seg_ref(tp__seg *s);
/* Drops a reference; the last one runs the release callback (ref segment)
 * and returns the segment to its pool. Never call with a pipe lock held. */
void tp__seg_unref(tp__seg *s);
/* Drops one reference of each segment in a list linked through next. */
void tp__seg_unref_list(tp__seg *list);

/* ---- the pipe (pipe.c, pipe_write.c, pipe_read.c, readmatch.c) ---- */

/* Where readmatch stopped: positions before `scanned` hold no match start
 * for the cached delimiter, so a line trickling in is scanned once. */
#define TP__MATCH_CACHE_MAX 64
typedef struct tp__match_cache {
    size_t scanned;    /* bytes from the head known to start no match */
    tp__seg *seg;      /* the segment holding byte `scanned`, or NULL */
    size_t idx;        /* index into seg->data of that byte */
    size_t dlen;       /* cached delimiter length; 0: nothing cached */
    unsigned char delim[TP__MATCH_CACHE_MAX];
} tp__match_cache;

/* Everything below `lock` is guarded by it, except what says otherwise. */
struct tp_pipe {
    pthread_mutex_t lock;
    pthread_cond_t readable; /* readers, readmatch, read_wait: data, EOF, close */
    pthread_cond_t writable; /* writers, write_wait: room, EOF, close */
    pthread_cond_t drained;  /* flush, flush_wait: reader progress, close */
    tp__seg *head, *tail;    /* the unread bytes, oldest first */
    size_t buffered;         /* unread bytes in the chain */
    size_t reserved;         /* bytes being copied in by writers, not yet linked */
    size_t bsize;            /* read-only after creation */
    uint64_t published;      /* bytes ever made readable: readmatch's progress clock */
    uint64_t consumed;       /* bytes ever read or discarded: flush's progress clock */
    unsigned rwaiters, wwaiters, fwaiters; /* threads asleep on each condition */
    bool rblocking, wblocking;
    bool eof, closed;
    double timeout;          /* read-only after creation */
    tp_event *rflag;
    tp__pool *pool;          /* created at the first write */
    tp__match_cache match;
    char *name;              /* read-only after creation */
};

/* Bytes a write may add now: bsize - buffered - reserved, at least 0. */
size_t tp__pipe_room(const tp_pipe *p);
/* Sets the rflag if there is one. */
void tp__pipe_signal_reader(tp_pipe *p);
/* Sleeps on cond, counted in *waiters so wakers know someone waits.
 * Returns 0 or ETIMEDOUT. */
int tp__pipe_sleep(tp_pipe *p, pthread_cond_t *cond, unsigned *waiters, const tp__deadline *d);
/* Waits until something is readable. Returns 1 (data), 0 (EOF, drained) or
 * -1 with errno EPIPE, EAGAIN or ETIMEDOUT. Called and returns locked. */
int tp__pipe_wait_readable(tp_pipe *p, bool blocking, const tp__deadline *d);
/* Copies n <= buffered bytes from the head into dst and consumes them;
 * drained segments are pushed onto *garbage to unref after unlocking. */
void tp__pipe_take(tp_pipe *p, void *dst, size_t n, tp__seg **garbage);
/* Consumes n <= buffered bytes from the head, waking writers and flushers. */
void tp__pipe_consume(tp_pipe *p, size_t n, tp__seg **garbage);
/* Creates the segment pool on first use. 0 or ENOMEM. */
int tp__pipe_ensure_pool(tp_pipe *p);
/* tp_pipe_read with its deadline given; force_block makes a non-blocking
 * read end wait anyway (readall). */
ssize_t tp__pipe_read(tp_pipe *p, void *buf, size_t n, bool force_block, const tp__deadline *d);

#endif /* TP_INTERNAL_H */
