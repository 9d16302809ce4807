/* tpy_refs.c - which bytes objects pipes hold by reference, so a read that
 * returns exactly one of them can hand back the object itself. */
#include "tpy.h"

#include <stddef.h>
#include <stdint.h>

/* An open-addressing set (linear probing, tombstones) from object address
 * to the number of pipe references recorded for it. Guarded by the GIL:
 * every caller holds it (tpy_release_bytes takes it first). */
typedef struct {
    PyObject *key; /* NULL: never used; TOMB: deleted */
    Py_ssize_t count;
} slot;

#define TOMB ((PyObject *)(uintptr_t)1)

static slot *table;
static size_t cap;  /* power of two, or 0 */
static size_t used; /* live + tombstones */

static size_t hash_ptr(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h;
}

static slot *find(const void *key)
{
    if (cap == 0)
        return NULL;
    size_t i = hash_ptr(key) & (cap - 1);
    for (;;) {
        slot *s = &table[i];
        if (s->key == key)
            return s;
        if (s->key == NULL)
            return NULL;
        i = (i + 1) & (cap - 1);
    }
}

static int rehash(size_t ncap)
{
    slot *nt = PyMem_Calloc(ncap, sizeof(slot));
    if (nt == NULL)
        return -1;
    size_t nused = 0;
    for (size_t i = 0; i < cap; i++) {
        if (table[i].key == NULL || table[i].key == TOMB)
            continue;
        size_t j = hash_ptr(table[i].key) & (ncap - 1);
        while (nt[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        nt[j] = table[i];
        nused++;
    }
    PyMem_Free(table);
    table = nt;
    cap = ncap;
    used = nused;
    return 0;
}

int tpy_refs_add(PyObject *o)
{
    slot *s = find(o);
    if (s != NULL) {
        s->count++;
        return 0;
    }
    if ((used + 1) * 4 >= cap * 3) {
        size_t live = 0;
        for (size_t i = 0; i < cap; i++)
            live += table[i].key != NULL && table[i].key != TOMB;
        size_t ncap = cap ? cap : 64;
        while ((live + 1) * 2 >= ncap)
            ncap *= 2;
        if (rehash(ncap) < 0) {
            PyErr_NoMemory();
            return -1;
        }
    }
    size_t i = hash_ptr(o) & (cap - 1);
    while (table[i].key != NULL && table[i].key != TOMB)
        i = (i + 1) & (cap - 1);
    if (table[i].key == NULL)
        used++;
    table[i].key = o;
    table[i].count = 1;
    return 0;
}

void tpy_refs_remove(PyObject *o)
{
    slot *s = find(o);
    if (s != NULL && --s->count == 0)
        s->key = TOMB;
}

PyObject *tpy_refs_whole(const void *data, Py_ssize_t len)
{
    const char *candidate = (const char *)data - offsetof(PyBytesObject, ob_sval);
    slot *s = find(candidate);
    if (s == NULL)
        return NULL;
    PyObject *o = s->key;
    return PyBytes_GET_SIZE(o) == len ? o : NULL;
}

void tpy_release_bytes(void *ctx)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *o = ctx;
    tpy_refs_remove(o);
    Py_DECREF(o);
    PyGILState_Release(g);
}
