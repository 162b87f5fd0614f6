"""The terminal: a live status board on a TTY, plain lines elsewhere, then a summary table."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hodei_e2e.config import SuiteConfig
from hodei_e2e.console import Output
from hodei_e2e.report.results import Status, SuiteResult
from hodei_e2e.suites.lines import Block

if TYPE_CHECKING:
    from rich.table import Table

FAILURE_TAIL = 40
TEST_OUTPUT_LINES = 15  # of each failing test's own output, in the summary
STYLE = {
    Status.PASSED: "green",
    Status.FAILED: "red",
    Status.TIMEOUT: "red",
    Status.ERROR: "red",
    Status.SKIPPED: "yellow",
    Status.INTERRUPTED: "yellow",
}
MARK = {
    Status.PASSED: "✓",
    Status.FAILED: "✗",
    Status.TIMEOUT: "⏱",
    Status.ERROR: "✗",
    Status.SKIPPED: "-",
    Status.INTERRUPTED: "!",
}


class Board:
    """Follows the suites as they run; implements the event half of `suites.Hooks`."""

    def __init__(self, out: Output, suites: Sequence[SuiteConfig]) -> None:
        self.out = out
        self.names = [suite.name for suite in suites]
        self._state: dict[str, tuple[str, float, str]] = dict.fromkeys(
            self.names, ("queued", 0.0, "")
        )
        self._lock = threading.Lock()
        self._live: Any = None

    def __enter__(self) -> Board:
        if self.out.live and self.out.verbosity >= 0:
            from rich.live import Live

            self._live = Live(
                get_renderable=self._table,
                console=self.out.err,
                refresh_per_second=8,
                transient=False,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def started(self, suite: SuiteConfig, attempt: int) -> None:
        with self._lock:
            self._state[suite.name] = ("running", time.monotonic(), "")
        if self._live is None:
            again = f" (attempt {attempt})" if attempt > 1 else ""
            self.out.print(f"▶ {suite.name} started{again}")

    def output(self, suite: SuiteConfig, block: Block) -> None:
        """A block of the suite's lines (masked; a line is cut when it is taken)."""
        if not block:
            return
        with self._lock:
            state, since, _ = self._state[suite.name]
            self._state[suite.name] = (state, since, block.last(1)[0])
        if self._live is None and self.out.verbosity >= 1:
            prefix = f"  [{suite.name}] "
            self.out.print(prefix + f"\n{prefix}".join(block.all()), min_verbosity=1)

    def finished(self, result: SuiteResult) -> None:
        with self._lock:
            self._state[result.name] = (result.status.value, result.duration, result.reason)
        if self._live is None:
            self.out.print(result_line(result), style=STYLE[result.status])

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, show_header=False, padding=(0, 1))
        now = time.monotonic()
        with self._lock:
            for name in self.names:
                state, since, last = self._state[name]
                if state == "running":
                    table.add_row("⠿", name, f"{now - since:5.1f}s", last[-80:], style="cyan")
                elif state == "queued":
                    table.add_row("·", name, "", "queued", style="dim")
                else:
                    status = Status(state)
                    table.add_row(MARK[status], name, f"{since:5.1f}s", last, style=STYLE[status])
        return table


def result_line(result: SuiteResult) -> str:
    counts = f", {result.counts}" if result.counts else ""
    reason = f" ({result.reason})" if result.reason else ""
    mark, status = MARK[result.status], result.status.value
    took = f" in {result.duration:.2f}s" if result.started is not None else ""  # it never ran
    return f"{mark} {result.name} {status}{took}{counts}{reason}"


def test_location(file: str | None, line: int | None) -> str:
    return f" ({file}:{line})" if file and line else (f" ({file})" if file else "")


def _print_failed_tests(out: Output, result: SuiteResult) -> None:
    failed = result.failed_tests
    out.print(
        f"── {result.name}: {len(failed)} failing test(s) ({result.log_path}) ──",
        style="bold",
        min_verbosity=-1,
    )
    for test in failed:
        first = test.message.splitlines()[0] if test.message else "failed"
        where = test_location(test.file, test.line)
        out.print(f"✗ {result.name}: {test.path}{where}: {first}", style="red", min_verbosity=-1)
        lines = test.output.splitlines()
        if lines:
            shown = lines[-TEST_OUTPUT_LINES:]
            more = (
                f"    … {len(lines) - len(shown)} earlier line(s)\n"
                if len(shown) < len(lines)
                else ""
            )
            out.print(more + "\n".join("    " + line for line in shown), min_verbosity=-1)


def print_summary(out: Output, results: Sequence[SuiteResult], wall: float) -> None:
    from rich.table import Table

    for result in results:
        if result.status not in (Status.FAILED, Status.TIMEOUT, Status.ERROR):
            continue
        if result.failed_tests:
            _print_failed_tests(out, result)
        elif result.tail:
            out.print(
                f"── {result.name}: last {FAILURE_TAIL} lines ({result.log_path}) ──",
                style="bold",
                min_verbosity=-1,
            )
            out.print("\n".join(result.tail[-FAILURE_TAIL:]), min_verbosity=-1)
        if result.diagnostic is not None and result.diagnostic.file and not result.failed_tests:
            where = test_location(result.diagnostic.file, result.diagnostic.line)
            out.print(f"error: {result.diagnostic.message}{where}", style="red", min_verbosity=-1)
    table = Table(title=None, show_lines=False)
    for column in ("suite", "status", "duration", "tests", "database", "reason"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            result.name,
            f"{MARK[result.status]} {result.status.value}",
            f"{result.duration:.2f}s" if result.started is not None else "",
            str(result.counts) if result.counts else "",
            result.database or "",
            result.reason,
            style=STYLE[result.status],
        )
    if out.verbosity >= -1:
        out.err.print(table)
    tally: dict[str, int] = {}
    for result in results:
        tally[result.status.value] = tally.get(result.status.value, 0) + 1
    words = ", ".join(f"{n} {status}" for status, n in tally.items()) or "no suites"
    out.print(f"{words} in {wall:.2f}s", style="bold", min_verbosity=-1)
