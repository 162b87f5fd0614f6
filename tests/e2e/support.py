"""Helpers the end-to-end tests share: suite scripts, the docker CLI, and a finalizer that
removes whatever a test's runs left behind, even when the test fails."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from shared import (  # noqa: F401 - the e2e tests import them from here
    SESSION_LABEL,
    find_watchdog,
    parent_of,
    process_alive,
)

TEST_PROJECT = "hodei-e2e-tests.project"  # ours: what a test's finalizer removes by


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
    cli: Any, root: Path, *args: str, report: str = "report.json", **kwargs: Any
) -> tuple[Any, dict[str, Any]]:
    """`hodei-e2e run --json REPORT ARGS...` in `root`: the CliResult, and the JSON report, which
    the run must have written whatever its exit code."""
    result = cli.run("run", "--json", report, *args, cwd=root, **kwargs)
    path = root / report
    assert path.is_file(), f"no JSON report written\n{result.explain()}"
    return result, json.loads(path.read_text())


@dataclass
class Scrub:
    """After the test: stop the CLIs it started, run its own finalizers, and remove every
    container of its projects (the tool's label and ours) and those it named."""

    cli: Any
    first: int
    projects: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    finalizers: list[Callable[[], None]] = field(default_factory=list)
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


def add_services(config: Any, services: dict[str, Any]) -> None:
    """`cli.write_config` writes no `services:`; put them in, before `suites:`."""
    doc = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    suites = doc.pop("suites")
    defaults = doc.pop("defaults", None)
    doc["services"] = services
    doc["suites"] = suites
    if defaults is not None:
        doc["defaults"] = defaults
    config.path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


# Makes the CLI (and its watchdog) see the hostname $HODEI_E2E_TEST_HOSTNAME.
SITECUSTOMIZE = """\
import os
import socket

_name = os.environ.get("HODEI_E2E_TEST_HOSTNAME")
if _name:
    socket.gethostname = lambda: _name
"""
