"""The reports of one run, from what it did: the console summary, the JUnit and JSON files, and
on GitHub Actions the annotations, the job summary and the step's outputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hodei_e2e.config import SuiteConfig
from hodei_e2e.console import Output
from hodei_e2e.report import console as console_report
from hodei_e2e.report.github import GitHubReporter
from hodei_e2e.report.results import SuiteResult


def no_postgres(waits: dict[str, float]) -> dict[str, object]:
    """The JSON report's `postgres` of a run without the shared server (`--isolation
    container`, or one stopped before it started)."""
    return {
        "container": None,
        "reused": False,
        "existing": False,
        "template": None,
        "database_waits": {k: round(v, 4) for k, v in waits.items()},
        "started": None,
        "ready_at": None,
    }


@dataclass(frozen=True)
class RunReport:
    project: str
    config: Path
    run_id: str
    logs_dir: Path
    suites: Sequence[SuiteConfig]
    results: Sequence[SuiteResult]
    wall: float
    junit: Path | None = None
    json: Path | None = None
    shard: tuple[int, int] | None = None
    github: GitHubReporter | None = None
    postgres: dict[str, object] = field(default_factory=lambda: no_postgres({}))
    services: list[dict[str, object]] = field(default_factory=list)
    prepare: SuiteResult | None = None


def write(out: Output, report: RunReport, exit_code: int) -> None:
    results = list(report.results)
    if results:
        console_report.print_summary(out, results, report.wall)
    if report.junit and results:
        from hodei_e2e.report import junit

        junit.write(report.junit, results, report.project, junit.suite_reports(report.suites))
        out.detail(f"JUnit report: {report.junit}")
    if report.json:
        _write_json(report, exit_code)
        out.detail(f"JSON report: {report.json}")
    github(report)


def _write_json(report: RunReport, exit_code: int) -> None:
    from hodei_e2e.report import json as json_report

    assert report.json is not None
    doc = json_report.document(
        list(report.results),
        run={
            "run_id": report.run_id,
            "project": report.project,
            "config": str(report.config),
            "duration": round(report.wall, 3),
            "logs": str(report.logs_dir),
            "postgres": report.postgres,
            "services": report.services,
            "prepare": json_report.suite_record(report.prepare) if report.prepare else None,
        },
        exit_code=exit_code,
    )
    json_report.write(report.json, doc)


def github(report: RunReport) -> None:
    """On GitHub Actions: annotations, the job summary, and the step's outputs."""
    reporter = report.github
    if reporter is None:
        return
    results = list(report.results)
    for line in reporter.annotations(results):
        print(line)
    title = report.project
    if report.shard is not None:
        title += f", shard {report.shard[0]}/{report.shard[1]}"
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        reporter.write_summary(
            Path(summary), reporter.step_summary(results, title=title, wall=report.wall)
        )
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        reports: dict[str, Path] = {}
        if report.junit and results:
            reports["junit"] = report.junit
        if report.json:
            reports["json"] = report.json
        if report.logs_dir.exists():
            reports["logs"] = report.logs_dir
        reporter.write_outputs(Path(outputs), results, reports)
