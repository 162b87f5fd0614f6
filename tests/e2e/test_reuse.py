"""Singleton reuse (`--reuse`) as a user sees it: the same container between runs (the JSON
report's `postgres.container`), nothing else left between runs, a dead or differently configured
server replaced, eight concurrent runs sharing one server, and `cleanup --all` removing it.

Every reused server carries the test's project label; the `scrub` fixture removes it (and
anything else of the project) after the test, whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import (
    Cli,
    DockerPs,
    Scrub,
    docker,
    find_watchdog,
    label,
    process_alive,
    run_json,
    script,
    state,
    suite_databases,
    wait_until,
)

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    @property
    def container(self) -> str:
        return str(self.report["postgres"]["container"])

    def explain(self) -> str:
        return (
            f"exit code {self.code}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def run_reused(cli: Cli, root: Path, name: str, *args: str) -> Run:
    result, report = run_json(cli, root, "--reuse", *args, report=f"{name}.json")
    return Run(result.code, result.stdout, result.stderr, report)


QUERY = "psql -v ON_ERROR_STOP=1 -qAt -c 'SELECT 1'"


def project_containers(docker_ps: DockerPs, project: str) -> list[str]:
    return docker_ps(f"io.hodei.e2e.project={project}")


# -- reuse, and `cleanup --all` --------------------------------------------------------------------


def test_second_run_reuses_the_container_and_cleanup_all_removes_it(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    config = cli.write_config(tmp_path, {"a": QUERY, "b": QUERY})
    scrub.projects.add(config.project)

    first = run_reused(cli, tmp_path, "first")
    assert first.code == 0, first.explain()
    container = first.container
    assert re.fullmatch(r"[0-9a-f]{64}", container), first.report["postgres"]
    assert "created" in first.stderr, first.explain()
    between = project_containers(docker_ps, config.project)
    assert [line.split()[0] for line in between] == [container[:12]], (
        f"between runs only the reused server may remain: {between}"
    )
    assert " Up " in f" {between[0]} "
    assert label(container, "io.hodei.e2e.reuse") == "true"
    assert suite_databases(container) == [], "the first run's suite databases were not dropped"

    second = run_reused(cli, tmp_path, "second")
    assert second.code == 0, second.explain()
    assert second.container == container, "the second run did not reuse the server"
    assert second.report["postgres"]["reused"] is True
    assert "reused" in second.stderr, second.explain()
    assert [line.split()[0] for line in project_containers(docker_ps, config.project)] == [
        container[:12]
    ]
    assert suite_databases(container) == []

    name = docker("inspect", "-f", "{{.Name}}", container).stdout.strip().lstrip("/")
    plain = cli.run("cleanup", cwd=tmp_path)  # without --all, a wanted singleton stays
    assert plain.code == 0, plain.explain()
    assert state(container) == "running", (
        f"plain `cleanup` removed the reusable server\n{plain.explain()}"
    )

    result = cli.run("cleanup", "--all", cwd=tmp_path)
    assert result.code == 0, result.explain()
    assert name in result.stderr, result.explain()
    assert "--all" in result.stderr  # the reason
    assert state(container) is None
    assert project_containers(docker_ps, config.project) == []


# -- a dead server, a changed config ---------------------------------------------------------------


def test_killed_reused_container_is_replaced(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    config = cli.write_config(tmp_path, {"a": QUERY})
    scrub.projects.add(config.project)
    first = run_reused(cli, tmp_path, "first")
    assert first.code == 0, first.explain()
    docker("kill", first.container)
    assert state(first.container) == "exited"

    second = run_reused(cli, tmp_path, "second")
    assert second.code == 0, second.explain()
    assert second.container != first.container, "a dead server was reused"
    assert state(first.container) is None, "the dead server was left behind"
    assert [line.split()[0] for line in project_containers(docker_ps, config.project)] == [
        second.container[:12]
    ]
    assert "exited" in second.stderr, second.explain()  # says why it was replaced


def test_config_change_gives_a_new_container(
    cli: Cli, engine: Engine, tmp_path: Path, scrub: Scrub
) -> None:
    show = script(
        tmp_path,
        "show.sh",
        'psql -v ON_ERROR_STOP=1 -qAt -c "SHOW work_mem" > "work_mem-$RUN_NO"\n',
    )
    config = cli.write_config(tmp_path, {"show": show}, postgres={"settings": {"work_mem": "4MB"}})
    scrub.projects.add(config.project)
    first, report = run_json(cli, tmp_path, "--reuse", report="first.json", env={"RUN_NO": "1"})
    assert first.code == 0, first.explain()
    first_id = report["postgres"]["container"]

    cli.write_config(
        tmp_path, {"show": show}, postgres={"settings": {"work_mem": "8MB"}}, project=config.project
    )
    second, report = run_json(cli, tmp_path, "--reuse", report="second.json", env={"RUN_NO": "2"})
    assert second.code == 0, second.explain()
    second_id = report["postgres"]["container"]

    assert second_id != first_id, "a server of another configuration was reused"
    assert (tmp_path / "work_mem-1").read_text().strip() == "4MB"
    assert (tmp_path / "work_mem-2").read_text().strip() == "8MB", "the suite saw the old server"
    hashes = {label(c, "io.hodei.e2e.config-hash") for c in (first_id, second_id)}
    assert len(hashes) == 2, hashes
    assert "" not in hashes, hashes


# -- eight concurrent runs: one server -------------------------------------------------------------


@pytest.mark.timeout(150)
def test_eight_concurrent_reuse_runs_create_exactly_one_server(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    project = f"t{secrets.token_hex(4)}"
    scrub.projects.add(project)
    roots = [tmp_path / f"run{n}" for n in range(8)]
    for root in roots:
        cli.write_config(root, {"q": QUERY}, project=project)
    processes = [cli.start("run", "--reuse", "--json", "report.json", cwd=root) for root in roots]
    results = [process.wait(140) for process in processes]
    failed = {
        str(root.name): r.explain() for root, r in zip(roots, results, strict=True) if r.code != 0
    }
    assert failed == {}, "\n\n".join(f"== {k} ==\n{v}" for k, v in failed.items())

    containers = {
        json.loads((root / "report.json").read_text())["postgres"]["container"] for root in roots
    }
    assert len(containers) == 1, f"the 8 reports name {len(containers)} servers: {containers}"
    (container,) = containers
    digest = label(container, "io.hodei.e2e.config-hash")
    assert digest
    same_config = docker_ps(f"io.hodei.e2e.config-hash={digest}")
    assert len(same_config) == 1, same_config
    ids = [line.split()[0] for line in project_containers(docker_ps, project)]
    assert ids == [line.split()[0] for line in same_config]  # ids: the status text ticks on


# -- a crashed creator must not take a server another live run uses --------------------------------


GATED = """\
touch "$HODEI_E2E_SUITE.started"
i=0
while [ ! -e go ]; do
    i=$((i + 1)); [ "$i" -lt 1200 ] || { echo "never got the go" >&2; exit 1; }
    sleep 0.05
done
psql -v ON_ERROR_STOP=1 -qAt -c 'SELECT 1'
"""


def test_crash_of_the_creating_run_keeps_the_server_another_run_uses(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    """`singleton.py`: "nothing removes a leased server". Run A creates the reused server, run B
    reuses it; A is killed with SIGKILL, so its watchdog cleans up after it. B must still pass."""
    project = f"t{secrets.token_hex(4)}"
    scrub.projects.add(project)
    a_root, b_root = tmp_path / "a", tmp_path / "b"
    for root in (a_root, b_root):
        root.mkdir()
        cli.write_config(root, {root.name: script(root, "gated.sh", GATED)}, project=project)
    a = cli.start("run", "--reuse", cwd=a_root)
    a.wait_for((a_root / "a.started").exists, "run A's suite to start")
    b = cli.start("run", "--reuse", "--json", "report.json", cwd=b_root)
    b.wait_for((b_root / "b.started").exists, "run B's suite to start")
    servers = project_containers(docker_ps, project)
    assert len(servers) == 1, f"B should reuse A's server: {servers}"

    watchdog = find_watchdog(a.pid)
    assert watchdog is not None
    os.kill(a.pid, signal.SIGKILL)
    assert wait_until(lambda: not process_alive(watchdog), timeout=10), (
        "run A's watchdog did not finish cleaning up within 10 s"
    )
    (b_root / "go").touch()
    result = b.wait(60)
    left = project_containers(docker_ps, project)
    assert result.code == 0, (
        f"run B lost its reused server when run A's watchdog cleaned up; containers now: {left}\n"
        + result.explain()
    )
    assert [line.split()[0] for line in left] == [servers[0].split()[0]]
