"""test_seed_examples.py - the usage patterns the seed document describes,
written against tpipe exactly as against pyslet.streams."""

import errno
import io
import logging
import threading
import unittest

from tpipe import BufferedStreamWrapper, Pipe, io_blocked, io_timedout

from support import start

PAYLOAD = bytes(range(256)) * 400  # 100 KiB


class SeedExampleTests(unittest.TestCase):

    def test_producer_loop_with_canwrite(self):
        """The producer writes at most canwrite() bytes and does something
        else (waits for a reader) while the pipe is full: no write ever
        blocks or returns None."""
        p = Pipe(bsize=1024, wblocking=False, name="producer")
        reader_seen = threading.Event()
        p.set_rflag(reader_seen)
        source = io.BytesIO(PAYLOAD)

        def producer():
            busy = True
            while busy:
                wmax = p.canwrite()
                if wmax:
                    data = source.read(wmax)
                    if not data:
                        p.write_eof()
                        busy = False
                    else:
                        n = p.write(data)
                        self.assertEqual(n, len(data), "canwrite() promised room")
                else:
                    # do something else while the pipe is blocked
                    self.assertTrue(reader_seen.wait(30))

        w = start(producer)
        out = p.readall()
        w.finish(self)
        self.assertEqual(out, PAYLOAD)

    def test_reader_detected_through_rflag(self):
        p = Pipe(bsize=10, timeout=30)
        rflag = threading.Event()
        p.set_rflag(rflag)
        reader = start(p.read, 5)
        self.assertTrue(rflag.wait(30), "a reader turned up")
        p.write(b"hello world")
        self.assertEqual(reader.finish(self), b"hello")
        p.write(b"!!!!")  # 6 + 4 = bsize
        self.assertEqual(p.canwrite(), 0)
        self.assertFalse(rflag.is_set(), "cleared when the pipe is full")

    def test_writer_learns_the_reader_closed(self):
        p = Pipe(bsize=4, name="gone")
        rflag = threading.Event()
        p.set_rflag(rflag)
        p.write(b"full")
        p.canwrite()
        self.assertFalse(rflag.is_set())
        with self.assertLogs(level=logging.WARNING):
            p.close()
        self.assertTrue(rflag.is_set(), "set as a warning: the reader will never come")
        with self.assertRaises(IOError) as cm:
            p.write(b"x")
        self.assertEqual(cm.exception.errno, errno.EPIPE)

    def test_canread_true_at_eof(self):
        p = Pipe()
        p.write_eof()
        self.assertTrue(p.canread())
        self.assertEqual(p.read(10), b"")

    def test_timeout_zero_is_not_non_blocking(self):
        p = Pipe(timeout=0)
        with self.assertRaises(IOError) as cm:
            p.read(1)
        self.assertTrue(io_timedout(cm.exception))
        q = Pipe(rblocking=False)
        self.assertIsNone(q.read(1))

    def test_non_blocking_flush_is_an_ewouldblock_error(self):
        p = Pipe(wblocking=False)
        p.write(b"pending")
        try:
            p.flush()
            self.fail("flush returned with data buffered")
        except IOError as e:
            self.assertTrue(io_blocked(e))

    def test_close_discards_rather_than_flushing(self):
        p = Pipe(name="discard")  # blocking writer, no timeout
        p.write(b"never read")
        with self.assertLogs(level=logging.WARNING) as logs:
            p.close()  # must not block in IOBase.close's flush
        self.assertIn("discard", logs.output[0])

    def test_readall_waits_for_eof_on_a_non_blocking_pipe(self):
        p = Pipe(rblocking=False, timeout=30)
        writer_go = threading.Event()
        p.set_rflag(writer_go)

        def writer():
            self.assertTrue(writer_go.wait(30))
            for i in range(10):
                p.write(b"%d," % i)
            p.write_eof()

        w = start(writer)
        self.assertEqual(p.readall(), b"0,1,2,3,4,5,6,7,8,9,")
        w.finish(self)
        self.assertFalse(p.readblocking())

    def test_wrapper_over_a_non_blocking_source_reverts_to_streaming(self):
        p = Pipe(rblocking=False)
        p.write(b"partial request body")
        w = BufferedStreamWrapper(p)
        self.assertFalse(w.seekable())
        self.assertIsNone(w.length)
        self.assertEqual(w.peek(7), b"partial")

    def test_http_style_header_then_body(self):
        """A request streamed by a socket thread, parsed by an application
        thread: header lines with readmatch, the body with read."""
        p = Pipe(bsize=64, timeout=30, name="request")
        request = (b"POST /upload HTTP/1.1\r\nHost: example\r\n"
                   b"Content-Length: 1000\r\n\r\n" + b"B" * 1000)

        def socket_thread():
            for i in range(0, len(request), 37):
                while True:
                    if p.canwrite():
                        break
                    p.write_wait()
                p.write(request[i:i + 37])
            p.write_eof()

        s = start(socket_thread)
        headers = []
        while True:
            line = p.readmatch()
            if line == b"\r\n":
                break
            headers.append(line)
        self.assertEqual(headers[0], b"POST /upload HTTP/1.1\r\n")
        self.assertEqual(len(headers), 3)
        body = p.readall()
        s.finish(self)
        self.assertEqual(body, b"B" * 1000)


if __name__ == "__main__":
    unittest.main()
