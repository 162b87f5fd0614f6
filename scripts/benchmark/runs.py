"""Scenarios cold, suites and warm: `hodei-e2e run` of trivial suites against testcontainers
handing out Postgres containers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmark.bench import E2E_PROJECT, Bench
from benchmark.figures import Row, Scenario
from benchmark.timeline import split_timeline


def timeline_runs(bench: Bench, sc: Scenario, config: Path, *extra: str, fresh: str = "") -> None:
    """Up to 3 `run --json` of `config`: where their time goes, from the reports. `fresh`: a
    project whose containers are removed before each (a cold start)."""
    runs = []
    for _ in range(max(1, min(3, bench.args.repeat))):
        if fresh:
            bench.remove_project(fresh)
        runs.append(bench.run_report(config, *extra))
    sc.extra["time_split"] = split_timeline(runs)
    sc.extra["report"] = dict(runs[-1].doc)


def cold(bench: Bench, sc: Scenario) -> None:
    project = "bench-cold"
    config = bench.config(project)
    sc.notes.append(
        "hodei-e2e: wall time of `hodei-e2e run -q` (one suite `true`), no container before "
        "it, image present; it starts Postgres, creates and drops the suite's database, and "
        "removes the container before it exits. testcontainers: one PostgresContainer(image, "
        f"driver=None), Ryuk disabled, its org.testcontainers labels {bench.args.tc_labels} "
        "(--tc-labels)."
    )

    def tool() -> float:
        bench.remove_project(project)  # "no container yet"
        return bench.run_cli(config)

    tc_ready: list[float] = []
    tc_start: list[float] = []

    def tc() -> float:
        result = bench.testcontainers("bench-tc-cold", 1)
        tc_ready.append(result["runs"][0]["ready"])
        tc_start.append(result["runs"][0]["start"])
        return float(result["wall"])

    try:
        got = bench.interleaved({"hodei-e2e": tool, "testcontainers": tc})
        skip = bench.args.warmup  # the warm-up samples are not figures
        sc.rows.append(Row("hodei-e2e run, 1 trivial suite (wall)", got["hodei-e2e"]))
        sc.rows.append(
            Row(
                "testcontainers: time to ready Postgres",
                tc_ready[skip:],
                note="start() to first connect, in-process",
            )
        )
        sc.rows.append(Row("testcontainers: start() alone", tc_start[skip:]))
        sc.rows.append(
            Row(
                "testcontainers: whole subprocess (wall)",
                got["testcontainers"],
                note="interpreter+import+start+connect+stop",
            )
        )
        timeline_runs(bench, sc, config, fresh=project)
        if bench.tc_retries:
            sc.notes.append(f"testcontainers runs redone: {bench.tc_retries}")
            bench.tc_retries.clear()
    finally:
        bench.remove_project(project)
        bench.remove_project("bench-tc-cold")


def suites(bench: Bench, sc: Scenario) -> None:
    counts = (8,) if bench.args.quick else (1, 4, 8)
    sc.notes.append(
        "one server: `run -q` (a database per suite, the default jobs); container per suite "
        "(testcontainers): one subprocess starting, connecting to and stopping one "
        "PostgresContainer per suite one after another; --isolation container: `run -q "
        "--isolation container`."
    )
    for n in counts:
        project, tc_project, iso_project = f"bench-n{n}", f"bench-tc-n{n}", f"bench-iso-n{n}"
        config = bench.config(project, n)
        iso_config = bench.config(iso_project, n)

        def tc(n: int = n, project: str = tc_project) -> float:
            return float(bench.testcontainers(project, n)["wall"])

        fns: dict[str, Callable[[], float]] = {
            f"N={n}: hodei-e2e, one server": partial(bench.run_cli, config),
            f"N={n}: testcontainers, container per suite": tc,
            f"N={n}: hodei-e2e --isolation container": partial(
                bench.run_cli, iso_config, "--isolation", "container"
            ),
        }
        try:
            for label, samples in bench.interleaved(fns).items():
                sc.rows.append(Row(label, samples))
        finally:
            for p in (project, tc_project, iso_project):
                bench.remove_project(p)
    if bench.tc_retries:
        sc.notes.append(f"testcontainers runs redone: {bench.tc_retries}")


def warm(bench: Bench, sc: Scenario) -> None:
    project = "bench-warm"
    config = bench.config(project)
    sc.notes.append(
        "`run -q --reuse` with the reusable server already up (the first --reuse run, which "
        "creates it, is reported apart). At the end `hodei-e2e cleanup --all -c <its config>` "
        "removes the singleton (then anything left, by its labels)."
    )
    try:
        bench.remove_project(project)
        first = bench.run_cli(config, "--reuse")
        sc.rows.append(Row("first run --reuse (creates the singleton)", [first]))
        sc.rows.append(
            Row(
                "warm run --reuse, 1 trivial suite (wall)",
                bench.measure("warm", lambda: bench.run_cli(config, "--reuse")),
            )
        )
        timeline_runs(bench, sc, config, "--reuse")
        proc = bench.cli("cleanup", "--all", "--json", "-c", str(config))
        left = bench.container_ids([f"{E2E_PROJECT}={project}"])
        sc.notes.append(
            f"`hodei-e2e cleanup --all -c <its config>` exited {proc.code} and left "
            f"{len(left)} of the project's containers"
        )
    finally:
        leases = Path(tempfile.gettempdir()) / f"hodei-e2e-leases-{os.getuid()}"
        for container_id in bench.container_ids([f"{E2E_PROJECT}={project}"]):
            (leases / f"{container_id[:32]}.lock").unlink(missing_ok=True)
        bench.remove_project(project)
