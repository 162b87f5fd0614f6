#!/usr/bin/env python3
"""How long `hodei-e2e` takes to decide that the worker image is up to date.

Generates a build context of N files (2,000 by default, plus some that .dockerignore excludes),
builds it once FROM the local busybox image, then times the no-change check:

- `ensure_image` in process (hash cache warm): lstat every file, match .dockerignore, digest,
  one inspect of the image: the cost `run` and `build-image` pay with nothing changed;
- the scan and digest alone, with the hash cache warm and cold (every file read and hashed);
- `hodei-e2e build-image` as a new process, which adds Python start-up and imports.

Prints min / median / max of each, and with `--json PATH` writes every sample there (the
benchmark's `imagecheck` scenario reads it). Run it from the repository: .venv/bin/python
scripts/benchmark/image_check.py [--files 2000] [--runs 20] [--json PATH]. The image and files
are removed after.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hodei_e2e.config import ImageConfig
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import Engine
from hodei_e2e.image.context import Inputs, digest, file_hash, scan
from hodei_e2e.image.state import StateDir
from hodei_e2e.image.worker_image import ensure_image
from hodei_e2e.ownership.identity import PROJECT, RunIdentity

CLI = [sys.executable, "-c", "from hodei_e2e.cli import main; main()"]


def generate(root: Path, files: int) -> tuple[int, int]:
    """`files` sent files in a tree of ~20 per directory, plus a tenth as many ignored ones."""
    size = 0
    for index in range(files):
        path = root / f"src/pkg{index // 400}/mod{index // 20}/file{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"# file {index}\n" + "x = 1\n" * (index % 50 + 1)
        path.write_text(text)
        size += len(text)
    for index in range(files // 10):
        ignored = root / f"target/debug/obj{index}.o"
        ignored.parent.mkdir(parents=True, exist_ok=True)
        ignored.write_text("ignored\n")
    (root / ".dockerignore").write_text("target\n**/*.log\n")
    (root / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY src /src\n")
    return files, size


def timed(action: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def show(label: str, times: list[float], rows: list[dict[str, object]]) -> None:
    rows.append({"name": label.strip(), "samples": times})
    print(
        f"{label:<58} min {min(times) * 1000:8.1f} ms   median "
        f"{statistics.median(times) * 1000:8.1f} ms   max {max(times) * 1000:8.1f} ms"
        f"   ({len(times)} runs)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the samples (seconds) there")
    parser.add_argument(
        "--base-image",
        default=os.environ.get("HODEI_E2E_BASE_IMAGE", "hodei-e2e.local/busybox:latest"),
    )
    options = parser.parse_args()

    token = secrets.token_hex(4)
    project, tag = f"bench-{token}", f"hodei-e2e-bench/check-{token}:t"
    engine = Engine.connect()
    with tempfile.TemporaryDirectory(prefix="hodei-bench-") as directory:
        root = Path(directory)
        context = root / "ctx"
        count, size = generate(context, options.files)
        image = ImageConfig(
            tag=tag,
            dockerfile=context / "Dockerfile",
            context=context,
            build_args={"BASE": options.base_image},
        )
        state_dir = root / ".hodei-e2e"
        identity = RunIdentity(project=project)
        out = Output(verbosity=-1)
        config = root / "e2e.yaml"
        config.write_text(
            f"version: 1\nproject: {project}\nimage:\n  tag: {tag}\n  context: ctx\n"
            f"  build_args: {{BASE: '{options.base_image}'}}\nsuites:\n  noop: 'true'\n"
        )
        facts = [f"context: {count} sent files ({size / 1e6:.1f} MB) + {count // 10} ignored"]
        print(facts[-1])
        rows: list[dict[str, object]] = []
        try:
            start = time.perf_counter()
            outcome = ensure_image(engine, image, identity, out, state_dir=state_dir)
            facts.append(f"first build: {time.perf_counter() - start:.1f} s ({outcome.reason})")
            print(facts[-1])
            time.sleep(1.1)  # past the racy window: files written just now are re-hashed once

            def check() -> None:
                result = ensure_image(engine, image, identity, out, state_dir=state_dir)
                assert not result.built, result

            check()  # warms the hash cache
            show("no-change check, ensure_image in process", timed(check, options.runs), rows)

            state = StateDir(state_dir)

            def scan_warm() -> None:
                listing = scan(context, image.dockerfile, cache=state.hash_cache(context))
                assert listing.hashed == 0
                digest(listing, Inputs(file_hash(image.dockerfile), image.build_args, None))

            def scan_cold() -> None:
                listing = scan(context, image.dockerfile)
                digest(listing, Inputs(file_hash(image.dockerfile), image.build_args, None))

            show("  scan + digest, hash cache warm", timed(scan_warm, options.runs), rows)
            show("  scan + digest, hash cache cold (every file read)", timed(scan_cold, 5), rows)

            def cli() -> None:
                subprocess.run(
                    [*CLI, "build-image", "-q", "-c", str(config)],
                    cwd=root,
                    check=True,
                    capture_output=True,
                )

            show(
                "`hodei-e2e build-image`, new process (start-up + imports)",
                timed(cli, options.cli_runs),
                rows,
            )
            if options.json:
                doc = {"facts": facts, "rows": rows}
                options.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        finally:
            engine.remove_image(tag)
            for leftover in engine.images({PROJECT: project}):
                engine.remove_image(str(leftover["Id"]))
            engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
