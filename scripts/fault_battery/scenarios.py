"""The scenarios: each one try, from a fresh workspace to its verdict. A scenario raises
`TryFailed` when the try went wrong and returns the seconds from its first signal to the end."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fault_battery.harness import (
    BASE_IMAGE,
    SQL_ASCII,
    Cli,
    TryFailed,
    Workspace,
    expect,
    hodei,
    psql,
    report,
    reused_postgres,
    settle,
    watchdog_of,
)

GRACE = 10.0  # what a run may take to end after SIGINT (GitHub sends SIGTERM after 7.5 s)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    body: Callable[[Workspace, random.Random], float]
    keep_reused: bool = False  # reused servers stay between tries; removed at the end


SCENARIOS: list[Scenario] = []


def scenario(what: str, *, keep_reused: bool = False) -> Callable[..., object]:
    def register(body: Callable[[Workspace, random.Random], float]) -> object:
        SCENARIOS.append(Scenario(body.__name__.replace("_", "-"), what, body, keep_reused))
        return body

    return register


def _sleeper(ws: Workspace, extra: str = "") -> str:
    """A suite that starts a worker container, says so, and then sleeps."""
    return f"{ws.worker_command()} && {extra}touch {ws.flag()} && sleep 60"


def _started(ws: Workspace, rng: random.Random, extra: str = "") -> tuple[Path, Cli]:
    """A run whose sleeping suite has started (and a worker container), at a random instant
    of the next half second."""
    path = ws.config({"s": {"command": _sleeper(ws, extra=extra)}})
    cli = Cli(ws, "run", "-c", str(path))
    ws.wait_flag()
    time.sleep(rng.uniform(0, 0.5))
    return path, cli


def _interrupt(cli: Cli, rng: random.Random, low: float, high: float, **kwargs: object) -> float:
    time.sleep(rng.uniform(low, high))
    cli.send(signal.SIGINT)
    code = cli.wait(GRACE + 20)
    expect(code, kwargs.get("code", 130), cli)  # type: ignore[arg-type]
    return cli.since_signal


def _at_fault_point(
    ws: Workspace, rng: random.Random, point: str, action: str, window: float, **config: object
) -> float:
    path = ws.config({"s": {"command": _sleeper(ws)}}, **config)  # type: ignore[arg-type]
    cli = Cli(ws, "run", "-c", str(path), faults=f"{point}={action}")
    cli.wait_for(f"fault point {point}")
    return _interrupt(cli, rng, 0, window)


@scenario("SIGINT during the engine check")
def sigint_engine(ws: Workspace, rng: random.Random) -> float:
    return _at_fault_point(ws, rng, "engine", "sleep:1", 1.0)


@scenario("SIGINT during the Postgres start")
def sigint_postgres(ws: Workspace, rng: random.Random) -> float:
    return _at_fault_point(ws, rng, "postgres", "mark", 0.6)


def _never_ready() -> dict[str, object]:
    return {
        "slow": {
            "image": BASE_IMAGE,
            "command": ["sleep", "600"],
            "port": 9999,
            "ready": {"tcp": 9999},
            "startup_timeout": "60s",
        }
    }


def _service_wait(ws: Workspace, rng: random.Random, strict: bool) -> float:
    path = ws.config({"s": {"command": _sleeper(ws), "needs": ["slow"]}}, services=_never_ready())
    report_path = ws.directory / "report.json"
    cli = Cli(
        ws,
        "run",
        "-c",
        str(path),
        "--strict" if strict else "--no-strict",
        "--json",
        str(report_path),
        faults="suites=mark,postgres=mark",
    )
    cli.wait_for("fault point " + ("postgres" if strict else "suites"))
    seconds = _interrupt(cli, rng, 0.2, 1.5)
    if not strict:
        statuses = [suite["status"] for suite in report(report_path)["suites"]]
        if statuses != ["interrupted"]:
            raise TryFailed(f"the waiting suite was reported {statuses}, not interrupted")
    return seconds


@scenario("SIGINT while a suite waits for a service that never gets ready (--no-strict)")
def sigint_service_wait(ws: Workspace, rng: random.Random) -> float:
    return _service_wait(ws, rng, strict=False)


@scenario("SIGINT while the run waits for a service that never gets ready (--strict)")
def sigint_service_wait_strict(ws: Workspace, rng: random.Random) -> float:
    return _service_wait(ws, rng, strict=True)


@scenario("SIGINT during an image build's RUN step")
def sigint_image_build(ws: Workspace, rng: random.Random) -> float:
    context = ws.directory / "image"  # not the workspace, where the CLI's log grows
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN echo building && sleep 6\n", encoding="utf-8"
    )
    image = {
        "tag": f"{ws.project}:test",
        "dockerfile": "image/Dockerfile",
        "context": "image",
        "rebuild": "always",
    }
    path = ws.config({"s": {"command": "true"}}, image=image)
    cli = Cli(ws, "run", "-c", str(path), faults="image=mark")
    cli.wait_for("fault point image")
    seconds = _interrupt(cli, rng, 0.8, 3.0)
    from fault_battery.harness import engine

    if engine().image_id(f"{ws.project}:test") is not None:
        raise TryFailed("the interrupted build left an image under its tag")
    return seconds


@scenario("SIGINT during a migration command")
def sigint_migration(ws: Workspace, rng: random.Random) -> float:
    migrations = {"command": f"touch {ws.flag('migrating')} && sleep 5", "files": []}
    path = ws.config({"s": {"command": "true"}}, postgres={"migrations": migrations})
    cli = Cli(ws, "run", "-c", str(path))
    ws.wait_flag("migrating")
    return _interrupt(cli, rng, 0, 2.0)


@scenario("SIGINT during the database pre-creation")
def sigint_precreate(ws: Workspace, rng: random.Random) -> float:
    suites = {f"s{i}": {"command": "true"} for i in range(4)}
    path = ws.config(suites)
    cli = Cli(ws, "run", "-c", str(path), faults="precreate=sleep:0.3")
    cli.wait_for("fault point precreate")
    return _interrupt(cli, rng, 0, 0.6)


@scenario("SIGINT while a suite runs (it started a worker container)")
def sigint_running_suite(ws: Workspace, rng: random.Random) -> float:
    _, cli = _started(ws, rng)
    return _interrupt(cli, rng, 0, 0)


@scenario("SIGINT while a suite that ignores SIGTERM runs")
def sigint_suite_ignores_term(ws: Workspace, rng: random.Random) -> float:
    _, cli = _started(ws, rng, extra="trap '' TERM; ")
    return _interrupt(cli, rng, 0, 0)


@scenario("SIGINT during the teardown")
def sigint_teardown(ws: Workspace, rng: random.Random) -> float:
    path = ws.config({"s": {"command": "true"}})
    cli = Cli(ws, "run", "-c", str(path), faults="teardown=sleep:1")
    cli.wait_for("fault point teardown")
    return _interrupt(cli, rng, 0, 1.0)


@scenario("two SIGINTs: the second hurries the stop of a suite that ignores SIGTERM")
def double_sigint(ws: Workspace, rng: random.Random) -> float:
    path = ws.config({"s": {"command": _sleeper(ws, extra="trap '' TERM; ")}})
    cli = Cli(ws, "run", "-c", str(path))
    ws.wait_flag()
    cli.send(signal.SIGINT)
    time.sleep(rng.uniform(0.1, 0.8))
    cli.send(signal.SIGINT)
    expect(cli.wait(GRACE + 20), 130, cli)
    if cli.since_signal > 3.0:  # without the hurry it waits out the 3 s grace
        raise TryFailed(f"the second SIGINT did not hurry: {cli.since_signal:.1f}s")
    return cli.since_signal


@scenario("SIGTERM to the CLI's pid alone")
def sigterm_pid(ws: Workspace, rng: random.Random) -> float:
    _path, cli = _started(ws, rng)
    cli.send(signal.SIGTERM, group=False)
    expect(cli.wait(GRACE + 20), 143, cli)
    return cli.since_signal


@scenario("GitHub's cancel: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after; suite ignores TERM")
def github_cancel(ws: Workspace, rng: random.Random) -> float:
    _path, cli = _started(ws, rng, extra="trap '' TERM; ")
    cli.send(signal.SIGINT)
    for pause, signum in ((7.5, signal.SIGTERM), (2.5, signal.SIGKILL)):
        deadline = time.monotonic() + pause
        while cli.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if cli.proc.poll() is not None:
            break
        cli.send(signum)
    code = cli.wait(5)
    expect(code, 130, cli)  # ended by its own teardown, before GitHub's SIGTERM
    return cli.since_signal


@scenario("kill -9 of the CLI: the watchdog leaves nothing within 10 s")
def kill9_cli(ws: Workspace, rng: random.Random) -> float:
    _path, cli = _started(ws, rng)
    cli.send(signal.SIGKILL, group=False)
    cli.wait(5)
    left = settle(ws, 10.0)
    if left.count():
        raise TryFailed(f"10 s after kill -9: {left.describe()}")
    return cli.since_signal


@scenario("kill -9 of the CLI and its watchdog, then `cleanup`")
def kill9_both_then_cleanup(ws: Workspace, rng: random.Random) -> float:
    path, cli = _started(ws, rng)
    watchdog = watchdog_of(cli)
    os.kill(watchdog, signal.SIGKILL)
    cli.send(signal.SIGKILL, group=False)
    cli.wait(5)
    done = hodei(ws, "cleanup", "-c", str(path))
    if done.returncode != 0:
        raise TryFailed(f"cleanup exited {done.returncode}: {done.stderr[-800:]}")
    return cli.since_signal


@scenario("a suite times out while a grandchild that left its process group holds the pipe")
def timeout_escaped_grandchild(ws: Workspace, rng: random.Random) -> float:
    del rng
    path = ws.config({"s": {"command": "(setsid sleep 40 &) ; sleep 600", "timeout": "3s"}})
    cli = Cli(ws, "run", "-c", str(path))
    code = cli.wait(30)
    expect(code, 1, cli)
    if cli.since_signal > 3 + 5 + 6:  # the timeout, the kill grace, start and teardown
        raise TryFailed(f"the timed-out run took {cli.since_signal:.1f}s")
    return cli.since_signal


@scenario("12 concurrent `run --reuse`: one server, every run passes", keep_reused=True)
def concurrent_reuse(ws: Workspace, rng: random.Random) -> float:
    del rng
    path = ws.config(
        {"s": {"command": 'psql -qAtc "select 1" >/dev/null'}}, postgres={"reuse": True}
    )
    reports = [ws.directory / f"report-{n}.json" for n in range(12)]
    clis = [Cli(ws, "run", "--reuse", "-c", str(path), "--json", str(r)) for r in reports]
    for cli in clis:
        expect(cli.wait(120), 0, cli)
    reused_postgres(ws)  # exactly one left
    servers = {report(r)["postgres"]["container"] for r in reports}
    if len(servers) != 1:
        raise TryFailed(f"the 12 runs used {len(servers)} servers, not one")
    return max(cli.since_signal for cli in clis)


def _cleanup_during_live_run(ws: Workspace, rng: random.Random, encoding: dict[str, str]) -> float:
    postgres = {"reuse": True, "environment": encoding}
    path = ws.config({"s": {"command": _sleeper(ws)}}, postgres=postgres)
    dead = Cli(ws, "run", "--reuse", "-c", str(path))
    ws.wait_flag()
    server = reused_postgres(ws)
    (dead_db,) = _suite_databases(server)
    os.kill(watchdog_of(dead), signal.SIGKILL)
    dead.send(signal.SIGKILL, group=False)
    dead.wait(5)
    ws.flag().unlink()
    live_path = ws.config({"s": {"command": _sleeper(ws, extra="")}}, postgres=postgres)
    live = Cli(ws, "run", "--reuse", "-c", str(live_path))
    ws.wait_flag()
    time.sleep(rng.uniform(0, 0.3))
    live_dbs = [name for name in _suite_databases(server) if name != dead_db]
    done = hodei(ws, "cleanup", "-c", str(path))
    if done.returncode != 0:
        raise TryFailed(f"cleanup exited {done.returncode}: {done.stderr[-800:]}")
    now = _suite_databases(server)
    if dead_db in now:
        raise TryFailed(f"cleanup left the dead run's database {dead_db}: {now}")
    if not live_dbs or any(name not in now for name in live_dbs):
        raise TryFailed(f"cleanup dropped the live run's database {live_dbs}: {now}")
    live.send(signal.SIGINT)
    expect(live.wait(GRACE + 20), 130, live)
    if _suite_databases(server):
        raise TryFailed(f"databases left: {_suite_databases(server)}")
    return live.since_signal


def _suite_databases(server: str) -> list[str]:
    return psql(
        server,
        "SELECT datname FROM pg_database "
        "WHERE datname LIKE 'e2e\\_%' AND NOT datistemplate ORDER BY 1",
    )


@scenario(
    "`cleanup` during a live reused run (UTF8): a dead run's database goes, the live one's stays",
    keep_reused=True,
)
def cleanup_live_reuse_utf8(ws: Workspace, rng: random.Random) -> float:
    return _cleanup_during_live_run(ws, rng, {})


@scenario("`cleanup` during a live reused run on a SQL_ASCII server", keep_reused=True)
def cleanup_live_reuse_sql_ascii(ws: Workspace, rng: random.Random) -> float:
    return _cleanup_during_live_run(ws, rng, SQL_ASCII)


@scenario("kill -9 during a slow migration, then a new run migrates and passes", keep_reused=True)
def kill9_slow_migration(ws: Workspace, rng: random.Random) -> float:
    migrations = {
        "command": f"touch {ws.flag('migrating')} && sleep 3 && "
        "psql -qc 'CREATE TABLE jobs (id int)'",
        "files": [],
    }
    postgres = {"reuse": True, "migrations": migrations}
    path = ws.config(
        {"s": {"command": 'psql -qAtc "SELECT count(*) FROM jobs"'}}, postgres=postgres
    )
    first = Cli(ws, "run", "--reuse", "-c", str(path))
    ws.wait_flag("migrating")
    time.sleep(rng.uniform(0, 1.5))
    first.send(signal.SIGKILL, group=False)
    first.wait(5)
    again = Cli(ws, "run", "--reuse", "-c", str(path))
    expect(again.wait(60), 0, again)
    left = settle(ws, 10.0, keep_reused=True)
    if left.count():
        raise TryFailed(f"after the second run: {left.describe()}")
    return first.since_signal
