"""`prepare:`: commands run once before any suite, in the background, with their own log, timeout
and process group; a failure ends the run before any suite starts (exit 1), reported as a failed
`prepare` case in every report."""

from __future__ import annotations

import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import Cli, DockerPs, Scrub, process_alive, run_json, script, wait_until

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

SUITE = 'test -f built && echo "$(cat built)" >> {name}.ran'


def test_prepare_runs_once_before_the_suites_without_the_database_contract(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    compile_ = script(
        tmp_path,
        "compile.sh",
        'echo "compiling with DATABASE_URL=${DATABASE_URL:-unset}"; echo artifact > built\n',
    )
    cli.write_config(
        tmp_path,
        {"a": SUITE.format(name="a"), "b": SUITE.format(name="b")},
        prepare=[compile_, "echo second command >> prepare.ran"],
    )
    result, report = run_json(cli, tmp_path)
    assert result.code == 0, result.explain()
    assert (tmp_path / "a.ran").read_text() == "artifact\n"
    assert (tmp_path / "b.ran").read_text() == "artifact\n"
    assert (tmp_path / "prepare.ran").read_text() == "second command\n"
    assert "▶ prepare started (2 command(s))" in result.stderr
    assert "✓ prepare passed in" in result.stderr, result.explain()
    record = report["prepare"]
    assert record["status"] == "passed"
    log = Path(record["log"]).read_text()
    assert Path(record["log"]).parent == Path(report["logs"])
    assert "compiling with DATABASE_URL=unset" in log, log
    assert f"$ {compile_}" in log, log
    assert [suite["name"] for suite in report["suites"]] == ["a", "b"]


def test_prepare_that_needs_postgres_gets_the_suites_environment(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    probe = script(tmp_path, "probe.sh", 'psql -qAtc "SELECT current_database()" > prepared-in\n')
    cli.write_config(tmp_path, {"a": "true"}, prepare={"command": probe, "needs": ["postgres"]})
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 0, result.explain()
    database = (tmp_path / "prepared-in").read_text().strip()
    assert database.startswith("e2e_"), database
    assert database.endswith("_prepare"), database


def test_a_failing_prepare_step_fails_the_run_before_any_suite_starts(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    failing = script(
        tmp_path,
        "compile.sh",
        "echo 'error: expected `;`, found `}`' >&2\n"
        "echo '  --> tests/e2e_x.rs:3:14' >&2\nexit 101\n",
    )
    cli.write_config(
        tmp_path,
        {"a": "touch a.ran", "b": "touch b.ran"},
        prepare={"commands": [failing, "touch second.ran"], "timeout": "30s"},
    )
    result, report = run_json(cli, tmp_path, "--junit", "junit.xml", env={"GITHUB_ACTIONS": "true"})
    assert result.code == 1, result.explain()
    assert not list(tmp_path.glob("*.ran")), "a suite or a later command ran"
    assert "✗ prepare failed in" in result.stderr, result.explain()
    assert "error: expected `;`, found `}`" in result.stderr  # the tail, in the summary
    assert [(s["name"], s["status"]) for s in report["suites"]] == [
        ("prepare", "failed"),
        ("a", "skipped"),
        ("b", "skipped"),
    ]
    assert report["suites"][1]["reason"] == "not started: the prepare step failed"
    assert report["prepare"]["status"] == "failed"
    case = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase[@name='prepare']")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None
    assert "error: expected `;`" in (failure.text or "")
    assert "::error file=tests/e2e_x.rs,line=3,title=prepare failed::" in result.stdout


def test_a_prepare_step_that_fails_while_postgres_starts_ends_the_run_at_once(
    cli: Cli, engine: Engine, docker_ps: DockerPs, tmp_path: Path
) -> None:
    # Postgres held back 3 s at its fault point: the compiler error comes first, and the run
    # must not wait for the server, let alone migrate it
    failing = script(tmp_path, "compile.sh", "echo 'error: expected expression' >&2\nexit 101\n")
    config = cli.write_config(tmp_path, {"a": "touch a.ran"}, prepare=failing)
    result, report = run_json(cli, tmp_path, env={"HODEI_E2E_FAULTS": "postgres=sleep:3"})
    assert result.code == 1, result.explain()
    assert "✗ prepare failed in" in result.stderr, result.explain()
    assert "error: expected expression" in result.stderr, result.explain()
    assert "✓ postgres" not in result.stderr, result.explain()
    assert "migrations" not in result.stderr, result.explain()
    assert report["postgres"]["container"] is None, report["postgres"]
    assert [(s["name"], s["status"]) for s in report["suites"]] == [
        ("prepare", "failed"),
        ("a", "skipped"),
    ]
    assert not (tmp_path / "a.ran").exists()
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []


def test_prepare_times_out_with_its_whole_process_group(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    hang = script(tmp_path, "hang.sh", "sleep 300 &\necho $! > child.pid\nwait\n")
    cli.write_config(tmp_path, {"a": "touch a.ran"}, prepare={"command": hang, "timeout": "1s"})
    started = time.monotonic()
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 1, result.explain()
    assert time.monotonic() - started < 30
    assert "prepare timeout" in result.stderr, result.explain()
    assert "timed out after 1s" in result.stderr
    child = int((tmp_path / "child.pid").read_text())
    assert wait_until(lambda: not process_alive(child), timeout=5), "the step's child lives on"
    assert not (tmp_path / "a.ran").exists()


def test_ctrl_c_during_prepare_stops_it_and_exits_130(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    # the pid written whole, then renamed: `> child.pid` creates the file before echo fills it
    hang = script(
        tmp_path, "hang.sh", "sleep 300 &\necho $! > child.new && mv child.new child.pid\nwait\n"
    )
    cli.write_config(tmp_path, {"a": "touch a.ran"}, prepare=hang)
    process = cli.start("run", cwd=tmp_path)
    assert wait_until((tmp_path / "child.pid").exists, timeout=30), process.output().explain()
    child = int((tmp_path / "child.pid").read_text())
    process.send(signal.SIGINT)
    process.proc.wait(timeout=30)
    assert process.proc.returncode == 130, process.output().explain()
    assert not process_alive(child), "the step's child outlived Ctrl-C"
    assert not (tmp_path / "a.ran").exists()


def test_no_prepare_skips_the_step(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"a": "true"}, prepare="touch prepare.ran")
    result = cli.run("run", "--no-prepare", cwd=tmp_path)
    assert result.code == 0, result.explain()
    assert "prepare skipped (--no-prepare)" in result.stderr
    assert not (tmp_path / "prepare.ran").exists()


def test_image_after_prepare_builds_what_the_step_produced(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, scrub: Scrub
) -> None:
    tag = f"hodei-e2e-tests/prepared-{tmp_path.name.lower()[-20:]}:1"
    scrub.images.add(tag)
    (tmp_path / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY worker /worker\n")
    build = script(tmp_path, "build.sh", "sleep 1; echo 'the built worker' > worker\n")
    config = cli.write_config(
        tmp_path,
        {"a": 'docker run --rm "$HODEI_WORKER_IMAGE" cat /worker'},
        prepare=build,
        image={"tag": tag, "build_args": {"BASE": base_image}, "after": "prepare"},
    )
    scrub.projects.add(config.project)
    result = cli.run("run", "-v", cwd=tmp_path)
    assert result.code == 0, result.explain()
    assert "the built worker" in result.stderr, result.explain()
    assert result.stderr.index("✓ prepare passed") < result.stderr.index(f"worker image {tag}")
