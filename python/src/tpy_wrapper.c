/* tpy_wrapper.c - tpipe.BufferedStreamWrapper: makes the head of any
 * object with a read method seekable, over tp_wrapper.
 *
 * The C wrapper reads the source through src_read, which calls the Python
 * object's read() with the GIL. Every tp_wrapper call is made with the GIL
 * released: the wrapper's own lock may be held by a thread that is inside
 * src.read() waiting for the GIL, so holding the GIL while taking that lock
 * could deadlock. */
#include "tpy.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    tp_wrapper *w;
    PyObject *src;
    PyObject *exc; /* an exception src.read() raised, waiting to be re-raised */
} wrap_state;

static PyTypeObject *WrapperBase_Type;
static Py_ssize_t state_off;

#define WS(o) ((wrap_state *)((char *)(o) + state_off))

/* tp_read_fn over src.read(n): bytes-like -> count, b'' -> 0 (EOF),
 * None -> EAGAIN, an exception -> kept in the state and EIO. Runs on the
 * thread that called into the wrapper, which dropped the GIL first. */
static ssize_t src_read(void *ctx, void *buf, size_t n)
{
    PyObject *self = ctx;
    ssize_t r = -1;
    int err = EIO;
    PyGILState_STATE g = PyGILState_Ensure();
    wrap_state *s = WS(self);
    PyObject *data = PyObject_CallMethod(s->src, "read", "n", (Py_ssize_t)n);
    if (data == Py_None) {
        err = EAGAIN;
    } else if (data != NULL) {
        Py_buffer v;
        if (PyObject_GetBuffer(data, &v, PyBUF_C_CONTIGUOUS) == 0) {
            if ((size_t)v.len <= n) {
                memcpy(buf, v.buf, (size_t)v.len);
                r = v.len;
            } else {
                PyErr_Format(PyExc_ValueError, "read(%zu) returned %zd bytes", n, v.len);
            }
            PyBuffer_Release(&v);
        }
    }
    Py_XDECREF(data);
    if (r < 0 && PyErr_Occurred()) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL)
            PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        Py_XSETREF(s->exc, value);
        err = EIO;
    }
    PyGILState_Release(g);
    errno = err;
    return r;
}

/* Raises the exception src.read() raised if there is one, else OSError. */
static PyObject *raise_from(PyObject *self, int err)
{
    wrap_state *s = WS(self);
    if (s->exc != NULL) {
        PyObject *e = s->exc;
        s->exc = NULL;
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
        return NULL;
    }
    if (err == ESPIPE) {
        PyErr_SetString(tpy_unsupported, "stream is not seekable (source overflowed the buffer)");
        return NULL;
    }
    if (err == EINVAL) {
        PyErr_SetString(PyExc_ValueError, "invalid seek position or whence");
        return NULL;
    }
    return tpy_raise_errno(err, NULL);
}

static tp_wrapper *get_wrapper(PyObject *self)
{
    tp_wrapper *w = WS(self)->w;
    if (w == NULL)
        PyErr_SetString(PyExc_ValueError, "BufferedStreamWrapper.__init__ was not called");
    return w;
}

static int wrapper_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"src", "buffsize", NULL};
    PyObject *src;
    Py_ssize_t buffsize = tpy_default_bsize;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:BufferedStreamWrapper", kwlist, &src,
                                     &buffsize))
        return -1;
    wrap_state *s = WS(self);
    if (s->w != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "BufferedStreamWrapper.__init__ called twice");
        return -1;
    }
    if (buffsize <= 0) {
        PyErr_SetString(PyExc_ValueError, "buffsize must be positive");
        return -1;
    }
    Py_INCREF(src);
    Py_XSETREF(s->src, src);
    tp_wrapper *w;
    int err;
    Py_BEGIN_ALLOW_THREADS
    w = tp_wrapper_new(src_read, self, (size_t)buffsize);
    err = errno;
    Py_END_ALLOW_THREADS
    if (w == NULL) {
        raise_from(self, err);
        return -1;
    }
    if (s->exc != NULL) {
        /* The seed's constructor lets an exception from src.read through. */
        tp_wrapper_free(w);
        raise_from(self, EIO);
        return -1;
    }
    s->w = w;
    return 0;
}

static int wrapper_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(WS(self)->src);
    Py_VISIT(WS(self)->exc);
    return tpy_base_traverse(self, visit, arg);
}

static int wrapper_clear(PyObject *self)
{
    Py_CLEAR(WS(self)->src);
    Py_CLEAR(WS(self)->exc);
    return tpy_rawiobase->tp_clear(self);
}

static void wrapper_dealloc(PyObject *self)
{
    if (tpy_dealloc_begin(self) < 0)
        return;
    wrap_state *s = WS(self);
    tp_wrapper_free(s->w);
    s->w = NULL;
    Py_CLEAR(s->src);
    Py_CLEAR(s->exc);
    tpy_dealloc_end(self);
}

static PyObject *wrapper_true(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}

static PyObject *wrapper_false(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_FALSE;
}

static PyObject *wrapper_seekable(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_wrapper *w = get_wrapper(self);
    if (w == NULL)
        return NULL;
    bool r;
    Py_BEGIN_ALLOW_THREADS
    r = tp_wrapper_seekable(w);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(r);
}

static PyObject *wrapper_tell(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_wrapper *w = get_wrapper(self);
    if (w == NULL)
        return NULL;
    off_t r;
    int err;
    Py_BEGIN_ALLOW_THREADS
    r = tp_wrapper_tell(w);
    err = errno;
    Py_END_ALLOW_THREADS
    if (r < 0)
        return raise_from(self, err);
    return PyLong_FromLongLong((long long)r);
}

static PyObject *wrapper_seek(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"offset", "whence", NULL};
    long long off;
    int whence = SEEK_SET;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|i:seek", kwlist, &off, &whence))
        return NULL;
    tp_wrapper *w = get_wrapper(self);
    if (w == NULL)
        return NULL;
    off_t r;
    int err;
    Py_BEGIN_ALLOW_THREADS
    r = tp_wrapper_seek(w, (off_t)off, whence);
    err = errno;
    Py_END_ALLOW_THREADS
    if (r < 0)
        return raise_from(self, err);
    return PyLong_FromLongLong((long long)r);
}

/* Reads up to n bytes into buf with the GIL released. */
static ssize_t read_nogil(tp_wrapper *w, void *buf, size_t n, int *err)
{
    ssize_t r;
    Py_BEGIN_ALLOW_THREADS
    r = tp_wrapper_read(w, buf, n);
    *err = errno;
    Py_END_ALLOW_THREADS
    return r;
}

static PyObject *wrapper_readinto(PyObject *self, PyObject *arg)
{
    tp_wrapper *w = get_wrapper(self);
    if (w == NULL)
        return NULL;
    Py_buffer b;
    if (!PyArg_Parse(arg, "w*:readinto", &b))
        return NULL;
    int err;
    ssize_t r = read_nogil(w, b.buf, (size_t)b.len, &err);
    PyBuffer_Release(&b);
    if (r >= 0)
        return PyLong_FromSsize_t(r);
    if (err == EAGAIN && WS(self)->exc == NULL)
        Py_RETURN_NONE;
    return raise_from(self, err);
}

static PyObject *wrapper_read(PyObject *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t n;
    if (tpy_size_args(args, kwds, "read", -1, &n) < 0)
        return NULL;
    if (n < 0)
        return PyObject_CallMethod(self, "readall", NULL);
    tp_wrapper *w = get_wrapper(self);
    if (w == NULL)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    int err;
    ssize_t r = read_nogil(w, PyBytes_AS_STRING(out), (size_t)n, &err);
    if (r < 0) {
        Py_DECREF(out);
        if (err == EAGAIN && WS(self)->exc == NULL)
            Py_RETURN_NONE;
        return raise_from(self, err);
    }
    if (r != n && _PyBytes_Resize(&out, r) < 0)
        return NULL;
    return out;
}

static PyObject *wrapper_peek(PyObject *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t n;
    if (tpy_size_args(args, kwds, "peek", 1, &n) < 0)
        return NULL;
    tp_wrapper *w = get_wrapper(self);
    if (w == NULL)
        return NULL;
    if (n < 0)
        n = 0;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    ssize_t r;
    int err;
    Py_BEGIN_ALLOW_THREADS
    r = tp_wrapper_peek(w, PyBytes_AS_STRING(out), (size_t)n);
    err = errno;
    Py_END_ALLOW_THREADS
    if (r < 0) {
        Py_DECREF(out);
        return raise_from(self, err);
    }
    if (r != n && _PyBytes_Resize(&out, r) < 0)
        return NULL;
    return out;
}

static PyObject *get_length(PyObject *self, void *c)
{
    (void)c;
    tp_wrapper *w = get_wrapper(self);
    if (w == NULL)
        return NULL;
    off_t len;
    Py_BEGIN_ALLOW_THREADS
    len = tp_wrapper_length(w);
    Py_END_ALLOW_THREADS
    if (len < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong((long long)len);
}

static PyObject *get_src(PyObject *self, void *c)
{
    (void)c;
    PyObject *src = WS(self)->src ? WS(self)->src : Py_None;
    Py_INCREF(src);
    return src;
}

static PyGetSetDef wrapper_getset[] = {
    {"length", get_length, NULL, "length of the source if it is all buffered, else None", NULL},
    {"src", get_src, NULL, "the wrapped source", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define M(name, fn, flags, doc)                                                                    \
    {                                                                                              \
        name, (PyCFunction)(void (*)(void))(fn), flags, doc                                        \
    }

static PyMethodDef wrapper_methods[] = {
    M("readable", wrapper_true, METH_NOARGS, "Always True."),
    M("writable", wrapper_false, METH_NOARGS, "Always False."),
    M("seekable", wrapper_seekable, METH_NOARGS, "True if the whole source fitted in the buffer."),
    M("tell", wrapper_tell, METH_NOARGS, "Current position (seekable wrappers only)."),
    M("seek", wrapper_seek, METH_VARARGS | METH_KEYWORDS,
      "seek(offset, whence=io.SEEK_SET): moves (seekable wrappers only)."),
    M("readinto", wrapper_readinto, METH_O,
      "Reads into a writable buffer; None if the source is blocked."),
    M("read", wrapper_read, METH_VARARGS | METH_KEYWORDS, "Reads up to n bytes (all if n < 0)."),
    M("peek", wrapper_peek, METH_VARARGS | METH_KEYWORDS,
      "peek(nbytes): up to nbytes from the buffer without advancing; b'' past it."),
    {NULL, NULL, 0, NULL},
};

int tpy_wrapper_setup(PyObject *m, PyObject *io_rawiobase)
{
    if (WrapperBase_Type == NULL) {
        PyType_Slot slots[] = {
            {Py_tp_doc, "C implementation of tpipe.BufferedStreamWrapper"},
            {Py_tp_dealloc, TPY_FN(wrapper_dealloc)},
            {Py_tp_traverse, TPY_FN(wrapper_traverse)},
            {Py_tp_clear, TPY_FN(wrapper_clear)},
            {Py_tp_methods, wrapper_methods},
            {Py_tp_getset, wrapper_getset},
            {Py_tp_init, TPY_FN(wrapper_init)},
            {Py_tp_new, TPY_FN(PyType_GenericNew)},
            {0, NULL},
        };
        WrapperBase_Type = tpy_make_base_type("tpipe._BufferedStreamWrapperBase", slots,
                                              sizeof(wrap_state), &state_off);
        if (WrapperBase_Type == NULL)
            return -1;
    }
    PyObject *cls = tpy_make_public_class(
        "BufferedStreamWrapper", WrapperBase_Type, io_rawiobase,
        "BufferedStreamWrapper(src, buffsize=io.DEFAULT_BUFFER_SIZE)\n\n"
        "A buffered wrapper for file-like objects (io.RawIOBase): reads src until EOF "
        "or buffsize bytes; seekable if all of src fitted.");
    if (cls == NULL)
        return -1;
    Py_INCREF(WrapperBase_Type);
    if (PyModule_AddObject(m, "_BufferedStreamWrapperBase", (PyObject *)WrapperBase_Type) < 0) {
        Py_DECREF(WrapperBase_Type);
        Py_DECREF(cls);
        return -1;
    }
    if (PyModule_AddObject(m, "BufferedStreamWrapper", cls) < 0) {
        Py_DECREF(cls);
        return -1;
    }
    return 0;
}
