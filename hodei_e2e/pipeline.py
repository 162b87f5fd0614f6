"""`hodei-e2e run` end to end: check, image, Postgres, suites, report, clean up.

Every resource is registered for teardown the moment it exists, so an interruption at any
point (image build, Postgres start, suites) still removes all of it.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from hodei_e2e import identity as ident
from hodei_e2e.config import Config, SuiteConfig, load_config
from hodei_e2e.console import Output
from hodei_e2e.docker import ContainerInfo, Engine
from hodei_e2e.environment import RunFacts, suite_environment
from hodei_e2e.errors import E2EError, ExitCode, Interrupted, PrerequisiteError
from hodei_e2e.identity import RunIdentity
from hodei_e2e.masking import masker
from hodei_e2e.postgres import PostgresServer
from hodei_e2e.reaper import Watchdog
from hodei_e2e.report import console as console_report
from hodei_e2e.results import Status, SuiteResult
from hodei_e2e.selection import select
from hodei_e2e.signals import SignalGuard
from hodei_e2e.suites import Prepared, SuiteRunner

INTERRUPT_GRACE = 3.0  # GitHub Actions sends SIGTERM 7.5 s after SIGINT: leave room for teardown


@dataclass(frozen=True)
class RunOptions:
    config_path: Path | None = None
    suites: tuple[str, ...] = ()
    keyword: str | None = None
    tags: tuple[str, ...] = ()
    jobs: int | None = None
    fail_fast: bool = False
    timeout: float | None = None
    junit: Path | None = None
    json: Path | None = None
    keep: bool = False
    build: bool = True
    verbosity: int = 0
    list_only: bool = False


def config_path(option: Path | None) -> Path:
    if option is not None:
        return option
    return Path(os.environ.get("HODEI_E2E_CONFIG") or "e2e.yaml")


def check_tools(config: Config) -> None:
    missing = [tool for tool in config.requires if shutil.which(tool) is None]
    if missing:
        raise PrerequisiteError(
            f"required tool(s) not on PATH: {', '.join(missing)}",
            detail=f"Install them, or remove them from `requires:` in {config.path}.",
        )


def server_host(engine: Engine) -> str:
    """How a container reaches this host: overridable, else detected."""
    override = os.environ.get("HODEI_SERVER_HOST")
    if override:
        return override
    if engine.is_desktop():
        return "host.docker.internal"
    return engine.bridge_gateway() or "host.docker.internal"


@dataclass
class Run:
    """The state of one run, filled in as the steps go."""

    config: Config
    options: RunOptions
    out: Output
    identity: RunIdentity
    suites: Sequence[SuiteConfig]
    logs_dir: Path
    engine: Engine | None = None
    server: PostgresServer | None = None
    containers: list[ContainerInfo] = field(default_factory=list)
    databases: set[str] = field(default_factory=set)
    results: list[SuiteResult] = field(default_factory=list)
    workers: list[ContainerInfo] = field(default_factory=list)
    runner: SuiteRunner | None = None
    started: float = field(default_factory=time.monotonic)


class DatabaseHooks:
    """Gives every suite a database of its own and reports its progress on the board."""

    def __init__(self, run: Run, facts: RunFacts, board: console_report.Board) -> None:
        self.run = run
        self.facts = facts
        self.board = board
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.started = self.board.started
        self.output = self.board.output
        self.finished = self.board.finished

    def prepare(self, suite: SuiteConfig) -> Prepared:
        server = self.run.server
        assert server is not None
        postgres = self.run.config.postgres
        with self._lock:
            number = next(self._counter)
        name = ident.database_name(postgres.database_prefix, self.facts.run_id, number, suite.name)
        comment = json.dumps(
            {"run_id": self.facts.run_id, "owner": self.run.identity.owner, "suite": suite.name}
        )
        server.create_database(name, template=self.facts.template_database, comment=comment)
        self.run.databases.add(name)
        env = suite_environment(
            self.facts,
            suite=suite.name,
            database=name,
            database_url=server.address.url(name),
            config_env=self.run.config.env,
            suite_env=suite.env,
        )
        return Prepared(env=env, database=name)

    def release(self, _suite: SuiteConfig, prepared: Prepared) -> None:
        if self.run.options.keep or self.run.server is None or not prepared.database:
            return
        self.run.server.drop_database(prepared.database)
        self.run.databases.discard(prepared.database)


def prepare_run(options: RunOptions, out: Output) -> Run:
    config = load_config(config_path(options.config_path))
    suites = select(list(config.suites.values()), options.suites, options.keyword, options.tags)
    run_identity = RunIdentity(project=config.project)
    logs_dir = config.root / ".hodei-e2e" / "runs" / run_identity.run_id
    masker.add(config.postgres.password)
    return Run(config, options, out, run_identity, suites, logs_dir)


def execute(run: Run) -> int:
    """Run every step; teardown always happens, and the exit code says how it went."""
    out = run.out
    if not run.suites:
        out.warn("no suite matches the selection; nothing to run")
        return ExitCode.OK
    out.print(
        f"hodei-e2e run {run.identity.run_id}: {len(run.suites)} suite(s) from {run.config.path}"
    )
    exit_code: int = ExitCode.OK
    watchdog = Watchdog(run.config.root / ".hodei-e2e" / "watchdog.log")
    watchdog.tell(
        run_id=run.identity.run_id,
        created=run.identity.created,
        project=run.config.project,
        testcontainers=run.config.defaults.remove_testcontainers,
    )
    with SignalGuard() as guard, ExitStack() as teardown:
        teardown.callback(_teardown, run, guard)
        try:
            _steps(run, guard, watchdog)
            exit_code = _exit_code(run.results)
        except Interrupted as stop:
            run.results = _interrupted_results(run)
            out.error(f"{stop.message}: cleaning up")
            exit_code = stop.exit_code
        except E2EError as error:
            guard.cleaning()
            out.error(error.message, error.detail)
            exit_code = error.exit_code
        finally:
            guard.cleaning()
        _report(run, exit_code)
    watchdog.done()  # reached only when the teardown finished
    if guard.received is not None and exit_code not in (ExitCode.SIGINT, ExitCode.SIGTERM):
        exit_code = Interrupted(guard.received).exit_code
    return exit_code


def _steps(run: Run, guard: SignalGuard, watchdog: Watchdog) -> None:
    out, config = run.out, run.config
    with out.step("prerequisites") as note:
        run.engine = Engine.connect()
        check_tools(config)
        host = server_host(run.engine)
        note.text = f"engine {run.engine.server_version()}, server host {host}"
    _sweep(run)
    worker_image = (
        config.image.tag
        if config.image
        else os.environ.get("HODEI_WORKER_IMAGE", "hodei-worker:e2e-test")
    )
    if config.image is not None:
        from hodei_e2e.images import ensure_image

        with out.step(f"worker image {config.image.tag}") as note:
            outcome = ensure_image(
                run.engine, config.image, run.identity, out, build=run.options.build
            )
            note.text = f"built ({outcome.reason})" if outcome.built else "up to date"
    with out.step(f"postgres {config.postgres.image}") as note:
        run.server = _start_postgres(run)
        note.text = f"127.0.0.1:{run.server.address.port}"
    facts = RunFacts(
        run_id=run.identity.run_id,
        project=config.project,
        worker_image=worker_image,
        server_host=host,
        host=run.server.address.host,
        port=run.server.address.port,
        user=run.server.address.user,
        password=run.server.address.password,
        admin_url=run.server.admin_url(),
    )
    jobs = run.options.jobs or config.defaults.jobs
    with console_report.Board(out, run.suites) as board:
        runner = SuiteRunner(
            DatabaseHooks(run, facts, board),
            logs_dir=run.logs_dir,
            jobs=jobs,
            default_timeout=config.defaults.timeout,
            timeout_override=run.options.timeout,
            fail_fast=run.options.fail_fast,
            stop_grace=INTERRUPT_GRACE,
            on_group=watchdog.process_group,
        )
        guard.on_hurry(runner.kill)
        run.runner = runner
        with guard.deferred():
            run.results = runner.run(run.suites, check=guard.check)


def _sweep(run: Run) -> None:
    """What dead runs left behind goes first; only what was removed is reported."""
    from hodei_e2e import cleanup

    assert run.engine is not None
    orphans = cleanup.find_orphans(run.engine, cleanup.SweepPolicy())
    if not orphans:
        return
    with run.out.step("orphans of earlier runs") as note:
        removed = cleanup.remove(run.engine, orphans)
        note.text = f"removed {sum(1 for r in removed if r.error is None)} of {len(removed)}"
    for item in removed:
        run.out.detail(f"  {item.orphan.kind} {item.orphan.name}: {item.orphan.reason}")


def _start_postgres(run: Run) -> PostgresServer:
    from hodei_e2e.postgres import start_server

    assert run.engine is not None
    labels = run.identity.labels("postgres")
    return start_server(run.engine, run.config.postgres, labels, on_created=run.containers.append)


def _interrupted_results(run: Run) -> list[SuiteResult]:
    if run.runner is not None:
        return run.runner.outcome_for_unfinished(run.suites)
    return [
        SuiteResult(s.name, Status.INTERRUPTED, reason="the run was interrupted")
        for s in run.suites
    ]


def _exit_code(results: Sequence[SuiteResult]) -> int:
    return ExitCode.OK if all(r.status.ok for r in results) else ExitCode.SUITES_FAILED


def _teardown(run: Run, guard: SignalGuard) -> None:
    guard.cleaning()
    engine, out = run.engine, run.out
    if engine is None:
        return
    with out.step("cleanup") as note:
        removed: list[str] = []
        from hodei_e2e.workers import remove_run_workers

        run.workers = remove_run_workers(engine, run.identity, run.logs_dir)
        if run.workers:
            removed.append(f"{len(run.workers)} worker container(s)")
        if run.config.defaults.remove_testcontainers:
            from hodei_e2e.cleanup import leaked_testcontainers

            leaked = leaked_testcontainers(engine, run.identity.created, time.time())
            engine.remove([c.id for c in leaked])
            if leaked:
                removed.append(f"{len(leaked)} Testcontainers container(s)")
        server = run.server
        if server is not None:
            if not run.options.keep:
                for name in sorted(run.databases):
                    with suppress(E2EError):
                        server.drop_database(name)
            server.close()
        if run.options.keep and run.server is not None:
            _print_keep(run)
        else:
            engine.remove([c.id for c in run.containers])
            if run.containers:
                removed.append("postgres")
        note.text = ", ".join(removed) or "nothing to remove"
    engine.close()


def _print_keep(run: Run) -> None:
    assert run.server is not None
    address = run.server.address
    run.out.print(
        f"--keep: Postgres is still running. Connect with:\n"
        f"  psql 'postgres://{address.user}@{address.host}:{address.port}/postgres' "
        f"(password as in {run.config.path.name})\n"
        f"  databases: {', '.join(sorted(r.database for r in run.results if r.database)) or '-'}\n"
        f"  remove it with: hodei-e2e cleanup"
    )


def _report(run: Run, exit_code: int) -> None:
    from hodei_e2e.report import json as json_report
    from hodei_e2e.report import junit

    wall = time.monotonic() - run.started
    if run.results:
        console_report.print_summary(run.out, run.results, wall)
    if run.options.junit and run.results:
        junit.write(run.options.junit, run.results, run.config.project)
        run.out.detail(f"JUnit report: {run.options.junit}")
    if run.options.json:
        doc = json_report.document(
            run.results,
            run={
                "run_id": run.identity.run_id,
                "project": run.config.project,
                "config": str(run.config.path),
                "duration": round(wall, 3),
                "logs": str(run.logs_dir),
            },
            exit_code=exit_code,
        )
        json_report.write(run.options.json, doc)
        run.out.detail(f"JSON report: {run.options.json}")
