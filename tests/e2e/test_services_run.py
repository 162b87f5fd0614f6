"""`hodei-e2e run` with `services:`: Postgres and the needed services start at the same time,
a service that never gets ready skips the suites that need it (or fails the run under
`--strict`, the default under CI), and only what the selected suites need is started.

The JSON report (`run --json`) carries a top-level `services` list of
`{name, status: ready|failed, started, ready_at, reason}`; a suite skipped for a failed service
has status `skipped` and a reason naming it.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from shared import Missing
from support import Cli, CliResult, DockerPs, WrittenConfig, add_services, run_json, script

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]

STUCK_LOG = "stuck: waiting for a licence server (hodei-test)"


def run(
    cli: Cli,
    root: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    unset: tuple[str, ...] = (),
) -> tuple[CliResult, dict[str, Any]]:
    return run_json(cli, root, *args, env=env, unset=unset, timeout=90)


def by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["name"]: record for record in records}


def redis_service(image: str) -> dict[str, Any]:
    return {
        "image": image,
        "port": 6379,
        "ready": ["redis-cli", "ping"],
        "startup_timeout": "30s",
        "exports": {"REDIS_URL": "redis://{host}:{port}"},
    }


def web_service(base_image: str) -> dict[str, Any]:
    return {
        "image": base_image,
        "command": [
            "sh", "-c", "sleep 0.5; mkdir -p /w; echo ok > /w/health; exec httpd -f -p 8080 -h /w",
        ],
        "port": 8080,
        "ready": {"http": "http://{host}:{port}/health"},
        "startup_timeout": "30s",
        "exports": {"WEB_URL": "http://{host}:{port.8080}/"},
    }  # fmt: skip


def stuck_service(base_image: str) -> dict[str, Any]:
    return {
        "image": base_image,
        "command": ["sh", "-c", f"echo '{STUCK_LOG}'; exec sleep 600"],
        "port": 7000,
        "startup_timeout": "2s",
    }


# -- Postgres and two services start at the same time ----------------------------------------------


def test_postgres_and_two_services_start_concurrently(
    cli: Cli, engine: Engine, redis_image: str, base_image: str, tmp_path: Path
) -> None:
    uses_redis = script(tmp_path, "redis.sh", """\
        case "$REDIS_URL" in
            redis://127.0.0.1:[0-9]*) ;;
            *) echo "REDIS_URL=$REDIS_URL"; exit 1 ;;
        esac
        echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
    """)  # fmt: skip
    uses_web = script(tmp_path, "web.sh", """\
        case "$WEB_URL" in http://127.0.0.1:[0-9]*/) ;; *) echo "WEB_URL=$WEB_URL"; exit 1 ;; esac
        [ -z "${REDIS_URL:-}" ] || { echo "got another service's REDIS_URL"; exit 1; }
    """)  # fmt: skip
    config = cli.write_config(
        tmp_path,
        {
            "uses-redis": {"command": uses_redis, "needs": ["postgres", "redis"]},
            "uses-web": {"command": uses_web, "needs": ["postgres", "web"]},
        },
    )
    add_services(config, {"redis": redis_service(redis_image), "web": web_service(base_image)})
    result, report = run(cli, tmp_path)
    assert result.code == 0, result.explain()
    assert [s["status"] for s in report["suites"]] == ["passed", "passed"], report["suites"]
    services = by_name(report["services"])
    assert {"redis", "web"} <= set(services), report["services"]
    postgres = services.get("postgres") or report.get("postgres")
    assert postgres, f"the report gives no start interval for Postgres: {sorted(report)}"
    intervals = {
        name: (record["started"], record["ready_at"])
        for name, record in {"postgres": postgres, **services}.items()
    }
    for name, (started, ready_at) in intervals.items():
        assert started <= ready_at, (name, started, ready_at)
    assert services["redis"]["status"] == services["web"]["status"] == "ready"
    # Concurrent: every one had started before any of them was ready.
    latest_start = max(started for started, _ in intervals.values())
    earliest_ready = min(ready_at for _, ready_at in intervals.values())
    assert latest_start < earliest_ready, intervals


def test_five_services_start_at_once_too(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path
) -> None:
    """No pool size caps how many services start together."""
    names = [f"web{n}" for n in range(5)]
    config = cli.write_config(tmp_path, {"all": {"command": "true", "needs": names}})
    add_services(config, {name: web_service(base_image) for name in names})
    result, report = run(cli, tmp_path)
    assert result.code == 0, result.explain()
    services = by_name(report["services"])
    assert sorted(services) == names, report["services"]
    latest_start = max(record["started"] for record in services.values())
    earliest_ready = min(record["ready_at"] for record in services.values())
    assert latest_start < earliest_ready, services


def test_progress_and_time_to_ready_are_shown(
    cli: Cli, engine: Engine, redis_image: str, tmp_path: Path
) -> None:
    config = cli.write_config(tmp_path, {"a": {"command": "true", "needs": ["redis"]}})
    add_services(config, {"redis": redis_service(redis_image)})
    result, _report = run(cli, tmp_path)
    assert result.code == 0, result.explain()
    assert any(
        "redis" in line and line.lstrip().startswith("✓") and "s)" in line
        for line in result.stderr.splitlines()
    ), result.stderr


def test_a_slow_service_reports_why_it_is_not_ready_yet(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path
) -> None:
    slow = {
        **web_service(base_image),
        "command": [
            "sh",
            "-c",
            "sleep 6; mkdir /w; echo ok > /w/health; exec httpd -f -p 8080 -h /w",
        ],
    }
    config = cli.write_config(tmp_path, {"a": {"command": "true", "needs": ["slow"]}})
    add_services(config, {"slow": slow})
    result, report = run(cli, tmp_path)
    assert result.code == 0, result.explain()
    # The suite's own time does not include the 6 s it waited for its service.
    assert report["suites"][0]["duration"] < 3, report["suites"]
    waiting = [
        line for line in result.stderr.splitlines() if "service slow not ready after" in line
    ]
    assert waiting, result.stderr
    assert "GET http://127.0.0.1:" in waiting[0], waiting  # why: its check, as it failed


# -- a service that never gets ready ---------------------------------------------------------------


@pytest.fixture
def stuck_config(cli: Cli, engine: Engine, base_image: str, tmp_path: Path) -> WrittenConfig:
    config = cli.write_config(
        tmp_path,
        {
            "needs-stuck": {"command": "true", "needs": ["postgres", "stuck"]},
            "plain": "psql -qAt -c 'SELECT 1'",
        },
    )
    add_services(config, {"stuck": stuck_service(base_image)})
    return config


def test_service_never_ready_skips_its_suites_with_the_reason(
    cli: Cli, stuck_config: WrittenConfig, tmp_path: Path
) -> None:
    result, report = run(cli, tmp_path, unset=("CI",))
    assert result.code == 0, result.explain()
    suites = by_name(report["suites"])
    assert suites["plain"]["status"] == "passed"
    skipped = suites["needs-stuck"]
    assert skipped["status"] == "skipped"
    assert "stuck" in (skipped["reason"] or ""), skipped
    service = by_name(report["services"])["stuck"]
    assert service["status"] == "failed"
    assert "not ready after 2s" in service["reason"]
    assert STUCK_LOG in result.stderr, "the service's log tail is shown"


def test_service_never_ready_with_strict_exits_4(
    cli: Cli, stuck_config: WrittenConfig, tmp_path: Path
) -> None:
    result, report = run(cli, tmp_path, "--strict", unset=("CI",))
    assert result.code == 4, result.explain()
    assert report["exit_code"] == 4
    assert "stuck" in result.stderr
    assert STUCK_LOG in result.stderr


def test_strict_is_the_default_under_ci_and_no_strict_turns_it_off(
    cli: Cli, stuck_config: WrittenConfig, tmp_path: Path
) -> None:
    strict, _ = run(cli, tmp_path, env={"CI": "true"})
    assert strict.code == 4, strict.explain()
    relaxed, report = run(cli, tmp_path, "--no-strict", env={"CI": "true"})
    assert relaxed.code == 0, relaxed.explain()
    assert by_name(report["suites"])["needs-stuck"]["status"] == "skipped"


def test_ctrl_c_while_a_service_starts_stops_at_once_and_leaves_nothing(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs
) -> None:
    """A service given a minute to get ready must not hold a Ctrl-C for that minute."""
    slow = {**stuck_service(base_image), "startup_timeout": "60s"}
    config = cli.write_config(tmp_path, {"needs-slow": {"command": "true", "needs": ["slow"]}})
    add_services(config, {"slow": slow})
    process = cli.start("run", "--no-strict", cwd=tmp_path, unset=("CI",))
    label = f"io.hodei.e2e.project={config.project}"
    process.wait_for(lambda: docker_ps(label, "io.hodei.e2e.role=service"), "the service")
    time.sleep(0.5)  # its readiness check is being polled now
    process.send(signal.SIGINT)
    result = process.wait(timeout=30)  # far less than the service's 60 s
    assert result.code == 130, result.explain()
    assert docker_ps(label) == [], "the starting service was left behind"


# -- only what the selected suites need ------------------------------------------------------------


def test_only_the_services_of_the_selected_suites_start(
    cli: Cli, engine: Engine, redis_image: str, tmp_path: Path
) -> None:
    config = cli.write_config(
        tmp_path,
        {
            "uses-redis": {"command": 'test -n "$REDIS_URL"', "needs": ["redis"]},
            "uses-ghost": {"command": "true", "needs": ["ghost"]},
        },
    )
    ghost = {"image": "hodei-e2e.local/no-such-image:never", "port": 1234}
    add_services(config, {"redis": redis_service(redis_image), "ghost": ghost})
    result, report = run(cli, tmp_path, "uses-redis", "--strict")
    assert result.code == 0, result.explain()
    assert [s["name"] for s in report["services"]] == ["redis"]


def test_needs_naming_an_unknown_service_exits_2(cli: Cli, tmp_path: Path) -> None:
    config = cli.write_config(tmp_path, {"a": {"command": "true", "needs": ["postgres", "rdis"]}})
    add_services(config, {"redis": {"image": "redis:7", "port": 6379}})
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 2, result.explain()
    assert "suites.a.needs[1]: unknown service 'rdis'; did you mean 'redis'?" in result.stderr


# -- the demo's cache suite ------------------------------------------------------------------------


def test_demo_cache_suite_uses_postgres_and_redis(
    missing: Missing, cli: Cli, engine: Engine, redis_image: str, tmp_path: Path
) -> None:
    if shutil.which("psql") is None:
        missing("the demo needs psql on PATH (scripts/bootstrap installs it)")
    report_path = tmp_path / "demo.json"
    result = cli.run(
        "run", "cache", "--json", str(report_path), cwd=REPO,
        env={"HODEI_E2E_REDIS_IMAGE": redis_image}, timeout=150,
    )  # fmt: skip
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    try:
        assert result.code == 0, result.explain()
        cache = by_name(report["suites"])["cache"]
        assert cache["status"] == "passed"
        assert cache["counts"] == {"passed": 3, "failed": 0, "skipped": 0}
        assert [s["name"] for s in report["services"]] == ["redis"]
    finally:
        if report.get("logs"):
            shutil.rmtree(report["logs"], ignore_errors=True)
