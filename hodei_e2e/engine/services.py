"""Extra service containers (Redis, RabbitMQ, ...) and their readiness.

`start_service` creates one service's container, hands it to `on_created` at once (so that it
is torn down even when it never gets ready), then polls its readiness check until it passes,
the container exits, or `startup_timeout` runs out. No threads here: the pipeline starts
Postgres and the services concurrently.

Readiness kinds:

- exec: the command runs inside the container (`docker exec`, detached and polled, so that a
  hanging command cannot hold the wait past its deadline); exit code 0 is ready.
- tcp: a connect to the published port is not enough, as Docker's userland proxy accepts on
  the host port before anything listens in the container (it then closes the connection at
  once). When the container's network is attached to this host (its gateway is one of this
  host's addresses: a local Linux engine), the check connects to the container's own address
  instead, where a refusal is definitive. Elsewhere (Docker Desktop, a remote engine) it
  connects through the published port and counts a connection that the other side closes or
  resets within `PROXY_WINDOW` as "nothing listens yet"; one that stays open, or that sends
  data, is ready.
- http: a GET of the URL (templates `{host}`, `{port}`, `{port.N}`, `{name}`), without
  proxies or redirects; a 2xx or 3xx status is ready.
- none given: the container runs and, when it publishes ports, the tcp check on the first.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hodei_e2e.config import Config, ReadyCheck, ServiceConfig, SuiteConfig
from hodei_e2e.engine.docker import ContainerInfo, ContainerSpec, Engine, NameConflict
from hodei_e2e.engine.poll import NotYet, poll
from hodei_e2e.errors import ConfigError, InfrastructureError, last_lines
from hodei_e2e.suites.environment import render

POLL_INTERVAL = 0.05  # seconds between two failed checks
CHECK_TIMEOUT = 2.0  # at most this long for one check
PROGRESS_EVERY = 5.0  # seconds between two "not ready yet" reports
PROXY_WINDOW = 0.25  # a proxied connection closed within this long: nothing listens yet
LOG_LINES = 30

Probe = Callable[[float], str | None]  # timeout -> None when ready, else why not
Progress = Callable[[float, str], None]  # (seconds waited, why not ready yet)


@dataclass(frozen=True)
class ServiceHandle:
    """A service that is ready."""

    name: str
    container: ContainerInfo
    host: str
    ports: Mapping[int, int]  # container port -> published host port
    started: float  # unix time when creation began
    ready_at: float  # unix time when the check first passed
    templates: Mapping[str, str] = field(default_factory=dict)  # the service's `exports`

    @property
    def startup_seconds(self) -> float:
        return self.ready_at - self.started

    def template_values(self) -> dict[str, str]:
        """`{host}`, `{name}`, `{port}` (the first port) and `{port.N}` for each port."""
        return _template_values(self.name, self.host, self.ports)

    def exports(self, template_values: Mapping[str, str] = {}) -> dict[str, str]:
        """The service's `exports`, rendered; the service's own values win over the given."""
        values = {**template_values, **self.template_values()}
        return {
            key: render(template, values, f"services.{self.name}.exports.{key}")
            for key, template in self.templates.items()
        }


def plan_services(config: Config, suites: Sequence[SuiteConfig]) -> list[ServiceConfig]:
    """The services the selected suites need, in declaration order."""
    needed = {name for suite in suites for name in suite.needs if name != "postgres"}
    unknown = sorted(needed - set(config.services))
    if unknown:
        users = [s.name for s in suites if set(s.needs) & set(unknown)]
        raise ConfigError(
            f"{config.path}: suites {', '.join(users)} need unknown service(s) "
            f"{', '.join(unknown)}; declared: {', '.join(config.services) or 'none'}"
        )
    return [service for name, service in config.services.items() if name in needed]


def start_service(
    engine: Engine,
    service: ServiceConfig,
    labels: Mapping[str, str],
    *,
    on_created: Callable[[ContainerInfo], None],
    name: str | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
) -> ServiceHandle:
    """Create the service's container and wait until its readiness check passes.

    Raises `InfrastructureError` naming the service, with its last log lines as the detail,
    when it exits or is not ready within `startup_timeout`; `ConfigError` for a bad template;
    `NameConflict` when `name` is taken.
    """
    _check_templates(service)
    started = time.time()
    spec = ContainerSpec(
        image=service.image,
        labels=labels,
        command=service.command,
        environment=service.environment,
        ports=service.ports,
        name=name,
    )
    try:
        container = engine.create(spec)
    except NameConflict:
        raise
    except InfrastructureError as error:
        raise InfrastructureError(
            f"service {service.name}: {error.message}", detail=error.detail
        ) from None
    on_created(container)
    return await_service(
        engine,
        service,
        container,
        service.startup_timeout,
        started=started,
        cancelled=cancelled,
        progress=progress,
    )


def await_service(
    engine: Engine,
    service: ServiceConfig,
    container: ContainerInfo,
    timeout: float,
    *,
    started: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
) -> ServiceHandle:
    """Poll the readiness check of the service in `container` for up to `timeout` seconds,
    telling `progress` every `PROGRESS_EVERY` seconds why it is not ready yet."""
    _check_templates(service)
    started = time.time() if started is None else started
    deadline = time.monotonic() + timeout
    try:
        ports = {port: engine.published_port(container.id, port) for port in service.ports}
    except InfrastructureError as error:  # it exited before its ports were published
        exited = _exit_of(engine, container)
        raise _failure(engine, service, container, error.message, exited) from None
    check = _Readiness(engine, service, container, ports, started)

    def timed_out(why: str) -> ServiceHandle:
        raise _failure(engine, service, container, why, timeout=timeout)

    def report(_waited: float, why: str) -> None:
        if progress is not None:
            progress(time.time() - started, why)

    return poll(
        check.attempt,
        timeout=max(0.0, deadline - time.monotonic()),
        interval=POLL_INTERVAL,
        what=f"service {service.name}",
        cancelled=cancelled,
        progress=report,
        progress_every=PROGRESS_EVERY,
        on_timeout=timed_out,
    )


class _Readiness:
    """One service's readiness check, as `poll` asks it: the handle once it passes; why not
    (`NotYet`); or the failure, when the container has ended."""

    def __init__(
        self,
        engine: Engine,
        service: ServiceConfig,
        container: ContainerInfo,
        ports: Mapping[int, int],
        started: float,
    ) -> None:
        self.engine, self.service, self.container = engine, service, container
        self.ports, self.started = ports, started
        self.probe = _probe(engine, service, container.id, ports)

    def attempt(self, left: float) -> ServiceHandle:
        why = self.probe(max(0.2, min(CHECK_TIMEOUT, left)))
        if why is None:
            return ServiceHandle(
                name=self.service.name,
                container=self.container,
                host=self.engine.host,
                ports=self.ports,
                started=self.started,
                ready_at=time.time(),
                templates=self.service.exports,
            )
        exited = _exit_of(self.engine, self.container)
        if exited is not None:
            raise _failure(self.engine, self.service, self.container, why, exited)
        raise NotYet(why)


def _exit_of(engine: Engine, container: ContainerInfo) -> str | None:
    """How the container ended, or None while it runs."""
    state = engine.container_state(container.id)
    if state is None:
        return "it is gone"
    if state.exit_code is not None or state.status in ("exited", "dead"):
        return f"exit code {state.exit_code}"
    return None


def _failure(
    engine: Engine,
    service: ServiceConfig,
    container: ContainerInfo,
    last: str,
    exited: str | None = None,
    *,
    timeout: float | None = None,
) -> InfrastructureError:
    if timeout is not None:
        message = f"service {service.name} was not ready after {timeout:g}s ({last})"
    else:
        how = f" ({exited})" if exited else ""
        message = f"service {service.name} exited{how} before it was ready ({last})"
    logs = engine.logs_tail(container.id, LOG_LINES)
    detail = last_lines(f"last log lines of {service.name}", logs, LOG_LINES)
    return InfrastructureError(message, detail=detail)


# -- Templates -------------------------------------------------------------------------------------


def _template_values(name: str, host: str, ports: Mapping[int, int]) -> dict[str, str]:
    values = {"host": host, "name": name}
    for index, (container_port, host_port) in enumerate(ports.items()):
        if index == 0:
            values["port"] = str(host_port)
        values[f"port.{container_port}"] = str(host_port)
    return values


def _check_templates(service: ServiceConfig) -> None:
    """A bad `ready.http` template is a config error before anything starts."""
    if service.ready is not None and service.ready.http is not None:
        dummy = _template_values(service.name, "127.0.0.1", dict.fromkeys(service.ports, 1))
        render(service.ready.http, dummy, f"services.{service.name}.ready.http")


# -- Readiness checks ------------------------------------------------------------------------------


def _probe(
    engine: Engine, service: ServiceConfig, container_id: str, ports: Mapping[int, int]
) -> Probe:
    ready = service.ready or _default_ready(service)
    if ready.exec is not None:
        return _ExecProbe(engine, container_id, ready.exec)
    if ready.tcp is not None:
        return _TcpProbe(engine, container_id, ready.tcp, ports[ready.tcp])
    if ready.http is not None:
        values = _template_values(service.name, engine.host, ports)
        url = render(ready.http, values, f"services.{service.name}.ready.http")
        return lambda timeout: http_ready(url, timeout)
    return _RunningProbe(engine, container_id)


def _default_ready(service: ServiceConfig) -> ReadyCheck:
    return ReadyCheck(tcp=service.ports[0]) if service.ports else ReadyCheck()


class _RunningProbe:
    def __init__(self, engine: Engine, container_id: str) -> None:
        self.engine = engine
        self.container_id = container_id

    def __call__(self, _timeout: float) -> str | None:
        state = self.engine.container_state(self.container_id)
        status = state.status if state else "gone"
        return None if status == "running" else f"container {status}"


class _ExecProbe:
    def __init__(self, engine: Engine, container_id: str, command: Sequence[str]) -> None:
        self.engine = engine
        self.container_id = container_id
        self.command = tuple(command)

    def __call__(self, timeout: float) -> str | None:
        code, why = self.engine.exec_probe(self.container_id, self.command, timeout)
        if code == 0:
            return None
        shown = " ".join(self.command)
        return f"`{shown}` exited {code}" if code is not None else f"`{shown}`: {why}"


class _TcpProbe:
    """See the module's docstring for why a connect to the published port is not enough."""

    def __init__(self, engine: Engine, container_id: str, port: int, host_port: int) -> None:
        self.engine = engine
        self.container_id = container_id
        self.port = port
        self.host_port = host_port
        self.direct: str | None = None  # the container's address, when this host routes to it
        self.looked = False

    def __call__(self, timeout: float) -> str | None:
        if not self.looked:
            self.looked = True
            state = self.engine.container_state(self.container_id)
            local = not self.engine.remote  # a remote bridge may reuse this host's subnets
            if local and state and state.ip_address and state.gateway:
                self.direct = state.ip_address if is_local_address(state.gateway) else None
        if self.direct is not None:
            why = tcp_connects(self.direct, self.port, timeout)
            if why is not None:
                return f"{self.direct}:{self.port} (in the container): {why}"
            host = self.engine.host
            why = tcp_connects(host, self.host_port, timeout)  # and the published port works
            return None if why is None else f"{host}:{self.host_port}: {why}"
        return proxied_tcp_ready(self.engine.host, self.host_port, timeout)


def is_local_address(address: str) -> bool:
    """Whether `address` belongs to this host (binding to it succeeds); sends nothing."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


def tcp_connects(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:
        return _os_error(error)


def proxied_tcp_ready(
    host: str, port: int, timeout: float, window: float = PROXY_WINDOW
) -> str | None:
    """Ready when a connection to `host:port` is accepted and not closed or reset at once."""
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        return f"{host}:{port}: {_os_error(error)}"
    with connection:
        connection.settimeout(min(window, timeout))
        try:
            data = connection.recv(1)
        except TimeoutError:
            return None  # open and silent: a server that waits for its client to speak
        except OSError as error:
            return f"{host}:{port}: {_os_error(error)} (nothing listens in the container yet)"
    if data:
        return None
    return f"{host}:{port}: closed at once (nothing listens in the container yet)"


def http_ready(url: str, timeout: float) -> str | None:
    """Ready on a 2xx or 3xx answer to a GET of `url`; redirects are not followed."""
    import http.client
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_args: object, **_kwargs: object) -> None:
            return None

    if not url.startswith(("http://", "https://")):
        return f"GET {url}: not an http:// or https:// URL"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - the scheme is checked
    try:
        with opener.open(request, timeout=timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as error:
        status = int(error.code)
    except urllib.error.URLError as error:
        reason = error.reason
        return f"GET {url}: {_os_error(reason) if isinstance(reason, OSError) else reason}"
    except (OSError, http.client.HTTPException) as error:
        return f"GET {url}: {_os_error(error) if isinstance(error, OSError) else error!r}"
    return None if 200 <= status < 400 else f"GET {url}: HTTP {status}"


def _os_error(error: OSError) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return error.strerror or str(error) or type(error).__name__
