/* time.c - monotonic clocks: the precise one for waits and spins, a coarse
 * one (a few ms resolution, cheaper) for statistics on hot paths. */
#include "internal.h"

static double to_secs(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

double tp__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return to_secs(&ts);
}

uint64_t tp__now_coarse_ns(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    /* No floating point here: a division per call showed in profiles. */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
