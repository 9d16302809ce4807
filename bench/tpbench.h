/* tpbench.h - shared declarations of tpbench, the benchmark that measures
 * tpipe side by side with kernel pipes, socketpair and a naive ring buffer. */
#ifndef TPBENCH_H
#define TPBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "tpipe.h"

/* Upper bound on --runs (results keep every run's value). */
#define TB_MAX_RUNS 99

/* The transports, in the order the tables list them: tpipe first, then the
 * baselines it is compared with. */
enum tb_transport {
    TB_TPIPE,
    TB_PIPE,       /* pipe(2), default kernel buffer (64 KiB on Linux) */
    TB_PIPE_1M,    /* pipe(2) grown to 1 MiB with F_SETPIPE_SZ */
    TB_SOCKETPAIR, /* socketpair(AF_UNIX, SOCK_STREAM) */
    TB_NAIVE,      /* naive_ring: one mutex, two condition variables */
    TB_NTRANSPORTS
};

/* The workloads, as bits of tb_options.workloads. */
enum tb_workload {
    TB_W_BULK,
    TB_W_ZEROCOPY,
    TB_W_SMALL,
    TB_W_PINGPONG,
    TB_W_IDLE,
    TB_W_LINES,
    TB_W_CONTENTION,
    TB_W_MEMORY,
    TB_NWORKLOADS
};

/* Everything the command line sets; read-only once parsing is done. */
typedef struct tb_options {
    unsigned workloads;  /* bit (1u << enum tb_workload) per selected workload */
    unsigned transports; /* bit (1u << enum tb_transport) per selected transport */
    int runs;            /* runs per figure; the table shows median, min, max */
    double duration;     /* seconds per run, used when bytes == 0 */
    uint64_t bytes;      /* bytes per run (0: run for duration instead) */
    size_t bsize;        /* tpipe bsize / naive capacity outside the bulk workload */
    double idle;         /* seconds the idle reader stays blocked */
    const char *csv;     /* CSV output file, or NULL */
    const char *chart;   /* gnuplot data output file, or NULL */
    const char *self;    /* our executable's path, to re-run it for the RSS probe */
    bool quick;          /* CI smoke: tiny durations, one run */
    bool quiet;          /* no progress line */
    bool verify;         /* readers check every byte they get (slower) */
} tb_options;

/* ---- main.c: progress ---------------------------------------------- */

/* Shows "what is running now" on stderr (one rewritten line on a terminal,
 * one line per call otherwise); silent with --quiet. */
void tb_progress(const tb_options *o, const char *workload, const char *variant,
                 enum tb_transport t, int run);

/* Prints a fatal error and exits(2): used when the OS refuses a resource
 * (thread, pipe, memory) and the measurement cannot go on. */
void tb_die(const char *what);

/* Monotonic clock in seconds. */
double tb_now(void);

/* CPU time used so far by the calling thread, in seconds. */
double tb_thread_cpu(void);

/* ---- baselines.c: one-way byte channels over every transport ------- */

typedef struct tb_chan tb_chan;

/* Short name used in tables and CSV ("tpipe", "pipe", "pipe-1M", ...). */
const char *tb_transport_name(enum tb_transport t);

/* Opens a blocking one-way channel. bsize sizes tpipe and the naive ring;
 * the kernel transports keep their own sizes. Dies on failure. */
tb_chan *tb_chan_open(enum tb_transport t, size_t bsize);

/* Writes all n bytes (looping over partial writes); 0, or -1 on error. */
int tb_chan_write(tb_chan *c, const void *buf, size_t n);

/* Reads 1..n bytes, blocking; 0 at end of data, -1 on error. */
ssize_t tb_chan_read(tb_chan *c, void *buf, size_t n);

/* Signals end of data to the reader (call once every writer is done). */
void tb_chan_write_eof(tb_chan *c);

/* Frees the channel; both sides must be done with it. */
void tb_chan_close(tb_chan *c);

/* The tpipe behind a TB_TPIPE channel (NULL for the others). */
tp_pipe *tb_chan_tpipe(tb_chan *c);

/* Bytes of user-space memory the channel holds (-1: in the kernel). */
long tb_chan_footprint(const tb_chan *c);

/* ---- stats.c ------------------------------------------------------- */

/* Sorts v[0..n) ascending in place. */
void tb_sort(double *v, size_t n);

/* The p-quantile (0..1) of sorted v[0..n), nearest rank; 0 if n == 0. */
double tb_quantile(const double *sorted, size_t n, double p);

/* Median, minimum and maximum of v[0..n) (v is left unchanged). */
void tb_summary(const double *v, size_t n, double *median, double *min, double *max);

/* ---- report.c ------------------------------------------------------ */

/* Adds one run's value for a figure, identified by (workload, variant,
 * metric, transport). higher_better says which way "better" points; it
 * decides how ratios are taken. */
void tb_record(const char *workload, const char *variant, const char *metric, bool higher_better,
               enum tb_transport t, double value);

/* Prints the machine the figures come from. */
void tb_report_machine(FILE *out);

/* Prints every figure (median, min, max) with tpipe's ratio to it. */
void tb_report_table(FILE *out, const tb_options *o);

/* Prints the targets with the measured figure and a verdict. */
void tb_report_targets(FILE *out);

/* Writes every figure as CSV / as a gnuplot data file. 0 or -1. */
int tb_report_csv(const char *path);
int tb_report_chart(const char *path);

/* ---- workloads ----------------------------------------------------- */

/* Each runs one workload over every selected transport, options->runs
 * times, interleaving transports within a run, and records its figures. */
void tb_wl_bulk(const tb_options *o);
void tb_wl_zerocopy(const tb_options *o);
void tb_wl_small(const tb_options *o);
void tb_wl_lines(const tb_options *o);
void tb_wl_contention(const tb_options *o);
void tb_wl_pingpong(const tb_options *o);
void tb_wl_idle(const tb_options *o);
void tb_wl_memory(const tb_options *o);

/* One bulk transfer (64 KiB writes, one writer, one reader) over c for
 * seconds (or bytes, if > 0); returns GB/s. */
double tb_bulk_transfer(tb_chan *c, double seconds, uint64_t bytes);

/* The child side of the RSS probe (tpbench --rss-probe=T): runs a bulk
 * transfer over transport T ("none": nothing) and prints its peak RSS in
 * KiB on stdout. Returns the exit status. */
int tb_rss_probe_child(const char *transport, double duration);

/* Shared by the workload files: true if transport t is selected. */
bool tb_selected(const tb_options *o, enum tb_transport t);

/* Per-run limits: the run ends once `duration` seconds passed or `bytes`
 * were written (whichever the options chose). */
double tb_run_seconds(const tb_options *o);
uint64_t tb_run_bytes(const tb_options *o);

#endif /* TPBENCH_H */
