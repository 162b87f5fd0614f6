"""Which suites a run runs: names, `-k` expressions and tags."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence

from hodei_e2e.config import SuiteConfig
from hodei_e2e.errors import UsageError

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def compile_keyword(expression: str) -> Callable[[str], bool]:
    """A pytest-like `-k`: words match as case-insensitive substrings, with and/or/not/()."""
    tokens = _TOKEN.findall(expression)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise UsageError(f"-k {expression!r}: the expression ends too early")
        position += 1
        return str(tokens[position - 1])

    def parse_or() -> Callable[[str], bool]:
        left = parse_and()
        while peek() == "or":
            take()
            left = _either(left, parse_and())
        return left

    def parse_and() -> Callable[[str], bool]:
        left = parse_not()
        while peek() == "and":
            take()
            left = _both(left, parse_not())
        return left

    def parse_not() -> Callable[[str], bool]:
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda name: not inner(name)
        token = take()
        if token == "(":
            inner = parse_or()
            if take() != ")":
                raise UsageError(f"-k {expression!r}: expected ')'")
            return inner
        if token in (")", "and", "or"):
            raise UsageError(f"-k {expression!r}: unexpected {token!r}")
        word = token.lower()
        return lambda name: word in name.lower()

    if not tokens:
        return lambda _name: True
    matcher = parse_or()
    if position != len(tokens):
        raise UsageError(f"-k {expression!r}: unexpected {tokens[position]!r}")
    return matcher


def _either(a: Callable[[str], bool], b: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda name: a(name) or b(name)


def _both(a: Callable[[str], bool], b: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda name: a(name) and b(name)


def select(
    suites: Sequence[SuiteConfig],
    names: Iterable[str] = (),
    keyword: str | None = None,
    tags: Iterable[str] = (),
) -> list[SuiteConfig]:
    """The suites to run, in declaration order; an unknown name is a usage error."""
    known = {suite.name: suite for suite in suites}
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"unknown suite {name!r}.{hint} Known suites: {', '.join(known) or '(none)'}"
            )
    chosen = [suite for suite in suites if suite.name in wanted] if wanted else list(suites)
    if keyword:
        matches = compile_keyword(keyword)
        chosen = [suite for suite in chosen if matches(suite.name)]
    tag_set = set(tags)
    if tag_set:
        chosen = [suite for suite in chosen if tag_set & set(suite.tags)]
    return chosen
