"""One try's machinery: a workspace with its own project and token, the CLI as a child process
whose stderr is watched for fault-point markers, and the leftovers a try may not leave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hodei_e2e.engine.docker import Engine
from hodei_e2e.ownership.identity import LABEL, PROJECT, REUSE, RUN_ID, WORKER_LABEL
from hodei_e2e.ownership.leases import lease_dir

ROOT = Path(__file__).resolve().parents[2]
CLI = str(ROOT / ".venv" / "bin" / "hodei-e2e")
TOKEN_LABEL = "hodei-e2e-faults.token"  # on the worker containers the battery's suites start
POSTGRES_IMAGE = os.environ.get("HODEI_E2E_POSTGRES_IMAGE", "hodei-e2e.local/postgres:15")
BASE_IMAGE = os.environ.get("HODEI_E2E_BASE_IMAGE", "hodei-e2e.local/busybox:latest")
SQL_ASCII = {"POSTGRES_INITDB_ARGS": "--encoding=SQL_ASCII --locale=C"}


class TryFailed(Exception):
    """The try did not end as it must; the message says how."""


@dataclass
class Workspace:
    """A directory, a project name and a token that are this try's alone."""

    name: str
    directory: Path = field(init=False)
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix=f"faults-{self.name}-"))
        self.token = os.urandom(4).hex()

    @property
    def project(self) -> str:
        return f"faults-{self.name}-{self.token}"

    def config(
        self,
        suites: Mapping[str, Mapping[str, Any]],
        *,
        postgres: Mapping[str, Any] | None = None,
        **top: Any,
    ) -> Path:
        document = {
            "version": 1,
            "project": self.project,
            "postgres": {"image": POSTGRES_IMAGE, **(postgres or {})},
            "env": {"FAULTS_TOKEN": self.token},
            "suites": dict(suites),
            "defaults": {"jobs": 2, "timeout": "5m"},
            **top,
        }
        path = self.directory / "e2e.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    def flag(self, name: str = "started") -> Path:
        return self.directory / name

    def wait_flag(self, name: str = "started", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.flag(name).exists():
            if time.monotonic() > deadline:
                raise TryFailed(f"the suite never wrote {name!r} within {timeout:g}s")
            time.sleep(0.02)

    def worker_command(self) -> str:
        """A suite line that starts a worker container the way the platform does."""
        return (
            f"docker run -d --label {WORKER_LABEL}=true --label {TOKEN_LABEL}={self.token} "
            f"--label {RUN_ID}=$HODEI_E2E_RUN_ID "
            f"{BASE_IMAGE} sleep 600 >/dev/null"
        )


class Cli:
    """`hodei-e2e ARGS` in a session of its own (like a terminal job), stderr watched."""

    def __init__(
        self, ws: Workspace, *args: str, faults: str = "", env: Mapping[str, str] | None = None
    ) -> None:
        self.ws = ws
        self.log = ws.directory / f"cli-{time.monotonic_ns()}.log"
        self._lines: list[str] = []
        self._seen = threading.Condition()
        environment = {
            **os.environ,
            "FAULTS_TOKEN": ws.token,
            "HODEI_E2E_FAULTS": faults,
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [CLI, *args],
            cwd=ws.directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.started = time.monotonic()
        self.signalled: float | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        with self.log.open("wb") as log:
            for raw in iter(self.proc.stderr.readline, b""):
                log.write(raw)
                log.flush()
                with self._seen:
                    self._lines.append(raw.decode(errors="replace"))
                    self._seen.notify_all()

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        """Until a stderr line contains `text` (a fault point's marker, a step line)."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while not any(text in line for line in self._lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TryFailed(f"no {text!r} on the CLI's stderr (see {self.log})")
                self._seen.wait(min(left, 0.1))

    def send(self, signum: int, *, group: bool = True) -> None:
        """To the process group, as a terminal's Ctrl-C does; `group=False`: the pid alone."""
        if self.signalled is None:
            self.signalled = time.monotonic()
        try:
            if group:
                os.killpg(self.proc.pid, signum)
            else:
                os.kill(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL, group=False)
            self.proc.wait()
            raise TryFailed(f"the CLI did not end within {timeout:g}s (see {self.log})") from None
        self._reader.join(timeout=5)
        return code

    @property
    def since_signal(self) -> float:
        """Seconds from the first signal (or the start) to now."""
        return time.monotonic() - (self.signalled or self.started)

    def text(self) -> str:
        with self._seen:
            return "".join(self._lines)


def expect(code: int, wanted: int | Sequence[int], cli: Cli) -> None:
    allowed = (wanted,) if isinstance(wanted, int) else tuple(wanted)
    if code not in allowed:
        tail = "".join(cli.text().splitlines(keepends=True)[-12:])
        raise TryFailed(f"exit code {code}, expected {allowed}; last lines:\n{tail}")


def hodei(ws: Workspace, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """A CLI command run to its end (cleanup, a plain run)."""
    return subprocess.run(
        [CLI, *args],
        cwd=ws.directory,
        env={**os.environ, "FAULTS_TOKEN": ws.token, "HODEI_E2E_FAULTS": ""},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def report(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise TryFailed(f"no JSON report at {path}")
    return dict(json.loads(path.read_text(encoding="utf-8")))


# -- leftovers ------------------------------------------------------------------------------------


@dataclass
class Leftovers:
    containers: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    leases: list[str] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in vars(self).values())

    def describe(self) -> str:
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in vars(self).items() if v)


_engine: Engine | None = None


def engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = Engine.connect(timeout=60)
    return _engine


def processes_with_token(token: str) -> list[str]:
    marker = f"FAULTS_TOKEN={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text(errors="replace")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X"):
            found.append(f"{entry.name} {command}")
    return found


def leftovers(ws: Workspace, *, keep_reused: bool = False) -> Leftovers:
    """What this try's project and token still have: containers (reusable ones aside when
    `keep_reused`), worker containers, processes, lease files."""
    found = Leftovers()
    for c in engine().containers({LABEL: "true", PROJECT: ws.project}):
        if not (keep_reused and c.labels.get(REUSE) == "true"):
            found.containers.append(f"{c.name} ({c.status})")
    found.workers = [c.name for c in engine().containers({TOKEN_LABEL: ws.token})]
    found.processes = [line[:70] for line in processes_with_token(ws.token)]
    if not keep_reused:
        found.leases = [p.name for p in lease_dir().glob(f"hodei-e2e-{ws.project}-*.lock")]
    return found


def settle(ws: Workspace, within: float, **kwargs: Any) -> Leftovers:
    """Leftovers, waited for up to `within` seconds to go (a watchdog still at work)."""
    deadline = time.monotonic() + within
    while True:
        found = leftovers(ws, **kwargs)
        if not found.count() or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def scrub(ws: Workspace, *, reused: bool) -> None:
    """After a try, pass or fail: nothing of it may outlive the battery. The tool's own
    `cleanup --all` where a reused server stays by design (or anything is left)."""
    if reused or leftovers(ws).count():
        hodei(ws, "cleanup", "--all", "-c", str(ws.directory / "e2e.yaml"))
    ids = [c.id for c in engine().containers({TOKEN_LABEL: ws.token})]
    ids += [c.id for c in engine().containers({LABEL: "true", PROJECT: ws.project})]
    engine().remove(ids)
    for line in processes_with_token(ws.token):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def psql(container: str, query: str) -> list[str]:
    done = subprocess.run(
        ["docker", "exec", container, "psql", "-U", "postgres", "-qAtc", query],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise TryFailed(f"psql failed: {done.stderr.strip()}")
    return done.stdout.split()


def reused_postgres(ws: Workspace) -> str:
    found = engine().containers({LABEL: "true", PROJECT: ws.project, REUSE: "true"})
    servers = [c for c in found if c.labels.get(f"{LABEL}.role") == "postgres"]
    if len(servers) != 1:
        raise TryFailed(f"expected one reused Postgres, found {len(servers)}")
    return servers[0].name


def watchdog_of(cli: Cli) -> int:
    """The pid of the run's watchdog (it carries the try's token and runs
    hodei_e2e.ownership.reaper)."""
    for line in processes_with_token(cli.ws.token):
        pid, _, command = line.partition(" ")
        if "hodei_e2e.ownership.reaper" in command:
            return int(pid)
    raise TryFailed("no watchdog process found")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
