#!/usr/bin/env python3
"""py_bench.py - throughput and message rate of tpipe.Pipe between two
Python threads, next to os.pipe() and queue.Queue of bytes, in one run.

    python3 bench/py_bench.py [--quick] [--mb N] [--msgs N] [--repeat N]

Each figure is the best of --repeat runs (the machine is shared: the best
run is the least disturbed one). Ratios are tpipe / other: above 1 means
tpipe is faster. Needs `tpipe` importable (pip install ., or PYTHONPATH set
to the CMake build's python/ folder).
"""

import argparse
import os
import platform
import queue
import sys
import threading
import time

import tpipe

CHUNK = 64 * 1024   # bytes per write in the throughput runs
MSG = 64            # bytes per message in the message-rate runs


# ---- transports: each gives a writer and a reader function ----

def tpipe_bytes(total, size):
    """tpipe.Pipe, writing one bytes object again and again (kept by
    reference: no copy), reading with read(size)."""
    p = tpipe.Pipe(bsize=max(size * 4, 64 * 1024))
    data = b"x" * size

    def writer():
        write = p.write
        for _ in range(total // size):
            write(data)
        p.write_eof()

    def reader():
        read, got = p.read, 0
        while True:
            b = read(size)
            if not b:
                return got
            got += len(b)
    return writer, reader


def tpipe_bytearray(total, size):
    """tpipe.Pipe, writing a bytearray (copied, at most canwrite a call) and
    reading with readinto into a reused buffer."""
    p = tpipe.Pipe(bsize=max(size * 4, 64 * 1024))
    data = bytearray(b"x" * size)

    def writer():
        write = p.write
        mv = memoryview(data)
        for _ in range(total // size):
            n = write(data)
            while n < size:  # partial copy: write the rest (as bytes)
                n += write(bytearray(mv[n:]))
        p.write_eof()

    def reader():
        buf = bytearray(size)
        readinto, got = p.readinto, 0
        while True:
            n = readinto(buf)
            if not n:
                return got
            got += n
    return writer, reader


def os_pipe(total, size):
    """os.pipe(), os.write/os.read (the kernel copies twice)."""
    rfd, wfd = os.pipe()
    data = b"x" * size

    def writer():
        write = os.write
        for _ in range(total // size):
            view = data
            while view:
                n = write(wfd, view)
                view = view[n:]
        os.close(wfd)

    def reader():
        read, got = os.read, 0
        while True:
            b = read(rfd, size)
            if not b:
                os.close(rfd)
                return got
            got += len(b)
    return writer, reader


def queue_bytes(total, size):
    """queue.Queue of bytes objects, bounded like the pipe's buffer."""
    q = queue.Queue(maxsize=max(4, (64 * 1024) // size))
    data = b"x" * size

    def writer():
        put = q.put
        for _ in range(total // size):
            put(data)
        put(b"")

    def reader():
        get, got = q.get, 0
        while True:
            b = get()
            if not b:
                return got
            got += len(b)
    return writer, reader


TRANSPORTS = [
    ("tpipe.Pipe (bytes)", tpipe_bytes),
    ("tpipe.Pipe (bytearray)", tpipe_bytearray),
    ("os.pipe()", os_pipe),
    ("queue.Queue", queue_bytes),
]


def run_once(factory, total, size):
    writer, reader = factory(total, size)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("got", reader()))
    t0 = time.perf_counter()
    t.start()
    writer()
    t.join()
    elapsed = time.perf_counter() - t0
    expected = (total // size) * size
    if result.get("got") != expected:
        raise SystemExit("%s moved %r bytes, expected %d" % (factory.__name__,
                                                            result.get("got"), expected))
    return elapsed


def best_of(repeat, factory, total, size):
    return min(run_once(factory, total, size) for _ in range(repeat))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    ap.add_argument("--mb", type=int, default=512, help="MiB moved per throughput run")
    ap.add_argument("--msgs", type=int, default=200000, help="messages per rate run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = ap.parse_args()
    if args.quick:
        args.mb, args.msgs, args.repeat = 8, 5000, 1

    total = args.mb * 1024 * 1024
    print("tpipe Python benchmark: Python %s on %s, %d CPUs" % (
        platform.python_version(), platform.machine(), os.cpu_count() or 0))
    print("throughput: %d MiB in %d KiB writes; message rate: %d messages of %d bytes; "
          "best of %d" % (args.mb, CHUNK // 1024, args.msgs, MSG, args.repeat))
    print()
    print("%-24s %14s %16s" % ("transport", "MiB/s", "messages/s"))
    results = {}
    for name, factory in TRANSPORTS:
        t_bulk = best_of(args.repeat, factory, total, CHUNK)
        t_msg = best_of(args.repeat, factory, args.msgs * MSG, MSG)
        results[name] = (args.mb / t_bulk, args.msgs / t_msg)
        print("%-24s %14.0f %16.0f" % (name, results[name][0], results[name][1]))
        sys.stdout.flush()
    print()
    base = results["tpipe.Pipe (bytes)"]
    for other in ("os.pipe()", "queue.Queue"):
        o = results[other]
        print("tpipe.Pipe (bytes) / %-12s throughput x%.2f, message rate x%.2f"
              % (other, base[0] / o[0], base[1] / o[1]))
    copy = results["tpipe.Pipe (bytearray)"]
    o = results["os.pipe()"]
    print("tpipe.Pipe (bytearray) / os.pipe()   throughput x%.2f, message rate x%.2f"
          % (copy[0] / o[0], copy[1] / o[1]))


if __name__ == "__main__":
    main()
