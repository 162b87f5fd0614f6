"""Servers of every encoding: SQL_ASCII (initdb without a UTF-8 locale, as Debian-built images
and `--locale=C` give), LATIN1 and UTF8 all serve migrations, reuse and cleanup alike."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from support import Cli, DockerPs, Scrub, find_watchdog, psql_on, suite_databases

ENCODINGS = {
    "SQL_ASCII": "--encoding=SQL_ASCII --locale=C",
    "LATIN1": "--encoding=LATIN1 --locale=C",
    "UTF8": "--encoding=UTF8 --locale=C.UTF-8",
}


def _reused_server(docker_ps: DockerPs, project: str) -> str:
    (server,) = docker_ps(f"io.hodei.e2e.project={project}", "io.hodei.e2e.role=postgres")
    return str(server).split()[-1]  # its name


def _watchdog_of(pid: int) -> int:
    """The watchdog the CLI `pid` started."""
    watchdog = find_watchdog(pid)
    assert watchdog is not None, f"no watchdog of {pid}"
    return watchdog


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_reused_server_of_any_encoding_migrates_once_and_cleanup_judges_its_databases(
    encoding: str, cli: Cli, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001_jobs.sql").write_text(
        "CREATE TABLE jobs (id serial PRIMARY KEY, note text);\n"
        "COMMENT ON TABLE jobs IS 'jobs of the mini platform';\n",
        encoding="utf-8",
    )
    postgres = {
        "reuse": True,
        "migrations": {"dir": "migrations"},
        "environment": {"POSTGRES_INITDB_ARGS": ENCODINGS[encoding]},
    }
    flag = tmp_path / "started"
    suites = {"s": {"command": 'test "$(psql -qAtc "SELECT count(*) FROM jobs")" = 0'}}
    config = cli.write_config(tmp_path, suites, postgres=postgres)
    scrub.projects.add(config.project)
    scrub.finalizers.append(lambda: cli.run("cleanup", "--all", "-c", "e2e.yaml", cwd=tmp_path))

    for attempt in ("migrates", "reuses the template"):
        result = cli.run("run", cwd=tmp_path)
        assert result.code == 0, f"{attempt}:\n{result.explain()}"
        assert "Traceback" not in result.stderr
    server = _reused_server(docker_ps, config.project)
    assert psql_on(server, "SHOW server_encoding") == [encoding]
    templates = psql_on(
        server,
        "SELECT datname FROM pg_database WHERE datistemplate AND datname LIKE 'e2e\\_tpl\\_%'",
    )
    assert len(templates) == 1, templates

    # A run killed with its watchdog leaves its database; a live run has one too.
    sleeping = {"s": {"command": f"touch {flag}; sleep 300"}}
    cli.write_config(tmp_path, sleeping, postgres=postgres, project=config.project)
    dead = cli.start("run", cwd=tmp_path)
    dead.wait_for(flag.exists, "the first sleeping suite")
    (dead_database,) = suite_databases(server)
    os.kill(_watchdog_of(dead.pid), signal.SIGKILL)
    os.kill(dead.pid, signal.SIGKILL)
    dead.proc.wait(timeout=10)
    swept = cli.run("cleanup", "--json", cwd=tmp_path)
    assert swept.code == 0, swept.explain()
    assert f'"name": "{dead_database}"' in swept.stdout
    assert dead_database not in suite_databases(server), "cleanup said it dropped it; it is there"

    flag.unlink()
    live = cli.start("run", cwd=tmp_path)
    live.wait_for(flag.exists, "the live suite")
    (live_database,) = suite_databases(server)
    again = cli.run("cleanup", "--json", cwd=tmp_path)
    assert again.code == 0, again.explain()
    assert live_database not in again.stdout, "cleanup took a live run's database for a dead one's"
    assert suite_databases(server) == [live_database]

    live.send(signal.SIGINT)
    assert live.wait(timeout=30).code == 130
    assert suite_databases(server) == []
