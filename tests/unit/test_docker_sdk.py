"""The docker SDK as the engine layer uses it: pinned `docker>=7.2,<8`, and every private member
the package calls (`APIClient._post`, `_get`, `_url`, ... and the SDK's internal helpers) still
there in the installed SDK, with the parameters it is called with. A failure names the member.

The private `APIClient` members are found in the package's source (`<x>._api._name` and
`<x>.api._name`), so that a new one is checked without editing this file.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import docker
import pytest
from docker.api.client import APIClient

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hodei_e2e"
KNOWN = {"_get", "_post", "_url", "_raise_for_status", "_set_auth_headers"}  # at the least
PARAMETERS = {  # member -> the parameters it is called with (where its signature names them)
    "_url": ["pathfmt"],
    "_get": ["url"],
    "_post": ["url"],
    "_raise_for_status": ["response"],
    "_set_auth_headers": ["headers"],
}
# Other SDK internals the engine layer relies on: module, attribute, parameters it is given.
INTERNALS = [
    ("docker.utils.json_stream", "json_stream", []),
    ("docker.tls", "TLSConfig", ["client_cert", "ca_cert", "verify"]),
    ("docker.api.client", "APIClient", ["base_url", "tls", "timeout", "version"]),
]


def private_api_members() -> dict[str, list[str]]:
    """Each private APIClient member the package uses -> where (`path:line`)."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and re.fullmatch(r"_[a-z][A-Za-z0-9_]*", node.attr)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr in ("_api", "api")
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(node.attr, []).append(where)
    return found


USED = private_api_members()


def _named_parameters(function: object) -> list[str] | None:
    """The parameter names, or None for a bare `(*args, **kwargs)` forwarder (the SDK's
    `update_headers` decorator hides `_get`'s and `_post`'s)."""
    found = inspect.signature(inspect.unwrap(function)).parameters  # type: ignore[arg-type]
    named = [n for n, p in found.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return None if named in ([], ["self"]) else named


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_pin_is_7_2_up_to_8_and_the_installed_sdk_is_inside_it() -> None:
    if sys.version_info >= (3, 11):
        import tomllib

        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        assert "docker>=7.2,<8" in project["project"]["dependencies"]
    installed = _version(docker.__version__)
    assert (7, 2) <= installed < (8,), f"docker {docker.__version__} is outside >=7.2,<8"


def test_the_scan_finds_the_private_members_known_to_be_used() -> None:
    assert set(USED) >= KNOWN, f"the scan missed {sorted(KNOWN - set(USED))}"


@pytest.mark.parametrize("member", sorted(set(USED) | KNOWN))
def test_a_private_apiclient_member_still_exists(member: str) -> None:
    where = ", ".join(USED.get(member, ["(known)"]))
    assert callable(getattr(APIClient, member, None)), (
        f"docker {docker.__version__}: APIClient.{member} is gone or not callable; used at {where}"
    )
    parameters = _named_parameters(getattr(APIClient, member))
    if parameters is None:  # a `(*args, **kwargs)` forwarder: nothing more to check
        return
    for name in PARAMETERS.get(member, []):
        assert name in parameters, (
            f"docker {docker.__version__}: APIClient.{member} no longer takes '{name}' "
            f"(has {list(parameters)}); used at {where}"
        )


@pytest.mark.parametrize(("module", "attribute", "arguments"), INTERNALS)
def test_an_sdk_internal_still_exists(module: str, attribute: str, arguments: list[str]) -> None:
    found = getattr(importlib.import_module(module), attribute, None)
    assert callable(found), f"docker {docker.__version__}: {module}.{attribute} is gone"
    parameters = _named_parameters(found)
    assert parameters is not None or not arguments, f"{module}.{attribute}: no signature"
    for name in arguments:
        assert parameters is not None
        assert name in parameters, (
            f"docker {docker.__version__}: {module}.{attribute} no longer takes '{name}' "
            f"(has {list(parameters)})"
        )


def test_a_missing_member_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself: with `_post` gone, the failure says `APIClient._post`."""
    monkeypatch.delattr(APIClient, "_post")
    with pytest.raises(AssertionError, match=r"APIClient\._post is gone"):
        test_a_private_apiclient_member_still_exists("_post")


def test_the_engine_layers_clients_are_built_as_the_sdk_takes_them(tmp_path: Path) -> None:
    """`from_env(timeout=, environment=, version=)` and `DockerClient(base_url=, tls=, timeout=,
    version=)` as `engine.docker._client` calls them (no round trip is made)."""
    from hodei_e2e.engine.docker import API_VERSION, _client
    from hodei_e2e.engine.endpoint import Endpoint

    url = "tcp://127.0.0.1:1"
    from_env = _client(Endpoint(url, "DOCKER_HOST"), {"DOCKER_HOST": url}, 7)
    context = Endpoint(url, "context ci", context="ci", tls_dir=str(tmp_path))
    with_context = _client(context, {}, 9)
    try:
        for client, timeout, scheme in ((from_env, 7, "http"), (with_context, 9, "https")):
            assert client.api.base_url == f"{scheme}://127.0.0.1:1"  # a context's TLS dir: TLS
            assert client.api.timeout == timeout
            assert client.api.api_version == API_VERSION
    finally:
        from_env.close()
        with_context.close()
