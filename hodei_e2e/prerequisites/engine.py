"""The engine's checks: reachable, recent enough, disk space where it keeps images, its builder."""

from __future__ import annotations

import os
import re
import shutil
import socket
from typing import TYPE_CHECKING

from hodei_e2e.errors import PrerequisiteError

if TYPE_CHECKING:
    pass

from hodei_e2e.prerequisites.check import Check, Facts, Status, describe, no_engine
from hodei_e2e.prerequisites.reachability import probe_images, probe_labels, run_probe

GIB = 1024**3
DISK_WARN = 5 * GIB
DISK_FAIL = 1 * GIB
MIN_ENGINE = (20, 10)  # host-gateway (host.docker.internal on Linux) came with 20.10
MIN_PODMAN = (4, 0)  # its Docker-compatible API as the tool uses it


def engine_check(facts: Facts) -> Check:
    from hodei_e2e.engine.docker import Engine, EngineUnreachable
    from hodei_e2e.engine.endpoint import HOST_OVERRIDE, engine_remedy

    name = "engine reachable"
    try:
        engine = Engine.connect(timeout=5.0, environ=facts.environ)
    except EngineUnreachable as error:
        where = facts.endpoint = error.where
        detail = f"{where.describe()}: {error.reason}" if where.url else error.reason
        return Check(name, "fail", detail, error.remedy)
    where = facts.endpoint = engine.endpoint
    try:
        facts.info = engine.info()
        facts.kind = kind = engine.kind(facts.info)
    except Exception as error:  # noqa: BLE001 - the SDK's and requests' errors alike
        engine.close()
        detail = f"{where.describe()}: {describe(error)}"
        return Check(name, "fail", detail, engine_remedy(where, error))
    facts.engine = engine
    detail = f"{kind.describe()} at {where.describe()}"
    if engine.remote or engine.host != "127.0.0.1":
        detail += f"; published ports reached at {engine.host}" + (
            " (HODEI_E2E_HOST)" if facts.environ.get(HOST_OVERRIDE) else " (the engine's host)"
        )
    return Check(name, "ok", detail)


def version_check(facts: Facts) -> Check:
    name = "engine version"
    if facts.engine is None:
        return no_engine(name)
    version = str(facts.info.get("ServerVersion") or facts.engine.server_version())
    system = str(facts.info.get("OperatingSystem") or "")
    detail = f"{version}" + (f" on {system}" if system else "")
    match = re.match(r"(\d+)\.(\d+)", version)
    if facts.kind is not None and facts.kind.name == "Podman":
        if match and (int(match[1]), int(match[2])) < MIN_PODMAN:
            return Check(
                name, "warn", f"Podman {detail}: older than 4.0",
                "Upgrade Podman to 4.0 or later, whose Docker-compatible API the tool uses.",
            )  # fmt: skip
        return Check(name, "ok", f"Podman {detail}")
    if match and (int(match[1]), int(match[2])) < MIN_ENGINE:
        return Check(
            name, "warn", f"{detail}: older than 20.10",
            "Upgrade the engine to 20.10 or later: containers reach this host through "
            "host-gateway (host.docker.internal), which older engines lack.",
        )  # fmt: skip
    return Check(name, "ok", detail)


def disk_check(facts: Facts) -> Check:
    name = "free disk"
    if facts.engine is None:
        return no_engine(name)
    root = str(facts.info.get("DockerRootDir") or "/var/lib/docker")
    if _engine_is_local(facts, root):
        usage = shutil.disk_usage(root)
        free, where = usage.free, f"{root} (this host)"
    else:
        measured = _free_in_container(facts)
        if measured is None:
            return Check(
                name, "warn", f"not measured: {root} is on the engine's machine, not this one",
                "Check the engine's free space with `docker system df` and its disk settings "
                "(Docker Desktop: Settings > Resources).",
            )  # fmt: skip
        free, where = measured, f"{root} (the engine's machine, measured in a container)"
    detail = f"{free / GIB:.1f} GiB free in {where}"
    remedy = (
        "Free space there: `docker system prune` (stopped containers, unused networks, dangling "
        "images), `docker image prune -a`, or `hodei-e2e cleanup --all`."
    )
    if free < DISK_FAIL:
        return Check(name, "fail", f"{detail}; at least 1 GiB is needed", remedy)
    if free < DISK_WARN:
        return Check(name, "warn", f"{detail}; below 5 GiB", remedy)
    return Check(name, "ok", detail)


def _engine_is_local(facts: Facts, root: str) -> bool:
    """The engine runs on this host: a unix socket, the same host name, not Docker Desktop."""
    url = facts.endpoint.url if facts.endpoint else ""
    system = str(facts.info.get("OperatingSystem") or "").lower()
    return (
        url.startswith("unix://")
        and "desktop" not in system
        and str(facts.info.get("Name") or "") == socket.gethostname()
        and os.path.isdir(root)
    )


def _free_in_container(facts: Facts) -> int | None:
    """Bytes free on the engine's data root, read by `df` in a container (its root file system
    lives there); None when no local image has a shell and df."""
    assert facts.engine is not None
    images = probe_images(facts.engine, facts.config)
    for image in images:
        code, output = run_probe(
            facts.engine, image, ["df -Pk / | tail -n 1"], probe_labels(facts), timeout=10.0
        )
        fields = output.split()
        if code == 0 and len(fields) >= 4 and fields[3].isdigit():
            return int(fields[3]) * 1024
    return None


def builder_check(facts: Facts) -> Check:
    """Which builder a build would use and why, and whether it can build the Dockerfile:
    a failure only when a build is due (a missing or out-of-date image)."""
    from hodei_e2e.image.builder import for_image
    from hodei_e2e.image.worker_image import image_status

    name = "image builder"
    if facts.engine is None:
        return no_engine(name)
    config = facts.config
    if config is None or config.image is None:
        return Check(name, "ok", "not needed: the config has no `image:` section")
    image = config.image
    if not image.dockerfile.is_file() or not image.context.is_dir():
        return Check(name, "warn", f"not checked: {image.dockerfile} does not exist")
    try:
        builder = for_image(facts.engine, image, facts.environ)
    except PrerequisiteError as error:
        present, stale = image_status(facts.engine, image, config.root / ".hodei-e2e")
        due = not present or stale is not None
        status: Status = "fail" if due else "warn"
        note = "" if due else " (the image is up to date, so the run builds nothing)"
        return Check(name, status, error.message + note, error.detail or "")
    return Check(name, "ok", builder.describe())
