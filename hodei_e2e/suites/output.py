"""A suite's output, from its pipe to its log file, tail and listeners, at the speed of a pipe.

One thread per running suite reads the pipe in large blocks (`os.read`, up to 1 MiB), masks each
block (holding back only a possible start of a secret), appends it to the log file as it is, and
splits it into lines for the rest: the last `TAIL_LINES` lines, the lines that carry test
counts, and the listener (the terminal board), each line cut to `lines.LINE_LIMIT`. Memory is
bounded whatever the output: no line is ever held whole.

Reading stops at end-of-file, or on `stop()`: a descendant that left the suite's process group
may keep the pipe open for ever, and the run must not wait for it. After `stop()` the thread
reads what is already in the pipe (for at most `DRAIN` seconds) and ends.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

from hodei_e2e.masking import masker
from hodei_e2e.suites.lines import Block, LineSplitter

TAIL_LINES = 200
READ_SIZE = 1 << 20
PIPE_SIZE = 1 << 20  # asked of the kernel for the suite's pipe: fewer, larger reads
DRAIN = 1.0  # seconds of reading what is left after a stop
POLL = 0.1
SUMMARY_LINES = 10_000  # test-count lines kept (libtest prints one per test binary)
SUMMARY_LINE_CHARS = 500
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), not named in Python 3.10's fcntl


def enlarge_pipe(fd: int) -> None:
    """Ask for a larger pipe buffer; where the system refuses, the default one does."""
    try:
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, OSError):
        pass


class SuiteOutput:
    """Reads one attempt's pipe in a thread; `tail` and `summary_lines` are what it kept."""

    def __init__(self, fd: int, log: BinaryIO, on_lines: Callable[[Block], None]) -> None:
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.summary_lines: deque[str] = deque(maxlen=SUMMARY_LINES)
        self._fd = fd
        self._log = log
        self._on_lines = on_lines
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="suite-output", daemon=True)

    def start(self) -> SuiteOutput:
        self._thread.start()
        return self

    def finish(self, wait: float) -> None:
        """Wait up to `wait` seconds for end-of-file, then stop reading (after draining what
        the pipe holds) and wait for the thread."""
        self._thread.join(timeout=wait)
        self._stop.set()
        self._thread.join()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        stream = masker.stream()
        splitter = LineSplitter()
        poller = select.poll()
        poller.register(self._fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        drain_until: float | None = None
        try:
            while True:
                if self._stop.is_set() and drain_until is None:
                    drain_until = time.monotonic() + DRAIN
                wait = 0 if drain_until is not None else int(POLL * 1000)
                if not poller.poll(wait):
                    if drain_until is not None:
                        break  # stopped, and nothing more is there now
                    continue
                data = os.read(self._fd, READ_SIZE)
                if not data:
                    break
                self._take(stream.feed(data), splitter)
                if drain_until is not None and time.monotonic() > drain_until:
                    break
        except OSError:
            pass  # the pipe, or the log's disk, went away under us
        finally:
            rest = stream.finish()
            with contextlib.suppress(OSError, ValueError):
                self._log.write(rest)
                self._log.flush()
            self._lines(splitter.feed(rest))
            self._lines(splitter.finish())

    def _take(self, data: bytes, splitter: LineSplitter) -> None:
        if data:
            self._log.write(data)
            self._log.flush()
            self._lines(splitter.feed(data))

    def _lines(self, block: Block) -> None:
        if not block:
            return
        self.tail.extend(block.last(TAIL_LINES))
        # libtest's `test result:` lines and pytest's `=== ... ===` (with a quick test first: a
        # search for "\n=" is three times slower than one for "==", '\n' being everywhere)
        found = block.containing(b"test result:") if block.has(b"test result:") else []
        if block.has(b"=="):
            found += [
                line
                for line in block.containing(b"==")
                if line.startswith("=") and "test result:" not in line
            ]
        self.summary_lines.extend(line for line in found if len(line) <= SUMMARY_LINE_CHARS)
        self._on_lines(block)
