"""Plumbing shared by the integration and end-to-end tests: the Docker engine, image names, and
the leak check that keeps one test's leftovers from failing the next one.

Several sessions may share one Docker engine, so a leak check cannot blame every new container
on this session. A container is ours when its `io.hodei.e2e.owner` names this pytest process or a
CLI process a test started (`DockerSupport.owner_pids`), or when it carries `SESSION_LABEL`, which
tests put on the worker containers their suites start.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

import pytest
from shared import DEFAULT_BASE_IMAGE, DEFAULT_POSTGRES_IMAGE, SESSION_LABEL, missing

from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.errors import E2EError
from hodei_e2e.ownership.identity import LABEL, OWNER, WORKER_LABEL


@dataclass
class DockerSupport:
    """The engine (connected once per session) and what this session's tests created."""

    session: str = field(default_factory=lambda: secrets.token_hex(4))
    postgres_image: str = field(
        default_factory=lambda: os.environ.get("HODEI_E2E_POSTGRES_IMAGE", DEFAULT_POSTGRES_IMAGE)
    )
    base_image: str = field(
        default_factory=lambda: os.environ.get("HODEI_E2E_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    )
    owner_pids: set[int] = field(default_factory=lambda: {os.getpid()})
    _engine: Engine | None = None
    _reason: str | None = None
    _tried: bool = False

    def engine(self) -> Engine | None:
        if not self._tried:
            self._tried = True
            try:
                engine = Engine.connect(timeout=30)
                engine.server_version()
            except E2EError as error:
                self._reason = f"{error.message}: {error.detail or ''}".strip()
            except Exception as error:
                self._reason = f"Docker engine not usable: {error}"
            else:
                self._engine = engine
        return self._engine

    def require(self) -> Engine:
        """The engine; without one, a failure under CI=true and a visible skip elsewhere."""
        engine = self.engine()
        if engine is None:
            missing(f"no Docker engine: {self._reason}")
        return engine

    def labelled(self) -> dict[str, ContainerInfo]:
        """Every container the tool or a worker would own, by id."""
        engine = self.engine()
        if engine is None:
            return {}
        found = [
            *engine.containers([f"{LABEL}=true"]),
            *engine.containers([f"{WORKER_LABEL}=true"]),
        ]
        return {container.id: container for container in found}

    def ours(self, labels: Mapping[str, str]) -> bool:
        if labels.get(SESSION_LABEL) == self.session:
            return True
        host, _, pid = labels.get(OWNER, "").rpartition(":")
        return host == socket.gethostname() and pid.isdigit() and int(pid) in self.owner_pids

    def leftovers(self, before: Mapping[str, ContainerInfo]) -> list[ContainerInfo]:
        return [
            container
            for cid, container in self.labelled().items()
            if cid not in before and self.ours(container.labels)
        ]

    def remove(self, containers: list[ContainerInfo]) -> None:
        engine = self.engine()
        if engine is not None and containers:
            engine.remove([container.id for container in containers])


def describe(containers: list[ContainerInfo]) -> str:
    return "; ".join(
        f"{c.short_id} {c.name} ({c.image}, {c.status}, run {c.labels.get(LABEL + '.run-id', '-')})"
        for c in containers
    )


@pytest.fixture(scope="session")
def docker_support() -> Iterator[DockerSupport]:
    support = DockerSupport()
    yield support
    engine = support.engine()
    if engine is not None:
        engine.close()


@contextmanager
def no_leftovers(docker_support: DockerSupport, what: str) -> Iterator[None]:
    """Around the block: no container of ours that appeared during it is left; leftovers are
    removed (so that one failure does not cascade) and then fail with `what` as the culprit."""
    before = docker_support.labelled()
    yield
    left = docker_support.leftovers(before)
    docker_support.remove(left)
    if left:
        pytest.fail(f"{what} left containers behind (now removed): {describe(left)}")


@pytest.fixture(scope="session")
def session_leak_guard(docker_support: DockerSupport) -> Iterator[None]:
    """At the end of the session: nothing of ours is left (the per-test guard's safety net)."""
    with no_leftovers(docker_support, "the test session"):
        yield


@pytest.fixture
def leak_guard(docker_support: DockerSupport, session_leak_guard: None) -> Iterator[None]:
    """After the test: no container of ours that appeared during it is left; leftovers are
    removed so that one failure does not cascade into the next test."""
    with no_leftovers(docker_support, "the test"):
        yield


@pytest.fixture(scope="session")
def engine(docker_support: DockerSupport) -> Engine:
    """The engine, connected once per session (see `DockerSupport.require`)."""
    return docker_support.require()


@pytest.fixture(scope="session")
def postgres_image(docker_support: DockerSupport) -> str:
    """$HODEI_E2E_POSTGRES_IMAGE, default hodei-e2e.local/postgres:15."""
    return docker_support.postgres_image


@pytest.fixture(scope="session")
def base_image(docker_support: DockerSupport) -> str:
    """$HODEI_E2E_BASE_IMAGE, default hodei-e2e.local/busybox:latest."""
    return docker_support.base_image


@pytest.fixture(scope="session")
def redis_image(engine: Engine) -> str:
    """$HODEI_E2E_REDIS_IMAGE, default hodei-e2e.local/redis:7 (scripts/bootstrap builds it)."""
    image = os.environ.get("HODEI_E2E_REDIS_IMAGE", "hodei-e2e.local/redis:7")
    if engine.image_id(image) is None:
        missing(f"no {image} on this engine (scripts/bootstrap builds it)")
    return image


@pytest.fixture(name="missing")
def missing_fixture() -> Callable[[str], NoReturn]:
    """`missing(reason)` for a Docker test that lacks something: fails under CI, skips elsewhere."""
    return missing
