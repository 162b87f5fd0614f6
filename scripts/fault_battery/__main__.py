"""`scripts/faults [--quick] [-n N] [--seed S] [--only a,b]`: every scenario N times (default 20,
`--quick` 3), the signal at a seeded random instant of its phase; a table of passes, the worst
time to exit and the leftovers. Exits 1 when any try failed or left anything behind."""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from fault_battery.harness import Leftovers, TryFailed, Workspace, leftovers, log, scrub, settle
from fault_battery.scenarios import SCENARIOS, Scenario


@dataclass
class Tally:
    scenario: Scenario
    tries: int = 0
    passes: int = 0
    worst: float = 0.0
    left: Leftovers = field(default_factory=Leftovers)
    failures: list[str] = field(default_factory=list)


def one_try(scenario: Scenario, rng: random.Random, tally: Tally) -> None:
    ws = Workspace(scenario.name)
    tally.tries += 1
    failure = None
    try:
        seconds = scenario.body(ws, rng)
        tally.worst = max(tally.worst, seconds)
        left = settle(ws, 3.0, keep_reused=scenario.keep_reused)
    except TryFailed as error:
        failure, left = str(error), leftovers(ws, keep_reused=scenario.keep_reused)
    except Exception as error:
        failure, left = f"{type(error).__name__}: {error}", leftovers(ws)
    finally:
        scrub(ws)
    after = leftovers(ws)  # what even the tool's cleanup --all could not remove
    for name, values in vars(left).items():
        getattr(tally.left, name).extend(values)
    for name, values in vars(after).items():
        getattr(tally.left, name).extend(v for v in values if v not in getattr(left, name))
    if failure is None and left.count():
        failure = f"left behind: {left.describe()}"
    if failure is None:
        tally.passes += 1
    else:
        tally.failures.append(failure)
        log(f"  ✗ {scenario.name} try {tally.tries}: {failure}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/faults", description=__doc__)
    parser.add_argument("-n", "--tries", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 tries per scenario")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--list", action="store_true", help="list the scenarios and stop")
    args = parser.parse_args()
    if args.list:
        for item in SCENARIOS:
            print(f"{item.name:32} {item.what}")
        return 0
    tries = 3 if args.quick else args.tries
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {s.name for s in SCENARIOS}
    if unknown:
        log(f"faults: unknown scenario(s): {', '.join(sorted(unknown))} (see --list)")
        return 2
    log(f"faults: {len(chosen)} scenario(s) x {tries} tries, seed {seed}")
    started = time.monotonic()
    tallies = []
    for scenario in chosen:
        rng = random.Random(f"{seed}:{scenario.name}")
        tally = Tally(scenario)
        begun = time.monotonic()
        for _ in range(tries):
            one_try(scenario, rng, tally)
        log(f"  {scenario.name}: {tally.passes}/{tally.tries} in {time.monotonic() - begun:.0f}s")
        tallies.append(tally)
    render(tallies, seed, time.monotonic() - started)
    return 0 if all(t.passes == t.tries and not t.left.count() for t in tallies) else 1


def render(tallies: list[Tally], seed: int, seconds: float) -> None:
    table = Table(title=f"fault battery, seed {seed}, {seconds:.0f}s")
    for column in (
        "scenario",
        "passes",
        "worst exit",
        "containers",
        "workers",
        "processes",
        "databases",
        "leases",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for tally in tallies:
        left = tally.left
        table.add_row(
            tally.scenario.name,
            f"{tally.passes}/{tally.tries}",
            f"{tally.worst:.2f}s",
            *(
                str(len(getattr(left, name)))
                for name in ("containers", "workers", "processes", "databases", "leases")
            ),
        )
    Console(width=140).print(table)
    total = sum(t.tries for t in tallies)
    passed = sum(t.passes for t in tallies)
    print(f"faults: {passed} passed, {total - passed} failed")


if __name__ == "__main__":
    sys.exit(main())
