"""support.py - helpers shared by the tpipe Python test suites."""

import logging
import threading
import time

import tpipe

# Pipes that tests drop with data in them warn when collected; keep those
# lines off the test output (assertLogs still sees them through the root).
logging.getLogger("tpipe").addHandler(logging.NullHandler())

# "Must not hang" bound for joins: generous, never a timing check.
JOIN_TIMEOUT = 60.0


class Worker(threading.Thread):
    """A thread running fn(*args) that keeps its result or exception."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:  # reported by finish()
            self.error = e

    def finish(self, testcase):
        """Joins the thread and re-raises what it raised."""
        self.join(JOIN_TIMEOUT)
        testcase.assertFalse(self.is_alive(), "worker thread hung")
        if self.error is not None:
            raise self.error
        return self.result


def start(fn, *args):
    w = Worker(fn, *args)
    w.start()
    return w


def reader_arrived(pipe):
    """Installs a fresh Event as pipe's rflag and returns it: it is set as
    soon as a reader starts a read call."""
    ev = threading.Event()
    pipe.set_rflag(ev)
    return ev


def elapsed_since(t0):
    return time.monotonic() - t0


__all__ = ["tpipe", "Worker", "start", "reader_arrived", "elapsed_since", "JOIN_TIMEOUT"]
