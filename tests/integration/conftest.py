"""Integration tests: the real Docker engine and a real Postgres, in-process.

`engine` fails under CI=true and skips with the reason elsewhere when no engine answers.
Every test is checked for containers it leaves behind (`leak_guard`, tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hodei_e2e.engine.docker import ContainerInfo, Engine


@pytest.fixture(autouse=True)
def _no_leftover_containers(leak_guard: None) -> None:
    """No container labelled io.hodei.e2e=true or hodei.managed=true outlives its test."""


@pytest.fixture
def created(engine: Engine) -> Iterator[list[ContainerInfo]]:
    """The containers a test created (append them, or pass `created.append` as `on_created`);
    removed after the test, whatever happened."""
    containers: list[ContainerInfo] = []
    yield containers
    engine.remove([container.id for container in containers])
