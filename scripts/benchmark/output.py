"""Scenario output (issue 15): what a suite's output costs a run.

- Throughput: a suite printing SIZE of short lines (`yes '...' | head -c SIZE`), through a run
  (its duration from the JSON report) against the same command writing into a file, in the same
  rounds; and the wall time such a suite adds to a run, against a run of `true`.
- One 200 MB line from a passing suite: the CLI's peak RSS (VmHWM) and the JUnit file's size.
- One 100 MB line from a failing suite in GitHub Actions mode: peak RSS, and what reached the
  terminal (stderr), the `::group::` (stdout), the step summary and the JUnit file.
"""

from __future__ import annotations

import json
import shlex

from benchmark.bench import Bench
from benchmark.figures import Row, Scenario
from benchmark.procs import TreeSampler, run_proc

MB = 1_000_000
LINE = "test some::module::name ... ok"


def chatty(size: int) -> str:
    return f"yes {shlex.quote(LINE)} | head -c {size}"


def long_line(size: int) -> str:
    return f"head -c {size} /dev/zero | tr '\\0' a"


def output(bench: Bench, sc: Scenario) -> None:
    size = (20 if bench.args.quick else 100) * MB
    project, trivial_project = "bench-out", "bench-out-trivial"
    config = bench.config(project, command=chatty(size))
    trivial = bench.config(trivial_project)
    report = bench.tmp / project / "report.json"
    sink = bench.tmp / project / "into-a-file.txt"
    durations: list[float] = []

    def into_file() -> float:
        argv = ["sh", "-c", f"{chatty(size)} > {shlex.quote(str(sink))}"]
        proc = run_proc(argv, env=bench.env, cwd=bench.tmp).check()
        sink.unlink()
        return proc.seconds

    def through_run() -> float:
        seconds = bench.run_cli(config, "--json", str(report))
        doc = json.loads(report.read_text(encoding="utf-8"))
        durations.append(float(doc["suites"][0]["duration"]))
        return seconds

    sc.notes.append(
        f"the suite: `{chatty(size)}` ({size // MB} MB, {len(LINE) + 1}-byte lines); "
        "'into a file': `sh -c '<it> > FILE'`; 'through a run': the suite's duration in the "
        "JSON report of `run -q` (command start to its output read, logged and parsed)"
    )
    try:
        got = bench.interleaved(
            {
                "into a file": into_file,
                "run, trivial suite": lambda: bench.run_cli(trivial),
                "run, chatty suite": through_run,
            }
        )
    finally:
        bench.remove_project(project)
        bench.remove_project(trivial_project)
    durations = durations[bench.args.warmup :]
    mb = size // MB
    sc.rows.append(Row(f"{mb} MB of short lines into a file (wall)", got["into a file"]))
    sc.rows.append(Row(f"{mb} MB of short lines through a run (the suite's duration)", durations))
    sc.rows.append(Row("run of 1 trivial suite (wall)", got["run, trivial suite"]))
    sc.rows.append(Row(f"run of 1 suite printing {mb} MB (wall)", got["run, chatty suite"]))
    sc.rows.append(
        Row(
            f"throughput through a run, {mb} MB",
            [size / MB / d for d in durations if d > 0],
            unit="MB/s",
        )
    )
    _long_lines(bench, sc)


def _long_lines(bench: Bench, sc: Scenario) -> None:
    runs = max(1, min(2, bench.args.repeat))
    passing = bench.config("bench-out-line", command=long_line(200 * MB))
    failing = bench.config("bench-out-fail", command=long_line(100 * MB) + "; exit 1")
    github_env = {**bench.env, "GITHUB_ACTIONS": "true", "CI": "true"}
    rss: list[float] = []
    junit_sizes: list[float] = []
    fail_rss: list[float] = []
    sizes: dict[str, list[float]] = {"stderr": [], "stdout": [], "summary": [], "junit": []}
    try:
        for _ in range(runs):
            junit = passing.parent / "junit.xml"
            sampler = TreeSampler()
            proc = bench.cli(
                "run", "-c", str(passing), "-q", "--junit", str(junit), on_start=sampler.start
            )
            sampler.stop()
            proc.check()
            rss.append(sampler.hwm.get("cli", 0))
            junit_sizes.append(junit.stat().st_size)

            junit = failing.parent / "junit.xml"
            summary = failing.parent / "summary.md"
            summary.write_text("", encoding="utf-8")
            sampler = TreeSampler()
            argv = [bench.hodei, "run", "-c", str(failing), "--junit", str(junit)]
            proc = run_proc(
                argv,
                env={**github_env, "GITHUB_STEP_SUMMARY": str(summary)},
                cwd=bench.tmp,
                on_start=sampler.start,
            )
            sampler.stop()
            if proc.code != 1:
                raise RuntimeError(f"the failing 100 MB-line run exited {proc.code}, not 1")
            fail_rss.append(sampler.hwm.get("cli", 0))
            sizes["stderr"].append(len(proc.stderr.encode()))
            sizes["stdout"].append(len(proc.stdout.encode()))
            sizes["summary"].append(summary.stat().st_size)
            sizes["junit"].append(junit.stat().st_size)
    finally:
        for project in ("bench-out-line", "bench-out-fail"):
            bench.remove_project(project)
    sc.rows.append(Row("a passing 200 MB line: CLI peak RSS (VmHWM)", rss, unit="KiB"))
    sc.rows.append(Row("a passing 200 MB line: JUnit file", junit_sizes, unit="B"))
    sc.rows.append(
        Row("a failing 100 MB line, GitHub mode: CLI peak RSS (VmHWM)", fail_rss, unit="KiB")
    )
    for name, label in (
        ("stderr", "the terminal (stderr)"),
        ("stdout", "the ::group:: (stdout)"),
        ("summary", "the step summary"),
        ("junit", "the JUnit file"),
    ):
        sc.rows.append(Row(f"a failing 100 MB line, GitHub mode: {label}", sizes[name], unit="B"))


def output_targets(
    scenarios: dict[str, Scenario],
) -> list[tuple[str, float, str, bool | None, str]]:
    """(target, measured, unit, passed, detail) for the `output` scenario's figures."""
    sc = scenarios.get("output")
    if sc is None:
        return []

    def find(prefix: str) -> float | None:
        row = next((r for r in sc.rows if r.name.startswith(prefix) and r.samples), None)
        return row.median if row else None

    def find_in(part: str) -> float | None:
        row = next((r for r in sc.rows if part in r.name and r.samples), None)
        return row.median if row else None

    out: list[tuple[str, float, str, bool | None, str]] = []
    speed = find("throughput through a run")
    into_file = find_in("MB of short lines into a file")
    through = find_in("MB of short lines through a run")
    if speed is not None and into_file and through:
        ratio = through / into_file
        out.append(
            (
                "suite output >= 100 MB/s, or within 2x of writing to a file",
                speed,
                "MB/s",
                speed >= 100 or ratio <= 2,
                f"{ratio:.2f}x the same command into a file",
            )
        )
    chatty_wall = find("run of 1 suite printing")
    trivial_wall = find("run of 1 trivial suite")
    if chatty_wall is not None and trivial_wall is not None:
        out.append(
            (
                "(info) time a chatty suite adds to a run",
                chatty_wall - trivial_wall,
                "s",
                None,
                "wall, against a run of `true`",
            )
        )
    rss = find("a passing 200 MB line: CLI peak RSS")
    if rss is not None:
        out.append(("peak RSS <= 100 MB for a 200 MB line", rss, "KiB", rss <= 100 * MB / 1024, ""))
    junit = find("a passing 200 MB line: JUnit")
    if junit is not None:
        out.append(("JUnit under 2 MB for a 200 MB line", junit, "B", junit < 2 * MB, ""))
    return out
