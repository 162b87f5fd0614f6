"""`hodei-e2e cleanup`: find what dead runs left, remove it (or list it: `--dry-run`), and
report it as a table or as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hodei_e2e.console import Output
from hodei_e2e.engine.docker import Engine
from hodei_e2e.errors import ExitCode
from hodei_e2e.ownership.cleanup import (
    Removed,
    database_orphans,
    find_orphans,
    process_orphans_of,
    remove,
)
from hodei_e2e.ownership.orphans import SweepPolicy


def sweep_command(
    policy: SweepPolicy,
    *,
    config_path: Path | None,
    dry_run: bool,
    as_json: bool,
    verbosity: int = 0,
) -> int:
    """`hodei-e2e cleanup`: find, remove (unless `dry_run`), and report as a table or JSON.

    With a config (`-c FILE`, or `./e2e.yaml` / `$HODEI_E2E_CONFIG` when present) it also drops
    dead runs' databases in the project's reused servers; `-c` also limits the sweep to that
    project."""
    import json
    from dataclasses import replace

    from hodei_e2e.config import load_config
    from hodei_e2e.console import Output

    out = Output(verbosity)
    found = config_path or _default_config()
    config = load_config(found) if found is not None else None
    if config is not None and config_path is not None:
        policy = replace(policy, project=config.project)
    engine = Engine.connect()
    try:
        orphans = find_orphans(engine, policy) + process_orphans_of(policy)
        if config is not None:
            orphans += database_orphans(engine, config, policy)
        removed = (
            [Removed(o) for o in orphans] if dry_run else remove(engine, orphans, config=config)
        )
    finally:
        engine.close()
    if not dry_run:
        from hodei_e2e.ownership import leases

        leases.prune()
    failed = [r for r in removed if r.error]
    if as_json:
        doc = {"dry_run": dry_run, "removed": [_record(r, dry_run) for r in removed]}
        print(json.dumps(doc, indent=2))
    else:
        _table(out, removed, dry_run)
    return ExitCode.INFRASTRUCTURE if failed else ExitCode.OK


def _default_config() -> Path | None:
    from hodei_e2e.config import config_path

    path = config_path(None)
    return path if path.is_file() else None


def _record(item: Removed, dry_run: bool) -> dict[str, str | None]:
    orphan = item.orphan
    return {
        "kind": orphan.kind,
        "id": orphan.id,
        "name": orphan.name,
        "role": orphan.role,
        "reason": orphan.reason,
        "result": "would remove" if dry_run else ("failed" if item.error else "removed"),
        "error": item.error,
    }


def _table(out: Output, removed: Sequence[Removed], dry_run: bool) -> None:
    from rich.table import Table

    if not removed:
        out.print("nothing to clean up")
        return
    table = Table()
    for column in ("kind", "name", "role", "reason", "result"):
        table.add_column(column, overflow="fold")
    for item in removed:
        record = _record(item, dry_run)
        table.add_row(
            *(str(record[key] or "") for key in ("kind", "name", "role", "reason")),
            f"{record['result']}: {item.error}" if item.error else str(record["result"]),
        )
    out.err.print(table)
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {sum(1 for r in removed if not r.error)} of {len(removed)}")
