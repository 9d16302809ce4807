/* workloads_memory.c - memory figures: bytes an idle pipe holds, heap and
 * RSS during bulk, and allocations per write in steady state, counted by an
 * allocator installed through tp_set_allocator. */
#include "tpbench.h"

#include "naive_ring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- the counting allocator ------------------------------------------ */

/* Each block carries its size in a header, so that free and realloc know
 * how many live bytes go away. The header keeps max_align_t alignment. */
#define HDR _Alignof(max_align_t)

static atomic_ulong n_allocs; /* malloc_fn and realloc_fn calls */
static atomic_long live;      /* bytes handed out and not yet freed */
static atomic_long peak;      /* highest `live` since the last reset */

static void add_live(long delta)
{
    long now = atomic_fetch_add(&live, delta) + delta;
    long p = atomic_load(&peak);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
        ;
}

static void *count_malloc(size_t n, void *ctx)
{
    (void)ctx;
    unsigned char *h = malloc(HDR + n);
    if (!h)
        return NULL;
    memcpy(h, &n, sizeof n);
    atomic_fetch_add(&n_allocs, 1);
    add_live((long)n);
    return h + HDR;
}

static void *count_realloc(void *ptr, size_t n, void *ctx)
{
    if (!ptr)
        return count_malloc(n, ctx);
    unsigned char *h = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, h, sizeof old);
    h = realloc(h, HDR + n);
    if (!h)
        return NULL;
    memcpy(h, &n, sizeof n);
    atomic_fetch_add(&n_allocs, 1);
    add_live((long)n - (long)old);
    return h + HDR;
}

static void count_free(void *ptr, void *ctx)
{
    (void)ctx;
    if (!ptr)
        return;
    unsigned char *h = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, h, sizeof old);
    add_live(-(long)old);
    free(h);
}

static const tp_allocator counting = {count_malloc, count_realloc, count_free, NULL};

/* ---- allocations per write ------------------------------------------- */

enum { POOL = 64 };

typedef struct alloc_job {
    tp_pipe *p;
    size_t wsize;
    bool ref; /* write_ref + read_view instead of write + read */
    long warmup, measured;
    unsigned long a0, a1; /* n_allocs before / after the measured writes */
    unsigned char *bufs;  /* ref: POOL buffers of wsize bytes */
    atomic_int busy[POOL];
} alloc_job;

static void slot_release(void *ctx)
{
    atomic_store_explicit((atomic_int *)ctx, 0, memory_order_release);
}

static void *alloc_writer(void *arg)
{
    alloc_job *j = arg;
    for (long i = 0; i < j->warmup + j->measured; i++) {
        if (i == j->warmup)
            j->a0 = atomic_load(&n_allocs);
        ssize_t w;
        if (j->ref) {
            atomic_int *b = &j->busy[i % POOL];
            while (atomic_load_explicit(b, memory_order_acquire))
                sched_yield();
            atomic_store_explicit(b, 1, memory_order_relaxed);
            w = tp_pipe_write_ref(j->p, j->bufs + (size_t)(i % POOL) * j->wsize, j->wsize,
                                  slot_release, b);
        } else {
            /* Counted per call: a partial write is still one write. */
            w = tp_pipe_write(j->p, j->bufs, j->wsize);
        }
        if (w <= 0)
            tb_die("tp_pipe_write");
    }
    j->a1 = atomic_load(&n_allocs);
    tp_pipe_write_eof(j->p);
    return NULL;
}

static void *alloc_reader(void *arg)
{
    alloc_job *j = arg;
    static unsigned char buf[64 * 1024];
    ssize_t r;
    if (j->ref) {
        const void *d;
        tp_view *v;
        while ((r = tp_pipe_read_view(j->p, sizeof buf, &d, &v)) > 0)
            tp_view_release(v);
    } else {
        while ((r = tp_pipe_read(j->p, buf, sizeof buf)) > 0)
            ;
    }
    return NULL;
}

static double allocs_per_write(size_t bsize, size_t wsize, bool ref, long measured)
{
    alloc_job *j = calloc(1, sizeof *j);
    if (!j)
        tb_die("calloc");
    j->p = tp_pipe_new(bsize, true, true, TP_FOREVER, NULL);
    j->bufs = calloc(POOL, wsize);
    if (!j->p || !j->bufs)
        tb_die("alloc job");
    j->wsize = wsize;
    j->ref = ref;
    j->warmup = measured / 4 + 100;
    j->measured = measured;
    for (int i = 0; i < POOL; i++)
        atomic_init(&j->busy[i], 0);
    pthread_t w, r;
    if (pthread_create(&r, NULL, alloc_reader, j) != 0)
        tb_die("pthread_create");
    if (pthread_create(&w, NULL, alloc_writer, j) != 0)
        tb_die("pthread_create");
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    double per = (double)(j->a1 - j->a0) / (double)measured;
    tp_pipe_free(j->p);
    free(j->bufs);
    free(j);
    return per;
}

/* ---- peak RSS, in a fresh process per transport ---------------------- */

int tb_rss_probe_child(const char *transport, double duration)
{
    if (strcmp(transport, "none") != 0) {
        int t = 0;
        while (t < TB_NTRANSPORTS && strcmp(tb_transport_name(t), transport) != 0)
            t++;
        if (t == TB_NTRANSPORTS) {
            fprintf(stderr, "tpbench: unknown transport %s\n", transport);
            return 2;
        }
        tb_chan *c = tb_chan_open(t, 1024 * 1024);
        tb_bulk_transfer(c, duration, 0);
        tb_chan_close(c);
    }
    /* VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across
     * exec, so it would report the parent's size. */
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %ld", &kib) == 1)
                break;
        fclose(f);
    }
    if (kib < 0)
        return 1;
    printf("%ld\n", kib);
    return 0;
}

/* Runs "tpbench --rss-probe=what" and returns the peak RSS it reports in
 * KiB, or -1. A fresh process, because this one's heap already holds
 * whatever earlier workloads freed, which would hide new growth. */
static long rss_probe(const tb_options *o, const char *what)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char a1[64], a2[64];
    snprintf(a1, sizeof a1, "--rss-probe=%s", what);
    snprintf(a2, sizeof a2, "--duration=%g", tb_run_seconds(o));
    char *argv[] = {(char *)o->self, a1, a2, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int err = posix_spawn(&pid, o->self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        return -1;
    }
    char out[64] = "";
    size_t have = 0;
    ssize_t r;
    while (have < sizeof out - 1 && (r = read(fds[0], out + have, sizeof out - 1 - have)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        have += (size_t)r;
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return strtol(out, NULL, 10);
}

void tb_wl_memory(const tb_options *o)
{
    /* Steady-state write counts: enough to make one stray allocation per
     * thousand writes visible, small enough for a quick run. */
    long scale = o->quick ? 1 : 10;
    for (int run = 1; run <= o->runs; run++) {
        /* The allocator may only change while no tpipe object exists, and
         * every other workload has freed its pipes by now. */
        if (tb_selected(o, TB_TPIPE)) {
            tb_progress(o, "memory", "allocator", TB_TPIPE, run);
            if (tp_set_allocator(&counting) != 0)
                tb_die("tp_set_allocator");
            long before = atomic_load(&live);
            unsigned long calls = atomic_load(&n_allocs);
            tp_pipe *p = tp_pipe_new(0, true, true, TP_FOREVER, NULL);
            if (!p)
                tb_die("tp_pipe_new");
            tb_record("memory", "idle pipe", "bytes", false, TB_TPIPE,
                      (double)(atomic_load(&live) - before));
            tb_record("memory", "idle pipe", "allocations", false, TB_TPIPE,
                      (double)(atomic_load(&n_allocs) - calls));
            tp_pipe_free(p);

            tb_record("memory", "write 64K", "allocs/write", false, TB_TPIPE,
                      allocs_per_write(64 * 1024, 64 * 1024, false, 200 * scale));
            tb_record("memory", "write 64B", "allocs/write", false, TB_TPIPE,
                      allocs_per_write(64 * 1024, 64, false, 20000 * scale));
            tb_record("memory", "write_ref 64K", "allocs/write", false, TB_TPIPE,
                      allocs_per_write(1024 * 1024, 64 * 1024, true, 2000 * scale));

            before = atomic_load(&live);
            atomic_store(&peak, before);
            tb_chan *c = tb_chan_open(TB_TPIPE, 1024 * 1024);
            tb_bulk_transfer(c, tb_run_seconds(o), tb_run_bytes(o));
            tb_chan_close(c);
            tb_record("memory", "bulk bsize=1M", "peak heap KiB", false, TB_TPIPE,
                      (double)(atomic_load(&peak) - before) / 1024.0);
            if (atomic_load(&live) != before)
                fprintf(stderr, "tpbench: warning: %ld bytes still allocated by tpipe\n",
                        atomic_load(&live) - before);
            tp_set_allocator(NULL);
        }
        if (tb_selected(o, TB_NAIVE)) {
            naive_ring *r = naive_ring_new(TP_DEFAULT_BSIZE);
            if (!r)
                tb_die("naive_ring_new");
            tb_record("memory", "idle pipe", "bytes", false, TB_NAIVE,
                      (double)naive_ring_footprint(r));
            naive_ring_free(r);
        }

        tb_progress(o, "memory", "peak RSS", TB_NTRANSPORTS, run);
        long idle = rss_probe(o, "none");
        for (int t = 0; t < TB_NTRANSPORTS; t++) {
            if (!tb_selected(o, t))
                continue;
            tb_progress(o, "memory", "peak RSS", t, run);
            long kib = rss_probe(o, tb_transport_name(t));
            if (kib < 0 || idle < 0) {
                fprintf(stderr, "tpbench: RSS probe for %s failed\n", tb_transport_name(t));
                continue;
            }
            tb_record("memory", "bulk bsize=1M", "peak RSS KiB", false, t, (double)kib);
            tb_record("memory", "bulk bsize=1M", "RSS growth KiB", false, t, (double)(kib - idle));
        }
    }
}
