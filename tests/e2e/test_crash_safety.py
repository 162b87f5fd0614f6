"""Crash safety as a user sees it (DESIGN.md, "Crash safety"): `kill -9` of a run, of a run and
its watchdog, SIGTERM under GitHub Actions' 7.5 s deadline, and a third process's `cleanup`
while runs are alive.

Every suite here starts a worker container the way the platform's DockerProvider does
(`hodei.managed=true`, naming its run), records its pid and its child's pid, and then blocks.
What a user would look at is checked: `docker ps -a`, the processes, exit codes, output.
The `scrub` fixture removes whatever a test leaves (by its project labels) even when it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import (
    SESSION_LABEL,
    TEST_PROJECT,
    Cli,
    CliProcess,
    DockerPs,
    Scrub,
    find_watchdog,
    process_alive,
    script,
    state,
    suite_databases,
    wait_until,
)

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


# -- helpers ---------------------------------------------------------------------------------------


def suite_pids(directory: Path) -> dict[str, int]:
    return {
        p.name: int(p.read_text().split()[0])
        for p in directory.glob("*.pid")
        if p.read_text().strip()
    }


def worker_body(session: str, project: str, image: str, gate: bool) -> str:
    """A suite: record pids, start a worker naming this run, then block (or wait for `go`)."""
    wait = (
        """\
        i=0
        while [ ! -e go ]; do
            i=$((i + 1)); [ "$i" -lt 1200 ] || { echo "never got the go" >&2; exit 1; }
            sleep 0.05
        done
        # The worker must still be there: nobody may remove a live run's worker.
        state=$(docker inspect -f '{{.State.Running}}' "$worker" 2>&1) || state="gone: $state"
        echo "worker $worker: $state"
        [ "$state" = true ]
        kill "$child" 2>/dev/null || true
        """
        if gate
        else "wait\n"
    )
    return (
        f"""\
        me="$HODEI_E2E_SUITE"
        echo $$ > "$me.pid"
        worker="w-$HODEI_E2E_RUN_ID-$me"
        docker run -d --name "$worker" --label hodei.managed=true \\
            --label "hodei.worker.id=$worker" --label "io.hodei.e2e.run-id=$HODEI_E2E_RUN_ID" \\
            --label {SESSION_LABEL}={session} --label {TEST_PROJECT}={project} \\
            {image} sleep 300 > /dev/null
        echo "$worker" > "$me.worker"
        sleep 300 & child=$!
        echo "$child" > "$me-child.pid"
        touch "$me.started"
        """
        + wait
    )


def kill_suites(directory: Path) -> None:
    """Kill the process groups of the suites whose pids are in `directory` (scrub finalizer)."""
    for pid in suite_pids(directory).values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class Started:
    root: Path
    project: str
    process: CliProcess
    suites: tuple[str, ...]

    def workers(self) -> dict[str, str]:
        return {s: (self.root / f"{s}.worker").read_text().strip() for s in self.suites}

    def all_pids(self) -> dict[str, int]:
        return suite_pids(self.root)


def start_blocking_run(
    cli: Cli,
    scrub: Scrub,
    root: Path,
    base_image: str,
    *,
    suites: tuple[str, ...] = ("one", "two"),
    gate: bool = False,
    project: str | None = None,
    args: tuple[str, ...] = (),
    extra: str = "",
    env: dict[str, str] | None = None,
) -> Started:
    root.mkdir(parents=True, exist_ok=True)
    project = project or f"t{secrets.token_hex(4)}"
    body = worker_body(cli.support.session, project, base_image, gate)
    command = script(root, "block.sh", extra + body)
    config = cli.write_config(root, dict.fromkeys(suites, command), project=project)
    scrub.projects.add(config.project)
    scrub.finalizers.append(lambda: kill_suites(root))
    process = cli.start("run", "--json", "report.json", *args, cwd=root, env=env)
    process.wait_for(
        lambda: all((root / f"{s}.started").exists() for s in suites),
        f"suites {', '.join(suites)} to start",
    )
    return Started(root, config.project, process, suites)


def project_ps(docker_ps: Callable[..., list[str]], project: str) -> list[str]:
    return docker_ps("io.hodei.e2e=true", f"io.hodei.e2e.project={project}") + docker_ps(
        "hodei.managed=true", f"{TEST_PROJECT}={project}"
    )


# -- kill -9 of the run: the watchdog cleans up ----------------------------------------------------


def test_kill9_of_the_run_leaves_nothing_within_10s(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    run = start_blocking_run(cli, scrub, tmp_path, base_image)
    workers = run.workers()
    assert all(state(w) == "running" for w in workers.values()), workers
    assert docker_ps("io.hodei.e2e.role=postgres", f"io.hodei.e2e.project={run.project}") != []
    pids = run.all_pids()
    assert len(pids) == 4, pids
    assert all(process_alive(p) for p in pids.values()), pids
    watchdog = find_watchdog(run.process.pid)
    assert watchdog is not None, "no `python -m hodei_e2e.ownership.reaper` child of the run"

    os.kill(run.process.pid, signal.SIGKILL)
    killed = time.monotonic()
    run.process.proc.wait(timeout=10)

    def clean() -> bool:
        return (
            project_ps(docker_ps, run.project) == []
            and all(state(w) is None for w in workers.values())
            and not any(process_alive(p) for p in pids.values())
        )

    wait_until(clean, timeout=10)
    elapsed = time.monotonic() - killed
    left_containers = project_ps(docker_ps, run.project)
    left_pids = {n: p for n, p in pids.items() if process_alive(p)}
    assert (left_containers, left_pids) == ([], {}), (
        f"{elapsed:.1f}s after kill -9 of the run: containers {left_containers}, "
        f"suite processes {left_pids}\nwatchdog log:\n"
        + (tmp_path / ".hodei-e2e" / "watchdog.log").read_text(errors="replace")
    )
    assert elapsed < 10
    assert wait_until(lambda: not process_alive(watchdog), timeout=5), "the watchdog never exited"
    log = (tmp_path / ".hodei-e2e" / "watchdog.log").read_text(errors="replace")
    assert "ended without cleaning up" in log, log
    # (What it removed is not checked by name: on a shared engine another run's start-of-run
    # sweep may take the dead run's containers first, and that is as good.)


# -- kill -9 of the run and of its watchdog: `cleanup` removes what is left ------------------------


def kill_run_and_watchdog(run: Started) -> None:
    watchdog = find_watchdog(run.process.pid)
    assert watchdog is not None, "no `python -m hodei_e2e.ownership.reaper` child of the run"
    os.kill(watchdog, signal.SIGKILL)
    assert wait_until(lambda: not process_alive(watchdog), timeout=5)
    os.kill(run.process.pid, signal.SIGKILL)
    run.process.proc.wait(timeout=10)


def test_kill9_of_run_and_watchdog_then_cleanup_leaves_nothing(
    cli: Cli,
    engine: Engine,
    base_image: str,
    tmp_path: Path,
    docker_ps: DockerPs,
    scrub: Scrub,
    private_host: dict[str, str],
) -> None:
    run = start_blocking_run(cli, scrub, tmp_path, base_image, env=private_host)
    workers = run.workers()
    postgres = docker_ps("io.hodei.e2e.role=postgres", f"io.hodei.e2e.project={run.project}")
    assert len(postgres) == 1, postgres
    postgres_name = postgres[0].split()[-1]
    kill_run_and_watchdog(run)
    time.sleep(1.0)  # a watchdog, were one left, would have acted by now
    assert len(project_ps(docker_ps, run.project)) == 3, "the leftovers to clean up are there"

    result = cli.run("cleanup", cwd=tmp_path, env=private_host)
    assert result.code == 0, result.explain()
    assert "Traceback" not in result.output
    assert project_ps(docker_ps, run.project) == [], result.explain()
    for name in (postgres_name, *workers.values()):
        assert name in result.stderr, f"the table does not list {name}\n{result.explain()}"
    assert "removed" in result.stderr
    assert "gone" in result.stderr  # the reason: the owner (or its run) is gone

    again = cli.run("cleanup", "--dry-run", "--json", cwd=tmp_path, env=private_host)
    assert again.code == 0, again.explain()
    names = {r["name"] for r in json.loads(again.stdout)["removed"]}
    assert names.isdisjoint({postgres_name, *workers.values()})


def test_cleanup_removes_a_dead_runs_worker_while_another_run_is_live(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    """A worker names its run; that run is dead (its Postgres container says so). An unrelated
    live run that started earlier must not make `cleanup` keep the dead run's worker."""
    live = start_blocking_run(
        cli, scrub, tmp_path / "live", base_image, suites=("lives",), gate=True
    )
    time.sleep(1.1)  # the dead run starts a full second later (labels have 1 s resolution)
    dead = start_blocking_run(cli, scrub, tmp_path / "dead", base_image, suites=("dies",))
    dead_worker = dead.workers()["dies"]
    kill_run_and_watchdog(dead)

    result = cli.run("cleanup", cwd=tmp_path)
    (live.root / "go").touch()
    live_result = live.process.wait(60)
    assert result.code == 0, result.explain()
    assert live_result.code == 0, f"the live run was disturbed\n{live_result.explain()}"
    assert docker_ps("io.hodei.e2e=true", f"io.hodei.e2e.project={dead.project}") == [], (
        result.explain()
    )
    assert state(dead_worker) is None, (
        f"`hodei-e2e cleanup` kept the worker {dead_worker} of a dead run because another run "
        f"was live\n{result.explain()}"
    )


def test_cleanup_drops_a_dead_runs_databases_in_a_reused_server(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    """DESIGN.md: `cleanup` removes "test databases with the tool's prefix in a reused server
    whose run is gone"."""
    run = start_blocking_run(cli, scrub, tmp_path, base_image, suites=("holds",), args=("--reuse",))
    kill_run_and_watchdog(run)
    result = cli.run("cleanup", cwd=tmp_path)
    assert result.code == 0, result.explain()
    singleton = docker_ps("io.hodei.e2e.reuse=true", f"io.hodei.e2e.project={run.project}")
    assert len(singleton) == 1, f"the reused server should stay: {singleton}"
    databases = suite_databases(singleton[0].split()[0])
    assert databases == [], (
        f"`hodei-e2e cleanup` left the dead run's databases in the reused server: {databases}\n"
        + result.explain()
    )


@pytest.mark.parametrize("layout", ["two-projects", "one-project", "one-project-reused-server"])
def test_cleanup_during_two_live_runs_removes_nothing_of_theirs(
    cli: Cli,
    engine: Engine,
    base_image: str,
    tmp_path: Path,
    docker_ps: DockerPs,
    scrub: Scrub,
    layout: str,
    private_host: dict[str, str],
) -> None:
    """With a reused server, under a private hostname, so that only this test's runs are live to
    the tool, as on a developer's machine: another session's live run on a shared engine would
    make the runs' workers look owned by it, and the test pass by accident."""
    env = private_host if layout == "one-project-reused-server" else None
    project = f"t{secrets.token_hex(4)}" if layout != "two-projects" else None
    args: tuple[str, ...] = ()
    if layout == "one-project-reused-server":
        args = ("--reuse",)
        warm = tmp_path / "warm"
        config = cli.write_config(warm, {"warm": "true"}, project=project)
        scrub.projects.add(config.project)
        scrub.finalizers.append(lambda: kill_suites(warm))
        warmed = cli.run("run", "--reuse", cwd=warm, env=env)  # its creator is gone
        assert warmed.code == 0, warmed.explain()
    runs = [
        start_blocking_run(
            cli,
            scrub,
            tmp_path / name,
            base_image,
            suites=(name,),
            gate=True,
            project=project,
            args=args,
            env=env,
        )
        for name in ("first", "second")
    ]
    theirs: dict[str, str] = {}
    for run in runs:
        for line in docker_ps("io.hodei.e2e=true", f"io.hodei.e2e.project={run.project}"):
            theirs[line.split()[0]] = line.split()[-1]
        for worker in run.workers().values():
            theirs[worker] = worker
    assert len(theirs) >= 3, theirs

    result = cli.run("cleanup", "--json", cwd=tmp_path, env=env)
    for run in runs:
        (run.root / "go").touch()
    outcomes = [run.process.wait(60) for run in runs]

    assert result.code == 0, result.explain()
    removed = json.loads(result.stdout)["removed"]
    touched = [r for r in removed if r["name"] in theirs.values() or r["id"][:12] in theirs]
    runs_said = "\n".join(
        f"== run {run.root.name}: exit {outcome.code} ==\n{outcome.stderr}"
        for run, outcome in zip(runs, outcomes, strict=True)
    )
    assert touched == [], f"cleanup removed what live runs own: {touched}\n{runs_said}"
    for run, outcome in zip(runs, outcomes, strict=True):
        assert outcome.code == 0, f"{run.root.name}: {outcome.explain()}\n{runs_said}"
    if layout == "one-project-reused-server":
        left = docker_ps("io.hodei.e2e=true", f"io.hodei.e2e.project={runs[0].project}")
        assert len(left) == 1, left  # the reused server, and nothing else
        left += docker_ps("hodei.managed=true", f"{TEST_PROJECT}={runs[0].project}")
        assert len(left) == 1, left
    else:
        for run in runs:
            assert project_ps(docker_ps, run.project) == []


# -- SIGTERM: 143, nothing left, within GitHub Actions' 7.5 s --------------------------------------


DEAF = """\
(trap '' TERM; exec sleep 299) & echo $! > "$HODEI_E2E_SUITE-deaf.pid"
"""


def test_sigterm_during_suites_exits_143_and_leaves_nothing_within_7_5s(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    run = start_blocking_run(cli, scrub, tmp_path, base_image, extra=DEAF)
    workers = run.workers()
    pids = run.all_pids()
    assert len(pids) == 6, pids  # shell, child, and a child that ignores SIGTERM, per suite
    assert len(project_ps(docker_ps, run.project)) == 3

    os.kill(run.process.pid, signal.SIGTERM)
    sent = time.monotonic()
    result = run.process.wait(30)
    elapsed = time.monotonic() - sent

    left_containers = project_ps(docker_ps, run.project)
    left_pids = {n: p for n, p in pids.items() if process_alive(p)}
    assert result.code == 143, result.explain()
    assert left_containers == [], f"left after SIGTERM: {left_containers}\n{result.explain()}"
    assert all(state(w) is None for w in workers.values())
    assert left_pids == {}, f"suite processes survived SIGTERM: {left_pids}"
    assert elapsed < 7.5, f"SIGTERM to exit took {elapsed:.2f}s (GitHub Actions kills at 7.5 s)"
    assert "interrupted by SIGTERM" in result.stderr
    assert "Traceback" not in result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exit_code"] == 143
    assert [s["status"] for s in report["suites"]] == ["interrupted", "interrupted"]
