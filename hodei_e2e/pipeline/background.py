"""Work that overlaps the main line of a run: Postgres, the services and the prepare step start
while the image is checked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, TypeVar

from hodei_e2e.signals import SignalGuard

T = TypeVar("T")


def settled(future: Future[T] | None) -> T | None:
    """What a background task gave, once it ended well; None while it runs, when it was
    cancelled, or when it failed (its error is the task's own to report)."""
    if future is None or not future.done() or future.cancelled():
        return None
    if future.exception() is not None:
        return None
    return future.result()


class Background:
    """A thread per task, so that every start begins at once however many there are.

    The main thread waits with signals deferred: raising from a signal handler inside a
    `threading` wait corrupts its lock. The first signal cancels every start at once (a service
    waiting out its startup_timeout, a suite waiting for that service), not only at the
    teardown. `close()` cancels and waits, so that the teardown sees every container a task
    created."""

    def __init__(self, guard: SignalGuard, tasks: int) -> None:
        self.guard = guard
        self.cancelled = threading.Event()
        guard.on_signal(self.cancelled.set)
        if guard.received is not None:
            self.cancelled.set()
        self._pool = ThreadPoolExecutor(max_workers=max(1, tasks), thread_name_prefix="startup")

    def submit(self, task: Callable[[], T]) -> Future[T]:
        return self._pool.submit(task)

    def wait(self, future: Future[T]) -> T:
        """What `future` gives (or raises), signals deferred until it has it."""
        with self.guard.deferred():
            self.wait_first([future])
            return future.result()

    def wait_first(self, futures: Sequence[Future[Any]]) -> None:
        """Until one of `futures` has ended; a signal is acted on between two 50 ms looks."""
        with self.guard.deferred():
            while True:
                self.guard.check()
                done, _ = wait_futures(futures, timeout=0.05, return_when=FIRST_COMPLETED)
                if done:
                    return

    def stopping(self) -> bool:
        """Whether a signal (or the teardown) has cancelled the run's background work."""
        return self.cancelled.is_set()

    def close(self) -> None:
        self.cancelled.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
