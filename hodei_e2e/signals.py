"""Ctrl-C and SIGTERM: the first one interrupts the run, later ones only hurry the cleanup.

Python delivers a signal to the main thread between two bytecodes, wherever it is; an exception
raised there can land in a `finally`, an exit stack or the middle of `threading` internals. So the
handler raises `Interrupted` only where that is safe:

- inside `SignalGuard.interruptible(...)` (the run's steps), never in the report or teardown;
- not while the main thread waits with signals `deferred()` (it polls `check()` instead);
- not inside `threading`, `concurrent.futures`, `Popen.__init__` or `processes.spawn` (a raise
  there corrupts a lock or loses a forked child).

A signal that arrives where it may not raise is kept pending, and a timer (SIGALRM, every
`RETRY` seconds) tries again until it lands somewhere safe or the run starts cleaning up: no
interrupt is ever lost between two polls.

Before the guard exists (while the CLI imports and parses), `install_early` makes a signal end
the process quietly with 130/143, or raise `Interrupted` once `main` is ready to catch it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import TypeVar

from hodei_e2e.errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM)
RETRY = 0.01  # seconds between attempts to deliver a pending interrupt
T = TypeVar("T")

_early = {"catching": False}


def install_early() -> None:
    """The first thing the console script does: no traceback for a signal during imports."""
    for signum in HANDLED:
        signal.signal(signum, _early_handler)


@contextmanager
def catching() -> Iterator[None]:
    """While inside, an early signal raises `Interrupted` (the caller catches it) instead of
    ending the process at once."""
    _early["catching"] = True
    try:
        yield
    finally:
        _early["catching"] = False


def _early_handler(signum: int, _frame: FrameType | None) -> None:
    if not _early["catching"]:
        os._exit(128 + signum)
    raise Interrupted(signum)


def _unsafe(frame: FrameType | None) -> bool:
    """Whether raising in `frame` could corrupt a lock or lose a child process."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename in _UNSAFE_FILES or code in _UNSAFE_CODE:
            return True
        frame = frame.f_back
    return False


def _unsafe_files() -> frozenset[str]:
    import concurrent.futures._base
    import concurrent.futures.thread
    import queue

    modules = (threading, queue, concurrent.futures._base, concurrent.futures.thread)
    return frozenset(module.__file__ for module in modules if module.__file__)


def _unsafe_code() -> frozenset[object]:
    import subprocess

    from hodei_e2e.suites import processes

    # `spawn` as a whole: a child it started is not lost before its caller has it
    return frozenset({subprocess.Popen.__init__.__code__, processes.spawn.__code__})


_UNSAFE_FILES = _unsafe_files()
_UNSAFE_CODE = _unsafe_code()


class SignalGuard:
    def __init__(self) -> None:
        self.received: int | None = None
        self.hurry = False
        self._cleaning = False
        self._deferred = 0
        self._raised = False
        self._inside = 0  # depth of `interruptible` calls
        self._on_hurry: list[Callable[[], None]] = []
        self._on_signal: list[Callable[[], None]] = []
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._retry)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def on_hurry(self, callback: Callable[[], None]) -> None:
        """`callback` runs (in the handler) on every signal after the first."""
        self._on_hurry.append(callback)

    def on_signal(self, callback: Callable[[], None]) -> None:
        """`callback` runs (in the handler) on the first signal: set an event, nothing more."""
        self._on_signal.append(callback)

    def cleaning(self) -> None:
        """From now on a signal hurries the cleanup instead of interrupting it."""
        self._cleaning = True
        self._disarm()

    def interruptible(self, step: Callable[[], T]) -> T:
        """Run `step`; a signal while it runs raises `Interrupted` inside it, at a safe point."""
        self._inside += 1
        try:
            self._retry_later()  # a signal that came just before is delivered in here
            return step()
        finally:
            self._inside -= 1

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """While inside, a signal is only recorded; the code polls `check()`. Raising from a
        handler while the main thread waits on a `threading.Condition` corrupts its lock."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1

    def check(self) -> None:
        """Raise `Interrupted` for a signal recorded while deferred, once."""
        if self._pending():
            self._raised = True
            self._disarm()
            raise Interrupted(self.received)  # type: ignore[arg-type]

    # -- in the handler ------------------------------------------------------------------------

    def _pending(self) -> bool:
        return self.received is not None and not self._raised and not self._cleaning

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            for callback in self._on_signal:
                callback()
            self._deliver(frame)
            return
        self.hurry = True
        for callback in self._on_hurry:
            callback()

    def _retry(self, _signum: int, frame: FrameType | None) -> None:
        self._deliver(frame)

    def _deliver(self, frame: FrameType | None) -> None:
        if not self._pending():
            return
        if self._inside and not self._deferred and not _unsafe(frame):
            self._raised = True
            self._disarm()
            raise Interrupted(self.received)  # type: ignore[arg-type]
        self._retry_later()

    def _retry_later(self) -> None:
        if self._pending() and self._previous:
            signal.setitimer(signal.ITIMER_REAL, RETRY)

    def _disarm(self) -> None:
        if self._previous and threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)
