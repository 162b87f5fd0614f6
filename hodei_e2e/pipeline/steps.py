"""`hodei-e2e run` end to end: check, image, Postgres, suites, report, clean up.

Every resource is registered for teardown the moment it exists, so an interruption at any
point (image build, Postgres start, suites) still removes all of it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from hodei_e2e import faults
from hodei_e2e.config import Config, ServiceConfig, SuiteConfig, config_path, load_config
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.engine.services import ServiceHandle
from hodei_e2e.engine.singleton import Acquired
from hodei_e2e.errors import E2EError, ExitCode, Interrupted
from hodei_e2e.masking import masker
from hodei_e2e.ownership import process_orphans
from hodei_e2e.ownership.identity import RunIdentity
from hodei_e2e.ownership.reaper import Watchdog
from hodei_e2e.postgres.databases import Databases, Isolation
from hodei_e2e.postgres.migrations import Template
from hodei_e2e.postgres.server import PostgresServer
from hodei_e2e.report import console as console_report
from hodei_e2e.report.github import GitHubReporter, in_github_actions
from hodei_e2e.report.results import Status, SuiteResult
from hodei_e2e.signals import SignalGuard
from hodei_e2e.suites.environment import RunFacts, suite_environment
from hodei_e2e.suites.prepare import PrepareStep
from hodei_e2e.suites.runner import Prepared, SuiteRunner, interrupted_results
from hodei_e2e.suites.selection import select

T = TypeVar("T")
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
    reuse: bool | None = None  # None: as the config says
    isolation: Isolation = "database"
    shard: tuple[int, int] | None = None  # (K, N): the K-th of N shards
    timings: Path | None = None  # a JSON report of an earlier run, to balance shards
    list_only: bool = False
    strict: bool | None = None  # None: strict under CI
    prepare: bool = True  # False: --no-prepare


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
    singleton: Acquired[PostgresServer] | None = None  # the reused server, when reuse is on
    template: Template | None = None
    databases: Databases | None = None
    containers: list[ContainerInfo] = field(default_factory=list)  # removed at the end
    results: list[SuiteResult] = field(default_factory=list)
    workers: list[ContainerInfo] = field(default_factory=list)
    runner: SuiteRunner | None = None
    background: Background | None = None
    database_waits: dict[str, float] = field(default_factory=dict)  # seconds a suite waited
    github: GitHubReporter | None = None
    services: dict[str, ServiceStart] = field(default_factory=dict)
    postgres_times: tuple[float, float] | None = None  # (started, ready) in unix seconds
    prepare: PrepareStep | None = None
    prepare_future: Future[SuiteResult] | None = None
    prepare_result: SuiteResult | None = None  # once it ended; a failure is in `results` too

    @property
    def strict(self) -> bool:
        return self.options.strict if self.options.strict is not None else "CI" in os.environ

    started: float = field(default_factory=time.monotonic)

    @property
    def reuse(self) -> bool:
        if self.options.isolation == "container":
            return False
        return self.config.postgres.reuse if self.options.reuse is None else self.options.reuse

    def reuses(self, service: ServiceConfig) -> bool:
        """`--reuse`/`--no-reuse` apply to every service; without them, its own `reuse`."""
        return service.reuse if self.options.reuse is None else self.options.reuse


class SuiteHooks:
    """Gives every suite its database and environment, and shows its progress on the board."""

    def __init__(self, run: Run, facts: RunFacts, board: console_report.Board) -> None:
        self.run = run
        self.facts = facts
        self.started = board.started
        self.output = board.output
        self._board_finished = board.finished

    def finished(self, result: SuiteResult) -> None:
        self._board_finished(result)
        if self.run.github is not None:
            self.run.github.print_suite(result)

    def prepare(self, suite: SuiteConfig) -> Prepared:
        return _contract(self.run, self.facts, suite)

    def release(self, _suite: SuiteConfig, prepared: Prepared) -> None:
        _release(self.run, prepared)


def _contract(run: Run, facts: RunFacts, suite: SuiteConfig) -> Prepared:
    """The suite's own database and its environment (DESIGN.md's contract)."""
    assert run.databases is not None
    exports = _service_exports(run, suite)
    try:
        database, waited = run.databases.take(suite)
    except E2EError:
        if stopping(run):
            from hodei_e2e.suites.runner import INTERRUPTED, SkipSuite

            raise SkipSuite(INTERRUPTED, interrupted=True) from None
        raise
    run.database_waits[suite.name] = waited
    address = database.server.address
    facts = replace(
        facts,
        host=address.host,
        port=address.port,
        admin_url=database.server.admin_url(),
        template_database=database.template,
    )
    env = suite_environment(
        facts,
        suite=suite.name,
        database=database.name,
        database_url=address.url(database.name),
        config_env=run.config.env,
        suite_env=suite.env,
        exports=exports,
    )
    return Prepared(env=env, database=database.name)


def _release(run: Run, prepared: Prepared) -> None:
    databases = run.databases
    if databases is None or run.options.keep:
        return
    database = databases.live.get(prepared.database or "")
    if database is None:
        return
    try:
        databases.drop(database)
    except E2EError as error:  # the teardown tries again; the suite's result stands
        run.out.warn(error.message)


def prepare_run(options: RunOptions, out: Output) -> Run:
    config = load_config(config_path(options.config_path))
    suites = select(list(config.suites.values()), options.suites, options.keyword, options.tags)
    if options.shard is not None:
        from hodei_e2e.suites.sharding import load_timings, shard

        timings = load_timings(options.timings) if options.timings else None
        suites = shard(suites, *options.shard, timings)
    run_identity = RunIdentity(project=config.project)
    logs_dir = config.root / ".hodei-e2e" / "runs" / run_identity.run_id
    masker.add(config.postgres.password)
    run = Run(config, options, out, run_identity, suites, logs_dir)
    if in_github_actions():
        run.github = GitHubReporter()
    return run


def execute(run: Run) -> int:
    """Run every step; teardown always happens, and the exit code says how it went."""
    out = run.out
    if run.options.list_only:
        for suite in run.suites:
            print(suite.name)
        return ExitCode.OK
    if not run.suites:
        if run.options.shard is not None:
            index, total = run.options.shard
            out.print(f"shard {index}/{total} has no suites; nothing to run")
        else:
            out.warn("no suite matches the selection; nothing to run")
        _github_report(run, wall=0.0)
        return ExitCode.OK
    out.print(
        f"hodei-e2e run {run.identity.run_id}: {len(run.suites)} suite(s) from {run.config.path}"
    )
    exit_code: int = ExitCode.OK
    # Every process the run starts, and everything those start, carries the run's owner token,
    # so that whatever a crash leaves running can be found (`process_orphans`).
    owner = process_orphans.owner_token()
    os.environ[process_orphans.OWNER_ENV] = owner
    watchdog = Watchdog(run.config.root / ".hodei-e2e" / "watchdog.log")
    watchdog.tell(
        run_id=run.identity.run_id,
        created=run.identity.created,
        project=run.config.project,
        testcontainers=run.config.defaults.remove_testcontainers,
        owner=owner,
    )
    with SignalGuard() as guard, ExitStack() as teardown:
        teardown.callback(_teardown, run, guard)
        try:
            guard.interruptible(lambda: _steps(run, guard, watchdog))
            exit_code = _exit_code(run.results)
        except Interrupted as stop:
            run.results = _interrupted_results(run)
            out.error(f"{stop.message}: cleaning up")
            exit_code = stop.exit_code
        except E2EError as error:
            guard.cleaning()
            out.error(error.message, error.detail)
            exit_code = error.exit_code
        except Exception as error:  # noqa: BLE001 - a bug: reported in one line, torn down
            guard.cleaning()
            from hodei_e2e.cli import report_internal_error

            run.results = _interrupted_results(run) if run.results else []
            exit_code = report_internal_error(error, run.logs_dir)
        finally:
            guard.cleaning()
        _report(run, exit_code)
    watchdog.done()  # reached only when the teardown finished
    if guard.received is not None and exit_code not in (ExitCode.SIGINT, ExitCode.SIGTERM):
        exit_code = Interrupted(guard.received).exit_code
    return exit_code


class Background:
    """Work that overlaps the main line (Postgres starting while the image is checked).

    The main thread waits with signals deferred: raising from a signal handler inside a
    `threading` wait corrupts its lock. `close()` cancels and waits, so that the teardown
    sees every container a background task created."""

    def __init__(self, guard: SignalGuard, tasks: int) -> None:
        self.guard = guard
        self.cancelled = threading.Event()
        # The first signal cancels every start at once (a service waiting out its
        # startup_timeout, a suite waiting for that service), not only at the teardown.
        guard.on_signal(self.cancelled.set)
        if guard.received is not None:
            self.cancelled.set()
        # A thread per task: every service starts at once, however many there are.
        self._pool = ThreadPoolExecutor(max_workers=max(1, tasks), thread_name_prefix="startup")

    def submit(self, task: Callable[[], T]) -> Future[T]:
        return self._pool.submit(task)

    def wait(self, future: Future[T]) -> T:
        with self.guard.deferred():
            while True:
                self.guard.check()
                try:
                    return future.result(timeout=0.05)
                except FutureTimeout:
                    continue

    def close(self) -> None:
        self.cancelled.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class ServiceStart:
    """A service starting in the background: its future, and what became of it."""

    config: ServiceConfig
    future: Future[ServiceHandle]
    started: float = field(default_factory=time.time)
    ready_at: float | None = None
    reason: str = ""
    singleton: Acquired[ServiceHandle] | None = None  # when the service is reused

    def record(self) -> dict[str, object]:
        handle = self.future.result() if self.ready_at else None
        return {
            "name": self.config.name,
            "image": self.config.image,
            "container": handle.container.id if handle else None,
            "reused": bool(self.singleton and self.singleton.reused),
            "existing": bool(self.singleton and self.singleton.existing),
            "status": "ready" if self.ready_at else ("failed" if self.reason else "starting"),
            "started": round(self.started, 3),
            "ready_at": round(self.ready_at, 3) if self.ready_at else None,
            "reason": self.reason,
        }


def _begin_services(run: Run, services: Sequence[ServiceConfig]) -> None:
    assert run.background is not None
    out = run.out

    def start(service: ServiceConfig) -> ServiceHandle:
        entry = run.services[service.name]
        entry.started = time.time()  # when it really starts, not when it was queued
        try:
            handle, note = _start_service(run, entry)
        except E2EError as error:
            entry.reason = error.message
            if stopping(run):  # cancelled by the signal: the run says so once, not per service
                raise
            out.print(
                f"✗ service {service.name} ({time.time() - entry.started:.2f}s): {error.message}",
                style="red",
                min_verbosity=-1,
            )
            if error.detail:
                out.print(error.detail, min_verbosity=-1)
            raise
        entry.ready_at = time.time()
        out.print(
            f"✓ service {service.name} ({entry.ready_at - entry.started:.2f}s): "
            f"{service.image}, {note}",
            style="green",
        )
        return handle

    for service in services:
        run.services[service.name] = ServiceStart(service, Future())
        run.services[service.name].future = run.background.submit(
            lambda service=service: start(service)  # type: ignore[misc]
        )


def _start_service(run: Run, entry: ServiceStart) -> tuple[ServiceHandle, str]:
    """The service ready, reused or fresh, and a note on which; runs in the background."""
    from hodei_e2e.engine import singleton
    from hodei_e2e.engine.services import start_service

    assert run.engine is not None
    assert run.background is not None
    service, cancelled = entry.config, run.background.cancelled.is_set

    def progress(waited: float, why: str) -> None:
        run.out.print(f"… service {service.name} not ready after {waited:.0f}s: {why}")

    run.out.detail(f"  service {service.name}: starting {service.image}")
    if run.reuses(service):
        recipe = singleton.ServiceRecipe(service, run.engine, cancelled, progress)
        entry.singleton = singleton.acquire(
            run.engine, recipe, run.identity, on_fresh=run.containers.append
        )
        return entry.singleton.resource, entry.singleton.note
    handle = start_service(
        run.engine,
        service,
        run.identity.labels("service"),
        on_created=run.containers.append,
        cancelled=cancelled,
        progress=progress,
    )
    return handle, "ready"


def _service_exports(run: Run, suite: SuiteConfig) -> dict[str, str]:
    """The exports of the services `suite` needs, waiting for each; SkipSuite if one failed."""
    from hodei_e2e.suites.runner import INTERRUPTED, SkipSuite

    exports: dict[str, str] = {}
    for name in suite.needs:
        entry = run.services.get(name)
        if entry is None:
            continue
        try:
            exports.update(entry.future.result().exports())
        except CancelledError:
            raise SkipSuite(INTERRUPTED, interrupted=True) from None
        except E2EError as error:
            if stopping(run):
                raise SkipSuite(INTERRUPTED, interrupted=True) from None
            detail = f"; {error.detail}" if error.detail else ""
            raise SkipSuite(f"service {name} did not start: {error.message}{detail}") from None
    return exports


def stopping(run: Run) -> bool:
    """Whether a signal has stopped the run (its background work is cancelled)."""
    return run.background is not None and run.background.cancelled.is_set()


def _steps(run: Run, guard: SignalGuard, watchdog: Watchdog) -> None:
    out, config = run.out, run.config
    with out.step("prerequisites") as note:
        faults.point("engine")
        run.engine = engine = Engine.connect()
        from hodei_e2e.commands.doctor import preflight
        from hodei_e2e.engine.server_host import detect
        from hodei_e2e.engine.services import plan_services

        services = plan_services(config, run.suites)
        preflight(engine, config, services=services)
        host = detect(engine).address
        note.text = f"engine {engine.server_version()}, server host {host}"
    run.background = Background(guard, tasks=2 + len(services))
    _begin_prepare(run, guard, watchdog)
    postgres = None
    if run.options.isolation == "database":
        begun = time.time()
        postgres = run.background.submit(lambda: _provision_postgres(run))
    _begin_services(run, services)
    _sweep(run)
    worker_image = (
        config.image.tag
        if config.image
        else os.environ.get("HODEI_WORKER_IMAGE", "hodei-worker:e2e-test")
    )
    image_waits = bool(config.image and config.image.after_prepare and run.prepare)
    if not image_waits:
        _image_step(run, engine)
    if postgres is not None:
        with out.step(f"postgres {config.postgres.image}") as note:
            run.server, note.text = run.background.wait(postgres)
            run.postgres_times = (begun, time.time())
            note.text += f", ready {run.postgres_times[1] - begun:.2f}s after the start"
        _after_postgres(run, watchdog)
    if run.strict:
        for entry in run.services.values():  # strict: a service that fails fails the run
            run.background.wait(entry.future)
    run.databases = Databases(
        engine=engine,
        config=config,
        identity=run.identity,
        shared=run.server,
        template=run.template,
        isolation=run.options.isolation,
        on_container=run.containers.append,
        on_database=lambda name: watchdog.tell(database=name),
    )
    facts = RunFacts(
        run_id=run.identity.run_id,
        project=config.project,
        worker_image=worker_image,
        server_host=host,
        host=engine.host,
        port=0,
        user=config.postgres.user,
        password=config.postgres.password,
        admin_url="",
    )
    if run.prepare is not None:
        run.prepare.offer(lambda suite: _contract(run, facts, suite), lambda p: _release(run, p))
        if not _prepared(run):
            return
    if image_waits:
        _image_step(run, engine)
    jobs = run.options.jobs or config.defaults.jobs
    guard.on_signal(run.databases.stopping)
    run.databases.precreate(run.suites, ahead=jobs + 1)
    faults.point("suites")
    with console_report.Board(out, run.suites) as board:
        runner = SuiteRunner(
            SuiteHooks(run, facts, board),
            logs_dir=run.logs_dir,
            jobs=jobs,
            default_timeout=config.defaults.timeout,
            timeout_override=run.options.timeout,
            fail_fast=run.options.fail_fast,
            stop_grace=INTERRUPT_GRACE,
            on_group=watchdog.process_group,
            run_id=run.identity.run_id,
        )
        guard.on_hurry(runner.kill)
        run.runner = runner
        with guard.deferred():
            run.results = runner.run(run.suites, check=guard.check)


def _image_step(run: Run, engine: Engine) -> None:
    """The worker image, built when missing or stale."""
    from hodei_e2e.image.worker_image import ensure_image

    image = run.config.image
    if image is None:
        return
    with run.out.step(f"worker image {image.tag}") as note:
        faults.point("image")
        outcome = ensure_image(
            engine,
            image,
            run.identity,
            run.out,
            build=run.options.build,
            state_dir=run.config.root / ".hodei-e2e",
        )
        note.text = (
            f"built with {outcome.builder} ({outcome.reason})" if outcome.built else "up to date"
        )


def _begin_prepare(run: Run, guard: SignalGuard, watchdog: Watchdog) -> None:
    """The prepare step, in the background from now on (unless --no-prepare)."""
    if run.config.prepare is None:
        return
    if not run.options.prepare:
        run.out.print("- prepare skipped (--no-prepare)", style="yellow")
        return
    assert run.background is not None
    github = run.github
    run.prepare = step = PrepareStep(
        run.config,
        run.out,
        logs_dir=run.logs_dir,
        on_group=watchdog.process_group,
        on_finished=github.print_suite if github is not None else lambda _result: None,
    )
    guard.on_hurry(step.runner.kill)
    run.prepare_future = run.background.submit(step.run)


def _prepared(run: Run) -> bool:
    """Wait for the prepare step; when it failed, it is the run's result and no suite starts."""
    from hodei_e2e.suites.prepare import not_started

    assert run.background is not None
    assert run.prepare_future is not None
    run.prepare_result = result = run.background.wait(run.prepare_future)
    if result.status is Status.PASSED:  # skipped (a service it needs failed) is not done
        return True
    run.results = [result, *not_started(list(run.suites))]
    return False


def _provision_postgres(run: Run) -> tuple[PostgresServer, str]:
    """The one server of the run, reused or fresh; runs in the background."""
    from hodei_e2e.postgres.server import start_server

    assert run.engine is not None
    assert run.background is not None
    config = run.config.postgres
    faults.point("postgres")
    if run.reuse:
        from hodei_e2e.engine import singleton

        recipe = singleton.PostgresRecipe(config, run.engine, run.background.cancelled.is_set)
        run.singleton = singleton.acquire(
            run.engine, recipe, run.identity, on_fresh=run.containers.append
        )
        server = run.singleton.resource
        return server, f"{server.address.host}:{server.address.port}, {run.singleton.note}"
    server = start_server(
        run.engine,
        config,
        run.identity.labels("postgres"),
        on_created=run.containers.append,
        cancelled=run.background.cancelled.is_set,
    )
    return server, f"{server.address.host}:{server.address.port}"


def _after_postgres(run: Run, watchdog: Watchdog) -> None:
    """Tell the watchdog how to reach the server; sweep a reused one; migrate once."""
    assert run.server is not None
    config = run.config.postgres
    reused = bool(run.singleton and run.singleton.reused)
    watchdog.tell(admin_url=run.server.admin_url(), reused=reused)
    if reused:
        _sweep_dead_databases(run)
    if config.migrations is not None:
        from hodei_e2e.postgres.migrations import ensure_template

        with run.out.step("migrations") as note:
            faults.point("migrations")
            run.template = ensure_template(
                run.server,
                config.migrations,
                run.config.root,
                config.database_prefix,
            )
            strategy = f", copies with {run.template.strategy}" if run.template.strategy else ""
            done = "applied" if run.template.migrated else "up to date"
            note.text = f"{done} in template {run.template.name}{strategy}"


def _sweep_dead_databases(run: Run) -> None:
    from hodei_e2e.postgres.databases import dead_run_databases

    assert run.server is not None
    prefix = run.config.postgres.database_prefix
    for name in dead_run_databases(run.server, prefix, run.identity.hostname):
        with suppress(E2EError):
            run.server.drop_database(name)
            run.out.detail(f"  dropped {name}: its run is gone")


def _sweep(run: Run) -> None:
    """What dead runs left behind goes first; only what was removed is reported."""
    from hodei_e2e.ownership import cleanup, leases

    assert run.engine is not None
    leases.prune()  # those of runs killed while they held one
    policy = cleanup.SweepPolicy(networks_and_volumes=False)
    orphans = cleanup.find_orphans(run.engine, policy) + cleanup.process_orphans_of(policy)
    if not orphans:
        return
    with run.out.step("orphans of earlier runs") as note:
        removed = cleanup.remove(run.engine, orphans)
        note.text = f"removed {sum(1 for r in removed if r.error is None)} of {len(removed)}"
    for item in removed:
        run.out.detail(f"  {item.orphan.kind} {item.orphan.name}: {item.orphan.reason}")


def _interrupted_results(run: Run) -> list[SuiteResult]:
    if run.runner is not None:
        return run.runner.outcome_for_unfinished(run.suites)
    return interrupted_results(run.suites)


def _exit_code(results: Sequence[SuiteResult]) -> int:
    return ExitCode.OK if all(r.status.ok for r in results) else ExitCode.SUITES_FAILED


def _teardown(run: Run, guard: SignalGuard) -> None:
    guard.cleaning()
    faults.point("teardown")
    engine, out = run.engine, run.out
    if engine is None:
        return
    if run.prepare is not None:
        run.prepare.stop(INTERRUPT_GRACE)
    if run.background is not None:
        run.background.close()
    with out.step("cleanup") as note:
        removed: list[str] = []
        from hodei_e2e.ownership.cleanup import leaked_testcontainers, other_live_starts
        from hodei_e2e.ownership.workers import remove_run_workers

        everything = engine.containers([])
        others = other_live_starts(everything, run.identity.run_id)
        run.workers = remove_run_workers(engine, run.identity, run.logs_dir, others)
        if run.workers:
            removed.append(f"{len(run.workers)} worker container(s)")
        if run.config.defaults.remove_testcontainers:
            leaked = leaked_testcontainers(
                everything, run.identity.run_id, run.identity.created, time.time(), others
            )
            engine.remove([c.id for c in leaked])
            if leaked:
                removed.append(f"{len(leaked)} Testcontainers container(s)")
        if run.databases is not None and not run.options.keep:
            with suppress(E2EError):
                run.databases.drop_all()
        if run.server is not None:
            run.server.close()
        if run.singleton is not None:
            run.singleton.release()
        for entry in run.services.values():
            if entry.singleton is not None:
                entry.singleton.release()
        if run.options.keep:
            _print_keep(run)
        else:
            mine = _containers_of_the_run(run, everything)
            engine.remove([c.id for c in mine])
            if mine:
                removed.append(f"{len(mine)} container(s) of the run")
        note.text = ", ".join(removed) or "nothing to remove"
    engine.close()


def _containers_of_the_run(run: Run, listed: Sequence[ContainerInfo]) -> list[ContainerInfo]:
    """What the run created: those it was told of, and any labelled with its id that it was not
    told of (a signal between the engine's answer and the callback), reusable ones aside."""
    from hodei_e2e.ownership.identity import REUSE, RUN_ID

    mine = {c.id: c for c in run.containers}
    for container in listed:
        labels = container.labels
        if labels.get(RUN_ID) == run.identity.run_id and labels.get(REUSE) != "true":
            mine.setdefault(container.id, container)
    return list(mine.values())


def _print_keep(run: Run) -> None:
    if run.server is None:
        return
    address = run.server.address
    run.out.print(
        f"--keep: Postgres is still running. Connect with:\n"
        f"  psql 'postgres://{address.user}@{address.host}:{address.port}/postgres' "
        f"(password as in {run.config.path.name})\n"
        f"  databases: {', '.join(sorted(r.database for r in run.results if r.database)) or '-'}\n"
        f"  remove it with: hodei-e2e cleanup"
    )


def _report(run: Run, exit_code: int) -> None:
    wall = time.monotonic() - run.started
    if run.results:
        console_report.print_summary(run.out, run.results, wall)
    if run.options.junit and run.results:
        from hodei_e2e.report import junit

        junit.write(
            run.options.junit, run.results, run.config.project, junit.suite_reports(run.suites)
        )
        run.out.detail(f"JUnit report: {run.options.junit}")
    if run.options.json:
        from hodei_e2e.report import json as json_report

        doc = json_report.document(
            run.results,
            run={
                "run_id": run.identity.run_id,
                "project": run.config.project,
                "config": str(run.config.path),
                "duration": round(wall, 3),
                "logs": str(run.logs_dir),
                "postgres": {
                    "container": run.server.container.id
                    if run.server and run.server.container
                    else None,
                    "reused": bool(run.singleton and run.singleton.reused),
                    "existing": bool(run.singleton and run.singleton.existing),
                    "template": run.template.name if run.template else None,
                    "database_waits": {k: round(v, 4) for k, v in run.database_waits.items()},
                    "started": round(run.postgres_times[0], 3) if run.postgres_times else None,
                    "ready_at": round(run.postgres_times[1], 3) if run.postgres_times else None,
                },
                "services": [entry.record() for entry in run.services.values()],
                "prepare": _prepare_record(run),
            },
            exit_code=exit_code,
        )
        json_report.write(run.options.json, doc)
        run.out.detail(f"JSON report: {run.options.json}")
    _github_report(run, wall)


def _prepare_record(run: Run) -> dict[str, object] | None:
    from hodei_e2e.report.json import suite_record

    return suite_record(run.prepare_result) if run.prepare_result is not None else None


def _github_report(run: Run, wall: float) -> None:
    """On GitHub Actions: annotations, the job summary, and the step's outputs."""
    github = run.github
    if github is None:
        return
    for line in github.annotations(run.results):
        print(line)
    title = run.config.project
    if run.options.shard is not None:
        title += f", shard {run.options.shard[0]}/{run.options.shard[1]}"
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        github.write_summary(
            Path(summary), github.step_summary(run.results, title=title, wall=wall)
        )
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        reports: dict[str, Path] = {}
        if run.options.junit and run.results:
            reports["junit"] = run.options.junit
        if run.options.json:
            reports["json"] = run.options.json
        if run.logs_dir.exists():
            reports["logs"] = run.logs_dir
        github.write_outputs(Path(outputs), run.results, reports)
