"""The machine-readable result of a run; its `timings` feed `--shard --timings` later."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hodei_e2e.report.results import Diagnostic, SuiteResult, TestResult

SCHEMA_VERSION = 2  # 2: `tests` lists the tests; their counts moved to `counts`


def suite_record(result: SuiteResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "status": result.status.value,
        "duration": round(result.duration, 3),
        "started": result.started,
        "exit_code": result.exit_code,
        "reason": result.reason,
        "database": result.database,
        "log": str(result.log_path) if result.log_path else None,
        "counts": (
            {
                "passed": result.counts.passed,
                "failed": result.counts.failed,
                "skipped": result.counts.skipped,
            }
            if result.counts
            else None
        ),
        "attempts": result.attempts,
        "workers": list(result.workers),
        "tests": [test_record(test) for test in result.tests],
        "diagnostic": _diagnostic(result.diagnostic),
    }


def test_record(test: TestResult) -> dict[str, Any]:
    return {
        "binary": test.binary,
        "name": test.name,
        "status": test.status.value,
        "message": test.message,
        "file": test.file,
        "line": test.line,
        "output": test.output,
    }


def _diagnostic(diagnostic: Diagnostic | None) -> dict[str, Any] | None:
    if diagnostic is None:
        return None
    return {"message": diagnostic.message, "file": diagnostic.file, "line": diagnostic.line}


def document(
    results: Sequence[SuiteResult], *, run: Mapping[str, Any], exit_code: int
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        **run,
        "exit_code": exit_code,
        "suites": [suite_record(result) for result in results],
        "timings": {result.name: round(result.duration, 3) for result in results},
    }


def write(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
