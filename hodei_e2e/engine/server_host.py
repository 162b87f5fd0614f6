"""`HODEI_SERVER_HOST`: the address by which the engine's containers reach this machine.

In order: the caller's `HODEI_SERVER_HOST`; `host.docker.internal` with Docker Desktop; for a
remote engine (tcp/ssh), this machine's address on the route to the engine's host (its
containers reach us through that host); for a rootless engine, this machine's address on its
default route; else the gateway of the engine's default bridge network (Docker's `docker0`,
Podman's `podman0`), an address of this machine on that bridge.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from hodei_e2e.engine.docker import Engine
from hodei_e2e.engine.endpoint import local_address_toward

OVERRIDE = "HODEI_SERVER_HOST"
# Picks the default route's source address; nothing is sent (a documentation-only address).
DEFAULT_ROUTE = "198.51.100.1"


@dataclass(frozen=True)
class ServerHost:
    address: str
    why: str  # how it was found, for doctor and messages

    @property
    def overridden(self) -> bool:
        """Given by the caller's HODEI_SERVER_HOST, not detected."""
        return self.why == OVERRIDE


def detect(engine: Engine, environ: Mapping[str, str] | None = None) -> ServerHost:
    environ = os.environ if environ is None else environ
    override = environ.get(OVERRIDE)
    if override:
        return ServerHost(override, OVERRIDE)
    if engine.is_desktop():
        return ServerHost("host.docker.internal", "Docker Desktop's name for this machine")
    if engine.remote:
        address = engine.local_address_toward()
        if address:
            return ServerHost(
                address,
                f"this machine's address toward the remote engine's host "
                f"{engine.endpoint.hostname}",
            )
        return ServerHost(
            "host.docker.internal",
            f"no route to the remote engine's host {engine.endpoint.hostname} found",
        )
    if engine.is_rootless():
        address = local_address_toward(DEFAULT_ROUTE)
        if address:
            return ServerHost(
                address,
                "this machine's address on its default route (a rootless engine's bridge is in "
                "its own namespace, and its containers do not reach this machine's loopback)",
            )
    gateway = engine.bridge_gateway()
    if gateway:
        return ServerHost(gateway, "the gateway of the engine's default bridge network")
    return ServerHost("host.docker.internal", "the engine has no bridge network")
