"""What every tier of the tests uses (unit, integration and e2e all see this directory)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn, Protocol

import pytest

SESSION_LABEL = "hodei-e2e-tests.session"  # containers of this test session (the leak check)
DEFAULT_POSTGRES_IMAGE = "hodei-e2e.local/postgres:15"
DEFAULT_BASE_IMAGE = "hodei-e2e.local/busybox:latest"


class SessionSupport(Protocol):
    """What the e2e helpers use of tests/conftest.py's `DockerSupport` (the `docker_support`
    fixture): the session's token and images, and who owns what it creates."""

    session: str
    postgres_image: str
    base_image: str
    owner_pids: set[int]

    def ours(self, labels: Mapping[str, str]) -> bool: ...


Missing = Callable[[str], NoReturn]  # the `missing` fixture: `missing` below


def missing(reason: str) -> NoReturn:
    """Something a Docker test needs is not there: a failure under CI=true (a Docker test is
    never skipped in CI), a visible skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)")
    pytest.skip(reason)


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is dead: it runs nothing any more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZXx"


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def find_watchdog(run_pid: int) -> int | None:
    """The watchdog: a child of the run running `python -m hodei_e2e.ownership.reaper`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"hodei_e2e.ownership.reaper" in cmdline and parent_of(int(entry.name)) == run_pid:
            return int(entry.name)
    return None
