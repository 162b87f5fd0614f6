"""What a Dockerfile asks of its builder, read before anything is built.

- a `# syntax=IMAGE` parser directive: BuildKit runs that image as the frontend, so the engine
  must have it or be able to pull it (the classic builder takes the line for a comment);
- heredocs (`RUN <<EOF`, `COPY <<EOF /dst`): stable since dockerfile frontend 1.4 (BuildKit
  0.10); the frontend built into Docker Engine 20.10 (BuildKit 0.8) parses the body's lines as
  instructions, and the classic builder knows none of it;
- `RUN --mount=…`, `--network=…`, `--security=…`: BuildKit only.

Parser directives follow BuildKit's rule: they are the comment lines `# key=value` at the very
top; the first line that is not one (an instruction, another comment, a blank line) ends them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")
_INSTRUCTION = re.compile(r"\s*([A-Za-z]+)(\s+.*)?$", re.DOTALL)
_HEREDOC = re.compile(r"(?:^|\s)<<-?([\"']?)[A-Za-z_][A-Za-z0-9_]*\1(?=\s|$)")  # a word
_BUILDKIT_RUN_FLAG = re.compile(r"(?:^|\s)(--(?:mount|network|security))(?:=|\s)")
_HEREDOC_INSTRUCTIONS = ("RUN", "COPY", "ADD")


@dataclass(frozen=True)
class Use:
    line: int  # 1-based, where the instruction starts
    text: str  # the instruction's first line, for messages


@dataclass(frozen=True)
class Features:
    syntax: str | None = None  # the `# syntax=` frontend image
    syntax_line: int = 0
    heredocs: list[Use] = field(default_factory=list)
    buildkit_flags: list[tuple[str, Use]] = field(default_factory=list)  # ("--mount", use)

    @property
    def needs_buildkit(self) -> bool:
        return bool(self.heredocs or self.buildkit_flags)


def read_features(dockerfile: Path) -> Features:
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Features()
    return parse_features(text)


def parse_features(text: str) -> Features:
    lines = text.splitlines()
    directives, escape = _directives(lines)
    syntax = directives.get("syntax")
    heredocs: list[Use] = []
    flags: list[tuple[str, Use]] = []
    for start, joined in _instructions(lines, escape):
        found = _INSTRUCTION.match(joined)
        if not found:
            continue
        keyword = found.group(1).upper()
        rest = found.group(2) or ""
        use = Use(start, lines[start - 1].strip())
        if keyword in _HEREDOC_INSTRUCTIONS and _HEREDOC.search(rest):
            heredocs.append(use)
        if keyword == "RUN":
            flags += [(flag, use) for flag in dict.fromkeys(_run_flags(rest))]
    return Features(
        syntax=syntax[0] if syntax else None,
        syntax_line=syntax[1] if syntax else 0,
        heredocs=heredocs,
        buildkit_flags=flags,
    )


def _directives(lines: list[str]) -> tuple[dict[str, tuple[str, int]], str]:
    found: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(lines, 1):
        directive = _DIRECTIVE.fullmatch(line.strip())
        if not directive:
            break
        key = directive.group(1).lower()
        if key in found:  # a repeated directive is an error for the parser: stop reading
            break
        found[key] = (directive.group(2), number)
    escape = found.get("escape", ("\\", 0))[0] or "\\"
    return found, escape


def _instructions(lines: list[str], escape: str) -> list[tuple[int, str]]:
    """(first line number, the instruction with its continuations joined) for each one;
    comments and blank lines inside a continuation are skipped, as the parser does."""
    instructions: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and (not stripped or stripped.startswith("#")):
            continue
        if not current:
            start = number
        body = line.rstrip()
        if body.endswith(escape):
            current.append(body[: -len(escape)])
            continue
        current.append(body)
        instructions.append((start, " ".join(current)))
        current = []
    if current:
        instructions.append((start, " ".join(current)))
    return instructions


def _run_flags(rest: str) -> list[str]:
    """BuildKit-only flags among a RUN's leading `--flag` words."""
    flags = []
    for word in rest.split():
        if not word.startswith("--"):
            break
        found = _BUILDKIT_RUN_FLAG.match(f" {word} ")
        if found:
            flags.append(found.group(1))
    return flags
