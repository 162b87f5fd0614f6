"""A suite whose descendants leave its process group (`setsid`, a daemon's double fork) and hold
its output pipe: the run still ends on time, and nothing the suite started is left running.

Real processes, no Docker. Each stray writes its pid to a file first, so that the test can see
it alive, and kill it should the code under test not."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shared import process_alive
from test_run_suites import Hooks, runner, suite

from hodei_e2e.config import SuiteConfig
from hodei_e2e.report.results import Status, SuiteResult
from hodei_e2e.suites import strays as hodei_strays

pytestmark = pytest.mark.timeout(60)

# `(...&)`: the subshell exits at once, so its child is an orphan in a session of its own.
ESCAPE = "(setsid sh -c 'echo $$ > {name}; exec sleep 40' &)"
# The same, with an empty environment: no marker to find it by; it still holds the pipe.
ESCAPE_BARE = "(setsid env -i sh -c 'echo $$ > {name}; exec sleep 40' &)"
# A stray of a stray: the setsid'd shell waits for its own child.
ESCAPE_NESTED = "(setsid sh -c 'sleep 40 & echo $! > {name}; wait' &)"


@pytest.fixture
def strays(tmp_path: Path) -> Iterator[list[int]]:
    """The pids the strays wrote; whatever is still alive at the end is killed (and fails the
    test through its own assertions first)."""
    found: list[int] = []
    yield found
    for path in tmp_path.glob("stray*"):
        pid = int(path.read_text() or 0)
        if pid and process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def stray_pids(tmp_path: Path, strays: list[int]) -> list[int]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        paths = sorted(tmp_path.glob("stray*"))
        if paths and all(p.read_text().strip() for p in paths):
            break
        time.sleep(0.02)
    strays[:] = [int(p.read_text()) for p in sorted(tmp_path.glob("stray*"))]
    return strays


def alive(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + 1  # a SIGKILLed process is gone within moments
    while time.monotonic() < deadline and any(process_alive(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if process_alive(p)]


@pytest.mark.parametrize(
    "escape",
    [ESCAPE, ESCAPE_BARE, ESCAPE_NESTED],
    ids=["marked", "empty_environment_holding_the_pipe", "nested"],
)
def test_a_timeout_ends_on_time_and_stops_what_left_the_group(
    tmp_path: Path, strays: list[int], escape: str
) -> None:
    command = escape.format(name="stray") + "; echo waiting; sleep 600"
    run = runner(tmp_path, Hooks())
    run.grace = 0.5
    began = time.monotonic()
    (result,) = run.run([suite(tmp_path, "escapes", command, timeout=1.0)])
    took = time.monotonic() - began
    assert (result.status, result.reason) == (Status.TIMEOUT, "timed out after 1s")
    assert "waiting" in result.tail
    assert took < 4, f"the run waited {took:.1f}s for a process that left the suite's group"
    assert alive(stray_pids(tmp_path, strays)) == []


def test_a_suite_that_passes_leaves_no_stray_behind(tmp_path: Path, strays: list[int]) -> None:
    command = ESCAPE.format(name="stray") + "; echo done"
    began = time.monotonic()
    (result,) = runner(tmp_path, Hooks()).run([suite(tmp_path, "daemon", command)])
    assert result.status is Status.PASSED
    assert time.monotonic() - began < 3
    assert alive(stray_pids(tmp_path, strays)) == []


def test_a_stop_reaches_what_left_the_group(tmp_path: Path, strays: list[int]) -> None:
    command = ESCAPE.format(name="stray") + "; touch started; sleep 600"
    run = runner(tmp_path, Hooks())
    results: list[SuiteResult] = []
    thread = threading.Thread(
        target=lambda: results.extend(run.run([suite(tmp_path, "escapes", command)])),
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = stray_pids(tmp_path, strays)
    assert pids
    assert all(process_alive(p) for p in pids)
    began = time.monotonic()
    run.stop(grace=1.0)
    thread.join(timeout=10)
    assert not thread.is_alive(), "the runner still reads a pipe a stray holds"
    assert time.monotonic() - began < 4
    assert [r.status for r in results] == [Status.INTERRUPTED]
    assert alive(pids) == []


def test_a_stray_that_cannot_be_found_does_not_hold_the_run(
    tmp_path: Path, strays: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the subreaper (another OS, say) an orphan goes to PID 1, and one with an empty
    # environment is not found: it keeps the pipe open, and the run must stop reading anyway.
    monkeypatch.setattr(hodei_strays, "become_subreaper", lambda on=True: False)
    command = ESCAPE_BARE.format(name="stray") + "; echo started; exit 3"
    began = time.monotonic()
    (result,) = runner(tmp_path, Hooks()).run([suite(tmp_path, "escapes", command)])
    took = time.monotonic() - began
    assert (result.status, result.exit_code) == (Status.FAILED, 3)
    assert result.tail == ("started",)
    assert took < 4, f"the run read the pipe of a stray for {took:.1f}s"
    assert [p for p in stray_pids(tmp_path, strays) if process_alive(p)]  # it was really there


def test_the_runner_is_a_subreaper_only_while_it_runs(tmp_path: Path) -> None:
    assert not hodei_strays.is_subreaper()
    seen: list[bool] = []

    class Watching(Hooks):
        def started(self, suite: SuiteConfig, attempt: int) -> None:
            seen.append(hodei_strays.is_subreaper())

    (result,) = runner(tmp_path, Watching()).run([suite(tmp_path, "s", "true")])
    assert result.status is Status.PASSED
    assert seen == [True]
    assert not hodei_strays.is_subreaper()
