/* tpy_module.c - the tpipe extension module: import-time setup, the errno
 * helpers, waiting with signal checks, and the bridge to logging. */
#include "tpy.h"

#include <errno.h>
#include <math.h>
#include <time.h>

PyTypeObject *tpy_rawiobase;
PyObject *tpy_unsupported;
Py_ssize_t tpy_default_bsize = 8192;
int tpy_mute_c_log;

static PyObject *tpy_logger;         /* logging.getLogger("tpipe") */
static unsigned long tpy_main_ident; /* threading.main_thread().ident */

double tpy_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int tpy_timeout_arg(PyObject *obj, double *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = TP_FOREVER;
        return 0;
    }
    double t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred())
        return -1;
    if (isnan(t)) {
        PyErr_SetString(PyExc_ValueError, "timeout must not be NaN");
        return -1;
    }
    /* The seed treats a negative timeout as already expired. */
    *out = t < 0 ? 0.0 : t;
    return 0;
}

int tpy_size_args(PyObject *args, PyObject *kwds, const char *fname, Py_ssize_t dflt,
                  Py_ssize_t *out)
{
    PyObject *arg = NULL;
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    Py_ssize_t nkw = kwds ? PyDict_GET_SIZE(kwds) : 0;
    if (nargs + nkw > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument", fname);
        return -1;
    }
    if (nargs == 1) {
        arg = PyTuple_GET_ITEM(args, 0);
    } else if (nkw == 1) {
        arg = PyDict_GetItemString(kwds, "nbytes");
        if (arg == NULL)
            arg = PyDict_GetItemString(kwds, "size");
        if (arg == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument", fname);
            return -1;
        }
    }
    *out = dflt;
    if (arg == NULL || arg == Py_None)
        return 0;
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred())
        return -1;
    *out = n;
    return 0;
}

PyObject *tpy_raise_errno(int err, PyObject *name)
{
    if (err == ENOMEM)
        return PyErr_NoMemory();
    errno = err;
    if (name == NULL || name == Py_None)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
}

int tpy_in_main_thread(void)
{
    return PyThread_get_thread_ident() == tpy_main_ident;
}

int tpy_wait(tpy_wait_fn fn, tp_pipe *p, double deadline)
{
    int in_main = tpy_in_main_thread();
    for (;;) {
        double t = TP_FOREVER;
        if (deadline >= 0) {
            t = deadline - tpy_now();
            if (t < 0)
                t = 0;
        }
        if (in_main && (t < 0 || t > TPY_SIGNAL_SLICE))
            t = TPY_SIGNAL_SLICE;
        int r, err;
        Py_BEGIN_ALLOW_THREADS
        r = fn(p, t);
        err = errno;
        Py_END_ALLOW_THREADS
        if (r == 0)
            return 0;
        if (err != ETIMEDOUT) {
            errno = err;
            return -1;
        }
        if (deadline >= 0 && tpy_now() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (PyErr_CheckSignals() < 0)
            return -2;
    }
}

void tpy_attach_partial(PyObject *data)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && PyObject_SetAttrString(value, "partial", data) < 0)
        PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

void tpy_log_warning(PyObject *msg)
{
    if (tpy_logger == NULL || msg == NULL)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *r = PyObject_CallMethod(tpy_logger, "warning", "sO", "%s", msg);
    if (r == NULL)
        PyErr_WriteUnraisable(tpy_logger);
    Py_XDECREF(r);
    PyErr_Restore(type, value, tb);
}

/* tp_log_fn: C library log lines go to the "tpipe" logger. The library
 * calls it with no lock held, from a thread that may not hold the GIL. */
static void c_log(int level, const char *name, const char *msg, void *ctx)
{
    (void)ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    if (!tpy_mute_c_log && tpy_logger != NULL) {
        static const int levels[] = {10, 20, 30, 40};
        int pylevel = level >= 0 && level <= 3 ? levels[level] : 30;
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *r = PyObject_CallMethod(tpy_logger, "log", "isss", pylevel, "pipe %s: %s",
                                          name ? name : "(unnamed)", msg ? msg : "");
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
        PyErr_Restore(type, value, tb);
    }
    PyGILState_Release(g);
}

void *tpy_fn(void (*fn)(void))
{
    union {
        void (*fn)(void);
        void *ptr;
    } u;
    u.fn = fn;
    return u.ptr;
}

PyTypeObject *tpy_make_base_type(const char *name, PyType_Slot *slots, size_t state_size,
                                 Py_ssize_t *state_off)
{
    Py_ssize_t a = (Py_ssize_t) _Alignof(max_align_t);
    *state_off = (tpy_rawiobase->tp_basicsize + a - 1) / a * a;
    PyType_Spec spec = {
        .name = name,
        .basicsize = (int)(*state_off + (Py_ssize_t)state_size),
        .itemsize = 0,
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
        .slots = slots,
    };
    PyObject *bases = PyTuple_Pack(1, (PyObject *)tpy_rawiobase);
    if (bases == NULL)
        return NULL;
    PyObject *t = PyType_FromSpecWithBases(&spec, bases);
    Py_DECREF(bases);
    return (PyTypeObject *)t;
}

int tpy_dealloc_begin(PyObject *self)
{
    if (PyObject_CallFinalizerFromDealloc(self) < 0)
        return -1;
    PyObject_GC_UnTrack(self);
    if (tpy_rawiobase->tp_weaklistoffset > 0) {
        PyObject **wl = (PyObject **)((char *)self + tpy_rawiobase->tp_weaklistoffset);
        if (*wl != NULL)
            PyObject_ClearWeakRefs(self);
    }
    if (tpy_rawiobase->tp_dictoffset > 0)
        Py_CLEAR(*(PyObject **)((char *)self + tpy_rawiobase->tp_dictoffset));
    return 0;
}

void tpy_dealloc_end(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

int tpy_base_traverse(PyObject *self, visitproc visit, void *arg)
{
    /* A heap-type base (Python 3.12+) visits the type itself. */
    if (!(tpy_rawiobase->tp_flags & Py_TPFLAGS_HEAPTYPE))
        Py_VISIT(Py_TYPE(self));
    return tpy_rawiobase->tp_traverse(self, visit, arg);
}

PyObject *tpy_make_public_class(const char *name, PyTypeObject *base, PyObject *io_rawiobase,
                                const char *doc)
{
    PyObject *ns = Py_BuildValue("{s:s,s:s,s:s,s:()}", "__module__", "tpipe", "__qualname__", name,
                                 "__doc__", doc, "__slots__");
    if (ns == NULL)
        return NULL;
    PyObject *meta = (PyObject *)Py_TYPE(io_rawiobase);
    PyObject *cls = PyObject_CallFunction(meta, "s(OO)O", name, (PyObject *)base, io_rawiobase, ns);
    Py_DECREF(ns);
    return cls;
}

/* io_blocked(err) / io_timedout(err): err is anything with an errno
 * attribute (an OSError). */
static int errno_of(PyObject *err, int *out)
{
    PyObject *e = PyObject_GetAttrString(err, "errno");
    if (e == NULL)
        return -1;
    *out = -1;
    if (PyLong_Check(e)) {
        long v = PyLong_AsLong(e);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            v = -1;
        }
        if (v >= INT_MIN && v <= INT_MAX)
            *out = (int)v;
    }
    Py_DECREF(e);
    return 0;
}

static PyObject *py_io_blocked(PyObject *mod, PyObject *err)
{
    (void)mod;
    int e;
    if (errno_of(err, &e) < 0)
        return NULL;
    return PyBool_FromLong(e >= 0 && tp_io_blocked(e));
}

static PyObject *py_io_timedout(PyObject *mod, PyObject *err)
{
    (void)mod;
    int e;
    if (errno_of(err, &e) < 0)
        return NULL;
    return PyBool_FromLong(e >= 0 && tp_io_timedout(e));
}

static PyMethodDef module_methods[] = {
    {"io_blocked", py_io_blocked, METH_O,
     "io_blocked(err)\n--\n\nTrue if the OSError err says a non-blocking operation "
     "would block (EAGAIN, EWOULDBLOCK and, on Windows, WSAEWOULDBLOCK)."},
    {"io_timedout", py_io_timedout, METH_O,
     "io_timedout(err)\n--\n\nTrue if the OSError err says an operation timed out "
     "(ETIMEDOUT and, on Windows, WSAETIMEDOUT)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "tpipe",
    "Thread-safe buffered pipe and buffered stream wrapper over the tpipe C library,\n"
    "a drop-in for pyslet.streams.Pipe / BufferedStreamWrapper.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static int setup_globals(void)
{
    PyObject *io = PyImport_ImportModule("io");
    PyObject *iomod = PyImport_ImportModule("_io");
    PyObject *logging = PyImport_ImportModule("logging");
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main_thread = NULL, *ident = NULL, *dbs = NULL;
    int rc = -1;
    if (!io || !iomod || !logging || !threading)
        goto done;
    tpy_rawiobase = (PyTypeObject *)PyObject_GetAttrString(iomod, "_RawIOBase");
    if (tpy_rawiobase == NULL || !PyType_Check(tpy_rawiobase)) {
        PyErr_SetString(PyExc_ImportError, "tpipe: _io._RawIOBase is not a type");
        goto done;
    }
    tpy_unsupported = PyObject_GetAttrString(io, "UnsupportedOperation");
    if (tpy_unsupported == NULL)
        goto done;
    dbs = PyObject_GetAttrString(io, "DEFAULT_BUFFER_SIZE");
    if (dbs == NULL)
        goto done;
    tpy_default_bsize = PyLong_AsSsize_t(dbs);
    if (tpy_default_bsize <= 0) {
        PyErr_Clear();
        tpy_default_bsize = 8192;
    }
    tpy_logger = PyObject_CallMethod(logging, "getLogger", "s", "tpipe");
    if (tpy_logger == NULL)
        goto done;
    main_thread = PyObject_CallMethod(threading, "main_thread", NULL);
    if (main_thread == NULL)
        goto done;
    ident = PyObject_GetAttrString(main_thread, "ident");
    if (ident == NULL)
        goto done;
    tpy_main_ident = PyLong_AsUnsignedLong(ident);
    if (PyErr_Occurred())
        goto done;
    rc = 0;
done:
    Py_XDECREF(io);
    Py_XDECREF(iomod);
    Py_XDECREF(logging);
    Py_XDECREF(threading);
    Py_XDECREF(main_thread);
    Py_XDECREF(ident);
    Py_XDECREF(dbs);
    return rc;
}

/* Built with hidden visibility; before Python 3.9 PyMODINIT_FUNC did not
 * export the init function itself. */
#if defined(__GNUC__)
#define TPY_EXPORT __attribute__((visibility("default")))
#else
#define TPY_EXPORT
#endif

TPY_EXPORT PyMODINIT_FUNC PyInit_tpipe(void);

TPY_EXPORT PyMODINIT_FUNC PyInit_tpipe(void)
{
    if (tpy_rawiobase == NULL && setup_globals() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    PyObject *io = PyImport_ImportModule("io");
    PyObject *raw = io ? PyObject_GetAttrString(io, "RawIOBase") : NULL;
    Py_XDECREF(io);
    if (raw == NULL || tpy_pipe_setup(m, raw) < 0 || tpy_wrapper_setup(m, raw) < 0 ||
        PyModule_AddStringConstant(m, "__version__", "0.1.0") < 0) {
        Py_XDECREF(raw);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(raw);
    tp_set_log_fn(c_log, NULL);
    return m;
}
