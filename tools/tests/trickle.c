/* trickle.c - test helper: copies stdin to stdout in pieces of random size
 * (1..MAXCHUNK bytes), pausing PAUSE_US microseconds after every EVERY
 * pieces, to act as a slow or bursty producer or consumer around tpipe.
 * Usage: trickle MAXCHUNK PAUSE_US EVERY SEED */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fputs("usage: trickle MAXCHUNK PAUSE_US EVERY SEED\n", stderr);
        return 2;
    }
    size_t max = strtoul(argv[1], NULL, 10);
    long pause_us = strtol(argv[2], NULL, 10);
    long every = strtol(argv[3], NULL, 10);
    unsigned long seed = strtoul(argv[4], NULL, 10);
    if (max == 0 || every <= 0)
        return 2;
    char *buf = malloc(max);
    if (buf == NULL)
        return 1;
    long pieces = 0;
    for (;;) {
        /* A small LCG is enough to vary the piece sizes reproducibly. */
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        size_t want = 1 + (size_t)((seed >> 33) % max);
        ssize_t n = read(STDIN_FILENO, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("trickle: read");
            return 1;
        }
        if (n == 0)
            break;
        if (write_all(buf, (size_t)n) < 0) {
            perror("trickle: write");
            return 1;
        }
        if (++pieces % every == 0 && pause_us > 0) {
            struct timespec ts = {pause_us / 1000000, (pause_us % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    free(buf);
    return 0;
}
