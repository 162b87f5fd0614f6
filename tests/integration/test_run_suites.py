"""The suite runner with real processes (no Docker): order, environment, retries, fail-fast,
timeouts that reach every process of a suite, stops, logs and masking."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from shared import process_alive

from hodei_e2e.config import SuiteConfig
from hodei_e2e.masking import masker
from hodei_e2e.report.results import Status, SuiteResult
from hodei_e2e.report.results import TestCounts as Counts
from hodei_e2e.suites.lines import LINE_LIMIT, Block
from hodei_e2e.suites.runner import Prepared, SkipSuite, SuiteRunner

pytestmark = pytest.mark.timeout(60)


class Hooks:
    """Records what the runner tells it; gives each suite a pretend database."""

    def __init__(
        self, *, skip: frozenset[str] = frozenset(), broken: frozenset[str] = frozenset()
    ) -> None:
        self.skip, self.broken = skip, broken
        self.released: list[str] = []
        self.lines: dict[str, list[str]] = {}
        self.finished_order: list[str] = []
        self._lock = threading.Lock()

    def prepare(self, suite: SuiteConfig) -> Prepared:
        if suite.name in self.skip:
            raise SkipSuite("redis did not start")
        if suite.name in self.broken:
            raise RuntimeError("cannot create database: password hodei-unit-secret-42 rejected")
        return Prepared(env={"SUITE_DB": f"db_{suite.name}"}, database=f"db_{suite.name}")

    def release(self, suite: SuiteConfig, prepared: Prepared) -> None:
        with self._lock:
            self.released.append(str(prepared.database))

    def started(self, suite: SuiteConfig, attempt: int) -> None:
        pass

    def output(self, suite: SuiteConfig, block: Block) -> None:
        with self._lock:
            self.lines.setdefault(suite.name, []).extend(block.all())

    def finished(self, result: SuiteResult) -> None:
        with self._lock:
            self.finished_order.append(result.name)


def suite(tmp_path: Path, name: str, command: str, **kwargs: Any) -> SuiteConfig:
    return SuiteConfig(name=name, command=command, workdir=tmp_path, **kwargs)


def runner(tmp_path: Path, hooks: Hooks, **kwargs: Any) -> SuiteRunner:
    return SuiteRunner(
        hooks,
        logs_dir=tmp_path / "logs",
        base_env={"PATH": "/usr/bin:/bin", "INHERITED": "yes"},
        **kwargs,
    )


def test_results_come_back_in_declared_order(tmp_path: Path) -> None:
    hooks = Hooks()
    suites = [
        suite(tmp_path, "slow", "sleep 0.6"),
        suite(tmp_path, "medium", "sleep 0.3"),
        suite(tmp_path, "fast", "true"),
    ]
    results = runner(tmp_path, hooks, jobs=3).run(suites)
    assert [r.name for r in results] == ["slow", "medium", "fast"]
    assert hooks.finished_order == ["fast", "medium", "slow"]  # they really ran at once
    assert all(r.status is Status.PASSED for r in results)
    assert sorted(hooks.released) == ["db_fast", "db_medium", "db_slow"]
    assert [r.database for r in results] == ["db_slow", "db_medium", "db_fast"]


def test_the_suite_env_comes_on_top_of_the_callers(tmp_path: Path) -> None:
    hooks = Hooks()
    results = runner(tmp_path, hooks).run(
        [suite(tmp_path, "env", 'echo "$SUITE_DB $INHERITED $(pwd)"')]
    )
    assert results[0].status is Status.PASSED
    assert hooks.lines["env"] == [f"db_env yes {tmp_path}"]


def test_output_is_logged_streamed_and_counted(tmp_path: Path) -> None:
    hooks = Hooks()
    command = "echo one; echo two >&2; echo 'test result: ok. 2 passed; 0 failed; 1 ignored; 0'"
    (result,) = runner(tmp_path, hooks).run([suite(tmp_path, "out", command)])
    assert hooks.lines["out"][:2] == ["one", "two"]  # stderr is interleaved with stdout
    assert result.log_path == tmp_path / "logs" / "out.log"
    assert result.log_path.read_text().splitlines()[:2] == ["one", "two"]
    assert result.tail[:2] == ("one", "two")
    assert result.counts == Counts(2, 0, 1)


def test_a_failing_suite_is_failed_with_its_exit_code(tmp_path: Path) -> None:
    (result,) = runner(tmp_path, Hooks()).run([suite(tmp_path, "bad", "echo nope; exit 3")])
    assert (result.status, result.exit_code, result.reason) == (Status.FAILED, 3, "exit code 3")
    assert result.tail == ("nope",)


def test_a_missing_command_is_failed_with_command_not_found(tmp_path: Path) -> None:
    (result,) = runner(tmp_path, Hooks()).run([suite(tmp_path, "nf", "hodei-no-such-cmd")])
    assert result.status is Status.FAILED
    assert result.reason == "exit code 127: command not found"


def test_a_missing_workdir_is_reported_not_raised(tmp_path: Path) -> None:
    config = SuiteConfig(name="nowhere", command="true", workdir=tmp_path / "missing")
    (result,) = runner(tmp_path, Hooks()).run([config])
    assert result.status is Status.FAILED
    assert any("cannot start the suite" in line for line in result.tail)


def test_retries_run_again_and_log_every_attempt(tmp_path: Path) -> None:
    command = "if [ -e tried ]; then echo second; else touch tried; echo first; exit 1; fi"
    (result,) = runner(tmp_path, Hooks()).run([suite(tmp_path, "flaky", command, retries=2)])
    assert (result.status, result.attempts) == (Status.PASSED, 2)
    assert result.log_path is not None
    log = result.log_path.read_text()
    assert "first" in log
    assert "attempt 2 of 3" in log
    assert "second" in log


def test_fail_fast_starts_nothing_after_a_failure(tmp_path: Path) -> None:
    suites = [suite(tmp_path, "bad", "exit 1"), suite(tmp_path, "later", "touch ran")]
    results = runner(tmp_path, Hooks(), jobs=1, fail_fast=True).run(suites)
    assert [r.status for r in results] == [Status.FAILED, Status.SKIPPED]
    assert "--fail-fast after bad failed" in results[1].reason
    assert not (tmp_path / "ran").exists()


def test_skips_and_errors_of_prepare_are_reported_with_their_reason(tmp_path: Path) -> None:
    masker.add("hodei-unit-secret-42")
    hooks = Hooks(skip=frozenset({"needs-redis"}), broken=frozenset({"no-db"}))
    results = runner(tmp_path, hooks).run(
        [suite(tmp_path, "needs-redis", "touch ran"), suite(tmp_path, "no-db", "touch ran")]
    )
    assert (results[0].status, results[0].reason) == (Status.SKIPPED, "redis did not start")
    assert results[1].status is Status.ERROR
    assert "cannot create database" in results[1].reason
    assert "hodei-unit-secret-42" not in results[1].reason
    assert not (tmp_path / "ran").exists()


def test_output_is_masked_in_the_log_and_the_tail(tmp_path: Path) -> None:
    masker.add("hodei-unit-secret-43")
    (result,) = runner(tmp_path, Hooks()).run(
        [suite(tmp_path, "leaky", "echo the password is hodei-unit-secret-43")]
    )
    assert result.tail == ("the password is ***",)
    assert result.log_path is not None
    assert "hodei-unit-secret-43" not in result.log_path.read_text()


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    command = (
        "sleep 300 & echo $! > child; (trap '' TERM; exec sleep 299) & echo $! > deaf; "
        "(sleep 298 & echo $! > orphan); echo hanging; sleep 297"
    )
    run = runner(tmp_path, Hooks())
    run.grace = 0.5  # SIGTERM, then SIGKILL half a second later
    (result,) = run.run([suite(tmp_path, "hangs", command, timeout=1.0)])
    assert (result.status, result.reason) == (Status.TIMEOUT, "timed out after 1s")
    assert result.tail == ("hanging",)
    pids = {name: int((tmp_path / name).read_text()) for name in ("child", "deaf", "orphan")}
    assert {name: pid for name, pid in pids.items() if process_alive(pid)} == {}


def test_the_timeout_override_wins_over_the_suites_timeout(tmp_path: Path) -> None:
    run = runner(tmp_path, Hooks(), timeout_override=0.5)
    run.grace = 0.5
    (result,) = run.run([suite(tmp_path, "slow", "sleep 30", timeout=60.0)])
    assert (result.status, result.reason) == (Status.TIMEOUT, "timed out after 0.5s")


def test_a_suite_that_ends_at_sigterm_is_not_kept_for_the_whole_grace(tmp_path: Path) -> None:
    # `sleep` dies at the SIGTERM of the timeout; the runner must notice, not wait out the
    # grace period (5 s per timed-out suite by default) before it SIGKILLs an empty group.
    run = runner(tmp_path, Hooks())
    run.grace = 20.0
    results: list[SuiteResult] = []
    thread = threading.Thread(
        target=lambda: results.extend(run.run([suite(tmp_path, "slow", "sleep 300", timeout=0.5)])),
        daemon=True,
    )
    thread.start()
    thread.join(timeout=8)  # a generous deadline: the suite itself is gone after ~0.5 s
    assert not thread.is_alive(), (
        "the runner still waits for a process group whose processes all ended at SIGTERM "
        "(its leader is a zombie that only proc.wait() reaps)"
    )
    assert results[0].status is Status.TIMEOUT


def test_stop_interrupts_running_suites_and_starts_no_more(tmp_path: Path) -> None:
    run = runner(tmp_path, Hooks(), jobs=1)
    suites = [
        suite(tmp_path, "running", "echo $$ > pid; touch started; sleep 300"),
        suite(tmp_path, "queued", "touch ran"),
    ]
    results: list[SuiteResult] = []
    thread = threading.Thread(target=lambda: results.extend(run.run(suites)))
    thread.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    run.stop(grace=1.0)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert [r.status for r in results] == [Status.INTERRUPTED, Status.INTERRUPTED]
    assert not process_alive(int((tmp_path / "pid").read_text()))
    assert not (tmp_path / "ran").exists()


def test_a_secret_split_across_two_writes_is_masked(tmp_path: Path) -> None:
    masker.add("hodei-unit-secret-44")
    hooks = Hooks()
    # two writes with a pause between: the runner reads them apart, the secret cut in two
    command = "printf 'the password is hodei-unit-'; sleep 0.3; printf 'secret-44, ok\\n'"
    (result,) = runner(tmp_path, hooks).run([suite(tmp_path, "split", command)])
    assert result.tail == ("the password is ***, ok",)
    assert hooks.lines["split"] == ["the password is ***, ok"]
    assert result.log_path is not None
    assert result.log_path.read_text() == "the password is ***, ok\n"


def test_a_long_line_is_cut_in_the_tail_and_whole_in_the_log(tmp_path: Path) -> None:
    hooks = Hooks()
    command = "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo after"
    (result,) = runner(tmp_path, hooks).run([suite(tmp_path, "long", command)])
    cut = "a" * LINE_LIMIT + f"… [hodei-e2e: {3_000_000 - LINE_LIMIT:,} bytes cut]"
    assert result.tail == (cut, "after")
    assert hooks.lines["long"] == [cut, "after"]
    assert result.log_path is not None
    assert result.log_path.read_bytes() == b"a" * 3_000_000 + b"\nafter\n"
