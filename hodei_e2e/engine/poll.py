"""The one wait loop of the package: ask again until there is an answer, the time is up, or the
wait is cancelled.

Every readiness check (Postgres, a service, a published port, an exec probe, a probe
container's call-back, a reusable container that another run is starting) is an *attempt*
given to `poll`: it returns the answer, or raises `NotYet` with the reason it is not ready
yet (or one of the `retry` errors, whose first line is the reason). Any other exception ends
the wait at once: that is how an attempt says "it will never be ready" (a container that
exited). On timeout the error names the last reason and carries the last log lines (as
testcontainers' `waiting_utils` attaches the container's logs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from hodei_e2e.errors import InfrastructureError, first_line, last_lines

T = TypeVar("T")


class NotYet(Exception):
    """Raised by an attempt that found no answer yet; its text is the reason."""

    def __init__(self, reason: str = "not ready") -> None:
        super().__init__(reason)
        self.reason = reason


class PollTimeout(InfrastructureError):
    """`what` was not ready in time; `reason` is what the last attempt said."""

    def __init__(self, message: str, *, reason: str, waited: float, detail: str | None = None):
        super().__init__(message, detail=detail)
        self.reason = reason
        self.waited = waited


class PollCancelled(InfrastructureError):
    """The wait was cancelled (a signal stops the run): `WHAT: start cancelled`."""


def poll(
    attempt: Callable[[float], T],
    *,
    timeout: float,
    interval: float,
    max_interval: float | None = None,
    retry: tuple[type[BaseException], ...] = (),
    what: str = "it",
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[float, str], None] | None = None,
    progress_every: float = 5.0,
    logs: Callable[[], str] | None = None,
    on_timeout: Callable[[str], T] | None = None,
) -> T:
    """Call `attempt(seconds_left)` until it returns, at least once, for up to `timeout` seconds.

    After an attempt that is not an answer, in this order: `cancelled()` true raises
    `PollCancelled` ("WHAT: start cancelled"); past the deadline, `on_timeout(last reason)` is
    returned (it may raise instead), or without one `PollTimeout` ("WHAT was not ready after
    Ns (reason)", with the last lines of `logs()` as its detail) is raised; every
    `progress_every` seconds `progress(seconds waited, reason)` is told; then a sleep of
    `interval` seconds, doubled after each attempt up to `max_interval` when that is given,
    and never past the deadline (the last attempt is made at the deadline).
    """
    start = time.monotonic()
    deadline = start + timeout
    report_at = start + progress_every
    delay = interval
    while True:
        try:
            return attempt(max(0.0, deadline - time.monotonic()))
        except NotYet as not_yet:
            reason = not_yet.reason
        except retry as error:
            reason = first_line(error, type(error).__name__)
        if cancelled is not None and cancelled():
            raise PollCancelled(f"{what}: start cancelled")
        now = time.monotonic()
        if now >= deadline:
            if on_timeout is not None:
                return on_timeout(reason)
            raise PollTimeout(
                f"{what} was not ready after {timeout:g}s ({reason})",
                reason=reason,
                waited=now - start,
                detail=last_lines("last log lines", logs()) if logs is not None else None,
            )
        if progress is not None and now >= report_at:
            report_at += progress_every
            progress(now - start, reason)
        time.sleep(min(delay, deadline - now))
        if max_interval is not None:
            delay = min(delay * 2, max_interval)
