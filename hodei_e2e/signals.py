"""Ctrl-C and SIGTERM: the first one interrupts the run, later ones only hurry the cleanup."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType

from hodei_e2e.errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM)


class SignalGuard:
    def __init__(self) -> None:
        self.received: int | None = None
        self.hurry = False
        self._cleaning = False
        self._deferred = False
        self._raised = False
        self._on_hurry: list[Callable[[], None]] = []
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def on_hurry(self, callback: Callable[[], None]) -> None:
        self._on_hurry.append(callback)

    def cleaning(self) -> None:
        """From now on a signal hurries the cleanup instead of interrupting it."""
        self._cleaning = True

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """While inside, a signal is only recorded; the code polls `check()`. Raising from a
        handler while the main thread waits on a `threading.Condition` corrupts its lock."""
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = False

    def check(self) -> None:
        """Raise `Interrupted` for a signal recorded while deferred, once."""
        if self.received is not None and not self._raised and not self._cleaning:
            self._raised = True
            raise Interrupted(self.received)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signum
        if first and not self._cleaning and not self._deferred:
            self._raised = True
            raise Interrupted(signum)
        if first:
            return
        self.hurry = True
        for callback in self._on_hurry:
            callback()
