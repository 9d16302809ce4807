/* tpy.h - shared declarations of the tpipe CPython extension: the module
 * helpers, the registry of referenced bytes objects and the two types. */
#ifndef TPY_H
#define TPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "tpipe.h"

/* How long the main thread sleeps between signal checks while it waits:
 * Ctrl-C is noticed within this many seconds. Other threads cannot receive
 * Python signals and wait in one piece. */
#define TPY_SIGNAL_SLICE 0.05

/* ---- tpy_module.c: helpers every type uses (GIL held unless stated) ---- */

/* Seconds on a monotonic clock. No GIL needed. */
double tpy_now(void);

/* True on the thread Python delivers signals to (the main thread). */
int tpy_in_main_thread(void);

/* Converts a Python timeout (None, or a number of seconds) to seconds,
 * negative meaning "forever". NaN is a ValueError; a negative number is
 * treated as 0 (fail at once). Returns 0, or -1 with an exception set. */
int tpy_timeout_arg(PyObject *obj, double *out);

/* Parses the optional size argument of read/peek: one positional, or the
 * keyword nbytes (the seed's name) or size (io's name); None means dflt.
 * Returns 0, or -1 with an exception set. */
int tpy_size_args(PyObject *args, PyObject *kwds, const char *fname, Py_ssize_t dflt,
                  Py_ssize_t *out);

/* Raises OSError (the errno subclass Python picks: TimeoutError,
 * BrokenPipeError, BlockingIOError, ...) for err, with name as the
 * exception's filename unless it is NULL or None. Returns NULL. */
PyObject *tpy_raise_errno(int err, PyObject *name);

/* Waits, with the GIL released, until fn(p, seconds) returns 0, giving up
 * at the absolute tpy_now() deadline (negative: never). In the main thread
 * it waits in TPY_SIGNAL_SLICE pieces and runs Python's signal handlers in
 * between. Returns 0 when ready; -1 with errno (ETIMEDOUT, EPIPE, ...);
 * -2 with a Python exception set (a signal handler raised, e.g.
 * KeyboardInterrupt). Nothing is consumed from the pipe while it waits. */
typedef int (*tpy_wait_fn)(tp_pipe *p, double timeout);
int tpy_wait(tpy_wait_fn fn, tp_pipe *p, double deadline);

/* Stores data (a bytes object) as attribute "partial" on the exception
 * being raised, so a failed readall hands back what it consumed. */
void tpy_attach_partial(PyObject *data);

/* Logs msg at WARNING level on the "tpipe" logger of the logging module.
 * Keeps any exception being raised intact. */
void tpy_log_warning(PyObject *msg);

/* While nonzero, log lines from the C library are dropped: tpipe.Pipe
 * logs its own, better named, warning around tp_pipe_close. */
extern int tpy_mute_c_log;

/* The _io._RawIOBase type and io.UnsupportedOperation, set at import. */
extern PyTypeObject *tpy_rawiobase;
extern PyObject *tpy_unsupported;
extern Py_ssize_t tpy_default_bsize;

/* ---- tpy_refs.c: bytes objects a pipe holds by reference ---- */

/* Records one more pipe reference to the bytes object o (the caller owns
 * the matching strong reference). Returns 0, or -1 with MemoryError. */
int tpy_refs_add(PyObject *o);

/* Forgets one reference recorded by tpy_refs_add. */
void tpy_refs_remove(PyObject *o);

/* If data/len is exactly the contents of a bytes object some pipe holds
 * by reference, returns that object (borrowed), else NULL. Never
 * dereferences anything it has not registered. */
PyObject *tpy_refs_whole(const void *data, Py_ssize_t len);

/* tp_release_fn for write_ref: drops the pipe's reference to the bytes
 * object ctx. Any thread, with or without the GIL (it takes it). */
void tpy_release_bytes(void *ctx);

/* ---- the types ---- */

/* Create tpipe.Pipe / tpipe.BufferedStreamWrapper and add them (and their
 * C bases) to module m. io_rawiobase is io.RawIOBase. 0 or -1. */
int tpy_pipe_setup(PyObject *m, PyObject *io_rawiobase);
int tpy_wrapper_setup(PyObject *m, PyObject *io_rawiobase);

/* A function as a PyType_Slot's void * (ISO C has no direct conversion). */
void *tpy_fn(void (*fn)(void));
#define TPY_FN(f) tpy_fn((void (*)(void))(f))

/* Creates the C base class `tpipe.<name>` as a heap type deriving from
 * _io._RawIOBase (a heap type itself from Python 3.12 on, which a static
 * type may not extend), with state_size bytes of C state placed after the
 * base's part of the object; *state_off receives their offset. slots must
 * not set Py_tp_base/Py_tp_bases. NULL with an exception on failure. */
PyTypeObject *tpy_make_base_type(const char *name, PyType_Slot *slots, size_t state_size,
                                 Py_ssize_t *state_off);

/* The parts of tp_dealloc / tp_traverse that every such type shares.
 * tpy_dealloc_begin runs IOBase's finaliser (close()), untracks the object
 * and clears the base's dict and weak references; it returns -1 if the
 * finaliser resurrected the object (then stop). tpy_dealloc_end frees the
 * memory and drops the instance's reference to its heap type.
 * tpy_base_traverse visits the type (unless the base does) and the base's
 * members. */
int tpy_dealloc_begin(PyObject *self);
void tpy_dealloc_end(PyObject *self);
int tpy_base_traverse(PyObject *self, visitproc visit, void *arg);

/* Builds the public class name(base, io.RawIOBase) with io.RawIOBase's
 * metaclass, so the result is a true io.RawIOBase subclass. */
PyObject *tpy_make_public_class(const char *name, PyTypeObject *base, PyObject *io_rawiobase,
                                const char *doc);

#endif /* TPY_H */
