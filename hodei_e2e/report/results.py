"""Results are data: reporters render them, nothing else interprets them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    ERROR = "error"  # the tool could not run it (database creation failed, ...)
    INTERRUPTED = "interrupted"

    @property
    def ok(self) -> bool:
        return self in (Status.PASSED, Status.SKIPPED)


@dataclass(frozen=True)
class TestCounts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def __add__(self, other: TestCounts) -> TestCounts:
        return TestCounts(
            self.passed + other.passed, self.failed + other.failed, self.skipped + other.skipped
        )

    def __str__(self) -> str:
        text = f"{self.passed} passed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


@dataclass(frozen=True)
class TestResult:
    """One test of a suite, as its runner reported it (libtest, pytest, a JUnit file)."""

    __test__ = False  # not a pytest test class, whatever its name

    name: str  # the test's path: `tests::unit_passes`, `src/lib.rs - answer (line 5)`
    status: Status  # PASSED, FAILED or SKIPPED
    binary: str = ""  # the test binary (`e2e_math`), or the file of a pytest test
    message: str = ""  # a failure's first lines, or why it was skipped
    file: str | None = None  # relative to the repository root
    line: int | None = None
    output: str = ""  # its own output block

    @property
    def path(self) -> str:
        """`binary::name`, as the summary and the annotations name it."""
        return f"{self.binary}::{self.name}" if self.binary else self.name


@dataclass(frozen=True)
class Diagnostic:
    """Why a suite failed without a failing test, when its output says: the compiler's first
    error and where it points."""

    message: str
    file: str | None = None  # relative to the repository root once located
    line: int | None = None


@dataclass(frozen=True)
class SuiteResult:
    name: str
    status: Status
    duration: float = 0.0
    started: float | None = None  # unix seconds
    exit_code: int | None = None
    reason: str = ""
    database: str | None = None
    log_path: Path | None = None
    tail: tuple[str, ...] = ()
    counts: TestCounts | None = None
    attempts: int = 1
    workers: tuple[str, ...] = field(default_factory=tuple)
    tests: tuple[TestResult, ...] = ()  # per test, when the output said (libtest, pytest -rA)
    diagnostic: Diagnostic | None = None

    @property
    def failed_tests(self) -> tuple[TestResult, ...]:
        return tuple(test for test in self.tests if test.status is Status.FAILED)


_LIBTEST = re.compile(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")
_PYTEST = re.compile(r"^=+ (.*?) in [\d.]+s(?: \([^)]*\))? =+$")
_PYTEST_PART = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed)")


def parse_counts(lines: list[str]) -> TestCounts | None:
    """Sum libtest's `test result:` lines, or read pytest's closing line; None when neither."""
    total: TestCounts | None = None
    for line in lines:
        match = _LIBTEST.search(line)
        if match:
            found = TestCounts(int(match[1]), int(match[2]), int(match[3]))
            total = found if total is None else total + found
    if total is not None:
        return total
    for line in reversed(lines):
        match = _PYTEST.match(line.strip())
        if match and _PYTEST_PART.search(match[1]):
            parts = {kind: int(n) for n, kind in _PYTEST_PART.findall(match[1])}
            return TestCounts(
                parts.get("passed", 0) + parts.get("xpassed", 0),
                parts.get("failed", 0) + parts.get("error", 0) + parts.get("errors", 0),
                parts.get("skipped", 0) + parts.get("xfailed", 0),
            )
    return None
