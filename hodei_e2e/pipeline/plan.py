"""What a run was asked for (`RunOptions`, the command line) and what it will do (`RunPlan`, the
config and the selection): both fixed before anything starts, and never changed after."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from hodei_e2e.config import Config, ServiceConfig, SuiteConfig, config_path, load_config
from hodei_e2e.masking import masker
from hodei_e2e.ownership.identity import RunIdentity
from hodei_e2e.postgres.databases import Isolation
from hodei_e2e.report.github import GitHubReporter, in_github_actions
from hodei_e2e.suites.selection import select

DEFAULT_WORKER_IMAGE = "hodei-worker:e2e-test"


@dataclass(frozen=True)
class RunOptions:
    config_path: Path | None = None
    suites: tuple[str, ...] = ()
    keyword: str | None = None
    tags: tuple[str, ...] = ()
    jobs: int | None = None
    fail_fast: bool = False
    timeout: float | None = None
    junit: Path | None = None
    json: Path | None = None
    keep: bool = False
    build: bool = True
    verbosity: int = 0
    reuse: bool | None = None  # None: as the config says
    isolation: Isolation = "database"
    shard: tuple[int, int] | None = None  # (K, N): the K-th of N shards
    timings: Path | None = None  # a JSON report of an earlier run, to balance shards
    list_only: bool = False
    strict: bool | None = None  # None: strict under CI
    prepare: bool = True  # False: --no-prepare


@dataclass(frozen=True)
class RunPlan:
    """The run to do: its config, the suites selected (and sharded), who it is, where it logs."""

    config: Config
    options: RunOptions
    suites: tuple[SuiteConfig, ...]
    identity: RunIdentity
    github: GitHubReporter | None
    started: float = field(default_factory=time.monotonic)

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "runs" / self.identity.run_id

    @property
    def state_dir(self) -> Path:
        return self.config.root / ".hodei-e2e"

    @property
    def strict(self) -> bool:
        return self.options.strict if self.options.strict is not None else "CI" in os.environ

    @property
    def reuse(self) -> bool:
        if self.options.isolation == "container":
            return False
        return self.config.postgres.reuse if self.options.reuse is None else self.options.reuse

    def reuses(self, service: ServiceConfig) -> bool:
        """`--reuse`/`--no-reuse` apply to every service; without them, its own `reuse`."""
        return service.reuse if self.options.reuse is None else self.options.reuse

    @property
    def jobs(self) -> int:
        return self.options.jobs or self.config.defaults.jobs

    @property
    def worker_image(self) -> str:
        if self.config.image is not None:
            return self.config.image.tag
        return os.environ.get("HODEI_WORKER_IMAGE", DEFAULT_WORKER_IMAGE)

    @property
    def image_after_prepare(self) -> bool:
        """The image packages what the prepare step builds: it waits for the step."""
        image = self.config.image
        return bool(image and image.after_prepare and self.prepares)

    @property
    def prepares(self) -> bool:
        return self.config.prepare is not None and self.options.prepare


def plan_run(options: RunOptions) -> RunPlan:
    config = load_config(config_path(options.config_path))
    suites = select(list(config.suites.values()), options.suites, options.keyword, options.tags)
    if options.shard is not None:
        from hodei_e2e.suites.sharding import load_timings, shard

        timings = load_timings(options.timings) if options.timings else None
        suites = shard(suites, *options.shard, timings)
    masker.add(config.postgres.password)
    github = GitHubReporter() if in_github_actions() else None
    return RunPlan(config, options, tuple(suites), RunIdentity(project=config.project), github)
