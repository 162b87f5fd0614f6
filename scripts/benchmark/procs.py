"""Processes: a command timed by the wall clock, and the RSS of a process tree from /proc."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark.figures import BenchError

CLI_TIMEOUT = 300.0  # a run that takes longer is hung: killed, and the scenario fails


@dataclass
class Proc:
    argv: list[str]
    seconds: float
    code: int
    stdout: str
    stderr: str
    maxrss_kib: int  # ru_maxrss of wait4: the largest of the process and its waited-for children
    started_at: float = 0.0  # unix seconds just before the fork (a JSON report's times are unix)

    def check(self) -> Proc:
        if self.code != 0:
            tail = "\n".join((self.stderr + self.stdout).strip().splitlines()[-15:])
            raise BenchError(f"`{shlex.join(self.argv)}` exited {self.code}:\n{tail}")
        return self


def run_proc(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    timeout: float = CLI_TIMEOUT,
) -> Proc:
    """Run `argv`, timed by the wall clock from just before the fork to wait4's return."""
    argv = list(argv)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started_at = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            if on_start is not None:
                on_start(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(
            argv,
            seconds,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_maxrss,
            started_at,
        )


class TreeSampler:
    """Samples the RSS of a process and all its descendants from /proc while it runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_sum_kib = 0
        self.hwm: dict[str, int] = {}  # role -> largest VmHWM seen
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._loop, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self, root: int) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in descendants(root):
                status = _proc_status(pid)
                if not status:
                    continue
                total += status.get("VmRSS", 0)
                role = _role(pid, root)
                self.hwm[role] = max(self.hwm.get(role, 0), status.get("VmHWM", 0))
            self.peak_sum_kib = max(self.peak_sum_kib, total)
            self.samples += 1
            self._stop.wait(self.interval)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                raw = f.read()
        except OSError:
            continue
        ppid = int(raw[raw.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _proc_status(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "cli"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return "other"
    return "watchdog" if b"hodei_e2e.ownership.reaper" in cmdline else "suites"
