"""The targets of DESIGN.md ("Performance targets"): each a ratio or a figure of the scenarios'
medians, with PASS, MISS or n/a (an informative figure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmark.cleanup import ORPHANS
from benchmark.figures import Row, Scenario, fmt, table
from benchmark.output import output_targets

Add = Callable[[str, float | None, str, bool | None, str], None]


class Medians:
    def __init__(self, scenarios: dict[str, Scenario]) -> None:
        self.scenarios = scenarios

    def __call__(self, scenario: str, row: str) -> float | None:
        sc = self.scenarios.get(scenario)
        found = sc.row(row) if sc else None
        return found.median if found and found.samples else None

    def find(self, scenario: str, prefix: str) -> Row | None:
        sc = self.scenarios.get(scenario)
        return sc.find(prefix) if sc else None


def targets(scenarios: dict[str, Scenario]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(target: str, value: float | None, unit: str, passed: bool | None, detail: str) -> None:
        out.append(
            {
                "target": target,
                "measured": value,
                "unit": unit,
                "result": "n/a" if passed is None else ("PASS" if passed else "MISS"),
                "detail": detail,
            }
        )

    median = Medians(scenarios)
    _runs(median, add)
    _databases(median, add)
    cleanup = median.find("cleanup", "hodei-e2e cleanup")
    if cleanup:
        add(
            f"cleanup of {ORPHANS} orphaned containers < 5 s",
            cleanup.median,
            "s",
            cleanup.median < 5.0,
            "median wall",
        )
    for row in output_targets(scenarios):
        add(*row)
    _rust(median, add)
    image = scenarios.get("imagecheck")
    if image and image.rows and image.rows[0].samples:
        add(
            "(info) image check, nothing changed",
            image.rows[0].median,
            "s",
            None,
            image.rows[0].name,
        )
    return out


def _runs(median: Medians, add: Add) -> None:
    cold = median("cold", "hodei-e2e run, 1 trivial suite (wall)")
    ready = median("cold", "testcontainers: time to ready Postgres")
    tc_wall = median("cold", "testcontainers: whole subprocess (wall)")
    if cold is not None and ready:
        add(
            "cold run <= 0.5x testcontainers' time to a ready Postgres",
            cold / ready,
            "x",
            cold / ready <= 0.5,
            f"{fmt(cold)} / {fmt(ready)}",
        )
    if cold is not None and tc_wall:
        add(
            "(info) cold run / testcontainers whole subprocess",
            cold / tc_wall,
            "x",
            None,
            f"{fmt(cold)} / {fmt(tc_wall)}",
        )
    warm = median("warm", "warm run --reuse, 1 trivial suite (wall)")
    if warm is not None:
        add("warm run with a reused Postgres < 0.6 s", warm, "s", warm < 0.6, "median wall")
    for n in (1, 4, 8):
        one = median("suites", f"N={n}: hodei-e2e, one server")
        per = median("suites", f"N={n}: testcontainers, container per suite")
        iso = median("suites", f"N={n}: hodei-e2e --isolation container")
        if one and per:
            label = (
                "8 trivial suites >= 10x faster than a container per suite"
                if n == 8
                else f"(info) N={n}: container per suite / one server"
            )
            add(
                label,
                per / one,
                "x",
                per / one >= 10 if n == 8 else None,
                f"{fmt(per)} / {fmt(one)}",
            )
        if one and iso:
            add(
                f"(info) N={n}: --isolation container / one server",
                iso / one,
                "x",
                None,
                f"{fmt(iso)} / {fmt(one)}",
            )


def _databases(median: Medians, add: Add) -> None:
    suite_db = median.find("dbcreate", "as a suite gets it")
    if suite_db:
        add(
            "suite database create < 60 ms (median)",
            suite_db.median,
            "s",
            suite_db.median < 0.060,
            suite_db.name,
        )
    plain = median("dbcreate", "plain CREATE DATABASE (call)")
    if plain is not None:
        add("(info) plain CREATE DATABASE", plain, "s", None, "no template")
    handout = median.find("dbcreate", "pre-created")
    if handout:
        add(
            "suite database when pre-created < 5 ms",
            handout.median,
            "s",
            handout.median < 0.005,
            handout.name,
        )


def _rust(median: Medians, add: Add) -> None:
    for state, target in (("cold", 0.5), ("warm", None)):
        tool = median("rust", f"hodei-e2e run, {state} target dir (wall)")
        seed = median("rust", f"seed sequence, {state} target dir (wall)")
        if tool is not None and seed:
            add(
                f"Rust workspace run, {state} target dir <= {target}x the seed sequence"
                if target
                else f"(info) Rust workspace run / seed sequence, {state} target dir",
                tool / seed,
                "x",
                tool / seed <= target if target else None,
                f"{fmt(tool)} / {fmt(seed)}",
            )


def targets_table(rows: list[dict[str, Any]], *, markdown: bool = False) -> str:
    cells = [
        [
            r["target"],
            fmt(r["measured"], r["unit"]) if r["measured"] is not None else "-",
            r["detail"],
            r["result"],
        ]
        for r in rows
    ]
    return table(["target", "measured", "from", "result"], cells, markdown=markdown)
