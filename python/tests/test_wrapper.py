"""test_wrapper.py - tpipe.BufferedStreamWrapper over BytesIO, a Pipe and
sources that block or fail."""

import io
import unittest

from support import tpipe

DATA = b"How long is a piece of string? Twice half its length."


class Chunky:
    """A source that returns at most `step` bytes a read and can block
    (None) or fail at a given offset."""

    def __init__(self, data, step=4, block_at=None, fail_at=None):
        self.data, self.step, self.pos = data, step, 0
        self.block_at, self.fail_at = block_at, fail_at
        self.calls = 0

    def read(self, n):
        self.calls += 1
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise ValueError("source broke")
        if self.block_at is not None and self.pos >= self.block_at:
            self.block_at = None
            return None
        out = self.data[self.pos:self.pos + min(n, self.step)]
        self.pos += len(out)
        return out


def drain(w, n=7):
    out = []
    while True:
        chunk = w.read(n)
        if not chunk:
            return b"".join(out)
        out.append(chunk)


class WrapperTests(unittest.TestCase):

    def test_is_a_raw_io_subclass(self):
        w = tpipe.BufferedStreamWrapper(io.BytesIO(DATA))
        self.assertIsInstance(w, io.RawIOBase)
        self.assertIn(io.RawIOBase, type(w).__mro__)
        self.assertTrue(w.readable())
        self.assertFalse(w.writable())
        self.assertRaises(OSError, w.fileno)

    def test_small_source_is_seekable(self):
        w = tpipe.BufferedStreamWrapper(io.BytesIO(DATA))
        self.assertTrue(w.seekable())
        self.assertEqual(w.length, len(DATA))
        self.assertEqual(w.tell(), 0)
        self.assertEqual(w.read(4), DATA[:4])
        self.assertEqual(w.seek(-6, io.SEEK_END), len(DATA) - 6)
        self.assertEqual(w.read(), DATA[-6:])
        w.seek(3)
        w.seek(2, io.SEEK_CUR)
        self.assertEqual(w.tell(), 5)
        self.assertEqual(w.read(3), DATA[5:8])
        w.seek(len(DATA) + 10)
        self.assertEqual(w.read(5), b"", "past the end reads nothing")
        self.assertRaises(ValueError, w.seek, 0, 7)
        self.assertRaises(ValueError, w.seek, -1)

    def test_source_of_exactly_buffsize_overflows(self):
        w = tpipe.BufferedStreamWrapper(io.BytesIO(DATA), len(DATA))
        self.assertFalse(w.seekable())
        self.assertIsNone(w.length)
        self.assertEqual(w.read(), DATA)

    def test_large_source_streams_through(self):
        for buffsize in (1, 10, len(DATA) // 2, len(DATA) - 1):
            for n in (1, 5, 10, 100):
                w = tpipe.BufferedStreamWrapper(io.BytesIO(DATA), buffsize)
                self.assertFalse(w.seekable())
                self.assertIsNone(w.length)
                self.assertRaises(io.UnsupportedOperation, w.tell)
                self.assertRaises(io.UnsupportedOperation, w.seek, 0)
                self.assertEqual(drain(w, n), DATA, (buffsize, n))

    def test_peek(self):
        w = tpipe.BufferedStreamWrapper(io.BytesIO(DATA), 10)
        self.assertEqual(w.peek(3), DATA[:3])
        self.assertEqual(w.read(8), DATA[:8])
        self.assertEqual(w.peek(5), DATA[8:10], "peek stops at the end of the buffer")
        self.assertEqual(drain(w, 3)[:2], DATA[8:10])
        self.assertEqual(w.peek(1), b"")

    def test_seed_keyword_names(self):
        w = tpipe.BufferedStreamWrapper(src=io.BytesIO(DATA), buffsize=1000)
        self.assertEqual(w.peek(nbytes=3), DATA[:3])
        self.assertEqual(w.seek(offset=2, whence=io.SEEK_SET), 2)
        self.assertEqual(w.read(nbytes=3), DATA[2:5])
        self.assertEqual(w.read(size=2), DATA[5:7])

    def test_readinto(self):
        w = tpipe.BufferedStreamWrapper(io.BytesIO(DATA))
        buf = bytearray(5)
        self.assertEqual(w.readinto(buf), 5)
        self.assertEqual(buf, DATA[:5])
        self.assertRaises(TypeError, w.readinto, b"const")

    def test_blocked_source_counts_as_overflow(self):
        src = Chunky(DATA, step=4, block_at=8)
        w = tpipe.BufferedStreamWrapper(src)
        self.assertFalse(w.seekable())
        self.assertEqual(w.peek(100), DATA[:8])
        self.assertEqual(w.read(100), DATA[:8])
        # the source unblocks: the rest comes straight from it
        self.assertEqual(drain(w, 100), DATA[8:])

    def test_blocked_source_read_returns_none(self):
        src = Chunky(DATA, step=100)
        w = tpipe.BufferedStreamWrapper(src, 10)
        self.assertEqual(w.read(10), DATA[:10])
        src.block_at = src.pos
        self.assertIsNone(w.read(10))
        src.block_at = src.pos
        self.assertIsNone(w.readinto(bytearray(3)))
        self.assertEqual(w.read(5), DATA[10:15])

    def test_source_exception_in_constructor_propagates(self):
        with self.assertRaises(ValueError):
            tpipe.BufferedStreamWrapper(Chunky(DATA, fail_at=4))

    def test_source_exception_while_streaming_propagates(self):
        src = Chunky(DATA, step=100)
        w = tpipe.BufferedStreamWrapper(src, 10)
        self.assertEqual(w.read(10), DATA[:10])
        src.fail_at = 0
        with self.assertRaises(ValueError):
            w.read(10)

    def test_wraps_a_pipe(self):
        p = tpipe.Pipe(rblocking=False, name="src")
        for c in DATA:
            p.write(bytes([c]))
        p.write_eof()
        w = tpipe.BufferedStreamWrapper(p)
        self.assertTrue(w.seekable())
        self.assertEqual(w.length, len(DATA))
        self.assertEqual(w.read(10), DATA[:10])
        self.assertIs(w.src, p)

    def test_wraps_an_unfinished_pipe(self):
        p = tpipe.Pipe(rblocking=False, name="open-ended")
        p.write(DATA)
        w = tpipe.BufferedStreamWrapper(p)
        self.assertFalse(w.seekable())
        self.assertIsNone(w.length)
        self.assertEqual(w.peek(3), DATA[:3])
        self.assertEqual(w.read(len(DATA)), DATA)
        self.assertIsNone(w.read(1), "the pipe is blocked")
        p.write(b"more")
        p.write_eof()
        self.assertEqual(drain(w), b"more")

    def test_bad_arguments(self):
        self.assertRaises(TypeError, tpipe.BufferedStreamWrapper)
        self.assertRaises(ValueError, tpipe.BufferedStreamWrapper, io.BytesIO(b""), 0)
        self.assertRaises(AttributeError, tpipe.BufferedStreamWrapper, object())


if __name__ == "__main__":
    unittest.main()
