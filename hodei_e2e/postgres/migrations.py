"""Migrations once: applied into a template database named after their fingerprint, under an
advisory lock so that concurrent runs migrate once; suite databases are copies of it.

A template is finished only when its migrations succeeded (it is then marked `IS_TEMPLATE`);
an unfinished one, left by a failure or a crash, is dropped and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from hodei_e2e.config import MigrationsConfig
from hodei_e2e.errors import ConfigError, InfrastructureError, last_lines
from hodei_e2e.postgres.server import PostgresServer
from hodei_e2e.suites.runner import run_command

STRATEGIES = ("WAL_LOG", "FILE_COPY")
PG15 = 150000


@dataclass(frozen=True)
class Template:
    name: str
    strategy: str | None  # STRATEGY for CREATE DATABASE ... TEMPLATE (PostgreSQL 15+)
    migrated: bool  # False: an existing finished template was used
    seconds: float


def migration_files(config: MigrationsConfig, root: Path) -> list[Path]:
    if config.dir is not None:
        if not config.dir.is_dir():
            raise ConfigError(f"postgres.migrations.dir: no such directory: {config.dir}")
        return sorted(config.dir.glob("*.sql"), key=lambda path: path.name)
    found: set[Path] = set()
    for pattern in config.files:
        found.update(path for path in root.glob(pattern) if path.is_file())
    return sorted(found)


def fingerprint(config: MigrationsConfig, root: Path) -> str:
    digest = hashlib.sha256()
    digest.update((config.command or "").encode())
    for path in migration_files(config, root):
        digest.update(
            b"\0"
            + str(path.relative_to(root) if path.is_relative_to(root) else path).encode()
            + b"\0"
        )
        digest.update(path.read_bytes())
    return digest.hexdigest()


def template_name(prefix: str, print_: str) -> str:
    return f"{prefix}_tpl_{print_[:16]}"


def ensure_template(
    server: PostgresServer,
    config: MigrationsConfig,
    root: Path,
    prefix: str,
) -> Template:
    """The finished template for the current migrations, building it when needed."""
    start = time.monotonic()
    print_ = fingerprint(config, root)
    name = template_name(prefix, print_)
    with server.advisory_lock(f"hodei-e2e:{name}"):
        state = server.template_state(name)
        if state is not None and state[0]:
            strategy = json.loads(state[1] or "{}").get("strategy")
            _drop_stale(server, prefix, keep=name)
            return Template(name, strategy, migrated=False, seconds=time.monotonic() - start)
        if state is not None:
            server.drop_database(name)  # unfinished: a failed or interrupted migration
        server.create_database(name)
        try:
            _migrate(server, config, root, name)
        except BaseException:
            server.drop_database(name)
            raise
        strategy = choose_strategy(server, name)
        server.finish_template(name, json.dumps({"fingerprint": print_, "strategy": strategy}))
        _drop_stale(server, prefix, keep=name)
    return Template(name, strategy, migrated=True, seconds=time.monotonic() - start)


def _migrate(server: PostgresServer, config: MigrationsConfig, root: Path, name: str) -> None:
    if config.dir is not None:
        for path in migration_files(config, root):
            server.run_sql_file(name, path)
        return
    assert config.command is not None
    env = {"DATABASE_URL": server.address.url(name), **server.address.libpq_env(name)}
    code, output = run_command(config.command, cwd=root, env=env)
    if code != 0:
        raise InfrastructureError(
            f"migration command failed with exit code {code}: {config.command}",
            detail=last_lines("last lines", output),
        )


def choose_strategy(server: PostgresServer, template: str) -> str | None:
    """Time one copy each way and keep the faster (PostgreSQL 15+ has both)."""
    if server.version < PG15:
        return None
    timings: dict[str, float] = {}
    for strategy in STRATEGIES:
        probe = f"{template}_probe"[:63]
        timings[strategy] = server.create_database(probe, template=template, strategy=strategy)
        server.drop_database(probe)
    return min(timings, key=lambda key: timings[key])


def _drop_stale(server: PostgresServer, prefix: str, keep: str) -> None:
    """Templates of earlier migrations are of no use any more."""
    for name in server.databases(f"{prefix}_tpl"):
        if name != keep:
            server.drop_template(name)
