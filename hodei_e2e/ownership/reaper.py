"""The watchdog: a small detached process that outlives a crashed run and cleans up after it.

`run` starts it with a pipe on its stdin and tells it who the run is (one JSON line). The run
holds the pipe's write end; when the run ends in any way, even SIGKILL, the kernel closes it and
the watchdog reads end-of-file. A clean run writes `{"done": true}` first, and the watchdog
exits at once; otherwise it removes the run's containers, workers and databases, then exits.

Until end-of-file it imports nothing heavy and uses no CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from hodei_e2e.suites.processes import spawn, terminate_groups, terminate_processes


class Watchdog:
    """The run's side: start the process, keep the pipe, say `done` on a clean end."""

    def __init__(self, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            # a session of its own: Ctrl-C in the terminal must not reach it
            self._proc = spawn(
                [sys.executable, "-m", "hodei_e2e.ownership.reaper"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
            )
        self._pipe: IO[bytes] | None = self._proc.stdin
        self._lock = threading.Lock()

    def tell(self, **facts: Any) -> None:
        with self._lock:
            if self._pipe is None:
                return
            try:
                self._pipe.write(json.dumps(facts).encode() + b"\n")
                self._pipe.flush()
            except OSError:
                self._pipe = None  # the watchdog died; the next run's sweep is the safety net

    def process_group(self, pgid: int) -> None:
        """A suite's process group, to be killed if the run dies before it does."""
        from hodei_e2e.ownership.identity import process_start_token

        self.tell(group=[pgid, process_start_token(pgid)])

    def done(self) -> None:
        """The run cleaned up after itself: let the watchdog go."""
        self.tell(done=True)
        with self._lock:
            if self._pipe is not None:
                self._pipe.close()
                self._pipe = None
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, error: type[BaseException] | None, *_rest: object) -> None:
        """A clean end lets it go; after a failed teardown it stays, and cleans up itself."""
        if error is None:
            self.done()


def _read_facts(stream: IO[str]) -> tuple[dict[str, Any], bool]:
    facts: dict[str, Any] = {}
    for line in stream:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("done"):
            return facts, True
        if "group" in message:
            facts.setdefault("groups", []).append(message.pop("group"))
        if "database" in message:
            facts.setdefault("databases", []).append(message.pop("database"))
        facts.update(message)
    return facts, False


def kill_groups(groups: list[list[Any]], grace: float = 2.0) -> list[str]:
    """SIGTERM the suites' process groups that still exist, then SIGKILL what is left.

    A group whose leader is alive with another start time is a recycled pid: left alone."""
    from hodei_e2e.ownership.identity import process_start_token

    ours = []
    for pgid, token in groups:
        current = process_start_token(int(pgid))
        if not (current and token and current != token):
            ours.append(int(pgid))
    terminate_groups(ours, grace)
    return [f"stopped process group {pgid}" for pgid, _ in groups]


def stop_processes(facts: dict[str, Any]) -> list[str]:
    """Whatever else the run started and left running: descendants that left their suite's
    process group, migration commands (they carry the run's owner token)."""
    from hodei_e2e.ownership.process_orphans import processes_of

    owner = facts.get("owner")
    if not owner:
        return []
    left = list(processes_of(str(owner)))
    terminate_processes([p.pid for p in left], grace=1.0)
    return [f"stopped process {p.pid} ({p.command[:60]})" for p in left]


def reap(facts: dict[str, Any]) -> list[str]:
    """Remove what the run `facts` describes; return one line per thing removed."""
    from hodei_e2e.engine.docker import Engine
    from hodei_e2e.ownership import identity as ident
    from hodei_e2e.ownership.orphans import leaked_testcontainers, other_live_starts
    from hodei_e2e.ownership.workers import owned_by_window

    run_id = str(facts.get("run_id", ""))
    started = float(facts.get("created", 0.0))
    if not run_id:
        return []
    engine = Engine.connect(timeout=20)
    now = time.time()
    everything = engine.containers([])
    others = other_live_starts(everything, run_id)
    doomed = [  # a reusable server outlives its creator, whose crash changes nothing for it
        c
        for c in everything
        if c.labels.get(ident.RUN_ID) == run_id
        and c.labels.get(ident.ROLE) != "worker-image"
        and c.labels.get(ident.REUSE) != "true"
    ]
    doomed += [
        c
        for c in everything
        if c.labels.get(ident.WORKER_LABEL) == "true"
        and owned_by_window(c, run_id, started, now, others)
    ]
    if facts.get("testcontainers", True):
        doomed += leaked_testcontainers(everything, run_id, started, now, others)
    _drop_databases(facts)
    unique = {c.id: c for c in doomed}
    engine.remove(list(unique))
    return [f"removed {c.name} ({c.short_id})" for c in unique.values()]


def _drop_databases(facts: dict[str, Any]) -> None:
    """Databases in a server that outlives the run (a reused one)."""
    url, names = facts.get("admin_url"), facts.get("databases") or []
    if not url or not names or not facts.get("reused"):
        return
    from hodei_e2e.postgres.server import drop_databases_at

    drop_databases_at(str(url), [str(n) for n in names])


def main() -> int:
    facts, clean = _read_facts(sys.stdin)
    if clean:
        return 0
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} watchdog {os.getpid()}: run {facts.get('run_id')} ended without cleaning up")
    try:
        lines = kill_groups(facts.get("groups") or []) + stop_processes(facts) + reap(facts)
        for line in lines:
            print(f"  {line}")
    except Exception as error:  # noqa: BLE001 - nobody is left to report to; log and exit
        print(f"  cleanup failed: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
