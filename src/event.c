/* event.c - tp_event, a flag threads can set, clear and wait for, like
 * Python's threading.Event. */
#include "internal.h"

#include <errno.h>

struct tp_event {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* waiters for `set` */
    atomic_bool set;     /* written under lock; read without it by is_set */
    unsigned waiters;    /* lock */
    tp__notify notify;   /* tp_event_fd, opened on request; lock */
};

tp_event *tp_event_new(void)
{
    tp_event *ev = tp__malloc(sizeof *ev);
    if (ev == NULL)
        return NULL;
    if (pthread_mutex_init(&ev->lock, NULL) != 0) {
        tp__free(ev);
        errno = ENOMEM;
        return NULL;
    }
    if (tp__cond_init(&ev->cond) != 0) {
        pthread_mutex_destroy(&ev->lock);
        tp__free(ev);
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&ev->set, false);
    ev->waiters = 0;
    ev->notify = TP__NOTIFY_NONE;
    return ev;
}

void tp_event_free(tp_event *ev)
{
    if (ev == NULL)
        return;
    tp__notify_close(&ev->notify);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    tp__free(ev);
}

void tp_event_set(tp_event *ev)
{
    if (ev == NULL)
        return;
    /* Readers set the rflag on every read: skip the lock when already set. */
    if (atomic_load_explicit(&ev->set, memory_order_acquire))
        return;
    pthread_mutex_lock(&ev->lock);
    atomic_store_explicit(&ev->set, true, memory_order_release);
    if (ev->waiters > 0)
        pthread_cond_broadcast(&ev->cond);
    tp__notify_set(&ev->notify, true);
    pthread_mutex_unlock(&ev->lock);
}

void tp_event_clear(tp_event *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    atomic_store_explicit(&ev->set, false, memory_order_release);
    tp__notify_set(&ev->notify, false);
    pthread_mutex_unlock(&ev->lock);
}

bool tp_event_is_set(const tp_event *ev)
{
    return ev != NULL && atomic_load_explicit(&ev->set, memory_order_acquire);
}

int tp_event_wait(tp_event *ev, double timeout)
{
    tp__deadline d;
    if (ev == NULL || tp__deadline_set(&d, timeout) != 0) {
        errno = EINVAL;
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&ev->lock);
    ev->waiters++;
    while (!atomic_load_explicit(&ev->set, memory_order_acquire) && rc == 0)
        rc = tp__cond_wait(&ev->cond, &ev->lock, &d);
    ev->waiters--;
    bool set = atomic_load_explicit(&ev->set, memory_order_acquire);
    pthread_mutex_unlock(&ev->lock);
    if (set)
        return 0;
    errno = ETIMEDOUT;
    return -1;
}

int tp_event_fd(tp_event *ev)
{
    if (ev == NULL)
        return tp__fail(EINVAL);
    pthread_mutex_lock(&ev->lock);
    int err = ev->notify.rfd < 0 ? tp__notify_open(&ev->notify) : 0;
    if (err == 0)
        tp__notify_set(&ev->notify, atomic_load_explicit(&ev->set, memory_order_relaxed));
    int fd = ev->notify.rfd;
    pthread_mutex_unlock(&ev->lock);
    return err ? tp__fail(err) : fd;
}
