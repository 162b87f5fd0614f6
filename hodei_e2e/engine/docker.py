"""The one module that talks to the Docker engine.

Everything else sees `Engine`, `ContainerSpec` and `ContainerInfo`; only this module imports the
Docker SDK (lazily: it costs a quarter of a second to import).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from hodei_e2e.engine.endpoint import (
    DEFAULT_SOCKET,
    Endpoint,
    engine_remedy,
    is_loopback,
    local_address_toward,
    published_host,
    resolve_endpoint,
)
from hodei_e2e.engine.poll import NotYet, poll
from hodei_e2e.errors import (
    E2EError,
    InfrastructureError,
    PrerequisiteError,
    first_line,
    last_lines,
)

API_VERSION = "1.41"
PUBLISH_TIMEOUT = 2.0  # seconds for a started container's ports to be published (~50 looks)


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    labels: Mapping[str, str]
    command: Sequence[str] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    ports: Sequence[int] = ()  # container ports, published at random ports (Engine.bind_address)
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    extra_hosts: Mapping[str, str] = field(default_factory=dict)
    entrypoint: Sequence[str] | None = None  # None: the image's


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    status: str  # created, running, exited, ...
    labels: Mapping[str, str]
    created: float  # unix seconds
    image_id: str = ""  # the image it was created from, by id ("" when unknown)

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class Removal:
    id: str
    name: str
    error: str | None = None  # None: removed, or already gone


class NameConflict(InfrastructureError):
    """A container with that name exists already (another run is creating it)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a container named {name} exists already")
        self.name = name


class EngineUnreachable(PrerequisiteError):
    """No engine answers at `where` (or its docker context is not defined): `reason` says what
    happened, `remedy` what to do (`engine_remedy`)."""

    def __init__(self, where: Endpoint, reason: str, remedy: str) -> None:
        if where.url:
            message = "Docker engine not reachable"
            detail = f"The Docker engine at {where.describe()} did not answer: {reason}\n{remedy}"
        else:
            message, detail = reason, remedy
        super().__init__(message, detail=detail)
        self.where = where
        self.reason = reason
        self.remedy = remedy


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]  # empty: dangling
    labels: Mapping[str, str]


@dataclass(frozen=True)
class BuildOptions:
    tag: str
    dockerfile: str  # its name inside the context tar
    labels: Mapping[str, str]
    buildargs: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    nocache: bool = False
    pull: bool = False
    buildkit: bool = False  # the engine's BuildKit (`version=2`), else the classic builder
    build_id: str = ""  # BuildKit: the id `POST /build/cancel` stops it by
    cache_from: tuple[str, ...] = ()  # images whose inline cache BuildKit may reuse


CANCEL_DRAIN = 15.0  # seconds to wait for a cancelled BuildKit build's stream to end


class BuildStream:
    """The decoded messages of a running build; closing it before the end stops the build.

    Both builders stop when the connection drops (the engine cancels the request; checked on
    20.10 with a RUN step in progress). An unfinished BuildKit build is also cancelled by its
    id (`POST /build/cancel`, what the docker CLI does), for a connection that a proxy between
    us and the engine keeps open, and its stream is read to the end (bounded by CANCEL_DRAIN),
    so that no tag appears after the caller has removed the temporary one.
    """

    def __init__(self, response: Any, cancel: Callable[[], None] | None = None) -> None:
        self._response = response
        self._cancel = cancel
        self._ended = False

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        from docker.utils.json_stream import json_stream

        try:
            for message in json_stream(self._response.iter_content(chunk_size=None)):
                if isinstance(message, Mapping):
                    yield message
        except E2EError:
            raise
        except Exception as error:  # noqa: BLE001 - requests/urllib3 errors of a dropped stream
            raise InfrastructureError(f"lost the engine during the build: {error}") from None
        self._ended = True

    def close(self) -> None:
        if not self._ended and self._cancel is not None:
            self._cancel_and_drain(self._cancel)
        self._response.close()

    def _cancel_and_drain(self, cancel: Callable[[], None]) -> None:
        try:
            cancel()
            _set_read_timeout(self._response, CANCEL_DRAIN)
            deadline = time.monotonic() + CANCEL_DRAIN
            for _chunk in self._response.iter_content(chunk_size=None):
                if time.monotonic() > deadline:
                    break
        except Exception:  # noqa: BLE001,S110 - best effort: the caller removes what is left
            pass

    def __enter__(self) -> BuildStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# Podman names an image built or loaded without a registry `localhost/NAME`, and spells Docker
# Hub's out in full; Docker says `NAME` and `redis:7`. The tool compares names as Docker says them.
_IMPLIED_PREFIXES = ("localhost/", "docker.io/library/", "docker.io/")


def docker_name(reference: str) -> str:
    """An image reference as Docker spells it: `localhost/x:1` and `docker.io/library/x:1` are
    `x:1`. A digest or an id is left as it is."""
    if reference.startswith("sha256:") or "@" in reference:
        return reference
    for prefix in _IMPLIED_PREFIXES:
        if reference.startswith(prefix):
            return reference.removeprefix(prefix)
    return reference


def same_image_name(a: str, b: str) -> bool:
    """`a` and `b` name the same image, whichever engine spelled them (a missing tag is
    `latest`)."""
    return split_reference(docker_name(a)) == split_reference(docker_name(b))


def split_reference(reference: str) -> tuple[str, str]:
    """`repo[:tag]` into (repo, tag); a registry port is not a tag; no tag means `latest`."""
    head, _, last = reference.rpartition("/")
    if ":" in last:
        name, _, tag = last.partition(":")
        return (f"{head}/{name}" if head else name), tag
    return reference, "latest"


def _created(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    from datetime import datetime

    text = str(value).rstrip("Z")
    if "." in text:  # the engine gives nanoseconds; datetime takes microseconds
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(text + "+00:00").timestamp()


class Engine:
    """A connected Docker engine (or Podman's Docker-compatible API)."""

    def __init__(self, client: Any, where: Endpoint, environ: Mapping[str, str]) -> None:
        """Made by `connect` only."""
        self._client = client
        self._api = client.api
        self._version: str | None = None
        self._podman = False  # Podman's API answered the ping (Libpod-API-Version)
        self.endpoint = where
        # Where this machine reaches the ports the engine publishes (HODEI_E2E_HOST overrides).
        self.host = published_host(where, environ)

    @property
    def bind_address(self) -> str:
        """Where the engine publishes ports: loopback when they are reached on loopback, else
        every address of the engine's host (a remote engine's 127.0.0.1 is not this one's)."""
        return "127.0.0.1" if is_loopback(self.host) else "0.0.0.0"

    @property
    def remote(self) -> bool:
        return self.endpoint.remote

    @classmethod
    def connect(cls, timeout: float = 60.0, environ: Mapping[str, str] | None = None) -> Engine:
        """The engine the docker CLI would use (`resolve_endpoint`: DOCKER_HOST with its TLS
        variables, else the current docker context with its TLS files, else the default
        socket), connected and answering a ping: the one way every command, the watchdog and
        the scripts reach the engine. Raises `EngineUnreachable` (exit 3) with the remedy."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        environ = os.environ if environ is None else environ
        where = resolve_endpoint(environ)
        if not where.url:
            raise EngineUnreachable(
                where,
                f"the docker context '{where.context}' is not defined",
                "List them with `docker context ls`; `docker context use default`, or unset "
                "DOCKER_CONTEXT.",
            )
        engine: Engine | None = None
        try:
            engine = cls(_client(where, environ, timeout), where, environ)
            engine._ping()
        except (DockerException, RequestException, OSError) as error:
            if engine is not None:
                engine.close()
            reason = first_line(getattr(error, "explanation", None) or error, type(error).__name__)
            raise EngineUnreachable(where, reason[:300], engine_remedy(where, error)) from None
        return engine

    def close(self) -> None:
        self._client.close()

    # -- facts about the engine ---------------------------------------------------------------

    def info(self) -> Mapping[str, Any]:
        return dict(self._client.info())

    def _ping(self) -> None:
        """The cheapest round trip (`/version` asks containerd as well, ten times slower); a
        Docker engine names its version in the answer's `Server` header."""
        response = self._api._get(self._api._url("/_ping"))
        response.raise_for_status()
        found = re.match(r"Docker/(\S+)", response.headers.get("Server", ""))
        if found:
            self._version = found.group(1)
        elif response.headers.get("Libpod-API-Version"):
            self._version = str(response.headers["Libpod-API-Version"])
            self._podman = True

    def server_version(self) -> str:
        if self._version is None:
            self._version = str(self._client.version().get("Version", "unknown"))
        return self._version

    def bridge_gateway(self) -> str | None:
        try:
            network = self._api.inspect_network("bridge")
        except Exception:  # noqa: BLE001 - any failure means "not known"
            return None
        for entry in (network.get("IPAM") or {}).get("Config") or []:
            if entry.get("Gateway"):
                return str(entry["Gateway"])
            if entry.get("Subnet"):  # older engines leave the default gateway implicit
                import ipaddress

                return str(next(ipaddress.ip_network(entry["Subnet"], strict=False).hosts()))
        return None

    def is_desktop(self) -> bool:
        """Docker Desktop (macOS, Windows, or its Linux VM) provides host.docker.internal.
        Decided without a round trip: by platform, else by the endpoint's name."""
        import platform

        return platform.system() in ("Darwin", "Windows") or "desktop" in self.endpoint.url

    def kind(self, info: Mapping[str, Any] | None = None) -> EngineKind:
        """Docker or Podman, rootless or not, on this machine or remote (from `info()`)."""
        info = self.info() if info is None else info
        version: Mapping[str, Any] = {}
        try:
            version = dict(self._client.version())
        except Exception:  # noqa: BLE001 - an engine that will not say is taken for Docker
            version = {}
        components = {str(c.get("Name", "")) for c in version.get("Components") or ()}
        podman = self._podman = self._podman or any("podman" in n.lower() for n in components)
        options = " ".join(str(option) for option in info.get("SecurityOptions") or ())
        rootless = "rootless" in options or bool(
            ((info.get("Host") or {}).get("Security") or {}).get("Rootless")
        )
        return EngineKind(
            name="Podman" if podman else "Docker",
            version=str(version.get("Version") or info.get("ServerVersion") or "unknown"),
            rootless=rootless,
            remote=self.remote,
        )

    def is_rootless(self) -> bool:
        """A rootless engine (dockerd-rootless, rootless Podman): its bridge is inside a user
        namespace of its own, so the bridge's gateway is not an address of this machine.
        The system socket is a rootful engine's: asked only for another socket."""
        if self.remote or self.endpoint.url in (
            f"unix://{DEFAULT_SOCKET}",
            "unix:///run/docker.sock",
        ):
            return False
        options = " ".join(str(option) for option in self.info().get("SecurityOptions") or ())
        return "rootless" in options

    def local_address_toward(self) -> str | None:
        """This machine's address on the route to a remote engine's host (what its containers
        can call back to, when that host routes to us); None for a local engine."""
        return local_address_toward(self.endpoint.hostname) if self.remote else None

    # -- images --------------------------------------------------------------------------------

    def image_id(self, tag: str) -> str | None:
        info = self.image_info(tag)
        return info.id if info else None

    def pull(self, image: str) -> None:
        from docker.errors import DockerException

        repository, tag = split_reference(image)
        try:
            self._api.pull(repository, tag=tag)
        except DockerException as error:
            raise InfrastructureError(
                f"image {image} is not on this engine and cannot be pulled",
                detail=f"{error}\nBuild it locally (scripts/bootstrap builds the offline images) "
                "or point the config at a tag this engine has.",
            ) from None

    def image_info(self, reference: str) -> ImageInfo | None:
        """Id, tags and labels of an image (by tag or id), or None when the engine lacks it."""
        from docker.errors import ImageNotFound

        try:
            attrs = self._api.inspect_image(reference)
        except ImageNotFound:
            return None
        return ImageInfo(
            id=str(attrs["Id"]),
            tags=tuple(docker_name(str(tag)) for tag in attrs.get("RepoTags") or ()),
            labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        )

    def tag_image(self, source: str, target: str) -> None:
        repository, tag = split_reference(target)
        self._api.tag(source, repository, tag)

    def remove_image(self, image: str) -> None:
        from docker.errors import APIError, NotFound

        try:
            self._api.remove_image(image, noprune=False)
        except NotFound:
            pass
        except APIError as error:
            if "being used" not in str(error) and "conflict" not in str(error).lower():
                raise

    def build(self, context: IO[bytes], options: BuildOptions) -> BuildStream:
        """Start a build from a tar `context`, through BuildKit (`options.buildkit`) or the
        classic builder; the returned stream yields the engine's decoded messages, and closing
        it before the end cancels the build."""
        import json

        from docker.errors import APIError

        params: dict[str, Any] = {
            "t": options.tag,
            "dockerfile": options.dockerfile,
            "rm": True,
            "forcerm": True,
            "nocache": options.nocache,
            "pull": options.pull,
            "labels": json.dumps(dict(options.labels)),
        }
        if options.buildargs:
            params["buildargs"] = json.dumps(dict(options.buildargs))
        if options.target:
            params["target"] = options.target
        params.update(_buildkit_params(options))
        headers = {"Content-Type": "application/tar"}
        self._api._set_auth_headers(headers)  # registry credentials for FROM, as docker-py does
        try:
            response = self._api._post(
                self._api._url("/build"),
                data=context,
                params=params,
                headers=headers,
                stream=True,
                timeout=None,  # a step may be silent for a long time
            )
            self._api._raise_for_status(response)
        except APIError as error:
            raise InfrastructureError(str(error.explanation or error)) from None
        except E2EError:
            raise
        except Exception as error:  # noqa: BLE001 - requests' connection errors
            raise InfrastructureError(f"the engine did not take the build: {error}") from None
        build_id = options.build_id
        cancel = (lambda: self.cancel_build(build_id)) if options.buildkit and build_id else None
        return BuildStream(response, cancel)

    def cancel_build(self, build_id: str) -> None:
        """Stop a BuildKit build started with `build_id` (a no-op once it has ended)."""
        response = self._api._post(
            self._api._url("/build/cancel"), params={"id": build_id}, timeout=10
        )
        response.close()

    def builder_facts(self) -> BuilderFacts:
        """What decides the builder: the ping's `Builder-Version` header (the engine's own
        default, absent on engines that predate it or leave it unset) and `/version`."""
        response = self._api._get(self._api._url("/_ping"))
        response.raise_for_status()
        version = dict(self._client.version())
        components = version.get("Components") or [{}]
        return BuilderFacts(
            engine=str(components[0].get("Name") or "Engine"),
            version=str(version.get("Version") or "unknown"),
            os_type=str(version.get("Os") or response.headers.get("OSType") or ""),
            api_version=str(version.get("ApiVersion") or response.headers.get("API-Version") or ""),
            default_builder=response.headers.get("Builder-Version") or None,
            server=response.headers.get("Server", ""),
        )

    def images(
        self, labels: Mapping[str, str] | Iterable[str], *, dangling: bool | None = None
    ) -> list[Mapping[str, Any]]:
        filters: dict[str, Any] = {"label": _label_filters(labels)}
        if dangling is not None:
            filters["dangling"] = dangling
        return list(self._api.images(filters=filters))

    # -- containers ----------------------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start a container; the image is pulled when the engine lacks it."""
        from docker.errors import ImageNotFound

        try:
            return self._create(spec)
        except ImageNotFound:
            self.pull(spec.image)
            return self._create(spec)

    def _create(self, spec: ContainerSpec) -> ContainerInfo:
        from docker.errors import APIError, ImageNotFound

        host_config = self._api.create_host_config(
            port_bindings=dict.fromkeys(spec.ports, (self.bind_address, None)),
            tmpfs=dict(spec.tmpfs) or None,
            extra_hosts=dict(spec.extra_hosts) or None,
        )
        try:
            created = self._api.create_container(
                spec.image,
                command=list(spec.command) if spec.command is not None else None,
                environment=dict(spec.environment),
                labels=dict(spec.labels),
                ports=list(spec.ports),
                host_config=host_config,
                name=spec.name,
                detach=True,
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
            )
        except ImageNotFound:
            raise
        except APIError as error:
            if error.status_code == 409 and spec.name:
                raise NameConflict(spec.name) from None
            raise InfrastructureError(
                f"cannot create a container from {spec.image}", detail=str(error)
            ) from None
        container_id = str(created["Id"])
        try:
            self._api.start(container_id)
        except APIError as error:
            self.remove([container_id])
            hint = engine_hint(str(error))
            raise InfrastructureError(
                f"cannot start a container from {spec.image}",
                detail=str(error) + (f"\n{hint}" if hint else ""),
            ) from None
        return self.inspect(container_id)

    def inspect(self, container_id: str) -> ContainerInfo:
        attrs = self._api.inspect_container(container_id)
        return ContainerInfo(
            id=str(attrs["Id"]),
            name=str(attrs["Name"]).lstrip("/"),
            image=docker_name(str(attrs["Config"]["Image"])),
            status=str(attrs["State"]["Status"]),
            labels=dict(attrs["Config"].get("Labels") or {}),
            created=_created(attrs["Created"]),
            image_id=str(attrs.get("Image") or ""),
        )

    def find(self, container_id: str) -> ContainerInfo | None:
        from docker.errors import NotFound

        try:
            return self.inspect(container_id)
        except NotFound:
            return None

    def published_port(self, container_id: str, port: int) -> int:
        """The host port that `port/tcp` of a running container is published on."""
        from docker.errors import NotFound

        def published(_left: float) -> int:
            try:
                attrs = self._api.inspect_container(container_id)
            except NotFound:
                raise InfrastructureError(
                    f"container {container_id[:12]} disappeared while starting"
                ) from None
            bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp")
            if bindings:
                return int(bindings[0]["HostPort"])
            state = attrs.get("State") or {}
            if state.get("Status") not in ("created", "running", "restarting"):
                raise InfrastructureError(
                    f"{attrs['Config']['Image']} exited before it was ready "
                    f"(exit code {state.get('ExitCode')})",
                    detail=last_lines("last log lines", self.logs_tail(container_id, 30)),
                )
            raise NotYet("not published yet")

        def unpublished(_why: str) -> int:
            raise InfrastructureError(f"container {container_id[:12]} did not publish port {port}")

        return poll(published, timeout=PUBLISH_TIMEOUT, interval=0.02, on_timeout=unpublished)

    def containers(
        self, labels: Mapping[str, str] | Iterable[str], *, all: bool = True
    ) -> list[ContainerInfo]:
        """Containers that carry every label given (`key=value` or just `key`)."""
        wanted = _label_filters(labels)
        found = self._api.containers(all=all, filters={"label": wanted} if wanted else None)
        return [
            ContainerInfo(
                id=str(entry["Id"]),
                name=str((entry.get("Names") or ["/"])[0]).lstrip("/"),
                image=docker_name(str(entry.get("Image", ""))),
                status=str(entry.get("State", "")),
                labels=dict(entry.get("Labels") or {}),
                created=float(entry.get("Created", 0)),
                image_id=str(entry.get("ImageID") or ""),
            )
            for entry in found
        ]

    def logs_tail(self, container_id: str, lines: int = 40) -> str:
        from docker.errors import DockerException

        try:
            raw = self._api.logs(container_id, stdout=True, stderr=True, tail=lines)
        except DockerException as error:
            return f"(no logs: {error})"
        return bytes(raw).decode("utf-8", errors="replace")

    def exec(self, container_id: str, command: Sequence[str]) -> tuple[int, str]:
        created = self._api.exec_create(container_id, list(command), stdout=True, stderr=True)
        output = self._api.exec_start(created["Id"])
        code = self._api.exec_inspect(created["Id"]).get("ExitCode")
        return (int(code) if code is not None else -1), bytes(output).decode(errors="replace")

    def remove(self, ids: Sequence[str], *, parallel: int = 8) -> list[Removal]:
        """Force-remove containers (and their anonymous volumes) in parallel.

        A container that is already gone, or already being removed, counts as removed.
        """
        if not ids:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(ids)))) as pool:
            return list(pool.map(self._remove_one, ids))

    def _remove_one(self, container_id: str) -> Removal:
        from docker.errors import APIError, NotFound

        try:
            self._api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except APIError as error:
            text = str(error)
            if "already in progress" not in text and "No such container" not in text:
                return Removal(container_id, container_id[:12], text)
        return Removal(container_id, container_id[:12])

    # -- services and doctor -------------------------------------------------------------------

    def container_state(self, container_id: str) -> ContainerState | None:
        """Status, exit code and address of a container, or None when it is gone."""
        from docker.errors import NotFound

        try:
            attrs = self._api.inspect_container(container_id)
        except NotFound:
            return None
        state = attrs.get("State") or {}
        network = attrs.get("NetworkSettings") or {}
        first: Mapping[str, Any] = next(
            (n for n in (network.get("Networks") or {}).values() if n.get("IPAddress")), {}
        )
        address = network.get("IPAddress") or first.get("IPAddress")
        gateway = network.get("Gateway") or first.get("Gateway")
        running = state.get("Status") in ("running", "created", "restarting")
        code = state.get("ExitCode")
        return ContainerState(
            status=str(state.get("Status", "")),
            exit_code=None if running or code is None else int(code),
            ip_address=str(address) if address else None,
            gateway=str(gateway) if gateway else None,
        )

    def exec_probe(
        self, container_id: str, command: Sequence[str], timeout: float
    ) -> tuple[int | None, str]:
        """Run `command` inside a running container, waiting at most `timeout` seconds.

        Returns (exit code, "") or (None, why) when it could not run or did not finish in time
        (it is then left to end on its own). Detached and polled, so that a hanging command
        cannot hold the caller past its deadline; its output is not kept. With Podman, whose
        version 4 reports a detached exec as running long after it ended, attached instead,
        its stream read with the same deadline.
        """
        from docker.errors import DockerException

        deadline = time.monotonic() + timeout
        late = None, f"still running after {timeout:.3g}s"
        try:
            attach = self._podman
            created = self._api.exec_create(
                container_id, list(command), stdout=attach, stderr=attach
            )
            if not attach:
                self._api.exec_start(created["Id"], detach=True)
            elif not _read_to_end(self._api.exec_start(created["Id"], socket=True), deadline):
                return late

            def ended(_left: float) -> tuple[int | None, str]:
                state = self._api.exec_inspect(created["Id"])
                if not state.get("Running") and state.get("ExitCode") is not None:
                    return int(state["ExitCode"]), ""
                raise NotYet("still running")

            # the stream ended with the command; its exit code follows
            return poll(
                ended,
                timeout=max(0.0, deadline - time.monotonic()),
                interval=0.005,
                max_interval=0.05,
                on_timeout=lambda _why: late,
            )
        except (DockerException, OSError) as error:
            return None, first_line(getattr(error, "explanation", None) or error, "unknown error")

    def image_pullable(self, image: str) -> str | None:
        """None when a registry has `image` (asked without pulling it), else why not."""
        from docker.errors import DockerException

        try:
            self._api.inspect_distribution(image)
        except DockerException as error:
            return first_line(getattr(error, "explanation", None) or error, "unknown error")
        return None

    # -- networks and volumes ------------------------------------------------------------------

    def networks(self, labels: Mapping[str, str] | Iterable[str]) -> list[Mapping[str, Any]]:
        return list(self._api.networks(filters={"label": _label_filters(labels)}))

    def volumes(self, labels: Mapping[str, str] | Iterable[str]) -> list[Mapping[str, Any]]:
        found = self._api.volumes(filters={"label": _label_filters(labels)})
        return list((found or {}).get("Volumes") or [])

    def remove_network(self, network_id: str) -> str | None:
        from docker.errors import APIError, NotFound

        try:
            self._api.remove_network(network_id)
        except NotFound:
            return None
        except APIError as error:
            return str(error)
        return None

    def remove_volume(self, name: str) -> str | None:
        from docker.errors import APIError, NotFound

        try:
            self._api.remove_volume(name, force=True)
        except NotFound:
            return None
        except APIError as error:
            return str(error)
        return None


_TLS_FILES = ("ca.pem", "cert.pem", "key.pem")  # in a docker context's TLS directory


def _client(where: Endpoint, environ: Mapping[str, str], timeout: float) -> Any:
    """A docker SDK client for `where` (no round trip yet)."""
    import docker

    # A fixed API version saves the round trip that "auto" makes (1.41 is Docker 20.10 and
    # Podman 4; newer engines still speak it).
    if where.source == "DOCKER_HOST":  # DOCKER_TLS_VERIFY and DOCKER_CERT_PATH apply too
        return docker.from_env(timeout=int(timeout), environment=dict(environ), version=API_VERSION)
    tls: Any = False
    if where.tls_dir:
        from docker.tls import TLSConfig

        files = {name: os.path.join(where.tls_dir, name) for name in _TLS_FILES}
        have = {name: path for name, path in files.items() if os.path.isfile(path)}
        cert = (have["cert.pem"], have["key.pem"]) if "cert.pem" in have else None
        tls = TLSConfig(
            client_cert=cert, ca_cert=have.get("ca.pem"), verify=not where.skip_tls_verify
        )
    return docker.DockerClient(
        base_url=where.url, tls=tls, timeout=int(timeout), version=API_VERSION
    )


def _read_to_end(stream: Any, deadline: float) -> bool:
    """Read a hijacked exec stream until it ends (True) or `deadline` passes (False)."""
    raw = getattr(stream, "_sock", stream)
    try:
        while (left := deadline - time.monotonic()) > 0:
            raw.settimeout(left)
            if not raw.recv(65536):
                return True
        return False
    except TimeoutError:
        return False
    finally:
        stream.close()


def engine_hint(error: str) -> str | None:
    """The remedy for an engine-specific failure to start a container, when it is a known one."""
    if "error setting rlimit" in error:
        return (
            "The engine sets a container resource limit (ulimit) above what this machine "
            "allows, as Podman does with its default open-file limit on sandboxed machines: "
            "put `default_ulimits = []` under [containers] in containers.conf "
            "(/etc/containers/containers.conf, or the file $CONTAINERS_CONF names) and restart "
            "`podman system service`; with Docker, lower `default-ulimits` in daemon.json."
        )
    return None


@dataclass(frozen=True)
class BuilderFacts:
    """What the engine says about its builders (see `Engine.builder_facts`)."""

    engine: str  # the first component of /version: "Engine" (Docker), "Podman Engine", ...
    version: str  # "20.10.24+dfsg1"
    os_type: str  # "linux", "windows"
    api_version: str  # "1.41"
    default_builder: str | None  # ping's Builder-Version: "2" BuildKit, "1" classic, None
    server: str = ""  # the ping's Server header: "Docker/20.10.24 (linux)", "Libpod/4.3.1 ..."


def _buildkit_params(options: BuildOptions) -> dict[str, str]:
    if not options.buildkit:
        return {}
    import json

    params = {"version": "2"}
    if options.build_id:
        params["buildid"] = options.build_id
    if options.cache_from:
        params["cachefrom"] = json.dumps(list(options.cache_from))
    return params


def _set_read_timeout(response: Any, seconds: float) -> None:
    """Bound each further read of a streamed response (urllib3 keeps the socket private)."""
    raw = response.raw
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _label_filters(labels: Mapping[str, str] | Iterable[str]) -> list[str]:
    if isinstance(labels, Mapping):
        return [f"{key}={value}" for key, value in labels.items()]
    return list(labels)


@dataclass(frozen=True)
class ContainerState:
    status: str  # created, running, exited, dead, ...
    exit_code: int | None  # None while it runs
    ip_address: str | None  # on its first network
    gateway: str | None = None  # that network's gateway (an address of this host, if local)


@dataclass(frozen=True)
class EngineKind:
    name: str  # Docker or Podman
    version: str
    rootless: bool
    remote: bool

    def describe(self) -> str:
        what = [f"{self.name} {self.version}"]
        what.append("rootless" if self.rootless else "rootful")
        if self.remote:
            what.append("remote")
        return f"{what[0]} ({', '.join(what[1:])})"
