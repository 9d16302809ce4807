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
 * Each revocation of a short-lived bias doubles it, up to the cap:
 * revoking costs a system call and an interrupt on each other CPU running
 * the process, a few microseconds, so writers that take turns soon stop
 * earning it. A bias that lasted TP__BIAS_PAID_OFF writes saved more than
 * its revocation costs, and the next one is earned at the first count
 * again: otherwise a writer whose reader sleeps now and then (between
 * bursts, say) would lose the bias for good after a few bursts. */
#define TP__BIAS_AFTER 256u
#define TP__BIAS_DOUBLINGS_MAX 8u /* 256 << 8 = 65536 writes */
#define TP__BIAS_PAID_OFF 4096u

__thread tp__thread *tp__me __attribute__((tls_model("initial-exec")));

/* Records of exited threads, for the next new ones; every record ever
 * made; and the key whose destructor puts a thread's record on the free
 * list when it exits. */
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static tp__thread *free_records;
static tp__thread *all_records;
static pthread_key_t record_key;
static bool record_key_made;
static pthread_once_t record_once = PTHREAD_ONCE_INIT;

static void record_release(void *rec)
{
    tp__thread *t = rec;
    pthread_mutex_lock(&free_lock);
    t->next_free = free_records;
    free_records = t;
    pthread_mutex_unlock(&free_lock);
    tp__me = NULL;
}

static void make_record_key(void)
{
    record_key_made = pthread_key_create(&record_key, record_release) == 0;
}

/* Gives this thread a record: an exited thread's, or a new one from the C
 * library (not the allocator seam: it is never freed, by design, and is
 * no pipe's memory). Returns 0 when none can be had: no bias then. */
static uintptr_t make_self(void)
{
    pthread_once(&record_once, make_record_key);
    if (!record_key_made)
        return 0;
    pthread_mutex_lock(&free_lock);
    tp__thread *t = free_records;
    if (t != NULL) {
        free_records = t->next_free;
    } else if (posix_memalign((void **)&t, 64, sizeof *t) == 0) {
        atomic_init(&t->inside, NULL);
        t->next_all = all_records;
        all_records = t;
    } else {
        t = NULL;
    }
    pthread_mutex_unlock(&free_lock);
    if (t == NULL)
        return 0;
    /* A recycled record's `inside` is NULL: its thread left every pipe
     * before it exited (and a revoker may be reading it). */
    t->next_free = NULL;
    if (pthread_setspecific(record_key, t) != 0) {
        record_release(t);
        return 0;
    }
    tp__me = t;
    return (uintptr_t)t;
}

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

/* Having swapped the owner's record for HELD: waits until the owner is
 * neither inside nor about to come in. */
static void finish_revoking(tp_pipe *p, tp__thread *owner)
{
    barrier_everywhere();
    for (unsigned i = 0; atomic_load_explicit(&owner->inside, memory_order_acquire) == p; i++)
        tp__spin_step(i);
    tp__ext *x = p->ext;
    x->w.streak = 0;
    if (x->w.writes - x->w.biased_at >= TP__BIAS_PAID_OFF)
        x->w.bias_doublings = 0;
    else if (x->w.bias_doublings < TP__BIAS_DOUBLINGS_MAX)
        x->w.bias_doublings++;
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
            finish_revoking(p, (tp__thread *)v);
            return;
        }
        tp__spin_step(i);
    }
}

void tp__wtoken_sync(tp_pipe *p)
{
    /* Revoking another thread's bias costs a barrier on every CPU, as
     * keeping it and running the barrier would; but a reader that goes
     * to sleep often then pays it once, not at every sleep, until the
     * writer earns the bias again (a longer run each time). */
    tp__wtoken_take(p);
    tp__wtoken_give(p);
}

void tp__wtoken_give_streak(tp_pipe *p)
{
    tp__ext *x = p->ext;
    uintptr_t me = tp__self();
    if (me == 0 && (!bias_possible() || (me = make_self()) == 0)) {
        atomic_store_explicit(&p->wtoken, TP__WTOKEN_FREE, memory_order_release);
        return;
    }
    if (x->w.streak_by != me) {
        x->w.streak_by = me;
        x->w.streak = 0;
    }
    if (++x->w.streak >= TP__BIAS_AFTER << x->w.bias_doublings) {
        x->w.streak = 0;
        x->w.biased_at = x->w.writes;
        atomic_store_explicit(&p->wtoken, me, memory_order_release);
        return;
    }
    atomic_store_explicit(&p->wtoken, TP__WTOKEN_FREE, memory_order_release);
}
