"""End-to-end tests: `hodei-e2e` as a user runs it, in a subprocess, against the real engine.

The fixtures' objects are typed in support.py (`Cli`, `DockerPs`, ...), which the tests import.

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
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from shared import SessionSupport
from support import (
    SITECUSTOMIZE,
    Cli,
    DockerPs,
    FakePostgresImages,
    Scrub,
    WaitGone,
    WorkersGone,
)

from hodei_e2e.engine.docker import Engine
from hodei_e2e.ownership.identity import LABEL


@pytest.fixture(scope="session")
def cli(docker_support: SessionSupport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    helper = Cli(docker_support, tmp_path_factory.mktemp("cli-output"))
    yield helper
    for process in helper.started:  # a test that failed half-way must not leave a CLI running
        process.kill()


@pytest.fixture(autouse=True)
def _no_leftover_containers(leak_guard: None) -> None:
    """No container labelled io.hodei.e2e=true or hodei.managed=true outlives its test."""


@pytest.fixture
def docker_ps() -> DockerPs:
    """`docker ps -a` filtered by labels, one line per container, as a user would look."""

    def ps(*labels: str) -> list[str]:
        command = ["docker", "ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Status}} {{.Names}}"]
        for label in labels:
            command += ["--filter", f"label={label}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.splitlines()

    return ps


@pytest.fixture
def wait_gone(docker_ps: DockerPs) -> WaitGone:
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
    wait_gone: WaitGone, engine: Engine, docker_support: SessionSupport
) -> WorkersGone:
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


@pytest.fixture(scope="session")
def fake_postgres_images(
    engine: Engine, base_image: str, docker_support: SessionSupport
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
def scrub(cli: Cli) -> Iterator[Scrub]:
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
