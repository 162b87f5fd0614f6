"""The run's one Postgres server: started in the background (fresh, or the reused singleton),
awaited by the main line, then migrated once into the template every database is copied from."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from hodei_e2e import faults
from hodei_e2e.config import Config
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.engine.singleton import Acquired
from hodei_e2e.ownership.identity import RunIdentity
from hodei_e2e.ownership.reaper import Watchdog
from hodei_e2e.pipeline.background import Background, settled
from hodei_e2e.postgres.migrations import Template
from hodei_e2e.postgres.server import PostgresServer


@dataclass(frozen=True)
class PostgresUp:
    """The server that came up, its lease when it is reused, and how it came (for the line)."""

    server: PostgresServer
    singleton: Acquired[PostgresServer] | None
    note: str

    @property
    def reused(self) -> bool:
        return bool(self.singleton and self.singleton.reused)


@dataclass(frozen=True)
class Postgres:
    """The server ready for databases: the migrated template, and the times of its start."""

    up: PostgresUp
    template: Template | None
    started: float  # unix seconds
    ready_at: float

    @property
    def server(self) -> PostgresServer:
        return self.up.server

    def record(self, waits: dict[str, float]) -> dict[str, object]:
        """The JSON report's `postgres`."""
        singleton = self.up.singleton
        container = self.server.container
        return {
            "container": container.id if container else None,
            "reused": self.up.reused,
            "existing": bool(singleton and singleton.existing),
            "template": self.template.name if self.template else None,
            "database_waits": {k: round(v, 4) for k, v in waits.items()},
            "started": round(self.started, 3),
            "ready_at": round(self.ready_at, 3),
        }


@dataclass
class PostgresStart:
    """The server's start in the background; `close` undoes whatever of it exists."""

    config: Config
    engine: Engine
    identity: RunIdentity
    reuse: bool
    on_created: Callable[[ContainerInfo], None]
    future: Future[PostgresUp] | None = field(default=None, init=False)
    started: float = field(default=0.0, init=False)

    def begin(self, background: Background) -> None:
        self.started = time.time()
        self.future = background.submit(lambda: self._provision(background))

    def wait(self, background: Background, out: Output, watchdog: Watchdog) -> Postgres:
        """The server ready (its line on the board), the watchdog told, the template made."""
        assert self.future is not None
        with out.step(f"postgres {self.config.postgres.image}") as note:
            up = background.wait(self.future)
            ready_at = time.time()
            address = up.server.address
            note.text = (
                f"{address.host}:{address.port}{up.note}, "
                f"ready {ready_at - self.started:.2f}s after the start"
            )
        watchdog.tell(admin_url=up.server.admin_url(), reused=up.reused)
        if up.reused:
            self._drop_dead_databases(up.server, out)
        return Postgres(up, self._migrate(up.server, out), self.started, ready_at)

    def close(self) -> None:
        """The connections closed and the lease given back, of whatever came up."""
        up = settled(self.future)
        if up is None:
            return
        up.server.close()
        if up.singleton is not None:
            up.singleton.release()

    def __enter__(self) -> PostgresStart:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _provision(self, background: Background) -> PostgresUp:
        from hodei_e2e.postgres.server import start_server

        faults.point("postgres")
        config = self.config.postgres
        if self.reuse:
            from hodei_e2e.engine import singleton

            recipe = singleton.PostgresRecipe(config, self.engine, background.stopping)
            acquired = singleton.acquire(
                self.engine, recipe, self.identity, on_fresh=self.on_created
            )
            return PostgresUp(acquired.resource, acquired, f", {acquired.note}")
        server = start_server(
            self.engine,
            config,
            self.identity.labels("postgres"),
            on_created=self.on_created,
            cancelled=background.stopping,
        )
        return PostgresUp(server, None, "")

    def _drop_dead_databases(self, server: PostgresServer, out: Output) -> None:
        """A reused server: what dead runs left in it goes first."""
        from hodei_e2e.postgres.databases import drop_dead_run_databases

        prefix = self.config.postgres.database_prefix
        for name in drop_dead_run_databases(server, prefix, self.identity.hostname):
            out.detail(f"  dropped {name}: its run is gone")

    def _migrate(self, server: PostgresServer, out: Output) -> Template | None:
        migrations = self.config.postgres.migrations
        if migrations is None:
            return None
        from hodei_e2e.postgres.migrations import ensure_template

        with out.step("migrations") as note:
            faults.point("migrations")
            template = ensure_template(
                server, migrations, self.config.root, self.config.postgres.database_prefix
            )
            strategy = f", copies with {template.strategy}" if template.strategy else ""
            done = "applied" if template.migrated else "up to date"
            note.text = f"{done} in template {template.name}{strategy}"
        return template
