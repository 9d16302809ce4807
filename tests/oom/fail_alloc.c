/* fail_alloc.c - the counting, failing test allocator: each block carries a
 * small header with its size so live and peak bytes are exact. */
#include "fail_alloc.h"

#include "tpipe.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The header keeps the user pointer aligned like malloc's. */
typedef union fa_hdr {
    size_t size;
    max_align_t align;
} fa_hdr;

static atomic_int mode = FA_OFF;
static atomic_bool moving;
static atomic_ulong fail_at, attempts, failures;
static atomic_size_t live_blocks, live_bytes, peak_bytes;

static bool should_fail(void)
{
    unsigned long n = atomic_fetch_add(&attempts, 1) + 1;
    int m = atomic_load(&mode);
    unsigned long at = atomic_load(&fail_at);
    bool fail = (m == FA_ONCE && n == at) || (m == FA_FROM && n >= at);
    if (fail)
        atomic_fetch_add(&failures, 1);
    return fail;
}

static void account(size_t add, size_t sub)
{
    size_t now = atomic_fetch_add(&live_bytes, add) + add;
    atomic_fetch_sub(&live_bytes, sub);
    now -= sub;
    size_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now))
        ;
}

static void *fa_malloc(size_t size, void *ctx)
{
    (void)ctx;
    if (should_fail() || size > SIZE_MAX - sizeof(fa_hdr))
        return NULL;
    fa_hdr *h = malloc(sizeof *h + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    atomic_fetch_add(&live_blocks, 1);
    account(size, 0);
    return h + 1;
}

static void fa_free(void *ptr, void *ctx)
{
    (void)ctx;
    if (ptr == NULL)
        return;
    fa_hdr *h = (fa_hdr *)ptr - 1;
    atomic_fetch_sub(&live_blocks, 1);
    atomic_fetch_sub(&live_bytes, h->size);
    free(h);
}

static void *fa_realloc(void *ptr, size_t size, void *ctx)
{
    if (ptr == NULL)
        return fa_malloc(size, ctx);
    if (should_fail() || size > SIZE_MAX - sizeof(fa_hdr))
        return NULL; /* the old block stays valid, as with realloc */
    fa_hdr *h = (fa_hdr *)ptr - 1;
    size_t old = h->size;
    fa_hdr *nh;
    if (atomic_load(&moving)) {
        /* Always a new block, as an allocator may give even when shrinking. */
        nh = malloc(sizeof *nh + size);
        if (nh == NULL)
            return NULL;
        memcpy(nh + 1, h + 1, old < size ? old : size);
        free(h);
    } else {
        nh = realloc(h, sizeof *nh + size);
    }
    if (nh == NULL)
        return NULL;
    nh->size = size;
    account(size, old);
    return nh + 1;
}

void fa_install(void)
{
    static const tp_allocator a = {fa_malloc, fa_realloc, fa_free, NULL};
    fa_arm(FA_OFF, 0);
    tp_set_allocator(&a);
}

void fa_set_moving(bool on)
{
    atomic_store(&moving, on);
}

void fa_uninstall(void)
{
    atomic_store(&moving, false);
    tp_set_allocator(NULL);
}

void fa_arm(enum fa_mode m, unsigned long n)
{
    atomic_store(&mode, FA_OFF);
    atomic_store(&attempts, 0);
    atomic_store(&failures, 0);
    atomic_store(&fail_at, n);
    atomic_store(&mode, (int)m);
}

unsigned long fa_attempts(void)
{
    return atomic_load(&attempts);
}

unsigned long fa_failures(void)
{
    return atomic_load(&failures);
}

size_t fa_live_blocks(void)
{
    return atomic_load(&live_blocks);
}

size_t fa_live_bytes(void)
{
    return atomic_load(&live_bytes);
}

size_t fa_peak_bytes(void)
{
    return atomic_load(&peak_bytes);
}

void fa_reset_peak(void)
{
    atomic_store(&peak_bytes, atomic_load(&live_bytes));
}
