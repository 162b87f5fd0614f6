"""Every check in the order `doctor` shows them, and `preflight`: the fast subset that runs
before every `run` and stops it with the same lines `doctor` prints.

A check is a small function that returns a `Check`; it never raises (an unexpected error is a
failed check)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hodei_e2e.errors import ConfigError, PrerequisiteError

if TYPE_CHECKING:
    from hodei_e2e.config import Config, ServiceConfig
    from hodei_e2e.engine.docker import Engine

from hodei_e2e.prerequisites.check import Check, Facts, describe, no_engine
from hodei_e2e.prerequisites.engine import builder_check, disk_check, engine_check, version_check
from hodei_e2e.prerequisites.images import image_checks
from hodei_e2e.prerequisites.reachability import reachability_check
from hodei_e2e.prerequisites.tools import tool_checks


def run_checks(config_path: Path | None, environ: Mapping[str, str]) -> list[Check]:
    from hodei_e2e.config import config_path as default_path

    facts = Facts(environ, default_path(config_path, environ))
    checks: list[Check] = []

    def add(name: str, check: Callable[[], Check | list[Check]]) -> None:
        try:
            result = check()
        except Exception as error:  # noqa: BLE001 - doctor reports, it never tracebacks
            result = Check(name, "fail", f"the check itself failed: {describe(error)}",
                           "Run `hodei-e2e --debug doctor` and report this.")  # fmt: skip
        checks.extend(result if isinstance(result, list) else [result])

    config_check = _guarded("config", lambda: load_config_check(facts))
    try:
        add("engine reachable", lambda: engine_check(facts))
        add("engine version", lambda: version_check(facts))
        add("free disk", lambda: disk_check(facts))
        add("tools", lambda: _needs_config(facts, "tools", tool_checks))
        add("images", lambda: _needs_engine_and_config(facts, "images", image_checks))
        add("image builder", lambda: builder_check(facts))
        add("host reachable from containers", lambda: reachability_check(facts))
    finally:
        if facts.engine is not None:
            facts.engine.close()
    checks.append(config_check)
    return checks


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - doctor reports, it never tracebacks
        return Check(name, "fail", f"the check itself failed: {describe(error)}")


def _needs_config(
    facts: Facts, name: str, checks: Callable[[Config, Mapping[str, str]], list[Check]]
) -> list[Check]:
    if facts.config is None:
        return [Check(name, "warn", "not checked: the config did not load (see below)")]
    return checks(facts.config, facts.environ)


def _needs_engine_and_config(
    facts: Facts, name: str, checks: Callable[[Engine, Config], list[Check]]
) -> list[Check]:
    if facts.engine is None:
        return [no_engine(name)]
    if facts.config is None:
        return [Check(name, "warn", "not checked: the config did not load (see below)")]
    return checks(facts.engine, facts.config)


def load_config_check(facts: Facts) -> Check:
    from hodei_e2e.config import load_config

    try:
        config = load_config(facts.config_path, facts.environ)
    except ConfigError as error:
        facts.config_error = error
        remedy = error.detail or "Fix the file (the README documents the schema)."
        return Check("config", "fail", error.message, remedy)
    facts.config = config
    suites, services = len(config.suites), len(config.services)
    return Check("config", "ok", f"{facts.config_path}: {suites} suite(s), {services} service(s)")


def preflight(
    engine: Engine,
    config: Config,
    *,
    services: Sequence[ServiceConfig] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """The fast checks (tools on PATH, images present, pullable or buildable) before a run.

    `services`: the services the run starts (default: all of the config's). The engine is
    reachable, or there would be no `engine`. Raises `PrerequisiteError` (exit 3) with the
    failed checks' lines, as `doctor` prints them.
    """
    environ = os.environ if environ is None else environ
    checks = [
        *tool_checks(config, environ, versions=False),
        *image_checks(engine, config, services=services),
    ]
    failed = [check for check in checks if check.failed]
    if failed:
        names = ", ".join(check.name for check in failed)
        raise PrerequisiteError(
            f"prerequisite(s) missing: {names}",
            detail="\n".join(line for check in failed for line in check.lines())
            + "\n(`hodei-e2e doctor` checks everything)",
        )
