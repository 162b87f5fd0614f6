"""What every suite is given (DESIGN.md's contract): a database of its own, the services it
needs, and the environment that names them; and its database dropped when it ends."""

from __future__ import annotations

from dataclasses import dataclass

from hodei_e2e.config import SuiteConfig
from hodei_e2e.console import Output
from hodei_e2e.errors import E2EError
from hodei_e2e.pipeline.background import Background
from hodei_e2e.pipeline.services import ServiceStarts
from hodei_e2e.pipeline.teardown import Teardown
from hodei_e2e.postgres.databases import Databases
from hodei_e2e.report import console as console_report
from hodei_e2e.report.github import GitHubReporter
from hodei_e2e.report.results import SuiteResult
from hodei_e2e.suites.environment import RunFacts, ServerFacts, suite_environment
from hodei_e2e.suites.lines import Block
from hodei_e2e.suites.runner import INTERRUPTED, Prepared, SkipSuite


@dataclass(frozen=True)
class Contract:
    """Hands out the contract suite by suite; suites run on threads of their own."""

    facts: RunFacts
    config_env: dict[str, str]
    databases: Databases
    services: ServiceStarts
    background: Background
    teardown: Teardown
    out: Output

    def prepare(self, suite: SuiteConfig) -> Prepared:
        """The suite's own database and its environment."""
        exports = self.services.exports_for(suite, self.background)
        try:
            database, _waited = self.databases.take(suite)
        except E2EError:
            if self.background.stopping():
                raise SkipSuite(INTERRUPTED, interrupted=True) from None
            raise
        server = database.server
        address = server.address
        env = suite_environment(
            self.facts,
            ServerFacts(address.host, address.port, server.admin_url(), database.template),
            suite=suite.name,
            database=database.name,
            database_url=address.url(database.name),
            config_env=self.config_env,
            suite_env=suite.env,
            exports=exports,
        )
        return Prepared(env=env, database=database.name)

    def release(self, _suite: SuiteConfig, prepared: Prepared) -> None:
        database = self.databases.live.get(prepared.database or "")
        if database is None:
            return
        try:
            self.teardown.unless_kept(lambda: self.databases.drop(database))
        except E2EError as error:  # the teardown tries again; the suite's result stands
            self.out.warn(error.message)


@dataclass(frozen=True)
class SuiteHooks:
    """The suites' hooks: the contract, and each suite's progress on the board and on GitHub."""

    contract: Contract
    board: console_report.Board
    github: GitHubReporter | None

    def prepare(self, suite: SuiteConfig) -> Prepared:
        return self.contract.prepare(suite)

    def release(self, suite: SuiteConfig, prepared: Prepared) -> None:
        self.contract.release(suite, prepared)

    def started(self, suite: SuiteConfig, attempt: int) -> None:
        self.board.started(suite, attempt)

    def output(self, suite: SuiteConfig, block: Block) -> None:
        self.board.output(suite, block)

    def finished(self, result: SuiteResult) -> None:
        self.board.finished(result)
        if self.github is not None:
            self.github.print_suite(result)
