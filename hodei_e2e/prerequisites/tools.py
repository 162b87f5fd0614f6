"""The tools the config's `requires` names, on PATH."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hodei_e2e.errors import E2EError

if TYPE_CHECKING:
    from hodei_e2e.config import Config

from hodei_e2e.prerequisites.check import Check


def tool_checks(
    config: Config, environ: Mapping[str, str], *, versions: bool = True
) -> list[Check]:
    checks = []
    for tool in config.requires:
        name = f"tool {tool}"
        path = shutil.which(tool, path=environ.get("PATH"))
        if path is None:
            checks.append(Check(
                name, "fail", "not on PATH",
                f"Install {tool}, or remove it from `requires:` in {config.path}.",
            ))  # fmt: skip
            continue
        version = _tool_version(path, config.root) if versions else ""
        checks.append(Check(name, "ok", f"{path}" + (f" ({version})" if version else "")))
    return checks


def _tool_version(path: str, cwd: Path) -> str:
    from hodei_e2e.suites.runner import run_command

    try:
        code, output = run_command(f"{shlex.quote(path)} --version", cwd=cwd, env={}, timeout=5.0)
    except (OSError, E2EError):
        return ""
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    return first[:80] if code == 0 else ""
