/* cli.h - private declarations shared by the files of the tpipe command:
 * options, the block pool, the run state that the input, output and main
 * threads share, and the helpers each file exports. */
#ifndef TPIPE_CLI_H
#define TPIPE_CLI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tpipe.h"

/* Exit codes (documented in tpipe.1 and --help). */
enum {
    TPC_EXIT_OK = 0,
    TPC_EXIT_READ = 1,
    TPC_EXIT_USAGE = 2,
    TPC_EXIT_OUTPUT = 3,
    TPC_EXIT_INTERRUPTED = 130,
};

enum tpc_progress { TPC_PROGRESS_AUTO = -1, TPC_PROGRESS_OFF = 0, TPC_PROGRESS_ON = 1 };

/* What the command line asked for. Filled by tpc_parse_options, read-only
 * afterwards (every thread may read it without a lock). */
struct tpc_options {
    uint64_t buffer_size; /* -m: bytes each output may have buffered */
    uint64_t block_size;  /* -b: bytes per read(2) block */
    uint64_t rate;        /* -r: bytes/s per output, 0 = unlimited */
    uint64_t size_hint;   /* -s: expected total, 0 = unknown */
    int high_pct;         /* -P: start writing once this full (0 = at once) */
    int low_pct;          /* -p: after a full buffer, read again at this fill (100 = at once) */
    bool lines;           /* -l: count lines, never split one across writes */
    bool quiet;           /* -q: no progress, no summary */
    int progress;         /* enum tpc_progress */
    bool json;            /* --json: progress and summary as JSON lines */
    double interval;      /* -i: seconds between progress updates */
    bool stop_on_error;   /* --stop-on-error */
    bool zero_copy;       /* off with --no-zero-copy: no mmap / splice */
    const char **outputs; /* -o, in order; "-" is stdout */
    int noutputs;
    char **inputs; /* operands; none means stdin */
    int ninputs;
};

/* Parses argv into o. Returns 0 to run, 1 when --help/--version printed
 * what was asked (exit 0), -1 after printing a usage error (exit 2). */
int tpc_parse_options(int argc, char **argv, struct tpc_options *o);
void tpc_free_options(struct tpc_options *o);

/* "64M", "1.5GiB", "4096", "10k" (k/M/G/T are powers of 1024, "kB" style
 * powers of 1000). Returns 0, or -1 for anything else (no errno). */
int tpc_parse_size(const char *s, uint64_t *out);
/* 1536 -> "1.50 KiB"; always fits in 16 bytes. */
void tpc_format_size(char *buf, size_t n, double bytes);
/* 75.2 -> "0:01:15". */
void tpc_format_duration(char *buf, size_t n, double seconds);

/* ---- block pool: fixed-size buffers shared by every output (pool.c) ---- */

/* A buffer handed to output pipes with tp_pipe_write_ref. One reference per
 * write_ref plus one for the input thread while it fills the block; the
 * last release puts it back in the pool (or unmaps a file mapping). */
struct tpc_block {
    struct tpc_pool *pool;
    unsigned char *data;
    size_t len; /* capacity (pool) or mapping length (file map) */
    atomic_int refs;
    bool mapped;                 /* true: a file mapping, munmap on last release */
    struct tpc_block *next_free; /* guarded by pool->mu */
    /* File mappings only: where the bytes come from, so that an output
     * pipe can splice(2) them from the page cache; prev/next link the
     * pool's list of live mappings (guarded by pool->mu). */
    struct tpc_source *src;
    off_t src_off; /* file offset of data[0] */
    struct tpc_block *prev, *next;
};

/* An input file shared by the mappings made of it: its own descriptor
 * (a dup) stays open until the last mapping is released. */
struct tpc_source {
    int fd;
    atomic_int refs;
};

struct tpc_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *arena; /* all pool blocks, one mapping */
    size_t arena_len;
    size_t block_size;
    struct tpc_block *blocks;
    struct tpc_block *free_list; /* guarded by mu */
    struct tpc_block *mapped;    /* live file mappings; guarded by mu */
    atomic_bool cancelled;       /* set to make tpc_pool_get give up */
};

int tpc_pool_init(struct tpc_pool *pool, size_t block_size, size_t nblocks);
void tpc_pool_destroy(struct tpc_pool *pool);
/* Waits for a free block (one reference held by the caller). NULL once the
 * pool is cancelled. */
struct tpc_block *tpc_pool_get(struct tpc_pool *pool);
void tpc_pool_cancel(struct tpc_pool *pool);
/* A source for fd (dup'ed: the caller keeps fd). NULL on failure. */
struct tpc_source *tpc_source_new(int fd);
void tpc_source_unref(struct tpc_source *src);
/* Wraps a mapping of src at file offset off as a block (one reference;
 * takes a reference on src). NULL/ENOMEM. */
struct tpc_block *tpc_block_mapped(struct tpc_pool *pool, void *addr, size_t len,
                                   struct tpc_source *src, off_t off);
/* If p lies in a live file mapping, sets *fd and *off to where its bytes
 * are in the file and returns true. Valid while the caller holds a view
 * (and so a reference) on that mapping. */
bool tpc_pool_find_file(struct tpc_pool *pool, const void *p, int *fd, off_t *off);
void tpc_block_ref(struct tpc_block *b);
/* Drops one reference; also the tp_release_fn given to write_ref. */
void tpc_block_unref(void *block);

/* ---- run state shared by the threads (run.c) ---- */

struct tpc_run;

/* One output: its own tp_pipe (so each output is a reader of its own) and
 * its own thread. Counters are atomics read by the progress display. */
struct tpc_output {
    struct tpc_run *run;
    const char *name; /* as given; "-" is stdout */
    int fd;
    bool is_fifo; /* splice(2) possible */
    tp_pipe *pipe;
    pthread_t thread;
    bool started;
    atomic_uint_least64_t bytes;   /* written to fd */
    atomic_uint_least64_t lines;   /* -l only */
    atomic_uint_least64_t wait_ns; /* time blocked waiting for data */
    atomic_bool failed;            /* write error: this output stopped */
    atomic_bool done;              /* thread finished */
    atomic_bool idle;              /* waiting for data it cannot drain */
    int error;                     /* errno of the failure; written before failed */
};

struct tpc_run {
    const struct tpc_options *opt;
    struct tpc_pool pool;
    struct tpc_output *outputs;
    int noutputs;
    pthread_t input_thread;
    pthread_t main_thread;
    uint64_t start_ns;
    uint64_t size_total; /* -s, or the sum of regular input files; 0 unknown */
    uint64_t high_bytes; /* -P as bytes */
    uint64_t low_bytes;  /* -p as bytes */
    bool populate;       /* an output copies from mapped files: pre-fault them */

    atomic_uint_least64_t bytes_in;
    atomic_uint_least64_t in_wait_ns; /* input blocked on a full buffer */
    atomic_uint_least64_t peak_fill;  /* largest tp_pipe_buffered seen */
    atomic_bool read_error;
    atomic_bool input_done;
    atomic_bool stop;           /* stop reading input; outputs drain what is buffered */
    atomic_bool abort;          /* outputs stop too, at once */
    atomic_bool zero_copy_used; /* an mmap or vmsplice path was taken */
    atomic_int finished;        /* threads that have returned */

    /* "something changed" notification between the threads: gen moves on
     * every hand-over and every consumed view; waiters is how many sleep
     * on cv (so the hot path skips the lock when nobody waits). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint_least64_t gen;
    atomic_int waiters;
};

uint64_t tpc_now_ns(void);
void tpc_notify(struct tpc_run *run);
uint64_t tpc_gen(struct tpc_run *run);
/* Sleeps until gen differs from seen, abort is set, or max_s passes. */
void tpc_wait_gen(struct tpc_run *run, uint64_t seen, double max_s);
/* Tells the main thread to look at the state again (SIGUSR2). */
void tpc_wake_main(struct tpc_run *run);
/* Blocks every signal the main thread handles; leaves SIGUSR1 (used to
 * interrupt a blocking read(2)/write(2)) deliverable. For worker threads. */
void tpc_worker_signals(void);
/* Largest tp_pipe_buffered over outputs still running. */
uint64_t tpc_fill(struct tpc_run *run);

void *tpc_input_main(void *run);
void *tpc_output_main(void *output);

/* Progress and summary on stderr (report.c). */
struct tpc_report {
    uint64_t last_ns;
    uint64_t last_bytes;
    bool drawn; /* a \r line is on screen */
    bool tty;
    bool show; /* progress line or JSON lines enabled */
};
void tpc_report_tick(struct tpc_run *run, struct tpc_report *rep);
void tpc_report_summary(struct tpc_run *run, struct tpc_report *rep, int status);
/* Ends a progress line before an error message is printed. */
void tpc_report_break(struct tpc_report *rep);

#endif /* TPIPE_CLI_H */
