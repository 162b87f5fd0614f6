"""examples/hodei-mini, the Cargo workspace shaped like the platform, run end to end through the
CLI: real crates (tokio, tokio-postgres, bollard, testcontainers), the prepare step compiling the
test binaries and the worker, the worker image built from what it compiled, one suite per test
binary, per-test results in every report, and nothing left on the engine.

The cargo build goes to the example's CARGO_TARGET_DIR (outside the clone, shared between runs):
the first run on a machine compiles everything (minutes), later runs only check it."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from support import Cli, docker, run_json

from hodei_e2e.engine.docker import Engine

pytestmark = [
    pytest.mark.docker,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not on PATH"),
]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hodei-mini"
TESTS = EXAMPLE / "crates" / "server" / "tests"
BUILD = 900.0  # a cold build of the workspace on a loaded 2-core machine takes minutes
TESTS_PER_SUITE = {"docker-provider": 2, "job-flow": 4, "testcontainers": 2}


def failing_line() -> int:
    """Where the_answer_is_42 asserts, as the reports must say."""
    lines = (TESTS / "e2e_job_flow.rs").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if "assert_eq!(answer, expected" in line)


def run_example(cli: Cli, tmp_path: Path, config: Path, **env: str) -> tuple[Any, dict[str, Any]]:
    return run_json(
        cli, tmp_path, "-c", str(config), "--junit", "junit.xml", env=env, timeout=BUILD
    )


def junit_cases(path: Path) -> dict[str, list[ET.Element]]:
    suites = ET.parse(path).getroot().findall("testsuite")
    return {suite.get("name", ""): suite.findall("testcase") for suite in suites}


def left_by(run_id: str) -> list[str]:
    """Every container the run, its suites or their workers labelled with its id."""
    return docker("ps", "-aq", "--filter", f"label=io.hodei.e2e.run-id={run_id}").stdout.split()


def test_the_workspace_passes_with_a_test_case_per_test_and_leaves_nothing(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    result, report = run_example(cli, tmp_path, EXAMPLE / "e2e.yaml")
    assert result.code == 0, result.explain()
    assert report["prepare"]["status"] == "passed", result.explain()
    cases = junit_cases(tmp_path / "junit.xml")
    assert {name: len(found) for name, found in cases.items()} == TESTS_PER_SUITE
    for suite, found in cases.items():
        binary = "e2e_" + suite.replace("-", "_")
        assert {case.get("classname") for case in found} == {f"{suite}.{binary}"}
        assert not [case for case in found if len(case)], f"{suite}: a case is not a pass"
    # Both probes insert the same unique job name: they pass only in databases of their own.
    flow = {test["name"]: test["status"] for test in report["suites"][1]["tests"]}
    assert flow["each_test_has_its_own_database_a"] == "passed", flow
    assert flow["each_test_has_its_own_database_b"] == "passed", flow
    # The worker that a test never destroyed and the testcontainers `static` were removed by
    # the run: nothing carries its id any more (workers' logs are kept in the run's logs).
    assert "1 worker container(s), 1 Testcontainers container(s)" in result.stderr, result.explain()
    assert left_by(report["run_id"]) == []
    saved = "".join(path.read_text() for path in Path(report["logs"], "workers").glob("*.log"))
    assert "about to fail" in saved, saved


def test_a_failing_test_is_a_failed_case_at_its_file_and_line(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    result, report = run_example(cli, tmp_path, EXAMPLE / "e2e.yaml", HODEI_MINI_FAIL="1")
    assert result.code == 1, result.explain()
    line = failing_line()
    where = f"examples/hodei-mini/crates/server/tests/e2e_job_flow.rs:{line}"
    assert f"e2e_job_flow::the_answer_is_42 ({where}): assertion" in result.stderr, result.explain()
    cases = junit_cases(tmp_path / "junit.xml")
    assert {name: len(found) for name, found in cases.items()} == TESTS_PER_SUITE
    failed = [case for case in cases["job-flow"] if case.find("failure") is not None]
    assert [case.get("name") for case in failed] == ["the_answer_is_42"]
    case = failed[0]
    assert (case.get("file"), case.get("line")) == (where.split(":", maxsplit=1)[0], str(line))
    failure = case.find("failure")
    assert failure is not None
    assert "the answer is off by one" in failure.get("message", ""), failure.attrib
    assert "left: 42" in (failure.text or "")
    statuses = [suite["status"] for suite in report["suites"]]
    assert statuses == ["passed", "failed", "passed"], statuses
    assert left_by(report["run_id"]) == []


def test_a_test_file_that_does_not_compile_stops_the_run_before_any_suite(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    copy = tmp_path / "hodei-mini"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", ".hodei-e2e", "target"))
    broken = copy / "crates" / "server" / "tests" / "e2e_job_flow.rs"
    broken.write_text(broken.read_text().replace("let answer = 6 * 7;", "let answer = 6 * ;"))
    result, report = run_example(cli, tmp_path, copy / "e2e.yaml")
    assert result.code == 1, result.explain()
    assert report["prepare"]["status"] == "failed", report["prepare"]
    assert "expected expression" in result.stderr, result.explain()
    assert "e2e_job_flow.rs" in result.stderr, result.explain()
    statuses = {suite["name"]: suite["status"] for suite in report["suites"]}
    assert statuses == {"prepare": "failed"} | dict.fromkeys(TESTS_PER_SUITE, "skipped")
    assert "▶ docker-provider started" not in result.stderr, result.explain()
    assert left_by(report["run_id"]) == []
