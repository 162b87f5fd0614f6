"""Which settings make a reusable container another one: `singleton.config_hash`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import pytest

from hodei_e2e.config import PostgresConfig, ReadyCheck, ServiceConfig
from hodei_e2e.engine.docker import Engine
from hodei_e2e.engine.singleton import PostgresRecipe, ServiceRecipe, config_hash, container_name

NO_ENGINE = cast(Engine, None)  # hashing never talks to the engine
REDIS = ServiceConfig(name="redis", image="redis:7", ports=(6379,), environment={"A": "1"})


def service_hash(config: ServiceConfig, project: str = "p") -> str:
    return config_hash(project, ServiceRecipe(config, NO_ENGINE))


@pytest.mark.parametrize(
    "change",
    [
        {"image": "redis:8"},
        {"ports": (6380,)},
        {"environment": {"A": "2"}},
        {"command": ("redis-server", "--appendonly", "yes")},
        {"name": "cache"},
    ],
)
def test_what_shapes_the_container_changes_the_hash(change: dict[str, Any]) -> None:
    assert service_hash(replace(REDIS, **change)) != service_hash(REDIS)


@pytest.mark.parametrize(
    "change",
    [
        {"ready": ReadyCheck(tcp=6379)},
        {"exports": {"REDIS_URL": "redis://{host}:{port}"}},
        {"startup_timeout": 5.0},
        {"max_reuse": 60.0},
        {"reuse": True},
    ],
)
def test_what_the_run_does_with_it_keeps_the_hash(change: dict[str, Any]) -> None:
    assert service_hash(replace(REDIS, **change)) == service_hash(REDIS)


def test_projects_and_roles_never_share_a_container() -> None:
    assert service_hash(REDIS, "a") != service_hash(REDIS, "b")
    postgres = config_hash("p", PostgresRecipe(PostgresConfig(), NO_ENGINE))
    assert postgres != service_hash(REDIS)
    assert len(postgres) == 16


def test_postgres_password_counts_but_is_not_readable_in_the_material() -> None:
    recipe = PostgresRecipe(PostgresConfig(password="s3cret"), NO_ENGINE)
    assert "s3cret" not in repr(recipe.material())
    other = PostgresRecipe(PostgresConfig(password="other"), NO_ENGINE)
    assert config_hash("p", recipe) != config_hash("p", other)


def test_container_name_names_the_project_and_service() -> None:
    assert (
        container_name("hodei", "redis", "0123456789abcdef") == "hodei-e2e-hodei-redis-0123456789ab"
    )
