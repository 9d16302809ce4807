"""test_pipe_basic.py - tpipe.Pipe on one thread: construction, state,
writing (by reference and by copy), reading, EOF and close."""

import array
import errno
import io
import logging
import sys
import threading
import unittest

from support import tpipe


class ConstructionTests(unittest.TestCase):

    def test_is_a_raw_io_subclass(self):
        self.assertTrue(issubclass(tpipe.Pipe, io.RawIOBase))
        self.assertIn(io.RawIOBase, tpipe.Pipe.__mro__)
        p = tpipe.Pipe()
        self.assertIsInstance(p, io.RawIOBase)
        self.assertIsInstance(p, io.IOBase)

    def test_defaults(self):
        p = tpipe.Pipe()
        self.assertTrue(p.readblocking())
        self.assertTrue(p.writeblocking())
        self.assertIsNone(p.timeout)
        self.assertIsNone(p.name)
        self.assertEqual(p.canwrite(), io.DEFAULT_BUFFER_SIZE)
        self.assertFalse(p.canread())
        self.assertTrue(p.empty())
        self.assertEqual(p.buffered(), 0)
        self.assertFalse(p.closed)

    def test_keywords_and_positionals(self):
        p = tpipe.Pipe(bsize=10, rblocking=False, wblocking=False, timeout=2.5, name="kw")
        self.assertEqual(p.canwrite(), 10)
        self.assertFalse(p.readblocking())
        self.assertFalse(p.writeblocking())
        self.assertEqual(p.timeout, 2.5)
        self.assertEqual(p.name, "kw")
        q = tpipe.Pipe(20, False, True, 1, "pos")
        self.assertEqual(q.canwrite(), 20)
        self.assertFalse(q.readblocking())
        self.assertTrue(q.writeblocking())
        self.assertEqual(q.name, "pos")

    def test_bad_arguments(self):
        self.assertRaises(ValueError, tpipe.Pipe, bsize=0)
        self.assertRaises(ValueError, tpipe.Pipe, timeout=float("nan"))
        self.assertRaises(TypeError, tpipe.Pipe, timeout="soon")
        self.assertRaises(TypeError, tpipe.Pipe, nosuch=1)

    def test_io_base_behaviour(self):
        p = tpipe.Pipe()
        self.assertRaises(OSError, p.fileno)
        self.assertFalse(p.isatty())
        self.assertTrue(p.readable())
        self.assertTrue(p.writable())
        self.assertFalse(p.seekable())
        self.assertRaises(OSError, p.seek, 0)
        self.assertRaises(OSError, p.tell)

    def test_repr_is_the_name(self):
        self.assertEqual(repr(tpipe.Pipe(name="upstream")), "upstream")
        self.assertIn("Pipe object at", repr(tpipe.Pipe()))
        p = tpipe.Pipe(name="a")
        p.name = "b"
        self.assertEqual(repr(p), "b")

    def test_set_blocking_modes(self):
        p = tpipe.Pipe()
        p.set_readblocking(False)
        self.assertFalse(p.readblocking())
        p.set_readblocking()
        self.assertTrue(p.readblocking())
        p.set_writeblocking(blocking=False)
        self.assertFalse(p.writeblocking())
        p.set_writeblocking(True)
        self.assertTrue(p.writeblocking())

    def test_io_blocked_and_timedout(self):
        self.assertTrue(tpipe.io_blocked(OSError(errno.EAGAIN, "x")))
        self.assertTrue(tpipe.io_blocked(BlockingIOError(errno.EWOULDBLOCK, "x")))
        self.assertFalse(tpipe.io_blocked(OSError(errno.EPIPE, "x")))
        self.assertFalse(tpipe.io_blocked(OSError("no errno")))
        self.assertTrue(tpipe.io_timedout(OSError(errno.ETIMEDOUT, "x")))
        self.assertFalse(tpipe.io_timedout(OSError(errno.EAGAIN, "x")))
        self.assertRaises(AttributeError, tpipe.io_blocked, object())


class WriteTests(unittest.TestCase):

    def test_bytes_are_kept_by_reference(self):
        p = tpipe.Pipe(bsize=16)
        data = bytes(range(200)) * 10  # far more than bsize: accepted whole
        before = sys.getrefcount(data)
        self.assertEqual(p.write(data), len(data))
        self.assertEqual(sys.getrefcount(data), before + 1, "pipe holds a reference")
        self.assertEqual(p.buffered(), len(data))
        self.assertEqual(p.canwrite(), 0)
        out = p.read(len(data))
        self.assertIs(out, data, "read returned the written object itself")
        del out
        self.assertEqual(sys.getrefcount(data), before, "reference released after the read")

    def test_partial_read_of_bytes_copies(self):
        p = tpipe.Pipe()
        data = b"0123456789"
        p.write(data)
        head = p.read(4)
        self.assertEqual(head, b"0123")
        self.assertIsNot(head, data)
        self.assertEqual(p.read(100), b"456789")

    def test_bytearray_copies_at_most_canwrite(self):
        p = tpipe.Pipe(bsize=10)
        buf = bytearray(b"abcdefghijklmnop")
        self.assertEqual(p.write(buf), 10)
        buf[0:3] = b"XYZ"  # the pipe holds a copy
        self.assertEqual(p.read(100), b"abcdefghij")

    def test_other_buffers(self):
        p = tpipe.Pipe(bsize=8)
        self.assertEqual(p.write(memoryview(b"memoryview-is-whole")), 19)
        self.assertEqual(p.read(100), b"memoryview-is-whole")
        self.assertEqual(p.write(array.array("b", [1, 2, 3])), 3)
        self.assertEqual(p.read(10), b"\x01\x02\x03")
        mv = memoryview(b"0123456789abcdef")[::2]  # not contiguous
        self.assertEqual(p.write(mv), 8)
        self.assertEqual(p.read(10), b"02468ace")
        self.assertRaises(TypeError, p.write, "text")
        self.assertRaises(TypeError, p.write, 42)

    def test_empty_writes(self):
        p = tpipe.Pipe()
        self.assertEqual(p.write(b""), 0)
        self.assertEqual(p.write(bytearray()), 0)
        self.assertTrue(p.empty())

    def test_write_after_eof_is_epipe(self):
        p = tpipe.Pipe(name="eofpipe")
        p.write_eof()
        p.write_eof()  # idempotent
        for data in (b"x", bytearray(b"x"), memoryview(b"x")):
            with self.assertRaises(OSError) as cm:
                p.write(data)
            self.assertEqual(cm.exception.errno, errno.EPIPE)
            self.assertEqual(cm.exception.filename, "eofpipe")
        with self.assertRaises(OSError) as cm:
            p.canwrite()
        self.assertEqual(cm.exception.errno, errno.EPIPE)

    def test_failed_write_keeps_no_reference(self):
        p = tpipe.Pipe(bsize=4, wblocking=False)
        p.write(b"full")
        data = b"refused"
        before = sys.getrefcount(data)
        self.assertIsNone(p.write(data))
        self.assertEqual(sys.getrefcount(data), before)
        self.assertEqual(p.read(10), b"full")


class ReadTests(unittest.TestCase):

    def test_read_forms(self):
        p = tpipe.Pipe()
        p.write(b"abc")
        p.write(bytearray(b"def"))
        self.assertEqual(p.read(0), b"")
        self.assertEqual(p.read(1), b"a")
        p.write_eof()
        self.assertEqual(p.read(), b"bcdef")
        self.assertEqual(p.read(), b"")
        self.assertEqual(p.read(-1), b"")
        self.assertEqual(p.read(None), b"")
        self.assertEqual(p.read(5), b"")

    def test_seed_keyword_names(self):
        p = tpipe.Pipe()
        p.write(b"abcdef")
        self.assertEqual(p.read(nbytes=2), b"ab")
        self.assertEqual(p.read(size=2), b"cd")
        self.assertRaises(TypeError, p.read, 1, nbytes=1)
        self.assertRaises(TypeError, p.read, bogus=1)
        ev = threading.Event()
        p.set_rflag(rflag=ev)
        p.read(1)
        self.assertTrue(ev.is_set())
        self.assertEqual(p.readmatch(match=b"f"), b"f")

    def test_read_minus_one_is_readall(self):
        p = tpipe.Pipe()
        parts = [b"one ", bytearray(b"two "), b"three"]
        for part in parts:
            p.write(part)
        p.write_eof()
        self.assertEqual(p.read(-1), b"one two three")

    def test_readall_of_one_object_returns_it(self):
        p = tpipe.Pipe()
        data = b"x" * 100000
        p.write(data)
        p.write_eof()
        self.assertIs(p.readall(), data)

    def test_readinto(self):
        p = tpipe.Pipe()
        p.write(b"hello")
        buf = bytearray(3)
        self.assertEqual(p.readinto(buf), 3)
        self.assertEqual(buf, b"hel")
        mv = memoryview(bytearray(10))
        self.assertEqual(p.readinto(mv[2:]), 2)
        self.assertEqual(bytes(mv[2:4]), b"lo")
        p.write_eof()
        self.assertEqual(p.readinto(buf), 0)
        self.assertRaises(TypeError, p.readinto, b"immutable")

    def test_non_blocking_read_returns_none(self):
        p = tpipe.Pipe(rblocking=False)
        self.assertIsNone(p.read(1))
        self.assertIsNone(p.readinto(bytearray(4)))
        p.write(b"z")
        self.assertEqual(p.read(1), b"z")

    def test_canread_after_eof(self):
        p = tpipe.Pipe()
        p.write(b"12")
        self.assertTrue(p.canread())
        p.read(2)
        self.assertFalse(p.canread())
        p.write_eof()
        self.assertTrue(p.canread(), "EOF makes the next read not block")
        self.assertEqual(p.read(2), b"")


class CloseTests(unittest.TestCase):

    def test_close_marks_closed_and_is_idempotent(self):
        p = tpipe.Pipe()
        p.close()
        self.assertTrue(p.closed)
        p.close()
        self.assertTrue(p.closed)

    def test_every_call_after_close_is_epipe(self):
        p = tpipe.Pipe(name="shut")
        p.close()
        calls = [lambda: p.read(1), lambda: p.readinto(bytearray(1)), p.readall,
                 p.readmatch, lambda: p.write(b"x"), lambda: p.write(bytearray(b"x")),
                 p.canwrite, p.canread, lambda: p.read_wait(0), lambda: p.write_wait(0),
                 lambda: p.flush_wait(0)]
        for call in calls:
            with self.assertRaises(OSError) as cm:
                call()
            self.assertEqual(cm.exception.errno, errno.EPIPE, call)
        # flush is a no-op on a closed pipe (IOBase.close calls it), and
        # write_eof and the state queries still answer.
        self.assertIsNone(p.flush())
        p.write_eof()
        self.assertTrue(p.empty())
        self.assertEqual(p.buffered(), 0)

    def test_close_with_data_logs_a_warning_naming_the_pipe(self):
        p = tpipe.Pipe(name="leaky")
        p.write(b"unread")
        with self.assertLogs(level="WARNING") as logs:
            p.close()
        self.assertEqual(len(logs.records), 1)
        self.assertIn("leaky", logs.output[0])
        self.assertTrue(p.empty())

    def test_close_without_data_is_quiet(self):
        p = tpipe.Pipe(name="tidy")
        p.write(b"read")
        p.read(10)
        records = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = records.append
        logger = logging.getLogger("tpipe")
        logger.addHandler(handler)
        try:
            p.close()
        finally:
            logger.removeHandler(handler)
        self.assertEqual(records, [])

    def test_close_releases_referenced_bytes(self):
        p = tpipe.Pipe(name="drop")
        data = b"held by the pipe"
        before = sys.getrefcount(data)
        p.write(data)
        with self.assertLogs(level="WARNING"):
            p.close()
        self.assertEqual(sys.getrefcount(data), before)

    def test_context_manager_closes(self):
        with tpipe.Pipe() as p:
            p.write(b"x")
            p.read(1)
        self.assertTrue(p.closed)

    def test_garbage_collected_pipe_releases_bytes(self):
        data = b"collected"
        before = sys.getrefcount(data)
        p = tpipe.Pipe(name="gc")
        p.write(data)
        with self.assertLogs(level="WARNING"):
            del p
        self.assertEqual(sys.getrefcount(data), before)


if __name__ == "__main__":
    unittest.main()
