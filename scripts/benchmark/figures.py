"""The figures of a benchmark run: a row of samples, a scenario's rows, and their tables."""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class BenchError(Exception):
    """A scenario could not be measured (its table says why)."""


@dataclass
class Row:
    name: str
    samples: list[float]  # seconds (or KiB when unit == "KiB")
    unit: str = "s"
    note: str = ""
    count: int | None = None  # set when `samples` is [min, median, max] from another tool

    @property
    def n(self) -> int:
        return self.count if self.count is not None else len(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "unit": self.unit, "n": self.n}
        if self.samples:
            out.update(min=self.min, median=self.median, max=self.max)
        if self.count is None:
            out["samples"] = [round(s, 6) for s in self.samples]
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Scenario:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    load_at_start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)

    def find(self, prefix: str) -> Row | None:
        """The first row with samples whose name starts with `prefix`."""
        return next((r for r in self.rows if r.name.startswith(prefix) and r.samples), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [r.as_json() for r in self.rows],
            "notes": self.notes,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "load_at_start": self.load_at_start,
            **self.extra,
        }


def fmt(value: float, unit: str = "s") -> str:
    if unit == "MB/s":
        return f"{value:.0f} MB/s"
    if unit == "B":
        return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value / 1e3:.1f} kB"
    if unit == "KiB":
        return f"{value / 1024:.1f} MiB"
    if unit == "x":
        return f"{value:.2f}x"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.01:
        return f"{value * 1000:.0f} ms"
    return f"{value * 1000:.2f} ms"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    if markdown:

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(headers), sep, *(line(r) for r in rows)])

    def plain(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([plain(headers), plain(["-" * w for w in widths]), *(plain(r) for r in rows)])


def scenario_table(scenario: Scenario, *, markdown: bool = False) -> str:
    rows = [
        [
            r.name,
            str(r.n),
            fmt(r.min, r.unit),
            fmt(r.median, r.unit),
            fmt(r.max, r.unit),
            r.note,
        ]
        for r in scenario.rows
        if r.samples
    ]
    rows += [[r.name, "0", "-", "-", "-", r.note] for r in scenario.rows if not r.samples]
    return table(["measurement", "n", "min", "median", "max", "note"], rows, markdown=markdown)


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()
