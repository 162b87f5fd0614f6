"""Every process a suite started, including those that left its process group.

A suite runs as a shell in its own process group, and stopping the group stops what stays in
it. A descendant may leave it (`setsid`, a daemon's double fork) and keep the suite's output
pipe open. To find those, the CLI makes itself a *child subreaper* (Linux `prctl`
`PR_SET_CHILD_SUBREAPER`, unprivileged, since Linux 3.4): a descendant whose parent dies is
re-parented to the CLI instead of to PID 1, so it never leaves the CLI's process tree. A suite's
processes are then:

- its process group and the shell's descendants (found by parent pid), and
- the CLI's re-parented children that carry the suite's marker in their environment
  (`HODEI_E2E_RUN_ID` and `HODEI_E2E_SUITE`, as /proc/PID/environ shows it) or hold the suite's
  output pipe (/proc/PID/fd), with their descendants.

Why not a cgroup: an unprivileged CLI can create one only where the system delegates a cgroup v2
subtree to the user (a systemd user session); CI runners, containers and cgroup v1 hosts do not.
The subreaper works for any user on any Linux.

Only the re-parented processes found this way are reaped here (`waitpid` on their pid): waiting
for any child (`waitpid(-1)`) would steal the exit status of the `subprocess.Popen` children
(the suites' shells, the watchdog), whose `wait()` would then report 0.

When the CLI itself is killed (SIGKILL), its orphans go to PID 1 (or the next subreaper); the
watchdog, which is not their ancestor, finds them by the run's owner token, which every process
the run started inherits (`process_orphans`). What this does not find: a process that cleared
its environment, closed the suite's pipe and whose parent died; it no longer holds the run in
any way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from hodei_e2e.ownership.identity import process_start_token
from hodei_e2e.suites import processes
from hodei_e2e.suites.processes import Entry, environment, holds, killpg, process_table

RUN_VAR = "HODEI_E2E_RUN_ID"
SUITE_VAR = "HODEI_E2E_SUITE"
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
KILL_WAIT = 2.0  # seconds for SIGKILLed processes to be gone


def become_subreaper(on: bool = True) -> bool:
    """Make this process the subreaper of its descendants (or no longer, `on=False`); False
    where that is not possible."""
    libc = _libc()
    return libc is not None and libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0


def is_subreaper() -> bool:
    libc = _libc()
    if libc is None:
        return False
    import ctypes

    flag = ctypes.c_int(0)
    return bool(libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value)


@contextmanager
def subreaper() -> Iterator[None]:
    """This process is a subreaper inside (as it was before, after)."""
    before = is_subreaper()
    become_subreaper(True)
    try:
        yield
    finally:
        if not before:
            become_subreaper(False)


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def marker(run_id: str, suite: str) -> dict[str, str]:
    """The environment entries that mark a suite's processes."""
    return {RUN_VAR: run_id, SUITE_VAR: suite}


def has_environment(pid: int, mark: Mapping[str, str]) -> bool:
    """Whether every entry of `mark` is in the environment `pid` started with."""
    found = environment(pid)
    return found is not None and all(found.get(name) == value for name, value in mark.items())


def _descendants(table: Mapping[int, Entry], roots: Iterable[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in table.values():
        children.setdefault(entry.ppid, []).append(entry.pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


class SuiteProcesses:
    """The processes of one suite attempt: `shell` (a `spawn`ed child, leader of its group),
    what stayed in its group or under it, and the orphans re-parented to this process that carry
    `mark` or hold the shell's output pipe."""

    def __init__(self, shell: subprocess.Popen[bytes], mark: Mapping[str, str]) -> None:
        self.shell = shell.pid
        self._collect = shell.poll  # the shell is ours to reap, as `Popen` does it
        self._mark = dict(mark)
        self._pipe = processes.pipe_link(shell.stdout.fileno()) if shell.stdout else ""
        self._token = process_start_token(self.shell)  # its pid may be reused once it ends
        self._orphans: set[int] = set()  # re-parented to us: ours to reap

    @property
    def pgid(self) -> int:
        return self.shell

    def find(self) -> set[int]:
        """The live processes (the shell itself included while it runs)."""
        table = process_table()
        me = os.getpid()
        roots = set()
        if not self._reused():  # else its group is empty: a pid is reused only then
            roots = {pid for pid, e in table.items() if e.pgid == self.shell} | {self.shell}
        roots |= {
            pid
            for pid, e in table.items()
            if e.ppid == me
            and pid != self.shell
            and (
                (self._mark and has_environment(pid, self._mark))
                or (self._pipe and holds(pid, self._pipe))
            )
        }
        found = _descendants(table, roots)
        self._orphans |= {pid for pid in found if table[pid].ppid == me and pid != self.shell}
        return {pid for pid in found if table[pid].alive}

    def _reused(self) -> bool:
        current = process_start_token(self.shell)
        return bool(current and self._token and current != self._token)

    # -- processes.Stoppable -------------------------------------------------------------------

    def signal(self, signum: int) -> None:
        if not self._reused():
            killpg(self.shell, signum)
        for pid in self.find() - {self.shell}:
            processes.kill(pid, signum)

    def gone(self) -> bool:
        """Whether none of them runs any more, once the shell and the orphans that ended are
        collected (never any other child)."""
        self._collect()
        for pid in list(self._orphans):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # not (or no longer) our child
            if done:
                self._orphans.discard(pid)
        return not self.find()

    def terminate(self, grace: float) -> None:
        """SIGTERM all of them, wait up to `grace` for them to end, SIGKILL what is left (and
        what appears meanwhile, for up to `KILL_WAIT`) until nothing is left."""
        processes.stop(self, grace, kill_wait=KILL_WAIT)
