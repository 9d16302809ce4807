/* report.c - what tpipe shows on stderr: the progress line redrawn in
 * place, its JSON-lines form for scripts, and the final summary. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static double secs(uint64_t ns)
{
    return (double)ns * 1e-9;
}

static uint64_t max_lines(struct tpc_run *run)
{
    uint64_t lines = 0;
    for (int i = 0; i < run->noutputs; i++) {
        uint64_t l = atomic_load(&run->outputs[i].lines);
        if (l > lines)
            lines = l;
    }
    return lines;
}

/* Writes s as a JSON string (output names are arbitrary paths). */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

static void json_outputs(FILE *f, struct tpc_run *run, bool final)
{
    fputs("\"outputs\":[", f);
    for (int i = 0; i < run->noutputs; i++) {
        struct tpc_output *out = &run->outputs[i];
        bool failed = atomic_load(&out->failed);
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_string(f, out->name);
        fprintf(f, ",\"bytes\":%llu,\"failed\":%s", (unsigned long long)atomic_load(&out->bytes),
                failed ? "true" : "false");
        if (final)
            fprintf(f, ",\"wait\":%.3f", secs(atomic_load(&out->wait_ns)));
        if (failed) {
            fputs(",\"error\":", f);
            json_string(f, strerror(out->error));
        }
        fputc('}', f);
    }
    fputc(']', f);
}

void tpc_report_break(struct tpc_report *rep)
{
    if (rep->drawn) {
        fputc('\n', stderr);
        rep->drawn = false;
    }
}

void tpc_report_tick(struct tpc_run *run, struct tpc_report *rep)
{
    const struct tpc_options *o = run->opt;
    uint64_t now = tpc_now_ns();
    uint64_t bytes = atomic_load(&run->bytes_in);
    uint64_t fill = tpc_fill(run);
    uint64_t peak = atomic_load(&run->peak_fill);
    while (fill > peak && !atomic_compare_exchange_weak(&run->peak_fill, &peak, fill)) {
    }
    double elapsed = secs(now - run->start_ns);
    double dt = secs(now - rep->last_ns);
    double rate = dt > 0 ? (double)(bytes - rep->last_bytes) / dt : 0;
    double avg = elapsed > 0 ? (double)bytes / elapsed : 0;
    rep->last_ns = now;
    rep->last_bytes = bytes;
    if (!rep->show)
        return;
    double fill_frac = (double)fill / (double)o->buffer_size;
    bool sized = run->size_total > 0;
    double eta = -1;
    if (sized && avg > 0)
        eta = bytes >= run->size_total ? 0 : (double)(run->size_total - bytes) / avg;

    if (o->json) {
        fprintf(stderr,
                "{\"type\":\"progress\",\"elapsed\":%.3f,\"bytes\":%llu,\"rate\":%.0f,"
                "\"avg_rate\":%.0f,\"fill\":%.4f,\"fill_bytes\":%llu,\"buffer\":%llu,",
                elapsed, (unsigned long long)bytes, rate, avg, fill_frac, (unsigned long long)fill,
                (unsigned long long)o->buffer_size);
        if (sized)
            fprintf(stderr, "\"size\":%llu,\"percent\":%.2f,\"eta\":%.1f,",
                    (unsigned long long)run->size_total,
                    100.0 * (double)bytes / (double)run->size_total, eta);
        else
            fputs("\"size\":null,\"percent\":null,\"eta\":null,", stderr);
        if (o->lines)
            fprintf(stderr, "\"lines\":%llu,", (unsigned long long)max_lines(run));
        json_outputs(stderr, run, false);
        fputs("}\n", stderr);
        fflush(stderr);
        return;
    }

    char sz[32], rt[32], el[32], line[256];
    tpc_format_size(sz, sizeof sz, (double)bytes);
    tpc_format_size(rt, sizeof rt, rate);
    tpc_format_duration(el, sizeof el, elapsed);
    int len = snprintf(line, sizeof line, "%11s %s [%11s/s] buf %3.0f%%", sz, el, rt,
                       fill_frac > 1 ? 100.0 : 100.0 * fill_frac);
    if (o->lines)
        len += snprintf(line + len, sizeof line - (size_t)len, " %llu lines",
                        (unsigned long long)max_lines(run));
    if (sized) {
        char et[32];
        tpc_format_duration(et, sizeof et, eta);
        double pct = 100.0 * (double)bytes / (double)run->size_total;
        len += snprintf(line + len, sizeof line - (size_t)len, " %3.0f%% ETA %s",
                        pct > 100 ? 100.0 : pct, et);
    }
    /* \r and trailing blanks redraw the line in place; on a terminal the
     * blanks erase what a longer previous line left. */
    fprintf(stderr, "\r%s   ", line);
    fflush(stderr);
    rep->drawn = true;
}

void tpc_report_summary(struct tpc_run *run, struct tpc_report *rep, int status)
{
    const struct tpc_options *o = run->opt;
    double elapsed = secs(tpc_now_ns() - run->start_ns);
    uint64_t bytes = atomic_load(&run->bytes_in);
    uint64_t peak = atomic_load(&run->peak_fill);
    double avg = elapsed > 0 ? (double)bytes / elapsed : 0;
    uint64_t out_wait = 0;
    for (int i = 0; i < run->noutputs; i++) {
        uint64_t w = atomic_load(&run->outputs[i].wait_ns);
        if (w > out_wait)
            out_wait = w;
    }
    if (o->json) {
        fprintf(stderr,
                "{\"type\":\"summary\",\"status\":%d,\"elapsed\":%.3f,\"bytes\":%llu,"
                "\"rate\":%.0f,\"peak_fill\":%llu,\"buffer\":%llu,\"input_wait\":%.3f,"
                "\"output_wait\":%.3f,\"read_error\":%s,\"zero_copy\":%s,",
                status, elapsed, (unsigned long long)bytes, avg, (unsigned long long)peak,
                (unsigned long long)o->buffer_size, secs(atomic_load(&run->in_wait_ns)),
                secs(out_wait), atomic_load(&run->read_error) ? "true" : "false",
                atomic_load(&run->zero_copy_used) ? "true" : "false");
        if (o->lines)
            fprintf(stderr, "\"lines\":%llu,", (unsigned long long)max_lines(run));
        json_outputs(stderr, run, true);
        fputs("}\n", stderr);
        return;
    }
    tpc_report_break(rep);
    char sz[32], rt[32], bf[32];
    tpc_format_size(sz, sizeof sz, (double)bytes);
    tpc_format_size(rt, sizeof rt, avg);
    tpc_format_size(bf, sizeof bf, (double)o->buffer_size);
    double peak_pct = 100.0 * (double)peak / (double)o->buffer_size;
    /* Two short lines rather than one that wraps on a terminal. The peak
     * may pass -m by up to a block (write_ref takes a whole block once
     * there is room); the percentage says "full" then. */
    fprintf(stderr, "tpipe: %s in %.2f s (%s/s); buffer %s, peak fill %.0f%%", sz, elapsed, rt, bf,
            peak_pct > 100 ? 100.0 : peak_pct);
    if (o->lines)
        fprintf(stderr, "; %llu lines", (unsigned long long)max_lines(run));
    fprintf(stderr, "\ntpipe: input waited %.2f s for room, output waited %.2f s for data\n",
            secs(atomic_load(&run->in_wait_ns)), secs(out_wait));
    if (run->noutputs > 1) {
        for (int i = 0; i < run->noutputs; i++) {
            struct tpc_output *out = &run->outputs[i];
            tpc_format_size(sz, sizeof sz, (double)atomic_load(&out->bytes));
            fprintf(stderr, "tpipe:   output %s: %s written, waited %.2f s%s%s\n", out->name, sz,
                    secs(atomic_load(&out->wait_ns)), atomic_load(&out->failed) ? ", failed: " : "",
                    atomic_load(&out->failed) ? strerror(out->error) : "");
        }
    }
}
