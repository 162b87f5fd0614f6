"""The engine tier: the tool against engines other than the machine's Docker.

`engine` is each of them in turn (Podman, then a remote dockerd: see engine_tier.py), started
for this session by scripts/test-engine and stopped, with everything it made, before the next
one starts. Starting one needs root; under CI=true a missing piece is a failure, elsewhere a
visible skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_tier import EngineUnderTest, start, stop


@pytest.fixture(scope="session", params=["podman", "remote"])
def engine(request: pytest.FixtureRequest) -> Iterator[EngineUnderTest]:
    """Each engine in turn, for every test that takes it; stopped, and checked to have left
    nothing (its directory, network namespace, processes), before the next one starts."""
    kind = str(request.param)
    directory = Path(f"/tmp/hodei-e2e-engine-{kind}-{os.getpid()}")
    started = time.monotonic()
    test_engine = start(kind, directory)
    sys.stderr.write(f"\n{kind} engine up in {time.monotonic() - started:.1f}s\n")
    yield test_engine
    netns = test_engine.env.get("HODEI_E2E_TEST_NETNS")
    stop(kind, directory)
    assert not directory.exists(), f"{directory} is left after the {kind} engine stopped"
    if netns:
        listed = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=False
        )
        assert netns not in listed.stdout, f"network namespace {netns} is left"
    leftover = subprocess.run(
        ["pgrep", "-af", str(directory)], capture_output=True, text=True, check=False
    ).stdout
    assert leftover == "", f"processes of the {kind} engine are left:\n{leftover}"
