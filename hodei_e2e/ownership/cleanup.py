"""Finding and removing orphans: what a dead run left behind (DESIGN.md, "What counts as an
orphan"). `run` sweeps with the same code at its start, and the watchdog after a crash.

Nothing without the tool's labels (or the platform's `hodei.managed`, or, when asked,
Testcontainers' labels) is ever looked at, and nothing of a live run is ever touched.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hodei_e2e.config import DEFAULT_MAX_REUSE
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.errors import ExitCode
from hodei_e2e.ownership import identity as ident

if TYPE_CHECKING:
    from hodei_e2e.config import Config
    from hodei_e2e.console import Output

Kind = Literal["container", "network", "volume", "database", "process"]
TESTCONTAINERS = "org.testcontainers"
RUNNING = ("running", "restarting", "paused")


@dataclass(frozen=True)
class Orphan:
    kind: Kind
    id: str
    name: str
    reason: str
    role: str = ""


@dataclass(frozen=True)
class Removed:
    orphan: Orphan
    error: str | None = None


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


def _container_orphan(
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


BUILD_LEFTOVER_AGE = 60.0


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


def find_orphans(engine: Engine, policy: SweepPolicy) -> list[Orphan]:
    everything = engine.containers([])
    ours = [c for c in everything if c.labels.get(ident.LABEL) == "true"]
    live = live_run_starts(ours, policy)
    if policy.project is not None:  # workers and Testcontainers' carry no project: kept in
        everything = [
            c
            for c in everything
            if c.labels.get(ident.LABEL) != "true" or c.labels.get(ident.PROJECT) == policy.project
        ]
    candidates = [
        c
        for c in everything
        if c.labels.get(ident.LABEL) == "true"
        or c.labels.get(ident.WORKER_LABEL) == "true"
        or (policy.testcontainers and is_testcontainers(c.labels))
    ]
    runs = run_liveness(ours, policy)
    orphans = [o for c in candidates if (o := _container_orphan(c, policy, live, runs)) is not None]
    if not policy.networks_and_volumes:
        return orphans
    for network in engine.networks([f"{ident.LABEL}=true"]):
        labels = dict(network.get("Labels") or {})
        created = float(labels.get(ident.CREATED, 0) or 0)
        if (reason := owner_verdict(labels, policy, created)) is not None:
            orphans.append(Orphan("network", str(network["Id"]), str(network["Name"]), reason))
    for volume in engine.volumes([f"{ident.LABEL}=true"]):
        labels = dict(volume.get("Labels") or {})
        created = float(labels.get(ident.CREATED, 0) or 0)
        if labels.get(ident.REUSE) == "true" and not policy.all:
            continue
        if (reason := owner_verdict(labels, policy, created)) is not None:
            orphans.append(Orphan("volume", str(volume["Name"]), str(volume["Name"]), reason))
    return orphans


def process_orphans_of(policy: SweepPolicy) -> list[Orphan]:
    """Processes a dead run of this host left running (its suites' escaped descendants, a
    migration command); the id is the pid."""
    from hodei_e2e.ownership.process_orphans import stray_processes

    return [
        Orphan("process", str(p.pid), p.command[:80], "process of a run that is gone")
        for p in stray_processes(policy.host())
    ]


def database_orphans(engine: Engine, config: Config, policy: SweepPolicy) -> list[Orphan]:
    """Test databases of dead runs inside the project's running reused servers (the config
    gives the credentials). The id is `<container id>/<database>`."""
    from hodei_e2e.postgres.databases import dead_run_databases
    from hodei_e2e.postgres.server import PostgresServer, address_of

    prefix = config.postgres.database_prefix
    found: list[Orphan] = []
    servers = engine.containers(
        {
            ident.LABEL: "true",
            ident.PROJECT: config.project,
            ident.ROLE: "postgres",
            ident.REUSE: "true",
        }
    )
    for container in servers:
        if container.status != "running":
            continue
        server = PostgresServer(address_of(engine, container.id, config.postgres), container)
        try:
            for name in dead_run_databases(server, prefix, policy.host()):
                found.append(
                    Orphan(
                        "database",
                        f"{container.id}/{name}",
                        name,
                        f"test database of a run that is gone ({container.name})",
                    )
                )
        finally:
            server.close()
    return found


def _drop(engine: Engine, config: Config, orphan: Orphan) -> str | None:
    from hodei_e2e.errors import E2EError
    from hodei_e2e.postgres.server import PostgresServer, address_of

    container_id, _, name = orphan.id.partition("/")
    try:
        server = PostgresServer(address_of(engine, container_id, config.postgres))
        try:
            server.drop_database(name)
        finally:
            server.close()
    except E2EError as error:
        return error.message
    return None


def remove(
    engine: Engine,
    orphans: Sequence[Orphan],
    *,
    parallel: int = 16,
    config: Config | None = None,
) -> list[Removed]:
    """Remove containers in parallel first (they hold networks and volumes), then the rest."""
    containers = [o for o in orphans if o.kind == "container"]
    results = {r.id: r.error for r in engine.remove([o.id for o in containers], parallel=parallel)}
    removed = [Removed(o, results.get(o.id)) for o in containers]
    others: list[tuple[Orphan, Callable[[str], str | None]]] = [
        (o, engine.remove_network if o.kind == "network" else engine.remove_volume)
        for o in orphans
        if o.kind in ("network", "volume")
    ]
    if others:
        with ThreadPoolExecutor(max_workers=min(parallel, len(others))) as pool:
            errors = list(pool.map(lambda pair: pair[1](pair[0].id), others))
        removed += [Removed(o, error) for (o, _), error in zip(others, errors, strict=True)]
    if config is not None:
        removed += [Removed(o, _drop(engine, config, o)) for o in orphans if o.kind == "database"]
    strays = [o for o in orphans if o.kind == "process"]
    if strays:
        from hodei_e2e.suites.processes import process_alive, terminate_processes

        terminate_processes([int(o.id) for o in strays], grace=1.0)
        removed += [
            Removed(o, "still running after SIGKILL" if process_alive(int(o.id)) else None)
            for o in strays
        ]
    return removed


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


def sweep_command(
    policy: SweepPolicy,
    *,
    config_path: Path | None,
    dry_run: bool,
    as_json: bool,
    verbosity: int = 0,
) -> int:
    """`hodei-e2e cleanup`: find, remove (unless `dry_run`), and report as a table or JSON.

    With a config (`-c FILE`, or `./e2e.yaml` / `$HODEI_E2E_CONFIG` when present) it also drops
    dead runs' databases in the project's reused servers; `-c` also limits the sweep to that
    project."""
    import json
    from dataclasses import replace

    from hodei_e2e.config import load_config
    from hodei_e2e.console import Output

    out = Output(verbosity)
    found = config_path or _default_config()
    config = load_config(found) if found is not None else None
    if config is not None and config_path is not None:
        policy = replace(policy, project=config.project)
    engine = Engine.connect()
    try:
        orphans = find_orphans(engine, policy) + process_orphans_of(policy)
        if config is not None:
            orphans += database_orphans(engine, config, policy)
        removed = (
            [Removed(o) for o in orphans] if dry_run else remove(engine, orphans, config=config)
        )
    finally:
        engine.close()
    if not dry_run:
        from hodei_e2e.ownership import leases

        leases.prune()
    failed = [r for r in removed if r.error]
    if as_json:
        doc = {"dry_run": dry_run, "removed": [_record(r, dry_run) for r in removed]}
        print(json.dumps(doc, indent=2))
    else:
        _table(out, removed, dry_run)
    return ExitCode.INFRASTRUCTURE if failed else ExitCode.OK


def _default_config() -> Path | None:
    from hodei_e2e.config import config_path

    path = config_path(None)
    return path if path.is_file() else None


def _record(item: Removed, dry_run: bool) -> dict[str, str | None]:
    orphan = item.orphan
    return {
        "kind": orphan.kind,
        "id": orphan.id,
        "name": orphan.name,
        "role": orphan.role,
        "reason": orphan.reason,
        "result": "would remove" if dry_run else ("failed" if item.error else "removed"),
        "error": item.error,
    }


def _table(out: Output, removed: Sequence[Removed], dry_run: bool) -> None:
    from rich.table import Table

    if not removed:
        out.print("nothing to clean up")
        return
    table = Table()
    for column in ("kind", "name", "role", "reason", "result"):
        table.add_column(column, overflow="fold")
    for item in removed:
        record = _record(item, dry_run)
        table.add_row(
            *(str(record[key] or "") for key in ("kind", "name", "role", "reason")),
            f"{record['result']}: {item.error}" if item.error else str(record["result"]),
        )
    out.err.print(table)
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {sum(1 for r in removed if not r.error)} of {len(removed)}")
