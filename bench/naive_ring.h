/* naive_ring.h - the "naive" baseline: a fixed ring buffer guarded by one
 * mutex and two condition variables, as one would write it without tuning. */
#ifndef NAIVE_RING_H
#define NAIVE_RING_H

#include <stddef.h>
#include <sys/types.h>

typedef struct naive_ring naive_ring;

/* Creates a ring holding up to capacity bytes (allocated at once). NULL on
 * failure. */
naive_ring *naive_ring_new(size_t capacity);

/* Frees the ring; no thread may use it any more. */
void naive_ring_free(naive_ring *r);

/* Waits for room, then copies as much of buf as fits and returns how much
 * (1..n); -1/EPIPE after naive_ring_write_eof. Any thread; blocks. */
ssize_t naive_ring_write(naive_ring *r, const void *buf, size_t n);

/* Waits for data, then copies up to n bytes out; 0 once EOF was written
 * and everything read. Any thread; blocks. */
ssize_t naive_ring_read(naive_ring *r, void *buf, size_t n);

/* Marks end of data and wakes every waiter. Any thread. */
void naive_ring_write_eof(naive_ring *r);

/* Bytes the ring holds in user space (struct plus storage). */
size_t naive_ring_footprint(const naive_ring *r);

#endif /* NAIVE_RING_H */
