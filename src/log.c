/* log.c - tpipe's log lines go to a replaceable sink; the default writes
 * one line to stderr. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

static void default_sink(int level, const char *name, const char *msg, void *ctx)
{
    (void)ctx;
    const char *lv = (level >= TP_LOG_DEBUG && level <= TP_LOG_ERROR) ? level_names[level] : "LOG";
    fprintf(stderr, "tpipe: %s: pipe %s: %s\n", lv, name ? name : "(unnamed)", msg);
}

/* The sink and its context change together, so both live under one lock. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_log_fn sink = default_sink;
static void *sink_ctx;

void tp_set_log_fn(tp_log_fn fn, void *ctx)
{
    pthread_mutex_lock(&sink_lock);
    sink = fn ? fn : default_sink;
    sink_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&sink_lock);
}

void tp__log(int level, const char *name, const char *fmt, ...)
{
    int saved = errno;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&sink_lock);
    tp_log_fn fn = sink;
    void *ctx = sink_ctx;
    pthread_mutex_unlock(&sink_lock);
    fn(level, name, msg, ctx);
    errno = saved;
}
