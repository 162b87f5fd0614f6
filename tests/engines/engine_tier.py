"""The engine tier's helpers: an engine started by scripts/test-engine, and the CLI against it.

The engines (tests/engines/conftest.py gives each in turn as `engine`):

- `podman`: rootful `podman system service` on a socket of its own, storage in a temporary
  directory, `DOCKER_HOST=unix://.../podman.sock`;
- `remote`: a second dockerd in a network namespace, reached over tcp on the namespace's
  address, as a Docker-in-Docker service or a remote engine would be
  (`DOCKER_HOST=tcp://ADDRESS:2375`); its published ports are on that address, not on 127.0.0.1.

Each is handed the images the tests need (it has none, and no registry answers). Starting one
needs root; under CI=true a missing piece is a failure, elsewhere a visible skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared import DEFAULT_BASE_IMAGE, DEFAULT_POSTGRES_IMAGE, missing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "test-engine"
REDIS_IMAGE = os.environ.get("HODEI_E2E_REDIS_IMAGE", "hodei-e2e.local/redis:7")
CLI = [sys.executable, "-m", "hodei_e2e"]


@dataclass(frozen=True)
class EngineUnderTest:
    kind: str  # podman or remote
    directory: Path
    env: Mapping[str, str]  # DOCKER_HOST and the images, on top of the caller's environment

    @property
    def docker_host(self) -> str:
        return self.env["DOCKER_HOST"]

    @property
    def address(self) -> str:
        """Where its published ports are: the tcp endpoint's host, else 127.0.0.1."""
        host = self.docker_host
        return (
            host.removeprefix("tcp://").rsplit(":", 1)[0]
            if host.startswith("tcp://")
            else ("127.0.0.1")
        )

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this engine."""
        return subprocess.run(
            ["docker", *args], env={**os.environ, **self.env},
            capture_output=True, text=True, timeout=120, check=check,
        )  # fmt: skip

    def containers(self) -> list[str]:
        """`docker ps -a` on this engine, one line per container."""
        listed = self.docker("ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Status}} {{.Names}}")
        return listed.stdout.splitlines()

    def cli(
        self, *args: str, cwd: Path, timeout: float = 180, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`python -m hodei_e2e ARGS` against this engine, to its end."""
        return subprocess.run(
            [*CLI, *args], cwd=cwd, env={**os.environ, **self.env, **env},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def start_cli(self, *args: str, cwd: Path, **env: str) -> subprocess.Popen[bytes]:
        """`python -m hodei_e2e ARGS` in its own session, output to files in `cwd`."""
        with (cwd / "cli.stdout").open("wb") as out, (cwd / "cli.stderr").open("wb") as err:
            return subprocess.Popen(
                [*CLI, *args], cwd=cwd, env={**os.environ, **self.env, **env},
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
            )  # fmt: skip


def start(kind: str, directory: Path) -> EngineUnderTest:
    if os.geteuid() != 0:
        missing(f"the {kind} engine tier needs root (a rootful engine, network namespaces)")
    if shutil.which("docker") is None:
        missing("the docker CLI is missing")
    images = [
        os.environ.get("HODEI_E2E_POSTGRES_IMAGE", DEFAULT_POSTGRES_IMAGE),
        os.environ.get("HODEI_E2E_BASE_IMAGE", DEFAULT_BASE_IMAGE),
        REDIS_IMAGE,
    ]
    done = subprocess.run(
        ["bash", str(SCRIPT), kind, "start", str(directory), *images],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        stop(kind, directory)
        missing(f"scripts/test-engine {kind} start failed:\n{done.stderr}{done.stdout}")
    sys.stderr.write(done.stderr)
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    env.update(
        HODEI_E2E_POSTGRES_IMAGE=images[0], HODEI_E2E_BASE_IMAGE=images[1],
        HODEI_E2E_REDIS_IMAGE=images[2],
    )  # fmt: skip
    for variable in ("HODEI_E2E_HOST", "HODEI_SERVER_HOST", "DOCKER_CONTEXT"):
        os.environ.pop(variable, None)  # the tool must find everything from DOCKER_HOST alone
    return EngineUnderTest(kind, directory, env)


def stop(kind: str, directory: Path) -> None:
    subprocess.run(
        ["bash", str(SCRIPT), kind, "stop", str(directory)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
