"""What a benchmark run prints and writes: each scenario's table as it ends, then the targets,
bench-results/bench.json and its Markdown copy (bench.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from typing import Any

from benchmark.bench import ROOT, Bench
from benchmark.figures import Scenario, loadavg, scenario_table
from benchmark.targets import targets, targets_table
from benchmark.timeline import timeline_table
from hodei_e2e.engine.docker import Engine


def machine_facts(engine: Engine) -> dict[str, Any]:
    facts = engine.builder_facts()
    info = engine.info()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    def package(name: str) -> str | None:
        from importlib import metadata

        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "nproc": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_at_start": loadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": {
            "server": facts.version,
            "api": facts.api_version,
            "storage_driver": info.get("Driver"),
            "cpus": info.get("NCPU"),
            "containers_at_start": info.get("Containers"),
        },
        "hodei_e2e": package("hodei-e2e"),
        "testcontainers": package("testcontainers"),
        "git": {
            "commit": git("rev-parse", "HEAD"),
            "dirty_hodei_e2e": bool(git("status", "--porcelain", "hodei_e2e")),
        },
    }


def image_facts(engine: Engine, ref: str) -> dict[str, Any]:
    try:
        found = engine.image_info(ref)
    except Exception as error:
        return {"error": str(error)}
    if found is None:
        return {"error": f"no image {ref}"}
    return {"id": found.id, "tags": list(found.tags), "labels": dict(found.labels)}


def print_scenario(sc: Scenario) -> None:
    print(f"\n== {sc.title}" + (f"  [FAILED: {sc.error.splitlines()[0]}]" if sc.error else ""))
    if sc.rows:
        print(scenario_table(sc))
    split = sc.extra.get("time_split")
    if split:
        print()
        print(timeline_table(split))
    for note in sc.notes:
        print(f"  note: {note}")
    sys.stdout.flush()


def write_results(bench: Bench, facts: dict[str, Any], seconds: float) -> None:
    args = bench.args
    rows = targets(bench.scenarios)
    print("\n== ratios and targets")
    print(targets_table(rows))
    facts["loadavg_at_end"] = loadavg()
    command = "scripts/bench" + ("" if not sys.argv[1:] else " " + shlex.join(sys.argv[1:]))
    doc = {
        "command": command,
        "options": {
            "repeat": args.repeat,
            "warmup": args.warmup,
            "quick": args.quick,
            "only": args.scenarios,
        },
        "machine": facts,
        "images": {
            ref: {"ref": ref, **image_facts(bench.engine, ref)}
            for ref in (bench.pg_image, bench.base_image)
        },
        "seconds": round(seconds, 1),
        "scenarios": {name: sc.as_json() for name, sc in bench.scenarios.items()},
        "targets": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    md = args.json.with_suffix(".md")
    md.write_text(markdown(bench, facts, rows, command), encoding="utf-8")
    print(
        f"\nbench: wrote {args.json} and {md} in {seconds:.0f} s "
        f"(load {facts['loadavg_at_start'][0]:.2f} at start, {facts['loadavg_at_end'][0]:.2f} "
        "at end)"
    )


def markdown(bench: Bench, facts: dict[str, Any], rows: list[dict[str, Any]], command: str) -> str:
    docker = facts["docker"]
    parts = [
        f"Measured {facts['date']} on {facts['nproc']} CPUs, Python {facts['python']}, Docker "
        f"{docker['server']} ({docker['storage_driver']}), load average "
        f"{facts['loadavg_at_start'][0]:.2f} at start; reproduce with `{command}`.",
        "",
        targets_table(rows, markdown=True),
    ]
    for sc in bench.scenarios.values():
        if sc.rows:
            parts += ["", f"**{sc.title}**", "", scenario_table(sc, markdown=True)]
    return "\n".join(parts) + "\n"
