"""The benchmark's command line, and the run of the scenarios it picks."""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import benchmark
from benchmark import cleanup, databases, external, output, runs, startup
from benchmark.bench import ROOT, Bench, Options
from benchmark.figures import Scenario, loadavg, log
from benchmark.report import machine_facts, print_scenario, write_results
from hodei_e2e.engine.docker import Engine

# name -> (title, the function that measures it)
SCENARIOS: dict[str, tuple[str, Callable[[Bench, Scenario], None]]] = {
    "cold": ("1. cold start: one trivial suite, no container yet, image present", runs.cold),
    "suites": ("2. N trivial suites: one server vs a container per suite", runs.suites),
    "warm": ("3. warm run with a reused server", runs.warm),
    "dbcreate": ("4. suite database creation (20-table template)", databases.dbcreate),
    "imagecheck": ("5. image check, nothing changed, 2,000-file context", external.imagecheck),
    "cleanup": (f"6. cleanup of {cleanup.ORPHANS} orphaned containers", cleanup.cleanup),
    "startup": ("7. start-up time and peak memory", startup.startup),
    "output": ("8. suite output: throughput, one 200 MB line", output.output),
    "rust": (
        "8. a Rust workspace (examples/hodei-mini) vs the seed script's sequence",
        external.rust,
    ),
}


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=(benchmark.__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Scenarios: " + ", ".join(SCENARIOS),
    )
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per figure (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (1)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="repeat 2, N=8 only, fewer database samples (a CI smoke run)",
    )
    parser.add_argument("--only", default="", help="comma-separated scenarios to run")
    parser.add_argument(
        "--tc-labels",
        choices=("strip", "keep"),
        default="strip",
        help="strip (default) or keep testcontainers' org.testcontainers labels: any hodei-e2e "
        "run on the engine removes the Testcontainers containers created while it ran",
    )
    parser.add_argument(
        "--orphans",
        choices=("other-host", "dead-pid"),
        default="other-host",
        help="owner of the cleanup scenario's orphans: a dead pid on another host (default; "
        "safe from other runs' start-of-run sweeps) or on this host",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "bench-results" / "bench.json",
        help="where the result goes (default bench-results/bench.json); "
        "a Markdown copy goes next to it",
    )
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 5)
    if repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1 and --warmup >= 0")
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return Options(
        repeat=repeat,
        warmup=args.warmup,
        quick=args.quick,
        scenarios=only or list(SCENARIOS),
        tc_labels=args.tc_labels,
        orphans=args.orphans,
        json=args.json,
    )


def find_hodei() -> str | None:
    hodei = Path(sys.executable).parent / "hodei-e2e"
    return str(hodei) if hodei.exists() else shutil.which("hodei-e2e")


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    hodei = find_hodei()
    if hodei is None:
        log("no hodei-e2e next to this Python nor on PATH: run scripts/bench")
        return 2
    lock_path = Path(tempfile.gettempdir()) / f"hodei-bench-{os.getuid()}.lock"
    lock = lock_path.open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another benchmark is running (lock {lock_path})")
        return 2
    engine = Engine.connect()
    pg_image = os.environ.get("HODEI_E2E_POSTGRES_IMAGE") or "hodei-e2e.local/postgres:15"
    base_image = os.environ.get("HODEI_E2E_BASE_IMAGE") or "hodei-e2e.local/busybox:latest"
    for image in (pg_image, base_image):
        if engine.image_info(image) is None:
            log(f"image {image} is missing: run scripts/bootstrap (or scripts/bench)")
            return 2
    facts = machine_facts(engine)
    log(
        f"{facts['nproc']} CPUs, load {facts['loadavg_at_start']}, docker "
        f"{facts['docker']['server']}, postgres image {pg_image}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="hodei-bench-"))
    bench = Bench(args, tmp, engine, hodei, sys.executable, pg_image, base_image)
    if gone := bench.remove_all_bench():
        log(f"removed {gone} container(s) an earlier benchmark left")
    began = time.perf_counter()
    try:
        for name in args.scenarios:
            run_scenario(bench, name)
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        return 130
    finally:
        if bench.scenarios:  # first: an engine that stopped answering must not cost the figures
            write_results(bench, facts, time.perf_counter() - began)
        try:
            if left := bench.remove_all_bench():
                log(f"removed {left} leftover container(s)")
        except Exception as error:
            log(f"could not remove what the benchmark left ({error}): run it again later")
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any(sc.error for sc in bench.scenarios.values()) else 0


def run_scenario(bench: Bench, name: str) -> None:
    """One scenario; a failed one is reported, and the others still run."""
    title, measure = SCENARIOS[name]
    sc = Scenario(name, title, load_at_start=loadavg())
    bench.scenarios[name] = sc
    log(f"{sc.title} (load {sc.load_at_start[0]:.2f})")
    start = time.perf_counter()
    try:
        measure(bench, sc)
    except Exception as error:
        sc.error = f"{type(error).__name__}: {error}"
        log(f"  {name} failed: {sc.error}")
    sc.seconds = time.perf_counter() - start
    print_scenario(sc)
