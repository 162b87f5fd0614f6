"""What every tier of the tests uses (unit, integration and e2e all see this directory)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import NoReturn, Protocol

import pytest

from hodei_e2e.ownership.process_orphans import WATCHDOG_MODULE
from hodei_e2e.suites import processes
from hodei_e2e.suites.processes import process_alive

__all__ = ["process_alive"]

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


def parent_of(pid: int) -> int | None:
    found = processes.entry(pid)
    return found.ppid if found is not None else None


def find_watchdog(run_pid: int) -> int | None:
    """The watchdog: a child of the run running `python -m hodei_e2e.ownership.reaper`."""
    for entry in processes.process_table().values():
        if entry.ppid == run_pid and WATCHDOG_MODULE in processes.command_line(entry.pid):
            return entry.pid
    return None
