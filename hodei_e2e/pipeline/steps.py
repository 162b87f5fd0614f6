"""`hodei-e2e run` end to end, as a sequence of steps: prerequisites, then in the background
Postgres, the services and the prepare step while orphans are swept and the image is checked,
then the databases, the suites, the report, and the teardown.

Each step takes what it needs and returns what it made. What a step starts is registered with
the teardown the moment it exists (`teardown.Teardown`), so that an interruption at any point
undoes all of it, in reverse.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field

from hodei_e2e import faults
from hodei_e2e.config import ServiceConfig
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import Engine
from hodei_e2e.errors import E2EError, ExitCode, Interrupted
from hodei_e2e.ownership import process_orphans
from hodei_e2e.ownership.reaper import Watchdog
from hodei_e2e.pipeline.background import Background, settled
from hodei_e2e.pipeline.contract import Contract, SuiteHooks
from hodei_e2e.pipeline.plan import RunPlan
from hodei_e2e.pipeline.postgres import Postgres, PostgresStart
from hodei_e2e.pipeline.services import ServiceStarts
from hodei_e2e.pipeline.teardown import RunContainers, Teardown
from hodei_e2e.postgres.databases import Databases
from hodei_e2e.report import console as console_report
from hodei_e2e.report import run as run_report
from hodei_e2e.report.results import Status, SuiteResult
from hodei_e2e.signals import SignalGuard
from hodei_e2e.suites.environment import RunFacts
from hodei_e2e.suites.prepare import PrepareStep
from hodei_e2e.suites.runner import SuiteRunner, interrupted_results

INTERRUPT_GRACE = 3.0  # GitHub Actions sends SIGTERM 7.5 s after SIGINT: leave room for teardown


@dataclass
class RunRecord:
    """What the run has done so far, for its report; written by the main thread only."""

    results: list[SuiteResult] = field(default_factory=list)
    prepare: SuiteResult | None = None
    postgres: Postgres | None = None
    services: ServiceStarts | None = None
    databases: Databases | None = None
    runner: SuiteRunner | None = None

    def unfinished(self, plan: RunPlan) -> list[SuiteResult]:
        """Every suite's result after a stop: finished ones as they were, others interrupted."""
        if self.runner is not None:
            return self.runner.outcome_for_unfinished(plan.suites)
        return interrupted_results(plan.suites)


def execute(plan: RunPlan, out: Output) -> int:
    """Run every step; the teardown always happens, and the exit code says how it went."""
    if plan.options.list_only:
        for suite in plan.suites:
            print(suite.name)
        return ExitCode.OK
    if not plan.suites:
        if plan.options.shard is not None:
            index, total = plan.options.shard
            out.print(f"shard {index}/{total} has no suites; nothing to run")
        else:
            out.warn("no suite matches the selection; nothing to run")
        run_report.github(_report(plan, RunRecord(), wall=0.0))
        return ExitCode.OK
    out.print(
        f"hodei-e2e run {plan.identity.run_id}: {len(plan.suites)} suite(s) from {plan.config.path}"
    )
    record = RunRecord()
    teardown = Teardown(out, keep=plan.options.keep)
    with _watchdog(plan) as watchdog, SignalGuard() as guard:
        try:
            guard.interruptible(lambda: _steps(plan, out, guard, watchdog, teardown, record))
            exit_code = _exit_code(record.results)
        except Interrupted as stop:
            record.results = record.unfinished(plan)
            out.error(f"{stop.message}: cleaning up")
            exit_code = stop.exit_code
        except E2EError as error:
            guard.cleaning()
            out.error(error.message, error.detail)
            exit_code = error.exit_code
        except Exception as error:  # noqa: BLE001 - a bug: reported in one line, torn down
            guard.cleaning()
            from hodei_e2e.crash import report_internal_error

            record.results = record.unfinished(plan) if record.results else []
            exit_code = report_internal_error(error, plan.logs_dir)
        finally:
            guard.cleaning()
        try:
            run_report.write(out, _report(plan, record, time.monotonic() - plan.started), exit_code)
        finally:
            teardown.close()  # when it fails, the watchdog is not let go: it cleans up
    if guard.received is not None and exit_code not in (ExitCode.SIGINT, ExitCode.SIGTERM):
        exit_code = Interrupted(guard.received).exit_code
    return exit_code


def _watchdog(plan: RunPlan) -> Watchdog:
    """The watchdog, told who the run is. Every process the run starts, and everything those
    start, carries the run's owner token, so that whatever a crash leaves running can be found
    (`process_orphans`)."""
    owner = process_orphans.owner_token()
    os.environ[process_orphans.OWNER_ENV] = owner
    watchdog = Watchdog(plan.state_dir / "watchdog.log")
    watchdog.tell(
        run_id=plan.identity.run_id,
        created=plan.identity.created,
        project=plan.config.project,
        testcontainers=plan.config.defaults.remove_testcontainers,
        owner=owner,
    )
    return watchdog


def _steps(
    plan: RunPlan,
    out: Output,
    guard: SignalGuard,
    watchdog: Watchdog,
    teardown: Teardown,
    record: RunRecord,
) -> None:
    engine, services, host = _prerequisites(plan, out, teardown)
    containers = _run_containers(plan, engine, teardown, record)
    background = teardown.working(Background(guard, tasks=2 + len(services)))
    prepare = _begin_prepare(plan, out, guard, watchdog, background, teardown)
    postgres = _begin_postgres(plan, engine, containers, background, teardown)
    record.services = teardown.holds(_services(plan, out, engine, containers))
    record.services.begin(services, background)
    _sweep(engine, out)
    if not plan.image_after_prepare:
        _image_step(plan, engine, out)
    if prepare is not None and (failed := _failed_first(prepare, postgres, background)):
        record.prepare = failed  # Postgres, still starting, is cancelled by the teardown
        record.results = _not_started_after(failed, plan)
        return
    if postgres is not None:
        record.postgres = postgres.wait(background, out, watchdog)
    if plan.strict:
        record.services.wait_all(background)
    record.databases = databases = _databases(plan, engine, record.postgres, containers, watchdog)
    teardown.releases(databases.stop)
    teardown.removes(lambda: _quietly(databases.drop_all))  # a server gone is no failure
    contract = _contract(plan, out, host, databases, record.services, background, teardown)
    if prepare is not None:
        record.prepare = _prepared(prepare, contract, background)
        if record.prepare.status is not Status.PASSED:  # skipped (a service failed): not done
            record.results = _not_started_after(record.prepare, plan)
            return
    if plan.image_after_prepare:
        _image_step(plan, engine, out)
    guard.on_signal(databases.stopping)
    databases.precreate(plan.suites, ahead=plan.jobs + 1)
    faults.point("suites")
    record.results = _suites(plan, out, guard, watchdog, contract, record)


def _prerequisites(
    plan: RunPlan, out: Output, teardown: Teardown
) -> tuple[Engine, list[ServiceConfig], str]:
    """The engine (connected), the services the suites need, and how containers reach us."""
    from hodei_e2e.engine.server_host import detect
    from hodei_e2e.engine.services import plan_services
    from hodei_e2e.prerequisites.checklist import preflight

    with out.step("prerequisites") as note:
        faults.point("engine")
        engine = Engine.connect()
        teardown.releases(engine.close)  # the last thing undone
        services = plan_services(plan.config, plan.suites)
        preflight(engine, plan.config, services=services)
        host = detect(engine).address
        note.text = f"engine {engine.server_version()}, server host {host}"
    return engine, services, host


def _run_containers(
    plan: RunPlan, engine: Engine, teardown: Teardown, record: RunRecord
) -> RunContainers:
    """The run's containers, removed at the end (unless --keep), and its suites' leftovers."""
    containers = RunContainers(engine, plan.identity, teardown)
    teardown.removes(containers.remove_own)
    teardown.keeps(lambda: _print_keep(plan, out=teardown.out, record=record))
    teardown.releases(
        lambda: containers.remove_leftovers(
            plan.logs_dir, testcontainers=plan.config.defaults.remove_testcontainers
        )
    )
    return containers


def _begin_prepare(
    plan: RunPlan,
    out: Output,
    guard: SignalGuard,
    watchdog: Watchdog,
    background: Background,
    teardown: Teardown,
) -> tuple[PrepareStep, Future[SuiteResult]] | None:
    """The prepare step, in the background from now on (unless --no-prepare)."""
    if plan.config.prepare is None:
        return None
    if not plan.options.prepare:
        out.print("- prepare skipped (--no-prepare)", style="yellow")
        return None
    github = plan.github
    step = PrepareStep(
        plan.config,
        out,
        logs_dir=plan.logs_dir,
        on_group=watchdog.process_group,
        on_finished=github.print_suite if github is not None else lambda _result: None,
    )
    teardown.stops(lambda: step.stop(INTERRUPT_GRACE))  # before the background is closed
    guard.on_hurry(step.runner.kill)
    return step, background.submit(step.run)


def _prepared(
    prepare: tuple[PrepareStep, Future[SuiteResult]],
    contract: Contract,
    background: Background,
) -> SuiteResult:
    """Offer the step the contract (when it needs a database), and wait for it to end."""
    step, future = prepare
    step.offer(contract.prepare, lambda prepared: contract.release(step.suite, prepared))
    return background.wait(future)


def _failed_first(
    prepare: tuple[PrepareStep, Future[SuiteResult]],
    postgres: PostgresStart | None,
    background: Background,
) -> SuiteResult | None:
    """A prepare step that needs no database and fails while Postgres is still starting (a
    compiler error comes in a second, a server in several) ends the run at once: its result.
    None when the step passed, or is still running once Postgres is up."""
    step, future = prepare
    if step.needs_contract or postgres is None or postgres.future is None:
        return None
    background.wait_first([future, postgres.future])
    result = settled(future)
    return result if result is not None and result.status is not Status.PASSED else None


def _not_started_after(prepare: SuiteResult, plan: RunPlan) -> list[SuiteResult]:
    """The results of a run that the prepare step ended: its own, then every suite skipped."""
    from hodei_e2e.suites.prepare import not_started

    return [prepare, *not_started(list(plan.suites))]


def _begin_postgres(
    plan: RunPlan,
    engine: Engine,
    containers: RunContainers,
    background: Background,
    teardown: Teardown,
) -> PostgresStart | None:
    """The run's one server, starting in the background (none with --isolation container)."""
    if plan.options.isolation != "database":
        return None
    postgres = teardown.holds(
        PostgresStart(plan.config, engine, plan.identity, plan.reuse, on_created=containers.add)
    )
    postgres.begin(background)
    return postgres


def _services(
    plan: RunPlan, out: Output, engine: Engine, containers: RunContainers
) -> ServiceStarts:
    return ServiceStarts(engine, plan.identity, out, plan.reuses, on_created=containers.add)


def _databases(
    plan: RunPlan,
    engine: Engine,
    postgres: Postgres | None,
    containers: RunContainers,
    watchdog: Watchdog,
) -> Databases:
    return Databases(
        engine=engine,
        config=plan.config,
        identity=plan.identity,
        shared=postgres.server if postgres else None,
        template=postgres.template if postgres else None,
        isolation=plan.options.isolation,
        on_container=containers.add,
        on_database=lambda name: watchdog.tell(database=name),
    )


def _contract(
    plan: RunPlan,
    out: Output,
    host: str,
    databases: Databases,
    services: ServiceStarts,
    background: Background,
    teardown: Teardown,
) -> Contract:
    facts = RunFacts(
        run_id=plan.identity.run_id,
        project=plan.config.project,
        worker_image=plan.worker_image,
        server_host=host,
        user=plan.config.postgres.user,
        password=plan.config.postgres.password,
    )
    return Contract(
        facts,
        config_env=dict(plan.config.env),
        databases=databases,
        services=services,
        background=background,
        teardown=teardown,
        out=out,
    )


def _suites(
    plan: RunPlan,
    out: Output,
    guard: SignalGuard,
    watchdog: Watchdog,
    contract: Contract,
    record: RunRecord,
) -> list[SuiteResult]:
    with console_report.Board(out, list(plan.suites)) as board:
        runner = SuiteRunner(
            SuiteHooks(contract, board, plan.github),
            logs_dir=plan.logs_dir,
            jobs=plan.jobs,
            default_timeout=plan.config.defaults.timeout,
            timeout_override=plan.options.timeout,
            fail_fast=plan.options.fail_fast,
            stop_grace=INTERRUPT_GRACE,
            on_group=watchdog.process_group,
            run_id=plan.identity.run_id,
        )
        guard.on_hurry(runner.kill)
        record.runner = runner
        with guard.deferred():
            return runner.run(list(plan.suites), check=guard.check)


def _image_step(plan: RunPlan, engine: Engine, out: Output) -> None:
    """The worker image, built when missing or stale."""
    from hodei_e2e.image.worker_image import ensure_image

    image = plan.config.image
    if image is None:
        return
    with out.step(f"worker image {image.tag}") as note:
        faults.point("image")
        outcome = ensure_image(
            engine, image, plan.identity, out, build=plan.options.build, state_dir=plan.state_dir
        )
        note.text = (
            f"built with {outcome.builder} ({outcome.reason})" if outcome.built else "up to date"
        )


def _sweep(engine: Engine, out: Output) -> None:
    """What dead runs left behind goes first; only what was removed is reported."""
    from hodei_e2e.ownership import cleanup, leases
    from hodei_e2e.ownership.orphans import SweepPolicy

    leases.prune()  # those of runs killed while they held one
    policy = SweepPolicy(networks_and_volumes=False)
    orphans = cleanup.find_orphans(engine, policy) + cleanup.process_orphans_of(policy)
    if not orphans:
        return
    with out.step("orphans of earlier runs") as note:
        removed = cleanup.remove(engine, orphans)
        note.text = f"removed {sum(1 for r in removed if r.error is None)} of {len(removed)}"
    for item in removed:
        out.detail(f"  {item.orphan.kind} {item.orphan.name}: {item.orphan.reason}")


def _quietly(undo: Callable[[], object]) -> None:
    with suppress(E2EError):
        undo()


def _exit_code(results: list[SuiteResult]) -> int:
    return ExitCode.OK if all(r.status.ok for r in results) else ExitCode.SUITES_FAILED


def _print_keep(plan: RunPlan, *, out: Output, record: RunRecord) -> None:
    if record.postgres is None:
        return
    address = record.postgres.server.address
    databases = sorted(r.database for r in record.results if r.database)
    out.print(
        f"--keep: Postgres is still running. Connect with:\n"
        f"  psql 'postgres://{address.user}@{address.host}:{address.port}/postgres' "
        f"(password as in {plan.config.path.name})\n"
        f"  databases: {', '.join(databases) or '-'}\n"
        f"  remove it with: hodei-e2e cleanup"
    )


def _report(plan: RunPlan, record: RunRecord, wall: float) -> run_report.RunReport:
    waits = record.databases.waits if record.databases else {}
    postgres = record.postgres.record(waits) if record.postgres else run_report.no_postgres(waits)
    return run_report.RunReport(
        project=plan.config.project,
        config=plan.config.path,
        run_id=plan.identity.run_id,
        logs_dir=plan.logs_dir,
        suites=plan.suites,
        results=record.results,
        wall=wall,
        junit=plan.options.junit,
        json=plan.options.json,
        shard=plan.options.shard,
        github=plan.github,
        postgres=postgres,
        services=record.services.records() if record.services else [],
        prepare=record.prepare,
    )
