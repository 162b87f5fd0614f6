"""The prepare step: `prepare:` commands run once, before any suite (compiling the tests).

It runs in the background while Postgres, the services and the worker image come up, through the
suite runner (its process group, timeout, log file and stop are a suite's), as one step named
`prepare` whose commands run in order, each announced in its log. Without `needs` it runs before
the databases exist and gets the caller's environment plus the top-level `env:` values that use
no `{template}` (e.g. `CARGO_TARGET_DIR`; a template names what exists only later). With `needs`
it waits for the run's environment contract and gets the suites' variables, with a database of
its own.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from hodei_e2e.config import PREPARE_STEP, Config, PrepareConfig, SuiteConfig
from hodei_e2e.console import Output
from hodei_e2e.errors import ConfigError
from hodei_e2e.report.console import STYLE, result_line
from hodei_e2e.report.results import Status, SuiteResult
from hodei_e2e.suites.environment import render
from hodei_e2e.suites.lines import Block
from hodei_e2e.suites.runner import Prepared, SkipSuite, SuiteRunner

NOT_STARTED = f"not started: the {PREPARE_STEP} step failed"

Contract = Callable[[SuiteConfig], Prepared]  # the suites' environment, for a step that needs it
Release = Callable[[Prepared], None]


def script(commands: tuple[str, ...]) -> str:
    """One shell script running `commands` in order, each in a subshell from the config's
    directory and announced as `$ COMMAND` in the log; the first that fails ends it."""
    parts = [
        f"printf '%s\\n' {shlex.quote('$ ' + command)} && (\n{command}\n)" for command in commands
    ]
    return " && ".join(parts)


def step_suite(prepare: PrepareConfig, root: Path) -> SuiteConfig:
    """The step as the suite runner sees it."""
    return SuiteConfig(
        name=PREPARE_STEP,
        command=script(prepare.commands),
        timeout=prepare.timeout,
        needs=prepare.needs,
        workdir=root,
    )


class PrepareStep:
    """The prepare step of one run: started with `start`, awaited with `future`, stopped with
    `stop` (the teardown's, or a signal's)."""

    def __init__(
        self,
        config: Config,
        out: Output,
        *,
        logs_dir: Path,
        on_group: Callable[[int], None],
        on_finished: Callable[[SuiteResult], None] = lambda _result: None,
    ) -> None:
        assert config.prepare is not None
        self.out = out
        self.suite = step_suite(config.prepare, config.root)
        self.commands = len(config.prepare.commands)
        self.runner = SuiteRunner(
            self,
            logs_dir=logs_dir,
            jobs=1,
            default_timeout=config.defaults.timeout,
            on_group=on_group,
        )
        self.static_env = _static_env(config.env)
        self.contract: Future[tuple[Contract, Release]] = Future()
        self._stopped = threading.Event()
        self._on_finished = on_finished

    @property
    def needs_contract(self) -> bool:
        return bool(self.suite.needs)

    def run(self) -> SuiteResult:
        """The step, start to end; call it on a background thread."""
        return self.runner.run([self.suite])[0]

    def offer(self, contract: Contract, release: Release) -> None:
        """The run's environment contract is ready (Postgres, migrations, databases)."""
        if not self.contract.done():
            self.contract.set_result((contract, release))

    def stop(self, grace: float) -> None:
        self._stopped.set()
        self.runner.stop(grace)

    # -- suites.Hooks ------------------------------------------------------------------------------

    def prepare(self, suite: SuiteConfig) -> Prepared:
        if not suite.needs:
            return Prepared(env=self.static_env)
        while not self._stopped.is_set():
            try:
                contract, _release = self.contract.result(timeout=0.1)
            except FutureTimeout:
                continue
            return contract(suite)
        raise SkipSuite("the run stopped before the database was ready")

    def release(self, _suite: SuiteConfig, prepared: Prepared) -> None:
        if self.contract.done() and prepared.database is not None:
            _contract, release = self.contract.result()
            release(prepared)

    def started(self, suite: SuiteConfig, _attempt: int) -> None:
        self.out.print(f"▶ {suite.name} started ({self.commands} command(s))")

    def output(self, suite: SuiteConfig, block: Block) -> None:
        if block and self.out.verbosity >= 1:
            prefix = f"  [{suite.name}] "
            self.out.print(prefix + f"\n{prefix}".join(block.all()), min_verbosity=1)

    def finished(self, result: SuiteResult) -> None:
        self.out.print(result_line(result), style=STYLE[result.status])
        self._on_finished(result)


def _static_env(env: Mapping[str, str]) -> dict[str, str]:
    """The values of `env:` that need no fact of the run."""
    static = {}
    for key, value in env.items():
        try:
            static[key] = render(value, {}, f"env.{key}")
        except ConfigError:
            continue  # names a run fact ({database_url}, ...): only suites get it
    return static


def not_started(suites: list[SuiteConfig]) -> list[SuiteResult]:
    """The suites' results when the prepare step failed: none of them ran."""
    return [SuiteResult(suite.name, Status.SKIPPED, reason=NOT_STARTED) for suite in suites]
