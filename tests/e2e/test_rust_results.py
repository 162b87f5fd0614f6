"""A real cargo crate (tests/fixtures/libtest-crate) under `hodei-e2e run`: its tests one by one
in every report, its failures at file:line relative to the repository root; and a prepare step
that does not compile, which fails the run before any suite starts."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import Cli, run_json

from hodei_e2e.engine.docker import Engine

pytestmark = [
    pytest.mark.docker,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo"),
]

CRATE = Path(__file__).parents[1] / "fixtures" / "libtest-crate"
TARGET = Path.home() / ".cache" / "hodei-e2e" / "libtest-fixture-e2e"  # outside any clone
ENV = {"CARGO_TARGET_DIR": str(TARGET), "RUST_BACKTRACE": "0"}
SUITES = {
    "math": "cargo test --offline --test e2e_math",
    "panics": "cargo test --offline --test e2e_panics -- --nocapture",
    "all": "cargo test --offline --no-fail-fast",
}


def repository(tmp_path: Path) -> Path:
    """A git repository with the crate in `rust/`; returns the crate's directory."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    crate = tmp_path / "rust"
    shutil.copytree(CRATE, crate, ignore=shutil.ignore_patterns("target", ".hodei-e2e", "*.yaml"))
    return crate


def test_each_rust_test_is_reported_with_its_failure_at_file_and_line(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    crate = repository(tmp_path)
    summary = tmp_path / "summary.md"
    cli.write_config(crate, SUITES, env=ENV, prepare="cargo test --offline --no-run")
    result, report = run_json(
        cli,
        crate,
        "--junit",
        "junit.xml",
        env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)},
        timeout=280,
    )
    assert result.code == 1, result.explain()
    assert "✓ prepare passed" in result.stderr, result.explain()
    assert (
        "✗ math: e2e_math::answer_is_off_by_one (rust/tests/e2e_math.rs:11): "
        "assertion `left == right` failed: the answer is off by one"
    ) in result.stderr, result.explain()
    assert (
        "✗ panics: e2e_panics::panics_with_two_lines (rust/tests/e2e_panics.rs:9): "
        "first line of the message"
    ) in result.stderr

    root = ET.parse(crate / "junit.xml").getroot()
    counts = {
        suite.get("name"): tuple(suite.get(k) for k in ("tests", "failures", "errors", "skipped"))
        for suite in root.iter("testsuite")
    }
    assert counts == {
        "math": ("4", "1", "0", "2"),
        "panics": ("2", "1", "0", "0"),
        "all": ("9", "2", "0", "2"),
    }
    case = root.find("testsuite[@name='math']/testcase[@name='answer_is_off_by_one']")
    assert case is not None
    assert case.attrib == {
        "name": "answer_is_off_by_one",
        "classname": "math.e2e_math",
        "time": "0.000",
        "file": "rust/tests/e2e_math.rs",
        "line": "11",
    }
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("assertion `left == right` failed")
    assert (failure.text or "").startswith("checking the answer")  # the test's own output
    skipped = root.find("testsuite[@name='math']/testcase[@name='ignored_with_reason']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "needs a GPU"
    doc = root.find("testsuite[@name='all']/testcase[@name='src/lib.rs - answer (line 5)']")
    assert doc is not None
    assert doc.get("classname") == "all.libtest_fixture.doctests"

    math = next(suite for suite in report["suites"] if suite["name"] == "math")
    assert sorted((t["name"], t["status"]) for t in math["tests"]) == [  # in the order they end
        ("adds_up", "passed"),
        ("answer_is_off_by_one", "failed"),
        ("ignored_plain", "skipped"),
        ("ignored_with_reason", "skipped"),
    ]
    assert math["counts"] == {"passed": 1, "failed": 1, "skipped": 2}

    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    annotation = next(line for line in errors if "e2e_math.rs" in line)
    assert annotation.startswith(
        "::error file=rust/tests/e2e_math.rs,line=11,"
        "title=math%3A e2e_math%3A%3Aanswer_is_off_by_one::assertion `left == right` failed"
    ), annotation
    assert "✗ e2e_math::answer_is_off_by_one (rust/tests/e2e_math.rs:11)" in summary.read_text()
    failed = [t for t in math["tests"] if t["status"] == "failed"]
    print(json.dumps(failed, indent=2))  # shown with -s


def test_a_prepare_step_that_does_not_compile_fails_before_any_suite(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    crate = repository(tmp_path)
    (crate / "tests" / "e2e_broken.rs").write_text("#[test]\nfn broken() {\n    let x = 1\n}\n")
    cli.write_config(crate, SUITES, env=ENV, prepare="cargo test --offline --no-run")
    result, report = run_json(
        cli, crate, "--junit", "junit.xml", env={"GITHUB_ACTIONS": "true"}, timeout=280
    )
    assert result.code == 1, result.explain()
    assert "✗ prepare failed" in result.stderr, result.explain()
    assert "error: expected `;`, found `}`" in result.stderr  # the compiler's error, in the summary
    assert "error: expected `;`, found `}` (rust/tests/e2e_broken.rs:3)" in result.stderr
    assert "▶ math started" not in result.stderr
    assert [(s["name"], s["status"]) for s in report["suites"]] == [
        ("prepare", "failed"),
        ("math", "skipped"),
        ("panics", "skipped"),
        ("all", "skipped"),
    ]
    assert sorted(p.name for p in Path(report["logs"]).glob("*.log")) == ["prepare.log"]
    case = ET.parse(crate / "junit.xml").getroot().find("testsuite/testcase[@name='prepare']")
    assert case is not None
    assert (case.get("file"), case.get("line")) == ("rust/tests/e2e_broken.rs", "3")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "exit code 101: error: expected `;`, found `}`"
    assert (
        "::error file=rust/tests/e2e_broken.rs,line=3,title=prepare failed::"
        "exit code 101: error: expected `;`, found `}`"
    ) in result.stdout


def test_a_timeout_names_the_test_still_running(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    crate = repository(tmp_path)
    hang = "cargo test --offline --test e2e_slow -- --test-threads=1"
    cli.write_config(
        crate,
        {"slow": {"command": hang, "timeout": "5s"}},
        env={**ENV, "FIXTURE_HANG": "1"},
        prepare="cargo test --offline --no-run",
    )
    result, report = run_json(cli, crate, "--junit", "junit.xml", timeout=280)
    assert result.code == 1, result.explain()
    (slow,) = report["suites"]
    assert slow["status"] == "timeout"
    assert slow["reason"] == "timed out after 5s; still running: e2e_slow::hangs_when_asked"
    case = ET.parse(crate / "junit.xml").getroot().find("testsuite/testcase/failure")
    assert case is not None
    assert "still running: e2e_slow::hangs_when_asked" in case.get("message", "")
