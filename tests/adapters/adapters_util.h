/* adapters_util.h - helpers for the issue-5 adapter tests: fd readiness
 * checks, a thread that blocks in poll(2), temporary files and byte checks. */
#ifndef TP_ADAPTERS_UTIL_H
#define TP_ADAPTERS_UTIL_H

#include "test_util.h"

#include <poll.h>
#include <stdio.h>

/* True if fd polls readable right now (poll with timeout 0). */
bool at_readable(int fd);

/* Fails the test unless fd's readiness is `want` right now. */
#define assert_readable(fd, want)                                                                  \
    do {                                                                                           \
        bool at_r_ = at_readable(fd);                                                              \
        if (at_r_ != (want))                                                                       \
            fail_msg("%s: fd %d is %s, expected %s", #fd, (int)(fd),                               \
                     at_r_ ? "readable" : "not readable", (want) ? "readable" : "not readable");   \
    } while (0)

/* A thread blocked in poll(fd, POLLIN) with a long timeout, so a test can
 * check that another thread's action wakes it. */
typedef struct at_poller {
    int fd;
    int ret; /* poll's return */
    short revents;
    tt_thread thread;
} at_poller;
/* Starts the poller and returns once it sleeps in the kernel (or is done). */
void at_poller_start(at_poller *pl, int fd);
/* Joins it and fails unless poll saw the fd readable. */
void at_poller_join_readable(at_poller *pl);

/* An unlinked temporary file opened O_RDWR, holding n pattern bytes
 * (tt_pattern from offset 0), positioned at offset 0. */
int at_temp_file(size_t n);

/* Reads fd from offset 0 to its end into a malloc'd buffer; sets *len. */
unsigned char *at_read_file(int fd, size_t *len);

/* Fails unless buf holds tt_pattern bytes from offset `from`, naming the
 * first wrong offset. */
void at_assert_pattern(const unsigned char *buf, size_t n, uint64_t from);

#endif
