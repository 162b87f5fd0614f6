#!/usr/bin/env python3
"""hodei-e2e's benchmark (issue 9; targets in DESIGN.md, "Performance targets").

Every scenario runs `--warmup` untimed times, then `--repeat` timed times, and prints
min/median/max; a final table compares the medians with the targets. Everything also goes to a
JSON file (default bench-results/bench.json) and a Markdown copy next to it (bench.md).

The tool always runs through its real CLI as a subprocess, timed by the wall clock around the
subprocess. testcontainers-python, the baseline, runs in a subprocess as well (interpreter,
import, container, ready, connect, stop), with its reaper disabled (its image cannot be pulled
here). Scenario 4 (suite databases) runs in-process against a server the tool's own functions
start.

Scenarios (--only NAME[,NAME..]):
  cold        a cold `run` of one trivial suite vs testcontainers handing out one Postgres
  suites      N trivial suites: one server (a database each) vs a container per suite
              (testcontainers, one after another) vs `--isolation container`
  warm        `run --reuse` with the server already up
  dbcreate    a suite database: plain, from a 20-table template (WAL_LOG, FILE_COPY), the
              migrations run directly instead, and the pre-created handout
  imagecheck  the image check with nothing changed (scripts/bench_image_check.py)
  cleanup     `hodei-e2e cleanup` of 50 orphaned containers
  startup     `--version`, `run --list`, and the peak memory of a run of 8 suites
  output      a suite's output: MB/s through a run against a file, the time 100 MB of output
              adds, peak RSS and report sizes for one 200 MB line (scripts/bench_output.py)
  rust        examples/hodei-mini under `run` vs the seed script's sequence, cold and warm
              (scripts/bench_rust.py)

Run it through scripts/bench (bootstrap, the bench extra, the local images). Nothing is left
behind: each scenario removes its containers (by its labels) even when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = (
    "cold", "suites", "warm", "dbcreate", "imagecheck", "cleanup", "startup", "output", "rust",
)  # fmt: skip
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
IMAGE_CHECK = ROOT / "scripts" / "bench_image_check.py"
ORPHANS = 50
OTHER_HOST = "bench-other-host.invalid"  # owner host of the orphans with --orphans other-host
DEAD_PID = 999999  # above the default pid_max (32768); checked at run time
TC_ATTEMPTS = 3
CLI_TIMEOUT = 300.0  # a run that takes longer is hung: killed, and the scenario fails


class BenchError(Exception):
    """A scenario could not be measured (its table says why)."""


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    samples: list[float]  # seconds (or KiB when unit == "KiB")
    unit: str = "s"
    note: str = ""
    count: int | None = None  # set when `samples` is [min, median, max] from another tool

    @property
    def n(self) -> int:
        return self.count if self.count is not None else len(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "unit": self.unit, "n": self.n}
        if self.samples:
            out.update(min=self.min, median=self.median, max=self.max)
        if self.count is None:
            out["samples"] = [round(s, 6) for s in self.samples]
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Scenario:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    load_at_start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [r.as_json() for r in self.rows],
            "notes": self.notes,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "load_at_start": self.load_at_start,
            **self.extra,
        }


def fmt(value: float, unit: str = "s") -> str:
    if unit == "MB/s":
        return f"{value:.0f} MB/s"
    if unit == "B":
        return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value / 1e3:.1f} kB"
    if unit == "KiB":
        return f"{value / 1024:.1f} MiB"
    if unit == "x":
        return f"{value:.2f}x"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.01:
        return f"{value * 1000:.0f} ms"
    return f"{value * 1000:.2f} ms"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    if markdown:

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(headers), sep, *(line(r) for r in rows)])

    def plain(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([plain(headers), plain(["-" * w for w in widths]), *(plain(r) for r in rows)])


def scenario_table(scenario: Scenario, *, markdown: bool = False) -> str:
    rows = [
        [
            r.name,
            str(r.n),
            fmt(r.min, r.unit),
            fmt(r.median, r.unit),
            fmt(r.max, r.unit),
            r.note,
        ]
        for r in scenario.rows
        if r.samples
    ]
    rows += [[r.name, "0", "-", "-", "-", r.note] for r in scenario.rows if not r.samples]
    return table(["measurement", "n", "min", "median", "max", "note"], rows, markdown=markdown)


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    argv: list[str]
    seconds: float
    code: int
    stdout: str
    stderr: str
    maxrss_kib: int  # ru_maxrss of wait4: the largest of the process and its waited-for children
    lines: list[tuple[float, str]] = field(default_factory=list)  # stderr lines, when streamed

    def check(self) -> Proc:
        if self.code != 0:
            tail = "\n".join((self.stderr + self.stdout).strip().splitlines()[-15:])
            raise BenchError(f"`{shlex.join(self.argv)}` exited {self.code}:\n{tail}")
        return self


def run_proc(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stream: bool = False,
    on_start: Callable[[int], None] | None = None,
    timeout: float = CLI_TIMEOUT,
) -> Proc:
    """Run `argv`, timed by the wall clock from just before the fork to wait4's return.

    `stream`: read stderr line by line as it comes, each line with its time since the start."""
    argv = list(argv)
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE if stream else err,
            env=env,
            cwd=cwd,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            if on_start is not None:
                on_start(proc.pid)
            if stream:
                assert proc.stderr is not None
                for raw in proc.stderr:
                    lines.append((time.perf_counter() - start, raw.decode(errors="replace")))
                proc.stderr.close()
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stderr = (
            "".join(text for _, text in lines) if stream else err.read().decode(errors="replace")
        )
        return Proc(
            argv,
            seconds,
            proc.returncode,
            out.read().decode(errors="replace"),
            stderr,
            usage.ru_maxrss,
            lines,
        )


class TreeSampler:
    """Samples the RSS of a process and all its descendants from /proc while it runs."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_sum_kib = 0
        self.hwm: dict[str, int] = {}  # role -> largest VmHWM seen
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._loop, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self, root: int) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in descendants(root):
                status = _proc_status(pid)
                if not status:
                    continue
                total += status.get("VmRSS", 0)
                role = _role(pid, root)
                self.hwm[role] = max(self.hwm.get(role, 0), status.get("VmHWM", 0))
            self.peak_sum_kib = max(self.peak_sum_kib, total)
            self.samples += 1
            self._stop.wait(self.interval)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                raw = f.read()
        except OSError:
            continue
        ppid = int(raw[raw.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _proc_status(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "cli"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return "other"
    return "watchdog" if b"hodei_e2e.ownership.reaper" in cmdline else "suites"


# -- Docker (the benchmark's own bookkeeping; the tool is only ever run through its CLI) ---------


@dataclass(frozen=True)
class Container:
    id: str
    labels: dict[str, str]


class Docker:
    """The benchmark's own bookkeeping, through the low-level API: a listing is one call (no
    inspect per container, which fails or hangs on one another process is removing)."""

    def __init__(self) -> None:
        import docker

        self.client = docker.from_env(timeout=120)
        self.api = self.client.api

    def containers(self, labels: Sequence[str]) -> list[Container]:
        found = self.api.containers(all=True, filters={"label": list(labels)})
        return [Container(str(c["Id"]), dict(c.get("Labels") or {})) for c in found]

    def run(self, image: str, command: Sequence[str], labels: dict[str, str]) -> str:
        container_id = str(self.api.create_container(image, list(command), labels=labels)["Id"])
        self.api.start(container_id)
        return container_id

    def remove(self, containers: Sequence[Container]) -> int:
        import docker.errors

        def one(container: Container) -> int:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(container.id, force=True, v=True)
                return 1
            return 0

        if not containers:
            return 0
        with ThreadPoolExecutor(max_workers=min(16, len(containers))) as pool:
            return sum(pool.map(one, containers))

    def remove_project(self, project: str) -> int:
        gone = self.remove(self.containers([f"{E2E_PROJECT}={project}"]))
        gone += self.remove(self.containers([f"{BENCH_LABEL}.project={project}"]))
        return gone

    def remove_all_bench(self) -> int:
        """Whatever an earlier benchmark left: its own containers, and the tool's containers of
        the benchmark's projects."""
        doomed = {
            c.id: c
            for c in self.containers([BENCH_LABEL])
            if OWN_PROJECTS.fullmatch(c.labels.get(f"{BENCH_LABEL}.project", ""))
        }
        for c in self.containers([E2E_PROJECT]):
            if OWN_PROJECTS.fullmatch(c.labels.get(E2E_PROJECT, "")):
                doomed[c.id] = c
        return self.remove(list(doomed.values()))


# -- the benchmark -----------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    docker: Docker
    hodei: str
    python: str
    pg_image: str
    base_image: str
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    tc_retries: list[str] = field(default_factory=list)  # why a testcontainers run was redone

    # -- helpers --

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("HODEI_E2E_CONFIG", None)
        env.setdefault("NO_COLOR", "1")
        return env

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
        stream: bool = False,
        on_start: Callable[[int], None] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        return run_proc(
            [self.hodei, *args], env=self.env, cwd=cwd or self.tmp, stream=stream, on_start=on_start
        )

    def run_cli(self, config: Path, *extra: str) -> float:
        return self.cli("run", "-c", str(config), "-q", *extra).check().seconds

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
        """One subprocess: start, connect to, and stop `count` PostgresContainers in turn."""
        script = self.tmp / "tc_bench.py"
        if not script.exists():
            script.write_text(TC_SCRIPT, encoding="utf-8")
        env = {**self.env, "TESTCONTAINERS_RYUK_DISABLED": "true", "PYTHONWARNINGS": "ignore"}
        for attempt in range(1, TC_ATTEMPTS + 1):
            proc = run_proc(
                [self.python, str(script), self.pg_image, str(count), project, self.args.tc_labels],
                env=env,
                cwd=self.tmp,
            )
            if proc.code == 0 or attempt == TC_ATTEMPTS:
                break
            # Another process removed its container under it (a hodei-e2e run on this engine
            # removes every Testcontainers container created while it ran): try again.
            self.tc_retries.append(proc.stderr.strip().splitlines()[-1][:300])
            log(f"  testcontainers failed ({self.tc_retries[-1]}); trying again")
            self.docker.remove_project(project)
        proc.check()
        try:
            result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"testcontainers script printed no result: {proc.stdout!r}") from None
        result["wall"] = proc.seconds
        if result.get("stop_errors"):
            self.tc_retries.extend(f"stop failed: {e}" for e in result["stop_errors"])
        return result

    # -- scenarios --

    def cold(self, sc: Scenario) -> None:
        project = "bench-cold"
        config = self.config(project)
        sc.notes.append(
            "hodei-e2e: wall time of `hodei-e2e run -q` (one suite `true`), no container before "
            "it, image present; it starts Postgres, creates and drops the suite's database, and "
            "removes the container before it exits. testcontainers: one PostgresContainer(image, "
            f"driver=None), Ryuk disabled, its org.testcontainers labels {self.args.tc_labels} "
            "(--tc-labels)."
        )

        def tool() -> float:
            self.docker.remove_project(project)  # "no container yet"
            return self.run_cli(config)

        def tool_verbose() -> Proc:
            self.docker.remove_project(project)
            return self.cli("run", "-c", str(config), "-v", stream=True).check()

        tc_ready: list[float] = []
        tc_start: list[float] = []

        def tc() -> float:
            result = self.testcontainers("bench-tc-cold", 1)
            tc_ready.append(result["runs"][0]["ready"])
            tc_start.append(result["runs"][0]["start"])
            return float(result["wall"])

        try:
            got = self.interleaved({"hodei-e2e": tool, "testcontainers": tc})
            skip = self.args.warmup  # the warm-up samples are not figures
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
            # where a cold run spends its time: -v step lines, each stamped as it arrives
            runs = [tool_verbose() for _ in range(max(1, min(3, self.args.repeat)))]
            sc.extra["time_split"] = split_timeline(runs)
            sc.extra["verbose_output"] = runs[-1].stderr
            if self.tc_retries:
                sc.notes.append(f"testcontainers runs redone: {self.tc_retries}")
                self.tc_retries.clear()
        finally:
            self.docker.remove_project(project)
            self.docker.remove_project("bench-tc-cold")

    def suites(self, sc: Scenario) -> None:
        counts = (8,) if self.args.quick else (1, 4, 8)
        sc.notes.append(
            "one server: `run -q` (a database per suite, the default jobs); container per suite "
            "(testcontainers): one subprocess starting, connecting to and stopping one "
            "PostgresContainer per suite one after another; --isolation container: `run -q "
            "--isolation container`."
        )
        for n in counts:
            project, tc_project, iso_project = f"bench-n{n}", f"bench-tc-n{n}", f"bench-iso-n{n}"
            config = self.config(project, n)
            iso_config = self.config(iso_project, n)

            def tc(n: int = n, project: str = tc_project) -> float:
                return float(self.testcontainers(project, n)["wall"])

            fns: dict[str, Callable[[], float]] = {
                f"N={n}: hodei-e2e, one server": lambda c=config: self.run_cli(c),
                f"N={n}: testcontainers, container per suite": tc,
                f"N={n}: hodei-e2e --isolation container": lambda c=iso_config: self.run_cli(
                    c, "--isolation", "container"
                ),
            }
            try:
                for label, samples in self.interleaved(fns).items():
                    sc.rows.append(Row(label, samples))
            finally:
                for p in (project, tc_project, iso_project):
                    self.docker.remove_project(p)
        if self.tc_retries:
            sc.notes.append(f"testcontainers runs redone: {self.tc_retries}")

    def warm(self, sc: Scenario) -> None:
        project = "bench-warm"
        config = self.config(project)
        sc.notes.append(
            "`run -q --reuse` with the reusable server already up (the first --reuse run, which "
            "creates it, is reported apart). At the end `hodei-e2e cleanup --all -c <its config>` "
            "removes the singleton (then anything left, by its labels)."
        )
        try:
            self.docker.remove_project(project)
            first = self.run_cli(config, "--reuse")
            sc.rows.append(Row("first run --reuse (creates the singleton)", [first]))
            sc.rows.append(
                Row(
                    "warm run --reuse, 1 trivial suite (wall)",
                    self.measure("warm", lambda: self.run_cli(config, "--reuse")),
                )
            )
            verbose = [
                self.cli("run", "-c", str(config), "-v", "--reuse", stream=True).check()
                for _ in range(max(1, min(3, self.args.repeat)))
            ]
            sc.extra["time_split"] = split_timeline(verbose)
            sc.extra["verbose_output"] = verbose[-1].stderr
            proc = self.cli("cleanup", "--all", "--json", "-c", str(config))
            left = self.docker.containers([f"{E2E_PROJECT}={project}"])
            sc.notes.append(
                f"`hodei-e2e cleanup --all -c <its config>` exited {proc.code} and left "
                f"{len(left)} of the project's containers"
            )
        finally:
            for container in self.docker.containers([f"{E2E_PROJECT}={project}"]):
                lease = (
                    Path(tempfile.gettempdir())
                    / f"hodei-e2e-leases-{os.getuid()}"
                    / (f"{container.id[:32]}.lock")
                )
                lease.unlink(missing_ok=True)
            self.docker.remove_project(project)

    def dbcreate(self, sc: Scenario) -> None:
        dbcreate_scenario(self, sc)

    def output(self, sc: Scenario) -> None:
        from bench_output import output_scenario

        output_scenario(self, sc)

    def imagecheck(self, sc: Scenario) -> None:
        imagecheck_scenario(self, sc)

    def rust(self, sc: Scenario) -> None:
        from bench_rust import rust_scenario

        env = {k: v for k, v in self.env.items() if k != "NO_COLOR"} | {"NO_COLOR": "1"}
        samples, notes = rust_scenario(
            self.tmp,
            self.hodei,
            env,
            self.pg_image,
            warm_repeat=1 if self.args.quick else 2,
            dev_worker=not self.args.quick,
        )
        labels = {
            "tool cold": "hodei-e2e run, cold target dir (wall)",
            "seed cold": "seed sequence, cold target dir (wall)",
            "tool warm": "hodei-e2e run, warm target dir (wall)",
            "seed warm": "seed sequence, warm target dir (wall)",
            "seed cold, dev worker": "(info) seed sequence, cold, worker in the dev profile (wall)",
        }
        for key, label in labels.items():
            sc.rows.append(Row(label, [m.total for m in samples[key]]))
            steps = samples[key][-1].steps if samples[key] else {}
            sc.rows += [Row(f"  {key}: {step}", [seconds]) for step, seconds in steps.items()]
        sc.notes += notes

    def cleanup(self, sc: Scenario) -> None:
        project = "bench-cleanup"
        project_dir = self.config(project).parent  # `cleanup` runs there, as in a checkout
        here = socket.gethostname()
        other_host = self.args.orphans == "other-host"
        owner = f"{OTHER_HOST}:{DEAD_PID}" if other_host else f"{here}:{DEAD_PID}"
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

        def make_orphans() -> set[str]:
            labels = {
                E2E_LABEL: "true",
                f"{E2E_LABEL}.owner": owner,
                f"{E2E_LABEL}.role": "postgres",
                f"{E2E_LABEL}.run-id": "bench",
                E2E_PROJECT: project,
                f"{E2E_LABEL}.created": str(int(time.time())),
                f"{E2E_LABEL}.reuse": "false",
                BENCH_LABEL: "true",
                f"{BENCH_LABEL}.project": project,
            }

            def one(_: int) -> str:
                return self.docker.run(self.base_image, ["sleep", "300"], labels)

            with ThreadPoolExecutor(max_workers=8) as pool:
                made = set(pool.map(one, range(ORPHANS)))
            if other_host:
                time.sleep(1.2)  # all of them older than --older-than 1s
            return made

        def floor() -> float:
            mine = make_orphans()
            doomed = [
                c for c in self.docker.containers([f"{E2E_PROJECT}={project}"]) if c.id in mine
            ]
            start = time.perf_counter()
            self.docker.remove(doomed)
            return time.perf_counter() - start

        def sample() -> float:
            mine = make_orphans()
            proc = self.cli(*command, cwd=project_dir).check()
            removed = json.loads(proc.stdout)["removed"]
            ours = {r["id"] for r in removed if r["result"] == "removed"} & mine
            strays.append(len(removed) - len(ours))
            left = self.docker.containers([f"{E2E_PROJECT}={project}"])
            if left or len(ours) != ORPHANS:
                raise BenchError(
                    f"cleanup removed {len(ours)} of our {ORPHANS} orphans; {len(left)} left "
                    "(another run's start-of-run sweep may have taken some: try --orphans "
                    "other-host)"
                )
            return proc.seconds

        try:
            self.docker.remove_project(project)
            got = self.interleaved({"cleanup": sample, "engine floor": floor})
            sc.rows.append(Row(f"hodei-e2e cleanup, {ORPHANS} orphans (wall)", got["cleanup"]))
            sc.rows.append(
                Row(
                    f"engine floor: {ORPHANS} force-removals, 16 threads, in-process",
                    got["engine floor"],
                    note="docker SDK from this script, no start-up, no listing",
                )
            )
            if any(strays):
                sc.notes.append(f"it also removed other orphans on the engine: {strays} per sample")
        finally:
            self.docker.remove_project(project)

    def startup(self, sc: Scenario) -> None:
        repeat = max(10, self.args.repeat)
        sc.rows.append(
            Row(
                "python -c pass (interpreter floor)",
                self.measure(
                    "python",
                    lambda: run_proc([self.python, "-c", "pass"]).check().seconds,
                    repeat=repeat,
                ),
            )
        )
        sc.rows.append(
            Row(
                "python -c 'import hodei_e2e.cli'",
                self.measure(
                    "import cli",
                    lambda: run_proc([self.python, "-c", "import hodei_e2e.cli"]).check().seconds,
                    repeat=repeat,
                ),
            )
        )
        sc.rows.append(
            Row(
                "hodei-e2e --version",
                self.measure(
                    "--version", lambda: self.cli("--version").check().seconds, repeat=repeat
                ),
            )
        )
        config = self.config("bench-startup", 8)
        help_text = self.cli("run", "--help").stdout
        if "--list" in help_text:
            sc.rows.append(
                Row(
                    "hodei-e2e run --list (8 suites)",
                    self.measure(
                        "run --list",
                        lambda: self.cli("run", "--list", "-c", str(config)).check().seconds,
                        repeat=repeat,
                    ),
                )
            )
        else:
            sc.rows.append(
                Row(
                    "hodei-e2e run --list (8 suites)",
                    [],
                    note="skipped: `run --list` is not implemented yet",
                )
            )
            sc.notes.append("`hodei-e2e run --list` is not implemented yet: skipped")
        self.peak_memory(sc)

    def peak_memory(self, sc: Scenario) -> None:
        project = "bench-mem"
        config = self.config(project, 8)
        rss: list[float] = []
        tree: list[float] = []
        cli_hwm: list[float] = []
        dog_hwm: list[float] = []
        try:
            for i in range(self.args.warmup + self.args.repeat):
                sampler = TreeSampler()
                proc = self.cli("run", "-c", str(config), "-q", on_start=sampler.start)
                sampler.stop()
                proc.check()
                log(
                    f"  peak memory {i + 1}: ru_maxrss {proc.maxrss_kib} KiB, tree "
                    f"{sampler.peak_sum_kib} KiB ({sampler.samples} samples)"
                )
                if i < self.args.warmup:
                    continue
                rss.append(proc.maxrss_kib)
                tree.append(sampler.peak_sum_kib)
                cli_hwm.append(sampler.hwm.get("cli", 0))
                dog_hwm.append(sampler.hwm.get("watchdog", 0))
        finally:
            self.docker.remove_project(project)
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


# -- scenario 4: suite databases, in-process ---------------------------------------------------

MIGRATION = textwrap.dedent("""\
    CREATE TABLE t{n:02d} (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        owner_id bigint,
        payload jsonb NOT NULL DEFAULT '{{}}',
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX t{n:02d}_name_idx ON t{n:02d} (name);
    """)


def dbcreate_scenario(bench: Bench, sc: Scenario) -> None:
    import psycopg

    from hodei_e2e.config import MigrationsConfig, PostgresConfig
    from hodei_e2e.engine.docker import Engine
    from hodei_e2e.ownership.identity import RunIdentity
    from hodei_e2e.postgres.migrations import ensure_template, migration_files
    from hodei_e2e.postgres.server import start_server

    count = 8 if bench.args.quick else max(20, bench.args.repeat)
    warm = 2
    project = "bench-dbcreate"
    root = bench.tmp / project
    migrations = root / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    for n in range(1, 21):
        (migrations / f"{n:04d}_t{n:02d}.sql").write_text(MIGRATION.format(n=n), encoding="utf-8")
    mig_config = MigrationsConfig(dir=migrations)
    pg_config = PostgresConfig(image=bench.pg_image, password=PASSWORD, tmpfs=True)
    identity = RunIdentity(project=project)
    engine = Engine.connect()
    created: list[Any] = []
    counter = iter(range(1, 1_000_000))
    sc.notes.append(
        "in-process, against a server started with hodei_e2e.postgres.server.start_server "
        f"(tmpfs, the default settings); each figure is the median of {count} (after {warm} "
        "untimed), each database dropped untimed after it is made; 'call' is the wall time of "
        "PostgresServer.create_database (as Databases.create calls it), 'statement' is the "
        "CREATE DATABASE alone as it reports."
    )
    try:
        start = time.perf_counter()
        server = start_server(
            engine, pg_config, identity.labels("postgres"), on_created=created.append
        )
        sc.rows.append(
            Row("start_server (in-process: create, start, ready)", [time.perf_counter() - start])
        )
        version = server.version
        sc.extra["server_version"] = version

        def timed(label: str, make: Callable[[str], float | None], rows: int = 2) -> None:
            calls, statements = [], []
            for i in range(warm + count):
                name = f"bench_{next(counter)}"
                begin = time.perf_counter()
                statement = make(name)
                call = time.perf_counter() - begin
                server.drop_database(name)
                if i >= warm:
                    calls.append(call)
                    if statement is not None:
                        statements.append(statement)
            sc.rows.append(Row(f"{label} (call)", calls))
            if rows > 1 and statements:
                sc.rows.append(Row(f"{label} (statement)", statements))
            log(f"  {label}: median {fmt(statistics.median(calls))}")

        timed("plain CREATE DATABASE", server.create_database)

        begin = time.perf_counter()
        template = ensure_template(server, mig_config, root, "bench")
        sc.rows.append(
            Row(
                "build the template once (20 migrations + 2 probe copies)",
                [time.perf_counter() - begin],
            )
        )
        sc.extra["template"] = {"name": template.name, "strategy": template.strategy}
        strategies: list[str | None] = ["WAL_LOG", "FILE_COPY"] if version >= 150000 else [None]
        for strategy in strategies:
            timed(
                f"from template, STRATEGY {strategy or 'default'}",
                lambda name, s=strategy: server.create_database(
                    name, template=template.name, strategy=s
                ),
            )
        comment = json.dumps({"run_id": identity.run_id, "owner": identity.owner, "suite": "s"})
        timed(
            f"as a suite gets it: template, {template.strategy} (the tool's pick), comment",
            lambda name: server.create_database(
                name, template=template.name, strategy=template.strategy, comment=comment
            ),
            rows=1,
        )

        files = migration_files(mig_config, root)

        def migrate(name: str) -> None:
            server.create_database(name)
            for path in files:
                server.run_sql_file(name, path)

        timed("the 20 migrations run directly into a new database", migrate, rows=1)

        drops = []
        for _ in range(count):
            name = f"bench_{next(counter)}"
            server.create_database(name, template=template.name, strategy=template.strategy)
            begin = time.perf_counter()
            server.drop_database(name)
            drops.append(time.perf_counter() - begin)
        sc.rows.append(Row("DROP DATABASE ... WITH (FORCE) of a suite database", drops))

        pool = _handout(bench, server, template, identity, engine, count)
        if pool is not None:
            sc.rows.append(pool)
        else:
            # STAND-IN: no pool API in hodei_e2e yet; connecting to a database that already
            # exists is the floor of any handout that involves the suite connecting to it.
            name = f"bench_{next(counter)}"
            server.create_database(name, template=template.name, strategy=template.strategy)
            address = server.address
            samples = []
            for i in range(warm + count):
                begin = time.perf_counter()
                with psycopg.connect(
                    host=address.host,
                    port=address.port,
                    user=address.user,
                    password=address.password,
                    dbname=name,
                    autocommit=True,
                ) as conn:
                    conn.execute("SELECT 1")
                if i >= warm:
                    samples.append(time.perf_counter() - begin)
            server.drop_database(name)
            sc.rows.append(
                Row(
                    "STAND-IN pre-created: connect + SELECT 1 to an existing db",
                    samples,
                    note="no pool API found in hodei_e2e",
                )
            )
        server.close()
    finally:
        engine.remove([c.id for c in created])
        engine.close()
        bench.docker.remove_project(project)


def _handout(
    bench: Bench, server: Any, template: Any, identity: Any, engine: Any, count: int
) -> Row | None:
    """The pre-created handout through the tool's pool (Databases.precreate/take), if any."""
    from hodei_e2e.postgres import databases as dbs

    if not (hasattr(dbs.Databases, "precreate") and hasattr(dbs.Databases, "take")):
        return None
    from hodei_e2e.config import Config, PostgresConfig, SuiteConfig

    root = bench.tmp / "bench-dbcreate"
    suites = [SuiteConfig(name=f"s{i}", command="true", workdir=root) for i in range(count)]
    config = Config(
        path=root / "e2e.yaml",
        root=root,
        project=identity.project,
        postgres=PostgresConfig(image=bench.pg_image, password=PASSWORD, database_prefix="bench"),
        suites={s.name: s for s in suites},
    )
    pool = dbs.Databases(
        engine=engine,
        config=config,
        identity=identity,
        shared=server,
        template=template,
        isolation="database",
        on_container=lambda _c: None,
    )
    waits: list[float] = []
    try:
        pool.precreate(suites, ahead=count)
        deadline = time.monotonic() + 60
        while len(pool.live) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        for suite in suites:
            begin = time.perf_counter()
            database, _waited = pool.take(suite)
            waits.append(time.perf_counter() - begin)
            pool.drop(database)
    finally:
        pool.drop_all()
    return Row(
        "pre-created: Databases.take() after precreate()",
        waits,
        note=f"all {count} created ahead; the wait to get one",
    )


# -- scenario 5: the image check ---------------------------------------------------------------


def imagecheck_scenario(bench: Bench, sc: Scenario) -> None:
    """HOOK(image-check): scripts/bench_image_check.py (written separately) measures it.

    It runs as a subprocess. When its --help offers --json, it gets `--json PATH` and every
    entry of that JSON with a "samples" list of seconds (at the top level, or in a "rows",
    "results" or "scenarios" list/mapping) becomes a row; otherwise its printed lines
    `LABEL  min X ms  median Y ms  max Z ms  (N runs)` do."""
    if not IMAGE_CHECK.exists():
        sc.notes.append(f"HOOK: {IMAGE_CHECK.relative_to(ROOT)} does not exist yet: skipped")
        sc.rows.append(
            Row(
                "image check, nothing changed, 2,000 files",
                [],
                note="skipped: scripts/bench_image_check.py missing",
            )
        )
        return
    script = [bench.python, str(IMAGE_CHECK)]
    options = run_proc([*script, "--help"], env=bench.env, cwd=ROOT).stdout
    argv = [*script, "--files", "2000"] if "--files" in options else list(script)
    if "--runs" in options:
        argv += ["--runs", str(8 if bench.args.quick else 20)]
    if "--cli-runs" in options:
        argv += ["--cli-runs", str(bench.args.repeat)]
    out = bench.tmp / "imagecheck.json"
    if "--json" in options:
        argv += ["--json", str(out)]
    proc = run_proc(argv, env=bench.env, cwd=ROOT).check()
    sc.extra["command"] = shlex.join(argv)
    sc.extra["stdout"] = proc.stdout[-4000:]
    if out.exists():
        doc = json.loads(out.read_text(encoding="utf-8"))
        sc.extra["result"] = doc
        for name, samples in _sample_lists(doc):
            sc.rows.append(Row(name, [float(x) for x in samples]))
    else:
        for line in proc.stdout.splitlines():
            if match := PRINTED.match(line.strip()):
                figures = [float(match[k]) / 1000 for k in ("min", "median", "max")]
                sc.rows.append(Row(match["label"], figures, count=int(match["runs"])))
    sc.notes.append(f"by `{shlex.join(['scripts/bench_image_check.py', *argv[2:]])}`")
    sc.notes += [f"  {line}" for line in proc.stdout.splitlines() if not PRINTED.match(line)]
    if not sc.rows:
        sc.notes.append("bench_image_check.py gave no figures this script reads; see the JSON")


PRINTED = re.compile(
    r"^(?P<label>.+?)\s+min\s+(?P<min>[\d.]+) ms\s+median\s+(?P<median>[\d.]+) ms\s+"
    r"max\s+(?P<max>[\d.]+) ms\s+\((?P<runs>\d+) runs\)$"
)


def _sample_lists(doc: Any, name: str = "image check") -> Iterator[tuple[str, list[Any]]]:
    if isinstance(doc, dict):
        if isinstance(doc.get("samples"), list) and doc["samples"]:
            yield str(doc.get("name", name)), doc["samples"]
        for key in ("rows", "results", "scenarios"):
            value = doc.get(key)
            if isinstance(value, list):
                for item in value:
                    yield from _sample_lists(item, name)
            elif isinstance(value, dict):
                for sub, item in value.items():
                    yield from _sample_lists(item, str(sub))


# -- a run's time split from its -v output -----------------------------------------------------

STEP = re.compile(r"^[✓✗] (?P<name>.+?) \((?P<secs>\d+\.\d+)s\)")
SUMMARY = re.compile(r"^\d+ (passed|failed)")
SUITE_DONE = re.compile(r"^[✓✗] \S+ (passed|failed) in ")


def split_timeline(runs: Sequence[Proc]) -> dict[str, Any]:
    """Each event's median time since the fork, and the step durations the tool reports."""
    events: dict[str, list[float]] = {}
    steps: dict[str, list[float]] = {}
    for proc in runs:
        seen: dict[str, float] = {}
        for at, raw in proc.lines:
            line = raw.strip()
            if not line or line[0] in "┏┃┡│└╇┗":
                continue
            key = None
            if line.startswith("hodei-e2e run "):
                key = "first line (interpreter, imports, config, watchdog spawn)"
            elif SUITE_DONE.match(line):
                key = "suite finished"
            elif line.startswith("▶"):
                key = "suite started"
            elif SUMMARY.match(line):
                key = "summary printed"
            elif match := STEP.match(line):
                key = f"step '{match['name']}' done"
                steps.setdefault(match["name"], []).append(float(match["secs"]))
            if key and key not in seen:
                seen[key] = at
        seen["process exit (wait4)"] = proc.seconds
        for key, at in seen.items():
            events.setdefault(key, []).append(at)
    ordered = sorted(events.items(), key=lambda kv: statistics.median(kv[1]))
    timeline, previous = [], 0.0
    for key, ats in ordered:
        at = statistics.median(ats)
        timeline.append(
            {"event": key, "at": round(at, 4), "delta": round(at - previous, 4), "n": len(ats)}
        )
        previous = at
    return {
        "runs": len(runs),
        "timeline": timeline,
        "steps_reported": {k: statistics.median(v) for k, v in steps.items()},
    }


def timeline_table(split: dict[str, Any]) -> str:
    runs = split["runs"]
    rows = [
        [e["event"], fmt(e["at"]), f"+{fmt(e['delta'])}", f"{e['n']}/{runs}"]
        for e in split["timeline"]
    ]
    return table([f"event (median of {runs} -v runs)", "since fork", "delta", "seen"], rows)


# -- targets -----------------------------------------------------------------------------------


def targets(scenarios: dict[str, Scenario]) -> list[dict[str, Any]]:
    def median(scenario: str, row: str) -> float | None:
        sc = scenarios.get(scenario)
        found = sc.row(row) if sc else None
        return found.median if found and found.samples else None

    def find(scenario: str, prefix: str) -> Row | None:
        sc = scenarios.get(scenario)
        return (
            next((r for r in sc.rows if r.name.startswith(prefix) and r.samples), None)
            if sc
            else None
        )

    out: list[dict[str, Any]] = []

    def add(target: str, value: float | None, unit: str, passed: bool | None, detail: str) -> None:
        out.append(
            {
                "target": target,
                "measured": value,
                "unit": unit,
                "result": "n/a" if passed is None else ("PASS" if passed else "MISS"),
                "detail": detail,
            }
        )

    cold = median("cold", "hodei-e2e run, 1 trivial suite (wall)")
    ready = median("cold", "testcontainers: time to ready Postgres")
    tc_wall = median("cold", "testcontainers: whole subprocess (wall)")
    if cold is not None and ready:
        add(
            "cold run <= 0.5x testcontainers' time to a ready Postgres",
            cold / ready,
            "x",
            cold / ready <= 0.5,
            f"{fmt(cold)} / {fmt(ready)}",
        )
    if cold is not None and tc_wall:
        add(
            "(info) cold run / testcontainers whole subprocess",
            cold / tc_wall,
            "x",
            None,
            f"{fmt(cold)} / {fmt(tc_wall)}",
        )
    warm = median("warm", "warm run --reuse, 1 trivial suite (wall)")
    if warm is not None:
        add("warm run with a reused Postgres < 0.6 s", warm, "s", warm < 0.6, "median wall")
    for n in (1, 4, 8):
        one = median("suites", f"N={n}: hodei-e2e, one server")
        per = median("suites", f"N={n}: testcontainers, container per suite")
        iso = median("suites", f"N={n}: hodei-e2e --isolation container")
        if one and per:
            label = (
                "8 trivial suites >= 10x faster than a container per suite"
                if n == 8
                else f"(info) N={n}: container per suite / one server"
            )
            add(
                label,
                per / one,
                "x",
                per / one >= 10 if n == 8 else None,
                f"{fmt(per)} / {fmt(one)}",
            )
        if one and iso:
            add(
                f"(info) N={n}: --isolation container / one server",
                iso / one,
                "x",
                None,
                f"{fmt(iso)} / {fmt(one)}",
            )
    suite_db = find("dbcreate", "as a suite gets it")
    if suite_db:
        add(
            "suite database create < 60 ms (median)",
            suite_db.median,
            "s",
            suite_db.median < 0.060,
            suite_db.name,
        )
    plain = median("dbcreate", "plain CREATE DATABASE (call)")
    if plain is not None:
        add("(info) plain CREATE DATABASE", plain, "s", None, "no template")
    handout = find("dbcreate", "pre-created") or find("dbcreate", "STAND-IN")
    if handout:
        stand_in = handout.name.startswith("STAND-IN")
        add(
            "suite database when pre-created < 5 ms" + (" (STAND-IN)" if stand_in else ""),
            handout.median,
            "s",
            handout.median < 0.005,
            handout.name,
        )
    cleanup = find("cleanup", "hodei-e2e cleanup")
    if cleanup:
        add(
            f"cleanup of {ORPHANS} orphaned containers < 5 s",
            cleanup.median,
            "s",
            cleanup.median < 5.0,
            "median wall",
        )
    from bench_output import output_targets

    for row in output_targets(scenarios):
        add(*row)
    for state, target in (("cold", 0.5), ("warm", None)):
        tool = median("rust", f"hodei-e2e run, {state} target dir (wall)")
        seed = median("rust", f"seed sequence, {state} target dir (wall)")
        if tool is not None and seed:
            add(
                f"Rust workspace run, {state} target dir <= {target}x the seed sequence"
                if target
                else f"(info) Rust workspace run / seed sequence, {state} target dir",
                tool / seed,
                "x",
                tool / seed <= target if target else None,
                f"{fmt(tool)} / {fmt(seed)}",
            )
    image = scenarios.get("imagecheck")
    if image and image.rows and image.rows[0].samples:
        add(
            "(info) image check, nothing changed",
            image.rows[0].median,
            "s",
            None,
            image.rows[0].name,
        )
    return out


def targets_table(rows: list[dict[str, Any]], *, markdown: bool = False) -> str:
    cells = [
        [
            r["target"],
            fmt(r["measured"], r["unit"]) if r["measured"] is not None else "-",
            r["detail"],
            r["result"],
        ]
        for r in rows
    ]
    return table(["target", "measured", "from", "result"], cells, markdown=markdown)


# -- main --------------------------------------------------------------------------------------

TC_SCRIPT = '''\
"""Run by scripts/bench.py: start, connect to and stop COUNT PostgresContainers in turn."""
import json
import sys
import time

T0 = time.perf_counter()
import psycopg

try:
    from testcontainers.community.postgres import PostgresContainer
except ImportError:
    from testcontainers.postgres import PostgresContainer

IMPORTED = time.perf_counter()
image, count, project, strip = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "strip"
if strip:
    # Without its org.testcontainers labels, no hodei-e2e run on this engine takes the container
    # for a Testcontainers leftover of its own and removes it. Labels cost nothing to set.
    import testcontainers.core.docker_client as docker_client

    create_labels = docker_client.create_labels

    def labels_without_tc(image, labels):
        made = create_labels(image, labels)
        return {k: v for k, v in made.items() if not k.startswith("org.testcontainers")}

    docker_client.create_labels = labels_without_tc
labels = {"io.hodei.bench": "true", "io.hodei.bench.project": project}
runs, stop_errors = [], []
for _ in range(count):
    begin = time.perf_counter()
    container = PostgresContainer(image, driver=None, labels=labels)
    try:
        container.start()
        started = time.perf_counter()
        with psycopg.connect(container.get_connection_url(), connect_timeout=10) as conn:
            conn.execute("SELECT 1")  # the trivial suite's work
        ready = time.perf_counter()
    finally:
        try:
            container.stop()
        except Exception as error:  # removed under it by another process: still measured
            stop_errors.append(str(error)[:200])
    runs.append({"start": started - begin, "ready": ready - begin,
                 "total": time.perf_counter() - begin})
print(json.dumps({"import": IMPORTED - T0, "runs": runs, "stop_errors": stop_errors}))
'''


def machine_facts(bench_docker: Docker) -> dict[str, Any]:
    version = bench_docker.client.version()
    info = bench_docker.client.info()

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
            "server": version.get("Version"),
            "api": version.get("ApiVersion"),
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


def image_facts(bench_docker: Docker, ref: str) -> dict[str, Any]:
    try:
        attrs = bench_docker.client.images.get(ref).attrs
    except Exception as error:
        return {"error": str(error)}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return {"id": attrs.get("Id"), "created": attrs.get("Created"), "labels": labels}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__.split("\n\n")[0],
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
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1 and --warmup >= 0")
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    args.scenarios = only or list(SCENARIOS)
    return args


TITLES = {
    "cold": "1. cold start: one trivial suite, no container yet, image present",
    "suites": "2. N trivial suites: one server vs a container per suite",
    "warm": "3. warm run with a reused server",
    "dbcreate": "4. suite database creation (20-table template)",
    "imagecheck": "5. image check, nothing changed, 2,000-file context",
    "cleanup": f"6. cleanup of {ORPHANS} orphaned containers",
    "startup": "7. start-up time and peak memory",
    "output": "8. suite output: throughput, one 200 MB line",
    "rust": "8. a Rust workspace (examples/hodei-mini) vs the seed script's sequence",
}


def main(argv: Sequence[str]) -> int:
    # scripts/bench_output.py imports its helpers from here: one module, not a second copy
    sys.modules.setdefault("bench", sys.modules[__name__])
    args = parse_args(argv)
    hodei = Path(sys.executable).parent / "hodei-e2e"
    if not hodei.exists():
        found = shutil.which("hodei-e2e")
        if found is None:
            log("no hodei-e2e next to this Python nor on PATH: run scripts/bench")
            return 2
        hodei = Path(found)
    lock_path = Path(tempfile.gettempdir()) / f"hodei-bench-{os.getuid()}.lock"
    lock = lock_path.open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another benchmark is running (lock {lock_path})")
        return 2
    docker = Docker()
    pg_image = os.environ.get("HODEI_E2E_POSTGRES_IMAGE") or "hodei-e2e.local/postgres:15"
    base_image = os.environ.get("HODEI_E2E_BASE_IMAGE") or "hodei-e2e.local/busybox:latest"
    for image in (pg_image, base_image):
        try:
            docker.client.images.get(image)
        except Exception:
            log(f"image {image} is missing: run scripts/bootstrap (or scripts/bench)")
            return 2
    facts = machine_facts(docker)
    log(
        f"{facts['nproc']} CPUs, load {facts['loadavg_at_start']}, docker "
        f"{facts['docker']['server']}, postgres image {pg_image}"
    )
    if gone := docker.remove_all_bench():
        log(f"removed {gone} container(s) an earlier benchmark left")
    tmp = Path(tempfile.mkdtemp(prefix="hodei-bench-"))
    bench = Bench(args, tmp, docker, str(hodei), sys.executable, pg_image, base_image)
    began = time.perf_counter()
    try:
        for name in args.scenarios:
            sc = Scenario(name, TITLES[name], load_at_start=loadavg())
            bench.scenarios[name] = sc
            log(f"{sc.title} (load {sc.load_at_start[0]:.2f})")
            start = time.perf_counter()
            try:
                getattr(bench, name)(sc)
            except Exception as error:  # a failed scenario is reported; the others still run
                sc.error = f"{type(error).__name__}: {error}"
                log(f"  {name} failed: {sc.error}")
            sc.seconds = time.perf_counter() - start
            print_scenario(sc)
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        return 130
    finally:
        if bench.scenarios:  # first: an engine that stopped answering must not cost the figures
            write_results(bench, facts, args, time.perf_counter() - began)
        try:
            if left := docker.remove_all_bench():
                log(f"removed {left} leftover container(s)")
        except Exception as error:
            log(f"could not remove what the benchmark left ({error}): run it again later")
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any(sc.error for sc in bench.scenarios.values()) else 0


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


def write_results(
    bench: Bench, facts: dict[str, Any], args: argparse.Namespace, seconds: float
) -> None:
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
            ref: {"ref": ref, **image_facts(bench.docker, ref)}
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
