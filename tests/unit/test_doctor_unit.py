"""doctor.py and the endpoint resolution without Docker: lines, exit codes, tool checks,
Dockerfile base images, and which engine (DOCKER_HOST, context, default socket)."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
from pathlib import Path

import pytest

from hodei_e2e.config import load_config
from hodei_e2e.engine.endpoint import DEFAULT_SOCKET, Endpoint, engine_remedy, resolve_endpoint
from hodei_e2e.image.dockerfile import base_images
from hodei_e2e.prerequisites.check import Check, exit_code
from hodei_e2e.prerequisites.checklist import run_checks
from hodei_e2e.prerequisites.tools import tool_checks


def test_exit_code_is_3_only_when_a_check_fails() -> None:
    assert exit_code([]) == 0
    assert exit_code([Check("a", "ok", "fine"), Check("b", "warn", "hm", "do x")]) == 0
    assert exit_code([Check("a", "ok", "fine"), Check("b", "fail", "broken", "do y")]) == 3


def test_check_lines_show_the_symbol_and_the_remedy_unless_ok() -> None:
    assert Check("engine", "ok", "up", "never shown").lines() == ["✓ engine: up"]
    assert Check("disk", "warn", "low", "prune").lines() == ["⚠ disk: low", "    → prune"]
    assert Check("tool", "fail", "missing", "install\nor remove").lines() == [
        "✗ tool: missing",
        "    → install",
        "    → or remove",
    ]


def test_check_as_dict_is_json_ready() -> None:
    record = Check("x", "fail", "d", "r").as_dict()
    assert json.loads(json.dumps(record)) == {
        "name": "x",
        "status": "fail",
        "detail": "d",
        "remedy": "r",
    }


def test_tool_checks_report_path_and_version_or_the_remedy(tmp_path: Path) -> None:
    (tmp_path / "e2e.yaml").write_text(
        f"requires: [{Path(sys.executable).name}, no-such-tool-hodei]\nsuites: {{a: 'true'}}\n"
    )
    config = load_config(tmp_path / "e2e.yaml", environ={})
    environ = {"PATH": str(Path(sys.executable).parent)}
    python, missing = tool_checks(config, environ)
    assert python.status == "ok"
    assert python.detail.startswith(str(Path(sys.executable).parent))
    assert "Python 3." in python.detail
    assert missing.status == "fail"
    assert missing.detail == "not on PATH"
    assert "remove it from `requires:`" in missing.remedy


def test_run_checks_never_raises_and_reports_a_bad_config(tmp_path: Path) -> None:
    (tmp_path / "e2e.yaml").write_text("suites: {a: 'true'}\nbogus: 1\n")
    environ = {"DOCKER_HOST": f"unix://{tmp_path}/no.sock", "PATH": "/usr/bin:/bin"}
    checks = {check.name: check for check in run_checks(tmp_path / "e2e.yaml", environ)}
    assert checks["engine reachable"].status == "fail"
    assert "DOCKER_HOST" in checks["engine reachable"].remedy
    assert checks["config"].status == "fail"
    assert "unknown key 'bogus'" in checks["config"].detail
    assert checks["tools"].status == "warn"  # not checked without a config
    assert exit_code(list(checks.values())) == 3


# -- base images of a Dockerfile -------------------------------------------------------------------


def test_base_images_substitute_args_and_skip_stages_and_scratch(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE_IMAGE=busybox:1.36\n"
        'ARG RUST="rust:1.80"\n'
        "FROM ${RUST} AS build\n"
        "RUN cargo build\n"
        "FROM --platform=linux/amd64 $BASE_IMAGE\n"
        "COPY --from=build /x /x\n"
        "FROM build AS again\n"
        "from scratch\n"
        "FROM ${MISSING:-debian:bookworm}\n"
    )
    assert base_images(dockerfile, {}) == ["rust:1.80", "busybox:1.36", "debian:bookworm"]
    assert base_images(dockerfile, {"BASE_IMAGE": "hodei-e2e.local/busybox:latest"}) == [
        "rust:1.80",
        "hodei-e2e.local/busybox:latest",
        "debian:bookworm",
    ]


def test_the_demo_worker_base_image() -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "worker" / "Dockerfile"
    assert base_images(demo, {"BASE_IMAGE": "x/busybox:1"}) == ["x/busybox:1"]


# -- which engine ----------------------------------------------------------------------------------


def test_endpoint_docker_host_wins() -> None:
    where = resolve_endpoint({"DOCKER_HOST": "tcp://10.0.0.5:2375", "DOCKER_CONTEXT": "other"})
    assert (where.url, where.source) == ("tcp://10.0.0.5:2375", "DOCKER_HOST")


def test_endpoint_default_socket_without_config(tmp_path: Path) -> None:
    where = resolve_endpoint({"HOME": str(tmp_path)})
    assert (where.url, where.source) == (f"unix://{DEFAULT_SOCKET}", "default socket")


def write_context(config_dir: Path, name: str, host: str) -> None:
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}})
    )


def test_endpoint_from_the_current_context(tmp_path: Path) -> None:
    config_dir = tmp_path / ".docker"
    write_context(config_dir, "colima", "unix:///home/u/.colima/docker.sock")
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    where = resolve_endpoint({"HOME": str(tmp_path)})
    assert where.url == "unix:///home/u/.colima/docker.sock"
    assert where.source == "context colima"
    assert where.describe() == "unix:///home/u/.colima/docker.sock (context colima)"


def test_endpoint_docker_context_and_docker_config_variables(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    write_context(config_dir, "remote", "tcp://build-box:2376")
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "default"}))
    environ = {"HOME": "/nonexistent", "DOCKER_CONFIG": str(config_dir)}
    assert resolve_endpoint(environ).source == "default socket"
    where = resolve_endpoint({**environ, "DOCKER_CONTEXT": "remote"})
    assert (where.url, where.context) == ("tcp://build-box:2376", "remote")


def test_endpoint_unknown_context_has_no_url(tmp_path: Path) -> None:
    where = resolve_endpoint({"HOME": str(tmp_path), "DOCKER_CONTEXT": "gone"})
    assert where.url == ""
    assert where.context == "gone"


@pytest.mark.parametrize("content", ["not json", "[]", '{"currentContext": null}'])
def test_endpoint_broken_docker_config_means_the_default(tmp_path: Path, content: str) -> None:
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(content)
    assert resolve_endpoint({"HOME": str(tmp_path)}).source == "default socket"


# -- remedies for an engine that does not answer ---------------------------------------------------


def test_permission_denied_on_the_socket_gives_group_advice(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        error = ConnectionError("('Connection aborted.', PermissionError(13, 'Permission denied'))")
        remedy = engine_remedy(Endpoint(f"unix://{path}", "default socket"), error)
    assert "usermod -aG" in remedy
    assert "log in again" in remedy
    assert "Rootless Docker" in remedy


def test_missing_socket_says_so_and_how_to_start_an_engine(tmp_path: Path) -> None:
    where = Endpoint(f"unix://{tmp_path}/gone.sock", "context colima", context="colima")
    remedy = engine_remedy(where, FileNotFoundError(2, "No such file or directory"))
    assert f"No socket at {tmp_path}/gone.sock" in remedy
    assert "The docker context 'colima' points there" in remedy
    assert "sudo systemctl start docker" in remedy
