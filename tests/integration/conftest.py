"""Integration tests: the real Docker engine and a real Postgres, in-process.

`engine` fails under CI=true and skips with the reason elsewhere when no engine answers.
Every test is checked for containers it leaves behind (`leak_guard`, tests/conftest.py).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_leftover_containers(leak_guard: None) -> None:
    """No container labelled io.hodei.e2e=true or hodei.managed=true outlives its test."""
