/* producer_consumer.c - the smallest useful tpipe program: one thread
 * produces lines, another consumes them with readmatch until EOF. */
#include <tpipe.h>

#include <pthread.h>
#include <stdio.h>

static void *produce(void *arg)
{
    tp_pipe *p = arg;
    char line[64];
    for (int i = 1; i <= 5; i++) {
        int n = snprintf(line, sizeof line, "record %d\r\n", i);
        /* A blocking write may take fewer bytes than offered: loop. */
        for (int off = 0; off < n;) {
            ssize_t w = tp_pipe_write(p, line + off, (size_t)(n - off));
            if (w < 0) {
                perror("tp_pipe_write");
                return NULL;
            }
            off += (int)w;
        }
    }
    tp_pipe_write_eof(p); /* the reader sees EOF after the last line */
    return NULL;
}

int main(void)
{
    tp_pipe *p = tp_pipe_new(0, true, true, 5.0, "records");
    if (p == NULL) {
        perror("tp_pipe_new");
        return 1;
    }
    pthread_t producer;
    pthread_create(&producer, NULL, produce, p);

    void *line;
    ssize_t n;
    while ((n = tp_pipe_readmatch(p, NULL, 0, &line)) > 0) {
        printf("got %.*s", (int)n, (char *)line);
        tp_free(line);
    }
    if (n < 0)
        perror("tp_pipe_readmatch");

    pthread_join(producer, NULL);
    tp_pipe_close(p); /* the reader closes */
    tp_pipe_free(p);
    return n < 0;
}
