/* tpy_pipe.c - tpipe.Pipe: the seed's thread-safe buffered pipe as an
 * io.RawIOBase over tp_pipe.
 *
 * How blocking works: the C pipe's two ends are always non-blocking, so a C
 * call made with the GIL held never waits. The Python object keeps the
 * user's rblocking/wblocking modes and its own deadlines; when a blocking
 * end gets EAGAIN it waits with tp_pipe_*_wait and the GIL released (in
 * slices in the main thread, so Ctrl-C works), then tries again. The one
 * exception is a blocking readmatch, which has no "wait for more data"
 * primitive: it switches the C read end to blocking for the duration of
 * C readmatch calls made without the GIL (timed slices in the main thread;
 * rm_busy counts such calls, and while it is nonzero other reads also drop
 * the GIL around their C call).
 *
 * The rflag is a Python threading.Event, so it is set and cleared here,
 * with the GIL, at the moments the seed names (never from inside C). */
#include "tpy.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    tp_pipe *p;
    PyObject *name;  /* any object, None if not given */
    PyObject *rflag; /* threading.Event or NULL */
    double timeout;  /* seconds, negative: forever */
    int rblocking;
    int wblocking;
    int rm_busy; /* blocking C readmatch calls in flight (GIL-guarded) */
} pipe_state;

static PyTypeObject *PipeBase_Type;
static Py_ssize_t state_off; /* offset of pipe_state inside the object */
static PyObject *str_set, *str_clear;

#define PS(o) ((pipe_state *)((char *)(o) + state_off))

static tp_pipe *get_pipe(PyObject *self)
{
    tp_pipe *p = PS(self)->p;
    if (p == NULL)
        PyErr_SetString(PyExc_ValueError, "Pipe.__init__ was not called");
    return p;
}

static double deadline_for(pipe_state *s)
{
    return s->timeout < 0 ? -1.0 : tpy_now() + s->timeout;
}

static PyObject *raise_err(PyObject *self, int err)
{
    return tpy_raise_errno(err, PS(self)->name);
}

/* Sets (or clears) the rflag if there is one. 0, or -1 with an exception. */
static int rflag_call(pipe_state *s, PyObject *method)
{
    if (s->rflag == NULL)
        return 0;
    PyObject *ev = s->rflag;
    Py_INCREF(ev);
    PyObject *r = PyObject_CallMethodObjArgs(ev, method, NULL);
    Py_DECREF(ev);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Result of a tpy_wait that failed: -2 means the exception is set. */
static PyObject *wait_failed(PyObject *self, int w)
{
    if (w == -2)
        return NULL;
    return raise_err(self, errno);
}

/* ---- construction and destruction ---- */

static int pipe_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"bsize", "rblocking", "wblocking", "timeout", "name", NULL};
    pipe_state *s = PS(self);
    Py_ssize_t bsize = tpy_default_bsize;
    int rblocking = 1, wblocking = 1;
    PyObject *timeout = Py_None, *name = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|nppOO:Pipe", kwlist, &bsize, &rblocking,
                                     &wblocking, &timeout, &name))
        return -1;
    if (s->p != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Pipe.__init__ called twice");
        return -1;
    }
    if (bsize <= 0) {
        PyErr_SetString(PyExc_ValueError, "bsize must be positive");
        return -1;
    }
    double t;
    if (tpy_timeout_arg(timeout, &t) < 0)
        return -1;
    const char *cname = NULL;
    if (PyUnicode_Check(name)) {
        cname = PyUnicode_AsUTF8(name);
        if (cname == NULL)
            return -1;
    }
    tp_pipe *p = tp_pipe_new((size_t)bsize, false, false, t, cname);
    if (p == NULL) {
        tpy_raise_errno(errno, Py_None);
        return -1;
    }
    s->p = p;
    s->timeout = t;
    s->rblocking = rblocking;
    s->wblocking = wblocking;
    Py_INCREF(name);
    Py_XSETREF(s->name, name);
    return 0;
}

static int pipe_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(PS(self)->name);
    Py_VISIT(PS(self)->rflag);
    return tpy_base_traverse(self, visit, arg);
}

static int pipe_clear(PyObject *self)
{
    Py_CLEAR(PS(self)->name);
    Py_CLEAR(PS(self)->rflag);
    return tpy_rawiobase->tp_clear(self);
}

static void pipe_dealloc(PyObject *self)
{
    if (tpy_dealloc_begin(self) < 0)
        return;
    pipe_state *s = PS(self);
    tp_pipe *p = s->p;
    s->p = NULL;
    tp_pipe_free(p); /* runs release callbacks; we hold the GIL */
    Py_CLEAR(s->name);
    Py_CLEAR(s->rflag);
    tpy_dealloc_end(self);
}

static PyObject *pipe_repr(PyObject *self)
{
    PyObject *name = PS(self)->name;
    if (name != NULL && name != Py_None) {
        int t = PyObject_IsTrue(name);
        if (t < 0)
            return NULL;
        if (t)
            return PyObject_Str(name);
    }
    return PyBaseObject_Type.tp_repr(self);
}

/* ---- state ---- */

static PyObject *pipe_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    pipe_state *s = PS(self);
    if (!tp_pipe_closed(p)) {
        size_t lost = tp_pipe_buffered(p);
        tpy_mute_c_log++;
        tp_pipe_close(p);
        tpy_mute_c_log--;
        if (lost > 0) {
            PyObject *who = PyObject_Repr(self);
            if (who == NULL)
                return NULL;
            PyObject *msg =
                PyUnicode_FromFormat("Pipe.close for %U discarded %zu unread bytes", who, lost);
            Py_DECREF(who);
            if (msg == NULL)
                return NULL;
            tpy_log_warning(msg);
            Py_DECREF(msg);
        }
    }
    /* IOBase.close marks the object closed (it calls our flush, a no-op
     * on a closed pipe). */
    PyObject *r = PyObject_CallMethod((PyObject *)tpy_rawiobase, "close", "O", self);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    /* The reader will never come: wake a writer waiting on the flag. */
    if (rflag_call(s, str_set) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *pipe_true(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}

static PyObject *pipe_readblocking(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(PS(self)->rblocking);
}

static PyObject *pipe_writeblocking(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyBool_FromLong(PS(self)->wblocking);
}

static PyObject *set_mode(PyObject *args, PyObject *kwds, const char *fmt, int *field)
{
    static char *kwlist[] = {"blocking", NULL};
    int blocking = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, fmt, kwlist, &blocking))
        return NULL;
    *field = blocking;
    Py_RETURN_NONE;
}

static PyObject *pipe_set_readblocking(PyObject *self, PyObject *args, PyObject *kwds)
{
    return set_mode(args, kwds, "|p:set_readblocking", &PS(self)->rblocking);
}

static PyObject *pipe_set_writeblocking(PyObject *self, PyObject *args, PyObject *kwds)
{
    return set_mode(args, kwds, "|p:set_writeblocking", &PS(self)->wblocking);
}

static PyObject *pipe_empty(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    return p ? PyBool_FromLong(tp_pipe_empty(p)) : NULL;
}

static PyObject *pipe_buffered(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    return p ? PyLong_FromSize_t(tp_pipe_buffered(p)) : NULL;
}

static PyObject *pipe_canwrite(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    ssize_t n = tp_pipe_canwrite(p);
    if (n < 0)
        return raise_err(self, errno);
    if (n == 0 && rflag_call(PS(self), str_clear) < 0)
        return NULL;
    return PyLong_FromSsize_t(n);
}

static PyObject *pipe_canread(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    int r = tp_pipe_canread(p);
    if (r < 0)
        return raise_err(self, errno);
    return PyBool_FromLong(r);
}

static PyObject *pipe_set_rflag(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"rflag", NULL};
    PyObject *rflag;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:set_rflag", kwlist, &rflag))
        return NULL;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    pipe_state *s = PS(self);
    if (rflag == Py_None) {
        Py_CLEAR(s->rflag);
        Py_RETURN_NONE;
    }
    Py_INCREF(rflag);
    Py_XSETREF(s->rflag, rflag);
    if (tp_pipe_closed(p) && rflag_call(s, str_set) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *do_wait(PyObject *self, PyObject *args, PyObject *kwds, const char *fmt,
                         tpy_wait_fn fn)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *timeout = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, fmt, kwlist, &timeout))
        return NULL;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    double t;
    if (tpy_timeout_arg(timeout, &t) < 0)
        return NULL;
    int w = tpy_wait(fn, p, t < 0 ? -1.0 : tpy_now() + t);
    if (w < 0)
        return wait_failed(self, w);
    Py_RETURN_NONE;
}

static PyObject *pipe_write_wait(PyObject *self, PyObject *args, PyObject *kwds)
{
    return do_wait(self, args, kwds, "|O:write_wait", tp_pipe_write_wait);
}

static PyObject *pipe_read_wait(PyObject *self, PyObject *args, PyObject *kwds)
{
    return do_wait(self, args, kwds, "|O:read_wait", tp_pipe_read_wait);
}

static PyObject *pipe_flush_wait(PyObject *self, PyObject *args, PyObject *kwds)
{
    return do_wait(self, args, kwds, "|O:flush_wait", tp_pipe_flush_wait);
}

/* ---- writing ---- */

/* Writes the bytes object b by reference (no copy): all of it once there
 * is room. Returns its length, None (non-blocking and full) or NULL. */
static PyObject *write_bytes_ref(PyObject *self, tp_pipe *p, PyObject *b)
{
    pipe_state *s = PS(self);
    Py_ssize_t n = PyBytes_GET_SIZE(b);
    if (n == 0) {
        if (tp_pipe_write(p, NULL, 0) < 0)
            return raise_err(self, errno);
        return PyLong_FromLong(0);
    }
    if (tpy_refs_add(b) < 0)
        return NULL;
    Py_INCREF(b); /* owned by the pipe once write_ref succeeds */
    double deadline = deadline_for(s);
    for (;;) {
        ssize_t r = tp_pipe_write_ref(p, PyBytes_AS_STRING(b), (size_t)n, tpy_release_bytes, b);
        if (r >= 0)
            return PyLong_FromSsize_t(r);
        int err = errno;
        if (err == EAGAIN && s->wblocking) {
            int w = tpy_wait(tp_pipe_write_wait, p, deadline);
            if (w == 0)
                continue;
            err = errno;
            if (w == -2) {
                tpy_refs_remove(b);
                Py_DECREF(b);
                return NULL;
            }
        }
        tpy_refs_remove(b);
        Py_DECREF(b);
        if (err == EAGAIN)
            Py_RETURN_NONE;
        return raise_err(self, err);
    }
}

/* Copies at most canwrite bytes of a buffer object (the seed's bytearray
 * write). Returns the count, None (non-blocking and full) or NULL. */
static PyObject *write_copy(PyObject *self, tp_pipe *p, PyObject *b)
{
    pipe_state *s = PS(self);
    Py_buffer view;
    if (PyObject_GetBuffer(b, &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    double deadline = deadline_for(s);
    PyObject *result = NULL;
    for (;;) {
        ssize_t r = tp_pipe_write(p, view.buf, (size_t)view.len);
        if (r >= 0) {
            result = PyLong_FromSsize_t(r);
            break;
        }
        int err = errno;
        if (err == EAGAIN && s->wblocking) {
            int w = tpy_wait(tp_pipe_write_wait, p, deadline);
            if (w == 0)
                continue;
            if (w == -2)
                break;
            err = errno;
        }
        if (err == EAGAIN) {
            Py_INCREF(Py_None);
            result = Py_None;
        } else {
            raise_err(self, err);
        }
        break;
    }
    PyBuffer_Release(&view);
    return result;
}

static PyObject *pipe_write(PyObject *self, PyObject *b)
{
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    if (PyBytes_Check(b))
        return write_bytes_ref(self, p, b);
    if (PyMemoryView_Check(b)) {
        /* The seed turns a memoryview into bytes: accepted whole. */
        PyObject *copy = PyBytes_FromObject(b);
        if (copy == NULL)
            return NULL;
        PyObject *r = write_bytes_ref(self, p, copy);
        Py_DECREF(copy);
        return r;
    }
    return write_copy(self, p, b);
}

static PyObject *pipe_write_eof(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    if (tp_pipe_write_eof(p) < 0)
        return raise_err(self, errno);
    Py_RETURN_NONE;
}

static PyObject *pipe_flush(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    pipe_state *s = PS(self);
    double deadline = deadline_for(s);
    size_t last = tp_pipe_buffered(p);
    for (;;) {
        /* A closed pipe is empty: flush (also IOBase.close's) succeeds. */
        if (tp_pipe_empty(p) || tp_pipe_closed(p))
            Py_RETURN_NONE;
        if (!s->wblocking)
            return raise_err(self, EAGAIN);
        int w = tpy_wait(tp_pipe_flush_wait, p, deadline);
        if (w == 0)
            Py_RETURN_NONE;
        if (w == -2)
            return NULL;
        if (errno == EPIPE)
            continue;
        if (errno != ETIMEDOUT)
            return raise_err(self, errno);
        /* Time out only if the reader made no progress meanwhile. */
        size_t now = tp_pipe_buffered(p);
        if (now >= last)
            return raise_err(self, ETIMEDOUT);
        last = now;
        deadline = deadline_for(s);
    }
}

/* ---- reading ---- */

/* One non-blocking C read_view; drops the GIL if a blocking readmatch has
 * made the C read end blocking meanwhile. */
static ssize_t view_once(pipe_state *s, size_t max, const void **data, tp_view **view)
{
    ssize_t r;
    int err;
    if (s->rm_busy == 0)
        return tp_pipe_read_view(s->p, max, data, view);
    Py_BEGIN_ALLOW_THREADS
    r = tp_pipe_read_view(s->p, max, data, view);
    err = errno;
    Py_END_ALLOW_THREADS
    errno = err;
    return r;
}

/* Reads 1..max bytes as a view, waiting (blocking, or always) up to the
 * pipe's timeout. Returns the count (0 at EOF); -1 with errno (EAGAIN:
 * non-blocking and empty); -2 with a Python exception set. */
static ssize_t view_read(PyObject *self, size_t max, int block, const void **data, tp_view **view)
{
    pipe_state *s = PS(self);
    double deadline = deadline_for(s);
    for (;;) {
        ssize_t r = view_once(s, max, data, view);
        if (r >= 0 || errno != EAGAIN || !block)
            return r;
        int w = tpy_wait(tp_pipe_read_wait, s->p, deadline);
        if (w < 0)
            return w;
    }
}

/* Turns a view into a bytes object: the written bytes object itself when
 * the view covers exactly one, else a copy. Releases the view. */
static PyObject *view_to_bytes(const void *data, ssize_t n, tp_view *view)
{
    PyObject *whole = tpy_refs_whole(data, n);
    PyObject *r;
    if (whole != NULL) {
        Py_INCREF(whole);
        r = whole;
    } else {
        r = PyBytes_FromStringAndSize(data, n);
    }
    tp_view_release(view);
    return r;
}

static PyObject *read_failed(PyObject *self, ssize_t r)
{
    if (r == -2)
        return NULL;
    if (errno == EAGAIN)
        Py_RETURN_NONE;
    return raise_err(self, errno);
}

static PyObject *pipe_readall(PyObject *self, PyObject *unused)
{
    (void)unused;
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    pipe_state *s = PS(self);
    PyObject *first = NULL; /* a whole written bytes object, if that is all */
    PyObject *acc = NULL;   /* otherwise: a growing bytes buffer */
    Py_ssize_t len = 0;
    for (;;) {
        if (rflag_call(s, str_set) < 0)
            goto fail;
        const void *data;
        tp_view *view;
        /* readall always blocks, whatever the read end's mode. */
        ssize_t r = view_read(self, (size_t)PY_SSIZE_T_MAX, 1, &data, &view);
        if (r < 0) {
            if (r == -1)
                raise_err(self, errno);
            goto fail;
        }
        if (r == 0)
            break;
        if (first == NULL && acc == NULL) {
            first = view_to_bytes(data, r, view);
            if (first == NULL)
                goto fail;
            continue;
        }
        if (acc == NULL) {
            Py_ssize_t fl = PyBytes_GET_SIZE(first);
            Py_ssize_t want = 2 * (fl + r) > 65536 ? 2 * (fl + r) : 65536;
            acc = PyBytes_FromStringAndSize(NULL, want);
            if (acc == NULL) {
                tp_view_release(view);
                goto fail;
            }
            memcpy(PyBytes_AS_STRING(acc), PyBytes_AS_STRING(first), (size_t)fl);
            len = fl;
            Py_CLEAR(first);
        }
        if (len + r > PyBytes_GET_SIZE(acc)) {
            Py_ssize_t want = 2 * (len + r);
            if (_PyBytes_Resize(&acc, want) < 0) {
                tp_view_release(view);
                goto fail;
            }
        }
        memcpy(PyBytes_AS_STRING(acc) + len, data, (size_t)r);
        len += r;
        tp_view_release(view);
    }
    if (first != NULL)
        return first;
    if (acc == NULL)
        return PyBytes_FromStringAndSize(NULL, 0);
    if (_PyBytes_Resize(&acc, len) < 0)
        return NULL;
    return acc;
fail:
    /* Hand what was consumed back on the exception (attribute "partial"). */
    if (first != NULL) {
        tpy_attach_partial(first);
        Py_DECREF(first);
    } else if (acc != NULL) {
        if (_PyBytes_Resize(&acc, len) == 0) {
            tpy_attach_partial(acc);
            Py_DECREF(acc);
        }
    }
    return NULL;
}

static PyObject *pipe_read(PyObject *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t n;
    if (tpy_size_args(args, kwds, "read", -1, &n) < 0)
        return NULL;
    if (n < 0)
        return pipe_readall(self, NULL);
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    pipe_state *s = PS(self);
    if (rflag_call(s, str_set) < 0)
        return NULL;
    const void *data;
    tp_view *view;
    ssize_t r = view_read(self, (size_t)n, s->rblocking, &data, &view);
    if (r < 0)
        return read_failed(self, r);
    if (r == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    return view_to_bytes(data, r, view);
}

static PyObject *pipe_readinto(PyObject *self, PyObject *arg)
{
    tp_pipe *p = get_pipe(self);
    if (p == NULL)
        return NULL;
    pipe_state *s = PS(self);
    Py_buffer buf;
    if (!PyArg_Parse(arg, "w*:readinto", &buf))
        return NULL;
    PyObject *result = NULL;
    if (rflag_call(s, str_set) < 0)
        goto done;
    double deadline = deadline_for(s);
    for (;;) {
        ssize_t r;
        int err;
        if (s->rm_busy == 0) {
            r = tp_pipe_read(p, buf.buf, (size_t)buf.len);
            err = errno;
        } else {
            Py_BEGIN_ALLOW_THREADS
            r = tp_pipe_read(p, buf.buf, (size_t)buf.len);
            err = errno;
            Py_END_ALLOW_THREADS
        }
        if (r >= 0) {
            result = PyLong_FromSsize_t(r);
            break;
        }
        if (err == EAGAIN && s->rblocking) {
            int w = tpy_wait(tp_pipe_read_wait, p, deadline);
            if (w == 0)
                continue;
            result = read_failed(self, w);
            break;
        }
        errno = err;
        result = read_failed(self, -1);
        break;
    }
done:
    PyBuffer_Release(&buf);
    return result;
}

/* The waiting part of a blocking readmatch: the C read end is switched to
 * blocking (the caller counts the call in rm_busy and switches it back).
 * Other threads wait in one C call with the pipe's timeout. The main thread
 * waits in slices of TPY_SIGNAL_SLICE so Ctrl-C works; a slice that times
 * out means no data arrived during it, so the pipe's timeout is counted from
 * the last slice in which the buffer changed. Returns as tp_pipe_readmatch
 * (errno in *err), or -2 with a Python exception set. */
static ssize_t blocking_readmatch(PyObject *self, const void *mp, size_t mlen, void **out, int *err)
{
    pipe_state *s = PS(self);
    tp_pipe *p = s->p;
    int in_main = tpy_in_main_thread();
    double idle_since = tpy_now();
    ssize_t r;
    for (;;) {
        double t = s->timeout;
        if (in_main && (t < 0 || t > TPY_SIGNAL_SLICE))
            t = TPY_SIGNAL_SLICE;
        size_t before = tp_pipe_buffered(p);
        Py_BEGIN_ALLOW_THREADS
        tp_pipe_set_readblocking(p, true);
        r = tp_pipe_readmatch_timed(p, mp, mlen, out, t);
        *err = errno;
        Py_END_ALLOW_THREADS
        if (r >= 0 || *err != ETIMEDOUT || !in_main)
            return r;
        double now = tpy_now();
        if (tp_pipe_buffered(p) != before)
            idle_since = now - t;
        if (s->timeout >= 0 && now - idle_since >= s->timeout)
            return r;
        if (PyErr_CheckSignals() < 0)
            return -2;
    }
}

static PyObject *pipe_readmatch(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"match", NULL};
    Py_buffer m = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|y*:readmatch", kwlist, &m))
        return NULL;
    tp_pipe *p = get_pipe(self);
    PyObject *result = NULL;
    if (p == NULL)
        goto done;
    if (m.obj != NULL && m.len == 0) {
        PyErr_SetString(PyExc_ValueError, "readmatch: empty match");
        goto done;
    }
    pipe_state *s = PS(self);
    const void *mp = m.obj != NULL ? m.buf : NULL; /* NULL selects CRLF */
    size_t mlen = (size_t)m.len;
    void *out = NULL;
    ssize_t r;
    int err;
    if (s->rm_busy == 0) {
        r = tp_pipe_readmatch(p, mp, mlen, &out);
        err = errno;
    } else {
        Py_BEGIN_ALLOW_THREADS
        r = tp_pipe_readmatch(p, mp, mlen, &out);
        err = errno;
        Py_END_ALLOW_THREADS
    }
    while (r < 0 && err == EAGAIN) {
        /* No match and room left: the reader is waiting for data. */
        if (rflag_call(s, str_set) < 0)
            goto done;
        if (!s->rblocking) {
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
        s->rm_busy++;
        r = blocking_readmatch(self, mp, mlen, &out, &err);
        if (--s->rm_busy == 0)
            tp_pipe_set_readblocking(p, false);
        if (r == -2)
            goto done; /* a signal handler raised */
    }
    if (r > 0) {
        result = PyBytes_FromStringAndSize(out, r);
        tp_free(out);
        if (result != NULL && rflag_call(s, str_set) < 0)
            Py_CLEAR(result);
    } else if (r == 0) {
        result = PyBytes_FromStringAndSize(NULL, 0);
    } else {
        /* Full without a match: the seed's canwrite() check clears the
         * flag before it raises ENOBUFS. */
        if (err == ENOBUFS && rflag_call(s, str_clear) < 0)
            goto done;
        raise_err(self, err);
    }
done:
    if (m.obj != NULL)
        PyBuffer_Release(&m);
    return result;
}

/* ---- attributes ---- */

static PyObject *get_name(PyObject *self, void *c)
{
    (void)c;
    PyObject *n = PS(self)->name ? PS(self)->name : Py_None;
    Py_INCREF(n);
    return n;
}

static int set_name(PyObject *self, PyObject *v, void *c)
{
    (void)c;
    if (v == NULL)
        v = Py_None;
    Py_INCREF(v);
    Py_XSETREF(PS(self)->name, v);
    return 0;
}

static PyObject *get_timeout(PyObject *self, void *c)
{
    (void)c;
    double t = PS(self)->timeout;
    if (t < 0)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(t);
}

static PyObject *get_rflag(PyObject *self, void *c)
{
    (void)c;
    PyObject *f = PS(self)->rflag ? PS(self)->rflag : Py_None;
    Py_INCREF(f);
    return f;
}

static PyObject *get_bsize(PyObject *self, void *c)
{
    (void)c;
    tp_pipe *p = get_pipe(self);
    return p ? PyLong_FromSize_t(tp_pipe_bsize(p)) : NULL;
}

static PyGetSetDef pipe_getset[] = {
    {"name", get_name, set_name, "the name of the pipe (used in errors and log lines)", NULL},
    {"timeout", get_timeout, NULL, "seconds a blocked call waits (None: forever)", NULL},
    {"rflag", get_rflag, NULL, "the Event given to set_rflag, or None", NULL},
    {"max", get_bsize, NULL, "the buffer size given as bsize", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define KW (METH_VARARGS | METH_KEYWORDS)
#define M(name, fn, flags, doc)                                                                    \
    {                                                                                              \
        name, (PyCFunction)(void (*)(void))(fn), flags, doc                                        \
    }

static PyMethodDef pipe_methods[] = {
    M("close", pipe_close, METH_NOARGS,
      "Closes the pipe (the reader closes): discards buffered data with a warning, "
      "wakes waiting threads and sets the rflag."),
    M("readable", pipe_true, METH_NOARGS, "Pipes are always readable."),
    M("writable", pipe_true, METH_NOARGS, "Pipes are always writable."),
    M("readblocking", pipe_readblocking, METH_NOARGS, "True if reads may block."),
    M("set_readblocking", pipe_set_readblocking, KW, "Sets whether reads may block."),
    M("writeblocking", pipe_writeblocking, METH_NOARGS, "True if writes may block."),
    M("set_writeblocking", pipe_set_writeblocking, KW, "Sets whether writes may block."),
    M("empty", pipe_empty, METH_NOARGS, "True if no data is buffered."),
    M("buffered", pipe_buffered, METH_NOARGS, "Number of buffered bytes."),
    M("canwrite", pipe_canwrite, METH_NOARGS,
      "Bytes the next non-blocking write is sure to accept (0: full, which clears "
      "the rflag). Raises OSError(EPIPE) after EOF or close."),
    M("set_rflag", pipe_set_rflag, KW,
      "Sets a threading.Event that is set whenever a reader reads (None removes it)."),
    M("write_wait", pipe_write_wait, KW, "Waits until canwrite() > 0, or raises OSError."),
    M("flush_wait", pipe_flush_wait, KW, "Waits until the pipe is empty, or raises OSError."),
    M("canread", pipe_canread, METH_NOARGS,
      "True if the next read will not block (data, or EOF written)."),
    M("read_wait", pipe_read_wait, KW, "Waits until canread(), or raises OSError."),
    M("write", pipe_write, METH_O,
      "Writes b: bytes are kept by reference and accepted whole; other buffers are "
      "copied up to canwrite(). None if a non-blocking write would block."),
    M("write_eof", pipe_write_eof, METH_NOARGS, "Writes the EOF mark."),
    M("flush", pipe_flush, METH_NOARGS,
      "Waits until the reader has emptied the pipe (non-blocking: BlockingIOError)."),
    M("readall", pipe_readall, METH_NOARGS,
      "Reads until EOF; always blocks, whatever the read end's mode."),
    M("readmatch", pipe_readmatch, KW,
      "Reads up to and including match (default CRLF); OSError(ENOBUFS) if the buffer "
      "is full without a match, b'' at EOF, None if non-blocking and not found yet."),
    M("read", pipe_read, KW,
      "Reads up to n bytes (all if n < 0); may return a written bytes object itself."),
    M("readinto", pipe_readinto, METH_O,
      "Reads into a writable buffer; returns the count, 0 at EOF, None if it would block."),
    {NULL, NULL, 0, NULL},
};

int tpy_pipe_setup(PyObject *m, PyObject *io_rawiobase)
{
    if (str_set == NULL) {
        str_set = PyUnicode_InternFromString("set");
        str_clear = PyUnicode_InternFromString("clear");
        if (str_set == NULL || str_clear == NULL)
            return -1;
    }
    if (PipeBase_Type == NULL) {
        PyType_Slot slots[] = {
            {Py_tp_doc, "C implementation of tpipe.Pipe"},
            {Py_tp_dealloc, TPY_FN(pipe_dealloc)},
            {Py_tp_traverse, TPY_FN(pipe_traverse)},
            {Py_tp_clear, TPY_FN(pipe_clear)},
            {Py_tp_repr, TPY_FN(pipe_repr)},
            {Py_tp_methods, pipe_methods},
            {Py_tp_getset, pipe_getset},
            {Py_tp_init, TPY_FN(pipe_init)},
            {Py_tp_new, TPY_FN(PyType_GenericNew)},
            {0, NULL},
        };
        PipeBase_Type =
            tpy_make_base_type("tpipe._PipeBase", slots, sizeof(pipe_state), &state_off);
        if (PipeBase_Type == NULL)
            return -1;
    }
    PyObject *cls = tpy_make_public_class(
        "Pipe", PipeBase_Type, io_rawiobase,
        "Pipe(bsize=io.DEFAULT_BUFFER_SIZE, rblocking=True, wblocking=True, timeout=None, "
        "name=None)\n\nBuffered pipe for inter-thread communication (io.RawIOBase).");
    if (cls == NULL)
        return -1;
    Py_INCREF(PipeBase_Type);
    if (PyModule_AddObject(m, "_PipeBase", (PyObject *)PipeBase_Type) < 0) {
        Py_DECREF(PipeBase_Type);
        Py_DECREF(cls);
        return -1;
    }
    if (PyModule_AddObject(m, "Pipe", cls) < 0) {
        Py_DECREF(cls);
        return -1;
    }
    return 0;
}
