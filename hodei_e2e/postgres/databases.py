"""A database of its own for every suite: on the shared server (the default), or in a server
of its own (`--isolation container`, for suites that need server-level isolation).

Either way the suite sees the same environment contract; a migrated template, when there is
one, is what every suite database is a copy of.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

from hodei_e2e import faults
from hodei_e2e.config import Config, SuiteConfig
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.errors import InfrastructureError
from hodei_e2e.ownership import identity as ident
from hodei_e2e.postgres.migrations import Template, ensure_template
from hodei_e2e.postgres.server import PostgresServer, start_server

Isolation = Literal["database", "container"]


@dataclass(frozen=True)
class SuiteDatabase:
    name: str
    server: PostgresServer
    template: str | None
    own_server: bool  # True: the server exists for this suite alone


class Databases:
    def __init__(
        self,
        *,
        engine: Engine,
        config: Config,
        identity: ident.RunIdentity,
        shared: PostgresServer | None,
        template: Template | None,
        isolation: Isolation,
        on_container: Callable[[ContainerInfo], None],
        on_database: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.identity = identity
        self.shared = shared
        self.template = template
        self.isolation = isolation
        self.on_container = on_container
        self.on_database = on_database
        self.live: dict[str, SuiteDatabase] = {}
        self.waits: dict[str, float] = {}  # seconds each suite waited for its database
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._ready: dict[str, Future[SuiteDatabase]] = {}
        self._ahead: threading.Semaphore | None = None
        self._stopped = threading.Event()
        self._creator: threading.Thread | None = None

    def precreate(self, suites: Sequence[SuiteConfig], ahead: int) -> None:
        """Create the suites' first databases ahead of time, in the order they will start, at
        most `ahead` waiting unclaimed; `take` hands them out. Only on the shared server."""
        if self.isolation != "database" or not suites:
            return
        self._ahead = threading.Semaphore(max(1, ahead))
        plan = [(suite, Future[SuiteDatabase]()) for suite in suites]
        self._ready.update({suite.name: future for suite, future in plan})
        thread = threading.Thread(target=self._precreate, args=(plan,), name="precreate")
        thread.start()
        self._creator = thread

    def _precreate(self, plan: list[tuple[SuiteConfig, Future[SuiteDatabase]]]) -> None:
        assert self._ahead is not None
        for suite, future in plan:
            while not self._ahead.acquire(timeout=0.1):
                if self._stopped.is_set():
                    break
            if self._stopped.is_set():
                future.set_exception(InfrastructureError("the run is stopping"))
                continue
            try:
                faults.point("precreate")
                future.set_result(self.create(suite))
            except BaseException as error:  # noqa: BLE001 - handed to the suite that needs it
                future.set_exception(error)

    def take(self, suite: SuiteConfig) -> tuple[SuiteDatabase, float]:
        """The suite's database and the seconds the suite waited for it: a pre-created one
        when there is one (the first attempt), else one made now (a retry)."""
        start = time.perf_counter()
        with self._lock:
            future = self._ready.pop(suite.name, None)
        if future is None:
            database = self.create(suite)
        else:
            try:
                database = future.result()
            finally:
                if self._ahead is not None:
                    self._ahead.release()
        waited = self.waits[suite.name] = time.perf_counter() - start
        return database, waited

    def stopping(self) -> None:
        """Create nothing more (safe in a signal handler: it only sets an event)."""
        self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
        if self._creator is not None:
            self._creator.join(timeout=10)

    def create(self, suite: SuiteConfig) -> SuiteDatabase:
        with self._lock:
            number = next(self._counter)
        prefix = self.config.postgres.database_prefix
        name = ident.database_name(prefix, self.identity.run_id, number, suite.name)
        server, template, own = self._server_for()
        comment = json.dumps(
            {"run_id": self.identity.run_id, "owner": self.identity.owner, "suite": suite.name}
        )
        self.on_database(name)
        server.create_database(
            name,
            template=template.name if template else None,
            strategy=template.strategy if template else None,
            comment=comment,
        )
        database = SuiteDatabase(name, server, template.name if template else None, own)
        with self._lock:
            self.live[name] = database
        return database

    def drop(self, database: SuiteDatabase) -> None:
        with self._lock:
            self.live.pop(database.name, None)
        if database.own_server:
            database.server.close()
            if database.server.container is not None:
                self.engine.remove([database.server.container.id])
            return
        database.server.drop_database(database.name)

    def drop_all(self) -> None:
        self.stop()
        for database in list(self.live.values()):
            self.drop(database)

    def _server_for(self) -> tuple[PostgresServer, Template | None, bool]:
        if self.isolation == "database":
            assert self.shared is not None
            return self.shared, self.template, False
        labels = self.identity.labels("postgres")
        server = start_server(
            self.engine, self.config.postgres, labels, on_created=self.on_container
        )
        migrations = self.config.postgres.migrations
        template = None
        if migrations is not None:
            template = ensure_template(
                server,
                migrations,
                self.config.root,
                self.config.postgres.database_prefix,
            )
        return server, template, True


def dead_run_databases(server: PostgresServer, prefix: str, hostname: str) -> list[str]:
    """Suite databases in a reused server whose run is gone (templates are not theirs)."""
    doomed = []
    for name, comment in server.databases(prefix).items():
        if name.startswith(f"{prefix}_tpl_"):
            continue
        if _run_gone(name, prefix, comment, hostname):
            doomed.append(name)
    return doomed


def drop_dead_run_databases(server: PostgresServer, prefix: str, hostname: str) -> list[str]:
    """Drop the suite databases of dead runs in a reused server; the names of those dropped (a
    drop that fails is left to the next sweep)."""
    from hodei_e2e.errors import E2EError

    dropped = []
    for name in dead_run_databases(server, prefix, hostname):
        try:
            server.drop_database(name)
        except E2EError:
            continue
        dropped.append(name)
    return dropped


UNCOMMENTED_AGE = 3600.0  # seconds: a database without its owner comment is a dead run's after


def _run_gone(name: str, prefix: str, comment: str, hostname: str) -> bool:
    """Whether the run that made database `name` is gone. Its comment names the owner; a run
    killed between CREATE DATABASE and COMMENT ON left none, and its database goes once the
    run id in its name is an hour old. A comment of another shape is not ours to judge."""
    if not comment:
        run_id = ident.run_id_of_database(name, prefix)
        started = ident.run_started(run_id) if run_id else None
        return started is not None and time.time() - started > UNCOMMENTED_AGE
    try:
        record = json.loads(comment)
    except ValueError:
        return False
    owner = record.get("owner") if isinstance(record, dict) else None
    if not isinstance(owner, str):
        return False
    return ident.owner_alive({ident.OWNER: owner}, hostname) is False
