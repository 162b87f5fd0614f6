"""What counts as an orphan (DESIGN.md, "What counts as an orphan"): the rules that tell, from
a resource's labels and the liveness of its owner, whether it is a dead run's; and which of the
containers a run's suites left are that run's (the platform's workers, Testcontainers').

Nothing without the tool's labels (or the platform's `hodei.managed`, or, when asked,
Testcontainers' labels) is ever judged, and nothing of a live run is ever an orphan.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from hodei_e2e.config import DEFAULT_MAX_REUSE
from hodei_e2e.engine.docker import ContainerInfo
from hodei_e2e.ownership import identity as ident

Kind = Literal["container", "network", "volume", "database", "process"]
TESTCONTAINERS = "org.testcontainers"
RUNNING = ("running", "restarting", "paused")
BUILD_LEFTOVER_AGE = 60.0


@dataclass(frozen=True)
class Orphan:
    kind: Kind
    id: str
    name: str
    reason: str
    role: str = ""


@dataclass(frozen=True)
class SweepPolicy:
    all: bool = False  # also reusable singletons
    older_than: float | None = None  # seconds; resources of other hosts need it
    testcontainers: bool = False  # Testcontainers' containers older than `older_than`
    hostname: str = ""
    now: float = 0.0
    project: str | None = None  # only this project's labelled resources (`cleanup -c FILE`)
    networks_and_volumes: bool = True  # a run's own sweep skips them: runs create none

    def host(self) -> str:
        return self.hostname or socket.gethostname()

    def age(self, created: float) -> float:
        return (self.now or time.time()) - created

    def old_enough(self, created: float) -> bool:
        return self.older_than is not None and self.age(created) >= self.older_than


def is_testcontainers(labels: Mapping[str, str]) -> bool:
    return any(key == TESTCONTAINERS or key.startswith(TESTCONTAINERS + ".") for key in labels)


def owner_verdict(labels: Mapping[str, str], policy: SweepPolicy, created: float) -> str | None:
    """Why a resource with owner labels is an orphan, or None when it must stay."""
    alive = ident.owner_alive(labels, policy.host())
    owner = labels.get(ident.OWNER, "?")
    if alive is None:
        if policy.old_enough(created):
            return f"owner {owner} is on another host; older than {policy.older_than:g}s"
        return None
    if alive:
        return None
    return f"owner {owner} is gone"


def container_orphan(
    container: ContainerInfo,
    policy: SweepPolicy,
    live_runs: Sequence[float],
    runs: Mapping[str, bool] | None = None,
) -> Orphan | None:
    labels = container.labels
    role = labels.get(ident.ROLE, "")
    reason: str | None = None
    if labels.get(ident.WORKER_LABEL) == "true":
        reason = _worker_verdict(container, live_runs, runs or {})
    elif role == "worker-image":
        reason = _build_leftover_verdict(container, policy)
    elif labels.get(ident.LABEL) == "true":
        if labels.get(ident.REUSE) == "true":
            reason = _singleton_verdict(container, policy)
        else:
            reason = owner_verdict(labels, policy, container.created)
    elif (
        policy.testcontainers and is_testcontainers(labels) and policy.old_enough(container.created)
    ):
        reason = f"Testcontainers container older than {policy.older_than:g}s"
    if reason is None:
        return None
    return Orphan("container", container.id, container.name, reason, role or _kind(labels))


def _build_leftover_verdict(container: ContainerInfo, policy: SweepPolicy) -> str | None:
    """A container that has our image's labels but is no worker: a step container that an
    interrupted build left behind. Only stopped ones, and only once no build could still be
    using them (a step's container lives for seconds)."""
    if container.status in RUNNING or policy.age(container.created) < BUILD_LEFTOVER_AGE:
        return None
    return f"{container.status} container of an image build"


def _singleton_verdict(container: ContainerInfo, policy: SweepPolicy) -> str | None:
    """A reusable server goes with `--all`, or when idle past its `max_reuse`; never while a
    live run holds a lease on it."""
    from hodei_e2e.ownership import leases

    if leases.in_use(container.name):
        return None
    if policy.all:
        return "reusable singleton (--all)"
    created = float(container.labels.get(ident.CREATED) or container.created)
    limit = float(container.labels.get(ident.MAX_REUSE) or DEFAULT_MAX_REUSE)
    if policy.age(created) > limit:
        return f"idle reusable singleton older than its max_reuse ({limit:g}s)"
    return None


def _kind(labels: Mapping[str, str]) -> str:
    if labels.get(ident.WORKER_LABEL) == "true":
        return "worker"
    return "testcontainers" if is_testcontainers(labels) else ""


def _worker_verdict(
    worker: ContainerInfo, live_runs: Sequence[float], runs: Mapping[str, bool]
) -> str | None:
    """A worker that names its run goes with that run. Otherwise, a worker no live run can own
    is an orphan, stopped or not; one created while a live run was in progress may be that
    run's, and the run removes it itself when it ends."""
    run_id = worker.labels.get(ident.RUN_ID)
    if run_id and run_id in runs:
        return None if runs[run_id] else f"worker of run {run_id}, which is gone"
    if any(started - 1 <= worker.created for started in live_runs):
        return None
    if worker.status not in RUNNING:
        return f"worker {worker.status}"
    return "worker of a run that is gone"


def live_run_starts(containers: Iterable[ContainerInfo], policy: SweepPolicy) -> list[float]:
    """When the live runs started, read from the containers they own or lease. Conservative:
    a run of another host counts as live unless it is past `--older-than`, and a reused server
    that a run holds counts as a run that has been going since the server was created."""
    from hodei_e2e.ownership import leases

    starts: list[float] = []
    for container in containers:
        labels = container.labels
        if labels.get(ident.LABEL) != "true" or labels.get(ident.ROLE) == "worker-image":
            continue
        created = float(labels.get(ident.CREATED) or container.created)
        alive = ident.owner_alive(labels, policy.host())
        if alive is None:
            alive = not policy.old_enough(created)
        if alive or (labels.get(ident.REUSE) == "true" and leases.in_use(container.name)):
            starts.append(created)
    return starts


def run_liveness(containers: Iterable[ContainerInfo], policy: SweepPolicy) -> dict[str, bool]:
    """Run id -> whether its owner lives, for the runs these containers tell of (a run is
    alive when any of its containers has a live owner)."""
    runs: dict[str, bool] = {}
    for container in containers:
        labels = container.labels
        run_id = labels.get(ident.RUN_ID)
        if not run_id or labels.get(ident.ROLE) == "worker-image" or ident.OWNER not in labels:
            continue
        alive = ident.owner_alive(labels, policy.host()) is not False
        runs[run_id] = runs.get(run_id, False) or alive
    return runs


def other_live_starts(containers: Iterable[ContainerInfo], run_id: str) -> list[float]:
    """When the live runs other than `run_id` started: what they may own is not `run_id`'s."""
    return live_run_starts(
        [c for c in containers if c.labels.get(ident.RUN_ID) != run_id], SweepPolicy()
    )


def in_window(created: float, started: float, until: float, others: Sequence[float] = ()) -> bool:
    """Created while a run went on, and not while another live run did too."""
    if not started - 1 <= created <= until + 1:
        return False
    return not any(other - 1 <= created for other in others)


def owned_by_run(
    container: ContainerInfo, run_id: str, started: float, until: float, others: Sequence[float]
) -> bool:
    """A container a run's suites created: its run-id label says whose it is (a suite may label
    what it creates with HODEI_E2E_RUN_ID); without one, created while the run went on and
    while no other live run did."""
    label = container.labels.get(ident.RUN_ID)
    if label:
        return label == run_id
    return in_window(container.created, started, until, others)


def leaked_testcontainers(
    containers: Iterable[ContainerInfo],
    run_id: str,
    started: float,
    until: float,
    others: Sequence[float],
) -> list[ContainerInfo]:
    """Testcontainers' containers of a run (testcontainers-rs never drops the `static`
    containers of a suite, so each such suite leaks one), leaving another live run's."""
    return [
        c
        for c in containers
        if is_testcontainers(c.labels) and owned_by_run(c, run_id, started, until, others)
    ]
