"""The services the selected suites need (Redis, RabbitMQ, ...), all started at once in the
background, each reused or fresh; a suite waits only for the services it needs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

from hodei_e2e.config import ServiceConfig, SuiteConfig
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.engine.services import ServiceHandle
from hodei_e2e.engine.singleton import Acquired
from hodei_e2e.errors import E2EError
from hodei_e2e.ownership.identity import RunIdentity
from hodei_e2e.pipeline.background import Background, settled
from hodei_e2e.suites.runner import INTERRUPTED, SkipSuite


@dataclass(frozen=True)
class Started:
    """A service that came up: its handle, and its lease when it is reused."""

    handle: ServiceHandle
    singleton: Acquired[ServiceHandle] | None
    note: str


@dataclass
class ServiceStart:
    """One service starting in the background: its future, and when and how it ended (the JSON
    report's record). Only its own task writes the times."""

    config: ServiceConfig
    future: Future[Started] = field(default_factory=Future)
    started: float = field(default_factory=time.time)
    ready_at: float | None = None
    reason: str = ""

    def outcome(self) -> Started | None:
        """What the start gave, once it ended well; None while it runs, or when it failed."""
        return settled(self.future)

    def release(self) -> None:
        started = self.outcome()
        if started is not None and started.singleton is not None:
            started.singleton.release()

    def record(self) -> dict[str, object]:
        started = self.outcome() if self.ready_at else None
        singleton = started.singleton if started else None
        return {
            "name": self.config.name,
            "image": self.config.image,
            "container": started.handle.container.id if started else None,
            "reused": bool(singleton and singleton.reused),
            "existing": bool(singleton and singleton.existing),
            "status": "ready" if self.ready_at else ("failed" if self.reason else "starting"),
            "started": round(self.started, 3),
            "ready_at": round(self.ready_at, 3) if self.ready_at else None,
            "reason": self.reason,
        }


@dataclass
class ServiceStarts:
    """Every service of the run: begun at once with `begin`, released with `release`."""

    engine: Engine
    identity: RunIdentity
    out: Output
    reuses: Callable[[ServiceConfig], bool]
    on_created: Callable[[ContainerInfo], None]
    entries: dict[str, ServiceStart] = field(default_factory=dict)

    def begin(self, services: Sequence[ServiceConfig], background: Background) -> None:
        for service in services:
            entry = self.entries[service.name] = ServiceStart(service)
            entry.future = background.submit(
                lambda entry=entry: self._start(entry, background)  # type: ignore[misc]
            )

    def wait_all(self, background: Background) -> None:
        """Strict runs: a service that fails fails the run."""
        for entry in self.entries.values():
            background.wait(entry.future)

    def exports_for(self, suite: SuiteConfig, background: Background) -> dict[str, str]:
        """The exports of the services `suite` needs, waiting for each; SkipSuite if one failed."""
        exports: dict[str, str] = {}
        for name in suite.needs:
            entry = self.entries.get(name)
            if entry is None:
                continue
            try:
                exports.update(entry.future.result().handle.exports())
            except CancelledError:
                raise SkipSuite(INTERRUPTED, interrupted=True) from None
            except E2EError as error:
                if background.stopping():
                    raise SkipSuite(INTERRUPTED, interrupted=True) from None
                detail = f"; {error.detail}" if error.detail else ""
                raise SkipSuite(f"service {name} did not start: {error.message}{detail}") from None
        return exports

    def release(self) -> None:
        for entry in self.entries.values():
            entry.release()

    def __enter__(self) -> ServiceStarts:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def records(self) -> list[dict[str, object]]:
        return [entry.record() for entry in self.entries.values()]

    def _start(self, entry: ServiceStart, background: Background) -> Started:
        service, out = entry.config, self.out
        entry.started = time.time()  # when it really starts, not when it was queued
        try:
            started = self._provision(service, background)
        except E2EError as error:
            entry.reason = error.message
            if background.stopping():  # cancelled by the signal: the run says so once
                raise
            out.print(
                f"✗ service {service.name} ({time.time() - entry.started:.2f}s): {error.message}",
                style="red",
                min_verbosity=-1,
            )
            if error.detail:
                out.print(error.detail, min_verbosity=-1)
            raise
        entry.ready_at = time.time()
        out.print(
            f"✓ service {service.name} ({entry.ready_at - entry.started:.2f}s): "
            f"{service.image}, {started.note}",
            style="green",
        )
        return started

    def _provision(self, service: ServiceConfig, background: Background) -> Started:
        """The service ready, reused or fresh; runs in the background."""
        from hodei_e2e.engine import singleton
        from hodei_e2e.engine.services import start_service

        def progress(waited: float, why: str) -> None:
            self.out.print(f"… service {service.name} not ready after {waited:.0f}s: {why}")

        self.out.detail(f"  service {service.name}: starting {service.image}")
        if self.reuses(service):
            recipe = singleton.ServiceRecipe(service, self.engine, background.stopping, progress)
            acquired = singleton.acquire(
                self.engine, recipe, self.identity, on_fresh=self.on_created
            )
            return Started(acquired.resource, acquired, acquired.note)
        handle = start_service(
            self.engine,
            service,
            self.identity.labels("service"),
            on_created=self.on_created,
            cancelled=background.stopping,
            progress=progress,
        )
        return Started(handle, None, "ready")
