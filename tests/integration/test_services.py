"""`start_service` against the real engine: each readiness kind, a service that exits at once,
one that never gets ready. Every container is removed by the test (and `leak_guard` checks)."""

from __future__ import annotations

import socket
import time
import urllib.request
from typing import Any

import pytest

from hodei_e2e.config import ReadyCheck, ServiceConfig
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.engine.services import proxied_tcp_ready, start_service
from hodei_e2e.errors import ExitCode, InfrastructureError
from hodei_e2e.ownership.identity import ROLE, RUN_ID, RunIdentity

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


@pytest.fixture
def labels() -> dict[str, str]:
    return RunIdentity(project="svc-tests").labels("service")


def redis_ping(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(b"*1\r\n$4\r\nPING\r\n")
        return connection.recv(64)


def busybox(base_image: str, script: str, **kwargs: Any) -> ServiceConfig:
    return ServiceConfig(image=base_image, command=("sh", "-c", script), **kwargs)


# -- readiness kinds ------------------------------------------------------------------------------


def test_exec_readiness_and_exports(
    engine: Engine, redis_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = ServiceConfig(
        name="redis",
        image=redis_image,
        ports=(6379,),
        ready=ReadyCheck(exec=("redis-cli", "ping")),
        exports={"REDIS_URL": "redis://{host}:{port}", "REDIS_PORT": "{port.6379}"},
    )
    before = time.time()
    handle = start_service(engine, service, labels, on_created=created.append)
    assert [c.id for c in created] == [handle.container.id]
    assert before <= handle.started <= handle.ready_at <= time.time()
    port = handle.ports[6379]
    assert handle.exports() == {"REDIS_URL": f"redis://127.0.0.1:{port}", "REDIS_PORT": str(port)}
    assert redis_ping(handle.host, port) == b"+PONG\r\n"
    info = engine.inspect(handle.container.id)
    assert info.status == "running"
    assert info.labels[ROLE] == "service"
    assert info.labels[RUN_ID] == labels[RUN_ID]


def test_tcp_readiness_answers_at_once(
    engine: Engine, redis_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = ServiceConfig(
        name="redis", image=redis_image, ports=(6379,), ready=ReadyCheck(tcp=6379)
    )
    handle = start_service(engine, service, labels, on_created=created.append)
    assert redis_ping(handle.host, handle.ports[6379]) == b"+PONG\r\n"


def test_tcp_readiness_is_not_fooled_by_the_port_proxy(
    engine: Engine, base_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    """Docker's proxy accepts on the published port at once; the service listens only after
    1.5 s. Ready must mean "listening", so not before then."""
    service = busybox(
        base_image,
        "sleep 1.5; mkdir -p /w; echo up > /w/index.html; exec httpd -f -p 7000 -h /w",
        name="slow",
        ports=(7000,),
        ready=ReadyCheck(tcp=7000),
        startup_timeout=20,
    )
    handle = start_service(engine, service, labels, on_created=created.append)
    assert handle.ready_at - handle.started >= 1.5
    url = f"http://127.0.0.1:{handle.ports[7000]}/index.html"
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.read() == b"up\n"


def test_the_proxied_check_tells_an_empty_port_from_a_listening_one(
    engine: Engine, base_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    """The fallback used where the container's address is not routable (Docker Desktop, a
    remote engine), tried here through the published ports."""
    service = busybox(
        base_image, "httpd -p 7000 -h /; exec sleep 600", name="two", ports=(7000, 7001)
    )
    handle = start_service(engine, service, labels, on_created=created.append)
    assert proxied_tcp_ready("127.0.0.1", handle.ports[7000], timeout=2.0) is None
    why = proxied_tcp_ready("127.0.0.1", handle.ports[7001], timeout=2.0)
    assert why is not None
    assert "nothing listens" in why


def test_http_readiness_with_command_and_environment(
    engine: Engine, base_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = busybox(
        base_image,
        'echo "greeting is $GREETING"; sleep 1; mkdir -p /w; echo ok > /w/health;'
        " exec httpd -f -p 8080 -h /w",
        name="web",
        ports=(8080,),
        environment={"GREETING": "hello from the config"},
        ready=ReadyCheck(http="http://{host}:{port.8080}/health"),
        exports={"WEB_URL": "http://{host}:{port}/"},
        startup_timeout=20,
    )
    handle = start_service(engine, service, labels, on_created=created.append)
    assert handle.ready_at - handle.started >= 1.0
    with urllib.request.urlopen(handle.exports()["WEB_URL"] + "health", timeout=5) as answer:
        assert answer.read() == b"ok\n"
    assert "greeting is hello from the config" in engine.logs_tail(handle.container.id)


def test_no_readiness_and_no_port_means_running(
    engine: Engine, base_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = busybox(base_image, "exec sleep 600", name="idle")
    handle = start_service(engine, service, labels, on_created=created.append)
    assert handle.ports == {}
    assert engine.inspect(handle.container.id).status == "running"


# -- failures -------------------------------------------------------------------------------------


def test_service_that_exits_at_once_fails_fast_with_its_log(
    engine: Engine, base_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = busybox(
        base_image,
        "echo 'broken: cannot bind 0.0.0.0:6379 (hodei-test)' >&2; exit 3",
        name="broken",
        ports=(6379,),
        startup_timeout=60,
    )
    start = time.monotonic()
    with pytest.raises(InfrastructureError) as caught:
        start_service(engine, service, labels, on_created=created.append)
    assert time.monotonic() - start < 15  # the exit stops the wait; not the 60 s timeout
    error = caught.value
    assert error.exit_code == ExitCode.INFRASTRUCTURE
    assert error.message.startswith("service broken exited")
    assert "exit code 3" in error.message
    assert error.detail is not None
    assert "broken: cannot bind 0.0.0.0:6379 (hodei-test)" in error.detail
    assert len(created) == 1  # registered for teardown before readiness failed


def test_exec_readiness_on_a_service_that_exits(
    engine: Engine, base_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = busybox(
        base_image,
        "echo 'fatal: no config (hodei-test)'; exit 1",
        name="exits",
        ready=ReadyCheck(exec=("true",)),
        startup_timeout=60,
    )
    expected = r"service exits exited \(exit code 1\)"
    with pytest.raises(InfrastructureError, match=expected) as caught:
        start_service(engine, service, labels, on_created=created.append)
    assert "fatal: no config (hodei-test)" in (caught.value.detail or "")


def test_service_that_never_gets_ready_times_out_with_its_log(
    engine: Engine, base_image: str, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = busybox(
        base_image,
        "echo 'starting (hodei-test)'; exec sleep 600",
        name="never",
        ports=(7000,),
        startup_timeout=2,
    )
    start = time.monotonic()
    with pytest.raises(InfrastructureError) as caught:
        start_service(engine, service, labels, on_created=created.append)
    elapsed = time.monotonic() - start
    assert 2 <= elapsed < 15
    assert caught.value.message.startswith("service never was not ready after 2s (")
    assert "starting (hodei-test)" in (caught.value.detail or "")
    assert len(created) == 1
    assert engine.inspect(created[0].id).status == "running"  # the caller removes it


@pytest.mark.parametrize(
    ("ready", "reason"),
    [
        (ReadyCheck(exec=("sh", "-c", "exit 7")), "`sh -c exit 7` exited 7"),
        (ReadyCheck(http="http://{host}:{port}/missing"), "HTTP 404"),
    ],
)
def test_failing_checks_name_their_reason(
    engine: Engine,
    base_image: str,
    labels: dict[str, str],
    created: list[ContainerInfo],
    ready: ReadyCheck,
    reason: str,
) -> None:
    service = busybox(
        base_image, "exec httpd -f -p 8080 -h /", name="grumpy", ports=(8080,), ready=ready,
        startup_timeout=1.5,
    )  # fmt: skip
    with pytest.raises(InfrastructureError, match=r"was not ready after 1\.5s") as caught:
        start_service(engine, service, labels, on_created=created.append)
    assert reason in caught.value.message


def test_missing_image_names_the_service(
    engine: Engine, labels: dict[str, str], created: list[ContainerInfo]
) -> None:
    service = ServiceConfig(name="ghost", image="hodei-e2e.local/no-such-image:never")
    with pytest.raises(InfrastructureError, match=r"^service ghost: image \S+no-such-image"):
        start_service(engine, service, labels, on_created=created.append)
    assert created == []
