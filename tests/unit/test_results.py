"""Results as data: statuses, test counts read from a suite's output, the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hodei_e2e.report import json as json_report
from hodei_e2e.report.results import Status, SuiteResult, parse_counts
from hodei_e2e.report.results import TestCounts as Counts


def test_only_passed_and_skipped_are_ok() -> None:
    assert {s for s in Status if s.ok} == {Status.PASSED, Status.SKIPPED}


def test_status_values_are_the_report_words() -> None:
    assert [s.value for s in Status] == [
        "passed",
        "failed",
        "timeout",
        "skipped",
        "error",
        "interrupted",
    ]


def test_counts_add_and_print() -> None:
    total = Counts(3, 1, 0) + Counts(2, 0, 4)
    assert total == Counts(5, 1, 4)
    assert str(total) == "5 passed, 1 failed, 4 skipped"
    assert str(Counts(1, 0, 0)) == "1 passed, 0 failed"


# -- parse_counts ---------------------------------------------------------------------------------

LIBTEST = (
    "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 1.2s"
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([LIBTEST], Counts(12, 0, 3)),
        # cargo prints one line per test binary: they add up
        (
            [
                LIBTEST,
                "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
            ],
            Counts(13, 2, 3),
        ),
        (["==== 3 passed, 1 skipped in 0.12s ===="], Counts(3, 0, 1)),
        (["=== 1 failed, 2 passed, 1 error in 1.00s (0:00:01) ==="], Counts(2, 2, 0)),
        (["= 2 passed, 1 xfailed, 1 xpassed in 3.21s ="], Counts(3, 0, 1)),
        (["========== 5 errors in 0.50s =========="], Counts(0, 5, 0)),
        # pytest's last summary line wins over earlier '=' lines
        (
            ["=== test session starts ===", "=== 7 passed in 2.00s ==="],
            Counts(7, 0, 0),
        ),
        (["=== no tests ran in 0.01s ==="], None),
        (["=== test session starts ==="], None),
        (["all good"], None),
        ([], None),
    ],
)
def test_parse_counts(lines: list[str], expected: Counts | None) -> None:
    assert parse_counts(lines) == expected


def test_libtest_lines_win_over_a_pytest_line() -> None:
    assert parse_counts([LIBTEST, "=== 99 passed in 1.00s ==="]) == Counts(12, 0, 3)


# -- the JSON report ----------------------------------------------------------------------------


def test_json_document_has_the_run_its_exit_code_and_every_suite(tmp_path: Path) -> None:
    results = [
        SuiteResult(
            "api",
            Status.PASSED,
            duration=1.23456,
            started=1700000000.5,
            exit_code=0,
            database="e2e_x_1_api",
            log_path=tmp_path / "api.log",
            counts=Counts(4, 0, 1),
        ),
        SuiteResult("slow", Status.TIMEOUT, duration=2.0, reason="timed out after 2s", attempts=2),
    ]
    doc = json_report.document(results, run={"run_id": "r1", "project": "p"}, exit_code=1)
    path = tmp_path / "out" / "report.json"
    json_report.write(path, doc)
    loaded = json.loads(path.read_text())
    assert loaded["run_id"] == "r1"
    assert loaded["exit_code"] == 1
    api, slow = loaded["suites"]
    assert api == {
        **api,
        "name": "api",
        "status": "passed",
        "duration": 1.235,
        "exit_code": 0,
        "database": "e2e_x_1_api",
        "log": str(tmp_path / "api.log"),
        "counts": {"passed": 4, "failed": 0, "skipped": 1},
    }
    assert (slow["status"], slow["reason"], slow["attempts"], slow["counts"], slow["log"]) == (
        "timeout",
        "timed out after 2s",
        2,
        None,
        None,
    )
    assert loaded["timings"] == {"api": 1.235, "slow": 2.0}
