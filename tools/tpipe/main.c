/* main.c - tpipe: copies its inputs to one or more outputs through a large
 * memory buffer (one tp_pipe per output, shared zero-copy blocks), showing
 * progress. The main thread handles signals and draws progress. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void on_sigusr1(int sig)
{
    (void)sig; /* only there so a blocking read/write returns EINTR */
}

/* tp_pipe_close logs a warning when it discards data; tpipe closes pipes
 * on purpose (a failed output, an abort) and reports those itself. */
static void quiet_log(int level, const char *name, const char *msg, void *ctx)
{
    (void)level;
    (void)name;
    (void)msg;
    (void)ctx;
}

/* -s, or the sum of the inputs' sizes when every input is a regular file. */
static uint64_t total_size(const struct tpc_options *o)
{
    if (o->size_hint > 0)
        return o->size_hint;
    uint64_t total = 0;
    int n = o->ninputs > 0 ? o->ninputs : 1;
    for (int i = 0; i < n; i++) {
        const char *name = o->ninputs > 0 ? o->inputs[i] : "-";
        struct stat st;
        int rc = strcmp(name, "-") == 0 ? fstat(STDIN_FILENO, &st) : stat(name, &st);
        if (rc < 0 || !S_ISREG(st.st_mode))
            return 0;
        off_t pos = strcmp(name, "-") == 0 ? lseek(STDIN_FILENO, 0, SEEK_CUR) : 0;
        if (pos > 0 && pos < st.st_size)
            st.st_size -= pos;
        total += (uint64_t)st.st_size;
    }
    return total;
}

/* True if every input is a regular file (so pipe outputs will be fed by
 * splice from the page cache). */
static bool inputs_regular(const struct tpc_options *o)
{
    int n = o->ninputs > 0 ? o->ninputs : 1;
    for (int i = 0; i < n; i++) {
        const char *name = o->ninputs > 0 ? o->inputs[i] : "-";
        struct stat st;
        int rc = strcmp(name, "-") == 0 ? fstat(STDIN_FILENO, &st) : stat(name, &st);
        if (rc < 0 || !S_ISREG(st.st_mode))
            return false;
    }
    return true;
}

static int open_outputs(struct tpc_run *run)
{
    const struct tpc_options *o = run->opt;
    int ok = 0;
    for (int i = 0; i < run->noutputs; i++) {
        struct tpc_output *out = &run->outputs[i];
        out->run = run;
        out->name = o->outputs[i];
        if (strcmp(out->name, "-") == 0)
            out->fd = STDOUT_FILENO;
        else
            out->fd = open(out->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        out->pipe = tp_pipe_new((size_t)o->buffer_size, !o->lines, true, TP_FOREVER, out->name);
        if (out->pipe == NULL) {
            perror("tpipe");
            return -1;
        }
        if (out->fd < 0) {
            out->error = errno;
            fprintf(stderr, "tpipe: %s: %s\n", out->name, strerror(out->error));
            atomic_store(&out->failed, true);
            atomic_store(&out->done, true);
            tp_pipe_close(out->pipe);
            continue;
        }
        struct stat st;
        out->is_fifo = fstat(out->fd, &st) == 0 && S_ISFIFO(st.st_mode);
        /* splice moves page references, so a bigger kernel pipe means
         * fewer, larger splices (measured: faster file-to-pipe). For data
         * copied by write(2) it measured slower (worse cache reuse), so
         * only when every input is a file that will be spliced. */
        if (out->is_fifo && o->zero_copy && inputs_regular(o))
            (void)fcntl(out->fd, F_SETPIPE_SZ, 1 << 20);
        if (!out->is_fifo && !S_ISCHR(st.st_mode))
            run->populate = true; /* regular files, sockets: write copies */
        ok++;
    }
    return ok;
}

/* Stops reading: the input thread ends, outputs write what is buffered. */
static void apply_stop(struct tpc_run *run)
{
    atomic_store(&run->stop, true);
    tpc_pool_cancel(&run->pool);
    for (int i = 0; i < run->noutputs; i++)
        tp_pipe_write_eof(run->outputs[i].pipe);
    tpc_notify(run);
}

/* Stops everything at once: buffered data is dropped. */
static void apply_abort(struct tpc_run *run)
{
    atomic_store(&run->abort, true);
    apply_stop(run);
    for (int i = 0; i < run->noutputs; i++)
        tp_pipe_close(run->outputs[i].pipe);
    tpc_notify(run);
}

static bool all_outputs_failed(struct tpc_run *run)
{
    for (int i = 0; i < run->noutputs; i++)
        if (!atomic_load(&run->outputs[i].failed))
            return false;
    return true;
}

static bool any_output_failed(struct tpc_run *run)
{
    for (int i = 0; i < run->noutputs; i++)
        if (atomic_load(&run->outputs[i].failed))
            return true;
    return false;
}

static struct timespec ns_to_ts(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    return ts;
}

/* Adds the signals that interrupt a run from outside. */
static void add_stop_signals(sigset_t *set)
{
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* True if SIGINT, SIGTERM or SIGHUP arrived and is still pending (it is
 * taken). A signal that lands while this thread is between two waits, and
 * the workers finish before it waits again, is otherwise never seen: the
 * run would end with status 0 although it was interrupted while alive. */
static bool stop_signal_pending(void)
{
    sigset_t stopset;
    sigemptyset(&stopset);
    add_stop_signals(&stopset);
    struct timespec now = {0, 0};
    return sigtimedwait(&stopset, NULL, &now) > 0;
}

/* The main thread's loop: waits for signals (SIGINT/SIGTERM/SIGHUP from
 * outside, SIGUSR2 from a finishing or failing worker) or the next progress
 * tick, until every worker has finished. Returns true if interrupted. */
static bool supervise(struct tpc_run *run, struct tpc_report *rep, int nworkers)
{
    sigset_t waitset;
    sigemptyset(&waitset);
    add_stop_signals(&waitset);
    sigaddset(&waitset, SIGUSR2);
    uint64_t interval = (uint64_t)(run->opt->interval * 1e9);
    uint64_t next_tick = run->start_ns + interval;
    int signals = 0;
    bool stopped = false, aborted = false;
    while (atomic_load(&run->finished) < nworkers) {
        uint64_t now = tpc_now_ns();
        uint64_t wait = next_tick > now ? next_tick - now : 0;
        /* While a worker must be interrupted, poke it every 50 ms: a
         * SIGUSR1 that lands just before it enters read(2) is lost. */
        if (stopped && wait > 50000000u)
            wait = 50000000u;
        struct timespec ts = ns_to_ts(wait);
        int sig = sigtimedwait(&waitset, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            if (++signals == 1 && !run->opt->quiet) {
                tpc_report_break(rep);
                fputs("tpipe: interrupted: writing out what is buffered "
                      "(interrupt again to stop at once)\n",
                      stderr);
            }
        }
        if (signals >= 2 || (atomic_load(&run->abort) && !aborted)) {
            apply_abort(run);
            stopped = aborted = true;
        } else if (!stopped &&
                   (signals == 1 || atomic_load(&run->stop) || all_outputs_failed(run))) {
            apply_stop(run);
            stopped = true;
        }
        if (stopped && !atomic_load(&run->input_done))
            pthread_kill(run->input_thread, SIGUSR1);
        if (aborted)
            for (int i = 0; i < run->noutputs; i++)
                if (!atomic_load(&run->outputs[i].done))
                    pthread_kill(run->outputs[i].thread, SIGUSR1);
        now = tpc_now_ns();
        if (now >= next_tick) {
            tpc_report_tick(run, rep);
            next_tick = now + interval;
        }
    }
    return signals > 0 || stop_signal_pending();
}

static void block_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a closed output shows up as EPIPE */
    sa.sa_handler = on_sigusr1;    /* no SA_RESTART: interrupts syscalls */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    add_stop_signals(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int run_tpipe(const struct tpc_options *o)
{
    static struct tpc_run run; /* zeroed; large and shared by every thread */
    run.opt = o;
    run.noutputs = o->noutputs;
    run.main_thread = pthread_self();
    run.size_total = total_size(o);
    run.high_bytes = o->buffer_size * (uint64_t)o->high_pct / 100;
    run.low_bytes = o->buffer_size * (uint64_t)o->low_pct / 100;
    pthread_mutex_init(&run.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&run.cv, &ca);
    pthread_condattr_destroy(&ca);

    tp_set_log_fn(quiet_log, NULL);
    run.outputs = calloc((size_t)run.noutputs, sizeof *run.outputs);
    if (run.outputs == NULL) {
        perror("tpipe");
        return TPC_EXIT_OUTPUT;
    }
    int status = TPC_EXIT_OK;
    int live = open_outputs(&run);
    /* Blocks in use at once span at most the buffer plus the block being
     * filled, one partly read at each end and one being written out. */
    size_t nblocks = (size_t)((o->buffer_size + o->block_size - 1) / o->block_size) + 5;
    if (live < 0 || tpc_pool_init(&run.pool, (size_t)o->block_size, nblocks) < 0) {
        perror("tpipe");
        return TPC_EXIT_OUTPUT;
    }
    if (live == 0 || (live < run.noutputs && o->stop_on_error)) {
        status = TPC_EXIT_OUTPUT;
        goto out;
    }

    struct tpc_report rep = {0};
    rep.tty = isatty(STDERR_FILENO);
    rep.show = !o->quiet && (o->progress == TPC_PROGRESS_ON ||
                             (o->progress == TPC_PROGRESS_AUTO && (rep.tty || o->json)));
    run.start_ns = tpc_now_ns();
    rep.last_ns = run.start_ns;
    int nworkers = 0;
    for (int i = 0; i < run.noutputs; i++) {
        struct tpc_output *out = &run.outputs[i];
        if (atomic_load(&out->done))
            continue;
        if (pthread_create(&out->thread, NULL, tpc_output_main, out) != 0) {
            perror("tpipe: pthread_create");
            exit(TPC_EXIT_OUTPUT);
        }
        out->started = true;
        nworkers++;
    }
    if (pthread_create(&run.input_thread, NULL, tpc_input_main, &run) != 0) {
        perror("tpipe: pthread_create");
        exit(TPC_EXIT_OUTPUT);
    }
    nworkers++;
    bool interrupted = supervise(&run, &rep, nworkers);
    pthread_join(run.input_thread, NULL);
    for (int i = 0; i < run.noutputs; i++)
        if (run.outputs[i].started)
            pthread_join(run.outputs[i].thread, NULL);

    /* An output that lost data outranks a missing input, which outranks
     * an interruption that otherwise went cleanly. */
    if (any_output_failed(&run))
        status = TPC_EXIT_OUTPUT;
    else if (atomic_load(&run.read_error))
        status = TPC_EXIT_READ;
    else if (interrupted)
        status = TPC_EXIT_INTERRUPTED;
    if (!o->quiet) {
        if (rep.show)
            tpc_report_tick(&run, &rep);
        tpc_report_summary(&run, &rep, status);
    }
out:
    for (int i = 0; i < run.noutputs; i++) {
        tp_pipe_free(run.outputs[i].pipe);
        if (run.outputs[i].fd > STDOUT_FILENO)
            close(run.outputs[i].fd);
    }
    tpc_pool_destroy(&run.pool);
    free(run.outputs);
    pthread_mutex_destroy(&run.mu);
    pthread_cond_destroy(&run.cv);
    return status;
}

int main(int argc, char **argv)
{
    struct tpc_options opt;
    int rc = tpc_parse_options(argc, argv, &opt);
    if (rc != 0) {
        tpc_free_options(&opt);
        return rc > 0 ? TPC_EXIT_OK : TPC_EXIT_USAGE;
    }
    block_signals();
    int status = run_tpipe(&opt);
    tpc_free_options(&opt);
    return status;
}
