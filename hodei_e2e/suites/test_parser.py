"""Per-test results read from a test runner's output as it streams: libtest's stable format
(`cargo test`), and pytest's `-rA` short summary.

`OutputParser.feed(line)` is called for every line a suite prints, so it does little for a line
that is not the runner's: one look at the first character, a bounded append inside a failure's
output block. `finish(workdir)` turns what it saw into `TestResult`s, with file paths relative
to the repository root (the git root above `workdir`, else `root`), as GitHub wants them.

libtest, as cargo drives it (stdout and stderr merged):

         Running tests/e2e_math.rs (target/debug/deps/e2e_math-0123abcd)      a binary starts
    running 4 tests
    test adds_up ... ok
    test ignored_with_reason ... ignored, needs a GPU
    test answer_is_off_by_one ... FAILED
    test slow has been running for over 60 seconds
    failures:
    ---- answer_is_off_by_one stdout ----                                  the test's output
    thread 'answer_is_off_by_one' (123) panicked at tests/e2e_math.rs:11:5:
    assertion `left == right` failed: the answer is off by one
    failures:
        answer_is_off_by_one
    test result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; ...
       Doc-tests libtest_fixture                                            doc-tests start

Older Rust writes `thread 'x' panicked at 'message', src/f.rs:1:2`; with `--nocapture` there are
no output blocks, and a panic is the test's whose name its thread has (libtest names each test's
thread after the test), else the next test to fail. With one test thread, `test NAME ... ` comes
before the test runs and its result after, maybe lines later.
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from hodei_e2e.report.results import Diagnostic, Status, TestResult
from hodei_e2e.suites.lines import Block, strip_ansi

MESSAGE_LINES = 6  # of a panic message
BLOCK_LINES = 400  # kept of one test's output block (its last lines)
MAX_TESTS = 100_000

_TEST = re.compile(r"test (.+?) \.\.\. (ok|FAILED|ignored)(?:, (.*))?$")
_PASSED_LINE = re.compile(r"test (.+?) \.\.\. ok")  # fullmatch: a line _TEST reads as passed
_PENDING = re.compile(r"test (.+?) \.\.\.(?: |$)")
# A result after `test X ... `: alone, or run into a line another thread printed meanwhile.
_LATE_RESULT = re.compile(
    r"(ok|FAILED)(?:$|(?=note: |thread '|test |stack backtrace:|running |failures:|---- ))"
)
_SLOW = re.compile(r"test (.+) has been running for over \d+ seconds$")
_RUNNING_BINARY = re.compile(r"Running (?:unittests )?(\S.*?)(?: \((.+)\))?$")
_BLOCK = re.compile(r"---- (.+) (?:stdout|stderr) ----$")
_PANIC = re.compile(r"thread '([^']*)'(?: \(\d+\))? panicked at (.*)$")
_LOCATION = re.compile(r"(.+?):(\d+):(\d+):?$")
_OLD_PANIC = re.compile(r"'(.*)', (.+?):(\d+):(\d+)$", re.DOTALL)
_DOCTEST = re.compile(r"(.+?) - .*\(line (\d+)\)")
_HASH = re.compile(r"-[0-9a-f]{16}$")
_COMPILER_ERROR = re.compile(r"error(?:\[E\d+\])?: (.*)$")
_COMPILER_AT = re.compile(r"\s*--> (.+?):(\d+):(\d+)$")
_CARGO_NOISE = re.compile(
    r"test failed, to rerun|could not compile|aborting due to|\d+ targets? failed"
)
_PYTEST_HEADER = re.compile(r"=+ short test summary info =+$")
_PYTEST_LINE = re.compile(r"(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+)(?: - (.*))?$")
_PYTEST_SKIP = re.compile(r"SKIPPED \[\d+\] (.+?:\d+): (.*)$")
_PYTEST_STATUS = {
    "PASSED": Status.PASSED,
    "XPASS": Status.PASSED,
    "FAILED": Status.FAILED,
    "ERROR": Status.FAILED,
    "SKIPPED": Status.SKIPPED,
    "XFAIL": Status.SKIPPED,
}
_STATUS = {"ok": Status.PASSED, "FAILED": Status.FAILED, "ignored": Status.SKIPPED}
_FIRST = frozenset("tr -feFPSEX=")  # first characters of the lines worth a closer look
# Words at least one of which every line holds that the parser acts on while it is idle (no
# output block, late result or panic being read, no compiler error waiting for its `-->`):
# `test X ...`, `thread '...' panicked at`, cargo's `Running`/`Doc-tests` and libtest's
# `running N tests`, `---- X stdout ----`, rustc's `error`, pytest's header (`short test
# summary info`). A block of output without any of them changes nothing. Few words, since
# each is one scan of the block: output that has none of them goes by at several hundred MB/s.
_IDLE_WORDS = (b"test", b"panicked", b"unning ", b"---- ", b"error")
_PYTEST_WORDS = (b"PASSED", b"FAILED", b"SKIPPED", b"ERROR", b"XFAIL", b"XPASS")  # once seen
_IDLE_TEXT = tuple(word.decode() for word in _IDLE_WORDS)
_PYTEST_TEXT = tuple(word.decode() for word in _PYTEST_WORDS)


@dataclass
class _Panic:
    thread: str
    message: list[str]
    file: str | None
    line: int | None
    lines: list[str] = field(default_factory=list)  # as printed, for a test without a block
    open_quote: bool = False  # old format, message still going on


@dataclass
class _Test:
    binary: str
    name: str
    status: Status
    reason: str = ""
    panic: _Panic | None = None
    output: list[str] | None = None


@dataclass(frozen=True)
class Parsed:
    tests: tuple[TestResult, ...] = ()
    running: tuple[str, ...] = ()  # started and not finished (a timeout's culprits)
    diagnostic: Diagnostic | None = None  # the first compiler error, when the build failed


class OutputParser:
    """Follows one attempt of one suite."""

    def __init__(self) -> None:
        self._binary = ""
        self._tests: dict[tuple[str, str], _Test] = {}
        self._pending: str | None = None  # one test thread: `test X ... ` waiting for its result
        self._slow: dict[tuple[str, str], None] = {}
        self._block: _Test | None = None
        self._block_lines: deque[str] = deque(maxlen=BLOCK_LINES)
        self._panic: _Panic | None = None  # being read (its message lines)
        self._loose: list[_Panic] = []  # panics outside a block, not yet claimed by a test
        self._error: Diagnostic | None = None
        self._error_wants_location = False
        self._pytest = False

    # -- per block of lines (the suite's output path) ----------------------------------------------

    def feed_block(self, block: Block) -> None:
        """Every line of `block`, unless it holds none of the words the parser looks for and
        no test's output is being read: a chatty suite's log lines are then passed over at the
        speed of a byte search, not line by line."""
        idle = (
            self._block is None
            and self._pending is None
            and self._panic is None
            and not self._error_wants_location  # its `--> file:line` may come in the next read
        )
        words = _IDLE_WORDS + _PYTEST_WORDS if self._pytest else _IDLE_WORDS
        if idle and not any(block.has(word) for word in words):
            return
        if idle and self._passed_in_bulk(block):
            return
        for line in block.all():
            self.feed(line)

    def _passed_in_bulk(self, block: Block) -> bool:
        """Lines whose only ones of note are `test X ... ok` (many passing tests, or a suite
        that prints such lines by the million), each distinct line read once instead of every
        line in turn: in this state, with nothing else of note among them, their order and
        repetitions change nothing. False, with nothing recorded, at the first line that needs
        a closer look (a block of a libtest run usually starts with one)."""
        passed = []
        words = _IDLE_TEXT + _PYTEST_TEXT if self._pytest else _IDLE_TEXT
        for line in block.distinct():
            if "\x1b" in line:
                return False  # `feed` reads it without its colours
            match = _PASSED_LINE.fullmatch(line)
            if match is not None and " ... " not in match[1]:
                passed.append(match[1])
            elif line[:1] in _FIRST and any(word in line for word in words):
                return False  # `feed` would act on it (it passes over the others)
        tests, slow, binary = self._tests, self._slow, self._binary
        for name in passed:
            if len(tests) >= MAX_TESTS:
                break
            key = (binary, name)
            tests[key] = _Test(binary, name, Status.PASSED)
            slow.pop(key, None)
        return True

    # -- per line ----------------------------------------------------------------------------------

    def feed(self, line: str) -> None:
        if "\x1b" in line:
            line = strip_ansi(line)
        if self._block is not None:
            self._in_block(line)
            return
        if self._pending is not None and self._late_result(line):
            return
        if self._panic is not None and self._panic_line(line):
            return
        if line and line[0] in _FIRST:
            self._line(line)

    def _line(self, line: str) -> None:
        first = line[0]
        if first == "t":
            if line.startswith("test "):
                self._test_line(line)
            elif line.startswith("thread '"):
                self._start_panic(line, None)
        elif first == " ":
            self._indented(line.lstrip())
        elif first == "-":
            match = _BLOCK.match(line)
            if match:
                self._open_block(match[1])
        elif first == "r":
            if line.startswith("running ") and self._binary == "":
                self._binary = "?"  # libtest without cargo's `Running` line
        elif first == "e":
            self._compiler_error(line)
        elif first in "=PFSEX":
            self._pytest_line(line)

    def _indented(self, text: str) -> None:
        if text.startswith("Running "):
            match = _RUNNING_BINARY.match(text)
            if match:
                self._binary = _binary_name(match[1], match[2])
        elif text.startswith("Doc-tests "):
            self._binary = text.removeprefix("Doc-tests ").strip() + ".doctests"
        elif self._error_wants_location and text.startswith("--> "):
            at = _COMPILER_AT.match(" " + text)
            if at and self._error is not None:
                self._error = Diagnostic(self._error.message, at[1], int(at[2]))
            self._error_wants_location = False

    def _test_line(self, line: str) -> None:
        match = _TEST.match(line)
        if match:
            self._record(match[1], match[2], match[3] or "")
            return
        slow = _SLOW.match(line)
        if slow:
            self._slow[(self._binary, slow[1])] = None
            return
        pending = _PENDING.match(line)
        if pending:
            self._pending = pending[1]
            rest = line[pending.end() :]
            if rest:  # `test X ... oknote: ...`: another thread wrote between the two
                self._late_result(rest)

    def _late_result(self, line: str) -> bool:
        """With `--nocapture`, the result of `test X ... ` after what the test (or another)
        printed meanwhile; the rest of the line is read as a line of its own."""
        match = _LATE_RESULT.match(line)
        if match is None or self._pending is None:
            return False
        name, self._pending = self._pending, None
        self._panic = None  # a panic message being read ends here
        self._record(name, match[1], "")
        rest = line[match.end() :]
        if rest:
            self.feed(rest)
        return True

    def _record(self, name: str, result: str, reason: str) -> None:
        if len(self._tests) >= MAX_TESTS:
            return
        if self._pending == name:
            self._pending = None
        key = (self._binary, name)
        test = _Test(self._binary, name, _STATUS[result], reason=reason)
        if test.status is Status.FAILED:
            test.panic = self._claim_panic(name)
        self._tests[key] = test
        self._slow.pop(key, None)

    def _claim_panic(self, name: str) -> _Panic | None:
        for index, panic in enumerate(self._loose):
            if panic.thread == name:
                return self._loose.pop(index)
        for index in range(len(self._loose) - 1, -1, -1):
            if self._loose[index].thread not in self._names():
                return self._loose.pop(index)
        return None

    def _names(self) -> set[str]:
        return {name for binary, name in self._tests if binary == self._binary}

    # -- panics ------------------------------------------------------------------------------------

    def _start_panic(self, line: str, block: _Test | None) -> None:
        match = _PANIC.match(line)
        if not match:
            return
        rest = match[2]
        location = _LOCATION.match(rest)
        if location and not rest.startswith("'"):
            panic = _Panic(match[1], [], location[1], int(location[2]), [line])
        else:
            old = _OLD_PANIC.match(rest)
            if old:
                panic = _Panic(match[1], [old[1]], old[2], int(old[3]), [line])
            else:  # an old-format message that goes on over several lines
                panic = _Panic(match[1], [rest.removeprefix("'")], None, None, [line], True)
        self._panic = panic
        if block is None:
            self._loose.append(panic)
        elif block.panic is None or (
            block.panic.thread != block.name and panic.thread == block.name
        ):
            block.panic = panic

    def _panic_line(self, line: str) -> bool:
        """A line of the message being read; False when the message has ended."""
        panic = self._panic
        assert panic is not None
        if panic.open_quote:
            old = _OLD_PANIC.match("'" + "\n".join([*panic.message, line]))
            panic.lines.append(line)
            if old:
                panic.message, panic.file, panic.line = old[1].split("\n"), old[2], int(old[3])
                panic.open_quote = False
            else:
                panic.message.append(line)
            if len(panic.lines) > MESSAGE_LINES * 4:
                self._panic = None
            return True
        ends = (
            not line
            or line.startswith(("note: ", "stack backtrace:", "test ", "thread '"))
            or len(panic.message) >= MESSAGE_LINES
        )
        if ends:
            self._panic = None
            return False
        panic.message.append(line)
        panic.lines.append(line)
        return True

    # -- output blocks -----------------------------------------------------------------------------

    def _open_block(self, name: str) -> None:
        test = self._tests.get((self._binary, name))
        if test is None:
            test = _Test(self._binary, name, Status.FAILED)
            self._tests[(self._binary, name)] = test
        self._block = test
        self._block_lines.clear()

    def _in_block(self, line: str) -> None:
        block = self._block
        assert block is not None
        if line == "failures:" or line.startswith("test result: "):
            self._close_block()
            self.feed(line)
            return
        match = _BLOCK.match(line) if line.startswith("---- ") else None
        if match:
            self._close_block()
            self._open_block(match[1])
            return
        self._block_lines.append(line)
        if self._panic is not None and self._panic_line(line):
            return
        if line.startswith("thread '"):
            self._start_panic(line, block)

    def _close_block(self) -> None:
        block = self._block
        assert block is not None
        lines = list(self._block_lines)
        while lines and not lines[-1].strip():
            lines.pop()
        first = next((n for n, line in enumerate(lines) if line.strip()), len(lines))
        block.output = lines[first:]  # libtest opens a block with an empty line
        self._block = None
        self._panic = None

    # -- compiler errors and pytest ----------------------------------------------------------------

    def _compiler_error(self, line: str) -> None:
        if self._error is not None or self._binary:  # cargo builds every target before a test
            return
        match = _COMPILER_ERROR.match(line)
        if match and not _CARGO_NOISE.match(match[1]):
            self._error = Diagnostic(match[1].strip())
            self._error_wants_location = True

    def _pytest_line(self, line: str) -> None:
        if line[0] == "=":
            if not self._pytest and _PYTEST_HEADER.match(line):
                self._pytest = True
            return
        if not self._pytest:
            return
        skip = _PYTEST_SKIP.match(line)
        if skip:
            self._tests[("", skip[1])] = _Test("", skip[1], Status.SKIPPED, reason=skip[2])
            return
        match = _PYTEST_LINE.match(line)
        if match:
            node, message = match[2], match[3] or ""
            status = _PYTEST_STATUS[match[1]]
            binary, _, name = node.rpartition("::")
            test = _Test(binary, name or node, status, reason=message)
            if status is Status.FAILED:
                test.panic = _Panic("", [message] if message else [], binary or None, None)
            self._tests[(binary, node)] = test

    # -- the end -----------------------------------------------------------------------------------

    def finish(self, workdir: Path, root: Path | None = None) -> Parsed:
        """What was seen; file paths relative to the repository root of `workdir`."""
        if self._block is not None:
            self._close_block()
        locate = _Locator(workdir, repository_root(workdir) or root or workdir)
        tests = tuple(_result(test, locate) for test in self._tests.values())
        running = [*self._slow]
        if self._pending is not None:
            running.append((self._binary, self._pending))
        error = self._error
        if error is not None and error.file is not None:
            file = locate(error.file)
            error = Diagnostic(error.message, file, error.line if file else None)
        return Parsed(
            tests=tests,
            running=tuple(f"{binary}::{name}" if binary else name for binary, name in running),
            diagnostic=error,
        )


def _binary_name(source: str, executable: str | None) -> str:
    """`e2e_math` for `tests/e2e_math.rs (target/debug/deps/e2e_math-0123abcd)`."""
    if executable:
        return _HASH.sub("", Path(executable.strip()).name)
    return Path(source).stem


def _result(test: _Test, locate: _Locator) -> TestResult:
    binary = "" if test.binary == "?" else test.binary
    panic = test.panic
    message = "\n".join(panic.message).strip() if panic else ""
    file, line = (panic.file, panic.line) if panic else (None, None)
    if file is None:
        doctest = _DOCTEST.match(test.name)
        if doctest:
            file, line = doctest[1], int(doctest[2])
    located = locate(file) if file else None
    if test.output is not None:
        output = "\n".join(test.output)
    else:
        output = "\n".join(panic.lines) if panic else ""
    return TestResult(
        name=test.name,
        status=test.status,
        binary=binary,
        message=test.reason if test.status is Status.SKIPPED else message,
        file=located,
        line=line if located else None,
        output=output,
    )


def repository_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.git` (a directory or a file)."""
    path = Path(os.path.abspath(start))
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


class _Locator:
    """A path as the compiler printed it (relative to the workspace root, which may be above the
    suite's working directory), made relative to the repository root; None when it is outside."""

    def __init__(self, workdir: Path, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.workdir = Path(os.path.abspath(workdir))

    def __call__(self, path: str) -> str | None:
        given = Path(path)
        if given.is_absolute():
            return self._relative(given)
        bases = [self.workdir, *self.workdir.parents]
        for base in bases:
            if (base / given).is_file():
                return self._relative(base / given)
            if base == self.root:
                break
        return self._relative(self.workdir / given)

    def _relative(self, path: Path) -> str | None:
        normal = Path(os.path.normpath(path))
        try:
            return normal.relative_to(self.root).as_posix()
        except ValueError:
            return None
