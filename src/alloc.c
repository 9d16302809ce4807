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

static const tp_allocator default_allocator = {default_malloc, default_realloc, default_free,
                                               NULL};

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
