/* wtoken.c - the write token's slow paths: taking it when it is busy or
 * biased to another thread (revoking the bias), syncing a watcher with
 * its holder, and granting the bias. The fast paths and why the bias
 * exists are in internal.h. */
#define _GNU_SOURCE /* syscall */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__linux__) && defined(SYS_membarrier)
#include <linux/membarrier.h>
#define TP__HAVE_MEMBARRIER 1
#endif

/* ThreadSanitizer does not know that membarrier orders memory, and would
 * report the owner's unfenced entry as a race: its builds never bias. */
#if defined(__SANITIZE_THREAD__)
#define TP__BIAS_ALLOWED 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TP__BIAS_ALLOWED 0
#endif
#endif
#ifndef TP__BIAS_ALLOWED
#define TP__BIAS_ALLOWED 1
#endif

/* Fast writes in a row by one thread that earn it the bias at first.
 * Each revocation doubles it, up to the cap: revoking costs a system call
 * and an interrupt on each other CPU running the process, a few
 * microseconds, so writers that take turns soon stop earning it. */
#define TP__BIAS_AFTER_MIN 256u
#define TP__BIAS_AFTER_MAX 65536u

static pthread_once_t barrier_once = PTHREAD_ONCE_INIT;
static bool barrier_works;

/* Registers the process for expedited membarrier, where the kernel has it
 * (Linux 4.14 and later; a seccomp filter may still refuse it). */
static void register_barrier(void)
{
#if TP__HAVE_MEMBARRIER && TP__BIAS_ALLOWED
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    barrier_works = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
}

/* Whether the bias can be revoked here, so may be granted. */
static bool bias_possible(void)
{
    pthread_once(&barrier_once, register_barrier);
    return barrier_works;
}

/* Makes every running thread of the process execute a full memory
 * barrier. Only called once bias_possible said yes. */
static void barrier_everywhere(void)
{
#if TP__HAVE_MEMBARRIER
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return;
#endif
    /* The registration succeeded, so this cannot fail; if it did, going
     * on would let two threads hold the token at once. */
    fputs("tpipe: membarrier failed after registering; cannot go on safely\n", stderr);
    abort();
}

/* Having swapped the owner's id for HELD: waits until the owner is
 * neither inside nor about to come in. */
static void finish_revoking(tp_pipe *p)
{
    barrier_everywhere();
    tp__ext *x = p->ext;
    for (unsigned i = 0; atomic_load_explicit(&x->w.busy, memory_order_acquire) != 0; i++)
        tp__spin_step(i);
    x->w.streak = 0;
    if (x->w.bias_after < TP__BIAS_AFTER_MAX)
        x->w.bias_after *= 2;
}

/* A thread that wants the token spins: it is held for a short copy at
 * most and never across a wait. It pauses first, then yields its core,
 * which on a busy machine may be what the holder needs to finish. */
void tp__wtoken_take(tp_pipe *p)
{
    for (unsigned i = 0;; i++) {
        if (tp__wtoken_try(p))
            return;
        uintptr_t v = atomic_load_explicit(&p->wtoken, memory_order_relaxed);
        if (v != TP__WTOKEN_FREE && v != TP__WTOKEN_HELD && v != tp__self() &&
            atomic_compare_exchange_strong_explicit(&p->wtoken, &v, TP__WTOKEN_HELD,
                                                    memory_order_acquire, memory_order_relaxed)) {
            finish_revoking(p);
            return;
        }
        tp__spin_step(i);
    }
}

void tp__wtoken_sync(tp_pipe *p)
{
    for (unsigned i = 0;; i++) {
        uintptr_t v = atomic_load_explicit(&p->wtoken, memory_order_relaxed);
        if (v == TP__WTOKEN_FREE) {
            if (atomic_compare_exchange_strong_explicit(&p->wtoken, &v, TP__WTOKEN_HELD,
                                                        memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                tp__wtoken_give(p);
                return;
            }
        } else if (v != TP__WTOKEN_HELD) {
            /* Biased. To the caller itself: it is not inside, nothing to
             * order. To another thread: the barrier orders the caller's
             * stores with that thread's entry (see tp__wtoken_enter_biased);
             * a revocation meanwhile changes nothing, its revoker's own
             * turn comes after the barrier too. */
            if (v != tp__self())
                barrier_everywhere();
            return;
        }
        tp__spin_step(i);
    }
}

void tp__wtoken_give_streak(tp_pipe *p)
{
    tp__ext *x = p->ext;
    uintptr_t me = tp__self();
    if (x->w.streak_by != me) {
        x->w.streak_by = me;
        x->w.streak = 0;
    }
    if (x->w.bias_after == 0)
        x->w.bias_after = TP__BIAS_AFTER_MIN;
    if (++x->w.streak >= x->w.bias_after && bias_possible()) {
        x->w.streak = 0;
        atomic_store_explicit(&p->wtoken, me, memory_order_release);
        return;
    }
    atomic_store_explicit(&p->wtoken, TP__WTOKEN_FREE, memory_order_release);
}
