"""Scenarios measured by a program of their own: imagecheck (image_check.py, in a process of
its own) and rust (scripts/bench_rust.py, examples/hodei-mini against the seed's sequence)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from benchmark.bench import ROOT, Bench
from benchmark.figures import Row, Scenario
from benchmark.procs import run_proc

IMAGE_CHECK = Path(__file__).resolve().parent / "image_check.py"


def imagecheck(bench: Bench, sc: Scenario) -> None:
    """image_check.py's samples, from the JSON it writes."""
    out = bench.tmp / "imagecheck.json"
    options = ["--files", "2000", "--runs", str(8 if bench.args.quick else 20)]
    options += ["--cli-runs", str(bench.args.repeat)]
    argv = [bench.python, str(IMAGE_CHECK), *options, "--json", str(out)]
    proc = run_proc(argv, env=bench.env, cwd=ROOT).check()
    sc.extra["command"] = shlex.join(argv)
    sc.extra["stdout"] = proc.stdout[-4000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    sc.extra["result"] = doc
    for row in doc["rows"]:
        sc.rows.append(Row(str(row["name"]), [float(x) for x in row["samples"]]))
    sc.notes.append(f"by `{shlex.join([str(IMAGE_CHECK.relative_to(ROOT)), *options])}`")
    sc.notes += [f"  {fact}" for fact in doc["facts"]]


RUST_ROWS = {
    "tool cold": "hodei-e2e run, cold target dir (wall)",
    "seed cold": "seed sequence, cold target dir (wall)",
    "tool warm": "hodei-e2e run, warm target dir (wall)",
    "seed warm": "seed sequence, warm target dir (wall)",
    "seed cold, dev worker": "(info) seed sequence, cold, worker in the dev profile (wall)",
}


def rust(bench: Bench, sc: Scenario) -> None:
    from bench_rust import median_sample, rust_scenario  # scripts/ is on sys.path

    env = {k: v for k, v in bench.env.items() if k != "NO_COLOR"} | {"NO_COLOR": "1"}
    samples, notes = rust_scenario(
        bench.tmp,
        bench.hodei,
        env,
        bench.pg_image,
        cold_repeat=1 if bench.args.quick else 3,
        warm_repeat=1 if bench.args.quick else 2,
        dev_worker=not bench.args.quick,
    )
    for key, label in RUST_ROWS.items():
        sc.rows.append(Row(label, [m.total for m in samples[key]]))
        shown = median_sample(samples[key])
        steps = shown.steps if shown else {}
        sc.rows += [Row(f"  {key}: {step}", [seconds]) for step, seconds in steps.items()]
    sc.notes += notes
    sc.notes.append("the indented steps are those of each figure's median sample")
