/* size.c - parsing sizes given on the command line ("64M", "1.5GiB") and
 * formatting byte counts and durations for people. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* Suffix table: a bare letter and the "iB" forms are binary (what mbuffer,
 * pv and dd users expect from -m 64M); "kB"/"MB"/... are decimal. */
static const struct {
    const char *suffix;
    double mult;
} suffixes[] = {
    {"", 1.0},
    {"b", 1.0},
    {"k", 1024.0},
    {"kib", 1024.0},
    {"kb", 1e3},
    {"m", 1048576.0},
    {"mib", 1048576.0},
    {"mb", 1e6},
    {"g", 1073741824.0},
    {"gib", 1073741824.0},
    {"gb", 1e9},
    {"t", 1099511627776.0},
    {"tib", 1099511627776.0},
    {"tb", 1e12},
};

int tpc_parse_size(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (strcasecmp(end, suffixes[i].suffix) == 0) {
            double bytes = v * suffixes[i].mult;
            /* 2^63: far beyond anything a buffer or a stream can be. */
            if (bytes >= 9.2e18)
                return -1;
            *out = (uint64_t)(bytes + 0.5);
            return 0;
        }
    }
    return -1;
}

void tpc_format_size(char *buf, size_t n, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    while (bytes >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        bytes /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f %s", bytes, units[u]);
    else
        snprintf(buf, n, "%.2f %s", bytes, units[u]);
}

void tpc_format_duration(char *buf, size_t n, double seconds)
{
    if (!(seconds >= 0) || seconds > 359999.0) { /* NaN or > 99:59:59 */
        snprintf(buf, n, "-:--:--");
        return;
    }
    unsigned long s = (unsigned long)(seconds + 0.5);
    snprintf(buf, n, "%lu:%02lu:%02lu", s / 3600, (s / 60) % 60, s % 60);
}
