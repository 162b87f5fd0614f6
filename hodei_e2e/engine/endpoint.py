"""Where the engine is, found the way the docker CLI finds it (DOCKER_HOST, then the current
docker context, then the default socket), where this machine reaches the ports it publishes,
and what to do when it does not answer. No Docker SDK here: `docker.Engine.connect` builds
the client for the `Endpoint` this module resolves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_SOCKET = "/var/run/docker.sock"
HOST_OVERRIDE = "HODEI_E2E_HOST"  # where published ports are reached


@dataclass(frozen=True)
class Endpoint:
    """Where the engine is, and why there: the order the docker CLI follows."""

    url: str  # unix:///..., tcp://..., ssh://...; "" when the named context does not exist
    source: str  # "DOCKER_HOST", "context NAME" or "default socket"
    context: str | None = None
    tls_dir: str | None = None
    skip_tls_verify: bool = False

    def describe(self) -> str:
        return f"{self.url or '?'} ({self.source})"

    @property
    def hostname(self) -> str | None:
        """The engine's host for tcp://, http(s):// and ssh:// endpoints; None for a socket."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme not in ("tcp", "http", "https", "ssh"):
            return None
        return parts.hostname or None

    @property
    def remote(self) -> bool:
        """Reached over the network (tcp/ssh) at another host than this machine's loopback:
        its published ports and its bridge are on that host, not here."""
        host = self.hostname
        return host is not None and not is_loopback(host)


def resolve_endpoint(environ: Mapping[str, str]) -> Endpoint:
    """DOCKER_HOST; else the current context (DOCKER_CONTEXT, then `currentContext` in
    $DOCKER_CONFIG/config.json or ~/.docker/config.json) unless it is `default`; else the
    default socket."""
    import hashlib
    import json

    host = environ.get("DOCKER_HOST")
    if host:
        return Endpoint(host, "DOCKER_HOST")
    config_dir = environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker"
    )
    name = environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            with open(os.path.join(config_dir, "config.json"), encoding="utf-8") as file:
                name = str(json.load(file).get("currentContext") or "")
        except (OSError, ValueError, AttributeError):
            name = ""
    if not name or name == "default":
        return Endpoint(f"unix://{DEFAULT_SOCKET}", "default socket")
    context_id = hashlib.sha256(name.encode()).hexdigest()
    meta = os.path.join(config_dir, "contexts", "meta", context_id, "meta.json")
    try:
        with open(meta, encoding="utf-8") as file:
            docker_endpoint = json.load(file)["Endpoints"]["docker"]
    except (OSError, ValueError, KeyError, TypeError):
        return Endpoint("", f"context {name}", context=name)
    tls_dir = os.path.join(config_dir, "contexts", "tls", context_id, "docker")
    return Endpoint(
        str(docker_endpoint.get("Host") or f"unix://{DEFAULT_SOCKET}"),
        f"context {name}",
        context=name,
        tls_dir=tls_dir if os.path.isdir(tls_dir) else None,
        skip_tls_verify=bool(docker_endpoint.get("SkipTLSVerify")),
    )


def published_host(where: Endpoint, environ: Mapping[str, str]) -> str:
    """Where this machine reaches the engine's published ports: HODEI_E2E_HOST (as
    Testcontainers' TESTCONTAINERS_HOST_OVERRIDE), else a tcp/ssh engine's host, else
    127.0.0.1."""
    return environ.get(HOST_OVERRIDE) or where.hostname or "127.0.0.1"


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_address_toward(host: str | None) -> str | None:
    """The address this machine sends from to reach `host` (no packet is sent: a UDP socket's
    connect only picks the route); None when there is no route or `host` does not resolve."""
    import socket

    if not host:
        return None
    try:
        family, _, _, _, address = socket.getaddrinfo(host, 9, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            return str(probe.getsockname()[0])
    except OSError:
        return None


def engine_remedy(where: Endpoint, error: BaseException) -> str:
    """What to do when the engine at `where` does not answer (doctor and every command)."""
    text = str(error)
    path = where.url.removeprefix("unix://") if where.url.startswith("unix://") else None
    lines = []
    if path and ("ermission denied" in text or (os.path.exists(path) and not _rw(path))):
        group = _group_of(path)
        lines += [
            f"You may not use {path}"
            + (f" (group '{group}')" if group else "")
            + f": add yourself to that group (`sudo usermod -aG {group or 'docker'} $USER`, "
            "then log in again or `newgrp docker`), or run as root.",
            "Rootless Docker: DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock.",
        ]
    elif path and not os.path.exists(path):
        lines.append(f"No socket at {path}: the engine is not running there.")
        if "podman" in path:
            lines.append(
                f"Podman: start its Docker-compatible API there, `podman system service "
                f"--time=0 unix://{path} &` (rootful), or `systemctl --user start "
                "podman.socket` (rootless, DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock)."
            )
    if where.remote:
        lines.append(
            f"A remote engine ({where.url}): is its daemon listening there (dockerd "
            "-H tcp://0.0.0.0:2375, or a Docker-in-Docker service), and does a firewall let "
            "this machine through?"
        )
    if where.source == "DOCKER_HOST":
        lines.append(
            "DOCKER_HOST points there: fix it, or unset it to use the docker context or "
            "the default socket unix:///var/run/docker.sock."
        )
    elif where.context:
        lines.append(
            f"The docker context '{where.context}' points there: start that engine, or "
            "`docker context use default`."
        )
    engine_down = path is not None and not os.path.exists(path)
    if not lines or engine_down:
        lines.append(
            "Start the engine: Docker Desktop, `sudo systemctl start docker`, or "
            "scripts/bootstrap (installs and starts one on Debian/Ubuntu)."
        )
    return "\n".join(lines)


def _rw(path: str) -> bool:
    return os.access(path, os.R_OK | os.W_OK)


def _group_of(path: str) -> str:
    try:
        import grp

        return grp.getgrgid(os.stat(path).st_gid).gr_name
    except (OSError, KeyError, ImportError):
        return ""
