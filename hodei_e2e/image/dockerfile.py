"""What a Dockerfile asks of its builder, read before anything is built.

- a `# syntax=IMAGE` parser directive: BuildKit runs that image as the frontend, so the engine
  must have it or be able to pull it (the classic builder takes the line for a comment);
- heredocs (`RUN <<EOF`, `COPY <<EOF /dst`): stable since dockerfile frontend 1.4 (BuildKit
  0.10); the frontend built into Docker Engine 20.10 (BuildKit 0.8) parses the body's lines as
  instructions, and the classic builder knows none of it;
- `RUN --mount=…`, `--network=…`, `--security=…`: BuildKit only.

Parser directives follow BuildKit's rule: they are the comment lines `# key=value` at the very
top; the first line that is not one (an instruction, another comment, a blank line) ends them.

And the stages it builds FROM (`parse_stages`, `base_images`), the one reading of FROM and
ARG in the package (doctor's base-image check, a failed build's hint), with Docker's rules:
only the ARGs before the first FROM are in scope of a FROM line; a build arg overrides the
default of a declared ARG (an undeclared one is not used); `$VAR`, `${VAR}`, `${VAR:-word}`,
`${VAR-word}`, `${VAR:+word}`, `${VAR+word}` expand (an unset variable to nothing), `\\$`
is a literal `$`; an ARG's default may use the ARGs declared before it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
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


# -- Stages: FROM and the ARGs before it ----------------------------------------------------------

_FROM = re.compile(r"FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Stage:
    line: int  # 1-based, where the FROM instruction starts
    reference: str  # the image as written: `${BASE}`
    image: str  # with the global ARGs (and the build args over them) substituted
    name: str | None  # `AS name`, lower case (Docker's stage names ignore case)
    variables: tuple[str, ...]  # the variables `reference` uses, in order

    @property
    def external(self) -> bool:
        """An image from the engine or a registry: not `scratch`, not an earlier stage (which
        `parse_stages` resolves and `base_images` leaves out)."""
        return bool(self.image) and self.image.lower() != "scratch"


def parse_stages(text: str, build_args: Mapping[str, str] | None = None) -> list[Stage]:
    """Every FROM of a Dockerfile, in order."""
    return _scan(text, build_args or {})[1]


def read_stages(dockerfile: Path, build_args: Mapping[str, str] | None = None) -> list[Stage]:
    """`parse_stages` of a file; none when it cannot be read."""
    return _scan(_read(dockerfile), build_args or {})[1]


def global_args(dockerfile: Path, build_args: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values a FROM line sees: the ARGs before the first FROM that are set, the build
    args over their defaults."""
    return _scan(_read(dockerfile), build_args or {})[0]


def base_images(dockerfile: Path, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The images a Dockerfile builds FROM, each once: ARGs substituted, `scratch` and
    earlier stages left out."""
    named: set[str] = set()
    bases: list[str] = []
    for stage in read_stages(dockerfile, build_args):
        if stage.external and stage.image.lower() not in named:
            bases.append(stage.image)
        if stage.name:
            named.add(stage.name)
    return list(dict.fromkeys(bases))


def from_reference(instruction: str) -> str:
    """The image of a FROM instruction's text (`FROM --platform=x ${BASE} AS b` → `${BASE}`);
    the text itself when it is not one."""
    found = _FROM.match(instruction.strip())
    return found.group(1) if found else instruction


def _read(dockerfile: Path) -> str:
    try:
        return dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _scan(text: str, build_args: Mapping[str, str]) -> tuple[dict[str, str], list[Stage]]:
    """(the global ARGs that are set, the stages)."""
    lines = text.splitlines()
    _found, escape = _directives(lines)
    values: dict[str, str] = {}
    stages: list[Stage] = []
    for start, joined in _instructions(lines, escape):
        found = _INSTRUCTION.match(joined)
        if not found:
            continue
        keyword, rest = found.group(1).upper(), (found.group(2) or "").strip()
        if keyword == "ARG" and not stages:
            for name, default in _arg_declarations(rest):
                if name in build_args:
                    values[name] = build_args[name]
                elif default is not None:
                    values[name] = expand(default, values)
                else:
                    values.pop(name, None)  # declared without a default: unset
        elif keyword == "FROM" and (stage := _FROM.match(f"FROM {rest}")):
            reference = stage.group(1)
            alias = stage.group(2).lower() if stage.group(2) else None
            image = expand(reference, values)
            stages.append(Stage(start, reference, image, alias, tuple(variables(reference))))
    return values, stages


def _arg_declarations(rest: str) -> list[tuple[str, str | None]]:
    """`ARG A=1 B="two words" C`: (name, default or None) for each, quotes removed."""
    try:
        words = shlex.split(rest, posix=True)
    except ValueError:  # an unbalanced quote: the words as they are
        words = rest.split()
    declarations: list[tuple[str, str | None]] = []
    for word in words:
        name, equals, default = word.partition("=")
        if _NAME.fullmatch(name):
            declarations.append((name, default if equals else None))
    return declarations


def variables(text: str) -> list[str]:
    """The names of the variables `text` uses, in order (`${A:-$B}` uses A and B)."""
    names: list[str] = []
    expand(text, {}, names)
    return list(dict.fromkeys(names))


def expand(text: str, values: Mapping[str, str], seen: list[str] | None = None) -> str:
    """`text` with Docker's variable substitution over `values` (unset: not in `values`)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if char != "$":
            out.append(char)
            i += 1
            continue
        if text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end < 0:  # unterminated: left as written
                out.append(text[i:])
                break
            out.append(_braced(text[i + 2 : end], values, seen))
            i = end + 1
            continue
        name = _NAME.match(text, i + 1)
        if name is None:
            out.append(char)
            i += 1
            continue
        if seen is not None:
            seen.append(name.group(0))
        out.append(values.get(name.group(0), ""))
        i = name.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text.startswith("${", index):
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _braced(body: str, values: Mapping[str, str], seen: list[str] | None) -> str:
    """`NAME`, `NAME:-word`, `NAME-word`, `NAME:+word` or `NAME+word` (word expanded too)."""
    name = _NAME.match(body)
    if name is None:
        return ""
    if seen is not None:
        seen.append(name.group(0))
    value = values.get(name.group(0))
    rest = body[name.end() :]
    for operator in (":-", ":+", "-", "+"):
        if rest.startswith(operator):
            word = rest[len(operator) :]
            if seen is not None:  # the word's variables are used too, whichever is taken
                expand(word, values, seen)
            if operator == ":-":
                return value if value else expand(word, values)
            if operator == "-":
                return value if value is not None else expand(word, values)
            if operator == ":+":
                return expand(word, values) if value else ""
            return expand(word, values) if value is not None else ""
    return value or ""
