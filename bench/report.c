/* report.c - collects every run's figures and presents them: the table on
 * stdout, the targets of issue 4, CSV, and the data file the chart plots. */
#include "tpbench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* One figure: every run's value for (workload, variant, metric, transport). */
typedef struct figure {
    char workload[24];
    char variant[32];
    char metric[24];
    bool higher_better;
    enum tb_transport t;
    int n;
    double v[TB_MAX_RUNS];
} figure;

/* Only the main thread records and reports, so no lock. */
static figure *figs;
static size_t nfigs, capfigs;

static bool same_group(const figure *f, const char *w, const char *v, const char *m)
{
    return strcmp(f->workload, w) == 0 && strcmp(f->variant, v) == 0 && strcmp(f->metric, m) == 0;
}

static figure *find(const char *w, const char *v, const char *m, enum tb_transport t)
{
    for (size_t i = 0; i < nfigs; i++)
        if (figs[i].t == t && same_group(&figs[i], w, v, m))
            return &figs[i];
    return NULL;
}

void tb_record(const char *workload, const char *variant, const char *metric, bool higher_better,
               enum tb_transport t, double value)
{
    figure *f = find(workload, variant, metric, t);
    if (!f) {
        if (nfigs == capfigs) {
            capfigs = capfigs ? 2 * capfigs : 64;
            figs = realloc(figs, capfigs * sizeof *figs);
            if (!figs)
                tb_die("realloc");
        }
        f = &figs[nfigs++];
        memset(f, 0, sizeof *f);
        snprintf(f->workload, sizeof f->workload, "%s", workload);
        snprintf(f->variant, sizeof f->variant, "%s", variant);
        snprintf(f->metric, sizeof f->metric, "%s", metric);
        f->higher_better = higher_better;
        f->t = t;
    }
    if (f->n < TB_MAX_RUNS)
        f->v[f->n++] = value;
}

static bool median_of(const char *w, const char *v, const char *m, enum tb_transport t, double *out)
{
    const figure *f = find(w, v, m, t);
    if (!f || f->n == 0)
        return false;
    double lo, hi;
    tb_summary(f->v, (size_t)f->n, out, &lo, &hi);
    return true;
}

/* How many times better tpipe is than f (>1: tpipe wins); 0 if unknown. */
static double tpipe_ratio(const figure *f)
{
    double mine, theirs;
    if (f->t == TB_TPIPE || !median_of(f->workload, f->variant, f->metric, TB_TPIPE, &mine) ||
        !median_of(f->workload, f->variant, f->metric, f->t, &theirs))
        return 0.0;
    if (f->higher_better)
        return theirs > 0 ? mine / theirs : 0.0;
    return mine > 0 ? theirs / mine : 0.0;
}

/* Four significant digits without exponents, so columns stay readable. */
static void fmt(char *buf, size_t len, double v)
{
    double a = v < 0 ? -v : v;
    int decimals = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
    snprintf(buf, len, "%.*f", decimals, v);
}

void tb_report_machine(FILE *out)
{
    char model[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    char load[64] = "?";
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fgets(load, sizeof load, f))
            load[strcspn(load, "\n")] = '\0';
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(out, "# tpbench %d.%d.%d, %s\n", TPIPE_VERSION_MAJOR, TPIPE_VERSION_MINOR,
            TPIPE_VERSION_PATCH, when);
    fprintf(out, "# machine: %s, %ld CPUs online, %s %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
            u.sysname, u.release, u.machine);
#ifndef TB_BUILD
#define TB_BUILD "unknown"
#endif
    fprintf(out, "# build: %s, compiler %s; load average now: %s\n", TB_BUILD,
#ifdef __VERSION__
            __VERSION__,
#else
            "unknown",
#endif
            load);
    /* A 1-minute load near the CPU count means other work competes with
     * the two or more threads each measurement keeps busy. */
    double avg = strtod(load, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0 && avg > (double)cpus - 0.5)
        fprintf(out,
                "# WARNING: load average %.1f on %ld CPUs: other processes compete for "
                "the CPUs, figures are noisy\n",
                avg, cpus);
}

void tb_report_table(FILE *out, const tb_options *o)
{
    fprintf(out,
            "\nResults: median of %d run%s, with min and max. \"tpipe vs\" = how many "
            "times better tpipe is (>1: tpipe wins).\n\n",
            o->runs, o->runs == 1 ? "" : "s");
    fprintf(out, "%-11s %-14s %-14s %-11s %10s %10s %10s %9s\n", "workload", "case", "metric",
            "transport", "median", "min", "max", "tpipe vs");
    fprintf(out, "%.*s\n", 95,
            "------------------------------------------------------------"
            "------------------------------------------------------------");
    /* Groups in order of first appearance; transports in enum order. */
    for (size_t i = 0; i < nfigs; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = same_group(&figs[j], figs[i].workload, figs[i].variant, figs[i].metric);
        if (seen)
            continue;
        bool first = true;
        for (int t = 0; t < TB_NTRANSPORTS; t++) {
            const figure *f = find(figs[i].workload, figs[i].variant, figs[i].metric, t);
            if (!f)
                continue;
            double med, lo, hi;
            tb_summary(f->v, (size_t)f->n, &med, &lo, &hi);
            char a[32], b[32], c[32], r[32] = "";
            fmt(a, sizeof a, med);
            fmt(b, sizeof b, lo);
            fmt(c, sizeof c, hi);
            double ratio = tpipe_ratio(f);
            if (ratio > 0)
                snprintf(r, sizeof r, "%.2fx", ratio);
            fprintf(out, "%-11s %-14s %-14s %-11s %10s %10s %10s %9s\n", first ? f->workload : "",
                    first ? f->variant : "", first ? f->metric : "", tb_transport_name(f->t), a, b,
                    c, r);
            first = false;
        }
    }
}

/* The median over runs of tpipe's figure for variant a divided by its
 * figure for variant b in the same run (runs that alternate the two see
 * the same machine; a ratio of medians taken apart may not). */
static bool paired_ratio(const char *w, const char *a, const char *b, const char *m, double *out)
{
    const figure *fa = find(w, a, m, TB_TPIPE), *fb = find(w, b, m, TB_TPIPE);
    if (!fa || !fb)
        return false;
    double r[TB_MAX_RUNS];
    size_t n = 0;
    for (int i = 0; i < fa->n && i < fb->n; i++)
        if (fb->v[i] > 0)
            r[n++] = fa->v[i] / fb->v[i];
    if (n == 0)
        return false;
    double lo, hi;
    tb_summary(r, n, out, &lo, &hi);
    return true;
}

/* One target line: "what", the goal, the measured figure and the verdict. */
static void target(FILE *out, const char *what, const char *goal, bool have, double measured,
                   const char *unit, bool met)
{
    char m[48] = "not run";
    if (have) {
        char v[32];
        fmt(v, sizeof v, measured);
        snprintf(m, sizeof m, "%s%s", v, unit);
    }
    fprintf(out, "%-52s %-10s %-14s %s\n", what, goal, m, !have ? "-" : met ? "MET" : "MISSED");
}

/* tpipe's ratio to baseline b on one figure (higher: tpipe better). */
static bool ratio_of(const char *w, const char *v, const char *m, enum tb_transport b, double *out)
{
    const figure *f = find(w, v, m, b);
    if (!f)
        return false;
    *out = tpipe_ratio(f);
    return *out > 0;
}

void tb_report_targets(FILE *out)
{
    double x;
    bool h;
    fprintf(out, "\nTargets (issue 4); figures are medians, the verdict is informative only.\n\n");
    fprintf(out, "%-52s %-10s %-14s %s\n", "target", "goal", "measured", "verdict");
    fprintf(out, "%.*s\n", 86,
            "------------------------------------------------------------"
            "------------------------------------------------------------");
    const char *bs[] = {"bsize=64K", "bsize=1M"};
    for (int i = 0; i < 2; i++) {
        char what[64];
        snprintf(what, sizeof what, "bulk 64 KiB copy, %s, vs pipe", bs[i]);
        h = ratio_of("bulk", bs[i], "GB/s", TB_PIPE, &x);
        target(out, what, ">= 5x", h, x, "x", x >= 5);
        snprintf(what, sizeof what, "bulk 64 KiB copy, %s, vs socketpair", bs[i]);
        h = ratio_of("bulk", bs[i], "GB/s", TB_SOCKETPAIR, &x);
        target(out, what, ">= 2x", h, x, "x", x >= 2);
    }
    h = median_of("zerocopy", "64K refs", "M hand-offs/s", TB_TPIPE, &x);
    target(out, "zero-copy hand-offs", ">= 5 M/s", h, x, " M/s", x >= 5);
    h = ratio_of("small", "64B", "M msg/s", TB_PIPE, &x);
    target(out, "64-byte messages vs pipe", ">= 10x", h, x, "x", x >= 10);
    h = ratio_of("small", "64B", "M msg/s", TB_NAIVE, &x);
    target(out, "64-byte messages vs naive ring", ">= 2x", h, x, "x", x >= 2);
    h = ratio_of("pingpong", "1B", "median us", TB_PIPE, &x);
    target(out, "ping-pong median, pipe's / tpipe's", ">= 20x", h, x, "x", x >= 20);
    h = median_of("idle", "blocked read", "% of a core", TB_TPIPE, &x);
    target(out, "idle blocked reader CPU", "< 1%", h, x, "%", x < 1);
    h = median_of("lines", "80B CRLF", "GB/s", TB_TPIPE, &x);
    target(out, "readmatch line data", ">= 1 GB/s", h, x, " GB/s", x >= 1);
    h = paired_ratio("contention", "8 writers", "1 writer", "M msg/s", &x);
    target(out, "8 writers / 1 writer (64 B messages)", ">= 0.5", h, x, "", h && x >= 0.5);
    h = median_of("memory", "idle pipe", "bytes", TB_TPIPE, &x);
    target(out, "idle pipe, bytes from tp_pipe_new", "<= 256", h, x, " B", x <= 256);
    h = median_of("memory", "write 64K", "allocs/write", TB_TPIPE, &x);
    target(out, "allocations per 64 KiB write (steady)", "0", h, x, "", x < 0.01);
    h = median_of("memory", "write 64B", "allocs/write", TB_TPIPE, &x);
    target(out, "allocations per 64 B write (steady)", "0", h, x, "", x < 0.01);
}

int tb_report_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "workload,case,metric,higher_is_better,transport,runs,median,min,max,tpipe_ratio\n");
    for (size_t i = 0; i < nfigs; i++) {
        const figure *g = &figs[i];
        double med, lo, hi;
        tb_summary(g->v, (size_t)g->n, &med, &lo, &hi);
        double r = tpipe_ratio(g);
        fprintf(f, "%s,%s,%s,%d,%s,%d,%.6g,%.6g,%.6g,", g->workload, g->variant, g->metric,
                g->higher_better, tb_transport_name(g->t), g->n, med, lo, hi);
        if (r > 0)
            fprintf(f, "%.4g", r);
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The chart shows each throughput/latency case as "times faster than the
 * default kernel pipe" (log scale), one bar per transport. Only the first
 * metric of each case is plotted; memory and idle CPU are left to the table. */
int tb_report_chart(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "case");
    for (int t = 0; t < TB_NTRANSPORTS; t++)
        fprintf(f, " %s", tb_transport_name(t));
    fputc('\n', f);
    for (size_t i = 0; i < nfigs; i++) {
        const figure *g = &figs[i];
        if (strcmp(g->workload, "memory") == 0 || strcmp(g->workload, "idle") == 0)
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(figs[j].workload, g->workload) == 0 &&
                   strcmp(figs[j].variant, g->variant) == 0;
        if (seen)
            continue;
        double base;
        if (!median_of(g->workload, g->variant, g->metric, TB_PIPE, &base) || base <= 0)
            continue;
        fprintf(f, "\"%s %s\"", g->workload, g->variant);
        for (int t = 0; t < TB_NTRANSPORTS; t++) {
            double v;
            if (median_of(g->workload, g->variant, g->metric, t, &v) && v > 0)
                fprintf(f, " %.4g", g->higher_better ? v / base : base / v);
            else
                fprintf(f, " -");
        }
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}
