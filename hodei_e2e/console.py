"""The one console: diagnostics to stderr, colour only on a terminal, NO_COLOR respected."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hodei_e2e.masking import masker

if TYPE_CHECKING:
    from rich.console import Console


class Output:
    def __init__(self, verbosity: int = 0) -> None:
        from rich.console import Console

        self.verbosity = verbosity
        tty = sys.stderr.isatty()
        color = tty and "NO_COLOR" not in os.environ
        self.err: Console = Console(
            width=None if tty or "COLUMNS" in os.environ else 160,
            stderr=True,
            no_color=not color,
            color_system="auto" if color else None,
            highlight=False,
            soft_wrap=True,
        )
        self.live = self.err.is_terminal and "CI" not in os.environ

    def print(self, text: str = "", *, style: str | None = None, min_verbosity: int = 0) -> None:
        if self.verbosity >= min_verbosity:
            self.err.print(masker(text), style=style, markup=False, highlight=False)

    def detail(self, text: str) -> None:
        self.print(text, min_verbosity=1)

    def warn(self, text: str) -> None:
        self.print(f"⚠ {text}", style="yellow", min_verbosity=-1)

    def error(self, text: str, detail: str | None = None) -> None:
        self.print(f"✗ {text}", style="bold red", min_verbosity=-9)
        if detail:
            self.print(detail, min_verbosity=-9)

    @contextmanager
    def step(self, name: str) -> Iterator[StepNote]:
        """A visible step with its duration; `note.text` adds a word about what it did."""
        note = StepNote()
        start = time.monotonic()
        try:
            yield note
        except BaseException:
            self.print(f"✗ {name} ({time.monotonic() - start:.2f}s)", style="red")
            raise
        suffix = f": {note.text}" if note.text else ""
        self.print(f"✓ {name} ({time.monotonic() - start:.2f}s){suffix}", style="green")


class StepNote:
    text: str = ""
