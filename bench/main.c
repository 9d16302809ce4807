/* main.c - tpbench's command line: options, the order workloads run in,
 * the progress line, and the final table, targets, CSV and chart data. */
#include "tpbench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
    const char *name;
    void (*run)(const tb_options *o);
    const char *what;
} workloads[TB_NWORKLOADS] = {
    [TB_W_BULK] = {"bulk", tb_wl_bulk, "64 KiB writes/reads, bsize 64K and 1M: GB/s"},
    [TB_W_ZEROCOPY] = {"zerocopy", tb_wl_zerocopy,
                       "64 KiB write_ref + read_views (and read_view): GB/s, hand-offs/s"},
    [TB_W_SMALL] = {"small", tb_wl_small, "16 B and 64 B writes, 64 KiB reads: messages/s"},
    [TB_W_PINGPONG] = {"pingpong", tb_wl_pingpong, "1-byte round trip over two channels: us"},
    [TB_W_IDLE] = {"idle", tb_wl_idle, "CPU of a reader blocked with nothing arriving"},
    [TB_W_LINES] = {"lines", tb_wl_lines, "80 B CRLF lines: readmatch, and split by hand"},
    [TB_W_CONTENTION] = {"contention", tb_wl_contention, "1/2/4/8 writers of 64 B, one reader"},
    [TB_W_MEMORY] = {"memory", tb_wl_memory, "idle pipe bytes, allocs/write, peak RSS"},
};

static double started;

double tb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double tb_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tb_die(const char *what)
{
    fprintf(stderr, "\ntpbench: %s: %s\n", what, strerror(errno));
    exit(2);
}

bool tb_selected(const tb_options *o, enum tb_transport t)
{
    return (o->transports >> t) & 1u;
}

double tb_run_seconds(const tb_options *o)
{
    return o->duration;
}

uint64_t tb_run_bytes(const tb_options *o)
{
    return o->bytes;
}

void tb_progress(const tb_options *o, const char *workload, const char *variant,
                 enum tb_transport t, int run)
{
    static char last[64];
    if (o->quiet)
        return;
    const char *tn = t < TB_NTRANSPORTS ? tb_transport_name(t) : "";
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r\033[K[%6.1f s] %s %s: %s, run %d/%d", tb_now() - started, workload,
                variant, tn, run, o->runs);
        fflush(stderr);
        return;
    }
    /* Not a terminal (CI logs): one line per case is enough. */
    char now[64];
    snprintf(now, sizeof now, "%s %s", workload, variant);
    if (strcmp(now, last) != 0) {
        fprintf(stderr, "[%6.1f s] %s\n", tb_now() - started, now);
        snprintf(last, sizeof last, "%s", now);
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: tpbench [options]\n"
                 "Measures tpipe against kernel pipes, socketpair and a naive ring buffer.\n\n"
                 "  --workload=LIST   comma-separated workloads, or 'all' (default):\n");
    for (int w = 0; w < TB_NWORKLOADS; w++)
        fprintf(out, "                      %-11s %s\n", workloads[w].name, workloads[w].what);
    fprintf(out,
            "  --transport=LIST  comma-separated transports (default all): tpipe, pipe,\n"
            "                    pipe-1M, socketpair, naive\n"
            "  --runs=N          runs per figure; median, min and max are shown (default 5)\n"
            "  --duration=SEC    seconds per run (default 0.5)\n"
            "  --bytes=N[KMG]    bytes per run instead of a duration (throughput workloads)\n"
            "  --bsize=N[KM]     tpipe bsize and naive ring size for small, lines, contention,\n"
            "                    pingpong, idle (default 64K; bulk always runs 64K and 1M)\n"
            "  --idle=SEC        how long the idle reader stays blocked (default 1)\n"
            "  --quick           CI smoke: 1 run, 0.02 s per run, 0.05 s idle\n"
            "  --csv=FILE        write every figure as CSV\n"
            "  --chart=FILE      write the data bench/chart.gp plots\n"
            "  --verify          readers check every byte received (slower; exit 3 on a\n"
            "                    difference)\n"
            "  --quiet           no progress line on stderr\n"
            "  --help            this text\n");
}

/* Parses "123", "64K", "1M", "2G" (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return false;
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    *out = v;
    return *end == '\0';
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0) || v > 3600)
        return false;
    *out = v;
    return true;
}

/* Sets the bits of the names in a comma-separated list; false on a name
 * that is not in names[]. */
static bool parse_list(const char *list, const char *const *names, int n, unsigned *bits)
{
    if (strcmp(list, "all") == 0) {
        *bits = (1u << n) - 1;
        return true;
    }
    *bits = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int i = 0;
        while (i < n && !(strlen(names[i]) == len && strncmp(names[i], p, len) == 0))
            i++;
        if (i == n) {
            fprintf(stderr, "tpbench: unknown name '%.*s'\n", (int)len, p);
            return false;
        }
        *bits |= 1u << i;
        p += len + (p[len] == ',');
    }
    return *bits != 0;
}

/* Matches "--name=value" and returns value, or NULL. */
static const char *opt_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int main(int argc, char **argv)
{
    tb_options o = {
        .workloads = (1u << TB_NWORKLOADS) - 1,
        .transports = (1u << TB_NTRANSPORTS) - 1,
        .runs = 5,
        .duration = 0.5,
        .bsize = 64 * 1024,
        .idle = 1.0,
        .self = argv[0],
    };
    bool set_runs = false, set_duration = false, set_idle = false;
    const char *probe = NULL;
    const char *wnames[TB_NWORKLOADS], *tnames[TB_NTRANSPORTS];
    for (int w = 0; w < TB_NWORKLOADS; w++)
        wnames[w] = workloads[w].name;
    for (int t = 0; t < TB_NTRANSPORTS; t++)
        tnames[t] = tb_transport_name(t);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        uint64_t n;
        bool ok = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--quick") == 0) {
            o.quick = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(a, "--verify") == 0) {
            o.verify = true;
        } else if ((v = opt_value(a, "--workload"))) {
            ok = parse_list(v, wnames, TB_NWORKLOADS, &o.workloads);
        } else if ((v = opt_value(a, "--transport"))) {
            ok = parse_list(v, tnames, TB_NTRANSPORTS, &o.transports);
        } else if ((v = opt_value(a, "--runs"))) {
            ok = parse_size(v, &n) && n >= 1 && n <= TB_MAX_RUNS;
            o.runs = (int)n;
            set_runs = true;
        } else if ((v = opt_value(a, "--duration"))) {
            ok = parse_seconds(v, &o.duration);
            set_duration = true;
        } else if ((v = opt_value(a, "--idle"))) {
            ok = parse_seconds(v, &o.idle);
            set_idle = true;
        } else if ((v = opt_value(a, "--bytes"))) {
            ok = parse_size(v, &o.bytes) && o.bytes > 0;
        } else if ((v = opt_value(a, "--bsize"))) {
            ok = parse_size(v, &n) && n >= 64 && n <= (1u << 30);
            o.bsize = (size_t)n;
        } else if ((v = opt_value(a, "--csv"))) {
            o.csv = v;
        } else if ((v = opt_value(a, "--chart"))) {
            o.chart = v;
        } else if ((v = opt_value(a, "--rss-probe"))) {
            probe = v; /* internal: the child side of the memory workload */
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "tpbench: bad option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (probe)
        return tb_rss_probe_child(probe, o.duration);
    /* Our own path, for the RSS probe: readlink rather than exec-ing
     * /proc/self/exe, which under valgrind is valgrind itself. */
    static char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = '\0';
        o.self = self;
    }
    if (o.quick) {
        if (!set_runs)
            o.runs = 1;
        if (!set_duration)
            o.duration = 0.02;
        if (!set_idle)
            o.idle = 0.05;
    }

    started = tb_now();
    tb_report_machine(stdout);
    printf("# options: runs=%d, %s", o.runs, o.bytes ? "" : "duration=");
    if (o.bytes)
        printf("bytes=%llu", (unsigned long long)o.bytes);
    else
        printf("%g s", o.duration);
    printf(", bsize=%zu, idle=%g s\n", o.bsize, o.idle);
    fflush(stdout);

    for (int w = 0; w < TB_NWORKLOADS; w++)
        if ((o.workloads >> w) & 1u)
            workloads[w].run(&o);
    if (!o.quiet) {
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "[%6.1f s] done\n", tb_now() - started);
    }

    tb_report_table(stdout, &o);
    tb_report_targets(stdout);
    printf("\n");
    tb_report_machine(stdout); /* again: the load average at the end tells how noisy it was */
    int rc = 0;
    if (o.csv && tb_report_csv(o.csv) != 0) {
        fprintf(stderr, "tpbench: cannot write %s: %s\n", o.csv, strerror(errno));
        rc = 1;
    }
    if (o.chart && tb_report_chart(o.chart) != 0) {
        fprintf(stderr, "tpbench: cannot write %s: %s\n", o.chart, strerror(errno));
        rc = 1;
    }
    return rc;
}
