"""The singleton Postgres server and its databases: the one module that imports psycopg.

A `PostgresServer` is an address plus an admin connection; `start_server` creates the container
through the engine and waits until a real connection succeeds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hodei_e2e.errors import InfrastructureError, first_line, last_lines

if TYPE_CHECKING:
    import psycopg

    from hodei_e2e.config import PostgresConfig
    from hodei_e2e.engine.docker import ContainerInfo, Engine

PGDATA = "/var/lib/postgresql/data"
PORT = 5432
POLL_INTERVAL = 0.02


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        user = quote(self.user, safe="")
        password = quote(self.password, safe="")
        return f"postgres://{user}:{password}@{self.host}:{self.port}/{database}"

    def libpq_env(self, database: str) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
        }


def container_spec_args(config: PostgresConfig) -> dict[str, Any]:
    """What the container needs, following the official image's interface."""
    command = ["postgres"]
    for key, value in config.settings.items():
        command += ["-c", f"{key}={value}"]
    return {
        "image": config.image,
        "command": command,
        "environment": {
            **config.environment,
            "POSTGRES_USER": config.user,
            "POSTGRES_PASSWORD": config.password,
            "POSTGRES_DB": "postgres",
            "PGDATA": PGDATA,
        },
        "ports": (PORT,),
        "tmpfs": {PGDATA: "rw"} if config.tmpfs else {},
    }


# Whatever the server's encoding (UTF8, LATIN1, SQL_ASCII), names and comments come back as
# `str`: with a SQL_ASCII connection psycopg would hand out bytes. A SQL_ASCII server accepts a
# UTF8 client and converts nothing; the names the tool reads are its own ASCII names.
CLIENT_ENCODING = "UTF8"


def _connect(address: Address, database: str, timeout: float) -> psycopg.Connection[Any]:
    return _open(
        host=address.host,
        port=address.port,
        user=address.user,
        password=address.password,
        dbname=database,
        connect_timeout=max(1, int(timeout)),
    )


def _open(conninfo: str = "", **params: Any) -> psycopg.Connection[Any]:
    """The one way to a connection: autocommit, named, text always decoded to `str`."""
    import psycopg

    return psycopg.connect(
        conninfo,
        autocommit=True,
        application_name="hodei-e2e",
        client_encoding=CLIENT_ENCODING,
        **params,
    )


def wait_ready(
    address: Address,
    timeout: float,
    *,
    alive: Callable[[], bool] = lambda: True,
    logs: Callable[[], str] = lambda: "",
    what: str = "Postgres",
    cancelled: Callable[[], bool] = lambda: False,
) -> float:
    """Poll until a real connection succeeds; return the seconds it took.

    Every psycopg error is retryable until `timeout`; a container that exits stops the wait
    at once. Either failure raises `InfrastructureError` with the container's last log lines.
    """
    import psycopg

    from hodei_e2e.engine.poll import NotYet, poll

    start = time.monotonic()

    def attempt(_left: float) -> float:
        try:
            with _connect(address, "postgres", min(2.0, timeout)) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as error:
            reason = _first_line(error)
            if not alive():
                raise InfrastructureError(
                    f"{what} exited before it was ready ({reason})",
                    detail=last_lines("last log lines", logs()),
                ) from None
            raise NotYet(reason) from None
        return time.monotonic() - start

    return poll(
        attempt,
        timeout=timeout,
        interval=POLL_INTERVAL,
        what=what,
        cancelled=cancelled,
        logs=logs,
    )


def _first_line(error: Exception) -> str:
    return first_line(error, type(error).__name__)


class PostgresServer:
    """A running server: its address and one admin connection shared under a lock."""

    def __init__(self, address: Address, container: ContainerInfo | None = None) -> None:
        self.address = address
        self.container = container
        self._lock = threading.Lock()
        self._admin: psycopg.Connection[Any] | None = None

    def admin_url(self) -> str:
        return self.address.url("postgres")

    @contextmanager
    def admin(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            if self._admin is None or self._admin.closed:
                self._admin = _connect(self.address, "postgres", 5)
            yield self._admin

    def close(self) -> None:
        with self._lock:
            if self._admin is not None:
                self._admin.close()
                self._admin = None

    @property
    def version(self) -> int:
        """The server version as libpq reports it (160002 for 16.2)."""
        with self.admin() as conn:
            return int(conn.info.server_version)

    def create_database(
        self,
        name: str,
        *,
        template: str | None = None,
        strategy: str | None = None,
        comment: str = "",
    ) -> float:
        """Create `name`; return the seconds the CREATE DATABASE took."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        if strategy:
            statement += sql.SQL(" STRATEGY {}").format(sql.Identifier(strategy))
        try:
            with self.admin() as conn:
                start = time.perf_counter()
                conn.execute(statement)
                elapsed = time.perf_counter() - start
                if comment:
                    _comment(conn, name, comment)
        except psycopg.Error as error:
            raise InfrastructureError(
                f"cannot create database {name}: {_first_line(error)}"
            ) from None
        return elapsed

    def drop_database(self, name: str) -> None:
        """Drop `name`, terminating its connections first; a missing database is fine."""
        import psycopg

        try:
            with self.admin() as conn:
                _drop(conn, name)
                if _exists(conn, name):  # what is said to be dropped is gone
                    raise InfrastructureError(f"database {name} is still there after DROP")
        except psycopg.Error as error:
            raise InfrastructureError(
                f"cannot drop database {name}: {_first_line(error)}"
            ) from None

    @contextmanager
    def advisory_lock(self, key: str) -> Iterator[None]:
        """A server-wide lock named `key`, on a connection of its own, held while inside."""
        with _connect(self.address, "postgres", 5) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def template_state(self, name: str) -> tuple[bool, str] | None:
        """(finished, comment) for database `name`, or None when it does not exist.

        A template is finished when it is marked `IS_TEMPLATE`, which happens only after its
        migrations succeeded."""
        with self.admin() as conn:
            row = conn.execute(
                "SELECT datistemplate, coalesce(shobj_description(oid, 'pg_database'), '') "
                "FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
        return None if row is None else (bool(row[0]), str(row[1]))

    def finish_template(self, name: str, comment: str) -> None:
        from psycopg import sql

        with self.admin() as conn:
            _terminate(conn, name)
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true").format(sql.Identifier(name))
            )
            _comment(conn, name, comment)

    def drop_template(self, name: str) -> None:
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(name))
            )
        self.drop_database(name)

    def run_sql_file(self, database: str, path: Path) -> None:
        """Execute every statement of `path` in `database`, in one transaction."""
        import psycopg

        text = path.read_text(encoding="utf-8")
        with _connect(self.address, database, 5) as conn:
            try:
                with conn.transaction():
                    conn.execute(text.encode())  # bytes: a script of many statements, as written
            except psycopg.Error as error:
                raise InfrastructureError(
                    f"migration {path.name} failed: {_first_line(error)}",
                    detail=str(error).strip(),
                ) from None

    def query_ok(self, timeout: float) -> bool:
        """A real query answers within `timeout` seconds (the reuse health check)."""
        import psycopg
        from psycopg import sql

        try:
            with _connect(self.address, "postgres", timeout) as conn:
                conn.execute(sql.SQL("SET statement_timeout = {}").format(int(timeout * 1000)))
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def databases(self, prefix: str) -> dict[str, str]:
        """Databases whose name starts with `prefix_`, with their comments."""
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') "
                "FROM pg_database WHERE datname LIKE %s",
                (prefix.replace("_", r"\_") + r"\_%",),
            ).fetchall()
        return {str(name): str(comment) for name, comment in rows}


def _comment(conn: psycopg.Connection[Any], database: str, comment: str) -> None:
    from psycopg import sql

    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(database), sql.Literal(comment)
        )
    )


def _drop(conn: psycopg.Connection[Any], database: str) -> None:
    """DROP DATABASE IF EXISTS, its connections ended first (WITH (FORCE) from PostgreSQL 13)."""
    from psycopg import sql

    if conn.info.server_version >= 130000:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        return
    _terminate(conn, database)
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))


def _exists(conn: psycopg.Connection[Any], database: str) -> bool:
    found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
    return found.fetchone() is not None


def _terminate(conn: psycopg.Connection[Any], database: str) -> None:
    """End every connection to `database` (so that it can be dropped or made a template)."""
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
    )


def address_of(engine: Engine, container_id: str, config: PostgresConfig) -> Address:
    """Where the Postgres in `container_id` answers: its published port, on the engine's host
    (127.0.0.1 for a local engine)."""
    port = engine.published_port(container_id, PORT)
    return Address(engine.host, port, config.user, config.password)


def drop_databases_at(admin_url: str, names: Sequence[str]) -> None:
    """Drop `names` on the server at `admin_url` (the watchdog's way in, with no container)."""
    with _open(admin_url, connect_timeout=5) as conn:
        for name in names:
            _drop(conn, name)


def start_server(
    engine: Engine,
    config: PostgresConfig,
    labels: Mapping[str, str],
    *,
    name: str | None = None,
    on_created: Callable[[ContainerInfo], None] = lambda _c: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> PostgresServer:
    """Create the container, report it through `on_created` at once, and wait until ready."""
    from hodei_e2e.engine.docker import ContainerSpec

    spec = ContainerSpec(labels=labels, name=name, **container_spec_args(config))
    container = engine.create(spec)
    on_created(container)
    address = address_of(engine, container.id, config)

    def alive() -> bool:
        found = engine.find(container.id)
        return found is not None and found.status in ("created", "running", "restarting")

    wait_ready(
        address,
        config.startup_timeout,
        alive=alive,
        logs=lambda: engine.logs_tail(container.id, 30),
        what=f"Postgres ({config.image})",
        cancelled=cancelled,
    )
    return PostgresServer(address, container)
