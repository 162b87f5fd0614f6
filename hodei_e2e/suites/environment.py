"""The environment every suite is given (DESIGN.md, "Environment given to every suite")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hodei_e2e.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.]*)\}")


@dataclass(frozen=True)
class RunFacts:
    """What a run knows before its suites start; the same for every suite."""

    run_id: str
    project: str
    worker_image: str
    server_host: str
    user: str
    password: str


@dataclass(frozen=True)
class ServerFacts:
    """The Postgres server a suite's database is on (the run's one, or the suite's own)."""

    host: str
    port: int
    admin_url: str
    template_database: str | None = None


def render(template: str, values: Mapping[str, str], where: str) -> str:
    """Replace `{name}` with `values[name]`; `{{` and `}}` stand for literal braces."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] in ("{{", "}}"):
            return match[0][0]
        key = match[1]
        if key not in values:
            known = ", ".join(sorted(k for k in values if k.islower()))
            raise ConfigError(f"{where}: unknown template {{{key}}}; known: {known}")
        return values[key]

    return _PLACEHOLDER.sub(substitute, template)


def suite_environment(
    facts: RunFacts,
    server: ServerFacts,
    *,
    suite: str,
    database: str,
    database_url: str,
    config_env: Mapping[str, str] = {},
    suite_env: Mapping[str, str] = {},
    exports: Mapping[str, str] = {},
) -> dict[str, str]:
    """The variables a suite gets on top of the caller's environment."""
    env = {
        "DATABASE_URL": database_url,
        "HODEI_E2E_DATABASE_URL": database_url,
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGUSER": facts.user,
        "PGPASSWORD": facts.password,
        "PGDATABASE": database,
        "HODEI_E2E_DATABASE_NAME": database,
        "HODEI_E2E_ADMIN_DATABASE_URL": server.admin_url,
        "HODEI_E2E_DOCKER": "1",
        "HODEI_WORKER_IMAGE": facts.worker_image,
        "HODEI_SERVER_HOST": facts.server_host,
        "HODEI_E2E_RUN_ID": facts.run_id,
        "HODEI_E2E_SUITE": suite,
    }
    if server.template_database:
        env["HODEI_E2E_TEMPLATE_DATABASE"] = server.template_database
    env.update(exports)
    values = {
        **env,
        "database_url": database_url,
        "database": database,
        "host": server.host,
        "port": str(server.port),
        "user": facts.user,
        "password": facts.password,
        "admin_database_url": server.admin_url,
        "template_database": server.template_database or "",
        "worker_image": facts.worker_image,
        "server_host": facts.server_host,
        "run_id": facts.run_id,
        "suite": suite,
        "project": facts.project,
    }
    for key, value in config_env.items():
        env[key] = render(value, values, f"env.{key}")
    for key, value in suite_env.items():
        env[key] = render(value, values, f"suites.{suite}.env.{key}")
    return env
