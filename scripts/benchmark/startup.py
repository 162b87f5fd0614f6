"""Scenario startup: the interpreter, the import, `--version`, `run --list`, and the peak
memory of a run of 8 suites."""

from __future__ import annotations

from pathlib import Path

from benchmark.bench import Bench
from benchmark.figures import Row, Scenario, log
from benchmark.procs import TreeSampler, run_proc


def startup(bench: Bench, sc: Scenario) -> None:
    repeat = max(10, bench.args.repeat)
    config = bench.config("bench-startup", 8)
    commands = {
        "python -c pass (interpreter floor)": [bench.python, "-c", "pass"],
        "python -c 'import hodei_e2e.cli'": [bench.python, "-c", "import hodei_e2e.cli"],
        "hodei-e2e --version": [bench.hodei, "--version"],
        "hodei-e2e run --list (8 suites)": [bench.hodei, "run", "--list", "-c", str(config)],
    }
    labels = ("python", "import cli", "--version", "run --list")
    for (name, argv), label in zip(commands.items(), labels, strict=True):
        cwd = bench.tmp if argv[0] == bench.hodei else None  # python: from the checkout

        def once(argv: list[str] = argv, cwd: Path | None = cwd) -> float:
            return run_proc(argv, env=bench.env, cwd=cwd).check().seconds

        sc.rows.append(Row(name, bench.measure(label, once, repeat=repeat)))
    peak_memory(bench, sc)


def peak_memory(bench: Bench, sc: Scenario) -> None:
    project = "bench-mem"
    config = bench.config(project, 8)
    rss: list[float] = []
    tree: list[float] = []
    cli_hwm: list[float] = []
    dog_hwm: list[float] = []
    try:
        for i in range(bench.args.warmup + bench.args.repeat):
            sampler = TreeSampler()
            proc = bench.cli("run", "-c", str(config), "-q", on_start=sampler.start)
            sampler.stop()
            proc.check()
            log(
                f"  peak memory {i + 1}: ru_maxrss {proc.maxrss_kib} KiB, tree "
                f"{sampler.peak_sum_kib} KiB ({sampler.samples} samples)"
            )
            if i < bench.args.warmup:
                continue
            rss.append(proc.maxrss_kib)
            tree.append(sampler.peak_sum_kib)
            cli_hwm.append(sampler.hwm.get("cli", 0))
            dog_hwm.append(sampler.hwm.get("watchdog", 0))
    finally:
        bench.remove_project(project)
    sc.rows.append(
        Row(
            "run of 8 suites: peak RSS, ru_maxrss (wait4)",
            rss,
            unit="KiB",
            note="largest single process of the CLI and its waited-for children",
        )
    )
    sc.rows.append(Row("run of 8 suites: CLI VmHWM", cli_hwm, unit="KiB"))
    sc.rows.append(Row("run of 8 suites: watchdog VmHWM", dog_hwm, unit="KiB"))
    sc.rows.append(
        Row(
            "run of 8 suites: whole tree, sampled peak",
            tree,
            unit="KiB",
            note="sum of VmRSS of the CLI, watchdog and suites, every 20 ms",
        )
    )
