"""Helpers the end-to-end tests share: suite scripts, the docker CLI, and a finalizer that
removes whatever a test's runs left behind, even when the test fails."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import pytest
import yaml

# The e2e tests import these from here: `X as X` re-exports them (mypy --strict).
from shared import SESSION_LABEL as SESSION_LABEL  # noqa: PLC0414
from shared import SessionSupport
from shared import find_watchdog as find_watchdog  # noqa: PLC0414
from shared import parent_of as parent_of  # noqa: PLC0414
from shared import process_alive as process_alive  # noqa: PLC0414

T = TypeVar("T")

TEST_PROJECT = "hodei-e2e-tests.project"  # ours: what a test's finalizer removes by
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

    def wait_for(self, condition: Callable[[], T], what: str, timeout: float = 60) -> T:
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
    support: SessionSupport  # tests/conftest.py's DockerSupport
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
        prepare: str | Sequence[str] | Mapping[str, Any] | None = None,
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


@dataclass(frozen=True)
class FakePostgresImages:
    never_ready: str  # prints "starting", then sleeps: it never accepts a connection
    crashes: str  # prints a FATAL line and exits at once


def script(directory: Path, name: str, body: str) -> str:
    """Write `name` (a POSIX sh script) into `directory`; return the suite command that runs it."""
    (directory / name).write_text("set -eu\n" + textwrap.dedent(body), encoding="utf-8")
    return f"sh {name}"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=check
    )


def state(name_or_id: str) -> str | None:
    """`running`, `exited`, ... or None when the container does not exist."""
    done = docker("inspect", "-f", "{{.State.Status}}", name_or_id, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def label(container: str, key: str) -> str:
    """The value of a container's label `key` ("" when it has none)."""
    return docker(
        "inspect", "-f", f'{{{{index .Config.Labels "{key}"}}}}', container
    ).stdout.strip()


def psql_on(container: str, query: str) -> list[str]:
    """Run `query` with psql inside a Postgres container; its output, split on blanks."""
    return docker("exec", container, "psql", "-U", "postgres", "-qAtc", query).stdout.split()


def suite_databases(container: str) -> list[str]:
    """The suite databases (the tool's prefix, not a template) in a Postgres container."""
    return psql_on(
        container,
        "SELECT datname FROM pg_database "
        "WHERE datname LIKE 'e2e\\_%' AND NOT datistemplate ORDER BY 1",
    )


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` for at most `timeout` seconds; whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def run_json(
    cli: Cli,
    root: Path,
    *args: str,
    report: str = "report.json",
    env: Mapping[str, str] | None = None,
    unset: tuple[str, ...] = (),
    timeout: float = 120,
) -> tuple[CliResult, dict[str, Any]]:
    """`hodei-e2e run --json REPORT ARGS...` in `root`: the CliResult, and the JSON report, which
    the run must have written whatever its exit code."""
    result = cli.run(
        "run", "--json", report, *args, cwd=root, env=env, unset=unset, timeout=timeout
    )
    path = root / report
    assert path.is_file(), f"no JSON report written\n{result.explain()}"
    return result, json.loads(path.read_text())


@dataclass
class Scrub:
    """After the test: stop the CLIs it started, run its own finalizers, and remove every
    container of its projects (the tool's label and ours) and those it named."""

    cli: Cli
    first: int
    projects: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    finalizers: list[Callable[[], object]] = field(default_factory=list)
    images: set[str] = field(default_factory=set)  # removed after the containers

    def finish(self) -> None:
        for process in self.cli.started[self.first :]:
            process.kill()
        for finalizer in self.finalizers:
            finalizer()
        ids = set(self.names)
        for project in self.projects:
            for label in (f"io.hodei.e2e.project={project}", f"{TEST_PROJECT}={project}"):
                listed = docker(
                    "ps", "-aq", "--no-trunc", "--filter", f"label={label}", check=False
                )
                ids.update(listed.stdout.split())
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        if self.images:
            docker("rmi", "-f", *self.images, check=False)


def add_services(config: WrittenConfig, services: dict[str, Any]) -> None:
    """`cli.write_config` writes no `services:`; put them in, before `suites:`."""
    doc = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    suites = doc.pop("suites")
    defaults = doc.pop("defaults", None)
    doc["services"] = services
    doc["suites"] = suites
    if defaults is not None:
        doc["defaults"] = defaults
    config.path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


class DockerPs(Protocol):
    """The `docker_ps` fixture: `docker ps -a` filtered by labels, one line per container."""

    def __call__(self, *labels: str) -> list[str]: ...


class WaitGone(Protocol):
    """The `wait_gone` fixture: what still matches after at most `timeout` seconds."""

    def __call__(
        self, *labels: str, timeout: float = 60, names: tuple[str, ...] = ()
    ) -> list[str]: ...


class WorkersGone(Protocol):
    """The `workers_gone` fixture: fails when unattributed workers are left (see conftest)."""

    def __call__(self, *labels: str, names: tuple[str, ...] = ()) -> None: ...


# Makes the CLI (and its watchdog) see the hostname $HODEI_E2E_TEST_HOSTNAME.
SITECUSTOMIZE = """\
import os
import socket

_name = os.environ.get("HODEI_E2E_TEST_HOSTNAME")
if _name:
    socket.gethostname = lambda: _name
"""
