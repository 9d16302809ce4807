/* deadline.c - timeouts as one absolute CLOCK_MONOTONIC deadline computed at
 * entry, so spurious wake-ups and wall-clock steps neither stretch nor cut
 * a wait. */
#include "internal.h"

#include <errno.h>

/* Beyond this many seconds (about 31,700 years) a timeout is forever; it
 * also keeps the conversion to time_t far from overflow. */
#define TP__TIMEOUT_FOREVER_AFTER 1e12

int tp__deadline_set(tp__deadline *d, double timeout)
{
    if (timeout != timeout) /* NaN */
        return EINVAL;
    if (timeout < 0 || timeout > TP__TIMEOUT_FOREVER_AFTER) {
        d->kind = TP__DL_FOREVER;
        return 0;
    }
    if (timeout == 0) {
        d->kind = TP__DL_NOW;
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* timeout is positive and bounded, so truncation is a floor. */
    time_t whole = (time_t)timeout;
    long nsec = (long)((timeout - (double)whole) * 1e9);
    d->kind = TP__DL_AT;
    d->at.tv_sec = now.tv_sec + whole;
    d->at.tv_nsec = now.tv_nsec + nsec;
    if (d->at.tv_nsec >= 1000000000L) {
        d->at.tv_sec += 1;
        d->at.tv_nsec -= 1000000000L;
    }
    return 0;
}

int tp__cond_init(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

int tp__cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const tp__deadline *d)
{
    switch (d->kind) {
    case TP__DL_FOREVER:
        pthread_cond_wait(c, m);
        return 0;
    case TP__DL_NOW:
        return ETIMEDOUT;
    case TP__DL_AT:
    default:
        return pthread_cond_timedwait(c, m, &d->at) == ETIMEDOUT ? ETIMEDOUT : 0;
    }
}
