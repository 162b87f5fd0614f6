"""Scenario dbcreate: a suite database, in-process against a server the tool's own functions
start: plain, from a 20-table template (WAL_LOG, FILE_COPY), the migrations run directly
instead, the drop, and the pre-created handout of `Databases.take()`."""

from __future__ import annotations

import json
import statistics
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmark.bench import PASSWORD, Bench
from benchmark.figures import Row, Scenario, fmt, log
from hodei_e2e.config import Config, MigrationsConfig, PostgresConfig, SuiteConfig
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.ownership.identity import RunIdentity
from hodei_e2e.postgres.migrations import Template, ensure_template, migration_files
from hodei_e2e.postgres.server import PostgresServer, start_server

MIGRATION = textwrap.dedent("""\
    CREATE TABLE t{n:02d} (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        owner_id bigint,
        payload jsonb NOT NULL DEFAULT '{{}}',
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX t{n:02d}_name_idx ON t{n:02d} (name);
    """)
PROJECT = "bench-dbcreate"
WARM = 2  # untimed samples before each figure


@dataclass
class Timer:
    """Makes databases `count` times (after WARM untimed), each dropped untimed after it."""

    server: PostgresServer
    sc: Scenario
    count: int
    counter: int = 0

    def name(self) -> str:
        self.counter += 1
        return f"bench_{self.counter}"

    def timed(self, label: str, make: Callable[[str], float | None], rows: int = 2) -> None:
        calls, statements = [], []
        for i in range(WARM + self.count):
            name = self.name()
            begin = time.perf_counter()
            statement = make(name)
            call = time.perf_counter() - begin
            self.server.drop_database(name)
            if i >= WARM:
                calls.append(call)
                if statement is not None:
                    statements.append(statement)
        self.sc.rows.append(Row(f"{label} (call)", calls))
        if rows > 1 and statements:
            self.sc.rows.append(Row(f"{label} (statement)", statements))
        log(f"  {label}: median {fmt(statistics.median(calls))}")


def dbcreate(bench: Bench, sc: Scenario) -> None:
    count = 8 if bench.args.quick else max(20, bench.args.repeat)
    root = bench.tmp / PROJECT
    migrations = root / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    for n in range(1, 21):
        (migrations / f"{n:04d}_t{n:02d}.sql").write_text(MIGRATION.format(n=n), encoding="utf-8")
    mig_config = MigrationsConfig(dir=migrations)
    pg_config = PostgresConfig(image=bench.pg_image, password=PASSWORD, tmpfs=True)
    identity = RunIdentity(project=PROJECT)
    engine = bench.engine
    created: list[ContainerInfo] = []
    sc.notes.append(
        "in-process, against a server started with hodei_e2e.postgres.server.start_server "
        f"(tmpfs, the default settings); each figure is the median of {count} (after {WARM} "
        "untimed), each database dropped untimed after it is made; 'call' is the wall time of "
        "PostgresServer.create_database (as Databases.create calls it), 'statement' is the "
        "CREATE DATABASE alone as it reports."
    )
    try:
        start = time.perf_counter()
        server = start_server(
            engine, pg_config, identity.labels("postgres"), on_created=created.append
        )
        sc.rows.append(
            Row("start_server (in-process: create, start, ready)", [time.perf_counter() - start])
        )
        sc.extra["server_version"] = server.version
        timer = Timer(server, sc, count)
        timer.timed("plain CREATE DATABASE", server.create_database)

        begin = time.perf_counter()
        template = ensure_template(server, mig_config, root, "bench")
        sc.rows.append(
            Row(
                "build the template once (20 migrations + 2 probe copies)",
                [time.perf_counter() - begin],
            )
        )
        sc.extra["template"] = {"name": template.name, "strategy": template.strategy}
        _from_template(timer, template, identity)
        files = migration_files(mig_config, root)

        def migrate(name: str) -> None:
            server.create_database(name)
            for path in files:
                server.run_sql_file(name, path)

        timer.timed("the 20 migrations run directly into a new database", migrate, rows=1)

        drops = []
        for _ in range(count):
            name = timer.name()
            server.create_database(name, template=template.name, strategy=template.strategy)
            begin = time.perf_counter()
            server.drop_database(name)
            drops.append(time.perf_counter() - begin)
        sc.rows.append(Row("DROP DATABASE ... WITH (FORCE) of a suite database", drops))
        sc.rows.append(_handout(root, bench.pg_image, server, template, identity, engine, count))
        server.close()
    finally:
        engine.remove([c.id for c in created])
        bench.remove_project(PROJECT)


def _from_template(timer: Timer, template: Template, identity: RunIdentity) -> None:
    """A copy of the template with each strategy, and as a suite gets it."""
    server = timer.server
    strategies: list[str | None] = ["WAL_LOG", "FILE_COPY"] if server.version >= 150000 else [None]
    for strategy in strategies:
        timer.timed(
            f"from template, STRATEGY {strategy or 'default'}",
            partial(server.create_database, template=template.name, strategy=strategy),
        )
    comment = json.dumps({"run_id": identity.run_id, "owner": identity.owner, "suite": "s"})
    timer.timed(
        f"as a suite gets it: template, {template.strategy} (the tool's pick), comment",
        lambda name: server.create_database(
            name, template=template.name, strategy=template.strategy, comment=comment
        ),
        rows=1,
    )


def _handout(
    root: Path,
    pg_image: str,
    server: PostgresServer,
    template: Template,
    identity: RunIdentity,
    engine: Engine,
    count: int,
) -> Row:
    """The pre-created handout through the tool's pool (Databases.precreate/take)."""
    from hodei_e2e.postgres.databases import Databases

    suites = [SuiteConfig(name=f"s{i}", command="true", workdir=root) for i in range(count)]
    config = Config(
        path=root / "e2e.yaml",
        root=root,
        project=identity.project,
        postgres=PostgresConfig(image=pg_image, password=PASSWORD, database_prefix="bench"),
        suites={s.name: s for s in suites},
    )
    pool = Databases(
        engine=engine,
        config=config,
        identity=identity,
        shared=server,
        template=template,
        isolation="database",
        on_container=lambda _c: None,
    )
    waits: list[float] = []
    try:
        pool.precreate(suites, ahead=count)
        deadline = time.monotonic() + 60
        while len(pool.live) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        for suite in suites:
            begin = time.perf_counter()
            database, _waited = pool.take(suite)
            waits.append(time.perf_counter() - begin)
            pool.drop(database)
    finally:
        pool.drop_all()
    return Row(
        "pre-created: Databases.take() after precreate()",
        waits,
        note=f"all {count} created ahead; the wait to get one",
    )
