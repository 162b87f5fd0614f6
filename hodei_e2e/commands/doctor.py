"""`hodei-e2e doctor`: every prerequisite as a check of its own, each with its remedy
(the checks are in `hodei_e2e.prerequisites`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hodei_e2e.console import Output

from hodei_e2e.prerequisites.check import STYLES, SYMBOLS, Check, exit_code
from hodei_e2e.prerequisites.checklist import run_checks


def doctor_command(config_path: Path | None, *, as_json: bool) -> int:
    """`hodei-e2e doctor`: the checks as lines on stderr, or as JSON on stdout."""
    import json

    checks = run_checks(config_path, os.environ)
    if as_json:
        print(json.dumps([check.as_dict() for check in checks], indent=2))
    else:
        from hodei_e2e.console import Output

        render(checks, Output())
    return exit_code(checks)


def render(checks: Sequence[Check], out: Output) -> None:
    for check in checks:
        lines = check.lines()
        out.print(lines[0], style=STYLES[check.status], min_verbosity=-9)
        for line in lines[1:]:
            out.print(line, min_verbosity=-9)
    counts = {status: sum(1 for c in checks if c.status == status) for status in SYMBOLS}
    summary = f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed"
    style = STYLES["fail" if counts["fail"] else "warn" if counts["warn"] else "ok"]
    out.print(f"doctor: {summary}", style=style, min_verbosity=-9)
