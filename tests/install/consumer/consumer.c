/* consumer.c - a tiny program built against an installed tpipe: moves a
 * message through a pipe (copy and zero-copy writes) and a wrapper. */
#include <stdio.h>
#include <string.h>

#include <tpipe.h>

static int released;

static void on_release(void *ctx)
{
    (void)ctx;
    released++;
}

int main(void)
{
    static const char tail[] = " world";
    tp_pipe *p = tp_pipe_new(0, true, true, 5.0, "consumer");
    if (p == NULL || tp_pipe_write(p, "hello", 5) != 5 ||
        tp_pipe_write_ref(p, tail, 6, on_release, NULL) != 6 || tp_pipe_write_eof(p) != 0) {
        fprintf(stderr, "consumer: write failed\n");
        return 1;
    }
    void *out = NULL;
    size_t len = 0;
    if (tp_pipe_readall(p, &out, &len) != 0 || len != 11 || memcmp(out, "hello world", 11) != 0 ||
        released != 1) {
        fprintf(stderr, "consumer: readall failed\n");
        return 1;
    }
    tp_wrapper *w = tp_wrapper_new_mem(out, len, 0);
    if (w == NULL || tp_wrapper_length(w) != 11 || tp_wrapper_seek(w, 6, SEEK_SET) != 6) {
        fprintf(stderr, "consumer: wrapper failed\n");
        return 1;
    }
    tp_wrapper_free(w);
    tp_free(out);
    tp_pipe_free(p);
    printf("tpipe %d.%d.%d consumer ok\n", TPIPE_VERSION_MAJOR, TPIPE_VERSION_MINOR,
           TPIPE_VERSION_PATCH);
    return 0;
}
