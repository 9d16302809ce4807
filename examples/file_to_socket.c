/* file_to_socket.c - streams a file through a tpipe into a socket with the
 * fd pumps: one thread pumps file -> pipe, another pipe -> socket, and the
 * main thread reads the socket's other end and checks every byte. */

#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen... */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tpipe.h"

static void die(const char *what)
{
    fprintf(stderr, "file_to_socket: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The byte at offset off of the generated file: a pattern that catches
 * lost, repeated and reordered blocks. */
static unsigned char pattern(uint64_t off)
{
    return (unsigned char)((off * 2654435761u) >> 13 ^ (off >> 16));
}

/* Makes an unlinked temporary file of size bytes and returns its fd. */
static int make_file(size_t size)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tpipe-example-XXXXXX", dir != NULL ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        die("mkstemp");
    unlink(path);
    unsigned char buf[65536];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? size - off : sizeof buf;
        for (size_t k = 0; k < n; k++)
            buf[k] = pattern(off + k);
        ssize_t w = write(fd, buf, n);
        if (w < 0)
            die("write file");
        off += (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0)
        die("lseek");
    return fd;
}

struct pump {
    tp_pipe *p;
    int fd;
    int rc, err;
    size_t moved;
};

/* file -> pipe, then EOF on the pipe so the other pump stops. */
static void *pump_in(void *arg)
{
    struct pump *j = arg;
    j->rc = tp_pipe_pump_from_fd(j->p, j->fd, 0, &j->moved);
    j->err = errno;
    tp_pipe_write_eof(j->p);
    return NULL;
}

/* pipe -> socket, then shut the socket's sending side: the reader sees EOF. */
static void *pump_out(void *arg)
{
    struct pump *j = arg;
    j->rc = tp_pipe_pump_to_fd(j->p, j->fd, 0, &j->moved);
    j->err = errno;
    shutdown(j->fd, SHUT_WR);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t size = 8u << 20;
    int file;
    if (argc > 1 && strcmp(argv[1], "--size") == 0 && argc > 2) {
        size = strtoull(argv[2], NULL, 10);
        file = make_file(size);
    } else if (argc > 1) {
        /* A file of the user's: stream it, and check only the count. */
        file = open(argv[1], O_RDONLY);
        struct stat st;
        if (file < 0 || fstat(file, &st) != 0)
            die(argv[1]);
        size = (size_t)st.st_size;
    } else {
        file = make_file(size);
    }
    bool generated = !(argc > 1 && strcmp(argv[1], "--size") != 0);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    tp_pipe *p = tp_pipe_new(64 * 1024, true, true, TP_FOREVER, "file-to-socket");
    if (p == NULL)
        die("tp_pipe_new");

    struct pump in = {.p = p, .fd = file}, out = {.p = p, .fd = sv[0]};
    pthread_t tin, tout;
    if (pthread_create(&tin, NULL, pump_in, &in) != 0 ||
        pthread_create(&tout, NULL, pump_out, &out) != 0)
        die("pthread_create");

    /* The far end of the socket: count and check what arrives. */
    unsigned char buf[65536];
    uint64_t got = 0, bad = 0;
    for (;;) {
        ssize_t n = read(sv[1], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read socket");
        if (n == 0)
            break;
        for (ssize_t k = 0; generated && k < n; k++)
            bad += buf[k] != pattern(got + (uint64_t)k);
        got += (uint64_t)n;
    }
    pthread_join(tin, NULL);
    pthread_join(tout, NULL);

    tp_pipe_stats st;
    tp_pipe_get_stats(p, &st);
    printf("file_to_socket: file -> pipe %zu bytes (rc %d), pipe -> socket %zu bytes (rc %d)\n",
           in.moved, in.rc, out.moved, out.rc);
    printf("pipe: %llu writes, %llu reads, peak %zu bytes buffered\n",
           (unsigned long long)st.writes, (unsigned long long)st.reads, st.peak_buffered);
    bool ok = in.rc == 0 && out.rc == 0 && in.moved == size && out.moved == size && got == size &&
              bad == 0;
    printf("received %llu of %zu bytes, %llu wrong: %s\n", (unsigned long long)got, size,
           (unsigned long long)bad, ok ? "OK" : "FAILED");
    close(sv[0]);
    close(sv[1]);
    close(file);
    tp_pipe_free(p);
    return ok ? 0 : 1;
}
