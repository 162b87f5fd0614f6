"""The foundation works end to end: hodei_e2e starts the local Postgres image with the run's
labels, psycopg talks to it, and removing it leaves nothing in `docker ps -a`."""

from __future__ import annotations

import socket
import subprocess

import psycopg
import pytest

from hodei_e2e.config import PostgresConfig
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.ownership.identity import RunIdentity
from hodei_e2e.postgres.server import start_server

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


def docker_ps_all(container_id: str) -> str:
    return subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            f"id={container_id}",
            "--format",
            "{{.ID}}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def test_start_query_remove(engine: Engine, postgres_image: str) -> None:
    identity = RunIdentity(project="smoke")
    config = PostgresConfig(image=postgres_image, password="smoke-secret", startup_timeout=60)
    created: list[ContainerInfo] = []
    try:
        server = start_server(
            engine, config, identity.labels("postgres"), on_created=created.append
        )
        try:
            with psycopg.connect(
                host=server.address.host,
                port=server.address.port,
                user="postgres",
                password="smoke-secret",
                dbname="postgres",
                autocommit=True,
            ) as conn:
                assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
                # The settings of the config reach the server (fsync off by default).
                assert conn.execute("SHOW fsync").fetchone() == ("off",)
        finally:
            server.close()
        assert len(created) == 1
        container = engine.inspect(created[0].id)
        assert container.status == "running"
        assert container.labels["io.hodei.e2e"] == "true"
        assert container.labels["io.hodei.e2e.role"] == "postgres"
        assert container.labels["io.hodei.e2e.run-id"] == identity.run_id
        assert container.labels["io.hodei.e2e.owner"] == f"{socket.gethostname()}:{identity.pid}"
        assert docker_ps_all(container.id) == container.id
    finally:
        engine.remove([c.id for c in created])
    assert created, "start_server never reported the container it created"
    assert docker_ps_all(created[0].id) == "", "the Postgres container is still in docker ps -a"
