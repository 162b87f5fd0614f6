"""One JUnit XML file: a `<testsuite>` per suite, readable by the common CI reporters.

The output follows the Apache Ant JUnit schema (Windy Road's `JUnit.xsd`, shipped as
`tests/schemas/junit.xsd`), the strictest of the schemas that reporters such as
dorny/test-reporter, mikepenz/action-junit-report and Jenkins read, so it satisfies the laxer
ones too. Its constraints shape this module:

- `<testsuites>` carries no attributes; each `<testsuite>` has `name`, `package` (the project),
  `id` (0, 1, ...), `hostname`, `timestamp` (UTC, no zone), `tests`, `failures`, `errors`,
  `skipped` and `time` (seconds), then `<properties>`, its `<testcase>`s, `<system-out>` and
  `<system-err>`, in that order and all present;
- a `<testcase>` has `name`, `classname` and `time`, and at most one of `<failure>`,
  `<error>` (both with a `type`) or `<skipped>`; it has no output of its own, so the output of a
  merged case moves to its suite's `<system-out>`. One extension: `file` and `line`, where the
  failure is (relative to the repository root), which pytest's xunit1 writes and
  mikepenz/action-junit-report reads for its annotations.

A suite whose output said what each test did (libtest's `test NAME ... ok`, pytest's `-rA`
summary; see runner_output.py) has a `<testcase>` per test, classname `<suite>.<binary>`, a
failure's body its own output block. GitHub's reporters ignore a `<failure>` on a `<testsuite>`,
so a suite that failed without a failing test (a build error, a crash, a timeout) gets one
synthetic case that says why.

A suite that writes its own JUnit file (`junit:` in its config) has that file's test cases
merged under its `<testsuite>`, nested `<testsuite>`s flattened (nextest, pytest). The exit code
still decides the suite's status: a missing, stale, oversized or unreadable file falls back to
one synthetic test case for the suite, and a file that contradicts the exit code is reconciled
as `build` describes.
"""

from __future__ import annotations

import math
import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hodei_e2e.config import SuiteConfig
from hodei_e2e.masking import masker
from hodei_e2e.report.results import Status, SuiteResult, TestResult
from hodei_e2e.suites.lines import cut_lines, strip_ansi

SYSTEM_OUT_LINES = 200
FAILURE_LINES = 40
MAX_SUITE_REPORT_BYTES = 50 * 1024 * 1024  # a suite's own JUnit file larger than this is ignored
MAX_TEXT_CHARS = 64 * 1024  # per failure text, and per captured case output
MAX_CAPTURED_CHARS = 1024 * 1024  # case output moved to a suite's <system-out>
MTIME_SLACK = 2.0  # seconds; coarse file-system clocks

# Characters XML 1.0 cannot carry, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The same in a suite's own file (some tools write raw terminal colours), with colour codes whole.
_INVALID_XML_BYTES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("", cut_lines(masker(strip_ansi(text))))


def _cap(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _timestamp(started: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started or time.time()))


def _seconds(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) and value >= 0 else "0.000"


def suite_reports(suites: Iterable[SuiteConfig]) -> dict[str, Path]:
    """The suites' own JUnit files (`junit:` in the config), by suite name."""
    return {suite.name: suite.junit for suite in suites if suite.junit is not None}


# -- a suite's own report --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One test case, as it goes into the merged file."""

    name: str
    classname: str
    time: float
    outcome: str = "passed"  # passed | failure | error | skipped
    message: str | None = None
    type: str | None = None
    text: str = ""
    output: str = ""  # the case's own system-out/system-err, moved to the suite's <system-out>
    file: str | None = None  # relative to the repository root
    line: int | None = None


@dataclass(frozen=True)
class SuiteReport:
    """What a suite's own JUnit file gave: its cases, or why it could not be used."""

    cases: tuple[Case, ...] = ()
    problem: str | None = None  # None when `cases` came from the file


def read_suite_report(path: Path, *, not_before: float | None = None) -> SuiteReport:
    """The test cases of a suite's JUnit file, flattened. A missing file, one older than
    `not_before` (unix seconds; left over from an earlier run), one over the size guard, one
    with a DOCTYPE (entities are not expanded here), one that does not parse or holds no test
    case, gives a `problem` instead of cases."""
    try:
        stat = path.stat()
        if stat.st_size > MAX_SUITE_REPORT_BYTES:
            return SuiteReport(problem=f"larger than {MAX_SUITE_REPORT_BYTES} bytes; not read")
        if not_before is not None and stat.st_mtime < not_before - MTIME_SLACK:
            return SuiteReport(problem="older than this run (stale); not read")
        data = path.read_bytes()
    except FileNotFoundError:
        return SuiteReport(problem="missing")
    except OSError as error:
        return SuiteReport(problem=f"unreadable: {error.strerror or error}")
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    probe = data.decode("utf-16", errors="replace").encode() if utf16 else data
    if b"<!DOCTYPE" in probe or b"<!ENTITY" in probe:
        return SuiteReport(problem="has a DOCTYPE; not read")
    if not utf16:
        data = _INVALID_XML_BYTES.sub(b"", data)
    try:
        # Safe here: no DOCTYPE means no entity expansion, and the size is bounded above.
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as error:
        return SuiteReport(problem=f"not well-formed XML ({error})")
    if _tag(root) not in ("testsuites", "testsuite"):
        return SuiteReport(problem=f"not a JUnit report (root element <{_tag(root)}>)")
    container = root.get("name") if _tag(root) == "testsuite" else None
    cases = tuple(_walk(root, container or ""))
    if not cases:
        return SuiteReport(problem="holds no test case")
    return SuiteReport(cases=cases)


def _walk(element: ET.Element, suite_name: str) -> Iterator[Case]:
    for child in element:
        if _tag(child) == "testsuite":
            yield from _walk(child, child.get("name") or suite_name)
        elif _tag(child) == "testcase":
            yield _case(child, suite_name)


def _tag(element: ET.Element) -> str:
    """The element's name without a namespace: `{urn:x}testcase` -> `testcase`."""
    return str(element.tag).rsplit("}", 1)[-1]


def _case(element: ET.Element, suite_name: str) -> Case:
    name = (element.get("name") or "").strip() or "(unnamed)"
    classname = (element.get("classname") or "").strip() or suite_name or name
    outcome, message, kind = "passed", None, None
    texts: list[str] = []
    problems = [child for child in element if _tag(child) in ("failure", "error")]
    if problems:
        # The schema allows one of them; the first decides, the others' text is kept under it.
        # (nextest's rerunFailure/flakyFailure are retries, not outcomes: not looked at.)
        first = problems[0]
        outcome, message = _tag(first), first.get("message")
        kind = first.get("type") or outcome
        for problem in problems:
            head = problem.get("message") if problem is not first else None
            texts.extend(t for t in (head, problem.text) if t)
    else:
        skipped = next((child for child in element if _tag(child) == "skipped"), None)
        if skipped is not None:
            outcome, message = "skipped", skipped.get("message")
            texts.extend(t for t in (skipped.text,) if t)
    output = "\n".join(
        child.text
        for child in element
        if _tag(child) in ("system-out", "system-err") and child.text
    )
    return Case(
        name=name,
        classname=classname,
        time=_float(element.get("time")),
        outcome=outcome,
        message=message,
        type=kind,
        text="\n".join(texts),
        output=output,
    )


def _float(text: str | None) -> float:
    try:
        value = float(text or 0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value >= 0 else 0.0


# -- the merged file -------------------------------------------------------------------------------


def build(
    results: Sequence[SuiteResult],
    project: str,
    suite_reports: Mapping[str, Path] | None = None,
) -> ET.Element:
    """The `<testsuites>` document; `suite_reports` maps suite names to their own JUnit files.

    When the file and the exit code disagree, the exit code decides the suite's status and the
    file's cases stay as they are:
    - the suite failed, timed out, errored or was interrupted but the file lists no failure or
      error (a crash before the report was complete, a teardown failure): a synthetic
      `<suite> (exit status)` case carries the failure, so no reporter shows the suite green;
    - the suite passed but the file lists failures (a flaky test retried by the suite's own
      runner, an allowed failure): the cases are kept as written, and the `hodei-e2e.status`
      property says the suite passed.
    Either way a `<testsuite>`'s count attributes are those of the cases it lists.
    """
    reports = suite_reports or {}
    hostname = socket.gethostname() or "localhost"
    root = ET.Element("testsuites")
    for index, result in enumerate(results):
        path = reports.get(result.name)
        report = _suite_report(result, path)
        if report.problem is None:
            cases = list(report.cases)
        elif result.tests:
            cases = [_test_case(result, test) for test in result.tests]
        else:
            cases = [_synthetic(result, project)]
        if report.problem is None or result.tests:
            extra = _reconcile(result, project, cases)
            if extra is not None:
                cases.append(extra)
        counts = {
            "tests": len(cases),
            "failures": sum(c.outcome == "failure" for c in cases),
            "errors": sum(c.outcome == "error" for c in cases),
            "skipped": sum(c.outcome == "skipped" for c in cases),
        }
        suite = ET.SubElement(
            root,
            "testsuite",
            name=result.name,
            package=project,
            id=str(index),
            hostname=hostname,
            timestamp=_timestamp(result.started),
            tests=str(counts["tests"]),
            failures=str(counts["failures"]),
            errors=str(counts["errors"]),
            skipped=str(counts["skipped"]),
            time=_seconds(result.duration),
        )
        _properties(ET.SubElement(suite, "properties"), result, path, report)
        for case in cases:
            _case_element(suite, case)
        ET.SubElement(suite, "system-out").text = _system_out(result, cases)
        ET.SubElement(suite, "system-err").text = ""
    return root


def _suite_report(result: SuiteResult, path: Path | None) -> SuiteReport:
    if path is None:
        return SuiteReport(problem="none configured")
    if result.exit_code is None:  # the suite's command never ran: any file is not from this run
        return SuiteReport(problem="not read: the suite did not run")
    return read_suite_report(path, not_before=result.started)


def _test_case(result: SuiteResult, test: TestResult) -> Case:
    """One test the suite's output reported."""
    classname = f"{result.name}.{test.binary}" if test.binary else result.name
    if test.status is Status.FAILED:
        return Case(
            name=test.name,
            classname=classname,
            time=0.0,
            outcome="failure",
            message=test.message or "failed",
            type="panic" if test.file else "failed",
            text=test.output or test.message,
            file=test.file,
            line=test.line,
        )
    skipped = test.status is Status.SKIPPED
    return Case(
        name=test.name,
        classname=classname,
        time=0.0,
        outcome="skipped" if skipped else "passed",
        message=(test.message or None) if skipped else None,
        file=test.file,
        line=test.line,
    )


def _why(result: SuiteResult) -> tuple[str, str | None, int | None]:
    """A failed suite's message, with the compiler's first error when there was one, and where
    that error is."""
    message = result.reason or result.status.value
    diagnostic = result.diagnostic
    if diagnostic is None:
        return message, None, None
    return f"{message}: error: {diagnostic.message}", diagnostic.file, diagnostic.line


def _synthetic(result: SuiteResult, project: str) -> Case:
    """The suite as one test case, its status from the exit code."""
    outcome = {
        Status.FAILED: "failure",
        Status.TIMEOUT: "failure",
        Status.ERROR: "error",
        Status.INTERRUPTED: "error",
        Status.SKIPPED: "skipped",
    }.get(result.status, "passed")
    message, file, line = _why(result) if outcome == "failure" else (result.reason, None, None)
    return Case(
        name=result.name,
        classname=f"{project}.{result.name}",
        time=result.duration,
        outcome=outcome,
        message=message or result.status.value,
        type=result.status.value if outcome in ("failure", "error") else None,
        text="\n".join(result.tail[-FAILURE_LINES:]) if outcome == "failure" else "",
        file=file,
        line=line,
    )


def _reconcile(result: SuiteResult, project: str, cases: Sequence[Case]) -> Case | None:
    """The case to add when the exit code reports a failure that the file does not show."""
    wanted = {
        Status.FAILED: ("failure", "error"),
        Status.TIMEOUT: ("failure", "error"),
        Status.ERROR: ("error",),
        Status.INTERRUPTED: ("error",),
    }.get(result.status)
    if wanted is None or any(c.outcome in wanted for c in cases):
        return None
    outcome = "error" if result.status in (Status.ERROR, Status.INTERRUPTED) else "failure"
    message, file, line = _why(result)
    return Case(
        name=f"{result.name} (exit status)",
        classname=f"{project}.{result.name}",
        time=0.0,
        outcome=outcome,
        message=message,
        type=result.status.value,
        text="\n".join(result.tail[-FAILURE_LINES:]),
        file=file,
        line=line,
    )


def _properties(
    element: ET.Element, result: SuiteResult, path: Path | None, report: SuiteReport
) -> None:
    values = {
        "hodei-e2e.status": result.status.value,
        "hodei-e2e.exit-code": "" if result.exit_code is None else str(result.exit_code),
        "hodei-e2e.reason": result.reason,
        "hodei-e2e.attempts": str(result.attempts),
        "hodei-e2e.database": result.database or "",
        "hodei-e2e.log": str(result.log_path) if result.log_path else "",
    }
    if path is not None:
        values["hodei-e2e.junit"] = (
            f"{path} (merged)" if report.problem is None else f"{path} ({report.problem})"
        )
    for name, value in values.items():
        if value:
            ET.SubElement(element, "property", name=name, value=_clean(value))


def _case_element(suite: ET.Element, case: Case) -> None:
    element = ET.SubElement(
        suite,
        "testcase",
        name=_clean(case.name),
        classname=_clean(case.classname),
        time=_seconds(case.time),
    )
    if case.file:
        element.set("file", _clean(case.file))
        if case.line:
            element.set("line", str(case.line))
    if case.outcome in ("failure", "error"):
        child = ET.SubElement(element, case.outcome, type=_clean(case.type or case.outcome))
        if case.message is not None:
            child.set("message", _clean(case.message))
        child.text = _cap(_clean(case.text))
    elif case.outcome == "skipped":
        child = ET.SubElement(element, "skipped")
        if case.message is not None:
            child.set("message", _clean(case.message))
        if case.text:
            child.text = _cap(_clean(case.text))


def _system_out(result: SuiteResult, cases: Sequence[Case]) -> str:
    parts = ["\n".join(result.tail[-SYSTEM_OUT_LINES:])] if result.tail else []
    room = MAX_CAPTURED_CHARS
    for case in cases:
        if case.output and room > 0:
            text = _cap(case.output)[:room]
            parts.append(f"----- {case.classname}::{case.name} -----\n{text}")
            room -= len(text)
    return _clean("\n".join(parts))


def write(
    path: Path,
    results: Sequence[SuiteResult],
    project: str,
    suite_reports: Mapping[str, Path] | None = None,
) -> None:
    tree = ET.ElementTree(build(results, project, suite_reports))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tree.write(temporary, encoding="utf-8", xml_declaration=True)
    os.replace(temporary, path)
