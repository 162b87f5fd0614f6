"""`--shard K/N`: a deterministic split of the selected suites over N machines.

Every shard computes the whole plan from the same inputs (the selection and, optionally, the
timings of an earlier run) and keeps its own part, so the N machines need not talk to each other:
every suite lands in exactly one shard.

- Without timings, suites are dealt by name: sorted by name, the i-th (from 0) goes to shard
  `i % N + 1` (round-robin), so shard sizes differ by at most one.
- With timings, suites are balanced by their recorded duration: longest first, each onto the
  least loaded shard (ties to the lowest shard number), a suite without a recorded duration
  counting as the median of the known ones (1 s when none is known). This greedy rule keeps the
  most and least loaded shards within one suite's duration of each other.

Within a shard, suites keep their declaration order.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from hodei_e2e.config import SuiteConfig
from hodei_e2e.errors import UsageError

DEFAULT_DURATION = 1.0  # seconds, for a suite whose duration nobody has recorded
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
# Suites that did not run to an end in the earlier run: their recorded duration says nothing.
_NOT_RUN = frozenset({"skipped", "interrupted", "error"})


def parse_shard(text: str) -> tuple[int, int]:
    """`"2/4"` -> `(2, 4)`: shard K of N, counted from 1."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise UsageError(f"--shard {text!r}: expected K/N with whole numbers, e.g. --shard 2/4")
    index, total = int(match[1]), int(match[2])
    if total < 1:
        raise UsageError(f"--shard {text!r}: N must be at least 1")
    if not 1 <= index <= total:
        raise UsageError(
            f"--shard {text!r}: K must be between 1 and {total} (shards are counted from 1)"
        )
    return index, total


def load_timings(path: Path) -> dict[str, float]:
    """Suite durations (seconds) from the `timings` of a run's JSON report (`--json`).

    Entries that cannot be a real duration (zero or negative), and suites that the report says
    were skipped, interrupted or not run, are left out: they count as unknown.
    """
    where = f"--timings {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{where}: cannot read the file: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not a JSON report (not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{where}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    timings = doc.get("timings") if isinstance(doc, dict) else None
    if not isinstance(timings, dict):
        raise UsageError(
            f"{where}: no `timings` object; expected the JSON report of an earlier run "
            "(hodei-e2e run --json FILE)"
        )
    not_run = _not_run(doc.get("suites"))
    found: dict[str, float] = {}
    for name, value in timings.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(
                f"{where}: timings.{name}: expected a number of seconds, got {value!r}"
            )
        seconds = float(value)
        if math.isfinite(seconds) and seconds > 0 and name not in not_run:
            found[str(name)] = seconds
    return found


def _not_run(suites: object) -> set[str]:
    if not isinstance(suites, list):
        return set()
    return {
        str(entry.get("name"))
        for entry in suites
        if isinstance(entry, dict) and entry.get("status") in _NOT_RUN
    }


def plan(
    suites: Sequence[SuiteConfig], total: int, timings: Mapping[str, float] | None = None
) -> list[list[SuiteConfig]]:
    """All `total` shards, in shard order; each in declaration order. See the module docstring."""
    if total < 1:
        raise UsageError(f"--shard: N must be at least 1, got {total}")
    if timings is None:
        slot = {suite.name: i % total for i, suite in enumerate(sorted(suites, key=_name))}
    else:
        slot = _balanced(suites, total, timings)
    shards: list[list[SuiteConfig]] = [[] for _ in range(total)]
    for suite in suites:
        shards[slot[suite.name]].append(suite)
    return shards


def shard(
    suites: Sequence[SuiteConfig],
    index: int,
    total: int,
    timings: Mapping[str, float] | None = None,
) -> list[SuiteConfig]:
    """The suites of shard `index` of `total` (counted from 1), in declaration order."""
    if not 1 <= index <= total:
        raise UsageError(f"--shard {index}/{total}: K must be between 1 and N")
    return plan(suites, total, timings)[index - 1]


def estimates(suites: Sequence[SuiteConfig], timings: Mapping[str, float]) -> dict[str, float]:
    """The duration each suite is planned with: its recorded one, else the median of those known."""
    known = [timings[s.name] for s in suites if _usable(timings.get(s.name))]
    fallback = statistics.median(known) if known else DEFAULT_DURATION
    return {s.name: timings[s.name] if _usable(timings.get(s.name)) else fallback for s in suites}


def _balanced(
    suites: Sequence[SuiteConfig], total: int, timings: Mapping[str, float]
) -> dict[str, int]:
    cost = estimates(suites, timings)
    loads = [0.0] * total
    slot: dict[str, int] = {}
    # Longest first; equal durations in name order, so every machine builds the same plan.
    for name in sorted(cost, key=lambda n: (-cost[n], n)):
        target = min(range(total), key=lambda i: (loads[i], i))
        slot[name] = target
        loads[target] += cost[name]
    return slot


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _name(suite: SuiteConfig) -> str:
    return suite.name
