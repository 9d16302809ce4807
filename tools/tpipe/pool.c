/* pool.c - the fixed set of read blocks that the input thread fills and
 * every output pipe shares by reference (tp_pipe_write_ref), and blocks
 * that wrap a mapping of an input file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

int tpc_pool_init(struct tpc_pool *pool, size_t block_size, size_t nblocks)
{
    pool->block_size = block_size;
    pool->arena_len = block_size * nblocks;
    pool->free_list = NULL;
    pool->mapped = NULL;
    atomic_init(&pool->cancelled, false);
    /* One anonymous mapping: pages are only touched (and so only cost
     * memory) once a block is used. */
    void *arena = mmap(NULL, pool->arena_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (arena == MAP_FAILED)
        return -1;
    pool->arena = arena;
    pool->blocks = calloc(nblocks, sizeof *pool->blocks);
    if (pool->blocks == NULL) {
        munmap(arena, pool->arena_len);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = nblocks; i-- > 0;) {
        struct tpc_block *b = &pool->blocks[i];
        b->pool = pool;
        b->data = pool->arena + i * block_size;
        b->len = block_size;
        atomic_init(&b->refs, 0);
        b->next_free = pool->free_list;
        pool->free_list = b;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    return 0;
}

void tpc_pool_destroy(struct tpc_pool *pool)
{
    if (pool->arena == NULL)
        return;
    munmap(pool->arena, pool->arena_len);
    free(pool->blocks);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    pool->arena = NULL;
}

struct tpc_block *tpc_pool_get(struct tpc_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    while (pool->free_list == NULL && !atomic_load(&pool->cancelled))
        pthread_cond_wait(&pool->cv, &pool->mu);
    struct tpc_block *b = NULL;
    if (!atomic_load(&pool->cancelled)) {
        b = pool->free_list;
        pool->free_list = b->next_free;
        atomic_store(&b->refs, 1);
    }
    pthread_mutex_unlock(&pool->mu);
    return b;
}

void tpc_pool_cancel(struct tpc_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->cancelled, true);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

struct tpc_source *tpc_source_new(int fd)
{
    struct tpc_source *src = malloc(sizeof *src);
    if (src == NULL)
        return NULL;
    src->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (src->fd < 0) {
        free(src);
        return NULL;
    }
    atomic_init(&src->refs, 1);
    return src;
}

void tpc_source_unref(struct tpc_source *src)
{
    if (atomic_fetch_sub_explicit(&src->refs, 1, memory_order_acq_rel) == 1) {
        close(src->fd);
        free(src);
    }
}

struct tpc_block *tpc_block_mapped(struct tpc_pool *pool, void *addr, size_t len,
                                   struct tpc_source *src, off_t off)
{
    struct tpc_block *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->pool = pool;
    b->data = addr;
    b->len = len;
    b->mapped = true;
    b->src = src;
    b->src_off = off;
    atomic_fetch_add(&src->refs, 1);
    atomic_init(&b->refs, 1);
    pthread_mutex_lock(&pool->mu);
    b->next = pool->mapped;
    if (b->next != NULL)
        b->next->prev = b;
    pool->mapped = b;
    pthread_mutex_unlock(&pool->mu);
    return b;
}

bool tpc_pool_find_file(struct tpc_pool *pool, const void *p, int *fd, off_t *off)
{
    const unsigned char *c = p;
    bool found = false;
    pthread_mutex_lock(&pool->mu);
    for (struct tpc_block *b = pool->mapped; b != NULL; b = b->next) {
        if (c >= b->data && c < b->data + b->len) {
            *fd = b->src->fd;
            *off = b->src_off + (c - b->data);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&pool->mu);
    return found;
}

void tpc_block_ref(struct tpc_block *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void tpc_block_unref(void *block)
{
    struct tpc_block *b = block;
    /* acq_rel: every reader's use of the bytes happens before the block is
     * refilled by the input thread. */
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct tpc_pool *pool = b->pool;
    if (b->mapped) {
        pthread_mutex_lock(&pool->mu);
        if (b->prev != NULL)
            b->prev->next = b->next;
        else
            pool->mapped = b->next;
        if (b->next != NULL)
            b->next->prev = b->prev;
        pthread_mutex_unlock(&pool->mu);
        munmap(b->data, b->len);
        tpc_source_unref(b->src);
        free(b);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    b->next_free = pool->free_list;
    pool->free_list = b;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}
