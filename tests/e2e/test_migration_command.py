"""`postgres.migrations: {command, files}`: the command runs once, in the config file's
directory, with `DATABASE_URL` and `PG*` naming the template it fills; every suite database is a
copy; a failing command is exit 4 with its last lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import Cli, script

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

MIGRATE = """\
[ -f migrations/schema.sql ] || { echo "not run in the config's directory: $(pwd)"; exit 1; }
case "$DATABASE_URL" in */"$PGDATABASE") ;; *) echo "DATABASE_URL=$DATABASE_URL"; exit 1 ;; esac
psql -v ON_ERROR_STOP=1 -q -f migrations/schema.sql
echo "$PGDATABASE" >> migrated-into
"""


def test_migration_command_fills_the_template_every_suite_copies(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "schema.sql").write_text(
        "CREATE TABLE gadgets (name text); INSERT INTO gadgets VALUES ('from-command');\n"
    )
    migrate = script(tmp_path, "migrate.sh", MIGRATE)
    reads = 'test "$(psql -qAt -c "SELECT name FROM gadgets")" = from-command'
    cli.write_config(
        tmp_path,
        {"a": reads, "b": reads},
        postgres={"migrations": {"command": migrate, "files": ["migrations/**"]}},
    )
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 0, result.explain()
    templates = (tmp_path / "migrated-into").read_text().split()
    assert len(templates) == 1, f"the command ran {len(templates)} times: {templates}"
    assert templates[0].startswith("e2e_tpl_"), templates


def test_failing_migration_command_exits_4_with_its_last_lines(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    failing = script(tmp_path, "migrate.sh", "echo 'relation \"gizmos\" is missing'; exit 3\n")
    cli.write_config(
        tmp_path,
        {"a": "true"},
        postgres={"migrations": {"command": failing, "files": ["migrate.sh"]}},
    )
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 4, result.explain()
    assert "migration command failed with exit code 3" in result.stderr, result.explain()
    assert 'relation "gizmos" is missing' in result.stderr, result.explain()
