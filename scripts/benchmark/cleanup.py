"""Scenario cleanup: `hodei-e2e cleanup` of 50 orphaned containers, against the engine's own
floor (the same force-removals from this process)."""

from __future__ import annotations

import json
import shlex
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmark.bench import BENCH_LABEL, E2E_LABEL, E2E_PROJECT, Bench
from benchmark.figures import BenchError, Row, Scenario
from hodei_e2e.engine.docker import ContainerSpec

ORPHANS = 50
OTHER_HOST = "bench-other-host.invalid"  # owner host of the orphans with --orphans other-host
DEAD_PID = 999999  # above the default pid_max (32768); checked at run time
PROJECT = "bench-cleanup"


def make_orphans(bench: Bench, owner: str, *, other_host: bool) -> set[str]:
    """ORPHANS busybox containers (`sleep 300`) labelled as the tool's, owned by `owner`."""
    labels = {
        E2E_LABEL: "true",
        f"{E2E_LABEL}.owner": owner,
        f"{E2E_LABEL}.role": "postgres",
        f"{E2E_LABEL}.run-id": "bench",
        E2E_PROJECT: PROJECT,
        f"{E2E_LABEL}.created": str(int(time.time())),
        f"{E2E_LABEL}.reuse": "false",
        BENCH_LABEL: "true",
        f"{BENCH_LABEL}.project": PROJECT,
    }
    spec = ContainerSpec(image=bench.base_image, labels=labels, command=["sleep", "300"])
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = {c.id for c in pool.map(lambda _: bench.engine.create(spec), range(ORPHANS))}
    if other_host:
        time.sleep(1.2)  # all of them older than --older-than 1s
    return made


def cleanup(bench: Bench, sc: Scenario) -> None:
    project_dir = bench.config(PROJECT).parent  # `cleanup` runs there, as in a checkout
    other_host = bench.args.orphans == "other-host"
    owner = f"{OTHER_HOST if other_host else socket.gethostname()}:{DEAD_PID}"
    command = ["cleanup", "--json", *(["--older-than", "1s"] if other_host else [])]
    sc.notes.append(
        f"{ORPHANS} busybox containers (`sleep 300`, running) labelled as the tool's orphans "
        f"(owner {owner}), created in parallel before each sample, untimed; the sample is "
        f"the wall time of `hodei-e2e {shlex.join(command)}` in a directory with an e2e.yaml "
        "(not scoped to its project: no -c)."
    )
    if other_host:
        sc.notes.append(
            "--orphans other-host (the default): every `hodei-e2e run` on this engine sweeps "
            "this host's dead owners' containers at its start, so while other runs go on "
            "they would take some of ours; another host's are only removed with "
            "--older-than. The removal is the same; --orphans dead-pid uses this host."
        )
    elif Path(f"/proc/{DEAD_PID}").exists():
        raise BenchError(f"pid {DEAD_PID} is alive here: the orphans would not be orphans")
    strays: list[int] = []

    def floor() -> float:
        mine = make_orphans(bench, owner, other_host=other_host)
        doomed = [i for i in bench.container_ids([f"{E2E_PROJECT}={PROJECT}"]) if i in mine]
        start = time.perf_counter()
        bench.remove(doomed)
        return time.perf_counter() - start

    def sample() -> float:
        mine = make_orphans(bench, owner, other_host=other_host)
        proc = bench.cli(*command, cwd=project_dir).check()
        removed = json.loads(proc.stdout)["removed"]
        ours = {r["id"] for r in removed if r["result"] == "removed"} & mine
        strays.append(len(removed) - len(ours))
        left = bench.container_ids([f"{E2E_PROJECT}={PROJECT}"])
        if left or len(ours) != ORPHANS:
            raise BenchError(
                f"cleanup removed {len(ours)} of our {ORPHANS} orphans; {len(left)} left "
                "(another run's start-of-run sweep may have taken some: try --orphans "
                "other-host)"
            )
        return proc.seconds

    try:
        bench.remove_project(PROJECT)
        got = bench.interleaved({"cleanup": sample, "engine floor": floor})
        sc.rows.append(Row(f"hodei-e2e cleanup, {ORPHANS} orphans (wall)", got["cleanup"]))
        sc.rows.append(
            Row(
                f"engine floor: {ORPHANS} force-removals, 16 threads, in-process",
                got["engine floor"],
                note="hodei_e2e's Engine.remove from this process, no start-up, no listing",
            )
        )
        if any(strays):
            sc.notes.append(f"it also removed other orphans on the engine: {strays} per sample")
    finally:
        bench.remove_project(PROJECT)
