"""The run, `cleanup` and the crash path against Podman and against a remote engine, as a user
sees them: exit codes, output, and `docker ps -a` on that engine (empty afterwards)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, EngineUnderTest
from shared import find_watchdog, process_alive

pytestmark = [pytest.mark.docker, pytest.mark.engines, pytest.mark.timeout(240)]


def wait_until(condition: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


# -- the demo: every step of a run -----------------------------------------------------------------


def test_the_demo_runs_and_leaves_no_container(engine: EngineUnderTest, tmp_path: Path) -> None:
    """The repository's e2e.yaml, as `hodei-e2e run` under CI: the worker image is built on
    that engine, Postgres and Redis start there, five suites pass (one calls back from a worker
    container to this machine)."""
    shutil.copy(ROOT / "e2e.yaml", tmp_path / "e2e.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    done = engine.cli("run", "--json", "report.json", cwd=tmp_path, CI="true")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert {s["name"]: s["status"] for s in report["suites"]} == dict.fromkeys(
        ["isolation-a", "isolation-b", "worker-callback", "streaming", "cache"], "passed"
    ), out
    # Published ports are where this machine reaches them: the remote engine's address.
    assert f"): {engine.address}:" in out, out  # ✓ postgres IMAGE (0.00s): ADDRESS:PORT
    assert engine.containers() == []


# -- the crash path and cleanup --------------------------------------------------------------------

BLOCK = """\
set -eu
echo $$ > suite.pid
docker run -d --label hodei.managed=true --label "hodei.worker.id=w-$HODEI_E2E_RUN_ID" \\
    --label "io.hodei.e2e.run-id=$HODEI_E2E_RUN_ID" "$HODEI_E2E_BASE_IMAGE" sleep 300 > worker.id
psql -qAtc 'select 1' > db.ok   # the suite's own database answers, on the engine's host
touch started
sleep 300
"""


@pytest.fixture
def blocking_run(engine: EngineUnderTest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Start a run whose one suite starts a worker container and then blocks."""
    started: list[Any] = []

    def start() -> Any:
        (tmp_path / "block.sh").write_text(BLOCK, encoding="utf-8")
        config = {
            "version": 1,
            "project": f"t{secrets.token_hex(4)}",
            "requires": ["docker", "psql"],
            "postgres": {
                "image": engine.env["HODEI_E2E_POSTGRES_IMAGE"], "tmpfs": True,
                "startup_timeout": "60s",
            },
            "suites": {"block": {"command": "sh block.sh", "timeout": "2m"}},
            "defaults": {"jobs": 1, "timeout": "2m"},
        }  # fmt: skip
        (tmp_path / "e2e.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        process = engine.start_cli("run", cwd=tmp_path)
        started.append(process)
        if not wait_until(lambda: (tmp_path / "started").exists() or process.poll(), 120):
            pytest.fail("the suite never started")
        assert process.poll() is None, (tmp_path / "cli.stderr").read_text()
        assert (tmp_path / "db.ok").read_text().strip() == "1"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    kill_suite(tmp_path)


def kill_suite(directory: Path) -> None:
    """Kill the process group of the suite whose pid `directory/suite.pid` holds."""
    try:
        os.killpg(os.getpgid(int((directory / "suite.pid").read_text())), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def test_kill9_of_the_run_the_watchdog_removes_its_containers(
    engine: EngineUnderTest, tmp_path: Path, blocking_run: Callable[[], Any]
) -> None:
    process = blocking_run()
    assert len(engine.containers()) == 2  # Postgres and the worker
    watchdog = find_watchdog(process.pid)
    assert watchdog is not None, "no `python -m hodei_e2e.reaper` child of the run"
    suite = int((tmp_path / "suite.pid").read_text())

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)

    assert wait_until(lambda: engine.containers() == [], 30), engine.containers()
    assert wait_until(lambda: not process_alive(suite), 10), "the suite still runs"
    assert wait_until(lambda: not process_alive(watchdog), 10), "the watchdog never exited"
    log = (tmp_path / ".hodei-e2e" / "watchdog.log").read_text(errors="replace")
    assert "ended without cleaning up" in log, log


def test_cleanup_removes_what_a_killed_run_and_watchdog_left(
    engine: EngineUnderTest, tmp_path: Path, blocking_run: Callable[[], Any]
) -> None:
    process = blocking_run()
    watchdog = find_watchdog(process.pid)
    assert watchdog is not None
    os.kill(watchdog, signal.SIGKILL)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    kill_suite(tmp_path)  # nobody is left to stop it
    assert len(engine.containers()) == 2, "nothing was left to clean up"

    done = engine.cli("cleanup", "-c", "e2e.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed" in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    assert engine.containers() == []
