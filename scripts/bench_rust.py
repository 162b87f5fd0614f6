"""Benchmark scenario `rust` (issue 18, item 4): examples/hodei-mini, a Cargo workspace shaped
like the platform (a tonic proto crate, a gRPC server, a worker with a dependency set like the
platform worker's), under `hodei-e2e run` against the seed script's sequence, on this machine, in
one benchmark run, cold (empty target directories on both sides) and warm.

hodei-e2e: `hodei-e2e run` of a copy of the example (its own project and image tag): the prepare
step (`cargo build --workspace --bins --tests`, one invocation, the worker in the dev profile)
alongside Postgres and the migrations, the worker image once the prepare step is done, then the
three test binaries in parallel, each with its own database from the template.

The seed script (run-docker-e2e.sh's order), one step after the other:
1. build the image: the worker compiled in release (`cargo build --release -p
   hodei-mini-worker`), as the platform's Dockerfile.worker does in its builder stage, here on
   the host into the seed's own target directory, then `docker build` of the example's
   Dockerfile.worker (the layer cache allowed, as a plain `docker build` has it);
2. `cargo build --tests` (the whole workspace);
3. for each test binary: a fresh Postgres container (hodei-e2e.local/postgres:15, a published
   port), waited for with pg_isready, then the suite's own command, `cargo test --workspace
   --test BINARY -- --ignored` (the tests migrate a database of their own: there is no
   template), then the container removed. What the tests left (a worker, the testcontainers
   `static`) is removed after each binary, as cleanup.sh did, untimed.

CARGO_HOME is shared (the registry cache is warm for both; nothing is downloaded); each side has
its own target directory, empty for the cold samples and kept for the warm ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hodei-mini"
BINARIES = ("e2e_docker_provider", "e2e_job_flow", "e2e_testcontainers")
PROJECT = "bench-rust"  # the tool's copy (bench.py's OWN_PROJECTS knows it)
SEED_PROJECT = "bench-rust-seed"  # the seed's Postgres containers
TOOL_TAG = "hodei-mini-worker:bench"
SEED_TAG = "hodei-mini-worker:bench-seed"
PASSWORD = "bench-secret"
TIMEOUT = 1800.0  # a cold build on a loaded 2-core machine takes minutes; an hour is a hang


class StepFailed(Exception):
    """A command of the scenario failed: its output tail says why."""


@dataclass
class Measured:
    """One sample of one side: the total and its steps, in seconds."""

    total: float
    steps: dict[str, float] = field(default_factory=dict)


def timed(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = TIMEOUT
) -> float:
    """Run `argv` to the end; its wall time. A failure raises with its output's tail."""
    start = time.perf_counter()
    done = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise StepFailed(f"{' '.join(argv)} exited {done.returncode}:\n{tail}")
    return seconds


def docker(*args: str) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise StepFailed(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def remove_labelled(*labels: str) -> None:
    """Best effort: another run's sweep may be removing the same exited containers."""
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    if ids := docker("ps", "-aq", *filters).split():
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=120, check=False)


def copy_example(target: Path, *, project: str, tag: str) -> Path:
    """The example in `target`, with its own project name and image tag."""
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("build", ".hodei-e2e", "target"))
    config = target / "e2e.yaml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("project: hodei-mini", f"project: {project}")
    text = text.replace("tag: hodei-mini-worker:e2e-test", f"tag: {tag}")
    config.write_text(text, encoding="utf-8")
    return config


@dataclass
class Sides:
    tmp: Path
    hodei: str  # the hodei-e2e executable
    env: dict[str, str]
    pg_image: str
    tool_config: Path = field(init=False)
    seed_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.tool_config = copy_example(
            self.tmp / "tool" / "hodei-mini", project=PROJECT, tag=TOOL_TAG
        )
        self.seed_dir = self.tmp / "seed" / "hodei-mini"
        copy_example(self.seed_dir, project=SEED_PROJECT, tag=SEED_TAG)

    @property
    def tool_cache(self) -> Path:
        return self.tmp / "tool-cache"  # HODEI_E2E_CACHE: the example's target dir is inside

    @property
    def seed_target(self) -> Path:
        return self.tmp / "seed-target"

    def tool(self) -> Measured:
        """`hodei-e2e run` of the example's copy; the prepare step's time from its report."""
        report = self.tmp / "tool-report.json"
        env = {**self.env, "HODEI_E2E_CACHE": str(self.tool_cache)}
        env.pop("CARGO_TARGET_DIR", None)
        argv = [self.hodei, "run", "-q", "-c", str(self.tool_config), "--json", str(report)]
        total = timed(argv, env=env, cwd=self.tmp)
        doc = json.loads(report.read_text(encoding="utf-8"))
        steps = {"prepare (cargo build, alongside Postgres)": float(doc["prepare"]["duration"])}
        for suite in doc["suites"]:
            steps[f"suite {suite['name']} (in parallel)"] = float(suite["duration"])
        return Measured(total, steps)

    def seed(self, *, release: bool = True) -> Measured:
        """The seed script's sequence, step by step; `release=False`: the worker is compiled
        in the dev profile, like the tests (what the platform's image does not do)."""
        env = {**self.env, "CARGO_TARGET_DIR": str(self.seed_target)}
        cwd, steps = self.seed_dir, {}
        start = time.perf_counter()
        profile = ["--release"] if release else []
        worker = ["cargo", "build", "--locked", *profile, "-p", "hodei-mini-worker"]
        steps[f"image: worker ({'release' if release else 'dev'})"] = timed(
            worker, env=env, cwd=cwd
        )
        binary = self.seed_target / ("release" if release else "debug") / "hodei-mini-worker"
        (cwd / "build" / "worker").mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, cwd / "build" / "worker" / "hodei-mini-worker")
        base = env.get("HODEI_E2E_DEBIAN_IMAGE", "hodei-e2e.local/debian:bookworm")
        build = ["docker", "build", "-q", "-t", SEED_TAG, "-f", "Dockerfile.worker",
                 "--build-arg", f"BASE_IMAGE={base}", "."]  # fmt: skip
        steps["image: docker build"] = timed(build, env=env, cwd=cwd)
        tests = ["cargo", "build", "--locked", "--tests"]
        steps["cargo build --tests"] = timed(tests, env=env, cwd=cwd)
        for binary_name in BINARIES:
            seconds, untimed = self._one_binary(binary_name, env, cwd)
            steps[f"{binary_name}: fresh Postgres + cargo test"] = seconds
            start += untimed  # the leftovers' removal is not the sequence's
        return Measured(time.perf_counter() - start, steps)

    def _one_binary(self, binary: str, env: Mapping[str, str], cwd: Path) -> tuple[float, float]:
        run_id = f"bench-seed-{binary}-{os.getpid()}"
        start = time.perf_counter()
        container = docker(
            "run", "-d", "--label", "io.hodei.bench=true",
            "--label", f"io.hodei.bench.project={SEED_PROJECT}",
            "-e", f"POSTGRES_PASSWORD={PASSWORD}", "-p", "127.0.0.1::5432", self.pg_image,
        )  # fmt: skip
        try:
            self._wait_ready(container)
            port = docker("port", container, "5432/tcp").splitlines()[0].rsplit(":", 1)[1]
            url = f"postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
            test_env = {
                **env,
                "DATABASE_URL": url,
                "HODEI_WORKER_IMAGE": SEED_TAG,
                "HODEI_E2E_RUN_ID": run_id,  # the tests label what they leave with it
                "HODEI_MINI_BUSYBOX_IMAGE": env.get(
                    "HODEI_E2E_BASE_IMAGE", "hodei-e2e.local/busybox:latest"
                ),
            }
            for name in ("HODEI_E2E_ADMIN_DATABASE_URL", "HODEI_E2E_TEMPLATE_DATABASE"):
                test_env.pop(name, None)
            # the suite's command in e2e.yaml: the same package selection as `cargo build
            # --tests` at the root, so nothing is compiled again
            test = ["cargo", "test", "--locked", "--workspace", "--test", binary,
                    "--", "--ignored"]  # fmt: skip
            timed(test, env=test_env, cwd=cwd)
        finally:
            docker("rm", "-f", "-v", container)
        seconds = time.perf_counter() - start
        cleanup = time.perf_counter()
        remove_labelled(f"io.hodei.e2e.run-id={run_id}")
        return seconds, time.perf_counter() - cleanup

    @staticmethod
    def _wait_ready(container: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["docker", "exec", container, "pg_isready", "-h", "127.0.0.1", "-U", "postgres"],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise StepFailed(f"postgres {container[:12]} not ready within {timeout:.0f}s")

    def empty_targets(self) -> None:
        for path in (self.tool_cache, self.seed_target):
            shutil.rmtree(path, ignore_errors=True)
        for tag in (TOOL_TAG, SEED_TAG):  # the image is built on both sides, cold
            subprocess.run(
                ["docker", "rmi", "-f", tag], capture_output=True, timeout=120, check=False
            )

    def cleanup(self) -> None:
        remove_labelled(f"io.hodei.bench.project={SEED_PROJECT}")
        self.empty_targets()


def rust_scenario(
    tmp: Path,
    hodei: str,
    env: Mapping[str, str],
    pg_image: str,
    *,
    cold_repeat: int,
    warm_repeat: int,
    dev_worker: bool = True,
) -> tuple[dict[str, list[Measured]], list[str]]:
    """Cold (`cold_repeat` pairs: a cold build is a minute or more) and warm (`warm_repeat`
    each) samples of both sides, and notes. The cold pairs alternate which side goes first, so
    that neither always runs in the other's wake (a build leaves the page cache and the
    machine's load behind). `dev_worker`: also the seed with the worker compiled in the dev
    profile, cold (another cold build, once)."""
    if shutil.which("cargo") is None:
        raise StepFailed("cargo is not on PATH")
    sides = Sides(tmp / "rust", hodei, dict(env), pg_image)
    samples: dict[str, list[Measured]] = {
        "seed cold, dev worker": [],
        "tool cold": [],
        "seed cold": [],
        "tool warm": [],
        "seed warm": [],
    }
    try:
        if dev_worker:
            sides.empty_targets()
            samples["seed cold, dev worker"].append(sides.seed(release=False))
        measure = {"tool": sides.tool, "seed": sides.seed}
        for pair in range(cold_repeat):
            sides.empty_targets()
            for side in ("tool", "seed") if pair % 2 == 0 else ("seed", "tool"):
                samples[f"{side} cold"].append(measure[side]())
        for _ in range(warm_repeat):  # each side's target directory is its last cold build's
            samples["tool warm"].append(sides.tool())
            samples["seed warm"].append(sides.seed())
    finally:
        sides.cleanup()
    notes = [line.strip() for line in (__doc__ or "").split("\n\n")[1:4]]
    return samples, notes


def median_sample(samples: Sequence[Measured]) -> Measured | None:
    """The sample with the median total (the lower middle one of an even count): its steps
    add up to the figure shown beside them."""
    ordered = sorted(samples, key=lambda sample: sample.total)
    return ordered[(len(ordered) - 1) // 2] if ordered else None
