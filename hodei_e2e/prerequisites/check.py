"""A check: its name, status, what it found and its remedy; and the facts every check reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hodei_e2e.errors import ConfigError, first_line

if TYPE_CHECKING:
    from hodei_e2e.config import Config
    from hodei_e2e.engine.docker import Engine, EngineKind
    from hodei_e2e.engine.endpoint import Endpoint


Status = Literal["ok", "warn", "fail"]
SYMBOLS: Mapping[Status, str] = {"ok": "✓", "warn": "⚠", "fail": "✗"}
STYLES: Mapping[Status, str] = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    remedy: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "remedy": self.remedy,
        }

    def lines(self) -> list[str]:
        lines = [f"{SYMBOLS[self.status]} {self.name}: {self.detail}"]
        if self.remedy and self.status != "ok":
            lines += [f"    → {line}" for line in self.remedy.splitlines()]
        return lines


def exit_code(checks: Sequence[Check]) -> int:
    return 3 if any(check.failed for check in checks) else 0


@dataclass
class Facts:
    """What the checks share: the environment, the config, and the engine when it answers."""

    environ: Mapping[str, str]
    config_path: Path
    config: Config | None = None
    config_error: ConfigError | None = None
    endpoint: Endpoint | None = None
    engine: Engine | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    kind: EngineKind | None = None


def no_engine(name: str) -> Check:
    return Check(name, "warn", "not checked: no engine answers (see above)")


def describe(error: BaseException) -> str:
    return first_line(getattr(error, "message", None) or error, type(error).__name__)[:300]
