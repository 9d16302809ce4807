/* workloads_latency.c - ping-pong round trips over two channels, and the
 * CPU a reader burns while blocked with nothing arriving. */
#include "tpbench.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Ping-pong: the main thread sends one byte on `ping` and waits for it on
 * `pong`; the echo thread sends back every byte it gets. */
typedef struct pingpong {
    tb_chan *ping, *pong;
} pingpong;

static void *echo_main(void *arg)
{
    pingpong *pp = arg;
    unsigned char b;
    while (tb_chan_read(pp->ping, &b, 1) == 1)
        if (tb_chan_write(pp->pong, &b, 1) != 0)
            break;
    return NULL;
}

/* Round-trip times of one run, in microseconds (grown as needed). */
typedef struct samples {
    double *v;
    size_t n, cap;
} samples;

static void push(samples *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            tb_die("realloc");
    }
    s->v[s->n++] = x;
}

static void pingpong_once(const tb_options *o, enum tb_transport t, samples *s)
{
    pingpong pp = {tb_chan_open(t, o->bsize), tb_chan_open(t, o->bsize)};
    pthread_t echo;
    if (pthread_create(&echo, NULL, echo_main, &pp) != 0)
        tb_die("pthread_create");
    /* Warm up (first touches, thread start-up) before recording. */
    enum { WARMUP = 200 };
    double seconds = tb_run_seconds(o);
    double end = 0;
    s->n = 0;
    for (long i = 0;; i++) {
        if (i == WARMUP)
            end = tb_now() + seconds;
        unsigned char b = (unsigned char)i;
        double t0 = tb_now();
        if (tb_chan_write(pp.ping, &b, 1) != 0 || tb_chan_read(pp.pong, &b, 1) != 1)
            tb_die("ping-pong");
        if (b != (unsigned char)i) {
            fprintf(stderr, "\ntpbench: %s echoed the wrong byte\n", tb_transport_name(t));
            exit(3);
        }
        double t1 = tb_now();
        if (i >= WARMUP) {
            push(s, (t1 - t0) * 1e6);
            if (t1 >= end)
                break;
        }
    }
    tb_chan_write_eof(pp.ping);
    pthread_join(echo, NULL);
    tb_chan_close(pp.ping);
    tb_chan_close(pp.pong);
}

void tb_wl_pingpong(const tb_options *o)
{
    samples s = {0};
    for (int run = 1; run <= o->runs; run++)
        for (int t = 0; t < TB_NTRANSPORTS; t++) {
            if (!tb_selected(o, t))
                continue;
            tb_progress(o, "pingpong", "1B", t, run);
            pingpong_once(o, t, &s);
            tb_sort(s.v, s.n);
            tb_record("pingpong", "1B", "median us", false, t, tb_quantile(s.v, s.n, 0.5));
            tb_record("pingpong", "1B", "p99 us", false, t, tb_quantile(s.v, s.n, 0.99));
        }
    free(s.v);
}

/* Idle reader: blocks in a read for o->idle seconds until one byte comes;
 * its own CPU time over that wall time is the share of a core it used. */
typedef struct idle_job {
    tb_chan *c;
    pthread_barrier_t start;
    double cpu, wall;
} idle_job;

static void *idle_reader(void *arg)
{
    idle_job *j = arg;
    unsigned char b;
    pthread_barrier_wait(&j->start);
    double c0 = tb_thread_cpu(), w0 = tb_now();
    if (tb_chan_read(j->c, &b, 1) != 1)
        tb_die("idle read");
    j->cpu = tb_thread_cpu() - c0;
    j->wall = tb_now() - w0;
    return NULL;
}

void tb_wl_idle(const tb_options *o)
{
    /* pipe-1M and socketpair sleep in the kernel exactly like pipe does;
     * measuring pipe and the naive ring is enough as a reference. */
    static const enum tb_transport which[] = {TB_TPIPE, TB_PIPE, TB_NAIVE};
    for (int run = 1; run <= o->runs; run++)
        for (size_t k = 0; k < sizeof which / sizeof which[0]; k++) {
            enum tb_transport t = which[k];
            if (!tb_selected(o, t))
                continue;
            tb_progress(o, "idle", "blocked read", t, run);
            idle_job j = {.c = tb_chan_open(t, o->bsize)};
            pthread_t rd;
            if (pthread_barrier_init(&j.start, NULL, 2) != 0)
                tb_die("pthread_barrier_init");
            if (pthread_create(&rd, NULL, idle_reader, &j) != 0)
                tb_die("pthread_create");
            pthread_barrier_wait(&j.start);
            /* The sleep is the measured idle period, not synchronisation:
             * the reader blocks whether or not it started waiting yet. */
            struct timespec ts = {(time_t)o->idle,
                                  (long)((o->idle - (double)(time_t)o->idle) * 1e9)};
            nanosleep(&ts, NULL);
            unsigned char b = 1;
            if (tb_chan_write(j.c, &b, 1) != 0)
                tb_die("idle write");
            pthread_join(rd, NULL);
            pthread_barrier_destroy(&j.start);
            tb_chan_close(j.c);
            tb_record("idle", "blocked read", "% of a core", false, t,
                      j.wall > 0 ? 100.0 * j.cpu / j.wall : 0.0);
        }
}
