"""The reusable Postgres singleton: found again by its labels and configuration hash,
health-checked before use, replaced when unhealthy or older than `max_reuse`.

Exactly one container per configuration: it has a fixed name, so a second run creating it at
the same moment gets a name conflict, and then finds it and waits until it is ready. A run
holds a lease (`leases.py`) while it uses the server, and nothing removes a leased server.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from hodei_e2e import identity as ident
from hodei_e2e import leases
from hodei_e2e.config import PostgresConfig
from hodei_e2e.docker import ContainerInfo, Engine, NameConflict
from hodei_e2e.errors import InfrastructureError
from hodei_e2e.postgres import PostgresServer, address_of, start_server, wait_ready

MAX_REUSE = f"{ident.LABEL}.max-reuse"
HEALTH_TIMEOUT = 2.0


@dataclass
class Acquired:
    server: PostgresServer
    reused: bool  # True: the container outlives the run
    note: str
    lease: leases.Lease | None = None
    existing: bool = False  # True: an earlier run created it

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None


def config_hash(project: str, config: PostgresConfig) -> str:
    """What makes two servers interchangeable: never silently a different one."""
    material = {
        "project": project,
        "image": config.image,
        "user": config.user,
        "password": hashlib.sha256(config.password.encode()).hexdigest(),
        "settings": dict(sorted(config.settings.items())),
        "tmpfs": config.tmpfs,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def container_name(project: str, digest: str) -> str:
    return f"hodei-e2e-{project}-postgres-{digest[:12]}"


def find(engine: Engine, project: str, digest: str) -> ContainerInfo | None:
    found = engine.containers(
        {
            ident.LABEL: "true",
            ident.PROJECT: project,
            ident.ROLE: "postgres",
            ident.REUSE: "true",
            ident.CONFIG_HASH: digest,
        }
    )
    return found[0] if found else None


def age(container: ContainerInfo) -> float:
    return time.time() - float(container.labels.get(ident.CREATED) or container.created)


def acquire(
    engine: Engine,
    config: PostgresConfig,
    identity: ident.RunIdentity,
    *,
    on_fresh: Callable[[ContainerInfo], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> Acquired:
    """A ready server for this configuration: reused when healthy, created when missing.

    The lease is taken first and held throughout, so that no other run replaces the server
    while this one creates or checks it. `on_fresh` is told of a container that is this run's
    alone (the fallback), so that the run removes it at its end like any non-reused server."""
    digest = config_hash(identity.project, config)
    name = container_name(identity.project, digest)
    lease = leases.Lease(name)
    try:
        return _acquire(engine, config, identity, name, lease, on_fresh, cancelled)
    except BaseException:
        lease.release()
        raise


def _acquire(
    engine: Engine,
    config: PostgresConfig,
    identity: ident.RunIdentity,
    name: str,
    lease: leases.Lease,
    on_fresh: Callable[[ContainerInfo], None],
    cancelled: Callable[[], bool],
) -> Acquired:
    digest = config_hash(identity.project, config)
    labels = {
        **identity.labels("postgres", reuse=True, config_hash=digest),
        MAX_REUSE: str(int(config.max_reuse)),
    }
    deadline = time.monotonic() + config.startup_timeout
    replaced = ""
    while True:
        existing = find(engine, identity.project, digest)
        if existing is None:
            try:
                server = start_server(engine, config, labels, name=name, cancelled=cancelled)
            except NameConflict:
                if time.monotonic() > deadline:
                    raise InfrastructureError(
                        f"another run kept creating {name} for {config.startup_timeout:g}s"
                    ) from None
                time.sleep(0.05)  # another run is creating it: find it on the next pass
                continue
            return Acquired(server, reused=True, note=f"created{replaced}", lease=lease)
        outcome = _try_existing(engine, config, existing, cancelled)
        if isinstance(outcome, PostgresServer):
            if age(existing) <= config.max_reuse:
                note = f"reused, up {age(existing):.0f}s{replaced}"
                return Acquired(outcome, reused=True, note=note, lease=lease, existing=True)
            if lease.others_hold():
                note = "reused past max_reuse: another run holds it"
                return Acquired(outcome, reused=True, note=note, lease=lease, existing=True)
            outcome = f"older than max_reuse ({config.max_reuse:g}s)"
        if lease.others_hold():
            lease.release()
            server = start_server(
                engine,
                config,
                identity.labels("postgres"),
                on_created=on_fresh,
                cancelled=cancelled,
            )
            return Acquired(
                server, reused=False, note=f"fresh server: the reused one is {outcome} and in use"
            )
        engine.remove([existing.id])
        replaced = f" (replaced one that was {outcome})"


def _try_existing(
    engine: Engine, config: PostgresConfig, container: ContainerInfo, cancelled: Callable[[], bool]
) -> PostgresServer | str:
    """The existing server, ready, or why it cannot be used. One created moments ago may still
    be starting (another run is creating it): it gets the time a start would get."""
    deadline = time.monotonic() + config.startup_timeout
    young = age(container) < config.startup_timeout
    while True:
        current = engine.find(container.id)
        if current is None:
            return "gone"
        if current.status == "running":
            break
        if current.status != "created" or not young or time.monotonic() > deadline:
            return current.status
        time.sleep(0.05)
    try:
        address = address_of(engine, container.id, config)
        server = PostgresServer(address, container)
        if young:
            wait_ready(
                address,
                max(1.0, deadline - time.monotonic()),
                alive=lambda: _running(engine, container.id),
                logs=lambda: engine.logs_tail(container.id, 30),
                cancelled=cancelled,
            )
        elif not server.query_ok(HEALTH_TIMEOUT):
            return "unhealthy (no answer to a query)"
    except InfrastructureError as error:
        return f"unhealthy ({error.message})"
    return server


def _running(engine: Engine, container_id: str) -> bool:
    found = engine.find(container_id)
    return found is not None and found.status == "running"
