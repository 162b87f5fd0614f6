"""Where the engine is and where its published ports are: the docker CLI's order
(DOCKER_HOST, then the context), the engine's host for a remote engine, HODEI_E2E_HOST over
both; and image names as Docker spells them, whichever engine answered."""

from __future__ import annotations

import pytest

from hodei_e2e.engine.docker import EngineKind, docker_name, engine_hint, same_image_name
from hodei_e2e.engine.endpoint import Endpoint, is_loopback, published_host


@pytest.mark.parametrize(
    ("url", "environ", "host", "remote"),
    [
        ("unix:///var/run/docker.sock", {}, "127.0.0.1", False),
        ("unix:///run/user/1000/podman/podman.sock", {}, "127.0.0.1", False),
        ("tcp://10.213.7.2:2375", {}, "10.213.7.2", True),
        ("tcp://docker:2376", {}, "docker", True),  # GitLab CI's Docker-in-Docker service
        ("ssh://ci@build-host", {}, "build-host", True),
        ("tcp://127.0.0.1:2375", {}, "127.0.0.1", False),
        ("tcp://localhost:2375", {}, "localhost", False),
        ("tcp://docker:2375", {"HODEI_E2E_HOST": "172.18.0.3"}, "172.18.0.3", True),
        ("unix:///var/run/docker.sock", {"HODEI_E2E_HOST": "dind"}, "dind", False),
    ],
)
def test_published_host_follows_the_engine_and_the_override(
    url: str, environ: dict[str, str], host: str, remote: bool
) -> None:
    where = Endpoint(url, "DOCKER_HOST")
    assert published_host(where, environ) == host
    assert where.remote is remote


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("10.213.7.2", False), ("docker", False), ("0.0.0.0", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("name", "docker"),
    [
        ("localhost/hodei-worker:e2e-test", "hodei-worker:e2e-test"),
        ("docker.io/library/redis:7", "redis:7"),
        ("docker.io/bitnami/redis:7", "bitnami/redis:7"),
        ("hodei-e2e.local/postgres:15", "hodei-e2e.local/postgres:15"),
        ("localhost:5000/x:1", "localhost:5000/x:1"),  # a registry on this host stays
        ("sha256:abc", "sha256:abc"),
    ],
)
def test_image_names_as_docker_spells_them(name: str, docker: str) -> None:
    assert docker_name(name) == docker


def test_same_image_name_across_engines() -> None:
    assert same_image_name("localhost/busybox", "busybox:latest")
    assert same_image_name("docker.io/library/redis:7", "redis:7")
    assert not same_image_name("localhost/busybox:1", "busybox:latest")


def test_engine_kind_says_what_it_is() -> None:
    assert EngineKind("Podman", "4.3.1", False, False).describe() == "Podman 4.3.1 (rootful)"
    assert EngineKind("Docker", "27.1", True, False).describe() == "Docker 27.1 (rootless)"
    assert EngineKind("Docker", "20.10", False, True).describe() == "Docker 20.10 (rootful, remote)"


def test_podmans_ulimit_failure_has_its_remedy() -> None:
    error = (
        "500 Server Error: runc create failed: unable to start container process: error during "
        "container init: error setting rlimits for ready process: error setting rlimit type 7: "
        "operation not permitted: OCI permission denied"
    )
    hint = engine_hint(error)
    assert hint is not None
    assert "default_ulimits = []" in hint
    assert engine_hint("image not found") is None
