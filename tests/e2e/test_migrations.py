"""Migrations once, as a user sees them: applied once into a template that a reused server keeps
across runs, every suite a copy of it; a broken migration is exit 4 naming its file and leaves
no finished template; `--isolation container` keeps the environment contract with a server per
suite.

The first migration records its own execution (a row stamped with `clock_timestamp()` and the
transaction id), so a suite can tell a template built once from one rebuilt since.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from support import Cli, DockerPs, Scrub, psql_on, run_json, script, suite_databases

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

TEMPLATE = re.compile(r"e2e_tpl_[0-9a-f]{16}")

FIRST = """\
CREATE TABLE migration_runs (at timestamptz NOT NULL, xid xid8 NOT NULL);
INSERT INTO migration_runs VALUES (clock_timestamp(), pg_current_xact_id());
"""
SECOND = """\
CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO widgets VALUES (1, 'from-migration');
"""
BROKEN = """\
INSERT INTO no_such_table VALUES (1);
"""

SEES = """\
psql -v ON_ERROR_STOP=1 -qAt \\
    -c "SELECT count(*) || '|' || min(at) || '|' || min(xid::text) FROM migration_runs" \\
    > "seen-$RUN_NO-$HODEI_E2E_SUITE"
psql -v ON_ERROR_STOP=1 -qAt -c "SELECT name FROM widgets WHERE id = 1" \\
    > "widget-$RUN_NO-$HODEI_E2E_SUITE"
echo "$HODEI_E2E_TEMPLATE_DATABASE" > "template-$RUN_NO-$HODEI_E2E_SUITE"
"""


def migrations(root: Path, files: dict[str, str]) -> dict[str, str]:
    directory = root / "migrations"
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.sql"):
        old.unlink()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return {"dir": "migrations"}


# -- once across runs ------------------------------------------------------------------------------


def test_migrations_run_once_across_two_reused_runs(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    sees = script(tmp_path, "sees.sh", SEES)
    config = cli.write_config(
        tmp_path,
        {"left": sees, "right": sees},
        postgres={
            "migrations": migrations(tmp_path, {"001_runs.sql": FIRST, "002_widgets.sql": SECOND})
        },
    )
    scrub.projects.add(config.project)

    first, first_report = run_json(
        cli, tmp_path, "--reuse", report="first.json", env={"RUN_NO": "1"}
    )
    assert first.code == 0, first.explain()
    second, second_report = run_json(
        cli, tmp_path, "--reuse", report="second.json", env={"RUN_NO": "2"}
    )
    assert second.code == 0, second.explain()

    assert second_report["postgres"]["container"] == first_report["postgres"]["container"]
    template = first_report["postgres"]["template"]
    assert template, first_report["postgres"]
    assert TEMPLATE.fullmatch(template), first_report["postgres"]
    assert second_report["postgres"]["template"] == template
    assert "applied" in first.stderr, first.explain()
    assert "up to date" in second.stderr, second.explain()

    seen = {p.name: p.read_text().strip() for p in tmp_path.glob("seen-*")}
    assert len(seen) == 4, seen
    values = set(seen.values())
    assert len(values) == 1, f"the suites saw different migration executions: {seen}"
    assert next(iter(values)).startswith("1|"), seen  # one execution, the same in both runs
    widgets = {p.name: p.read_text().strip() for p in tmp_path.glob("widget-*")}
    assert len(widgets) == 4, widgets
    assert set(widgets.values()) == {"from-migration"}, widgets
    templates = {p.read_text().strip() for p in tmp_path.glob("template-*")}
    assert templates == {template}

    server = first_report["postgres"]["container"]
    finished = psql_on(
        server,
        "SELECT datname FROM pg_database WHERE datistemplate AND datname LIKE 'e2e\\_tpl\\_%'",
    )
    assert finished == [template]
    # Between runs: the server, its template, and no suite database.
    assert suite_databases(server) == []
    assert len(docker_ps(f"io.hodei.e2e.project={config.project}")) == 1


# -- a broken migration ----------------------------------------------------------------------------


def test_broken_migration_exits_4_naming_the_file_and_leaves_no_template(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    sees = script(tmp_path, "sees.sh", SEES)
    config = cli.write_config(
        tmp_path,
        {"never": sees},
        postgres={
            "migrations": migrations(tmp_path, {"001_runs.sql": FIRST, "002_broken.sql": BROKEN})
        },
    )
    scrub.projects.add(config.project)
    broken, report = run_json(cli, tmp_path, "--reuse", report="broken.json", env={"RUN_NO": "1"})
    assert broken.code == 4, broken.explain()
    assert "002_broken.sql" in broken.stderr, broken.explain()
    assert "no_such_table" in broken.stderr
    assert "Traceback" not in broken.output
    assert report["exit_code"] == 4
    assert not list(tmp_path.glob("seen-*")), "a suite ran on an unmigrated database"

    servers = docker_ps(f"io.hodei.e2e.project={config.project}")
    assert len(servers) == 1, f"the reused server should survive the failure: {servers}"
    server = servers[0].split()[0]
    finished = psql_on(
        server, "SELECT count(*) FROM pg_database WHERE datistemplate AND datname LIKE 'e2e_tpl_%'"
    )
    assert finished == ["0"], "a template was marked finished after a failed migration"
    assert psql_on(server, "SELECT datname FROM pg_database WHERE datname LIKE 'e2e\\_%'") == [], (
        "a half-migrated template or a suite database is left"
    )

    # Fixed, the next run migrates and passes on the same server.
    migrations(tmp_path, {"001_runs.sql": FIRST, "002_widgets.sql": SECOND})
    fixed, fixed_report = run_json(
        cli, tmp_path, "--reuse", report="fixed.json", env={"RUN_NO": "2"}
    )
    assert fixed.code == 0, fixed.explain()
    assert fixed_report["postgres"]["container"].startswith(server)
    assert (tmp_path / "seen-2-never").read_text().startswith("1|")

    cleaned = cli.run("cleanup", "--all", cwd=tmp_path)
    assert cleaned.code == 0, cleaned.explain()
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []


# -- --isolation container: the environment contract, a server per suite ---------------------------


DUMP = """\
python3 -c 'import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], "w"))' \\
    "env-$HODEI_E2E_SUITE.json"
psql -v ON_ERROR_STOP=1 -qAt -c "SELECT count(*) FROM migration_runs" > "count-$HODEI_E2E_SUITE"
psql "$HODEI_E2E_ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -qAt -c "SELECT current_database()" \\
    > "admin-$HODEI_E2E_SUITE"
"""


def test_isolation_container_keeps_the_env_contract(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    dump = script(tmp_path, "dump.sh", DUMP)
    config = cli.write_config(
        tmp_path,
        {"north": dump, "south": dump},
        postgres={
            "migrations": migrations(tmp_path, {"001_runs.sql": FIRST}),
            "password": "pw-c0ntainer",
        },
        defaults={"jobs": 2},
    )
    scrub.projects.add(config.project)
    result, report = run_json(cli, tmp_path, "--isolation", "container")
    assert result.code == 0, result.explain()

    envs = {}
    for suite in ("north", "south"):
        path = tmp_path / f"env-{suite}.json"
        assert path.is_file(), result.explain()
        env = json.loads(path.read_text())
        envs[suite] = env
        record = next(r for r in report["suites"] if r["name"] == suite)
        database = record["database"]
        url = urlsplit(env["DATABASE_URL"])
        assert env["HODEI_E2E_DATABASE_URL"] == env["DATABASE_URL"]
        assert url.scheme in ("postgres", "postgresql")
        assert url.hostname == env["PGHOST"]
        assert url.port == int(env["PGPORT"])
        assert unquote(url.username or "") == env["PGUSER"] == "postgres"
        assert unquote(url.password or "") == env["PGPASSWORD"] == "pw-c0ntainer"
        assert url.path == f"/{database}"
        assert env["PGDATABASE"] == env["HODEI_E2E_DATABASE_NAME"] == database
        assert re.fullmatch(r"[a-z0-9_]{1,63}", database)
        admin = urlsplit(env["HODEI_E2E_ADMIN_DATABASE_URL"])
        assert (admin.scheme, admin.netloc, admin.path) == (url.scheme, url.netloc, "/postgres")
        assert (tmp_path / f"admin-{suite}").read_text().strip() == "postgres"
        assert TEMPLATE.fullmatch(env.get("HODEI_E2E_TEMPLATE_DATABASE", "")), env.get(
            "HODEI_E2E_TEMPLATE_DATABASE"
        )
        assert (tmp_path / f"count-{suite}").read_text().strip() == "1"  # a copy of the template
        assert env["HODEI_E2E_SUITE"] == suite
        assert env["HODEI_E2E_RUN_ID"] == report["run_id"]
        assert env["HODEI_E2E_DOCKER"] == "1"
        assert env["HODEI_WORKER_IMAGE"]
        assert env["HODEI_SERVER_HOST"]

    assert envs["north"]["PGPORT"] != envs["south"]["PGPORT"], "both suites got the same server"
    assert (
        envs["north"]["HODEI_E2E_TEMPLATE_DATABASE"] == envs["south"]["HODEI_E2E_TEMPLATE_DATABASE"]
    )
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []
    assert "pw-c0ntainer" not in result.stdout + result.stderr
