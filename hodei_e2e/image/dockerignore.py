""".dockerignore as the Docker CLI reads and applies it (moby/patternmatcher and its ignorefile).

- Reading: a line starting with `#` is a comment; lines are trimmed and blank ones skipped; a
  leading `!` marks an exception; each pattern is cleaned like Go's `filepath.Clean` and a
  leading `/` dropped (`/foo`, `./foo` and `foo` are the same pattern).
- Matching: `*`, `?` and `[...]` work within one path component (Go's `filepath.Match`), `**`
  matches any number of components, a pattern that matches a directory also matches everything
  under it, and the last pattern that matches a path decides (an exception takes it back in).

Patterns are translated to regular expressions exactly as `patternmatcher.Pattern.compile` does,
including its fast paths (exact, prefix `foo/**` and suffix `**/foo` matches).
"""

from __future__ import annotations

import posixpath
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

_BOM = "\ufeff"
_ESCAPED = frozenset(".+()|{}$")  # regexp specials that mean nothing to filepath.Match


class PatternError(ValueError):
    """A pattern that Go's filepath.Match rejects; the build would fail on it."""


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, normalised as `ignorefile.ReadAll` does."""
    patterns = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.removesuffix("\r")
        if number == 0:
            line = line.removeprefix(_BOM)
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def clean(path: str) -> str:
    """Go's `filepath.Clean` on a slash-separated path."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


@dataclass
class Pattern:
    text: str  # cleaned, without the leading `!`
    exclusion: bool  # a `!` pattern: takes matching paths back in
    _kind: str = field(default="", init=False)  # exact | prefix | suffix | regexp
    _regexp: re.Pattern[str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        _check_syntax(self.text)
        self._kind, source = _translate(self.text)
        if self._kind == "regexp":
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "possible nested set" for `[[]`
                    self._regexp = re.compile(source)
            except re.error as error:
                raise PatternError(f"bad pattern {self.text!r}: {error}") from None

    def match(self, path: str) -> bool:
        if self._kind == "exact":
            return path == self.text
        if self._kind == "prefix":
            return path.startswith(self.text[:-2])
        if self._kind == "suffix":
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self._regexp is not None
        return self._regexp.fullmatch(path) is not None


MatchInfo = tuple[bool, ...]  # per pattern: did the parent directory match it


class PatternMatcher:
    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns: list[Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise PatternError('illegal exclusion pattern: "!"')
                text = text[1:]
            self.patterns.append(Pattern(text, exclusion))
        self.exclusions = any(pattern.exclusion for pattern in self.patterns)

    def matches(self, path: str, parent: MatchInfo = ()) -> tuple[bool, MatchInfo]:
        """Whether `path` is excluded, given its parent directory's match info (empty for a
        path whose parent is unknown or the root); returns the info to give its children."""
        matched = False
        info = []
        for index, pattern in enumerate(self.patterns):
            match = bool(parent) and parent[index]
            if not match and pattern.exclusion == matched:
                match = pattern.match(path)
                if not match and not parent:
                    match = self._parent_matches(pattern, path)
            info.append(match)
            if match:
                matched = not pattern.exclusion
        return matched, tuple(info)

    def matches_or_parent_matches(self, path: str) -> bool:
        return self.matches(clean(path))[0]

    def may_include_under(self, directory: str) -> bool:
        """Whether an exception could take back something under an excluded `directory`:
        the walk then enters it instead of skipping it (as `archive.TarWithOptions` does)."""
        prefix = directory + "/"
        return any(
            pattern.exclusion and (pattern.text + "/").startswith(prefix)
            for pattern in self.patterns
        )

    @staticmethod
    def _parent_matches(pattern: Pattern, path: str) -> bool:
        parent = posixpath.dirname(path)
        if not parent:
            return False
        parts = parent.split("/")
        return any(pattern.match("/".join(parts[: end + 1])) for end in range(len(parts)))


def _translate(pattern: str) -> tuple[str, str]:
    """`patternmatcher.Pattern.compile`: the match kind and, for `regexp`, the expression."""
    source = "^"
    kind = "exact"
    index, length = 0, len(pattern)
    first = True
    while index < length:
        char = pattern[index]
        index += 1
        if char == "*":
            if index < length and pattern[index] == "*":
                index += 1
                if index < length and pattern[index] == "/":
                    index += 1
                if index >= length:  # `**` at the end matches everything below
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        source += ".*"
                        kind = "regexp"
                else:
                    source += "(.*/)?"
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                source += "[^/]*"
                kind = "regexp"
        elif char == "?":
            source += "[^/]"
            kind = "regexp"
        elif char in _ESCAPED:
            source += "\\" + char
        elif char == "\\":
            if index < length:
                source += "\\" + pattern[index]
                index += 1
                kind = "regexp"
            else:
                source += "\\\\"
        elif char in "[]":
            source += char
            kind = "regexp"
        else:
            source += char
        first = False
    return kind, source + "$" if kind == "regexp" else source


def _check_syntax(pattern: str) -> None:
    """Raise `PatternError` where Go's `filepath.Match(pattern, ".")` returns ErrBadPattern."""
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        index += 1
        if char == "\\":
            if index >= length:
                raise PatternError(f"bad pattern {pattern!r}: trailing backslash")
            index += 1
        elif char == "[":
            index = _check_class(pattern, index)


def _check_class(pattern: str, index: int) -> int:
    """Check a character class whose `[` ends before `index`; return the index after `]`."""
    bad = PatternError(f"bad pattern {pattern!r}: malformed character class")
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    ranges = 0
    while True:
        if index < len(pattern) and pattern[index] == "]" and ranges > 0:
            return index + 1
        index = _class_char(pattern, index, bad)
        if index < len(pattern) and pattern[index] == "-":
            index = _class_char(pattern, index + 1, bad)
        ranges += 1


def _class_char(pattern: str, index: int, bad: PatternError) -> int:
    if index >= len(pattern) or pattern[index] in "-]":
        raise bad
    if pattern[index] == "\\":
        index += 1
        if index >= len(pattern):
            raise bad
    return index + 1
