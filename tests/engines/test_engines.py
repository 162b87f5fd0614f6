"""The run, `cleanup` and the crash path against Podman and against a remote engine, as a user
sees them: exit codes, output, and `docker ps -a` on that engine (empty afterwards)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from engine_tier import CLI, ROOT, EngineUnderTest
from shared import find_watchdog, process_alive

pytestmark = [pytest.mark.docker, pytest.mark.engines, pytest.mark.timeout(240)]


def wait_until(condition: Callable[[], object], timeout: float) -> bool:
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


@pytest.mark.parametrize("engine", ["remote"], indirect=True)
def test_a_docker_context_leads_the_run_to_the_engine(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    """No DOCKER_HOST: the current docker context names the engine, as for the docker CLI."""
    config_dir = tmp_path / "docker-config"
    env = {"DOCKER_CONFIG": str(config_dir), "DOCKER_HOST": ""}
    for command in (
        ["context", "create", "e2e-remote", "--docker", f"host={engine.docker_host}"],
        ["context", "use", "e2e-remote"],
    ):
        done = subprocess.run(
            ["docker", *command], env={**os.environ, **env}, capture_output=True, text=True,
            timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    config = {
        "version": 1, "project": f"t{secrets.token_hex(4)}",
        "postgres": {"image": engine.env["HODEI_E2E_POSTGRES_IMAGE"], "tmpfs": True},
        "suites": {"db": {"command": "psql -qAtc 'select 1'"}},
    }  # fmt: skip
    (tmp_path / "e2e.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env_without_host = {k: v for k, v in engine.env.items() if k != "DOCKER_HOST"}
    done = subprocess.run(
        [*CLI, "run"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**{k: v for k, v in os.environ.items() if k != "DOCKER_HOST"},
             **env_without_host, "DOCKER_CONFIG": str(config_dir)},
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"): {engine.address}:" in out, out  # its Postgres, on the engine's host
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
def blocking_run(
    engine: EngineUnderTest, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start a run whose one suite starts a worker container and then blocks."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
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
    engine: EngineUnderTest, tmp_path: Path, blocking_run: Callable[[], subprocess.Popen[bytes]]
) -> None:
    process = blocking_run()
    assert len(engine.containers()) == 2  # Postgres and the worker
    watchdog = find_watchdog(process.pid)
    assert watchdog is not None, "no `python -m hodei_e2e.ownership.reaper` child of the run"
    suite = int((tmp_path / "suite.pid").read_text())

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)

    assert wait_until(lambda: engine.containers() == [], 30), engine.containers()
    assert wait_until(lambda: not process_alive(suite), 10), "the suite still runs"
    assert wait_until(lambda: not process_alive(watchdog), 10), "the watchdog never exited"
    log = (tmp_path / ".hodei-e2e" / "watchdog.log").read_text(errors="replace")
    assert "ended without cleaning up" in log, log


def test_cleanup_removes_what_a_killed_run_and_watchdog_left(
    engine: EngineUnderTest, tmp_path: Path, blocking_run: Callable[[], subprocess.Popen[bytes]]
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


# -- doctor ---------------------------------------------------------------------------------------


def test_doctor_names_the_engine_and_its_endpoint(engine: EngineUnderTest, tmp_path: Path) -> None:
    shutil.copy(ROOT / "e2e.yaml", tmp_path / "e2e.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    done = engine.cli("doctor", cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    if engine.kind == "podman":
        assert "✓ engine reachable: Podman 4." in out, out
        assert f"(rootful) at {engine.docker_host} (DOCKER_HOST)" in out, out
        assert "(the gateway of the engine's default bridge network)" in out, out
    else:
        assert "✓ engine reachable: Docker 20." in out, out
        assert f"(rootful, remote) at {engine.docker_host} (DOCKER_HOST)" in out, out
        assert f"published ports reached at {engine.address} (the engine's host)" in out, out
        assert "(this machine's address toward the remote engine's host" in out, out


@pytest.mark.parametrize("engine", ["podman"], indirect=True)
def test_doctor_explains_podmans_ulimits(engine: EngineUnderTest, tmp_path: Path) -> None:
    """The same storage served without `default_ulimits = []`: where this machine refuses
    Podman's default open-file limit, doctor says so and how to fix it."""
    conf = Path(engine.env["CONTAINERS_CONF"]).read_text(encoding="utf-8")
    (tmp_path / "containers.conf").write_text(conf.replace("default_ulimits = []", ""))
    socket = tmp_path / "podman.sock"
    env = {**os.environ, **engine.env, "CONTAINERS_CONF": str(tmp_path / "containers.conf")}
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_until(socket.exists, 20), "the second podman service did not start"
        shutil.copy(ROOT / "e2e.yaml", tmp_path / "e2e.yaml")
        shutil.copytree(ROOT / "examples", tmp_path / "examples")
        done = engine.cli("doctor", cwd=tmp_path, DOCKER_HOST=f"unix://{socket}")
    finally:
        service.terminate()
        service.wait(timeout=30)
    out = done.stdout + done.stderr
    if "error setting rlimit" not in out:
        pytest.skip("this machine lets Podman's containers have its default ulimits")
    assert done.returncode == 3, out
    assert "✗ host reachable from containers" in out, out
    assert "put `default_ulimits = []` under [containers] in containers.conf" in out, out
