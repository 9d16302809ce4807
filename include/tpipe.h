/* tpipe.h - the whole public API of tpipe: a thread-safe buffered pipe for
 * moving bytes between threads, a buffered stream wrapper and errno helpers.
 *
 * Conventions shared by every function below:
 *  - Errors follow read(2)/write(2): a failing call returns -1 (or NULL) and
 *    sets errno. A call that moved some bytes returns the count instead.
 *  - Timeouts are double seconds. TP_FOREVER (any negative value) waits
 *    forever; 0 fails with ETIMEDOUT at once instead of waiting; NaN is EINVAL.
 *  - Every function may be called from any thread unless it says otherwise.
 *    Blocking calls spin briefly, then sleep without using CPU.
 *  - Buffers handed to the caller (readall, readmatch) are allocated with the
 *    current allocator: release them with tp_free() (plain free() unless
 *    tp_set_allocator() installed another allocator).
 */
#ifndef TPIPE_H
#define TPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TP_API __attribute__((visibility("default")))
#else
#define TP_API
#endif

/* Library version: major.minor.patch. */
#define TPIPE_VERSION_MAJOR 0
#define TPIPE_VERSION_MINOR 1
#define TPIPE_VERSION_PATCH 0

/* Wait forever (any negative timeout does). */
#define TP_FOREVER (-1.0)

/* Default buffer size of a pipe and of a wrapper (bsize/buffsize 0). */
#define TP_DEFAULT_BSIZE 8192

/* Opaque handles: a pipe, a wrapper, an event, a zero-copy view. */
typedef struct tp_pipe tp_pipe;
typedef struct tp_wrapper tp_wrapper;
typedef struct tp_event tp_event;
typedef struct tp_view tp_view;

/* Called exactly once when the pipe no longer needs a buffer given to
 * tp_pipe_write_ref(). Runs on whichever thread finished with the buffer
 * (a reader, tp_view_release, tp_pipe_close or tp_pipe_free), never while a
 * pipe lock is held, so it may call back into tpipe. */
typedef void (*tp_release_fn)(void *ctx);

/* A byte source for tp_wrapper, following read(2): returns >0 bytes read,
 * 0 at end of file, or -1 with errno set (EAGAIN meaning "blocked"). */
typedef ssize_t (*tp_read_fn)(void *ctx, void *buf, size_t n);

/* ---------------------------------------------------------------------
 * errno helpers
 * ------------------------------------------------------------------- */

/* True if err says a non-blocking operation would block: EAGAIN,
 * EWOULDBLOCK (which may differ) and, where defined, WSAEWOULDBLOCK.
 * Pure function; any thread. */
TP_API bool tp_io_blocked(int err);

/* True if err says an operation timed out: ETIMEDOUT and, where defined,
 * WSAETIMEDOUT. Pure function; any thread. */
TP_API bool tp_io_timedout(int err);

/* ---------------------------------------------------------------------
 * Allocation and logging hooks (process-wide)
 * ------------------------------------------------------------------- */

/* A replaceable allocator. malloc_fn and realloc_fn return NULL on failure;
 * realloc_fn(NULL, n) must behave as malloc_fn(n); free_fn(NULL) must be a
 * no-op. ctx is passed to each call. */
typedef struct tp_allocator {
    void *(*malloc_fn)(size_t size, void *ctx);             /* like malloc */
    void *(*realloc_fn)(void *ptr, size_t size, void *ctx); /* like realloc */
    void (*free_fn)(void *ptr, void *ctx);                  /* like free */
    void *ctx;                                              /* passed to each */
} tp_allocator;

/* Installs the allocator every later tpipe allocation uses; NULL restores
 * malloc/realloc/free. Returns 0, or -1/EINVAL if a function is missing.
 * Call it only while no tpipe object or tpipe-allocated buffer exists
 * (memory must be freed by the allocator that made it); it is not
 * synchronised with other tpipe calls. With the default allocator a pipe
 * starts a 64-byte cache line (posix_memalign), which keeps its speed from
 * depending on where malloc put it; an installed allocator's blocks are
 * used as they come, so one that aligns requests of 64 bytes and more to
 * 64 gets the same. */
TP_API int tp_set_allocator(const tp_allocator *alloc);

/* Frees a buffer that tpipe handed over (readall, readmatch) with the
 * current allocator. NULL is a no-op. Any thread. */
TP_API void tp_free(void *ptr);

/* Severity of a log line. */
enum tp_log_level { TP_LOG_DEBUG = 0, TP_LOG_INFO, TP_LOG_WARNING, TP_LOG_ERROR };

/* Receives tpipe's log lines (today: the warning when tp_pipe_close
 * discards buffered data). name is the pipe's name, or NULL if it has none;
 * msg is one line without a newline. Called from the thread that logs, with
 * no tpipe lock held. */
typedef void (*tp_log_fn)(int level, const char *name, const char *msg, void *ctx);

/* Replaces the log sink; NULL restores the default, which writes one line
 * "tpipe: WARNING: pipe NAME: MSG" to stderr. Thread-safe with respect to
 * logging threads: each line goes to either the old or the new sink. */
TP_API void tp_set_log_fn(tp_log_fn fn, void *ctx);

/* ---------------------------------------------------------------------
 * tp_event: a flag shared between threads, like Python's threading.Event
 * ------------------------------------------------------------------- */

/* Creates a cleared event. NULL/ENOMEM on failure. */
TP_API tp_event *tp_event_new(void);

/* Frees ev (NULL is a no-op). Only when no thread waits on it and no pipe
 * uses it as its rflag any more. */
TP_API void tp_event_free(tp_event *ev);

/* Sets the flag and wakes every waiter. NULL is a no-op. Any thread. */
TP_API void tp_event_set(tp_event *ev);

/* Clears the flag. NULL is a no-op. Any thread. */
TP_API void tp_event_clear(tp_event *ev);

/* True if the flag is set (false for NULL). Any thread; never blocks. */
TP_API bool tp_event_is_set(const tp_event *ev);

/* Blocks until the flag is set or timeout seconds pass. Returns 0 once
 * set; -1/ETIMEDOUT on timeout; -1/EINVAL for NULL or a NaN timeout.
 * Any thread. */
TP_API int tp_event_wait(tp_event *ev, double timeout);

/* ---------------------------------------------------------------------
 * tp_pipe: a thread-safe buffered pipe
 * ------------------------------------------------------------------- */

/* Creates a pipe. bsize guides flow control (0 means TP_DEFAULT_BSIZE);
 * rblocking / wblocking say whether reads / writes may block (a
 * non-blocking end fails with EAGAIN instead); timeout applies to blocked
 * reads, writes and flushes; name (may be NULL) is copied and used in log
 * lines. No memory beyond the pipe itself is allocated before the first
 * write. Returns NULL with EINVAL (NaN timeout) or ENOMEM. Any thread. */
TP_API tp_pipe *tp_pipe_new(size_t bsize, bool rblocking, bool wblocking, double timeout,
                            const char *name);

/* Frees the pipe and everything buffered in it; release callbacks of
 * buffered write_ref data run before it returns. Views still held stay
 * valid until released. NULL is a no-op. Call only once no other thread
 * uses the pipe (close it and join them first). */
TP_API void tp_pipe_free(tp_pipe *p);

/* The name given to tp_pipe_new (NULL if none). Valid until tp_pipe_free. */
TP_API const char *tp_pipe_name(const tp_pipe *p);

/* The effective bsize (after 0 became the default). 0 for NULL. */
TP_API size_t tp_pipe_bsize(const tp_pipe *p);

/* The timeout given to tp_pipe_new (negative: forever). */
TP_API double tp_pipe_timeout(const tp_pipe *p);

/* Read / write end blocking modes. The setters take effect for calls that
 * start afterwards; NULL is ignored (getters return false). Any thread. */
TP_API bool tp_pipe_readblocking(const tp_pipe *p);
TP_API void tp_pipe_set_readblocking(tp_pipe *p, bool blocking);
TP_API bool tp_pipe_writeblocking(const tp_pipe *p);
TP_API void tp_pipe_set_writeblocking(tp_pipe *p, bool blocking);

/* True if no unread byte is buffered (true for NULL). Never blocks. */
TP_API bool tp_pipe_empty(tp_pipe *p);

/* Bytes written and not yet read (0 for NULL). Never blocks. */
TP_API size_t tp_pipe_buffered(tp_pipe *p);

/* Bytes the next non-blocking write is sure to accept: bsize minus what is
 * buffered, never below 0; 0 means full, and then the rflag is cleared.
 * Returns -1/EPIPE once EOF was written or the pipe is closed, -1/EINVAL
 * for NULL. Never blocks. With several writers the figure is only a hint. */
TP_API ssize_t tp_pipe_canwrite(tp_pipe *p);

/* 1 if the next read will not block (data buffered, or EOF written: that
 * read then returns 0), 0 otherwise, -1/EPIPE once closed, -1/EINVAL for
 * NULL. Never blocks. */
TP_API int tp_pipe_canread(tp_pipe *p);

/* Installs ev as the pipe's "reader detected" flag (NULL removes it). The
 * pipe sets it at the start of every read call (read, read_view, each read
 * readall makes), when readmatch succeeds or finds no match while there is
 * room, and when the pipe is closed (at once if it already is); it clears
 * it when tp_pipe_canwrite returns 0. The caller keeps ownership of ev and
 * must keep it alive until it is removed or the pipe freed. Any thread. */
TP_API void tp_pipe_set_rflag(tp_pipe *p, tp_event *ev);

/* Wait until canwrite > 0 / canread is true / the buffer is empty.
 * Return 0 when it holds (at once if it already does); -1/ETIMEDOUT after
 * timeout seconds (0: at once instead of waiting); -1/EPIPE where canwrite /
 * canread would fail, also when that happens while waiting: write_wait
 * after EOF or close, read_wait and flush_wait after close. flush_wait
 * still waits for the reader to drain the buffer after EOF. -1/EINVAL for
 * NULL or a NaN timeout. Blocking; any thread. */
TP_API int tp_pipe_write_wait(tp_pipe *p, double timeout);
TP_API int tp_pipe_read_wait(tp_pipe *p, double timeout);
TP_API int tp_pipe_flush_wait(tp_pipe *p, double timeout);

/* Copies at most canwrite bytes of buf into the pipe and returns how many
 * (a partial write is normal; n == 0 returns 0). When the pipe is full a
 * blocking writer waits (up to the pipe's timeout from the start of the
 * call: -1/ETIMEDOUT) and a non-blocking writer gets -1/EAGAIN. -1/EPIPE if
 * EOF was written or the pipe closed, also while waiting. -1/EINVAL for a
 * NULL pipe, or NULL buf with n > 0; -1/ENOMEM. The bytes of one call are
 * contiguous in the stream: concurrent writers never interleave inside a
 * call (so a writer may briefly wait, even on a non-blocking end, while
 * another writer finishes copying a large write). A blocking write of more
 * than 4 KiB that finds too little room may wait a moment (at most 50 us,
 * less once the reader stops freeing room) for room for all of it, then
 * takes what fits; it copies first, so meanwhile up to min(n, bsize,
 * 1 MiB) bytes (more if they seemed to fit at once) are held outside the
 * pipe. Blocking (per the write end's mode); any thread. */
TP_API ssize_t tp_pipe_write(tp_pipe *p, const void *buf, size_t n);

/* Hands buf to the pipe without copying. Once canwrite > 0 the whole of buf
 * is accepted (even beyond bsize) and n is returned; while the pipe is full
 * it waits / fails exactly like tp_pipe_write. On success the pipe owns the
 * bytes: buf must stay valid and unchanged until release(ctx) is called,
 * exactly once, by whichever thread finishes with it (the last reader or
 * view, close, or free); release may be NULL. On failure (-1 with EPIPE,
 * ETIMEDOUT, EAGAIN, EINVAL, ENOMEM) the caller still owns buf and release
 * is not called. n == 0 returns 0 and calls release before returning.
 * Blocking (per the write end's mode); any thread. */
TP_API ssize_t tp_pipe_write_ref(tp_pipe *p, const void *buf, size_t n, tp_release_fn release,
                                 void *ctx);

/* Marks end of data: waiting readers wake, later writes fail with EPIPE,
 * buffered data stays readable. Idempotent; returns 0 (also on a closed
 * pipe), -1/EINVAL for NULL. Never blocks. */
TP_API int tp_pipe_write_eof(tp_pipe *p);

/* True once tp_pipe_write_eof (or close) was called. Never blocks. */
TP_API bool tp_pipe_eof(tp_pipe *p);

/* Blocking writer: waits until the reader has drained the buffer; returns
 * 0, or -1/ETIMEDOUT if the reader made no progress for timeout seconds
 * (the clock restarts whenever it reads). Non-blocking writer: 0 if empty,
 * else -1/EAGAIN at once. -1/EPIPE if the pipe is (or becomes) closed,
 * -1/EINVAL for NULL. Any thread. */
TP_API int tp_pipe_flush(tp_pipe *p);

/* The reader closes: discards everything buffered (releasing write_ref
 * buffers; a non-empty discard logs a warning naming the pipe), marks EOF,
 * wakes every waiting thread (their calls fail with EPIPE) and sets the
 * rflag. Afterwards every read, write, readmatch, readall, flush and wait
 * fails with EPIPE. Idempotent; NULL is a no-op. Never blocks. */
TP_API void tp_pipe_close(tp_pipe *p);

/* True once tp_pipe_close was called. Never blocks. */
TP_API bool tp_pipe_closed(tp_pipe *p);

/* Copies 1..n buffered bytes into buf, returning as soon as there is some
 * data (a blocking read of 4 KiB or more that finds fewer bytes while the
 * writer is still writing gives it up to ~10 us to add more, so a stream
 * of small writes is read in batches; a writer that has stopped ends that
 * at once). Returns 0 at EOF (written and drained) and
 * for n == 0. Empty pipe:
 * a blocking reader waits (pipe timeout: -1/ETIMEDOUT), a non-blocking one
 * gets -1/EAGAIN. -1/EPIPE once closed (also while waiting); -1/EINVAL for
 * a NULL pipe, or NULL buf with n > 0. Sets the rflag first. Blocking (per
 * the read end's mode); any thread. */
TP_API ssize_t tp_pipe_read(tp_pipe *p, void *buf, size_t n);

/* Zero-copy read: takes up to max bytes from the head of the buffer without
 * copying, sets *data to them and *view to a handle, and returns the count.
 * It may return fewer than max when the next bytes are not contiguous. The
 * bytes count as read at once, but stay valid until tp_view_release(*view),
 * whatever happens to the pipe meanwhile (close, free). Waits, fails and
 * returns 0 exactly like tp_pipe_read; *data and *view are NULL whenever
 * nothing is returned. -1/EINVAL if data or view is NULL. Blocking (per the
 * read end's mode); any thread. */
TP_API ssize_t tp_pipe_read_view(tp_pipe *p, size_t max, const void **data, tp_view **view);

/* Zero-copy read of several pieces in one call: takes up to max bytes in
 * all from the head of the buffer, as at most n views, one per run of
 * contiguous bytes, and sets iov[i] to the i-th piece's bytes and views[i]
 * to its handle. Returns the number of views filled (1..n); release them
 * with tp_views_release (or each with tp_view_release). Each write_ref
 * buffer is a piece of its own, so a reader of many hand-offs takes all
 * that are buffered under one lock. Entries past the returned count are
 * left as they were. Waits, fails and returns 0 exactly like tp_pipe_read
 * (also 0 for n == 0 or max == 0). -1/EINVAL for a NULL pipe, n < 0, or
 * NULL iov or views with n > 0. Blocking (per the read end's mode); any
 * thread. */
TP_API int tp_pipe_read_views(tp_pipe *p, size_t max, struct iovec *iov, tp_view **views, int n);

/* Releases a view from tp_pipe_read_view or tp_pipe_read_views: once per
 * view, from any thread, also after the pipe was freed. A write_ref
 * buffer's release callback runs only after the last view into it is
 * released. NULL is a no-op. */
TP_API void tp_view_release(tp_view *v);

/* Releases views[0..n) as that many tp_view_release calls would, in order;
 * NULL entries are skipped, and n <= 0 or a NULL array does nothing. For
 * the views of one tp_pipe_read_views call this is cheaper: the pipe takes
 * back their descriptors in one atomic operation rather than one each.
 * Any thread. */
TP_API void tp_views_release(tp_view **views, int n);

/* Reads to EOF and returns everything in one buffer: *out (free with
 * tp_free; non-NULL on success, even for 0 bytes) and *len. Always blocks
 * until EOF, even on a non-blocking read end (whose mode is unchanged);
 * each read is timed on its own with the pipe's timeout. Returns 0, or -1
 * with ETIMEDOUT, EPIPE or ENOMEM, in which case *out and *len still hold
 * what was consumed so far (*out NULL if nothing). -1/EINVAL for NULL
 * arguments. Blocking; any thread. */
TP_API int tp_pipe_readall(tp_pipe *p, void **out, size_t *len);

/* Reads up to and including the first occurrence of match (mlen bytes;
 * match NULL selects "\r\n" and mlen is ignored). Returns the line's length
 * with the line in *out (free with tp_free). Not found yet: a blocking
 * reader waits for more data (-1/ETIMEDOUT only when no new data arrived
 * for the pipe's timeout), a non-blocking one gets -1/EAGAIN. Not found and
 * the buffer is full: -1/ENOBUFS, nothing consumed. EOF written and no
 * match: returns 0 and the remaining bytes stay readable with read (EOF
 * takes precedence over ENOBUFS). -1/EPIPE once closed; -1/EINVAL for NULL
 * p or out, or mlen == 0 with a non-NULL match; -1/ENOMEM. *out is NULL
 * whenever the return is not positive. Searching resumes where the last
 * call stopped, so a line trickling in costs time linear in its length.
 * Blocking (per the read end's mode); any thread. */
TP_API ssize_t tp_pipe_readmatch(tp_pipe *p, const void *match, size_t mlen, void **out);

/* ---------------------------------------------------------------------
 * Per-call timeouts and vectored I/O
 * ------------------------------------------------------------------- */

/* tp_pipe_read / tp_pipe_write / tp_pipe_readmatch with `timeout` in place
 * of the pipe's own (the end's blocking mode still applies). Same returns
 * and errno, plus -1/EINVAL for a NaN timeout. */
TP_API ssize_t tp_pipe_read_timed(tp_pipe *p, void *buf, size_t n, double timeout);
TP_API ssize_t tp_pipe_write_timed(tp_pipe *p, const void *buf, size_t n, double timeout);
TP_API ssize_t tp_pipe_readmatch_timed(tp_pipe *p, const void *match, size_t mlen, void **out,
                                       double timeout);

/* readmatch into the caller's buffer: copies the line (through the
 * delimiter) into buf and returns its length. -1/EMSGSIZE, nothing
 * consumed, when the line is longer than cap or cap bytes are buffered
 * without a match; otherwise as tp_pipe_readmatch_timed (0 at EOF without
 * a match, ENOBUFS, EAGAIN, ETIMEDOUT, EPIPE, EINVAL). */
TP_API ssize_t tp_pipe_readmatch_into(tp_pipe *p, const void *match, size_t mlen, void *buf,
                                      size_t cap, double timeout);

/* Vectored tp_pipe_write / tp_pipe_read: the iovecs are one logical buffer.
 * writev copies at most canwrite bytes in total, contiguously in the
 * stream; readv fills the iovecs in order. iovcnt 0 returns 0; a negative
 * iovcnt, NULL iov with iovcnt > 0, or lengths adding up past SSIZE_MAX
 * is EINVAL. */
TP_API ssize_t tp_pipe_writev(tp_pipe *p, const struct iovec *iov, int iovcnt);
TP_API ssize_t tp_pipe_readv(tp_pipe *p, const struct iovec *iov, int iovcnt);

/* ---------------------------------------------------------------------
 * Event-loop integration: pollable readiness descriptors
 * ------------------------------------------------------------------- */

/* A file descriptor that polls readable (POLLIN) exactly while
 * tp_pipe_canread would return non-zero: data buffered, EOF written, or
 * the pipe closed. Level-triggered: it stays readable until the condition
 * ends. For edge-triggered epoll, drain the pipe (until EAGAIN) before
 * waiting again. Created on first call (Linux: eventfd; elsewhere a
 * self-pipe), the same fd afterwards; owned by the pipe, closed by
 * tp_pipe_free: never read, write or close it. Returns -1 with EINVAL,
 * EMFILE, ENFILE or ENOMEM. Any thread. */
TP_API int tp_pipe_read_fd(tp_pipe *p);

/* Like tp_pipe_read_fd for the writer: readable while canwrite > 0, and
 * after EOF or close (so the writer learns of it). */
TP_API int tp_pipe_write_fd(tp_pipe *p);

/* Line-aware readiness: after this call the read fd is readable only when
 * a readmatch with this delimiter can finish at once: a match is buffered,
 * the buffer is full (ENOBUFS), EOF was written, or the pipe is closed. A
 * line-protocol reader on an event loop then wakes once per line instead
 * of once per write. match NULL restores plain readiness (mlen ignored).
 * The delimiter is copied. Returns 0; -1/EINVAL (NULL p, mlen 0 with a
 * match, mlen over 64), -1/ENOMEM. Any thread. */
TP_API int tp_pipe_set_read_fd_match(tp_pipe *p, const void *match, size_t mlen);

/* A file descriptor readable exactly while ev is set. Owned by ev, closed
 * by tp_event_free. Same returns as tp_pipe_read_fd. */
TP_API int tp_event_fd(tp_event *ev);

/* ---------------------------------------------------------------------
 * Stdio and file-descriptor adapters
 * ------------------------------------------------------------------- */

/* Opens one end of the pipe as a FILE * (fopencookie on glibc, funopen on
 * BSD/macOS): mode "r" reads (fread, fgets, getline...), "w" writes
 * (fprintf, fwrite...). fclose of a "w" stream flushes and writes EOF;
 * fclose of an "r" stream closes the pipe (the reader closes). The pipe
 * must outlive the stream. Blocking follows the pipe's modes; a stream
 * over a non-blocking end reports EAGAIN through ferror/errno. Returns
 * NULL with EINVAL (bad mode, NULL p), ENOMEM, or ENOSYS where the
 * platform has neither fopencookie nor funopen. */
TP_API FILE *tp_pipe_fopen(tp_pipe *p, const char *mode);

/* Moves bytes from fd into the pipe until fd reports EOF (or max bytes,
 * if max > 0), honouring the pipe's flow control (blocks while it is
 * full, per the write end's mode and timeout). Does not write EOF on the
 * pipe. Returns 0 at fd EOF or after max bytes; -1 with errno from read(2)
 * or from the pipe (EPIPE, ETIMEDOUT, EAGAIN...). *moved (may be NULL)
 * receives the byte count in every case. Uses the fastest path the
 * platform offers. Blocking; any thread. */
TP_API int tp_pipe_pump_from_fd(tp_pipe *p, int fd, size_t max, size_t *moved);

/* Moves bytes from the pipe to fd until the pipe reports EOF (or max
 * bytes, if max > 0), handling short writes and EINTR. Returns 0 at EOF or
 * after max bytes; -1 with errno from write(2) (EPIPE if fd's reader went
 * away: SIGPIPE is the caller's to ignore) or from the pipe. *moved (may
 * be NULL) receives the count of bytes written to fd. Blocking; any
 * thread. */
TP_API int tp_pipe_pump_to_fd(tp_pipe *p, int fd, size_t max, size_t *moved);

/* ---------------------------------------------------------------------
 * Introspection and stall diagnostics
 * ------------------------------------------------------------------- */

/* Counters of one pipe, from tp_pipe_get_stats(). */
typedef struct tp_pipe_stats {
    uint64_t bytes_in;      /* bytes accepted by writes (copy and ref) */
    uint64_t bytes_out;     /* bytes taken by reads (all kinds) */
    uint64_t writes;        /* write calls that accepted bytes */
    uint64_t reads;         /* read calls that returned bytes */
    uint64_t write_waits;   /* times a writer had to wait for room */
    uint64_t read_waits;    /* times a reader had to wait for data */
    double write_wait_secs; /* total time writers spent waiting */
    double read_wait_secs;  /* total time readers spent waiting */
    size_t buffered;        /* bytes buffered now */
    size_t peak_buffered;   /* most bytes ever buffered at once (exact while
                               calls do not overlap a read) */
    uint64_t enobufs;       /* readmatch calls that failed with ENOBUFS */
    uint64_t timeouts;      /* calls that failed with ETIMEDOUT */
    double last_write;      /* coarse CLOCK_MONOTONIC seconds (a few ms steps) of the
                               last write, 0 if none */
    double last_read;       /* the same for the last read */
} tp_pipe_stats;

/* Copies the pipe's counters into *out. Returns 0, -1/EINVAL for NULL.
 * Cheap (one lock, no system call); any thread. */
TP_API int tp_pipe_get_stats(tp_pipe *p, tp_pipe_stats *out);

/* Which side of a pipe a stalled thread is on. */
enum tp_side { TP_SIDE_READER = 0, TP_SIDE_WRITER = 1 };

/* Called when a thread has waited on the pipe for `after` seconds with
 * nothing moving, and again every `after` seconds while that lasts.
 * side says who waits, idle_secs how long nothing has moved. Runs on the
 * waiting thread without the pipe lock (it may call tpipe functions but
 * must not free the pipe). */
typedef void (*tp_stall_fn)(tp_pipe *p, int side, double idle_secs, void *ctx);

/* Installs (fn non-NULL) or removes (fn NULL) the stall callback. Returns
 * 0, -1/EINVAL for NULL p or after <= 0 or NaN with a non-NULL fn. */
TP_API int tp_pipe_set_stall_fn(tp_pipe *p, double after, tp_stall_fn fn, void *ctx);

/* ---------------------------------------------------------------------
 * tp_wrapper: makes the head of any readable source seekable
 * ------------------------------------------------------------------- */

/* Wraps a source. Reads it at once until EOF or until buffsize bytes
 * (0 means TP_DEFAULT_BSIZE) are buffered. If EOF was seen the wrapper is
 * seekable and knows the length; otherwise (buffsize bytes read, the source
 * blocked with EAGAIN, or it failed) it is "overflowed": reads come from
 * the buffer, then straight from the source. A source error is kept and
 * reported once, with its errno, by the read that reaches its position.
 * The wrapper does not own ctx. Returns NULL with EINVAL (NULL read) or
 * ENOMEM. Calls on one wrapper are serialised by its own lock. */
TP_API tp_wrapper *tp_wrapper_new(tp_read_fn read, void *ctx, size_t buffsize);

/* Ready-made sources. _pipe reads p with tp_pipe_read (p must outlive the
 * wrapper); _fd reads fd with read(2), retrying EINTR (the fd is not
 * closed); _mem reads a copy-free memory block (data must outlive the
 * wrapper). Same returns as tp_wrapper_new. */
TP_API tp_wrapper *tp_wrapper_new_pipe(tp_pipe *p, size_t buffsize);
TP_API tp_wrapper *tp_wrapper_new_fd(int fd, size_t buffsize);
TP_API tp_wrapper *tp_wrapper_new_mem(const void *data, size_t len, size_t buffsize);

/* tp_read_fn adapters, for use with tp_wrapper_new or on their own:
 * ctx is a tp_pipe * / a file descriptor cast with (void *)(intptr_t)fd. */
TP_API ssize_t tp_read_pipe(void *pipe, void *buf, size_t n);
TP_API ssize_t tp_read_fd(void *fd, void *buf, size_t n);

/* Frees the wrapper and its buffer, not the source. NULL is a no-op. */
TP_API void tp_wrapper_free(tp_wrapper *w);

/* True if the whole source is buffered (EOF seen during construction). */
TP_API bool tp_wrapper_seekable(tp_wrapper *w);

/* Source length if seekable, else -1 (also for NULL). */
TP_API off_t tp_wrapper_length(tp_wrapper *w);

/* Current position. -1/ESPIPE if not seekable, -1/EINVAL for NULL. */
TP_API off_t tp_wrapper_tell(tp_wrapper *w);

/* Moves like lseek(2): whence SEEK_SET, SEEK_CUR or SEEK_END; a position
 * past the end is allowed (reads there return 0). Returns the new position;
 * -1/EINVAL for a negative result, bad whence or NULL; -1/ESPIPE if not
 * seekable. */
TP_API off_t tp_wrapper_seek(tp_wrapper *w, off_t off, int whence);

/* Reads like tp_pipe_read: from the buffer, then (overflowed) from the
 * source, passing its EAGAIN and errors through. 0 at end. -1/EINVAL for
 * NULL w, or NULL buf with n > 0. Blocks only if the source does. */
TP_API ssize_t tp_wrapper_read(tp_wrapper *w, void *buf, size_t n);

/* Copies up to n bytes from the buffer at the current position without
 * advancing; 0 once the position is past the buffered part. Never reads
 * the source. -1/EINVAL as tp_wrapper_read. */
TP_API ssize_t tp_wrapper_peek(tp_wrapper *w, void *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* TPIPE_H */
