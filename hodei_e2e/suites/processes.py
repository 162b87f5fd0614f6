"""Process groups: signal them, and tell whether a live process is left in one.

`killpg(pgid, 0)` is not enough: it succeeds while a member is a zombie (the group leader until
its parent reaps it, or orphans on a host whose PID 1 never reaps), and a stop would then
always wait out its whole grace period. On Linux, /proc says which members still run.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def killpg(pgid: int, signum: int) -> bool:
    """Signal a group; False when it has no process at all."""
    return _send(os.killpg, pgid, signum)


def _kill(pid: int, signum: int) -> bool:
    return _send(os.kill, pid, signum)


def _send(send: Callable[[int, int], None], target: int, signum: int) -> bool:
    try:
        send(target, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # there, but another user's
    return True


@dataclass(frozen=True)
class Entry:
    pid: int
    ppid: int
    pgid: int
    state: str

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X", "x")


def process_table() -> dict[int, Entry]:
    """Every process in /proc: its parent, group and state."""
    table: dict[int, Entry] = {}
    try:
        names = os.listdir(PROC)
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(PROC / name / "stat", encoding="ascii", errors="replace") as stat:
                raw = stat.read()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()  # after the command name, which may hold spaces
        if len(fields) > 2:
            table[int(name)] = Entry(int(name), int(fields[1]), int(fields[2]), fields[0])
    return table


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies do not count)."""
    if not PROC.is_dir():
        return killpg(pgid, 0)
    return any(e.pgid == pgid and e.alive for e in process_table().values())


def terminate_group(pgid: int, grace: float, *, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM the group, wait up to `grace` for its processes to end, then SIGKILL the rest.

    `reap` (e.g. `Popen.poll`) lets the caller collect its own child while we wait."""
    terminate_groups([pgid], grace, reap=reap)


def terminate_groups(
    pgids: Iterable[int], grace: float, *, reap: Callable[[], object] = lambda: None
) -> None:
    """`terminate_group` for several groups at once: one grace period for all of them."""
    _terminate(list(pgids), grace, send=killpg, alive=group_alive, reap=reap)


def terminate_processes(pids: Iterable[int], grace: float) -> None:
    """SIGTERM each process, wait up to `grace` for them to end, then SIGKILL the rest."""
    _terminate(list(pids), grace, send=_kill, alive=process_alive)


def process_alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie does not)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return raw[raw.rfind(")") + 2 :][:1] not in ("Z", "X")


def _terminate(
    targets: list[int],
    grace: float,
    *,
    send: Callable[[int, int], bool],
    alive: Callable[[int], bool],
    reap: Callable[[], object] = lambda: None,
) -> None:
    """The one stop loop: SIGTERM, a grace period polled every 20 ms, SIGKILL what is left."""
    live = [target for target in targets if send(target, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        reap()
        live = [target for target in live if alive(target)]
        if live:
            time.sleep(0.02)
    for target in live:
        send(target, signal.SIGKILL)
