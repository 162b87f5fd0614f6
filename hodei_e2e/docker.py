"""The one module that talks to the Docker engine.

Everything else sees `Engine`, `ContainerSpec` and `ContainerInfo`; only this module imports the
Docker SDK (lazily: it costs a quarter of a second to import).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hodei_e2e.errors import InfrastructureError, PrerequisiteError

DEFAULT_SOCKET = "/var/run/docker.sock"


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    labels: Mapping[str, str]
    command: Sequence[str] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    ports: Sequence[int] = ()  # container ports, published on 127.0.0.1 at random host ports
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    extra_hosts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    status: str  # created, running, exited, ...
    labels: Mapping[str, str]
    created: float  # unix seconds

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


def endpoint() -> str:
    """Where the engine is expected, for messages: DOCKER_HOST or the default socket."""
    return os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"


def _remedy(error: Exception) -> str:
    where = endpoint()
    lines = [f"The Docker engine at {where} did not answer: {error}"]
    if where.startswith("unix://") and "ermission" in str(error):
        lines.append("Add yourself to the 'docker' group (then log in again), or run as root.")
    elif os.environ.get("DOCKER_HOST"):
        lines.append("Check DOCKER_HOST, or unset it to use the default socket.")
    else:
        lines.append("Start the engine (Docker Desktop, `sudo systemctl start docker`, or run ")
        lines[-1] += "`scripts/bootstrap`, which installs and starts one on Debian/Ubuntu)."
    return "\n".join(lines)


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
    """A connected Docker engine."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._api = client.api

    @classmethod
    def connect(cls, timeout: float = 60.0) -> Engine:
        import docker
        from docker.errors import DockerException

        try:
            client = docker.from_env(timeout=int(timeout))
        except DockerException as error:
            raise PrerequisiteError("Docker engine not reachable", detail=_remedy(error)) from None
        return cls(client)

    def close(self) -> None:
        self._client.close()

    # -- facts about the engine ---------------------------------------------------------------

    def info(self) -> Mapping[str, Any]:
        return dict(self._client.info())

    def server_version(self) -> str:
        return str(self._client.version().get("Version", "unknown"))

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
        return "desktop" in str(self.info().get("OperatingSystem", "")).lower()

    # -- images --------------------------------------------------------------------------------

    def image_labels(self, tag: str) -> Mapping[str, str] | None:
        """The labels of image `tag`, or None when the engine does not have it."""
        from docker.errors import ImageNotFound

        try:
            attrs = self._api.inspect_image(tag)
        except ImageNotFound:
            return None
        return dict((attrs.get("Config") or {}).get("Labels") or {})

    def image_id(self, tag: str) -> str | None:
        from docker.errors import ImageNotFound

        try:
            return str(self._api.inspect_image(tag)["Id"])
        except ImageNotFound:
            return None

    def pull(self, image: str) -> None:
        from docker.errors import DockerException

        repository, _, tag = (
            image.rpartition(":") if ":" in image.rsplit("/", maxsplit=1)[-1] else (image, "", "")
        )
        try:
            self._api.pull(repository, tag=tag or "latest")
        except DockerException as error:
            raise InfrastructureError(
                f"image {image} is not on this engine and cannot be pulled",
                detail=f"{error}\nBuild it locally (scripts/bootstrap builds the offline images) "
                "or point the config at a tag this engine has.",
            ) from None

    def tag_image(self, source: str, target: str) -> None:
        repository, _, tag = target.rpartition(":")
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

    def build(self, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        """Stream the engine's decoded build output (see `APIClient.build`)."""
        return iter(self._api.build(decode=True, rm=True, forcerm=True, **kwargs))

    def images(self, labels: Mapping[str, str]) -> list[Mapping[str, Any]]:
        return list(self._api.images(filters={"label": _label_filters(labels)}))

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
            port_bindings=dict.fromkeys(spec.ports, ("127.0.0.1", None)),
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
            raise InfrastructureError(
                f"cannot start a container from {spec.image}", detail=str(error)
            ) from None
        return self.inspect(container_id)

    def inspect(self, container_id: str) -> ContainerInfo:
        attrs = self._api.inspect_container(container_id)
        return ContainerInfo(
            id=str(attrs["Id"]),
            name=str(attrs["Name"]).lstrip("/"),
            image=str(attrs["Config"]["Image"]),
            status=str(attrs["State"]["Status"]),
            labels=dict(attrs["Config"].get("Labels") or {}),
            created=_created(attrs["Created"]),
        )

    def find(self, container_id: str) -> ContainerInfo | None:
        from docker.errors import NotFound

        try:
            return self.inspect(container_id)
        except NotFound:
            return None

    def published_port(self, container_id: str, port: int) -> int:
        """The host port that `port/tcp` of a running container is published on."""
        for _ in range(50):
            attrs = self._api.inspect_container(container_id)
            bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp")
            if bindings:
                return int(bindings[0]["HostPort"])
            if attrs["State"]["Status"] != "running":
                break
            time.sleep(0.02)
        raise InfrastructureError(f"container {container_id[:12]} did not publish port {port}")

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
                image=str(entry.get("Image", "")),
                status=str(entry.get("State", "")),
                labels=dict(entry.get("Labels") or {}),
                created=float(entry.get("Created", 0)),
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


def _label_filters(labels: Mapping[str, str] | Iterable[str]) -> list[str]:
    if isinstance(labels, Mapping):
        return [f"{key}={value}" for key, value in labels.items()]
    return list(labels)
