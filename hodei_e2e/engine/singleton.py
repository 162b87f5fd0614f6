"""Reusable singletons: the Postgres server, and any service with `reuse`. Each is found again
by its labels and a hash of its configuration, health-checked before use, and replaced when it
is unhealthy, was made from an image the tag no longer points to, or is older than `max_reuse`.

Exactly one container per configuration: it has a fixed name, so a second run creating it at
the same moment gets a name conflict, and then finds it and waits until it is ready. A run
holds a lease (`leases.py`) while it uses the container, and nothing removes a leased one.

What differs between Postgres and a service (how to start one, how to tell it is healthy) is a
`Recipe`; the rules above are written once, here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from hodei_e2e.config import PostgresConfig, ServiceConfig
from hodei_e2e.engine.docker import ContainerInfo, Engine, NameConflict
from hodei_e2e.engine.poll import NotYet, poll
from hodei_e2e.engine.services import Progress, ServiceHandle, await_service, start_service
from hodei_e2e.errors import InfrastructureError
from hodei_e2e.ownership import identity as ident
from hodei_e2e.ownership import leases
from hodei_e2e.postgres.server import PostgresServer, address_of, start_server, wait_ready

HEALTH_TIMEOUT = 2.0

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
OnCreated = Callable[[ContainerInfo], None]


class Reusable(Protocol):
    """What `PostgresConfig` and `ServiceConfig` have in common."""

    @property
    def image(self) -> str: ...
    @property
    def startup_timeout(self) -> float: ...
    @property
    def max_reuse(self) -> float: ...


class Recipe(Protocol[T_co]):
    """One kind of reusable container."""

    @property
    def config(self) -> Reusable: ...
    @property
    def role(self) -> ident.Role: ...
    @property
    def label(self) -> str: ...  # in the container's name: "postgres", or the service's name

    def material(self) -> Mapping[str, object]:
        """What makes two containers interchangeable (hashed: secrets may be in it)."""
        ...

    def start(self, labels: Mapping[str, str], *, name: str | None, on_created: OnCreated) -> T_co:
        """Create a container and wait until it is ready."""
        ...

    def attach(self, container: ContainerInfo, *, starting: bool, timeout: float) -> T_co:
        """The running `container`, checked: waited for up to `timeout` when it is `starting`
        (another run is creating it), else one quick health check. Raises
        `InfrastructureError` saying why it cannot be used."""
        ...

    def cancelled(self) -> bool: ...


@dataclass
class Acquired(Generic[T]):
    resource: T
    reused: bool  # True: the container outlives the run
    note: str
    lease: leases.Lease | None = None
    existing: bool = False  # True: an earlier run created it

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None


def config_hash(project: str, recipe: Recipe[object]) -> str:
    """Never silently a different container: every setting that shapes it is in the hash."""
    material = {"project": project, "role": recipe.role, **recipe.material()}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def container_name(project: str, label: str, digest: str) -> str:
    return f"hodei-e2e-{project}-{label}-{digest[:12]}"


def find(engine: Engine, project: str, role: ident.Role, digest: str) -> ContainerInfo | None:
    found = engine.containers(
        {
            ident.LABEL: "true",
            ident.PROJECT: project,
            ident.ROLE: role,
            ident.REUSE: "true",
            ident.CONFIG_HASH: digest,
        }
    )
    return found[0] if found else None


def age(container: ContainerInfo) -> float:
    return time.time() - float(container.labels.get(ident.CREATED) or container.created)


def acquire(
    engine: Engine, recipe: Recipe[T], identity: ident.RunIdentity, *, on_fresh: OnCreated
) -> Acquired[T]:
    """A ready container for this configuration: reused when healthy, created when missing.

    The lease is taken first and held throughout, so that no other run replaces the container
    while this one creates or checks it. `on_fresh` is told of a container that is this run's
    alone (the fallback), so that the run removes it at its end like any other of its own."""
    digest = config_hash(identity.project, recipe)
    name = container_name(identity.project, recipe.label, digest)
    lease = leases.Lease(name)
    try:
        return _acquire(engine, recipe, identity, digest, name, lease, on_fresh)
    except BaseException:
        lease.release()
        raise


def _acquire(
    engine: Engine,
    recipe: Recipe[T],
    identity: ident.RunIdentity,
    digest: str,
    name: str,
    lease: leases.Lease,
    on_fresh: OnCreated,
) -> Acquired[T]:
    labels = {
        **identity.labels(recipe.role, reuse=True, config_hash=digest),
        ident.MAX_REUSE: str(int(recipe.config.max_reuse)),
    }
    replaced = ""  # what an earlier pass replaced, for the note

    def attempt(_left: float) -> Acquired[T]:
        nonlocal replaced
        existing = find(engine, identity.project, recipe.role, digest)
        if existing is not None:
            used = _use_existing(engine, recipe, identity, existing, lease, on_fresh, replaced)
            if isinstance(used, Acquired):
                return used
            engine.remove([existing.id])
            replaced = f" (replaced one that was {used})"
        try:
            resource = _create(engine, recipe, labels, name)
        except NameConflict:  # another run is creating it: find it on the next pass
            raise NotYet(f"another run is creating {name}") from None
        return Acquired(resource, reused=True, note=f"created{replaced}", lease=lease)

    def kept_creating(_why: str) -> Acquired[T]:
        raise InfrastructureError(
            f"another run kept creating {name} for {recipe.config.startup_timeout:g}s"
        )

    return poll(
        attempt,
        timeout=recipe.config.startup_timeout,
        interval=0.05,
        what=recipe.label,
        cancelled=recipe.cancelled,
        on_timeout=kept_creating,
    )


def _use_existing(
    engine: Engine,
    recipe: Recipe[T],
    identity: ident.RunIdentity,
    existing: ContainerInfo,
    lease: leases.Lease,
    on_fresh: OnCreated,
    replaced: str,
) -> Acquired[T] | str:
    """The existing container, reused; or a fresh one of this run's own when the existing one
    cannot be used and another run holds it; or why it cannot be used (it is to be replaced)."""
    outcome = _try_existing(engine, recipe, existing)
    if not isinstance(outcome, str):
        if age(existing) <= recipe.config.max_reuse:
            note = f"reused, up {age(existing):.0f}s{replaced}"
            return Acquired(outcome, reused=True, note=note, lease=lease, existing=True)
        if lease.others_hold():
            note = "reused past max_reuse: another run holds it"
            return Acquired(outcome, reused=True, note=note, lease=lease, existing=True)
        outcome = f"older than max_reuse ({recipe.config.max_reuse:g}s)"
    if lease.others_hold():
        lease.release()
        resource = recipe.start(identity.labels(recipe.role), name=None, on_created=on_fresh)
        return Acquired(
            resource, reused=False, note=f"fresh: the reused one is {outcome} and in use"
        )
    return outcome


def _create(engine: Engine, recipe: Recipe[T], labels: Mapping[str, str], name: str) -> T:
    """Start the named container; one that never gets ready is removed, not left to the next
    run (the lease keeps any other run from using it meanwhile)."""
    created: list[ContainerInfo] = []
    try:
        return recipe.start(labels, name=name, on_created=created.append)
    except BaseException:
        if created:
            engine.remove([created[0].id])
        raise


def _try_existing(engine: Engine, recipe: Recipe[T], container: ContainerInfo) -> T | str:
    """The existing container, ready, or why it cannot be used. One created moments ago may
    still be starting (another run is creating it): it gets the time a start would get."""
    deadline = time.monotonic() + recipe.config.startup_timeout
    starting = age(container) < recipe.config.startup_timeout

    def running(_left: float) -> ContainerInfo | str:
        current = engine.find(container.id)
        if current is None:
            if starting and _still_listed(engine, container):
                # Docker 20.10 lists a container being created before it answers an inspect of
                # it (a 404 for a few milliseconds): not gone, only not there yet.
                raise NotYet("gone")
            return "gone"
        if current.status == "running":
            return current
        if current.status != "created" or not starting:
            return current.status
        raise NotYet(current.status)  # another run is starting it

    current = poll(
        running,
        timeout=recipe.config.startup_timeout,
        interval=0.05,
        what=recipe.label,
        cancelled=recipe.cancelled,
        on_timeout=lambda why: why,
    )
    if isinstance(current, str):
        return current
    stale = _image_changed(engine, recipe.config.image, current)
    if stale:
        return stale
    timeout = max(1.0, deadline - time.monotonic()) if starting else HEALTH_TIMEOUT
    try:
        return recipe.attach(current, starting=starting, timeout=timeout)
    except InfrastructureError as error:
        _check_cancelled(recipe)  # a cancelled wait says nothing of the container's health
        return f"unhealthy ({error.message})"


def _still_listed(engine: Engine, container: ContainerInfo) -> bool:
    selector = {key: container.labels.get(key, "") for key in (ident.PROJECT, ident.CONFIG_HASH)}
    return any(found.id == container.id for found in engine.containers(selector))


def _check_cancelled(recipe: Recipe[object]) -> None:
    if recipe.cancelled():
        raise InfrastructureError(f"{recipe.label}: start cancelled")


def _image_changed(engine: Engine, image: str, container: ContainerInfo) -> str | None:
    """Like `docker compose up`: a container whose image the tag no longer names is stale."""
    current = engine.image_id(image)
    if current and container.image_id and current != container.image_id:
        return f"made from an older {image}"
    return None


# -- Recipes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresRecipe:
    config: PostgresConfig
    engine: Engine
    cancelled: Callable[[], bool] = lambda: False
    role: ident.Role = "postgres"
    label: str = "postgres"

    def material(self) -> Mapping[str, object]:
        config = self.config
        return {
            "image": config.image,
            "user": config.user,
            "password": hashlib.sha256(config.password.encode()).hexdigest(),
            "settings": dict(sorted(config.settings.items())),
            "tmpfs": config.tmpfs,
            # Only when set, so that servers made before the key existed are still found.
            **(
                {"environment": dict(sorted(config.environment.items()))}
                if config.environment
                else {}
            ),
        }

    def start(
        self, labels: Mapping[str, str], *, name: str | None, on_created: OnCreated
    ) -> PostgresServer:
        return start_server(
            self.engine,
            self.config,
            labels,
            name=name,
            on_created=on_created,
            cancelled=self.cancelled,
        )

    def attach(self, container: ContainerInfo, *, starting: bool, timeout: float) -> PostgresServer:
        engine = self.engine
        server = PostgresServer(address_of(engine, container.id, self.config), container)
        if starting:
            wait_ready(
                server.address,
                timeout,
                alive=lambda: _running(engine, container.id),
                logs=lambda: engine.logs_tail(container.id, 30),
                cancelled=self.cancelled,
            )
        elif not server.query_ok(timeout):
            raise InfrastructureError("no answer to a query")
        return server


@dataclass(frozen=True)
class ServiceRecipe:
    config: ServiceConfig
    engine: Engine
    cancelled: Callable[[], bool] = lambda: False
    progress: Progress | None = None
    role: ident.Role = "service"

    @property
    def label(self) -> str:
        return self.config.name

    def material(self) -> Mapping[str, object]:
        config = self.config
        return {
            "service": config.name,
            "image": config.image,
            "command": list(config.command) if config.command is not None else None,
            "environment": dict(sorted(config.environment.items())),
            "ports": list(config.ports),
        }

    def start(
        self, labels: Mapping[str, str], *, name: str | None, on_created: OnCreated
    ) -> ServiceHandle:
        return start_service(
            self.engine,
            self.config,
            labels,
            name=name,
            on_created=on_created,
            cancelled=self.cancelled,
        )

    def attach(self, container: ContainerInfo, *, starting: bool, timeout: float) -> ServiceHandle:
        del starting  # the readiness check is the health check: only the time given differs
        return await_service(self.engine, self.config, container, timeout, cancelled=self.cancelled)


def _running(engine: Engine, container_id: str) -> bool:
    found = engine.find(container_id)
    return found is not None and found.status == "running"
