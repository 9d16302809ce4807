/* fail_alloc.h - a tp_allocator for tests: counts every tpipe allocation,
 * tracks live and peak bytes, and can fail the Nth allocation attempt
 * (once, or that one and every later one). Thread-safe. */
#ifndef TP_FAIL_ALLOC_H
#define TP_FAIL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

enum fa_mode { FA_OFF, FA_ONCE, FA_FROM };

/* Installs the counting allocator (tp_set_allocator) with failures off. */
void fa_install(void);
/* Makes every realloc move the block (malloc, copy, free), shrinking
 * included; fa_uninstall turns it off. */
void fa_set_moving(bool on);
/* Restores malloc/free (tp_set_allocator(NULL)). */
void fa_uninstall(void);
/* Fails attempt number n (1-based, counted from this call) in the given
 * mode; FA_OFF disarms. Resets the attempt counter and the failure count. */
void fa_arm(enum fa_mode mode, unsigned long n);
/* Attempts (malloc + realloc calls) since the last fa_arm. */
unsigned long fa_attempts(void);
/* Allocations failed on purpose since the last fa_arm. */
unsigned long fa_failures(void);
/* Blocks and bytes currently allocated through tpipe. */
size_t fa_live_blocks(void);
size_t fa_live_bytes(void);
/* Highest fa_live_bytes since fa_reset_peak. */
size_t fa_peak_bytes(void);
void fa_reset_peak(void);

#endif /* TP_FAIL_ALLOC_H */
