"""test_pipe_blocking.py - timeouts, non-blocking ends, flush, readall and
the wait calls of tpipe.Pipe. Timing checks are lower bounds only."""

import errno
import io
import time
import unittest

from support import elapsed_since, reader_arrived, start, tpipe

T = 0.3  # a short pipe timeout


class TimeoutTests(unittest.TestCase):

    def assertTimedOut(self, call, at_least=T):
        t0 = time.monotonic()
        with self.assertRaises(OSError) as cm:
            call()
        self.assertTrue(tpipe.io_timedout(cm.exception), cm.exception)
        self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
        self.assertGreaterEqual(elapsed_since(t0), at_least * 0.99)
        return cm.exception

    def test_read_times_out(self):
        p = tpipe.Pipe(timeout=T, name="slow")
        e = self.assertTimedOut(lambda: p.read(1))
        self.assertEqual(e.filename, "slow")
        self.assertTimedOut(lambda: p.readinto(bytearray(1)))

    def test_write_times_out_when_full(self):
        p = tpipe.Pipe(timeout=T, bsize=4)
        p.write(b"1234")
        self.assertTimedOut(lambda: p.write(b"more"))
        self.assertTimedOut(lambda: p.write(bytearray(b"more")))
        self.assertEqual(p.buffered(), 4, "timed-out writes add nothing")

    def test_zero_timeout_fails_at_once(self):
        p = tpipe.Pipe(timeout=0)
        self.assertTimedOut(lambda: p.read(1), at_least=0)

    def test_flush_times_out_with_an_idle_reader(self):
        p = tpipe.Pipe(timeout=T)
        p.write(b"stuck")
        self.assertTimedOut(p.flush)

    def test_readall_times_out_and_hands_back_what_it_read(self):
        p = tpipe.Pipe(timeout=T, rblocking=False)
        p.write(b"123")
        e = self.assertTimedOut(p.readall)
        self.assertEqual(e.partial, b"123")
        self.assertFalse(p.readblocking(), "readall leaves the mode as it was")

    def test_waits_time_out(self):
        p = tpipe.Pipe(bsize=2)
        self.assertTimedOut(lambda: p.read_wait(T))
        self.assertTimedOut(lambda: p.read_wait(timeout=T))
        p.write(b"ab")
        self.assertTimedOut(lambda: p.write_wait(T))
        self.assertTimedOut(lambda: p.flush_wait(timeout=T))

    def test_waits_return_when_ready(self):
        p = tpipe.Pipe(bsize=2)
        self.assertIsNone(p.write_wait())
        self.assertIsNone(p.flush_wait(0))
        p.write(b"x")
        self.assertIsNone(p.read_wait(0))
        p.read(1)
        p.write_eof()
        self.assertIsNone(p.read_wait(0), "EOF makes the pipe readable")
        with self.assertRaises(OSError) as cm:
            p.write_wait(0)
        self.assertEqual(cm.exception.errno, errno.EPIPE)


class NonBlockingTests(unittest.TestCase):

    def test_non_blocking_writer_gets_none_when_full(self):
        p = tpipe.Pipe(bsize=4, wblocking=False)
        self.assertEqual(p.write(b"1234"), 4)
        self.assertIsNone(p.write(b"x"))
        self.assertIsNone(p.write(bytearray(b"x")))
        self.assertIsNone(p.write(memoryview(b"x")))
        p.read(2)
        self.assertEqual(p.write(bytearray(b"abcdef")), 2)

    def test_non_blocking_flush_raises_blocking_io_error(self):
        p = tpipe.Pipe(wblocking=False)
        self.assertIsNone(p.flush(), "empty: nothing to wait for")
        p.write(b"data")
        with self.assertRaises(io.BlockingIOError) as cm:
            p.flush()
        self.assertTrue(tpipe.io_blocked(cm.exception))

    def test_switching_modes(self):
        p = tpipe.Pipe(timeout=T)
        p.set_readblocking(False)
        self.assertIsNone(p.read(1))
        p.set_readblocking(True)
        with self.assertRaises(OSError):
            p.read(1)

    def test_readall_blocks_even_when_non_blocking(self):
        p = tpipe.Pipe(rblocking=False)
        arrived = reader_arrived(p)

        def writer():
            self.assertTrue(arrived.wait(30))
            p.write(b"late ")
            p.write(bytearray(b"data"))
            p.write_eof()

        w = start(writer)
        self.assertEqual(p.readall(), b"late data")
        w.finish(self)
        self.assertFalse(p.readblocking())


class ThreadedWaitTests(unittest.TestCase):

    def test_blocked_read_wakes_on_write(self):
        p = tpipe.Pipe(timeout=30)
        arrived = reader_arrived(p)
        r = start(p.read, 1)
        self.assertTrue(arrived.wait(30))
        p.write(b"1234567890")
        self.assertEqual(r.finish(self), b"1")

    def test_blocked_write_takes_the_room_a_reader_makes(self):
        p = tpipe.Pipe(timeout=30, bsize=10)
        p.write(b"1234567890")
        w = start(p.write, bytearray(b"extra"))
        self.assertEqual(p.read(1), b"1")
        self.assertEqual(w.finish(self), 1)

    def test_flush_waits_for_the_reader(self):
        p = tpipe.Pipe(timeout=30, bsize=10)
        p.write(b"0123456789")
        f = start(p.flush)
        self.assertEqual(p.read(4), b"0123")
        self.assertEqual(p.read(100), b"456789")
        f.finish(self)
        self.assertTrue(p.empty())

    def test_flush_returns_when_the_reader_closes(self):
        p = tpipe.Pipe(timeout=30, name="closing")
        p.write(b"abandoned")
        f = start(p.flush)
        with self.assertLogs(level="WARNING"):
            p.close()
        f.finish(self)

    def test_close_wakes_blocked_calls_with_epipe(self):
        p = tpipe.Pipe(bsize=2)
        p.write(b"ab")
        writer = start(p.write, b"cd")
        waiter = start(p.write_wait)
        q = tpipe.Pipe()
        arrived = reader_arrived(q)
        reader = start(q.read, 1)
        self.assertTrue(arrived.wait(30))
        with self.assertLogs(level="WARNING"):
            p.close()
        q.close()
        for t in (writer, waiter, reader):
            with self.assertRaises(OSError) as cm:
                t.finish(self)
            self.assertEqual(cm.exception.errno, errno.EPIPE)


if __name__ == "__main__":
    unittest.main()
