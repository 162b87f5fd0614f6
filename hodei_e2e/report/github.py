"""GitHub Actions: suite output in groups, failures as annotations, a job summary, step outputs.

Everything here is plain text: ANSI escape codes are stripped and secrets masked. GitHub's limits
are respected: at most 10 error annotations per step (GitHub drops the rest; an 11th annotation,
a warning, says how many more failed), and a step summary under 1 MiB (failure tails are
shortened or left out to fit, the table of suites never is).

Workflow commands: https://docs.github.com/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from hodei_e2e.masking import masker
from hodei_e2e.report.results import Status, SuiteResult, TestResult
from hodei_e2e.suites.lines import cut_line, last_lines, strip_ansi

MAX_ERROR_ANNOTATIONS = 10  # GitHub keeps 10 error annotations per step
ANNOTATION_TAIL_LINES = 20
ANNOTATION_MAX_CHARS = 4000
SUMMARY_BUDGET = 900 * 1024  # bytes; GitHub refuses a step summary over 1 MiB
SUMMARY_TAIL_LINES = 40
SUMMARY_LINE_CHARS = 500
SUMMARY_REASON_CHARS = 200
GROUP_MAX_LINES = 2000

FAILED = (Status.FAILED, Status.TIMEOUT, Status.ERROR)
ICON = {
    Status.PASSED: "✅",
    Status.FAILED: "❌",
    Status.TIMEOUT: "⏱️",
    Status.ERROR: "💥",
    Status.SKIPPED: "⏭️",
    Status.INTERRUPTED: "⚠️",
}
_TALLY_ORDER = (
    Status.PASSED,
    Status.FAILED,
    Status.TIMEOUT,
    Status.ERROR,
    Status.SKIPPED,
    Status.INTERRUPTED,
)


def plain(line: str) -> str:
    """One output line as a reader sees it: no escapes, no secrets, only what follows a `\\r`,
    cut to `lines.LINE_LIMIT` bytes."""
    line = masker(strip_ansi(line)).rstrip("\r\n")
    return cut_line(line.rsplit("\r", 1)[-1])


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped, as the Actions toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,` escaped."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class GitHubReporter:
    """Renders results for GitHub Actions. Pure methods return text; `print_suite` writes it.

    Suites run in parallel, so a suite's output is printed as one block when it ends, inside
    `::group::`/`::endgroup::`. The suite's own lines are fenced with `::stop-commands::` so that
    nothing a suite prints is taken for a workflow command.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        token: Callable[[], str] = lambda: secrets.token_hex(16),
        group_max_lines: int = GROUP_MAX_LINES,
    ) -> None:
        self.stream = stream
        self._token = token
        self.group_max_lines = group_max_lines
        self._lock = threading.Lock()

    # -- groups ------------------------------------------------------------------------------------

    def group_start(self, title: str) -> str:
        return f"::group::{escape_data(plain(title))}"

    def group_end(self) -> str:
        return "::endgroup::"

    def suite_block(self, result: SuiteResult) -> str:
        """The whole group for one finished suite: title, then its output (from its log file
        when it can be read, else the tail kept in the result)."""
        lines = self._suite_lines(result)
        token = self._token()
        body = [f"::stop-commands::{token}", *lines, f"::{token}::"] if lines else []
        return "\n".join([self.group_start(_title(result)), *body, self.group_end()]) + "\n"

    def print_suite(self, result: SuiteResult) -> None:
        """Write `suite_block(result)` to the stream (stdout by default) as one piece; safe to
        call from the threads that run suites (e.g. from `Hooks.finished`)."""
        block = self.suite_block(result)
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(block)
            stream.flush()

    def _suite_lines(self, result: SuiteResult) -> list[str]:
        lines: list[str] = []
        if result.reason:
            lines.append(plain(f"hodei-e2e: {result.status.value}: {result.reason}"))
        shown, earlier = self._log_lines(result)
        if earlier:
            lines.append(f"hodei-e2e: {earlier} earlier line(s) not shown; see {result.log_path}")
        lines.extend(plain(line) for line in shown)
        return lines

    def _log_lines(self, result: SuiteResult) -> tuple[list[str], int]:
        if result.log_path is not None:
            try:
                return last_lines(result.log_path, self.group_max_lines)
            except OSError:
                pass
        tail = list(result.tail)
        return tail[-self.group_max_lines :], max(0, len(tail) - self.group_max_lines)

    # -- annotations -------------------------------------------------------------------------------

    def annotations(self, results: Sequence[SuiteResult]) -> list[str]:
        """An `::error` line per failing test at its file and line, or per failed, timed-out or
        errored suite without one (at most 10 in all), then one `::warning` saying how many
        more failed."""
        failed: list[tuple[str, str]] = []  # (what failed, its annotation)
        for result in results:
            if result.status not in FAILED:
                continue
            if result.failed_tests:
                failed.extend(
                    (f"{result.name}: {test.path}", _test_annotation(result, test))
                    for test in result.failed_tests
                )
            else:
                failed.append((result.name, _annotation(result)))
        lines = [line for _name, line in failed[:MAX_ERROR_ANNOTATIONS]]
        rest = [name for name, _line in failed[MAX_ERROR_ANNOTATIONS:]]
        if rest:
            names = ", ".join(rest[:20]) + (", ..." if len(rest) > 20 else "")
            tests = any(r.failed_tests for r in results if r.status in FAILED)
            kind = "failure(s)" if tests else "suite(s) failed"
            lines.append(
                f"::warning title={escape_property('hodei-e2e: more failures')}::"
                + escape_data(
                    f"{len(rest)} more {kind}, not annotated because GitHub keeps "
                    f"{MAX_ERROR_ANNOTATIONS} error annotations per step: {names}. "
                    "See the job summary."
                )
            )
        return lines

    # -- the job summary ---------------------------------------------------------------------------

    def step_summary(
        self,
        results: Sequence[SuiteResult],
        *,
        title: str,
        wall: float,
        budget: int = SUMMARY_BUDGET,
    ) -> str:
        """Markdown for `$GITHUB_STEP_SUMMARY`: a headline, the table of every suite, then the
        tail of each failure; at most `budget` bytes of UTF-8 unless the table alone is larger
        (tails are shortened or dropped to fit, never the table)."""
        head = _summary_head(results, title=title, wall=wall)
        failures = [r for r in results if r.status in FAILED and (r.tail or r.failed_tests)]
        omitted_note = (
            "\n_{n} failure tail(s) left out to stay under GitHub's 1 MiB summary limit; "
            "see the suites' logs._\n"
        )
        reserve = _size(omitted_note.format(n=len(failures)))
        remaining = budget - _size(head) - reserve
        parts = [head]
        omitted = 0
        for i, result in enumerate(failures):
            share = max(0, remaining) // (len(failures) - i)
            block = _tail_block(result, share)
            if not block:
                omitted += 1
                continue
            parts.append(block)
            remaining -= _size(block)
        if omitted:
            parts.append(omitted_note.format(n=omitted))
        return "".join(parts)

    # -- files -------------------------------------------------------------------------------------

    @staticmethod
    def write_summary(path: Path, text: str) -> None:
        """Append `text` to the step summary file (`$GITHUB_STEP_SUMMARY`)."""
        with path.open("a", encoding="utf-8") as summary:
            summary.write(text)

    @staticmethod
    def outputs(
        results: Sequence[SuiteResult], reports: Mapping[str, Path | str] | None = None
    ) -> str:
        """The step outputs: `passed`, `failed` (failed, timed out or errored), `skipped`, then
        one per report (e.g. `junit`, `json`, `logs`) in the order given."""
        values: dict[str, str] = {
            "passed": str(sum(r.status is Status.PASSED for r in results)),
            "failed": str(sum(r.status in FAILED for r in results)),
            "skipped": str(sum(r.status is Status.SKIPPED for r in results)),
        }
        for key, path in (reports or {}).items():
            values[key] = str(path)
        return "".join(_output(key, value) for key, value in values.items())

    @classmethod
    def write_outputs(
        cls,
        path: Path,
        results: Sequence[SuiteResult],
        reports: Mapping[str, Path | str] | None = None,
    ) -> None:
        """Append the step outputs to `$GITHUB_OUTPUT`."""
        with path.open("a", encoding="utf-8") as out:
            out.write(cls.outputs(results, reports))


# -- helpers ---------------------------------------------------------------------------------------


def _title(result: SuiteResult) -> str:
    counts = f", {result.counts}" if result.counts else ""
    reason = f" ({result.reason})" if result.reason else ""
    return f"{result.name}: {result.status.value} in {result.duration:.2f}s{counts}{reason}"


def _annotation(result: SuiteResult) -> str:
    title = f"{result.name} {result.status.value}"
    first = result.reason or result.status.value
    where = ""
    diagnostic = result.diagnostic
    if diagnostic is not None:
        first += f": error: {diagnostic.message}"
        where = _where(diagnostic.file, diagnostic.line)
    if result.log_path is not None:
        first += f" (log: {result.log_path})"
    tail = [plain(line) for line in result.tail[-ANNOTATION_TAIL_LINES:]]
    message = "\n".join([plain(first), *tail])
    return _error(title, message, where)


def _test_annotation(result: SuiteResult, test: TestResult) -> str:
    """A failing test, at its file and line: its message, then its own output's last lines."""
    output = [plain(line) for line in test.output.splitlines()[-ANNOTATION_TAIL_LINES:]]
    message = "\n".join([plain(test.message or "failed"), *output])
    return _error(f"{result.name}: {test.path}", message, _where(test.file, test.line))


def _where(file: str | None, line: int | None) -> str:
    if not file:
        return ""
    return f"file={escape_property(file)}," + (f"line={line}," if line else "")


def _error(title: str, message: str, where: str) -> str:
    if len(message) > ANNOTATION_MAX_CHARS:
        message = "…" + message[-(ANNOTATION_MAX_CHARS - 1) :]
    return f"::error {where}title={escape_property(plain(title))}::{escape_data(message)}"


def _output(key: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{key}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{key}<<{delimiter}\n{value}\n{delimiter}\n"


def _summary_head(results: Sequence[SuiteResult], *, title: str, wall: float) -> str:
    tally = {status: sum(r.status is status for r in results) for status in _TALLY_ORDER}
    words = ", ".join(f"{n} {s.value}" for s, n in tally.items() if n) or "no suites"
    if any(r.status in FAILED for r in results):
        verdict = "❌"
    elif any(r.status is Status.INTERRUPTED for r in results):
        verdict = "⚠️"
    else:
        verdict = "✅"
    lines = [
        f"## hodei-e2e: {_cell(title)}",
        "",
        f"{verdict} **{len(results)} suite(s): {words}** in {wall:.2f}s",
    ]
    if results:
        lines += [
            "",
            "| Suite | Status | Duration | Tests | Reason |",
            "| --- | --- | ---: | --- | --- |",
        ]
    for r in results:
        reason = plain(r.reason)
        if len(reason) > SUMMARY_REASON_CHARS:
            reason = reason[: SUMMARY_REASON_CHARS - 1] + "…"
        lines.append(
            f"| {_cell(r.name)} | {ICON[r.status]} {r.status.value} | {r.duration:.2f}s "
            f"| {r.counts or ''} | {_cell(reason)} |"
        )
    return "\n".join(lines) + "\n"


def _tail_block(result: SuiteResult, limit: int) -> str:
    """The last lines of a failure in a collapsed block, shortened to `limit` bytes; "" when not
    even one line fits. A suite whose tests failed shows each failing test and its own output
    instead."""
    tests = result.failed_tests
    source = _failed_test_lines(result) if tests else result.tail[-SUMMARY_TAIL_LINES:]
    lines = [_cap(plain(line)) for line in source]
    fence = _fence(lines)

    def render(kept: Sequence[str]) -> str:
        shortened = " (shortened to fit the summary)" if len(kept) < len(lines) else ""
        summary = (
            f"{result.name}: {result.status.value}"
            + (f" ({plain(result.reason)})" if result.reason else "")
            + (
                f", {len(tests)} failing test(s){shortened}"
                if tests
                else f", last {len(kept)} line(s) of the log{shortened}"
            )
        )
        return "\n".join(
            [
                "",
                f"<details><summary>{_html(summary)}</summary>",
                "",
                fence + "text",
                *kept,
                fence,
                "",
                "</details>",
                "",
            ]
        )

    sizes = [_size(line) + 1 for line in lines]
    overhead = _size(render(lines[:1])) - sizes[0] + 16 if lines else 0
    start, total = 0, sum(sizes)
    while start < len(lines) and overhead + total > limit:
        total -= sizes[start]
        start += 1
    if start >= len(lines):
        return ""
    block = render(lines[start:])
    return block if _size(block) <= limit else ""


def _failed_test_lines(result: SuiteResult) -> list[str]:
    lines: list[str] = []
    for test in result.failed_tests:
        where = f" ({test.file}:{test.line})" if test.file and test.line else ""
        lines.append(f"✗ {test.path}{where}")
        lines.extend("  " + line for line in test.output.splitlines()[-SUMMARY_TAIL_LINES:])
    return lines


def _fence(lines: Iterable[str]) -> str:
    """A code fence longer than any run of backticks in the text, so the text cannot close it."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _cap(line: str) -> str:
    return cut_line(line, SUMMARY_LINE_CHARS)


def _cell(text: str) -> str:
    """Text in a table cell: no line breaks, no HTML, `|` escaped."""
    return _html(" ".join(text.split())).replace("|", "\\|")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _size(text: str) -> int:
    return len(text.encode("utf-8"))
