"""Integration tests: the real Docker engine and a real Postgres, in-process.

`engine` fails under CI=true and skips with the reason elsewhere when no engine answers.
Every test is checked for containers it leaves behind (`leak_guard`, tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from hodei_e2e.docker import Engine


@pytest.fixture(scope="session")
def engine(docker_support: Any) -> Engine:
    """`Engine.connect()`, once per session."""
    return docker_support.require()


@pytest.fixture(scope="session")
def postgres_image(docker_support: Any) -> str:
    """$HODEI_E2E_POSTGRES_IMAGE, default hodei-e2e.local/postgres:15."""
    return str(docker_support.postgres_image)


@pytest.fixture(scope="session")
def base_image(docker_support: Any) -> str:
    """$HODEI_E2E_BASE_IMAGE, default hodei-e2e.local/busybox:latest."""
    return str(docker_support.base_image)


@pytest.fixture(autouse=True)
def _no_leftover_containers(leak_guard: None) -> None:
    """No container labelled io.hodei.e2e=true or hodei.managed=true outlives its test."""
