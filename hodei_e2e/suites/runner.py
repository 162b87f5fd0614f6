"""Running suites: one shell per suite in its own process group, up to `jobs` at a time.

A suite's shell starts through `processes.spawn`. Its output is masked, written to its log file
as it comes, and kept as a tail (output.py); a timeout or a stop terminates every process the
suite started, in its group or not (strays.py, with `processes.stop`: SIGTERM, a grace period,
SIGKILL), and reading its pipe stops even when a stray process still holds it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Protocol

from hodei_e2e.config import SuiteConfig
from hodei_e2e.masking import masker
from hodei_e2e.report.results import Status, SuiteResult, parse_counts
from hodei_e2e.suites import processes, strays
from hodei_e2e.suites.lines import Block
from hodei_e2e.suites.output import TAIL_LINES, SuiteOutput, enlarge_pipe
from hodei_e2e.suites.test_parser import OutputParser

INTERRUPTED = "the run was interrupted"
KILL_GRACE = 5.0
LEFTOVER_GRACE = 0.5  # for what a suite left running when its shell ended
OUTPUT_WAIT = 1.0  # for the end of a suite's output once its processes are gone


class SkipSuite(Exception):
    """Raised by `Hooks.prepare` when a suite cannot run; the reason goes into the report.
    `interrupted`: it cannot run because the run is being stopped."""

    def __init__(self, reason: str, *, interrupted: bool = False) -> None:
        super().__init__(reason)
        self.interrupted = interrupted


@dataclass(frozen=True)
class Prepared:
    env: Mapping[str, str]  # added on top of the caller's environment
    database: str | None = None


class Hooks(Protocol):
    def prepare(self, suite: SuiteConfig) -> Prepared: ...
    def release(self, suite: SuiteConfig, prepared: Prepared) -> None: ...
    def started(self, suite: SuiteConfig, attempt: int) -> None: ...
    def output(self, suite: SuiteConfig, block: Block) -> None: ...
    def finished(self, result: SuiteResult) -> None: ...


class ProcessGroups:
    """The live suites' processes, so that a stop can reach every one of them."""

    def __init__(self, on_add: Callable[[int], None] = lambda _pgid: None) -> None:
        self._groups: set[strays.SuiteProcesses] = set()
        self._lock = threading.Lock()
        self._on_add = on_add

    def add(self, suite: strays.SuiteProcesses) -> None:
        with self._lock:
            self._groups.add(suite)
        self._on_add(suite.pgid)

    def discard(self, suite: strays.SuiteProcesses) -> None:
        with self._lock:
            self._groups.discard(suite)

    # -- processes.Stoppable: a stop waits for every suite to have stopped its own processes ----

    def signal(self, signum: int) -> None:
        with self._lock:
            groups = list(self._groups)
        for suite in groups:
            suite.signal(signum)

    def gone(self) -> bool:
        with self._lock:
            return not self._groups


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == 127:
        return "exit code 127: command not found"
    if code == 126:
        return "exit code 126: command not executable"
    return f"exit code {code}"


@dataclass
class _Attempt:
    exit_code: int | None = None
    timed_out: bool = False
    stopped: bool = False
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    summary_lines: Sequence[str] = ()
    parser: OutputParser = field(default_factory=OutputParser)  # per-test results


class SuiteRunner:
    def __init__(
        self,
        hooks: Hooks,
        *,
        logs_dir: Path,
        jobs: int = 1,
        default_timeout: float = 900.0,
        fail_fast: bool = False,
        timeout_override: float | None = None,
        base_env: Mapping[str, str] | None = None,
        stop_grace: float = KILL_GRACE,
        on_group: Callable[[int], None] = lambda _pgid: None,
        run_id: str | None = None,
    ) -> None:
        self.hooks = hooks
        self.logs_dir = logs_dir
        self.jobs = max(1, jobs)
        self.default_timeout = default_timeout
        self.timeout_override = timeout_override
        self.fail_fast = fail_fast
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.groups = ProcessGroups(on_group)
        self.results: dict[str, SuiteResult] = {}
        self._stop = threading.Event()
        self._failed: list[str] = []
        self.grace = KILL_GRACE  # after a timeout
        self.stop_grace = stop_grace  # after an interruption
        self.run_id = run_id or secrets.token_hex(8)  # marks every process of the suites

    # -- the public surface -------------------------------------------------------------------

    def run(
        self, suites: Sequence[SuiteConfig], check: Callable[[], None] = lambda: None
    ) -> list[SuiteResult]:
        """Run `suites`; results come back in the order given, whatever order they ended in.

        `check` is called between short waits and may raise to stop the run (a signal)."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="suite")
        # a subreaper: what leaves a suite's group stays in our tree, to be found and stopped
        with strays.subreaper():
            try:
                futures = [pool.submit(self._run_suite, suite) for suite in suites]
                pending = set(futures)
                while pending:
                    check()
                    _done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
                for future in futures:
                    future.result()
            except BaseException:
                self.stop(self.stop_grace)
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        return [self.results[suite.name] for suite in suites]

    def stop(self, grace: float) -> None:
        """Stop everything: nothing new starts, live groups get SIGTERM, and SIGKILL when their
        suites have not ended within `grace`."""
        self._stop.set()
        processes.stop(self.groups, grace)

    def kill(self) -> None:
        """Stop everything at once: nothing new starts, live groups get SIGKILL."""
        self._stop.set()
        self.groups.signal(signal.SIGKILL)

    def outcome_for_unfinished(self, suites: Sequence[SuiteConfig]) -> list[SuiteResult]:
        """Every suite's result after a stop: finished ones as they were, others interrupted."""
        return interrupted_results(suites, self.results)

    # -- one suite ------------------------------------------------------------------------------

    def _run_suite(self, suite: SuiteConfig) -> None:
        result = self._run_attempts(suite)
        self.results[suite.name] = result
        if not result.status.ok and result.status is not Status.INTERRUPTED:
            self._failed.append(suite.name)
        self.hooks.finished(result)

    def _skip_reason(self) -> str | None:
        if self._stop.is_set():
            return INTERRUPTED
        if self.fail_fast and self._failed:
            return f"not started: --fail-fast after {self._failed[0]} failed"
        return None

    def _run_attempts(self, suite: SuiteConfig) -> SuiteResult:
        log_path = self.logs_dir / f"{suite.name}.log"
        reason = self._skip_reason()
        if reason:
            status = Status.INTERRUPTED if self._stop.is_set() else Status.SKIPPED
            return SuiteResult(suite.name, status, reason=reason)
        # The suite's time runs from its first start, once its database and services are
        # there: waiting for them is not the suite's own time.
        began: list[tuple[float, float]] = []  # (unix, monotonic)
        result = SuiteResult(suite.name, Status.ERROR)
        with log_path.open("wb") as log:
            for attempt in range(1, suite.retries + 2):
                if attempt > 1:
                    note = f"\n--- hodei-e2e: attempt {attempt} of {suite.retries + 1} ---\n"
                    log.write(note.encode())
                result = self._attempt(suite, attempt, log, log_path, began)
                if result.status in (Status.PASSED, Status.SKIPPED, Status.INTERRUPTED):
                    break
                if self._stop.is_set():
                    break
        if not began:
            return result
        started, clock = began[0]
        return replace(result, started=started, duration=time.monotonic() - clock)

    def _attempt(
        self,
        suite: SuiteConfig,
        attempt: int,
        log: BinaryIO,
        log_path: Path,
        began: list[tuple[float, float]],
    ) -> SuiteResult:
        try:
            prepared = self.hooks.prepare(suite)
        except SkipSuite as skip:
            status = Status.INTERRUPTED if skip.interrupted else Status.SKIPPED
            return SuiteResult(suite.name, status, reason=str(skip))
        except Exception as error:  # noqa: BLE001 - reported as this suite's error
            return SuiteResult(suite.name, Status.ERROR, reason=masker(str(error)))
        if not began:
            began.append((time.time(), time.monotonic()))
        try:
            self.hooks.started(suite, attempt)
            outcome = self._execute(suite, prepared, log)
        finally:
            self.hooks.release(suite, prepared)
        return _result(suite, outcome, prepared, log_path, attempt, self._timeout(suite))

    def _timeout(self, suite: SuiteConfig) -> float:
        if self.timeout_override is not None:
            return self.timeout_override
        return suite.timeout if suite.timeout is not None else self.default_timeout

    def _execute(self, suite: SuiteConfig, prepared: Prepared, log: BinaryIO) -> _Attempt:
        outcome = _Attempt()
        if self._stop.is_set():
            outcome.stopped = True
            return outcome
        mark = strays.marker(self.run_id, suite.name)
        env = {**self.base_env, **prepared.env, **mark}
        try:
            proc = processes.spawn(suite.command, cwd=suite.workdir, env=env)
        except OSError as error:  # a missing working directory, mostly
            line = f"hodei-e2e: cannot start the suite: {error}"
            log.write(masker(line).encode() + b"\n")
            outcome.tail.append(masker(line))
            outcome.exit_code = 127
            return outcome
        assert proc.stdout is not None
        children = strays.SuiteProcesses(proc, mark)
        self.groups.add(children)
        enlarge_pipe(proc.stdout.fileno())

        def on_lines(block: Block) -> None:
            outcome.parser.feed_block(block)
            self.hooks.output(suite, block)

        def timed_out() -> None:
            outcome.timed_out = not self._stop.is_set()  # else a stop ended it

        output = SuiteOutput(proc.stdout.fileno(), log, on_lines).start()
        outcome.exit_code, _ = _supervise(
            proc,
            children,
            output,
            timeout=self._timeout(suite),
            grace=self.grace,
            on_timeout=timed_out,
            on_stopped=lambda: self.groups.discard(children),
        )
        outcome.tail = output.tail
        outcome.summary_lines = output.summary_lines
        outcome.stopped = self._stop.is_set()
        return outcome


def interrupted_results(
    suites: Sequence[SuiteConfig], finished: Mapping[str, SuiteResult] | None = None
) -> list[SuiteResult]:
    """The suites' results after a stop: those in `finished` as they were, the others
    interrupted."""
    done = finished or {}
    return [
        done.get(suite.name) or SuiteResult(suite.name, Status.INTERRUPTED, reason=INTERRUPTED)
        for suite in suites
    ]


def _result(
    suite: SuiteConfig,
    outcome: _Attempt,
    prepared: Prepared,
    log_path: Path,
    attempt: int,
    timeout: float,
) -> SuiteResult:
    code = outcome.exit_code
    parsed = outcome.parser.finish(suite.workdir)
    if outcome.stopped and code != 0:
        status, reason = Status.INTERRUPTED, INTERRUPTED
    elif outcome.timed_out:
        status, reason = Status.TIMEOUT, f"timed out after {timeout:g}s"
        if parsed.running:
            reason += f"; still running: {', '.join(parsed.running)}"
    elif code == 0:
        status, reason = Status.PASSED, ""
    else:
        status, reason = Status.FAILED, describe_exit(code if code is not None else -1)
    return SuiteResult(
        suite.name,
        status,
        exit_code=code,
        reason=reason,
        database=prepared.database,
        log_path=log_path,
        tail=tuple(outcome.tail),
        counts=parse_counts(list(outcome.summary_lines)),
        attempts=attempt,
        tests=parsed.tests,
        diagnostic=parsed.diagnostic,
    )


def run_command(
    command: str, *, cwd: Path, env: Mapping[str, str], timeout: float = 600.0
) -> tuple[int, str]:
    """Run a helper command (a migration) like a suite: a shell in its own process group,
    stopped whole at its timeout, strays included; return its exit code and its masked output
    (the last `TAIL_LINES` lines, each cut)."""
    with strays.subreaper():
        return _run_command(command, cwd=cwd, env=env, timeout=timeout)


def _run_command(
    command: str, *, cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[int, str]:
    proc = processes.spawn(command, cwd=cwd, env={**os.environ, **env})
    assert proc.stdout is not None
    children = strays.SuiteProcesses(proc, {})
    with open(os.devnull, "wb") as nowhere:
        output = SuiteOutput(proc.stdout.fileno(), nowhere, lambda _block: None).start()
        code, timed_out = _supervise(proc, children, output, timeout=timeout, grace=KILL_GRACE)
    if timed_out:
        return 124, "\n".join(output.tail) + f"\ntimed out after {timeout:g}s"
    return code, "\n".join(output.tail)


def _supervise(
    proc: subprocess.Popen[bytes],
    children: strays.SuiteProcesses,
    output: SuiteOutput,
    *,
    timeout: float,
    grace: float,
    on_timeout: Callable[[], None] = lambda: None,
    on_stopped: Callable[[], None] = lambda: None,
) -> tuple[int, bool]:
    """Wait up to `timeout` for a shell (`spawn`ed, its output read by `output`), stopping all
    it started at the timeout (`on_timeout` first, then SIGTERM and `grace`); return its exit
    code and whether it timed out. Either way nothing it started outlives it, in its process
    group or not (then `on_stopped`), and reading its output ends."""
    assert proc.stdout is not None
    try:
        try:
            return proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            on_timeout()
            children.terminate(grace)
            return proc.wait(), True
    finally:
        children.terminate(LEFTOVER_GRACE)
        on_stopped()
        output.finish(OUTPUT_WAIT)  # a stray nobody could stop may hold the pipe: stop reading
        proc.stdout.close()
