"""What every scenario shares: the options, the engine, configs, CLI runs and rounds of samples.

The tool always runs through its real CLI as a subprocess, timed by the wall clock around the
subprocess; the benchmark's own bookkeeping (its containers, by their labels) goes through
hodei_e2e's `Engine`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.figures import BenchError, Scenario, fmt, log
from benchmark.procs import Proc, run_proc
from benchmark.timeline import RunReport
from hodei_e2e.engine.docker import Engine

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH_LABEL = "io.hodei.bench"  # on every container the benchmark itself creates
E2E_LABEL = "io.hodei.e2e"
E2E_PROJECT = f"{E2E_LABEL}.project"
# The projects of the configs (and the testcontainers runs) the benchmark makes: only these are
# removed at its start and end, whoever their owner (it holds a lock while it runs).
OWN_PROJECTS = re.compile(
    r"bench-(cold|tc-cold|(tc-|iso-)?n\d+|warm|dbcreate|cleanup|startup|mem|out(-[a-z]+)?"
    r"|rust|rust-seed)"
)
PASSWORD = "bench-secret"
TC_SCRIPT = Path(__file__).resolve().parent / "tc_postgres.py"
TC_ATTEMPTS = 3


@dataclass(frozen=True)
class Options:
    repeat: int
    warmup: int
    quick: bool
    scenarios: list[str]
    tc_labels: str  # "strip" or "keep"
    orphans: str  # "other-host" or "dead-pid"
    json: Path


@dataclass
class Bench:
    args: Options
    tmp: Path
    engine: Engine
    hodei: str
    python: str
    pg_image: str
    base_image: str
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    tc_retries: list[str] = field(default_factory=list)  # why a testcontainers run was redone

    @property
    def env(self) -> dict[str, str]:
        """The environment of what the benchmark runs: its own, without a config, the path
        scripts/bench adds for `python -m benchmark`, and colours."""
        env = dict(os.environ)
        env.pop("HODEI_E2E_CONFIG", None)
        env.setdefault("NO_COLOR", "1")
        paths = [p for p in env.pop("PYTHONPATH", "").split(os.pathsep) if p]
        kept = [p for p in paths if Path(p).resolve() != ROOT / "scripts"]
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
        return env

    # -- configs and CLI runs --

    def config(
        self, project: str, suites: int = 1, *, command: str = "true", extra_postgres: str = ""
    ) -> Path:
        """A config in its own directory (the tool keeps its logs next to it)."""
        directory = self.tmp / project
        directory.mkdir(parents=True, exist_ok=True)
        suite_lines = "".join(
            f"  s{i}:\n    command: {json.dumps(command)}\n" for i in range(1, suites + 1)
        )
        text = (
            "version: 1\n"
            f"project: {project}\n"
            "postgres:\n"
            f"  image: {self.pg_image}\n"
            f"  password: {PASSWORD}\n"
            "  tmpfs: true\n"
            f"{extra_postgres}"
            "suites:\n"
            f"{suite_lines}"
        )
        path = directory / "e2e.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def cli(
        self,
        *args: str,
        on_start: Callable[[int], None] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        return run_proc([self.hodei, *args], env=self.env, cwd=cwd or self.tmp, on_start=on_start)

    def run_cli(self, config: Path, *extra: str) -> float:
        return self.cli("run", "-c", str(config), "-q", *extra).check().seconds

    def run_report(self, config: Path, *extra: str) -> RunReport:
        """`run -q --json` of `config`: the process and its JSON report."""
        report = config.parent / "report.json"
        report.unlink(missing_ok=True)
        proc = self.cli("run", "-c", str(config), "-q", "--json", str(report), *extra).check()
        doc = json.loads(report.read_text(encoding="utf-8"))
        return RunReport(proc, doc, report.stat().st_mtime)

    # -- rounds of samples --

    def measure(
        self,
        label: str,
        fn: Callable[[], float],
        *,
        repeat: int | None = None,
        warmup: int | None = None,
    ) -> list[float]:
        return self.interleaved({label: fn}, repeat=repeat, warmup=warmup)[label]

    def interleaved(
        self,
        fns: dict[str, Callable[[], float]],
        *,
        repeat: int | None = None,
        warmup: int | None = None,
    ) -> dict[str, list[float]]:
        """Each round runs every function once, in turn, so that a change in the machine's load
        falls on all of them alike. The warm-up rounds are not kept."""
        repeat = self.args.repeat if repeat is None else repeat
        warmup = self.args.warmup if warmup is None else warmup
        samples: dict[str, list[float]] = {label: [] for label in fns}
        for round_ in range(warmup + repeat):
            what = (
                f"warm-up {round_ + 1}/{warmup}"
                if round_ < warmup
                else (f"{round_ - warmup + 1}/{repeat}")
            )
            for label, fn in fns.items():
                seconds = fn()
                log(f"  {label}: {what} {fmt(seconds)}")
                if round_ >= warmup:
                    samples[label].append(seconds)
        return samples

    def testcontainers(self, project: str, count: int) -> dict[str, Any]:
        """One subprocess (tc_postgres.py): start, connect to, and stop `count`
        PostgresContainers in turn."""
        env = {**self.env, "TESTCONTAINERS_RYUK_DISABLED": "true", "PYTHONWARNINGS": "ignore"}
        argv = [self.python, str(TC_SCRIPT), self.pg_image, str(count), project]
        for attempt in range(1, TC_ATTEMPTS + 1):
            proc = run_proc([*argv, self.args.tc_labels], env=env, cwd=self.tmp)
            if proc.code == 0 or attempt == TC_ATTEMPTS:
                break
            # Another process removed its container under it (a hodei-e2e run on this engine
            # removes every Testcontainers container created while it ran): try again.
            self.tc_retries.append(proc.stderr.strip().splitlines()[-1][:300])
            log(f"  testcontainers failed ({self.tc_retries[-1]}); trying again")
            self.remove_project(project)
        proc.check()
        try:
            result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"testcontainers script printed no result: {proc.stdout!r}") from None
        result["wall"] = proc.seconds
        if result.get("stop_errors"):
            self.tc_retries.extend(f"stop failed: {e}" for e in result["stop_errors"])
        return result

    # -- the benchmark's containers --

    def container_ids(self, labels: Iterable[str]) -> list[str]:
        return [c.id for c in self.engine.containers(labels)]

    def remove(self, ids: list[str]) -> int:
        """Force-remove containers, 16 at a time; how many are gone."""
        return sum(r.error is None for r in self.engine.remove(ids, parallel=16))

    def remove_project(self, project: str) -> int:
        gone = self.remove(self.container_ids([f"{E2E_PROJECT}={project}"]))
        gone += self.remove(self.container_ids([f"{BENCH_LABEL}.project={project}"]))
        return gone

    def remove_all_bench(self) -> int:
        """Whatever an earlier benchmark left: its own containers, and the tool's containers of
        the benchmark's projects."""
        doomed = {
            c.id
            for c in self.engine.containers([BENCH_LABEL])
            if OWN_PROJECTS.fullmatch(c.labels.get(f"{BENCH_LABEL}.project", ""))
        }
        doomed |= {
            c.id
            for c in self.engine.containers([E2E_PROJECT])
            if OWN_PROJECTS.fullmatch(c.labels.get(E2E_PROJECT, ""))
        }
        return self.remove(sorted(doomed))
