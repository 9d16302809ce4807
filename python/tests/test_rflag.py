"""test_rflag.py - Pipe.set_rflag: the threading.Event is set at the start
of every read, by readmatch on success or when it finds no match with room
left, when the pipe is closed; cleared when canwrite() returns 0."""

import errno
import threading
import unittest

from support import start, tpipe


class RflagTests(unittest.TestCase):

    def setUp(self):
        self.p = tpipe.Pipe(bsize=10, timeout=30, name="flagged")
        self.ev = threading.Event()
        self.p.set_rflag(self.ev)

    def test_not_set_by_installing_it(self):
        self.assertFalse(self.ev.is_set())
        self.assertIs(self.p.rflag, self.ev)

    def test_set_at_the_start_of_every_read_call(self):
        p, ev = self.p, self.ev
        p.write(b"abcdef")
        for read in (lambda: p.read(1), lambda: p.readinto(bytearray(1)),
                     lambda: p.read(0)):
            ev.clear()
            read()
            self.assertTrue(ev.is_set())

    def test_set_by_a_non_blocking_read_that_returns_none(self):
        self.p.set_readblocking(False)
        self.assertIsNone(self.p.read(1))
        self.assertTrue(self.ev.is_set())

    def test_set_before_a_blocking_read_waits(self):
        r = start(self.p.read, 1)
        self.assertTrue(self.ev.wait(30), "the reader was detected while it waits")
        self.p.write(b"!")
        self.assertEqual(r.finish(self), b"!")

    def test_set_by_readall(self):
        self.p.write(b"abc")
        self.p.write_eof()
        self.p.readall()
        self.assertTrue(self.ev.is_set())

    def test_cleared_when_canwrite_is_zero(self):
        p, ev = self.p, self.ev
        ev.set()
        p.write(b"12345")
        self.assertEqual(p.canwrite(), 5)
        self.assertTrue(ev.is_set(), "room left: untouched")
        p.write(b"67890")
        self.assertEqual(p.canwrite(), 0)
        self.assertFalse(ev.is_set())
        p.read(1)
        self.assertTrue(ev.is_set())

    def test_readmatch(self):
        p, ev = self.p, self.ev
        p.set_readblocking(False)
        p.write(b"ab")
        self.assertIsNone(p.readmatch())
        self.assertTrue(ev.is_set(), "no match, room left: the reader waits for data")
        ev.clear()
        p.write(b"\r\n")
        self.assertEqual(p.readmatch(), b"ab\r\n")
        self.assertTrue(ev.is_set(), "success sets it")
        ev.set()
        p.write(b"0123456789")
        with self.assertRaises(OSError) as cm:
            p.readmatch()
        self.assertEqual(cm.exception.errno, errno.ENOBUFS)
        self.assertFalse(ev.is_set(), "full without a match: cleared, as canwrite() would")

    def test_set_when_closed(self):
        self.p.close()
        self.assertTrue(self.ev.is_set())

    def test_set_at_once_on_a_closed_pipe(self):
        self.p.close()
        ev2 = threading.Event()
        self.p.set_rflag(ev2)
        self.assertTrue(ev2.is_set())

    def test_none_removes_it(self):
        self.p.set_rflag(None)
        self.assertIsNone(self.p.rflag)
        self.p.write(b"x")
        self.p.read(1)
        self.assertFalse(self.ev.is_set())

    def test_writer_waits_on_the_flag_for_a_reader(self):
        """The seed's use: a writer facing a full pipe waits on the flag
        until a reader turns up, then writes again."""
        p, ev = self.p, self.ev
        chunks = [bytes([65 + i]) * 10 for i in range(20)]

        def writer():
            for c in chunks:
                while not p.canwrite():
                    self.assertTrue(ev.wait(30), "a reader must turn up")
                p.write(c)
            p.write_eof()

        w = start(writer)
        got = p.readall()
        w.finish(self)
        self.assertEqual(got, b"".join(chunks))


if __name__ == "__main__":
    unittest.main()
