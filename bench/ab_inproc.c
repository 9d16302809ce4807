/* ab_inproc.c - tpab: compares two builds of libtpipe on one workload
 * inside one process, alternating short runs of each.
 *
 * On a shared VM the machine's speed can change several times a second
 * (see "The machine's own limits" in docs/benchmarks.md), so two builds
 * timed one after the other, even in alternating processes (bench/ab.sh),
 * often see different machines. tpab loads both builds with dlopen (each
 * copy keeps its own globals), and runs them in turns of a few tens of
 * milliseconds, swapping which goes first every round. Each round's ratio
 * B/A then compares two runs a few milliseconds apart; its median and
 * quartiles over many rounds say whether B wins, and by how much.
 *
 * usage: tpab [--workload=W] [--rounds=N] [--seconds=S] [--views=N] LIB_A LIB_B
 *   --workload=W  zerocopy (default): 64 KiB write_ref hand-offs into a
 *                 1 MiB pipe, read as views;
 *                 small: 64-byte writes into a 64 KiB pipe, read 64 KiB
 *                 at a time with tp_pipe_read;
 *                 lines: 80-byte CRLF lines written 819 at a time into a
 *                 64 KiB pipe, read one by one with tp_pipe_readmatch;
 *                 pingpong: one byte written to a pipe, echoed back
 *                 through a second pipe by another thread, and awaited;
 *                 tpbench's workloads of those names, one writer each;
 *                 bursts: small's writes in bursts of 16384, with a pause
 *                 after each long enough for the reader to fall asleep,
 *                 as a stream with idle gaps has; the rate counts the
 *                 time inside the bursts only.
 *   --views=N     zerocopy: the reader takes up to N views per
 *                 tp_pipe_read_views call and gives them back with
 *                 tp_views_release (default 16); 0 reads with
 *                 tp_pipe_read_view, one view per call. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "floor.h"
#include "tpipe.h"

#define BUF_SIZE 65536 /* one hand-off; a copy reader's buffer; small and lines' pipe */
#define MAX_VIEWS 64
#define PIPE_SIZE (IN_FLIGHT * BUF_SIZE)   /* zerocopy's pipe */
#define MSG_SIZE 64                        /* small: one message */
#define LINE_SIZE 80                       /* lines: one line, CRLF included */
#define BLOCK_LINES (BUF_SIZE / LINE_SIZE) /* lines: whole lines per write */
#define BURST_MSGS 16384                   /* bursts: messages in one */
/* bursts: the pause after each, past the longest spin of a waiting
 * reader (100 us, TP__SPIN_MAX_NS in pipe_wait.c) */
#define BURST_GAP_NS 300000

enum workload { ZEROCOPY, SMALL, LINES, PINGPONG, BURSTS };
static const char *const workload_names[] = {"zerocopy", "small", "lines", "pingpong", "bursts"};
/* What a workload's rate counts. */
static const char *const unit_names[] = {"M hand-offs/s", "M msg/s", "M lines/s", "M round trips/s",
                                         "M msg/s in bursts"};

/* The calls the workload makes, from one build. */
typedef struct build {
    const char *path;
    tp_pipe *(*pipe_new)(size_t, bool, bool, double, const char *);
    ssize_t (*write_ref)(tp_pipe *, const void *, size_t, tp_release_fn, void *);
    int (*write_eof)(tp_pipe *);
    ssize_t (*read_view)(tp_pipe *, size_t, const void **, tp_view **);
    int (*read_views)(tp_pipe *, size_t, struct iovec *, tp_view **, int);
    void (*view_release)(tp_view *);
    void (*views_release)(tp_view **, int);
    ssize_t (*write)(tp_pipe *, const void *, size_t);
    ssize_t (*read)(tp_pipe *, void *, size_t);
    ssize_t (*readmatch)(tp_pipe *, const void *, size_t, void **);
    void (*free_line)(void *);
    void (*pipe_free)(tp_pipe *);
} build;

/* The zero-copy writer's pool: tpbench's and tpfloor's (see floor.h). */
static unsigned char buffers[BUFFERS][BUF_SIZE];
static pooled slots[BUFFERS];
/* What the lines writer writes: BLOCK_LINES lines of 78 letters and CRLF. */
static unsigned char lines_block[BLOCK_LINES * LINE_SIZE];

/* One run. */
typedef struct run {
    const build *b;
    enum workload wl;
    int views; /* zerocopy: views per read call, 0 for read_view */
    tp_pipe *p;
    tp_pipe *back; /* pingpong: the echo's way back */
    double busy;   /* bursts: the writer's seconds inside them */
    long bursts;   /* bursts: how many it wrote */
    _Alignas(LINE) atomic_bool stop;
} run;

static void die(const char *what)
{
    fprintf(stderr, "tpab: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Sets the function pointer at fp to the build's symbol `name` (NULL if
 * it has none and it is optional). A memcpy, as POSIX's dlsym page does
 * with a cast through void **: ISO C converts no void * to a function
 * pointer, while POSIX promises that the two have one representation. */
static void bind(void *lib, const char *path, const char *name, void *fp, bool required)
{
    void *f = dlsym(lib, name);
    if (f == NULL && required) {
        fprintf(stderr, "tpab: %s has no %s\n", path, name);
        exit(1);
    }
    memcpy(fp, &f, sizeof f);
}

static void load(build *b, const char *path)
{
    /* RTLD_LOCAL: each build keeps its own symbols and globals. */
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "tpab: %s\n", dlerror());
        exit(1);
    }
    b->path = path;
    bind(lib, path, "tp_pipe_new", &b->pipe_new, true);
    bind(lib, path, "tp_pipe_write_ref", &b->write_ref, true);
    bind(lib, path, "tp_pipe_write_eof", &b->write_eof, true);
    bind(lib, path, "tp_pipe_read_view", &b->read_view, true);
    bind(lib, path, "tp_view_release", &b->view_release, true);
    bind(lib, path, "tp_pipe_write", &b->write, true);
    bind(lib, path, "tp_pipe_read", &b->read, true);
    bind(lib, path, "tp_pipe_readmatch", &b->readmatch, true);
    bind(lib, path, "tp_free", &b->free_line, true);
    bind(lib, path, "tp_pipe_free", &b->pipe_free, true);
    /* Older builds lack these; --views=0 does without them. */
    bind(lib, path, "tp_pipe_read_views", &b->read_views, false);
    bind(lib, path, "tp_views_release", &b->views_release, false);
}

/* Writes all of buf (a blocking write may take part of it). */
static void write_all(const build *b, tp_pipe *p, const unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = b->write(p, buf, n);
        if (k <= 0)
            die("tp_pipe_write");
        buf += k;
        n -= (size_t)k;
    }
}

/* Writes the workload's data until told to stop, then EOF. */
static void *writer_main(void *arg)
{
    run *r = arg;
    for (long i = 0; !atomic_load_explicit(&r->stop, memory_order_relaxed); i++) {
        if (r->wl == SMALL) {
            write_all(r->b, r->p, buffers[0], MSG_SIZE);
        } else if (r->wl == BURSTS) {
            double t0 = tf_now();
            for (int k = 0; k < BURST_MSGS; k++)
                write_all(r->b, r->p, buffers[0], MSG_SIZE);
            r->busy += tf_now() - t0;
            r->bursts++;
            struct timespec gap = {0, BURST_GAP_NS};
            nanosleep(&gap, NULL);
        } else if (r->wl == LINES) {
            write_all(r->b, r->p, lines_block, sizeof lines_block);
        } else {
            pooled *s = tf_take_buffer(slots, i);
            if (r->b->write_ref(r->p, buffers[i % BUFFERS], BUF_SIZE, tf_release_pooled, s) !=
                BUF_SIZE)
                die("tp_pipe_write_ref");
        }
    }
    r->b->write_eof(r->p);
    return NULL;
}

/* Pingpong's echo: sends every byte back until EOF. */
static void *echo_main(void *arg)
{
    run *r = arg;
    unsigned char byte;
    ssize_t n;
    while ((n = r->b->read(r->p, &byte, 1)) == 1)
        write_all(r->b, r->back, &byte, 1);
    if (n < 0)
        die("echo: tp_pipe_read");
    return NULL;
}

/* Round trips through one build for about `seconds`: M per second. */
static double measure_pingpong(const build *b, double seconds)
{
    run r = {.b = b, .wl = PINGPONG};
    r.p = b->pipe_new(BUF_SIZE, true, true, TP_FOREVER, "tpab");
    r.back = b->pipe_new(BUF_SIZE, true, true, TP_FOREVER, "tpab-back");
    if (r.p == NULL || r.back == NULL)
        die("tp_pipe_new");
    pthread_t echo;
    tf_run_thread(&echo, echo_main, &r);
    double t0 = tf_now(), elapsed;
    long trips = 0;
    for (;; trips++) {
        unsigned char out = (unsigned char)trips, in;
        write_all(b, r.p, &out, 1);
        if (b->read(r.back, &in, 1) != 1 || in != out)
            die("pingpong: echo");
        if (trips % 256 == 0 && (elapsed = tf_now() - t0) >= seconds)
            break;
    }
    b->write_eof(r.p);
    pthread_join(echo, NULL);
    b->pipe_free(r.p);
    b->pipe_free(r.back);
    return (double)trips / elapsed / 1e6;
}

/* One zero-copy read call: the views it took, given back. Returns how
 * many. */
static long read_views_once(const build *b, tp_pipe *p, int views)
{
    tp_view *v[MAX_VIEWS];
    if (views == 0) {
        const void *data;
        ssize_t n = b->read_view(p, BUF_SIZE, &data, &v[0]);
        if (n > 0)
            b->view_release(v[0]);
        return n > 0 ? 1 : (long)n;
    }
    struct iovec iov[MAX_VIEWS];
    int n = b->read_views(p, (size_t)views * BUF_SIZE, iov, v, views);
    if (n > 0)
        b->views_release(v, n);
    return n;
}

/* One read call of the run's workload. Returns what it read: hand-offs,
 * bytes (small) or lines; 0 at EOF, -1 on an error. */
static long read_once(const run *r)
{
    static unsigned char rbuf[BUF_SIZE];
    if (r->wl == SMALL || r->wl == BURSTS)
        return (long)r->b->read(r->p, rbuf, sizeof rbuf);
    if (r->wl == LINES) {
        void *line;
        ssize_t n = r->b->readmatch(r->p, NULL, 0, &line);
        if (n <= 0)
            return (long)n;
        r->b->free_line(line);
        return 1;
    }
    return read_views_once(r->b, r->p, r->views);
}

/* The workload's rate through one build for about `seconds`, in its
 * unit (unit_names). */
static double measure(const build *b, enum workload wl, int views, double seconds)
{
    if (wl == PINGPONG)
        return measure_pingpong(b, seconds);
    run r = {.b = b, .wl = wl, .views = views};
    r.p = b->pipe_new(wl == ZEROCOPY ? PIPE_SIZE : BUF_SIZE, true, true, TP_FOREVER, "tpab");
    if (r.p == NULL)
        die("tp_pipe_new");
    atomic_init(&r.stop, false);
    pthread_t w;
    tf_run_thread(&w, writer_main, &r);
    double t0 = tf_now();
    long got = 0, n;
    for (long calls = 1; (n = read_once(&r)) > 0; calls++) {
        got += n;
        if (calls % 256 == 0 && tf_now() - t0 >= seconds) /* the clock, now and then */
            atomic_store_explicit(&r.stop, true, memory_order_relaxed);
    }
    if (n < 0)
        die("read");
    double elapsed = tf_now() - t0;
    pthread_join(w, NULL);
    b->pipe_free(r.p);
    if (wl == BURSTS)
        return r.busy > 0 ? (double)r.bursts * BURST_MSGS / r.busy / 1e6 : 0;
    double units = wl == SMALL ? (double)got / MSG_SIZE : (double)got;
    return units / elapsed / 1e6;
}

static int by_value(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The q-quantile (0..1) of v, which it sorts. */
static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[(int)(q * (n - 1) + 0.5)];
}

static void usage(void)
{
    fputs("usage: tpab [--workload=zerocopy|small|lines|pingpong|bursts] [--rounds=N]\n"
          "            [--seconds=S] [--views=N] LIB_A LIB_B\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    int rounds = 40, views = 16;
    enum workload wl = ZEROCOPY;
    double seconds = 0.03;
    const char *paths[2];
    int npaths = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--workload=small") == 0)
            wl = SMALL;
        else if (strcmp(argv[i], "--workload=lines") == 0)
            wl = LINES;
        else if (strcmp(argv[i], "--workload=pingpong") == 0)
            wl = PINGPONG;
        else if (strcmp(argv[i], "--workload=bursts") == 0)
            wl = BURSTS;
        else if (strcmp(argv[i], "--workload=zerocopy") == 0)
            wl = ZEROCOPY;
        else if (strncmp(argv[i], "--rounds=", 9) == 0)
            rounds = atoi(argv[i] + 9);
        else if (strncmp(argv[i], "--seconds=", 10) == 0)
            seconds = atof(argv[i] + 10);
        else if (strncmp(argv[i], "--views=", 8) == 0)
            views = atoi(argv[i] + 8);
        else if (argv[i][0] != '-' && npaths < 2)
            paths[npaths++] = argv[i];
        else
            usage();
    }
    if (npaths != 2 || rounds < 1 || rounds > 100000 || !(seconds > 0) || views < 0 ||
        views > MAX_VIEWS)
        usage();
    build b[2];
    for (int i = 0; i < 2; i++) {
        load(&b[i], paths[i]);
        if (wl == ZEROCOPY && views > 0 &&
            (b[i].read_views == NULL || b[i].views_release == NULL)) {
            fprintf(stderr, "tpab: %s has no tp_pipe_read_views: use --views=0\n", paths[i]);
            return 1;
        }
    }
    double *rate[2], *ratio = malloc(sizeof(double) * (size_t)rounds);
    for (int i = 0; i < 2; i++)
        rate[i] = malloc(sizeof(double) * (size_t)rounds);
    if (ratio == NULL || rate[0] == NULL || rate[1] == NULL)
        die("malloc");
    for (size_t i = 0; i < sizeof lines_block; i++)
        lines_block[i] = i % LINE_SIZE == LINE_SIZE - 2   ? '\r'
                         : i % LINE_SIZE == LINE_SIZE - 1 ? '\n'
                                                          : (unsigned char)('a' + i % 26);
    for (int k = 0; k < rounds; k++) {
        int first = k % 2; /* neither build always runs first */
        for (int j = 0; j < 2; j++)
            rate[first ^ j][k] = measure(&b[first ^ j], wl, views, seconds);
        ratio[k] = rate[1][k] / rate[0][k];
    }
    printf("%s, %d rounds of %.3f s each%s:\n", workload_names[wl], rounds, seconds,
           wl != ZEROCOPY ? ""
           : views        ? ", read_views"
                          : ", read_view");
    for (int i = 0; i < 2; i++)
        printf("  %c %s: median %.2f %s (quartiles %.2f-%.2f)\n", 'A' + i, paths[i],
               quantile(rate[i], rounds, 0.5), unit_names[wl], quantile(rate[i], rounds, 0.25),
               quantile(rate[i], rounds, 0.75));
    printf("  B/A per round: median %.3f (quartiles %.3f-%.3f)\n", quantile(ratio, rounds, 0.5),
           quantile(ratio, rounds, 0.25), quantile(ratio, rounds, 0.75));
    for (int i = 0; i < 2; i++)
        free(rate[i]);
    free(ratio);
    return 0;
}
