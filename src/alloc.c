/* alloc.c - the allocator seam: every tpipe allocation goes through the
 * allocator installed with tp_set_allocator (malloc/realloc/free by default),
 * so users can account for memory and tests can fail any allocation. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void *default_malloc(size_t size, void *ctx)
{
    (void)ctx;
    return malloc(size);
}

static void *default_realloc(void *ptr, size_t size, void *ctx)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void default_free(void *ptr, void *ctx)
{
    (void)ctx;
    free(ptr);
}

static const tp_allocator default_allocator = {default_malloc, default_realloc, default_free, NULL};

/* Not synchronised: tp_set_allocator may only run while tpipe is unused. */
static tp_allocator current = {default_malloc, default_realloc, default_free, NULL};

int tp_set_allocator(const tp_allocator *alloc)
{
    if (alloc == NULL) {
        current = default_allocator;
        return 0;
    }
    if (!alloc->malloc_fn || !alloc->realloc_fn || !alloc->free_fn) {
        errno = EINVAL;
        return -1;
    }
    current = *alloc;
    return 0;
}

void *tp__malloc(size_t n)
{
    /* Zero-byte requests get one byte so a NULL always means failure. */
    void *p = current.malloc_fn(n ? n : 1, current.ctx);
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

/* Where a structure's cache lines begin decides which of its fields
 * share one, and so what the two sides of a pipe trade: a pipe placed at
 * each of the four 16-byte offsets that malloc may give moved 10-15 M
 * zero-copy hand-offs/s, the worst a quarter below the best (tenth
 * session, docs/benchmarks.md). posix_memalign's memory is freed by
 * free(), so tp__free needs to know nothing of it. */
void *tp__malloc_lines(size_t n)
{
    if (current.malloc_fn != default_malloc)
        return tp__malloc(n);
    void *p = NULL; /* n: a structure's size, never 0 */
    if (posix_memalign(&p, 64, n) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

void *tp__realloc(void *ptr, size_t n)
{
    void *p = current.realloc_fn(ptr, n ? n : 1, current.ctx);
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

void tp__free(void *ptr)
{
    if (ptr != NULL)
        current.free_fn(ptr, current.ctx);
}

void tp_free(void *ptr)
{
    tp__free(ptr);
}

char *tp__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = tp__malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}
