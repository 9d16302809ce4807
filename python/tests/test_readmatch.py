"""test_readmatch.py - Pipe.readmatch: lines split over writes, custom
delimiters, ENOBUFS on a full buffer, EOF, blocking and non-blocking."""

import errno
import sys
import time
import unittest

from support import elapsed_since, reader_arrived, start, tpipe


class ReadmatchTests(unittest.TestCase):

    def test_crlf_split_across_writes(self):
        p = tpipe.Pipe(bsize=64, rblocking=False)
        for part in (b"GET / HTTP/1.1\r", b"\nHost: x\r\n", b"\r\n"):
            p.write(part)
        self.assertEqual(p.readmatch(), b"GET / HTTP/1.1\r\n")
        self.assertEqual(p.readmatch(), b"Host: x\r\n")
        self.assertEqual(p.readmatch(), b"\r\n")
        self.assertIsNone(p.readmatch())

    def test_custom_match_and_bytes_like_match(self):
        p = tpipe.Pipe(rblocking=False)
        p.write(b"a;b;;c")
        self.assertEqual(p.readmatch(b";"), b"a;")
        self.assertEqual(p.readmatch(match=bytearray(b";;")), b"b;;")
        self.assertIsNone(p.readmatch(memoryview(b";")))
        self.assertEqual(p.read(10), b"c")
        self.assertRaises(ValueError, p.readmatch, b"")
        self.assertRaises(TypeError, p.readmatch, "text")

    def test_full_buffer_without_match_is_enobufs_and_consumes_nothing(self):
        for blocking in (False, True):
            p = tpipe.Pipe(bsize=10, rblocking=blocking, timeout=30)
            p.write(b"abc\r3\n4\r56\n")
            with self.assertRaises(OSError) as cm:
                p.readmatch()
            self.assertEqual(cm.exception.errno, errno.ENOBUFS)
            self.assertEqual(p.buffered(), 11)
            p.write_eof()
            self.assertEqual(p.readmatch(), b"", "EOF wins over ENOBUFS")
            self.assertEqual(p.read(100), b"abc\r3\n4\r56\n")

    def test_blocking_readmatch_times_out(self):
        p = tpipe.Pipe(bsize=10, timeout=0.3)
        p.write(b"123")
        t0 = time.monotonic()
        with self.assertRaises(OSError) as cm:
            p.readmatch()
        self.assertTrue(tpipe.io_timedout(cm.exception))
        self.assertGreaterEqual(elapsed_since(t0), 0.29)
        p.write(b"\r\n")
        self.assertEqual(p.readmatch(), b"123\r\n")

    def test_blocking_readmatch_waits_for_the_rest_of_the_line(self):
        p = tpipe.Pipe(timeout=30)
        arrived = reader_arrived(p)
        r = start(p.readmatch, b"\n")
        self.assertTrue(arrived.wait(30))
        p.write(b"par")
        p.write(b"tial")
        p.write(b" line\nnext")
        self.assertEqual(r.finish(self), b"partial line\n")
        self.assertEqual(p.read(10), b"next")

    def test_blocking_readmatch_releases_bytes_on_its_thread(self):
        """The line is made of referenced bytes objects consumed while the
        reader runs without the GIL: their release takes the GIL safely."""
        p = tpipe.Pipe(timeout=30)
        parts = [b"alpha-" * 3, b"beta-" * 3, b"gamma\n"]
        before = [sys.getrefcount(x) for x in parts]
        arrived = reader_arrived(p)
        r = start(p.readmatch, b"\n")
        self.assertTrue(arrived.wait(30))
        for part in parts:
            p.write(part)
        del part
        self.assertEqual(r.finish(self), b"".join(parts))
        self.assertEqual([sys.getrefcount(x) for x in parts], before)

    def test_eof_without_match_returns_empty(self):
        p = tpipe.Pipe(timeout=30)
        p.write(b"no newline")
        p.write_eof()
        self.assertEqual(p.readmatch(b"\n"), b"")
        self.assertEqual(p.readall(), b"no newline")

    def test_reads_while_a_blocking_readmatch_waits(self):
        """Another thread's calls still work while readmatch waits."""
        p = tpipe.Pipe(timeout=30)
        arrived = reader_arrived(p)
        r = start(p.readmatch, b"!")
        self.assertTrue(arrived.wait(30))
        self.assertTrue(p.canread() is False)
        self.assertEqual(p.buffered(), 0)
        p.write(b"done!")
        self.assertEqual(r.finish(self), b"done!")


if __name__ == "__main__":
    unittest.main()
