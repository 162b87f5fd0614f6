"""`hodei-e2e doctor` as a user runs it: one line per prerequisite with ✓/⚠/✗ and a remedy,
exit 3 when one fails, `--json` on stdout. The host-reachability check makes a real round trip
from a container to a listener it opens on this host; its probe container is removed (the
`leak_guard` checks that)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from shared import Missing
from support import Cli, CliResult

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

REACH = "host reachable from containers"
NEVER_RESOLVES = "no-such-host.invalid"  # RFC 6761: never resolves, so nothing leaves this host


def checks_of(result: CliResult) -> dict[str, dict[str, str]]:
    try:
        records = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"doctor --json did not print JSON\n{result.explain()}")
    assert isinstance(records, list)
    for record in records:
        assert set(record) == {"name", "status", "detail", "remedy"}, record
        assert record["status"] in ("ok", "warn", "fail")
    return {record["name"]: record for record in records}


def doctor(cli: Cli, root: Path, *args: str, env: Mapping[str, str] | None = None) -> CliResult:
    return cli.run("doctor", *args, cwd=root, env=env, unset=("HODEI_SERVER_HOST",), timeout=90)


def test_everything_passes_here(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"a": "true"}, requires=["sh"])
    result = doctor(cli, tmp_path, "--json")
    assert result.code == 0, result.explain()
    checks = checks_of(result)
    for name in ("engine reachable", "engine version", "free disk", "tool sh", "image postgres",
                 REACH, "config"):  # fmt: skip
        assert name in checks, f"no '{name}' check: {sorted(checks)}"
        assert checks[name]["status"] in ("ok", "warn"), checks[name]
    assert checks[REACH]["status"] == "ok", checks[REACH]
    assert "(the gateway of the engine's default bridge network)" in checks[REACH]["detail"]
    assert checks["config"]["status"] == "ok"


def test_lines_with_symbols_and_a_summary_on_stderr(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    cli.write_config(tmp_path, {"a": "true"})
    result = doctor(cli, tmp_path)
    assert result.code == 0, result.explain()
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(line.startswith("✓ engine reachable: ") for line in lines), result.stderr
    assert any(line.startswith(f"✓ {REACH}: a container reached ") for line in lines)
    assert lines[-1].startswith("doctor: ")
    assert "0 failed" in lines[-1]


def test_stopped_engine_exits_3_with_the_remedy(cli: Cli, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"a": "true"})
    dead = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    result = doctor(cli, tmp_path, env=dead)
    assert result.code == 3, result.explain()
    assert "Traceback" not in result.output
    assert "✗ engine reachable: unix:///nonexistent.sock (DOCKER_HOST)" in result.stderr
    assert "→ No socket at /nonexistent.sock" in result.stderr
    assert "DOCKER_HOST points there: fix it, or unset it" in result.stderr

    as_json = doctor(cli, tmp_path, "--json", env=dead)
    assert as_json.code == 3, as_json.explain()
    checks = checks_of(as_json)
    assert checks["engine reachable"]["status"] == "fail"
    assert "DOCKER_HOST" in checks["engine reachable"]["remedy"]
    assert checks[REACH]["status"] == "warn"  # not checked without an engine, not a pass
    assert checks["config"]["status"] == "ok"  # what does not need the engine still runs


def test_wrong_server_host_fails_the_round_trip(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"a": "true"})
    result = doctor(cli, tmp_path, "--json", env={"HODEI_SERVER_HOST": NEVER_RESOLVES})
    assert result.code == 3, result.explain()
    check = checks_of(result)[REACH]
    assert check["status"] == "fail", check
    assert check["detail"].startswith(f"{NEVER_RESOLVES} (HODEI_SERVER_HOST): ")
    assert f"HODEI_SERVER_HOST={NEVER_RESOLVES}" in check["remedy"]
    assert "unset it" in check["remedy"]


def test_server_host_override_that_works_passes(
    missing: Missing, cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    gateway = engine.bridge_gateway()
    if gateway is None:
        missing("the engine has no bridge gateway")
    cli.write_config(tmp_path, {"a": "true"})
    result = doctor(cli, tmp_path, "--json", env={"HODEI_SERVER_HOST": gateway})
    check = checks_of(result)[REACH]
    assert check["status"] == "ok", check
    assert f"reached {gateway}:" in check["detail"]
    assert "(HODEI_SERVER_HOST)" in check["detail"]


def test_missing_tool_and_missing_image_fail_with_remedies(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    config = cli.write_config(
        tmp_path,
        {"a": "true"},
        requires=["sh", "hodei-no-such-tool"],
        postgres={"image": "hodei-e2e.local/no-such-postgres:never"},
    )
    result = doctor(cli, tmp_path, "--json")
    assert result.code == 3, result.explain()
    checks = checks_of(result)
    assert checks["tool sh"]["status"] == "ok"
    tool = checks["tool hodei-no-such-tool"]
    assert (tool["status"], tool["detail"]) == ("fail", "not on PATH")
    assert f"remove it from `requires:` in {config.path}" in tool["remedy"]
    image = checks["image postgres"]
    assert image["status"] == "fail"
    assert "not present, and not pullable" in image["detail"]
    assert "postgres.image" in image["remedy"]


def test_invalid_config_fails_with_file_and_line(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "e2e.yaml").write_text("version: 1\nsuites:\n  a: {command: 'true', tmeout: 5s}\n")
    result = doctor(cli, tmp_path)
    assert result.code == 3, result.explain()
    assert (
        "✗ config: e2e.yaml:3: suites.a.tmeout: unknown key 'tmeout'; did you mean 'timeout'?"
        in (result.stderr)
    )
    assert "⚠ tools: not checked" in result.stderr
    assert f"✓ {REACH}" in result.stderr  # the engine checks still run


def test_config_option_and_missing_file(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    result = doctor(cli, tmp_path, "-c", "elsewhere.yaml")
    assert result.code == 3, result.explain()
    assert "✗ config: elsewhere.yaml: no such file" in result.stderr
    assert "→ Point at the configuration with -c PATH" in result.stderr
