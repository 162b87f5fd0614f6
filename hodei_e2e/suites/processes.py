"""Child processes: the one place one starts (`spawn`), the one loop that stops them (`stop`),
and the one reader of /proc (what runs, its parent, group, state, environment and files).

`killpg(pgid, 0)` is not enough to tell whether a group still runs: it succeeds while a member
is a zombie (the group leader until its parent reaps it, or orphans on a host whose PID 1 never
reaps), and a stop would then always wait out its whole grace period. On Linux, /proc says which
members still run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

PROC = Path("/proc")
POLL = 0.02  # seconds between two looks while a stop waits
OWNER_ENV = "HODEI_E2E_OWNER"  # the run's owner token, inherited by everything it starts

# -- starting -------------------------------------------------------------------------------------


def spawn(
    command: str | Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | IO[Any] = subprocess.DEVNULL,
    stdout: int | IO[Any] = subprocess.PIPE,
    stderr: int | IO[Any] = subprocess.STDOUT,
) -> subprocess.Popen[bytes]:
    """Start a child process: the only place the package does.

    `command` is a shell command line (a string) or an argv. The child runs in a session of its
    own, the leader of its process group: Ctrl-C in the terminal reaches the CLI alone, which
    stops the child's whole group itself (`stop`), and the watchdog is never stopped along
    with the CLI. It inherits no descriptor but its three (`close_fds`); by default stdin is
    /dev/null and stdout and stderr are one pipe.

    `env` is its whole environment (this process's when None). The run's owner token
    (`OWNER_ENV`, which `run` puts into this process's environment before it starts anything) is
    passed on in any case: whatever a crash leaves running is found by it (`process_orphans`).
    """
    child_env = dict(os.environ if env is None else env)
    if OWNER_ENV in os.environ:
        child_env.setdefault(OWNER_ENV, os.environ[OWNER_ENV])
    return subprocess.Popen(
        command,
        shell=isinstance(command, str),
        cwd=cwd,
        env=child_env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        close_fds=True,
    )


# -- /proc ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One process as /proc/PID/stat shows it."""

    pid: int
    ppid: int
    pgid: int
    state: str
    start: str = ""  # start time in clock ticks since boot: with the pid, who the process is

    @property
    def alive(self) -> bool:
        """Whether it still runs (a zombie has ended: it runs nothing any more)."""
        return self.state not in ("Z", "X", "x")


def entry(pid: int) -> Entry | None:
    """`pid` in /proc, or None when it is not there (gone, hidden, or no /proc at all)."""
    try:
        with open(PROC / str(pid) / "stat", encoding="ascii", errors="replace") as stat:
            raw = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    if len(fields) < 3:
        return None
    start = fields[19] if len(fields) > 19 else ""
    return Entry(pid, int(fields[1]), int(fields[2]), fields[0], start)


def pids() -> list[int]:
    """Every pid /proc lists (none without /proc)."""
    try:
        return [int(name) for name in os.listdir(PROC) if name.isdigit()]
    except OSError:
        return []


def process_table() -> dict[int, Entry]:
    """Every process in /proc: its parent, group and state."""
    table: dict[int, Entry] = {}
    for pid in pids():
        found = entry(pid)
        if found is not None:
            table[pid] = found
    return table


def environment(pid: int) -> dict[str, str] | None:
    """The environment `pid` started with, or None when it cannot be read (gone, or another
    user's)."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    found = {}
    for item in raw.split(b"\0"):
        name, equals, value = item.partition(b"=")
        if equals:
            found[name.decode(errors="replace")] = value.decode(errors="replace")
    return found


def command_line(pid: int) -> str:
    """`pid`'s arguments joined by spaces ("" for a zombie, a kernel thread, or one gone)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def holds(pid: int, link: str) -> bool:
    """Whether `pid` has a file descriptor on `link` (as /proc/PID/fd shows it: `pipe:[N]`)."""
    directory = PROC / str(pid) / "fd"
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(directory / name) == link:
                return True
        except OSError:
            continue
    return False


def pipe_link(fd: int) -> str:
    """How /proc/PID/fd names the pipe `fd` is an end of."""
    return f"pipe:[{os.fstat(fd).st_ino}]"


def process_alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie does not). Where /proc does not show it (no /proc,
    or another user's process hidden by `hidepid`), whether a signal could reach it."""
    if pid <= 0:
        return False
    found = entry(pid)
    if found is not None:
        return found.alive
    return _send(os.kill, pid, 0)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies do not count)."""
    if not PROC.is_dir():
        return killpg(pgid, 0)
    return any(e.pgid == pgid and e.alive for e in process_table().values())


# -- signalling and stopping ----------------------------------------------------------------------


def killpg(pgid: int, signum: int) -> bool:
    """Signal a group; False when it has no process at all."""
    return _send(os.killpg, pgid, signum)


def kill(pid: int, signum: int) -> bool:
    """Signal a process; False when there is none."""
    return _send(os.kill, pid, signum)


def _send(send: Callable[[int, int], None], target: int, signum: int) -> bool:
    try:
        send(target, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # there, but another user's
    return True


class Stoppable(Protocol):
    """What `stop` stops: process groups, processes, a suite's processes, a runner's suites."""

    def signal(self, signum: int) -> None: ...

    def gone(self) -> bool:
        """Whether nothing is left to stop (collecting what ended, where that is ours to do)."""
        ...


def stop(target: Stoppable, grace: float, *, kill_wait: float = 0.0) -> None:
    """The one stop loop: SIGTERM, up to `grace` seconds for everything to end (looked at every
    `POLL`), then SIGKILL what is left. With `kill_wait`, SIGKILL again every `POLL` for up to
    that long, for what appears meanwhile, until nothing is left."""
    if target.gone():
        return
    target.signal(signal.SIGTERM)
    kill_at = time.monotonic() + grace
    give_up_at = kill_at + kill_wait
    while not target.gone():
        now = time.monotonic()
        if now >= kill_at:
            target.signal(signal.SIGKILL)
            if now >= give_up_at:
                return
        time.sleep(POLL)


class _Each:
    """Several groups or processes, stopped as one: those a signal cannot reach are done."""

    def __init__(
        self, targets: Iterable[int], send: Callable[[int, int], bool], alive: Callable[[int], bool]
    ) -> None:
        self._live = list(targets)
        self._send = send
        self._alive = alive

    def signal(self, signum: int) -> None:
        self._live = [target for target in self._live if self._send(target, signum)]

    def gone(self) -> bool:
        self._live = [target for target in self._live if self._alive(target)]
        return not self._live


def terminate_groups(pgids: Iterable[int], grace: float) -> None:
    """SIGTERM the groups, wait up to `grace` for their processes to end, SIGKILL the rest:
    one grace period for all of them."""
    stop(_Each(pgids, killpg, group_alive), grace)


def terminate_processes(pids: Iterable[int], grace: float) -> None:
    """SIGTERM each process, wait up to `grace` for them to end, then SIGKILL the rest."""
    stop(_Each(pids, kill, process_alive), grace)
