"""Where a run's time goes, from its JSON report (`run --json`): every time in it is unix
seconds, placed against the moment the benchmark forked the CLI."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.figures import fmt, table
from benchmark.procs import Proc


@dataclass(frozen=True)
class RunReport:
    """A `run --json` of the CLI: its process, its report, and when the report was written."""

    proc: Proc
    doc: Mapping[str, Any]
    written_at: float  # the report file's mtime, unix seconds


def events(run: RunReport) -> tuple[dict[str, float], dict[str, float]]:
    """(event -> seconds since the fork, step -> its duration) of one run."""
    proc, doc, written = run.proc, run.doc, run.written_at
    at: dict[str, float] = {}
    steps: dict[str, float] = {}

    def since(key: str, unix: float | None) -> None:
        if unix is not None:
            at[key] = unix - proc.started_at

    since("pipeline started (interpreter, imports, config)", written - float(doc["duration"]))
    postgres = doc.get("postgres") or {}
    since("postgres create requested", postgres.get("started"))
    since("postgres ready", postgres.get("ready_at"))
    if postgres.get("started") is not None and postgres.get("ready_at") is not None:
        steps["postgres"] = float(postgres["ready_at"]) - float(postgres["started"])
    for service in doc.get("services") or []:
        since(f"service {service['name']} ready", service.get("ready_at"))
    prepare = doc.get("prepare")
    if prepare and prepare.get("started") is not None:
        since("prepare finished", float(prepare["started"]) + float(prepare["duration"]))
        steps["prepare"] = float(prepare["duration"])
    suites = [s for s in doc.get("suites") or [] if s.get("started") is not None]
    if suites:
        first = min(float(s["started"]) for s in suites)
        last = max(float(s["started"]) + float(s["duration"]) for s in suites)
        since("suite started", first)
        since("suite finished", last)
        steps["suites"] = last - first
    since("report written", written)
    steps["run (the report's duration)"] = float(doc["duration"])
    at["process exit (wait4)"] = proc.seconds
    return at, steps


def split_timeline(runs: Sequence[RunReport]) -> dict[str, Any]:
    """Each event's median time since the fork, and the step durations of the reports."""
    seen: dict[str, list[float]] = {}
    steps: dict[str, list[float]] = {}
    for run in runs:
        at, took = events(run)
        for key, seconds in at.items():
            seen.setdefault(key, []).append(seconds)
        for key, seconds in took.items():
            steps.setdefault(key, []).append(seconds)
    ordered = sorted(seen.items(), key=lambda kv: statistics.median(kv[1]))
    timeline, previous = [], 0.0
    for key, ats in ordered:
        median = statistics.median(ats)
        timeline.append(
            {
                "event": key,
                "at": round(median, 4),
                "delta": round(median - previous, 4),
                "n": len(ats),
            }
        )
        previous = median
    return {
        "runs": len(runs),
        "timeline": timeline,
        "steps_reported": {k: statistics.median(v) for k, v in steps.items()},
    }


def timeline_table(split: Mapping[str, Any]) -> str:
    runs = split["runs"]
    rows = [
        [e["event"], fmt(e["at"]), f"+{fmt(e['delta'])}", f"{e['n']}/{runs}"]
        for e in split["timeline"]
    ]
    return table([f"event (median of {runs} --json runs)", "since fork", "delta", "seen"], rows)
