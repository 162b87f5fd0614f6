"""The JUnit report: valid against the Ant JUnit schema, with suites' own reports merged in."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from hodei_e2e.config import SuiteConfig
from hodei_e2e.report import junit
from hodei_e2e.report.results import Status, SuiteResult

SCHEMA = xmlschema.XMLSchema(Path(__file__).parents[1] / "schemas" / "junit.xsd")
NOW = time.time()

PYTEST_REPORT = """\
<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" \
errors="1" failures="1" skipped="1" tests="4" time="0.124" \
timestamp="2026-05-01T17:17:34.356348+00:00" hostname="vm">\
<testcase classname="tests.test_api" name="test_ok" time="0.003" file="tests/test_api.py" \
line="3"><system-out>hello out</system-out></testcase>\
<testcase classname="tests.test_api" name="test_fail" time="0.002">\
<failure message="assert 1 == 2">def test_fail():
&gt;       assert 1 == 2
E       assert 1 == 2

tests/test_api.py:5: AssertionError</failure></testcase>\
<testcase classname="tests.test_api" name="test_skip" time="0.001">\
<skipped type="pytest.skip" message="not today">tests/test_api.py:6: not today</skipped>\
</testcase>\
<testcase classname="tests.test_api" name="test_err" time="0.001">\
<error message="failed on setup with &quot;RuntimeError: setup broke&quot;">E RuntimeError</error>\
</testcase></testsuite></testsuites>
"""

NEXTEST_REPORT = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" failures="1" errors="0" \
uuid="45c50d7b-8d6a-4a2e-9a53-1d1c3e0ef3d1" timestamp="2026-05-01T07:50:12.664+00:00" \
time="2.023">
    <testsuite name="hodei-jobs-grpc::e2e_docker_provider" tests="3" disabled="0" errors="0" \
failures="1">
        <testcase name="provider_creates_worker" classname="hodei-jobs-grpc::e2e_docker_provider" \
timestamp="2026-05-01T07:50:12.665+00:00" time="1.204">
        </testcase>
        <testcase name="provider_is_flaky" classname="hodei-jobs-grpc::e2e_docker_provider" \
timestamp="2026-05-01T07:50:12.665+00:00" time="0.310">
            <flakyFailure timestamp="2026-05-01T07:50:12.665+00:00" time="0.100" \
type="test failure">thread 'provider_is_flaky' panicked
                <system-out>first try</system-out>
            </flakyFailure>
        </testcase>
        <testcase name="provider_reports_exit" classname="hodei-jobs-grpc::e2e_docker_provider" \
timestamp="2026-05-01T07:50:12.665+00:00" time="0.500">
            <failure type="test failure" message="assertion failed">thread \
'provider_reports_exit' panicked at tests/e2e_docker_provider.rs:88:5:
assertion `left == right` failed</failure>
            <rerunFailure timestamp="2026-05-01T07:50:12.665+00:00" time="0.4" \
type="test failure">again</rerunFailure>
            <system-out>running 1 test</system-out>
            <system-err>\x1b[31mthread panicked\x1b[0m</system-err>
        </testcase>
        <testsuite name="nested">
            <testcase name="inner" time="0.009"/>
        </testsuite>
    </testsuite>
</testsuites>
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def result(name: str, status: Status, **fields: object) -> SuiteResult:
    defaults: dict[str, object] = {
        "duration": 3.5,
        "started": NOW - 10,
        "exit_code": {Status.PASSED: 0, Status.FAILED: 1, Status.TIMEOUT: -15}.get(status),
        "reason": {Status.FAILED: "exit status 1"}.get(status, ""),
    }
    defaults.update(fields)
    return SuiteResult(name, status, **defaults)  # type: ignore[arg-type]


def validate(root: ET.Element) -> str:
    """Serialise as `junit.write` does, validate against the schema, and check the counts."""
    tree = ET.ElementTree(root)
    ET.indent(tree)
    text = ET.tostring(root, encoding="unicode")
    SCHEMA.validate(text)
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        for attribute, tag in (
            ("failures", "failure"),
            ("errors", "error"),
            ("skipped", "skipped"),
        ):
            assert int(suite.get(attribute, "-1")) == sum(c.find(tag) is not None for c in cases)
    return text


def cases(suite: ET.Element) -> list[tuple[str, str, str, str]]:
    """(classname, name, time, outcome) of each test case."""
    found = []
    for case in suite.findall("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        found.append(
            (case.get("classname", ""), case.get("name", ""), case.get("time", ""), outcome)
        )
    return found


def properties(suite: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}


# -- without suites' own reports -------------------------------------------------------------------


def test_one_synthetic_case_per_suite_valid_against_the_schema() -> None:
    results = [
        result("a", Status.PASSED),
        result("b", Status.FAILED, tail=("boom", "\x1b[31mred\x1b[0m \x00bell")),
        result("c", Status.TIMEOUT, reason="timed out after 60s"),
        result("d", Status.ERROR, exit_code=None, reason="database creation failed"),
        result("e", Status.SKIPPED, exit_code=None, reason="needs redis"),
        result("f", Status.INTERRUPTED, exit_code=None, reason="the run was interrupted"),
    ]
    root = junit.build(results, "hodei")
    text = validate(root)
    assert "\x1b" not in text
    assert "\x00" not in text
    assert root.attrib == {}  # the Ant schema allows no attributes on <testsuites>
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("id"), s.get("package")) for s in suites] == [
        (name, str(i), "hodei") for i, name in enumerate("abcdef")
    ]
    assert [cases(s) for s in suites] == [
        [("hodei.a", "a", "3.500", "passed")],
        [("hodei.b", "b", "3.500", "failure")],
        [("hodei.c", "c", "3.500", "failure")],
        [("hodei.d", "d", "3.500", "error")],
        [("hodei.e", "e", "3.500", "skipped")],
        [("hodei.f", "f", "3.500", "error")],
    ]
    failure = suites[1].find("testcase/failure")
    assert failure is not None
    assert failure.attrib == {"type": "failed", "message": "exit status 1"}
    assert failure.text == "boom\nred bell"
    assert suites[1].findtext("system-out") == "boom\nred bell"
    assert suites[0].get("timestamp") == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW - 10))
    assert suites[0].get("time") == "3.500"
    assert properties(suites[1]) == {
        "hodei-e2e.status": "failed",
        "hodei-e2e.exit-code": "1",
        "hodei-e2e.reason": "exit status 1",
        "hodei-e2e.attempts": "1",
    }


def test_write_produces_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "junit.xml"
    junit.write(path, [result("a", Status.PASSED)], "hodei")
    SCHEMA.validate(str(path))
    assert path.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert [p.name for p in path.parent.iterdir()] == ["junit.xml"]  # no temporary left over


def test_suite_reports_come_from_the_config() -> None:
    suites = [
        SuiteConfig(name="a", command="x", workdir=Path("/w"), junit=Path("/w/a.xml")),
        SuiteConfig(name="b", command="x", workdir=Path("/w")),
    ]
    assert junit.suite_reports(suites) == {"a": Path("/w/a.xml")}


# -- merging a suite's own report ------------------------------------------------------------------


def test_merges_a_pytest_report(tmp_path: Path) -> None:
    report = write(tmp_path, "pytest.xml", PYTEST_REPORT)
    root = junit.build([result("api", Status.FAILED)], "hodei", {"api": report})
    validate(root)
    (suite,) = root.findall("testsuite")
    assert cases(suite) == [
        ("tests.test_api", "test_ok", "0.003", "passed"),
        ("tests.test_api", "test_fail", "0.002", "failure"),
        ("tests.test_api", "test_skip", "0.001", "skipped"),
        ("tests.test_api", "test_err", "0.001", "error"),
    ]
    assert (
        suite.get("tests"),
        suite.get("failures"),
        suite.get("errors"),
        suite.get("skipped"),
    ) == (
        "4",
        "1",
        "1",
        "1",
    )
    assert suite.get("time") == "3.500"
    failure = suite.find("testcase[@name='test_fail']/failure")
    assert failure is not None
    assert failure.get("type") == "failure"  # pytest writes none; the schema requires one
    assert failure.get("message") == "assert 1 == 2"
    assert failure.text is not None
    assert "tests/test_api.py:5: AssertionError" in failure.text
    skipped = suite.find("testcase[@name='test_skip']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "not today"
    error = suite.find("testcase[@name='test_err']/error")
    assert error is not None
    assert error.get("message") == 'failed on setup with "RuntimeError: setup broke"'
    assert "----- tests.test_api::test_ok -----\nhello out" in (suite.findtext("system-out") or "")
    assert properties(suite)["hodei-e2e.junit"] == f"{report} (merged)"


def test_merges_a_nextest_report_flattening_nested_suites(tmp_path: Path) -> None:
    report = write(tmp_path, "junit.xml", NEXTEST_REPORT)
    root = junit.build(
        [result("docker-provider", Status.FAILED)], "hodei", {"docker-provider": report}
    )
    text = validate(root)
    (suite,) = root.findall("testsuite")
    group = "hodei-jobs-grpc::e2e_docker_provider"
    assert cases(suite) == [
        (group, "provider_creates_worker", "1.204", "passed"),
        (group, "provider_is_flaky", "0.310", "passed"),  # flaky: passed on a retry
        (group, "provider_reports_exit", "0.500", "failure"),
        ("nested", "inner", "0.009", "passed"),  # no classname: its enclosing suite's name
    ]
    failure = suite.find("testcase[@name='provider_reports_exit']/failure")
    assert failure is not None
    assert failure.attrib == {"type": "test failure", "message": "assertion failed"}
    assert failure.text is not None
    assert failure.text.endswith("assertion `left == right` failed")
    out = suite.findtext("system-out") or ""
    assert f"----- {group}::provider_reports_exit -----\nrunning 1 test\nthread panicked" in out
    assert "\x1b" not in text
    assert "rerunFailure" not in text
    assert "flakyFailure" not in text


def test_a_real_pytest_report_merges_and_validates(tmp_path: Path) -> None:
    (tmp_path / "test_demo.py").write_text(
        "import pytest\n"
        "def test_ok():\n    print('out')\n"
        "def test_fail():\n    assert 1 == 2\n"
        "@pytest.mark.skip(reason='later')\ndef test_skip():\n    pass\n"
    )
    report = tmp_path / "report.xml"
    started = time.time()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_demo.py",
            f"--junitxml={report}",
            "-o",
            "junit_logging=all",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTEST_ADDOPTS": ""},
    )
    assert completed.returncode == 1, completed.stdout
    res = result("pytest-suite", Status.FAILED, started=started)
    root = junit.build([res], "hodei", {"pytest-suite": report})
    validate(root)
    (suite,) = root.findall("testsuite")
    assert [(c, n, o) for c, n, _, o in cases(suite)] == [
        ("test_demo", "test_ok", "passed"),
        ("test_demo", "test_fail", "failure"),
        ("test_demo", "test_skip", "skipped"),
    ]


# -- when the file cannot be used ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "missing"),
        ("<testsuites><testsuite name='x'>", "not well-formed XML"),
        ("", "not well-formed XML"),
        ("<coverage/>", "not a JUnit report (root element <coverage>)"),
        ("<testsuites><testsuite name='x' tests='0'/></testsuites>", "holds no test case"),
        (
            '<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites><testcase name="&a;"/></testsuites>',
            "has a DOCTYPE; not read",
        ),
    ],
)
def test_falls_back_to_the_exit_code(tmp_path: Path, content: str | None, problem: str) -> None:
    report = tmp_path / "junit.xml"
    if content is not None:
        report.write_text(content)
    results = [
        result("ok", Status.PASSED, tail=("fine",)),
        result("bad", Status.FAILED, tail=("boom",)),
    ]
    root = junit.build(results, "hodei", {"ok": report, "bad": report})
    validate(root)
    ok, bad = root.findall("testsuite")
    assert cases(ok) == [("hodei.ok", "ok", "3.500", "passed")]
    assert cases(bad) == [("hodei.bad", "bad", "3.500", "failure")]
    assert properties(ok)["hodei-e2e.junit"].startswith(f"{report} ({problem}")


def test_a_utf16_report_is_read_and_its_doctype_refused(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_bytes(
        ALL_PASSING.replace(
            "<testsuites>", '<?xml version="1.0" encoding="UTF-16"?><testsuites>', 1
        ).encode("utf-16")
    )
    assert [c.name for c in junit.read_suite_report(report).cases] == ["one", "two"]
    report.write_bytes("<!DOCTYPE x><testsuites/>".encode("utf-16"))
    assert junit.read_suite_report(report).problem == "has a DOCTYPE; not read"


def test_a_namespaced_report_is_read(tmp_path: Path) -> None:
    report = write(
        tmp_path,
        "junit.xml",
        '<testsuites xmlns="urn:x"><testsuite name="t"><testcase classname="c" name="n" time="1">'
        '<skipped message="later"/></testcase></testsuite></testsuites>',
    )
    (case,) = junit.read_suite_report(report).cases
    assert (case.classname, case.name, case.time, case.outcome, case.message) == (
        "c",
        "n",
        1.0,
        "skipped",
        "later",
    )


def test_a_stale_report_from_an_earlier_run_is_not_read(tmp_path: Path) -> None:
    report = write(tmp_path, "junit.xml", PYTEST_REPORT)
    os.utime(report, (NOW - 3600, NOW - 3600))
    root = junit.build([result("api", Status.PASSED, tail=())], "hodei", {"api": report})
    validate(root)
    (suite,) = root.findall("testsuite")
    assert cases(suite) == [("hodei.api", "api", "3.500", "passed")]
    assert (
        properties(suite)["hodei-e2e.junit"] == f"{report} (older than this run (stale); not read)"
    )


def test_an_oversized_report_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = write(tmp_path, "junit.xml", PYTEST_REPORT)
    monkeypatch.setattr(junit, "MAX_SUITE_REPORT_BYTES", 100)
    root = junit.build([result("api", Status.FAILED)], "hodei", {"api": report})
    validate(root)
    assert len(root.findall("testsuite/testcase")) == 1


def test_a_suite_that_never_ran_does_not_read_its_report(tmp_path: Path) -> None:
    report = write(tmp_path, "junit.xml", PYTEST_REPORT)
    results = [
        result("a", Status.ERROR, exit_code=None, reason="database creation failed"),
        result("b", Status.SKIPPED, exit_code=None, reason="needs redis"),
    ]
    root = junit.build(results, "hodei", {"a": report, "b": report})
    validate(root)
    assert [cases(s) for s in root.findall("testsuite")] == [
        [("hodei.a", "a", "3.500", "error")],
        [("hodei.b", "b", "3.500", "skipped")],
    ]


# -- when the file and the exit code disagree ------------------------------------------------------

ALL_PASSING = """\
<testsuites><testsuite name="t" tests="2">
<testcase classname="m" name="one" time="0.5"/><testcase classname="m" name="two" time="1"/>
</testsuite></testsuites>
"""


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        (Status.FAILED, "exit status 101", "failure"),
        (Status.TIMEOUT, "timed out after 60s", "failure"),
        (Status.INTERRUPTED, "the run was interrupted", "error"),
    ],
)
def test_a_failing_exit_code_adds_a_failing_case(
    tmp_path: Path, status: Status, reason: str, outcome: str
) -> None:
    report = write(tmp_path, "junit.xml", ALL_PASSING)
    res = result(
        "s",
        status,
        exit_code=1 if status is Status.FAILED else -15,
        reason=reason,
        tail=("last words",),
    )
    root = junit.build([res], "hodei", {"s": report})
    validate(root)
    (suite,) = root.findall("testsuite")
    assert cases(suite) == [
        ("m", "one", "0.500", "passed"),
        ("m", "two", "1.000", "passed"),
        ("hodei.s", "s (exit status)", "0.000", outcome),
    ]
    added = suite.find(f"testcase[@name='s (exit status)']/{outcome}")
    assert added is not None
    assert added.attrib == {"type": status.value, "message": reason}
    assert added.text == "last words"
    assert properties(suite)["hodei-e2e.status"] == status.value


def test_a_passing_exit_code_keeps_the_files_failures_and_says_it_passed(tmp_path: Path) -> None:
    report = write(tmp_path, "junit.xml", PYTEST_REPORT)
    root = junit.build([result("api", Status.PASSED)], "hodei", {"api": report})
    validate(root)
    (suite,) = root.findall("testsuite")
    assert [o for *_, o in cases(suite)] == ["passed", "failure", "skipped", "error"]
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    assert properties(suite)["hodei-e2e.status"] == "passed"


def test_a_case_with_a_failure_and_an_error_keeps_one_and_both_texts(tmp_path: Path) -> None:
    report = write(
        tmp_path,
        "junit.xml",
        '<testsuite name="t"><testcase classname="c" name="n" time="x">'
        '<failure message="assert">trace</failure>'
        '<error message="teardown broke">teardown trace</error>'
        "</testcase></testsuite>",
    )
    root = junit.build([result("s", Status.FAILED)], "hodei", {"s": report})
    validate(root)
    (case,) = root.findall("testsuite/testcase")
    assert case.get("time") == "0.000"  # an unreadable time is zero, not an invalid document
    assert [child.tag for child in case] == ["failure"]
    assert case.findtext("failure") == "trace\nteardown broke\nteardown trace"
