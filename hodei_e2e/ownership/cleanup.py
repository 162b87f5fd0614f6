"""Finding and removing orphans on the engine, in the reused servers and among this host's
processes; `cleanup`, every run's start and the watchdog after a crash sweep with this code.
The rules of what is an orphan are in `orphans`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hodei_e2e.engine.docker import Engine
from hodei_e2e.ownership import identity as ident
from hodei_e2e.ownership.orphans import (
    Orphan,
    SweepPolicy,
    container_orphan,
    is_testcontainers,
    live_run_starts,
    owner_verdict,
    run_liveness,
)

if TYPE_CHECKING:
    from hodei_e2e.config import Config


@dataclass(frozen=True)
class Removed:
    orphan: Orphan
    error: str | None = None


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
    orphans = [o for c in candidates if (o := container_orphan(c, policy, live, runs)) is not None]
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
