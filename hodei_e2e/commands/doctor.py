"""`hodei-e2e doctor`: every prerequisite as a check of its own, each with its remedy.

A check is a small function that returns a `Check`; it never raises (an unexpected error is a
failed check). `preflight` runs the fast subset before every `run` and stops it with the same
lines that `doctor` prints.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hodei_e2e.engine.poll import NotYet, poll
from hodei_e2e.errors import ConfigError, E2EError, PrerequisiteError, first_line

if TYPE_CHECKING:
    from hodei_e2e.config import Config, ImageConfig, ServiceConfig
    from hodei_e2e.console import Output
    from hodei_e2e.engine.docker import Engine, EngineKind
    from hodei_e2e.engine.endpoint import Endpoint

Status = Literal["ok", "warn", "fail"]
SYMBOLS: Mapping[Status, str] = {"ok": "✓", "warn": "⚠", "fail": "✗"}
STYLES: Mapping[Status, str] = {"ok": "green", "warn": "yellow", "fail": "bold red"}

GIB = 1024**3
DISK_WARN = 5 * GIB
DISK_FAIL = 1 * GIB
MIN_ENGINE = (20, 10)  # host-gateway (host.docker.internal on Linux) came with 20.10
MIN_PODMAN = (4, 0)  # its Docker-compatible API as the tool uses it
REACH_TIMEOUT = 5.0  # seconds for a container to call back
LOCAL_BUSYBOX = "hodei-e2e.local/busybox:latest"
BOOTSTRAP_HINT = (
    "scripts/bootstrap builds local images without a registry and writes "
    ".hodei-e2e/images.env (source it to use them)"
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    remedy: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "remedy": self.remedy,
        }

    def lines(self) -> list[str]:
        lines = [f"{SYMBOLS[self.status]} {self.name}: {self.detail}"]
        if self.remedy and self.status != "ok":
            lines += [f"    → {line}" for line in self.remedy.splitlines()]
        return lines


def exit_code(checks: Sequence[Check]) -> int:
    return 3 if any(check.failed for check in checks) else 0


# -- The command -----------------------------------------------------------------------------------


def doctor_command(config_path: Path | None, *, as_json: bool) -> int:
    """`hodei-e2e doctor`: the checks as lines on stderr, or as JSON on stdout."""
    import json

    checks = run_checks(config_path, os.environ)
    if as_json:
        print(json.dumps([check.as_dict() for check in checks], indent=2))
    else:
        from hodei_e2e.console import Output

        render(checks, Output())
    return exit_code(checks)


def render(checks: Sequence[Check], out: Output) -> None:
    for check in checks:
        lines = check.lines()
        out.print(lines[0], style=STYLES[check.status], min_verbosity=-9)
        for line in lines[1:]:
            out.print(line, min_verbosity=-9)
    counts = {status: sum(1 for c in checks if c.status == status) for status in SYMBOLS}
    summary = f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed"
    style = STYLES["fail" if counts["fail"] else "warn" if counts["warn"] else "ok"]
    out.print(f"doctor: {summary}", style=style, min_verbosity=-9)


def preflight(
    engine: Engine,
    config: Config,
    *,
    services: Sequence[ServiceConfig] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """The fast checks (tools on PATH, images present, pullable or buildable) before a run.

    `services`: the services the run starts (default: all of the config's). The engine is
    reachable, or there would be no `engine`. Raises `PrerequisiteError` (exit 3) with the
    failed checks' lines, as `doctor` prints them.
    """
    environ = os.environ if environ is None else environ
    checks = [
        *tool_checks(config, environ, versions=False),
        *image_checks(engine, config, services=services),
    ]
    failed = [check for check in checks if check.failed]
    if failed:
        names = ", ".join(check.name for check in failed)
        raise PrerequisiteError(
            f"prerequisite(s) missing: {names}",
            detail="\n".join(line for check in failed for line in check.lines())
            + "\n(`hodei-e2e doctor` checks everything)",
        )


# -- Running every check ---------------------------------------------------------------------------


@dataclass
class Facts:
    """What the checks share: the environment, the config, and the engine when it answers."""

    environ: Mapping[str, str]
    config_path: Path
    config: Config | None = None
    config_error: ConfigError | None = None
    endpoint: Endpoint | None = None
    engine: Engine | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    kind: EngineKind | None = None


def run_checks(config_path: Path | None, environ: Mapping[str, str]) -> list[Check]:
    from hodei_e2e.config import config_path as default_path

    facts = Facts(environ, default_path(config_path, environ))
    checks: list[Check] = []

    def add(name: str, check: Callable[[], Check | list[Check]]) -> None:
        try:
            result = check()
        except Exception as error:  # noqa: BLE001 - doctor reports, it never tracebacks
            result = Check(name, "fail", f"the check itself failed: {_describe(error)}",
                           "Run `hodei-e2e --debug doctor` and report this.")  # fmt: skip
        checks.extend(result if isinstance(result, list) else [result])

    config_check = _guarded("config", lambda: load_config_check(facts))
    try:
        add("engine reachable", lambda: engine_check(facts))
        add("engine version", lambda: version_check(facts))
        add("free disk", lambda: disk_check(facts))
        add("tools", lambda: _needs_config(facts, "tools", tool_checks))
        add("images", lambda: _needs_engine_and_config(facts, "images", image_checks))
        add("image builder", lambda: builder_check(facts))
        add("host reachable from containers", lambda: reachability_check(facts))
    finally:
        if facts.engine is not None:
            facts.engine.close()
    checks.append(config_check)
    return checks


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - doctor reports, it never tracebacks
        return Check(name, "fail", f"the check itself failed: {_describe(error)}")


def _needs_config(
    facts: Facts, name: str, checks: Callable[[Config, Mapping[str, str]], list[Check]]
) -> list[Check]:
    if facts.config is None:
        return [Check(name, "warn", "not checked: the config did not load (see below)")]
    return checks(facts.config, facts.environ)


def _needs_engine_and_config(
    facts: Facts, name: str, checks: Callable[[Engine, Config], list[Check]]
) -> list[Check]:
    if facts.engine is None:
        return [_no_engine(name)]
    if facts.config is None:
        return [Check(name, "warn", "not checked: the config did not load (see below)")]
    return checks(facts.engine, facts.config)


def _no_engine(name: str) -> Check:
    return Check(name, "warn", "not checked: no engine answers (see above)")


# -- Config ----------------------------------------------------------------------------------------


def load_config_check(facts: Facts) -> Check:
    from hodei_e2e.config import load_config

    try:
        config = load_config(facts.config_path, facts.environ)
    except ConfigError as error:
        facts.config_error = error
        remedy = error.detail or "Fix the file (the README documents the schema)."
        return Check("config", "fail", error.message, remedy)
    facts.config = config
    suites, services = len(config.suites), len(config.services)
    return Check("config", "ok", f"{facts.config_path}: {suites} suite(s), {services} service(s)")


# -- Engine ----------------------------------------------------------------------------------------


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
        detail = f"{where.describe()}: {_describe(error)}"
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
        return _no_engine(name)
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
        return _no_engine(name)
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
    images = _probe_images(facts.engine, facts.config)
    for image in images:
        code, output = _run_probe(
            facts.engine, image, ["df -Pk / | tail -n 1"], _labels(facts), timeout=10.0
        )
        fields = output.split()
        if code == 0 and len(fields) >= 4 and fields[3].isdigit():
            return int(fields[3]) * 1024
    return None


# -- Tools -----------------------------------------------------------------------------------------


def tool_checks(
    config: Config, environ: Mapping[str, str], *, versions: bool = True
) -> list[Check]:
    checks = []
    for tool in config.requires:
        name = f"tool {tool}"
        path = shutil.which(tool, path=environ.get("PATH"))
        if path is None:
            checks.append(Check(
                name, "fail", "not on PATH",
                f"Install {tool}, or remove it from `requires:` in {config.path}.",
            ))  # fmt: skip
            continue
        version = _tool_version(path, config.root) if versions else ""
        checks.append(Check(name, "ok", f"{path}" + (f" ({version})" if version else "")))
    return checks


def _tool_version(path: str, cwd: Path) -> str:
    from hodei_e2e.suites.runner import run_command

    try:
        code, output = run_command(f"{shlex.quote(path)} --version", cwd=cwd, env={}, timeout=5.0)
    except (OSError, E2EError):
        return ""
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    return first[:80] if code == 0 else ""


# -- Images ----------------------------------------------------------------------------------------


def image_checks(
    engine: Engine, config: Config, *, services: Sequence[ServiceConfig] | None = None
) -> list[Check]:
    checks = [_image_check(engine, "image postgres", config.postgres.image, "postgres.image")]
    for service in config.services.values() if services is None else services:
        key = f"services.{service.name}.image"
        checks.append(_image_check(engine, f"image {service.name}", service.image, key))
    if config.image is not None:
        checks.append(_worker_image_check(engine, config.image, config.root / ".hodei-e2e"))
    return checks


def _image_check(engine: Engine, name: str, image: str, key: str) -> Check:
    if engine.image_id(image) is not None:
        return Check(name, "ok", f"{image}: present")
    why = engine.image_pullable(image)
    if why is None:
        return Check(name, "ok", f"{image}: not present; pullable (the run pulls it)")
    return Check(
        name, "fail", f"{image}: not present, and not pullable ({why})",
        f"`docker pull {image}` where a registry is reachable, or build it; or point `{key}` "
        f"at an image this engine has. {BOOTSTRAP_HINT}.",
    )  # fmt: skip


def _worker_image_check(engine: Engine, image: ImageConfig, state_dir: Path) -> Check:
    """Present and up to date with its build context (the digest check a run makes), out of
    date (the run rebuilds it: its base images must then be there), or missing."""
    from hodei_e2e.image.worker_image import image_status

    name = "worker image"
    sources = image.dockerfile.is_file() and image.context.is_dir()
    if not sources:
        if engine.image_id(image.tag) is not None:
            return Check(name, "ok", f"{image.tag}: present ({image.dockerfile} does not exist, "
                         "so it is not compared with a build context)")  # fmt: skip
        return Check(
            name, "fail", f"{image.tag}: not present, and {image.dockerfile} does not exist",
            "Fix `image.dockerfile` / `image.context` in the config, or build the image.",
        )  # fmt: skip
    present, stale = image_status(engine, image, state_dir)
    if present and stale is None:
        return Check(name, "ok", f"{image.tag}: present, up to date with its build context "
                     f"{image.context}")  # fmt: skip
    from hodei_e2e.image.dockerfile import base_images

    missing = []
    for base in base_images(image.dockerfile, image.build_args):
        if engine.image_id(base) is None and engine.image_pullable(base) is not None:
            missing.append(base)
    if missing:
        return Check(
            name, "fail",
            f"{image.tag}: not present; its base image {', '.join(missing)} is neither present "
            "nor pullable",
            f"Pull or build {', '.join(missing)}, or set the base through `image.build_args`. "
            f"{BOOTSTRAP_HINT}.",
        )  # fmt: skip
    if present:
        return Check(
            name, "warn", f"{image.tag}: present, but out of date ({stale}); the run rebuilds it",
            "`hodei-e2e build-image` rebuilds it now.",
        )  # fmt: skip
    return Check(name, "ok", f"{image.tag}: not present; the run builds it from {image.dockerfile}")


def builder_check(facts: Facts) -> Check:
    """Which builder a build would use and why, and whether it can build the Dockerfile:
    a failure only when a build is due (a missing or out-of-date image)."""
    from hodei_e2e.image.builder import for_image
    from hodei_e2e.image.worker_image import image_status

    name = "image builder"
    if facts.engine is None:
        return _no_engine(name)
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


# -- Reaching this host from a container -----------------------------------------------------------

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
        return _no_engine(name)
    from hodei_e2e.engine.server_host import detect

    found = detect(engine, facts.environ)
    host, source = found.address, found.why
    override = found.address if found.overridden else None
    images = _probe_images(engine, facts.config)
    if not images:
        return Check(
            name, "warn", f"not checked: no image to test with (for {host}, {source})",
            f"Build or pull one: {LOCAL_BUSYBOX} ({BOOTSTRAP_HINT}), or the Postgres image.",
        )  # fmt: skip
    with _listener() as listener:
        port = listener.getsockname()[1]
        why, remedy = "no image could run the probe", ""
        for image in images:
            outcome = _call_back(engine, image, host, port, listener, _labels(facts))
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


def _probe_images(engine: Engine, config: Config | None) -> list[str]:
    """Local images to run a probe from: the worker image, the local busybox, then Postgres's
    (Debian-based images have bash)."""
    from hodei_e2e.config import DEFAULT_POSTGRES_IMAGE

    candidates = [
        config.image.tag if config and config.image else "hodei-worker:e2e-test",
        LOCAL_BUSYBOX,
        config.postgres.image if config else DEFAULT_POSTGRES_IMAGE,
    ]
    return [image for image in dict.fromkeys(candidates) if engine.image_id(image) is not None]


def _labels(facts: Facts) -> dict[str, str]:
    from hodei_e2e.ownership.identity import RunIdentity

    project = facts.config.project if facts.config else "hodei-e2e"
    return RunIdentity(project=project).labels("service")


def _run_probe(
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


def _describe(error: BaseException) -> str:
    return first_line(getattr(error, "message", None) or error, type(error).__name__)[:300]
