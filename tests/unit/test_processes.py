"""suites/processes.py: the one place a child starts, the one stop loop, the /proc reader.

The stop loop's order and timing with a recording target (pure logic); everything else with real
child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from hodei_e2e.suites import processes
from hodei_e2e.suites.processes import OWNER_ENV


class Recording:
    """A target that ends after `ends_after` signals (never, with None)."""

    def __init__(self, ends_after: int | None) -> None:
        self.sent: list[int] = []
        self.ends_after = ends_after

    def signal(self, signum: int) -> None:
        self.sent.append(signum)

    def gone(self) -> bool:
        return self.ends_after is not None and len(self.sent) >= self.ends_after


def test_nothing_is_signalled_when_nothing_is_left() -> None:
    target = Recording(ends_after=0)
    processes.stop(target, grace=1.0)
    assert target.sent == []


def test_what_ends_within_the_grace_period_gets_sigterm_only() -> None:
    target = Recording(ends_after=1)
    began = time.monotonic()
    processes.stop(target, grace=5.0)
    assert target.sent == [signal.SIGTERM]
    assert time.monotonic() - began < 1


def test_what_outlives_the_grace_period_gets_one_sigkill() -> None:
    target = Recording(ends_after=None)
    began = time.monotonic()
    processes.stop(target, grace=0.2)
    took = time.monotonic() - began
    assert target.sent == [signal.SIGTERM, signal.SIGKILL]
    assert 0.2 <= took < 1


def test_with_a_kill_wait_sigkill_goes_again_until_nothing_is_left() -> None:
    """What appears meanwhile (a stray's child) is killed as well."""
    target = Recording(ends_after=4)  # SIGTERM, then three SIGKILLs
    processes.stop(target, grace=0.1, kill_wait=5.0)
    assert target.sent == [signal.SIGTERM, signal.SIGKILL, signal.SIGKILL, signal.SIGKILL]


def test_kill_wait_is_bounded() -> None:
    target = Recording(ends_after=None)
    began = time.monotonic()
    processes.stop(target, grace=0.1, kill_wait=0.3)
    assert time.monotonic() - began < 1.5
    assert target.sent.count(signal.SIGKILL) > 1


@pytest.fixture
def stubborn() -> Iterator[subprocess.Popen[bytes]]:
    """A child that ignores SIGTERM."""
    ignore_term = "import signal, time; signal.signal(15, 1); print(1, flush=True); time.sleep(60)"
    child = processes.spawn([sys.executable, "-c", ignore_term])
    assert child.stdout is not None
    child.stdout.readline()  # its handler is in place
    yield child
    if child.poll() is None:
        child.kill()
    child.wait(timeout=10)
    child.stdout.close()


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(
    stubborn: subprocess.Popen[bytes],
) -> None:
    processes.terminate_processes([stubborn.pid], grace=0.3)
    assert stubborn.wait(timeout=5) == -signal.SIGKILL


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(
    stubborn: subprocess.Popen[bytes],
) -> None:
    processes.terminate_groups([stubborn.pid], grace=0.3)
    assert stubborn.wait(timeout=5) == -signal.SIGKILL


def test_a_zombie_is_not_alive() -> None:
    child = processes.spawn(["sleep", "60"], stdout=subprocess.DEVNULL)
    assert processes.process_alive(child.pid)
    assert processes.group_alive(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while (found := processes.entry(child.pid)) and found.state != "Z":
        assert time.monotonic() < deadline, "the child never became a zombie"
        time.sleep(0.01)
    assert processes.entry(child.pid) is not None  # not reaped yet: /proc still lists it
    assert not processes.process_alive(child.pid)
    assert not processes.group_alive(child.pid)
    child.wait(timeout=5)
    assert processes.entry(child.pid) is None
    assert not processes.process_alive(child.pid)


def test_spawn_starts_a_session_of_its_own_with_the_owner_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(OWNER_ENV, "host:1:2")
    child = processes.spawn(
        "echo ready; exec sleep 60", env={"PATH": os.environ["PATH"], "MINE": "yes"}
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == b"ready\n"
        assert os.getsid(child.pid) == child.pid
        assert os.getpgid(child.pid) == child.pid
        # "ready" comes just before the shell's exec, during which /proc shows no environment
        deadline = time.monotonic() + 5
        while processes.command_line(child.pid) != "sleep 60":
            assert time.monotonic() < deadline, processes.command_line(child.pid)
            time.sleep(0.01)
        environment = processes.environment(child.pid)
        assert environment is not None
        assert (environment.get("MINE"), environment.get(OWNER_ENV)) == ("yes", "host:1:2")
        assert "HOME" not in environment  # the caller's environment, not this process's
        found = processes.entry(child.pid)
        assert found is not None
        assert (found.ppid, found.pgid, found.alive) == (os.getpid(), child.pid, True)
        assert found.start.isdigit()
        assert processes.holds(child.pid, processes.pipe_link(child.stdout.fileno()))
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()


def test_spawn_gives_a_child_no_descriptor_but_its_three() -> None:
    read, write = os.pipe()
    os.set_inheritable(write, True)  # a child would get it, were descriptors not closed
    try:
        child = processes.spawn(["ls", "/proc/self/fd"], stderr=subprocess.DEVNULL)
        out, _ = child.communicate(timeout=10)
    finally:
        os.close(read)
        os.close(write)
    assert sorted(int(fd) for fd in out.split()) == [0, 1, 2, 3]  # 3: ls's own listing
