"""The signal guard's delivery rules, with real signals sent to this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

import pytest

from hodei_e2e.errors import Interrupted
from hodei_e2e.signals import SignalGuard, _unsafe
from hodei_e2e.suites import processes


def _sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_signal_inside_an_interruptible_step_raises_there() -> None:
    reached = []
    with SignalGuard() as guard:

        def step() -> None:
            _sigint()
            time.sleep(1)
            reached.append("after the signal")

        with pytest.raises(Interrupted) as stop:
            guard.interruptible(step)
    assert stop.value.exit_code == 130
    assert reached == []


def test_outside_a_step_a_signal_is_only_recorded() -> None:
    with SignalGuard() as guard:
        _sigint()
        time.sleep(0.1)  # the retry timer fires, and must not raise here either
        assert guard.received == signal.SIGINT


def test_while_deferred_it_waits_for_check_and_is_raised_once() -> None:
    with SignalGuard() as guard:

        def step() -> None:
            with guard.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.1)
                with pytest.raises(Interrupted) as stop:
                    guard.check()
                assert stop.value.exit_code == 143
            guard.check()  # once only

        guard.interruptible(step)


def test_a_signal_that_came_during_a_deferred_wait_is_not_lost_after_it() -> None:
    """Deferred, then out of the wait without a `check()`: the retry timer still delivers it."""
    with SignalGuard() as guard:

        def step() -> None:
            with guard.deferred():
                _sigint()
            time.sleep(2)

        started = time.monotonic()
        with pytest.raises(Interrupted):
            guard.interruptible(step)
    assert time.monotonic() - started < 1


def test_cleaning_turns_later_signals_into_hurry() -> None:
    hurried = []
    with SignalGuard() as guard:
        guard.on_hurry(lambda: hurried.append(True))
        guard.cleaning()
        _sigint()
        _sigint()
        time.sleep(0.05)
    assert guard.received == signal.SIGINT
    assert hurried == [True]


def test_the_first_signal_runs_the_on_signal_callbacks() -> None:
    event = threading.Event()
    with SignalGuard() as guard:
        guard.on_signal(event.set)
        guard.cleaning()
        _sigint()
    assert event.is_set()


def test_frames_inside_threading_are_unsafe_and_ours_are_not() -> None:
    captured: list[FrameType] = []
    thread = threading.Thread(target=lambda: captured.append(sys._getframe()))
    thread.start()
    thread.join()
    assert _unsafe(captured[0])  # its callers are threading's Thread.run and _bootstrap
    assert not _unsafe(sys._getframe())


def test_frames_inside_spawn_are_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal while `spawn` starts a child waits until the caller has the child."""
    captured: list[FrameType] = []
    real = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        captured.append(sys._getframe())  # called by spawn, before Popen.__init__
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    child = processes.spawn(["true"])
    assert child.wait(timeout=10) == 0
    assert _unsafe(captured[0])


def test_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    with SignalGuard():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
