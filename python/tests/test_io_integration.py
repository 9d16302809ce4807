"""test_io_integration.py - tpipe objects wherever Python expects a raw
stream: io.BufferedReader/Writer, TextIOWrapper, shutil.copyfileobj and
line iteration."""

import io
import shutil
import unittest

from support import start, tpipe

LINES = [b"first line\n", b"second\n", b"\n", b"last, no newline"]


class IoIntegrationTests(unittest.TestCase):

    def full_pipe(self, parts, **kw):
        p = tpipe.Pipe(**kw)
        for part in parts:
            p.write(part)
        p.write_eof()
        return p

    def test_buffered_reader(self):
        p = self.full_pipe(LINES)
        r = io.BufferedReader(p)
        self.assertEqual(r.readline(), b"first line\n")
        self.assertEqual(r.read(3), b"sec")
        self.assertEqual(r.read(), b"ond\n\nlast, no newline")

    def test_text_wrapper_lines(self):
        p = self.full_pipe([b"caf\xc3", b"\xa9\nna\xc3\xafve\n"])
        t = io.TextIOWrapper(io.BufferedReader(p), encoding="utf-8")
        self.assertEqual(list(t), ["caf\u00e9\n", "na\u00efve\n"])

    def test_iterating_a_raw_pipe_gives_lines(self):
        p = self.full_pipe(LINES)
        self.assertEqual(list(p), LINES)
        q = self.full_pipe(LINES)
        self.assertEqual(q.readline(), LINES[0])
        self.assertEqual(q.readlines(), LINES[1:])

    def test_buffered_writer(self):
        p = tpipe.Pipe(bsize=16, timeout=30)
        out = start(p.readall)
        w = io.BufferedWriter(p, buffer_size=64)
        for i in range(100):
            w.write(b"%03d|" % i)
        w.flush()
        p.write_eof()
        self.assertEqual(out.finish(self), b"".join(b"%03d|" % i for i in range(100)))

    def test_copyfileobj_into_and_out_of_pipes(self):
        data = bytes(range(256)) * 1000
        p = tpipe.Pipe(bsize=4096, timeout=30)
        q = tpipe.Pipe(bsize=4096, timeout=30)

        def pump():
            shutil.copyfileobj(io.BytesIO(data), p, 1000)
            p.write_eof()

        def relay():
            shutil.copyfileobj(p, q)
            q.write_eof()

        a, b = start(pump), start(relay)
        sink = io.BytesIO()
        shutil.copyfileobj(q, sink)
        a.finish(self)
        b.finish(self)
        self.assertEqual(sink.getvalue(), data)

    def test_buffered_reader_over_wrapper(self):
        w = tpipe.BufferedStreamWrapper(io.BytesIO(b"".join(LINES)), 8)
        self.assertEqual(list(io.BufferedReader(w)), LINES)


if __name__ == "__main__":
    unittest.main()
