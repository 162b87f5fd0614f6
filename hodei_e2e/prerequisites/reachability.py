"""Whether a container reaches this machine at HODEI_SERVER_HOST: a probe container calls back
to a listener here."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hodei_e2e.engine.poll import NotYet, poll
from hodei_e2e.errors import E2EError, first_line

if TYPE_CHECKING:
    from hodei_e2e.config import Config
    from hodei_e2e.engine.docker import Engine, EngineKind

from hodei_e2e.prerequisites.check import Check, Facts, no_engine
from hodei_e2e.prerequisites.images import BOOTSTRAP_HINT

REACH_TIMEOUT = 5.0  # seconds for a container to call back
LOCAL_BUSYBOX = "hodei-e2e.local/busybox:latest"
_PROBE_SCRIPT = r"""
if command -v bash >/dev/null 2>&1; then
    exec bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "%s\n" "$2" >&3' "$1" "$2" "$3"
fi
if command -v nc >/dev/null 2>&1; then
    printf '%s\n' "$3" | nc -w 3 "$1" "$2"
    exit $?
fi
echo "hodei-e2e: neither bash nor nc in this image" >&2
exit 127
"""
_NO_TOOL = (126, 127)  # the image cannot run the probe: try the next one


def reachability_check(facts: Facts) -> Check:
    name = "host reachable from containers"
    engine = facts.engine
    if engine is None:
        return no_engine(name)
    from hodei_e2e.engine.server_host import detect

    found = detect(engine, facts.environ)
    host, source = found.address, found.why
    override = found.address if found.overridden else None
    images = probe_images(engine, facts.config)
    if not images:
        return Check(
            name, "warn", f"not checked: no image to test with (for {host}, {source})",
            f"Build or pull one: {LOCAL_BUSYBOX} ({BOOTSTRAP_HINT}), or the Postgres image.",
        )  # fmt: skip
    with _listener() as listener:
        port = listener.getsockname()[1]
        why, remedy = "no image could run the probe", ""
        for image in images:
            outcome = _call_back(engine, image, host, port, listener, probe_labels(facts))
            if outcome.ok:
                return Check(
                    name, "ok",
                    f"a container reached {host}:{port} ({source}) in {outcome.seconds:.2f}s",
                )  # fmt: skip
            why, remedy = outcome.why, outcome.remedy
            if not outcome.try_next:
                break
    remedy = remedy or _reach_remedy(engine, host, override, facts.kind)
    return Check(name, "fail", f"{host} ({source}): {why}", remedy)


def _reach_remedy(
    engine: Engine, host: str, override: str | None, kind: EngineKind | None = None
) -> str:
    gateway = None if engine.remote else engine.bridge_gateway()
    if engine.remote and not override:
        return (
            f"Containers of the remote engine at {engine.endpoint.url} cannot open a "
            f"connection to {host}: set HODEI_SERVER_HOST to an address of this machine that "
            "the engine's host routes to (in GitLab CI's Docker-in-Docker, the job container's "
            "address on the service network), and let that traffic through this machine's "
            "firewall."
        )
    if kind is not None and kind.rootless and not override:
        return (
            f"Rootless engines reach this machine through their user-mode network, not {host}: "
            "set HODEI_SERVER_HOST to an address of this machine (e.g. its LAN address), or "
            "10.0.2.2 with slirp4netns' defaults (rootless Docker: DOCKERD_ROOTLESS_"
            "ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false makes 10.0.2.2 this machine's loopback)."
        )
    if override:
        return (
            f"HODEI_SERVER_HOST={override} does not lead containers to this host: unset it to "
            "use the detected address"
            + (f" (the bridge gateway {gateway})" if gateway else "")
            + ", or set it to an address of this host that containers reach "
            "(host.docker.internal with Docker Desktop)."
        )
    return (
        f"Containers cannot open a connection to this host at {host}: a firewall may drop "
        "traffic from the engine's bridge (ufw: `sudo ufw allow in on docker0`, or on "
        "podman0 for Podman; firewalld: add that interface to the trusted zone), or set "
        "HODEI_SERVER_HOST to an address of this host that containers reach."
    )


@contextmanager
def _listener() -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", 0))
        listener.listen(8)
        listener.settimeout(0.1)
        yield listener
    finally:
        listener.close()


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    why: str = ""
    seconds: float = 0.0
    try_next: bool = False
    remedy: str = ""  # an engine-specific failure's own remedy


def _call_back(
    engine: Engine,
    image: str,
    host: str,
    port: int,
    listener: socket.socket,
    labels: Mapping[str, str],
) -> _Outcome:
    """Start a container from `image` that connects to `host:port` and sends a token."""
    import secrets

    from hodei_e2e.engine.docker import ContainerSpec

    token = f"hodei-e2e-doctor-{secrets.token_hex(8)}"
    start = time.monotonic()
    spec = ContainerSpec(
        image=image,
        labels=labels,
        entrypoint=["/bin/sh", "-c", _PROBE_SCRIPT, "hodei-e2e-probe", host, str(port), token],
        extra_hosts={"host.docker.internal": "host-gateway"},
    )
    try:
        container = engine.create(spec)
    except E2EError as error:
        from hodei_e2e.engine.docker import engine_hint

        hint = engine_hint(error.detail or "")
        why = f"cannot start a probe from {image}: {error.message}"
        if hint:  # the engine cannot start any container: no other image will do better
            return _Outcome(False, f"{why}: {first_line(error.detail, '')}", remedy=hint)
        return _Outcome(False, why, try_next=True)
    try:
        return _await_call_back(engine, container.id, listener, token, start)
    finally:
        engine.remove([container.id])


def _await_call_back(
    engine: Engine, container_id: str, listener: socket.socket, token: str, start: float
) -> _Outcome:
    """The probe's token on `listener` within REACH_TIMEOUT of `start`, or why not."""
    exited: int | None = None

    def called_back(_left: float) -> _Outcome:
        nonlocal exited
        if _accepted_token(listener, token):  # waits up to the listener's timeout
            return _Outcome(True, seconds=time.monotonic() - start)
        if exited is not None:
            logs = engine.logs_tail(container_id, 5).strip().replace("\n", "; ")
            return _Outcome(
                False,
                f"the probe container exited {exited}: {logs or 'no output'}",
                try_next=exited in _NO_TOOL,
            )
        state = engine.container_state(container_id)
        if state is None or state.exit_code is not None:
            exited = state.exit_code if state else -1  # one more accept, then report
        raise NotYet("no connection yet")

    return poll(
        called_back,
        timeout=max(0.0, start + REACH_TIMEOUT - time.monotonic()),
        interval=0.0,
        on_timeout=lambda _why: _Outcome(False, f"no connection within {REACH_TIMEOUT:g}s"),
    )


def _accepted_token(listener: socket.socket, token: str) -> bool:
    try:
        connection, _peer = listener.accept()
    except (TimeoutError, BlockingIOError):
        return False
    with connection:
        connection.settimeout(2.0)
        data = b""
        try:
            while len(data) < 256 and (chunk := connection.recv(256)):
                data += chunk
                if token.encode() in data:
                    return True
        except OSError:
            pass
    return token.encode() in data


def probe_images(engine: Engine, config: Config | None) -> list[str]:
    """Local images to run a probe from: the worker image, the local busybox, then Postgres's
    (Debian-based images have bash)."""
    from hodei_e2e.config import DEFAULT_POSTGRES_IMAGE

    candidates = [
        config.image.tag if config and config.image else "hodei-worker:e2e-test",
        LOCAL_BUSYBOX,
        config.postgres.image if config else DEFAULT_POSTGRES_IMAGE,
    ]
    return [image for image in dict.fromkeys(candidates) if engine.image_id(image) is not None]


def probe_labels(facts: Facts) -> dict[str, str]:
    from hodei_e2e.ownership.identity import RunIdentity

    project = facts.config.project if facts.config else "hodei-e2e"
    return RunIdentity(project=project).labels("service")


def run_probe(
    engine: Engine, image: str, script: Sequence[str], labels: Mapping[str, str], timeout: float
) -> tuple[int | None, str]:
    """Run a shell script in a throw-away container; (exit code or None, its output)."""
    from hodei_e2e.engine.docker import ContainerSpec

    spec = ContainerSpec(image=image, labels=labels, entrypoint=["/bin/sh", "-c", *script])
    try:
        container = engine.create(spec)
    except E2EError:
        return None, ""

    def ended(_left: float) -> tuple[int | None, str]:
        state = engine.container_state(container.id)
        if state is None or state.exit_code is not None:
            code = state.exit_code if state else None
            return code, engine.logs_tail(container.id, 20)
        raise NotYet("still running")

    try:
        return poll(ended, timeout=timeout, interval=0.05, on_timeout=lambda _why: (None, ""))
    finally:
        engine.remove([container.id])
