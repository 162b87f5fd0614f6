"""Processes a dead run left running: suites, their descendants (also those that left the
suite's process group or session), migration and prepare commands.

A run puts `HODEI_E2E_OWNER=<host>:<pid>:<start>` into its own environment before it starts
anything, so every process it starts, and every process those start, carries it: the
environment is inherited across fork, exec, setsid and double forks alike, where process groups
and parent links are not. A process whose owner is gone (its pid dead, or recycled with another
start time) is an orphan. The run's watchdog is left alone: it cleans up for that same run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from hodei_e2e.ownership.identity import pid_alive, process_start_token
from hodei_e2e.suites import processes
from hodei_e2e.suites.processes import command_line, environment, pids

OWNER_ENV = processes.OWNER_ENV  # the variable `run` sets, and `spawn` passes on
WATCHDOG_MODULE = "hodei_e2e.ownership.reaper"


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start_token(pid)}"


def owner_gone(token: str, hostname: str | None = None) -> bool:
    """Whether the run `token` names has ended (False for another host's or a malformed one)."""
    host, _, rest = token.partition(":")
    pid, _, start = rest.partition(":")
    if host != (hostname or socket.gethostname()) or not pid.isdigit():
        return False
    return not pid_alive(int(pid), start)


@dataclass(frozen=True)
class StrayProcess:
    pid: int
    owner: str
    command: str


def processes_of(owner: str | None = None) -> Iterator[StrayProcess]:
    """Live processes carrying an owner token (only `owner`'s when given), this one and
    watchdogs excluded."""
    me = os.getpid()
    for pid in pids():
        if pid == me:
            continue
        token = (environment(pid) or {}).get(OWNER_ENV)  # None: gone, or another user's
        if token is None or (owner is not None and token != owner):
            continue
        command = command_line(pid)
        if not command or WATCHDOG_MODULE in command:  # a zombie has no command line
            continue
        yield StrayProcess(pid, token, command)


def stray_processes(hostname: str | None = None) -> list[StrayProcess]:
    """Processes whose run is gone."""
    gone: dict[str, bool] = {}
    strays = []
    for process in processes_of():
        if process.owner not in gone:
            gone[process.owner] = owner_gone(process.owner, hostname)
        if gone[process.owner]:
            strays.append(process)
    return strays
