/* input.c - the input thread: reads every INPUT in turn into pool blocks
 * (or maps regular files) and hands each piece to every output's pipe with
 * tp_pipe_write_ref, so the bytes are shared, never copied, by the outputs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Below this a mapping costs more in mmap/munmap calls than the copy it
 * saves; above the buffer size it would defeat -m. */
#define MAP_CHUNK_MIN (1u << 20)

static void note_peak(struct tpc_run *run, uint64_t fill)
{
    uint64_t old = atomic_load_explicit(&run->peak_fill, memory_order_relaxed);
    while (fill > old && !atomic_compare_exchange_weak(&run->peak_fill, &old, fill)) {
    }
}

/* True if every running output waits for data it cannot drain yet (in
 * line mode: a partial line). */
static bool outputs_idle(struct tpc_run *run)
{
    for (int i = 0; i < run->noutputs; i++) {
        struct tpc_output *out = &run->outputs[i];
        if (!atomic_load(&out->failed) && !atomic_load(&out->done) && !atomic_load(&out->idle))
            return false;
    }
    return true;
}

/* Waits (for -p) until every live output has drained to the low mark, or
 * cannot drain any further without more input. */
static void wait_drained(struct tpc_run *run)
{
    while (!atomic_load(&run->stop)) {
        uint64_t seen = tpc_gen(run);
        if (tpc_fill(run) <= run->low_bytes || outputs_idle(run))
            return;
        tpc_wait_gen(run, seen, 0.2);
    }
}

/* Hands n bytes at p (inside block b) to every output still running.
 * Returns false when no output is left to take them. */
static bool deliver(struct tpc_run *run, struct tpc_block *b, const void *p, size_t n)
{
    int live = 0;
    bool full = false;
    uint64_t t0 = tpc_now_ns();
    atomic_fetch_add(&run->bytes_in, n);
    for (int i = 0; i < run->noutputs; i++) {
        struct tpc_output *out = &run->outputs[i];
        if (atomic_load(&out->failed))
            continue;
        tpc_block_ref(b);
        if (tp_pipe_write_ref(out->pipe, p, n, tpc_block_unref, b) < 0) {
            /* EPIPE: the output closed its pipe (it failed) or the run is
             * stopping. We still hold our own reference, so this never
             * frees the block. */
            tpc_block_unref(b);
            continue;
        }
        live++;
        uint64_t fill = tp_pipe_buffered(out->pipe);
        note_peak(run, fill);
        if (fill >= run->opt->buffer_size)
            full = true;
    }
    tpc_notify(run);
    if (full && run->low_bytes < run->opt->buffer_size)
        wait_drained(run);
    atomic_fetch_add(&run->in_wait_ns, tpc_now_ns() - t0);
    return live > 0;
}

static void report_read_error(struct tpc_run *run, const char *name, int err)
{
    fprintf(stderr, "tpipe: %s: %s\n", name, strerror(err));
    atomic_store(&run->read_error, true);
}

/* Copies fd to the outputs with read(2). Each read is handed over at once
 * (a slow producer is never held back waiting for a full block), and the
 * next read fills the rest of the same block. Returns false to stop. */
static bool copy_reads(struct tpc_run *run, int fd, const char *name)
{
    struct tpc_block *b = NULL;
    size_t off = 0;
    bool more = true;
    while (more) {
        if (atomic_load(&run->stop))
            break;
        if (b == NULL || off == b->len) {
            if (b != NULL)
                tpc_block_unref(b);
            uint64_t t0 = tpc_now_ns();
            b = tpc_pool_get(&run->pool);
            atomic_fetch_add(&run->in_wait_ns, tpc_now_ns() - t0);
            if (b == NULL)
                return false; /* cancelled: stopping */
            off = 0;
        }
        ssize_t n = read(fd, b->data + off, b->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            report_read_error(run, name, errno);
            break;
        }
        if (n == 0)
            break;
        more = deliver(run, b, b->data + off, (size_t)n);
        off += (size_t)n;
    }
    if (b != NULL)
        tpc_block_unref(b);
    return more && !atomic_load(&run->stop);
}

/* Maps a regular file chunk by chunk from the current offset to the size
 * fstat reported, so outputs write straight from the page cache (and pipe
 * outputs splice(2) from the file: no copy at all). Anything the mapping cannot cover
 * (a failing mmap, a file that grew, /proc files of size 0) is left for
 * copy_reads, from the offset reached. Returns false to stop. */
static bool copy_mapped(struct tpc_run *run, int fd, const struct stat *st)
{
    off_t off = lseek(fd, 0, SEEK_CUR);
    if (off < 0 || off >= st->st_size)
        return true;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t chunk = run->opt->block_size;
    if (chunk < MAP_CHUNK_MIN)
        chunk = MAP_CHUNK_MIN;
    if (chunk > run->opt->buffer_size)
        chunk = run->opt->buffer_size;
    struct tpc_source *src = tpc_source_new(fd);
    if (src == NULL)
        return true;
    bool more = true;
    while (more && off < st->st_size && !atomic_load(&run->stop)) {
        off_t base = off - (off_t)((size_t)off % page);
        size_t skip = (size_t)(off - base);
        size_t n = (size_t)(st->st_size - off);
        if (n > chunk)
            n = chunk;
        /* Pre-fault only when an output will copy from the mapping: pipe
         * outputs splice from the file and never touch these pages. */
        int flags = MAP_SHARED | (run->populate ? MAP_POPULATE : 0);
        void *map = mmap(NULL, skip + n, PROT_READ, flags, fd, base);
        if (map == MAP_FAILED)
            break;
        struct tpc_block *b = tpc_block_mapped(&run->pool, map, skip + n, src, base);
        if (b == NULL) {
            munmap(map, skip + n);
            break;
        }
        atomic_store(&run->zero_copy_used, true);
        more = deliver(run, b, (unsigned char *)map + skip, n);
        tpc_block_unref(b);
        off += (off_t)n;
    }
    tpc_source_unref(src);
    /* Leave the offset where the mapping ended, for copy_reads and for
     * whoever shares this descriptor (stdin) after us. */
    lseek(fd, off, SEEK_SET);
    return more && !atomic_load(&run->stop);
}

static bool copy_input(struct tpc_run *run, const char *name)
{
    bool is_stdin = strcmp(name, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        report_read_error(run, name, errno);
        return true; /* like cat: go on with the next input */
    }
    const char *shown = is_stdin ? "standard input" : name;
    bool more = true;
    struct stat st;
    if (run->opt->zero_copy && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        more = copy_mapped(run, fd, &st);
    if (more)
        more = copy_reads(run, fd, shown);
    if (!is_stdin)
        close(fd);
    return more;
}

void *tpc_input_main(void *arg)
{
    struct tpc_run *run = arg;
    tpc_worker_signals();
    const struct tpc_options *o = run->opt;
    if (o->ninputs == 0) {
        copy_input(run, "-");
    } else {
        for (int i = 0; i < o->ninputs; i++)
            if (!copy_input(run, o->inputs[i]))
                break;
    }
    for (int i = 0; i < run->noutputs; i++)
        tp_pipe_write_eof(run->outputs[i].pipe);
    atomic_store(&run->input_done, true);
    tpc_notify(run);
    atomic_fetch_add(&run->finished, 1);
    tpc_wake_main(run);
    return NULL;
}
