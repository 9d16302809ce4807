/* run.c - small services the threads of one run share: the clock, the
 * "something changed" notification used by the watermark waits, and the
 * signal set-up of worker threads. */
#include <signal.h>
#include <time.h>

#include "cli.h"

uint64_t tpc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tpc_notify(struct tpc_run *run)
{
    atomic_fetch_add(&run->gen, 1);
    /* seq_cst on both sides: either the waiter sees the new gen, or we see
     * its waiters++ and take the lock, which it holds until it sleeps. */
    if (atomic_load(&run->waiters) > 0) {
        pthread_mutex_lock(&run->mu);
        pthread_cond_broadcast(&run->cv);
        pthread_mutex_unlock(&run->mu);
    }
}

uint64_t tpc_gen(struct tpc_run *run)
{
    return atomic_load(&run->gen);
}

void tpc_wait_gen(struct tpc_run *run, uint64_t seen, double max_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)(max_s * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec += (long)(ns % 1000000000u);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&run->mu);
    atomic_fetch_add(&run->waiters, 1);
    while (atomic_load(&run->gen) == seen && !atomic_load(&run->abort)) {
        if (pthread_cond_timedwait(&run->cv, &run->mu, &ts) != 0)
            break;
    }
    atomic_fetch_sub(&run->waiters, 1);
    pthread_mutex_unlock(&run->mu);
}

void tpc_wake_main(struct tpc_run *run)
{
    pthread_kill(run->main_thread, SIGUSR2);
}

void tpc_worker_signals(void)
{
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGUSR1);
    /* Faults must stay deliverable (a truncated mapped file raises SIGBUS). */
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGSEGV);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}

uint64_t tpc_fill(struct tpc_run *run)
{
    uint64_t fill = 0;
    for (int i = 0; i < run->noutputs; i++) {
        struct tpc_output *out = &run->outputs[i];
        if (atomic_load(&out->failed) || atomic_load(&out->done))
            continue;
        uint64_t b = tp_pipe_buffered(out->pipe);
        if (b > fill)
            fill = b;
    }
    return fill;
}
