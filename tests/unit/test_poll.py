"""engine/poll.py, in real time with small intervals: the answer, the retries, the timeout with
its last reason and log tail, cancellation, progress, backoff, and errors that end the wait."""

from __future__ import annotations

import itertools
import time

import pytest

from hodei_e2e.engine.poll import NotYet, PollCancelled, PollTimeout, poll
from hodei_e2e.errors import InfrastructureError


class Attempts:
    """An attempt that is not ready `failures` times (saying why), then answers."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures = failures
        self.error = error
        self.calls: list[float] = []  # monotonic time of each call
        self.left: list[float] = []  # the seconds left it was given

    def __call__(self, left: float) -> str:
        self.calls.append(time.monotonic())
        self.left.append(left)
        if len(self.calls) <= self.failures:
            if self.error is not None:
                raise self.error
            raise NotYet(f"attempt {len(self.calls)} not ready")
        return "ready"


def test_the_first_answer_is_returned_at_once() -> None:
    attempt = Attempts(0)
    start = time.monotonic()
    assert poll(attempt, timeout=5.0, interval=1.0) == "ready"
    assert len(attempt.calls) == 1
    assert time.monotonic() - start < 0.5


def test_not_yet_is_retried_every_interval_until_the_answer() -> None:
    attempt = Attempts(3)
    assert poll(attempt, timeout=5.0, interval=0.02) == "ready"
    assert len(attempt.calls) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempt.calls)]
    assert all(gap >= 0.019 for gap in gaps), gaps
    assert all(gap < 0.5 for gap in gaps), gaps
    assert attempt.left[0] <= 5.0
    assert attempt.left[-1] < attempt.left[0]  # told the time left


def test_a_timeout_names_what_the_last_reason_and_carries_the_log_tail() -> None:
    attempt = Attempts(10_000)
    start = time.monotonic()
    with pytest.raises(PollTimeout) as caught:
        poll(
            attempt,
            timeout=0.2,
            interval=0.02,
            what="Postgres (x)",
            logs=lambda: "\n".join(f"log {n}" for n in range(50)),
        )
    waited = time.monotonic() - start
    assert 0.2 <= waited < 1.5
    error = caught.value
    last = len(attempt.calls)
    assert error.message == f"Postgres (x) was not ready after 0.2s (attempt {last} not ready)"
    assert error.reason == f"attempt {last} not ready"
    assert error.waited >= 0.2
    assert error.detail is not None
    assert error.detail.startswith("last log lines:\nlog 20\n")
    assert error.detail.endswith("log 49")
    assert isinstance(error, InfrastructureError)  # exit code 4
    assert attempt.calls[-1] - start >= 0.19  # the last attempt is made at the deadline


def test_a_timeout_never_sleeps_past_the_deadline() -> None:
    attempt = Attempts(10_000)
    start = time.monotonic()
    with pytest.raises(PollTimeout):
        poll(attempt, timeout=0.1, interval=5.0)
    assert time.monotonic() - start < 1.0
    assert len(attempt.calls) == 2  # at once, and at the deadline


def test_on_timeout_may_answer_instead_of_raising() -> None:
    reasons: list[str] = []

    def fallback(reason: str) -> str:
        reasons.append(reason)
        return "late"

    assert poll(Attempts(10_000), timeout=0.05, interval=0.01, on_timeout=fallback) == "late"
    assert len(reasons) == 1
    assert reasons[0].endswith("not ready")


def test_one_attempt_is_made_even_with_no_time() -> None:
    attempt = Attempts(0)
    assert poll(attempt, timeout=0.0, interval=0.01) == "ready"
    with pytest.raises(PollTimeout, match=r"after 0s \(attempt 1 not ready\)"):
        poll(Attempts(1), timeout=0.0, interval=0.01)


def test_retryable_errors_are_reasons_other_errors_end_the_wait() -> None:
    flaky = Attempts(2, ConnectionRefusedError("refused\nsecond line"))
    assert poll(flaky, timeout=5.0, interval=0.01, retry=(OSError,)) == "ready"
    assert len(flaky.calls) == 3

    with pytest.raises(PollTimeout, match=r"\(refused\)$"):
        poll(
            Attempts(10_000, ConnectionRefusedError("refused\nsecond line")),
            timeout=0.05,
            interval=0.01,
            retry=(OSError,),
        )

    fatal = Attempts(5, ValueError("exited"))
    with pytest.raises(ValueError, match="exited"):
        poll(fatal, timeout=5.0, interval=0.01, retry=(OSError,))
    assert len(fatal.calls) == 1  # not retried


def test_cancellation_stops_the_wait_after_the_attempt() -> None:
    attempt = Attempts(10_000)
    cancel_after = time.monotonic() + 0.1
    start = time.monotonic()
    with pytest.raises(PollCancelled) as caught:
        poll(
            attempt,
            timeout=10.0,
            interval=0.01,
            what="service redis",
            cancelled=lambda: time.monotonic() > cancel_after,
        )
    assert caught.value.message == "service redis: start cancelled"
    assert time.monotonic() - start < 2.0
    assert len(attempt.calls) >= 2


def test_an_answer_wins_over_cancellation() -> None:
    assert poll(Attempts(0), timeout=1.0, interval=0.01, cancelled=lambda: True) == "ready"


def test_progress_is_told_every_period_with_the_reason() -> None:
    told: list[tuple[float, str]] = []
    with pytest.raises(PollTimeout):
        poll(
            Attempts(10_000),
            timeout=0.45,
            interval=0.01,
            progress=lambda waited, why: told.append((waited, why)),
            progress_every=0.1,
        )
    assert 2 <= len(told) <= 4, told  # at 0.1, 0.2, 0.3, 0.4 s (fewer on a stalled machine)
    assert told[0][0] >= 0.1
    assert all(b[0] - a[0] >= 0.09 for a, b in itertools.pairwise(told)), told
    assert all(why.endswith("not ready") for _, why in told)


def test_the_interval_doubles_up_to_max_interval() -> None:
    attempt = Attempts(6)
    assert poll(attempt, timeout=5.0, interval=0.01, max_interval=0.04) == "ready"
    gaps = [b - a for a, b in itertools.pairwise(attempt.calls)]
    floors = [0.009, 0.019, 0.039, 0.039, 0.039, 0.039]  # 10, 20, then 40 ms: doubled, then capped
    assert all(gap >= floor for gap, floor in zip(gaps, floors, strict=True)), gaps
    assert all(gap < 0.3 for gap in gaps), gaps  # capped, not doubling on
