"""A service with `reuse: true` (or any service under `run --reuse`) follows Postgres's rules:
the same container between runs (the JSON report's `services[].container`), health-checked
before it is used and replaced when unhealthy, changed, or made from an image its tag no longer
names, left alone by a plain `cleanup` and removed by `cleanup --all`; `--no-reuse` overrides.

The service is busybox's httpd, ready when `GET /health` answers, so that a test can make a
running container unhealthy by deleting that file.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from support import Cli, Scrub, add_services, docker, label, run_json, script, state

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(150)]


def web(image: str, **extra: Any) -> dict[str, Any]:
    return {
        "image": image,
        "command": ["sh", "-c", "mkdir -p /w; echo ok > /w/health; exec httpd -f -p 8080 -h /w"],
        "port": 8080,
        "ready": {"http": "http://{host}:{port}/health"},
        "startup_timeout": "20s",
        "exports": {"WEB_URL": "http://{host}:{port}/"},
        "reuse": True,
        **extra,
    }


class Project:
    """A config with one suite that needs the `web` service and records the URL it was given."""

    def __init__(self, cli: Cli, root: Path, scrub: Scrub, image: str, **service: Any) -> None:
        self.cli, self.root, self.runs = cli, root, 0
        self.name = f"t{secrets.token_hex(4)}"
        scrub.projects.add(self.name)
        self.record = script(root, "record.sh", 'echo "$WEB_URL" > "url-$RUN_NO"\n')
        self.write(image, **service)

    def write(self, image: str, **service: Any) -> None:
        suites = {"uses-web": {"command": self.record, "needs": ["web"]}}
        config = self.cli.write_config(self.root, suites, project=self.name)
        add_services(config, {"web": web(image, **service)})

    def run(self, *args: str) -> tuple[Any, dict[str, Any]]:
        self.runs += 1
        result, report = run_json(
            self.cli,
            self.root,
            *args,
            report=f"run-{self.runs}.json",
            env={"RUN_NO": str(self.runs)},
        )
        assert result.code == 0, result.explain()
        return result, report["services"][0]

    def url(self, run_no: int) -> str:
        return (self.root / f"url-{run_no}").read_text().strip()

    def containers(self) -> list[str]:
        listed = docker(
            "ps", "-aq", "--no-trunc", "--filter", f"label=io.hodei.e2e.project={self.name}"
        )
        return listed.stdout.split()


def test_reused_service_survives_runs_and_cleanup_all_removes_it(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, scrub: Scrub
) -> None:
    project = Project(cli, tmp_path, scrub, base_image)
    first, record = project.run()
    container = record["container"]
    assert record["reused"] is True, record
    assert record["existing"] is False, record
    assert "created" in first.stderr, first.explain()
    assert project.containers() == [container], "only the reused service may outlive the run"
    assert state(container) == "running"

    second, record = project.run()
    assert record["container"] == container, "the second run did not reuse the service"
    assert record["existing"] is True, record
    assert "reused, up" in second.stderr, second.explain()
    assert project.url(2) == project.url(1), "the suite was given another address"
    assert project.containers() == [container]

    plain = cli.run("cleanup", cwd=tmp_path)
    assert plain.code == 0, plain.explain()
    assert state(container) == "running", f"plain cleanup removed it\n{plain.explain()}"
    swept = cli.run("cleanup", "--all", cwd=tmp_path)
    assert swept.code == 0, swept.explain()
    assert "--all" in swept.stderr, swept.explain()
    assert state(container) is None
    assert project.containers() == []


def test_unhealthy_reused_service_is_replaced(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, scrub: Scrub
) -> None:
    project = Project(cli, tmp_path, scrub, base_image)
    _, record = project.run()
    old = record["container"]
    docker("exec", old, "rm", "/w/health")  # running, but its readiness check now fails

    second, record = project.run()
    assert record["container"] != old, "an unhealthy service was reused"
    assert "unhealthy" in second.stderr, second.explain()
    assert "HTTP 404" in second.stderr, second.explain()
    assert state(old) is None, "the unhealthy service was left behind"
    assert project.containers() == [record["container"]]


def test_changed_service_or_image_gives_a_new_container(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, scrub: Scrub
) -> None:
    tag = f"hodei-e2e-tests/web-{tmp_path.name.lower()[-20:]}:1"
    scrub.images.add(tag)
    docker("tag", base_image, tag)
    project = Project(cli, tmp_path, scrub, tag, environment={"MODE": "a"})
    _, record = project.run()
    first = record["container"]

    project.write(tag, environment={"MODE": "b"})  # another configuration: another container
    _, record = project.run()
    second = record["container"]
    assert second != first, "a service of another configuration was reused"
    hashes = {label(c, "io.hodei.e2e.config-hash") for c in (first, second)}
    assert len(hashes) == 2, hashes
    assert "" not in hashes, hashes

    docker("commit", second, tag)  # the tag now names a newer image
    third, record = project.run()
    assert record["container"] != second, "a service made from an older image was reused"
    assert "made from an older" in third.stderr, third.explain()
    assert state(second) is None


def test_no_reuse_overrides_the_service_setting(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, scrub: Scrub
) -> None:
    project = Project(cli, tmp_path, scrub, base_image)
    _, record = project.run("--no-reuse")
    assert record["reused"] is False, record
    assert state(record["container"]) is None, "--no-reuse left the service running"
    assert project.containers() == []


def test_reusable_service_that_never_gets_ready_is_not_kept(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, scrub: Scrub
) -> None:
    """A singleton that failed its first start must not wait for the next run to be judged."""
    never = ["sh", "-c", "echo listening nowhere; exec sleep 600"]
    project = Project(cli, tmp_path, scrub, base_image, command=never, startup_timeout="2s")
    report = tmp_path / "never.json"
    result = cli.run("run", "--no-strict", "--json", str(report), cwd=tmp_path, env={"RUN_NO": "1"})
    assert result.code == 0, result.explain()
    doc = json.loads(report.read_text())
    assert doc["suites"][0]["status"] == "skipped", doc["suites"]
    assert doc["services"][0]["status"] == "failed", doc["services"]
    assert "listening nowhere" in result.stderr, result.explain()
    assert project.containers() == [], "the failed reusable service was left behind"
