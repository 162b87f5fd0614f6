"""End-to-end tests: `hodei-e2e` as a user runs it, in a subprocess, against the real engine.

- `cli.run(*args, cwd=...)` runs the CLI to the end and returns `CliResult(code, stdout, stderr)`;
- `cli.start(*args, cwd=...)` starts it with Popen in its own process group, for signal tests
  (`send` signals the group, as a terminal's Ctrl-C does);
- `cli.write_config(directory, suites, ...)` writes an e2e.yaml with the local Postgres image and
  a project name unique to the test; there is no `image:` section unless one is given.

Every test is checked for containers it leaves behind (`leak_guard`, tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from support import SITECUSTOMIZE, Scrub

from hodei_e2e.engine.docker import Engine
from hodei_e2e.ownership.identity import LABEL

CLI = [sys.executable, "-m", "hodei_e2e"]
LOCAL_IMAGES = {
    "HODEI_E2E_REDIS_IMAGE": "hodei-e2e.local/redis:7",
    "HODEI_E2E_DEBIAN_IMAGE": "hodei-e2e.local/debian:bookworm",
}
# Variables of the caller that would change what the tool does behind a test's back.
UNSET = ("HODEI_E2E_CONFIG", "HODEI_WORKER_IMAGE")


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        return (
            f"exit code {self.code}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


@dataclass
class WrittenConfig:
    path: Path
    project: str


@dataclass
class CliProcess:
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, signum: int) -> None:
        """Signal the CLI's process group, as a terminal does on Ctrl-C."""
        os.killpg(self.proc.pid, signum)

    def output(self) -> CliResult:
        return CliResult(
            self.proc.returncode if self.proc.returncode is not None else -999,
            self.stdout_path.read_text(errors="replace"),
            self.stderr_path.read_text(errors="replace"),
        )

    def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        """Poll `condition` until it returns something truthy; fail if the CLI ends first."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"the CLI ended before {what}:\n{self.output().explain()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(
                    f"gave up after {timeout:g}s waiting for {what}:\n{self.output().explain()}"
                )
            time.sleep(0.05)

    def wait(self, timeout: float = 120) -> CliResult:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the CLI did not end within {timeout:g}s:\n{self.output().explain()}")
        return self.output()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)


@dataclass
class Cli:
    support: Any  # tests/conftest.py's DockerSupport
    scratch: Path  # where the CLI's stdout and stderr go (never into the cwd: it may be the repo)
    started: list[CliProcess] = field(default_factory=list)

    def env(
        self, extra: Mapping[str, str] | None = None, unset: tuple[str, ...] = ()
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in UNSET and k not in unset}
        env["HODEI_E2E_POSTGRES_IMAGE"] = self.support.postgres_image
        env["HODEI_E2E_BASE_IMAGE"] = self.support.base_image
        # What the demo's other services use (scripts/bootstrap's images.env does the same).
        for name, default in LOCAL_IMAGES.items():
            env.setdefault(name, default)
        env.update(extra or {})
        return env

    def start(
        self,
        *args: str,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        unset: tuple[str, ...] = (),
    ) -> CliProcess:
        token = secrets.token_hex(3)
        stdout_path = self.scratch / f"cli-{token}.stdout"
        stderr_path = self.scratch / f"cli-{token}.stderr"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                [*CLI, *args],
                cwd=cwd,
                env=self.env(env, unset),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        self.support.owner_pids.add(proc.pid)  # what this run creates is ours (leak check)
        process = CliProcess(proc, stdout_path, stderr_path)
        self.started.append(process)
        return process

    def run(
        self,
        *args: str,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        unset: tuple[str, ...] = (),
        timeout: float = 120,
    ) -> CliResult:
        return self.start(*args, cwd=cwd, env=env, unset=unset).wait(timeout)

    def write_config(
        self,
        directory: Path,
        suites: Mapping[str, Any],
        *,
        postgres: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        image: Mapping[str, Any] | None = None,
        requires: list[str] | None = None,
        project: str | None = None,
        name: str = "e2e.yaml",
        prepare: Any = None,
    ) -> WrittenConfig:
        project = project or f"t{secrets.token_hex(4)}"
        doc: dict[str, Any] = {"version": 1, "project": project}
        if requires:
            doc["requires"] = list(requires)
        if image:
            doc["image"] = dict(image)
        doc["postgres"] = {
            "image": self.support.postgres_image,
            "tmpfs": True,
            "startup_timeout": "60s",
            **(postgres or {}),
        }
        if env:
            doc["env"] = dict(env)
        if prepare is not None:
            doc["prepare"] = prepare
        doc["suites"] = dict(suites)
        doc["defaults"] = {"jobs": 2, "timeout": "1m", **(defaults or {})}
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return WrittenConfig(path, project)


@pytest.fixture(scope="session")
def cli(docker_support: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    helper = Cli(docker_support, tmp_path_factory.mktemp("cli-output"))
    yield helper
    for process in helper.started:  # a test that failed half-way must not leave a CLI running
        process.kill()


@pytest.fixture(autouse=True)
def _no_leftover_containers(leak_guard: None) -> None:
    """No container labelled io.hodei.e2e=true or hodei.managed=true outlives its test."""


@pytest.fixture
def docker_ps() -> Callable[..., list[str]]:
    """`docker ps -a` filtered by labels, one line per container, as a user would look."""

    def ps(*labels: str) -> list[str]:
        command = ["docker", "ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Status}} {{.Names}}"]
        for label in labels:
            command += ["--filter", f"label={label}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.splitlines()

    return ps


@pytest.fixture
def wait_gone(docker_ps: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """Poll `docker ps -a` until no container matches, for at most `timeout` seconds; return
    what still matches. For workers that another live run on the engine may be removing."""

    def wait(*labels: str, timeout: float = 60, names: tuple[str, ...] = ()) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in docker_ps(*labels) if not names or line.split()[-1] in names]
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    return wait


@pytest.fixture
def workers_gone(
    wait_gone: Callable[..., list[str]], engine: Engine, docker_support: Any
) -> Callable[..., None]:
    """Assert that unattributed worker containers (no run id) are gone after a run.

    DESIGN: a run owns the unattributed workers created while it ran, except those created
    while another live run was running too: that run removes them when it ends. On an engine
    shared with other sessions, a worker left behind is therefore excused (and removed here)
    when a live run of someone else's overlapped it; otherwise it is a leak."""

    def check(*labels: str, names: tuple[str, ...] = ()) -> None:
        left = wait_gone(*labels, names=names, timeout=5)
        if not left:
            return
        others = [
            c
            for c in engine.containers([f"{LABEL}=true"])
            if c.labels.get(f"{LABEL}.role") != "worker-image"
            and not docker_support.ours(c.labels)
            and _owner_alive(c.labels.get(f"{LABEL}.owner", ""))
        ]
        ids = [line.split()[0] for line in left]
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60, check=False)
        if not others:
            pytest.fail(f"worker containers left after the run: {left}")

    return check


def _owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class FakePostgresImages:
    never_ready: str  # prints "starting", then sleeps: it never accepts a connection
    crashes: str  # prints a FATAL line and exits at once


@pytest.fixture(scope="session")
def fake_postgres_images(
    engine: Engine, base_image: str, docker_support: Any
) -> Iterator[FakePostgresImages]:
    """Two tiny images built FROM the base image, standing in for a broken Postgres."""
    recipes = {
        "never-ready": '["sh", "-c", "echo starting; exec sleep 600"]',
        "crashes": (
            '["sh", "-c", "echo \'FATAL: hodei-test: the data directory is broken\' >&2; exit 1"]'
        ),
    }
    tags = {}
    for name, entrypoint in recipes.items():
        dockerfile = f"FROM {base_image}\nENTRYPOINT {entrypoint}\n"
        digest = hashlib.sha256(dockerfile.encode()).hexdigest()[:8]
        tag = f"hodei-e2e-tests/{name}:{digest}-{docker_support.session}"
        subprocess.run(
            ["docker", "build", "-q", "-t", tag, "-"],
            input=dockerfile,
            text=True,
            capture_output=True,
            check=True,
            timeout=120,
        )
        tags[name] = tag
    yield FakePostgresImages(never_ready=tags["never-ready"], crashes=tags["crashes"])
    subprocess.run(
        ["docker", "rmi", "-f", *tags.values()], capture_output=True, timeout=60, check=False
    )


@pytest.fixture
def scrub(cli: Any) -> Iterator[Scrub]:
    """Removes what the test's runs left behind, whatever happens to the test."""
    helper = Scrub(cli, len(cli.started))
    yield helper
    helper.finish()


@pytest.fixture(scope="module")
def private_host(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment that gives the CLI (and its watchdog) a hostname of its own.

    `cleanup` and every run's start-of-run sweep act on the whole engine, not on one project.
    On an engine shared with other sessions, their sweeps would remove this test's dead run
    before its own `cleanup` could show doing so. Under a private hostname, what a dead run
    leaves is "another host's" to them (kept without --older-than), and this test's own
    `cleanup`, under the same hostname, sees a dead local owner as a user would.

    Used only where a foreign sweep would make a test fail or pass by accident. The price, on a
    shared engine only: other sessions' live runs are another host's to these runs, and the
    tool does not count other hosts' runs as live for unlabelled workers (see
    tests/unit/test_cleanup_rules.py), so their sweeps may take such a worker of another session;
    and another session's `cleanup --older-than` takes these runs' containers for another
    host's. On an engine of its own (CI), this changes nothing."""
    directory = tmp_path_factory.mktemp("private-host")
    (directory / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "HODEI_E2E_TEST_HOSTNAME": f"hodei-test-{secrets.token_hex(3)}"}
