"""services.py without Docker: `exports` templates, `plan_services`, and the readiness checks
that talk to sockets (tcp through a proxy, http), against listeners in this process."""

from __future__ import annotations

import socket
import struct
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hodei_e2e.config import Config, ServiceConfig, SuiteConfig, load_config
from hodei_e2e.engine.docker import ContainerInfo
from hodei_e2e.engine.services import (
    ServiceHandle,
    http_ready,
    is_local_address,
    plan_services,
    proxied_tcp_ready,
)
from hodei_e2e.errors import ConfigError, ExitCode

CONTAINER = ContainerInfo(
    id="c" * 64, name="svc", image="redis:7", status="running", labels={}, created=0.0
)


def handle(
    exports: dict[str, str], ports: dict[int, int] | None = None, name: str = "redis"
) -> ServiceHandle:
    return ServiceHandle(
        name=name,
        container=CONTAINER,
        host="127.0.0.1",
        ports={6379: 49153} if ports is None else ports,
        started=100.0,
        ready_at=100.5,
        templates=exports,
    )


# -- exports ---------------------------------------------------------------------------------------


def test_exports_render_host_and_the_published_port() -> None:
    service = handle({"REDIS_URL": "redis://{host}:{port}", "REDIS_PORT": "{port.6379}"})
    assert service.exports() == {"REDIS_URL": "redis://127.0.0.1:49153", "REDIS_PORT": "49153"}


def test_exports_port_is_the_first_port_and_port_dot_n_any_port() -> None:
    service = handle(
        {"AMQP": "amqp://{host}:{port}", "UI": "http://{host}:{port.15672}/", "WHO": "{name}"},
        ports={5672: 40001, 15672: 40002},
        name="rabbit",
    )
    assert service.exports() == {
        "AMQP": "amqp://127.0.0.1:40001",
        "UI": "http://127.0.0.1:40002/",
        "WHO": "rabbit",
    }


def test_exports_take_extra_values_but_the_service_values_win() -> None:
    service = handle({"KEY": "{run_id}/{host}"})
    exports = service.exports({"run_id": "20260101-abc", "host": "elsewhere"})
    assert exports == {"KEY": "20260101-abc/127.0.0.1"}


def test_exports_double_braces_are_literal() -> None:
    assert handle({"JSON": '{{"port": {port}}}'}).exports() == {"JSON": '{"port": 49153}'}


def test_exports_unknown_template_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        handle({"REDIS_URL": "redis://{hots}:{port}"}).exports()
    assert caught.value.exit_code == ExitCode.USAGE
    assert "services.redis.exports.REDIS_URL" in caught.value.message
    assert "{hots}" in caught.value.message


def test_exports_port_without_ports_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown template \{port\}"):
        handle({"URL": "x://{host}:{port}"}, ports={}).exports()


def test_handle_startup_seconds() -> None:
    assert handle({}).startup_seconds == pytest.approx(0.5)


# -- plan_services ---------------------------------------------------------------------------------


def config(tmp_path: Path, suites: str) -> Config:
    path = tmp_path / "e2e.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            project: plan
            services:
              rabbit: {image: rabbitmq:3, port: 5672}
              redis: {image: redis:7, port: 6379}
              minio: {image: minio:latest, port: 9000}
            suites:
            """
        )
        + textwrap.indent(textwrap.dedent(suites), "  "),
        encoding="utf-8",
    )
    return load_config(path, environ={})


def names(services: list[ServiceConfig]) -> list[str]:
    return [service.name for service in services]


def test_plan_services_only_what_the_selected_suites_need_in_declaration_order(
    tmp_path: Path,
) -> None:
    cfg = config(
        tmp_path,
        """\
        a: {command: "true", needs: [redis, postgres]}
        b: {command: "true", needs: [minio, redis, rabbit]}
        c: {command: "true", needs: [minio]}
        d: "true"
        """,
    )
    suites = cfg.suites
    assert names(plan_services(cfg, [suites["a"]])) == ["redis"]
    assert names(plan_services(cfg, [suites["c"], suites["a"]])) == ["redis", "minio"]
    assert names(plan_services(cfg, [suites["b"]])) == ["rabbit", "redis", "minio"]
    assert plan_services(cfg, [suites["d"]]) == []
    assert plan_services(cfg, []) == []


def test_plan_services_rejects_an_unknown_need(tmp_path: Path) -> None:
    cfg = config(tmp_path, 'a: "true"\n')
    stray = SuiteConfig(name="stray", command="true", needs=("postgres", "kafka"), workdir=tmp_path)
    with pytest.raises(ConfigError, match=r"stray need unknown service.*kafka"):
        plan_services(cfg, [stray])


def test_needs_naming_an_unknown_service_is_a_config_error_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"e2e.yaml:\d+: suites.a.needs\[0\]: unknown service"):
        config(tmp_path, 'a: {command: "true", needs: [rediss]}\n')


# -- tcp through a proxy: docker-proxy accepts before anything listens behind it -------------------


@contextmanager
def tcp_server(on_connection: Callable[[socket.socket], None]) -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            held.append(connection)
            on_connection(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


def test_proxy_that_closes_at_once_is_not_ready() -> None:
    with tcp_server(lambda connection: connection.close()) as port:
        why = proxied_tcp_ready("127.0.0.1", port, timeout=2.0)
    assert why is not None
    assert "nothing listens in the container yet" in why


def test_proxy_that_resets_is_not_ready() -> None:
    def reset(connection: socket.socket) -> None:
        linger = struct.pack("ii", 1, 0)  # close() sends a RST
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        connection.close()

    with tcp_server(reset) as port:
        assert proxied_tcp_ready("127.0.0.1", port, timeout=2.0) is not None


def test_silent_open_connection_is_ready() -> None:
    with tcp_server(lambda connection: None) as port:
        start = time.monotonic()
        assert proxied_tcp_ready("127.0.0.1", port, timeout=2.0, window=0.2) is None
        assert time.monotonic() - start < 1.5


def test_server_that_speaks_first_is_ready() -> None:
    with tcp_server(lambda connection: connection.sendall(b"220 hello\r\n")) as port:
        assert proxied_tcp_ready("127.0.0.1", port, timeout=2.0) is None


def test_nothing_listening_is_not_ready() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, never listening: connections are refused
        why = proxied_tcp_ready("127.0.0.1", port, timeout=1.0)
    assert why is not None
    assert f"127.0.0.1:{port}" in why


def test_is_local_address() -> None:
    assert is_local_address("127.0.0.1")
    assert not is_local_address("192.0.2.1")  # TEST-NET-1: never assigned here; nothing is sent


# -- http ------------------------------------------------------------------------------------------


@contextmanager
def http_server(status: int, location: str | None = None) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [200, 204, 301, 302, 307])
def test_http_2xx_and_3xx_are_ready(status: int) -> None:
    # A redirect is not followed: it points at a port where nothing listens.
    with http_server(status, location="http://127.0.0.1:9/elsewhere") as url:
        assert http_ready(url, timeout=2.0) is None


@pytest.mark.parametrize("status", [404, 500, 503])
def test_http_4xx_and_5xx_are_not_ready(status: int) -> None:
    with http_server(status) as url:
        assert http_ready(url, timeout=2.0) == f"GET {url}: HTTP {status}"


def test_http_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with http_server(200) as url:
        assert http_ready(url, timeout=2.0) is None


def test_http_nothing_listening_is_not_ready() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{placeholder.getsockname()[1]}/"
        why = http_ready(url, timeout=1.0)
    assert why is not None
    assert why.startswith(f"GET {url}: ")
