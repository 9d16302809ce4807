"""test_threads.py - tpipe.Pipe between Python threads: the GIL is released
while a call blocks, a writer and a reader make progress together, 100 MB
move intact, and Ctrl-C interrupts a blocked call without losing data."""

import hashlib
import os
import signal
import sys
import threading
import time
import unittest

from support import JOIN_TIMEOUT, reader_arrived, start, tpipe

STRESS_BYTES = 100 * 1024 * 1024


def pattern_chunk(seq, size):
    """Deterministic, position-dependent bytes so reordering shows."""
    seed = hashlib.sha256(seq.to_bytes(8, "little")).digest()
    return (seed * (size // len(seed) + 1))[:size]


class GilTests(unittest.TestCase):

    def test_blocked_read_lets_other_threads_run(self):
        p = tpipe.Pipe(timeout=60)
        arrived = reader_arrived(p)
        r = start(p.read, 10)
        self.assertTrue(arrived.wait(30))
        # This thread keeps running Python code while the reader is blocked.
        total = sum(range(200000))
        self.assertEqual(total, 199999 * 200000 // 2)
        p.write(b"wake up")
        self.assertEqual(r.finish(self), b"wake up")

    def test_blocked_write_lets_other_threads_run(self):
        p = tpipe.Pipe(timeout=60, bsize=4)
        p.write(b"full")
        w = start(p.write, b"more")
        counter = 0
        while w.is_alive() and counter < 1000:
            counter += 1
            if counter == 500:
                self.assertEqual(p.read(4), b"full")
        self.assertEqual(w.finish(self), 4)
        self.assertEqual(p.read(4), b"more")


class StressTests(unittest.TestCase):

    def _stress(self, bsize, sizes, use_bytes):
        p = tpipe.Pipe(bsize=bsize, timeout=120, name="stress")
        want = hashlib.sha256()

        def writer():
            sent, seq = 0, 0
            while sent < STRESS_BYTES:
                size = sizes[seq % len(sizes)]
                chunk = pattern_chunk(seq, size)
                want.update(chunk)
                if use_bytes:
                    # accepted whole, by reference, even beyond bsize
                    self.assertEqual(p.write(chunk), size)
                else:
                    # copied, at most canwrite() bytes a call
                    buf = bytearray(chunk)
                    while buf:
                        del buf[:p.write(buf)]
                sent += size
                seq += 1
            p.write_eof()
            return sent

        def reader():
            got, total = hashlib.sha256(), 0
            while True:
                data = p.read(65536)
                if not data:
                    return got.hexdigest(), total
                got.update(data)
                total += len(data)

        r = start(reader)
        sent = writer()
        digest, total = r.finish(self)
        self.assertEqual(total, sent)
        self.assertEqual(digest, want.hexdigest())

    def test_100mb_bytes_by_reference(self):
        self._stress(64 * 1024, [65536, 1000, 131072, 7], use_bytes=True)

    def test_100mb_bytearray_copies(self):
        self._stress(64 * 1024, [65536, 4096, 100000], use_bytes=False)


@unittest.skipIf(sys.platform == "win32", "POSIX signals")
class InterruptTests(unittest.TestCase):
    """Ctrl-C (SIGINT) in the main thread while it is blocked in a pipe call
    raises KeyboardInterrupt, and the pipe stays usable."""

    def setUp(self):
        if threading.current_thread() is not threading.main_thread():
            self.skipTest("signals are delivered to the main thread")
        self.old = signal.signal(signal.SIGINT, signal.default_int_handler)

    def tearDown(self):
        signal.signal(signal.SIGINT, self.old)

    def interrupt_when(self, event):
        def fire():
            if event.wait(JOIN_TIMEOUT):
                time.sleep(0.05)  # let the main thread settle into its wait
                os.kill(os.getpid(), signal.SIGINT)
        return start(fire)

    def test_interrupted_read(self):
        p = tpipe.Pipe(name="ctrl-c")
        k = self.interrupt_when(reader_arrived(p))
        with self.assertRaises(KeyboardInterrupt):
            p.read(10)
        k.finish(self)
        p.write(b"still works")
        self.assertEqual(p.read(100), b"still works")

    def test_interrupted_readmatch_consumes_nothing(self):
        p = tpipe.Pipe(name="ctrl-c-line")
        p.write(b"no end of line yet")
        ev = threading.Event()
        p.set_rflag(ev)
        k = self.interrupt_when(ev)
        with self.assertRaises(KeyboardInterrupt):
            p.readmatch()
        k.finish(self)
        self.assertEqual(p.buffered(), 18)
        p.write(b"\r\n")
        self.assertEqual(p.readmatch(), b"no end of line yet\r\n")

    def test_interrupted_readall_keeps_what_it_read(self):
        p = tpipe.Pipe()
        p.write(b"first part ")
        ev = threading.Event()
        p.set_rflag(ev)
        ev.clear()
        k = self.interrupt_when(ev)
        with self.assertRaises(KeyboardInterrupt) as cm:
            p.readall()
        k.finish(self)
        self.assertEqual(cm.exception.partial, b"first part ")
        p.write(b"rest")
        p.write_eof()
        self.assertEqual(p.readall(), b"rest")

    def interrupt_at_line(self, lineno):
        """SIGINT once the main thread's test frame sits on line lineno
        (it is inside the blocking call made there)."""
        main_id = threading.main_thread().ident

        def fire():
            deadline = time.monotonic() + JOIN_TIMEOUT
            while time.monotonic() < deadline:
                frame = sys._current_frames().get(main_id)
                if frame is not None and frame.f_lineno == lineno and \
                        frame.f_code.co_filename == __file__:
                    time.sleep(0.05)
                    os.kill(os.getpid(), signal.SIGINT)
                    return
                time.sleep(0.01)
        return start(fire)

    def test_interrupted_write_and_flush(self):
        p = tpipe.Pipe(bsize=4)
        p.write(b"full")
        line = sys._getframe().f_lineno
        k = self.interrupt_at_line(line + 3)
        with self.assertRaises(KeyboardInterrupt):
            p.write(b"blocked")  # line + 3
        k.finish(self)
        self.assertEqual(p.buffered(), 4, "the interrupted write added nothing")
        line = sys._getframe().f_lineno
        k = self.interrupt_at_line(line + 3)
        with self.assertRaises(KeyboardInterrupt):
            p.flush()  # line + 3
        k.finish(self)
        self.assertEqual(p.read(10), b"full")
        self.assertEqual(p.write(b"ok"), 2)

if __name__ == "__main__":
    unittest.main()
