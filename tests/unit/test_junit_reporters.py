"""Our JUnit file as GitHub's two common reporters read it.

`dorny` and `mikepenz` below re-state, in Python, the selection logic of
- dorny/test-reporter, src/parsers/java-junit/java-junit-parser.ts (`JavaJunitParser`:
  `getTestRunResult`, `getGroups`, `getTestCaseResult`, `getTestCaseError`), and
- mikepenz/action-junit-report, src/testParser.ts (`parseTestReports` -> `parseFile` ->
  `parseSuite`, with `resolveFileAndLine`),
as far as they decide what a reader sees: which test cases exist, their status, the failure's
message, and (mikepenz) the file and line of the annotation. Both ignore a `<failure>` on a
`<testsuite>`: only test cases count.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import xmlschema

from hodei_e2e.report import junit
from hodei_e2e.report.results import Diagnostic, Status, SuiteResult
from hodei_e2e.suites.test_parser import OutputParser

FIXTURES = Path(__file__).parents[1] / "fixtures"
CRATE = FIXTURES / "libtest-crate"


@dataclass(frozen=True)
class DornyCase:
    suite: str
    group: str
    name: str
    result: str  # success | failed | skipped
    message: str | None
    details: str | None


def dorny(document: str) -> list[DornyCase]:
    """java-junit-parser.ts: `<testsuites>` (or one `<testsuite>` as the root) > `<testsuite>`
    (`name` and `time` read) > `<testcase>` (`name` required); failed when it has `<failure>` or
    `<error>`, skipped when `<skipped>`; the error is the first `<failure>` (else `<error>`)."""
    root = ET.fromstring(document)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    cases = []
    for suite in suites:
        suite_name = suite.attrib["name"].strip()  # ts.$.name.trim(): a missing name throws
        float(suite.attrib["time"])
        for case in suite.findall("testcase"):
            classname = case.get("classname")
            group = "" if classname == suite_name else (classname or "")
            failures = case.findall("failure") or case.findall("error")
            if failures:
                result = "failed"
            elif case.find("skipped") is not None:
                result = "skipped"
            else:
                result = "success"
            first = failures[0] if failures else None
            cases.append(
                DornyCase(
                    suite=suite_name,
                    group=group,
                    name=case.attrib["name"].strip(),  # tc.$.name.trim()
                    result=result,
                    message=first.get("message") if first is not None else None,
                    details=first.text if first is not None else None,
                )
            )
    return cases


@dataclass(frozen=True)
class Annotation:
    path: str
    line: int
    level: str  # failure | notice
    title: str
    message: str


@dataclass(frozen=True)
class MikepenzResult:
    total: int
    skipped: int
    failed: int
    annotations: list[Annotation]


def mikepenz(document: str) -> MikepenzResult:
    """testParser.ts `parseTestReports` over one file, default options (no suite regex, no
    retries check, stack traces truncated to their first two lines for the message)."""
    root = ET.fromstring(document)
    # parseSuite(report): the root <testsuite>, or the <testsuite>s of the root <testsuites>
    total, skipped, annotations = _parse_suites([root] if root.tag == "testsuite" else list(root))
    failed = sum(a.level == "failure" for a in annotations)
    return MikepenzResult(total, skipped, failed, annotations)


def _parse_suites(suites: list[ET.Element]) -> tuple[int, int, list[Annotation]]:
    total, skipped, annotations = 0, 0, []
    for suite in (element for element in suites if element.tag == "testsuite"):
        t, s, a = _parse_suites(suite.findall("testsuite"))  # parseSuite(testsuite): nested ones
        total, skipped = total + t, skipped + s
        annotations += a
        for case in suite.findall("testcase"):
            total += 1
            failure = case.find("failure")
            error = case.find("error")
            test_failure = failure is not None or error is not None
            skip = case.find("skipped") is not None or case.get("status") in ("disabled", "ignored")
            success = not test_failure
            if skip:
                skipped += 1
            stack = ((failure.text if failure is not None else None) or "").strip() or (
                (error.text if error is not None else None) or ""
            ).strip()
            stack_message = "\n".join(stack.split("\n")[:2])
            message = (
                (failure.get("message") if failure is not None else None)
                or (error.get("message") if error is not None else None)
                or stack_message
                or (case.get("name") or "")
            ).strip()
            path, line = _resolve_file_and_line(
                case.get("file") or (failure.get("file") if failure is not None else None),
                case.get("line") or (failure.get("line") if failure is not None else None),
                case.get("classname") or (case.get("name") or ""),
                stack,
            )
            title = f"{path}.{case.get('name')}" if path != case.get("name") else path
            level = "notice" if success or skip else "failure"
            annotations.append(Annotation(path, line, level, title, message))
    return total, skipped, annotations


def _resolve_file_and_line(
    file: str | None, line: str | None, classname: str, output: str
) -> tuple[str, int]:
    """`resolveFileAndLine`: the attributes when both are there, else a search of the output
    for the class name's last part followed by `:LINE`."""
    name = file or classname.rsplit(".", maxsplit=1)[-1]
    number = int(line) if line and line.isdigit() else None
    if name and number:
        return name, number
    escaped = re.escape(name).replace("::", "/", 1)
    matches = re.findall(rf" [^ ]*{escaped}.*?:\d+", output)
    if not matches:
        return name, number or 1
    tokens = matches[-1].split(":")
    found = tokens.pop() or "0"
    prefix = tokens.pop() if tokens else ""
    if prefix.endswith(".rs"):
        name = prefix.split(" ")[-1]
    return name, int(found) if found.isdigit() and int(found) else -1


# -- our JUnit, from real cargo output ---------------------------------------------------------


def _suite(name: str, fixture: str, status: Status = Status.FAILED) -> SuiteResult:
    parser = OutputParser()
    text = (FIXTURES / "libtest" / fixture).read_text(encoding="utf-8")
    for line in text.splitlines():
        parser.feed(line)
    parsed = parser.finish(CRATE)
    return SuiteResult(
        name,
        status,
        exit_code=101,
        reason="exit code 101",
        tail=tuple(text.splitlines()[-40:]),
        tests=parsed.tests,
        diagnostic=parsed.diagnostic,
        started=1.0,
        duration=1.0,
    )


def _document(*results: SuiteResult) -> str:
    return ET.tostring(junit.build(list(results), "fixture"), encoding="unicode")


def test_dorny_sees_every_test_and_the_failures_with_their_messages() -> None:
    cases = dorny(_document(_suite("rust", "cargo-test.txt")))
    assert len(cases) == 8
    assert {c.result for c in cases} == {"success", "failed", "skipped"}
    failed = {c.name: c for c in cases if c.result == "failed"}
    assert set(failed) == {"answer_is_off_by_one", "panics_with_two_lines"}
    off = failed["answer_is_off_by_one"]
    assert off.group == "rust.e2e_math"
    assert off.message is not None
    assert off.message.startswith("assertion `left == right` failed: the answer is off by one")
    assert "panicked at tests/e2e_math.rs:11:5:" in (off.details or "")
    assert sum(c.result == "skipped" for c in cases) == 2


def test_mikepenz_annotates_each_failing_test_at_its_file_and_line() -> None:
    seen = mikepenz(_document(_suite("rust", "cargo-test.txt")))
    assert (seen.total, seen.skipped, seen.failed) == (8, 2, 2)
    failures = {a.path: a for a in seen.annotations if a.level == "failure"}
    math = failures["tests/fixtures/libtest-crate/tests/e2e_math.rs"]
    assert math.line == 11
    assert math.message.splitlines()[0] == (
        "assertion `left == right` failed: the answer is off by one"
    )
    panics = failures["tests/fixtures/libtest-crate/tests/e2e_panics.rs"]
    assert (panics.line, panics.message) == (9, "first line of the message\nsecond line")


def test_a_build_error_is_one_failed_case_at_the_compilers_location_in_both() -> None:
    document = _document(_suite("rust", "cargo-build-error.txt"))
    (case,) = dorny(document)
    assert case.result == "failed"
    assert case.message == "exit code 101: error: expected `;`, found `}`"
    seen = mikepenz(document)
    (annotation,) = seen.annotations
    assert (seen.total, seen.failed) == (1, 1)
    assert annotation.path == "tests/fixtures/libtest-crate/tests/e2e_broken.rs"
    assert annotation.line == 3


def test_a_timeout_with_passing_tests_still_fails_in_both_and_names_the_stuck_test() -> None:
    suite = SuiteResult(
        "slow",
        Status.TIMEOUT,
        exit_code=-15,
        reason="timed out after 60s; still running: slow::hangs",
        tests=_suite("x", "cargo-test.txt").tests[:2],  # two tests that passed
        started=1.0,
    )
    cases = dorny(_document(suite))
    assert [c.result for c in cases] == ["success", "success", "failed"]
    assert "still running: slow::hangs" in (cases[-1].message or "")
    assert mikepenz(_document(suite)).failed == 1


def test_the_reporters_model_is_not_trivially_satisfied() -> None:
    """The re-statements can fail: a suite-level failure alone is no failed test to either."""
    document = (
        '<testsuites><testsuite name="s" time="1"><failure message="boom"/>'
        '<testcase name="t" classname="s" time="0"/></testsuite></testsuites>'
    )
    assert [c.result for c in dorny(document)] == ["success"]
    assert mikepenz(document).failed == 0
    diagnostic = SuiteResult("d", Status.FAILED, diagnostic=Diagnostic("x"), started=1.0)
    assert mikepenz(_document(diagnostic)).annotations[0].path == "d"  # no file: the classname's


def test_per_test_cases_are_valid_against_the_schema() -> None:
    schema = xmlschema.XMLSchema(Path(__file__).parents[1] / "schemas" / "junit.xsd")
    document = _document(_suite("rust", "cargo-test.txt"), _suite("build", "cargo-build-error.txt"))
    schema.validate(document)
