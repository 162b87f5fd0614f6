"""A Postgres container that dies while it starts: the error says so and shows its log.

The end-to-end test (test_postgres_that_exits_at_once_exits_4_with_its_log) meets this by a
race: whether the container has exited before the tool looks up its published port. Here the
container has certainly exited first, so the outcome does not depend on timing.
"""

from __future__ import annotations

import time

import pytest

from hodei_e2e.engine.docker import ContainerInfo, ContainerSpec, Engine
from hodei_e2e.errors import InfrastructureError
from hodei_e2e.ownership.identity import RunIdentity

pytestmark = [pytest.mark.docker, pytest.mark.timeout(60)]

FATAL = "FATAL: hodei-test: the data directory is broken"


def test_port_lookup_of_a_container_that_exited_says_it_exited_and_shows_its_log(
    engine: Engine, base_image: str, created: list[ContainerInfo]
) -> None:
    spec = ContainerSpec(
        image=base_image,
        labels=RunIdentity(project="exits-early").labels("postgres"),
        command=["sh", "-c", f"echo '{FATAL}' >&2; exit 1"],
        ports=(5432,),
    )
    container = engine.create(spec)
    created.append(container)
    deadline = time.monotonic() + 30
    while (found := engine.find(container.id)) and found.status != "exited":
        assert time.monotonic() < deadline, "the container never exited"
        time.sleep(0.05)
    with pytest.raises(InfrastructureError) as caught:
        engine.published_port(container.id, 5432)
    text = f"{caught.value.message}\n{caught.value.detail or ''}"
    assert "exited" in text, text
    assert FATAL in text, text
