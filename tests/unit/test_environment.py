"""The environment every suite is given (DESIGN.md, "Environment given to every suite")."""

from __future__ import annotations

from typing import Any

import pytest

from hodei_e2e.errors import ConfigError, ExitCode
from hodei_e2e.suites.environment import RunFacts, ServerFacts, render, suite_environment

FACTS = RunFacts(
    run_id="20260101120000-abc123",
    project="hodei",
    worker_image="hodei-worker:e2e-test",
    server_host="172.17.0.1",
    user="postgres",
    password="p@ss/word",
)
SERVER = ServerFacts(
    host="127.0.0.1",
    port=49153,
    admin_url="postgres://postgres:p%40ss%2Fword@127.0.0.1:49153/postgres",
)
URL = "postgres://postgres:p%40ss%2Fword@127.0.0.1:49153/e2e_db_1_api"


def env_for(**kwargs: Any) -> dict[str, str]:
    return suite_environment(
        FACTS,
        SERVER,
        suite="api",
        database="e2e_db_1_api",
        database_url=URL,
        **kwargs,
    )


def test_the_contract_variables() -> None:
    env = env_for()
    assert env["DATABASE_URL"] == env["HODEI_E2E_DATABASE_URL"] == URL
    assert env["PGHOST"] == "127.0.0.1"
    assert env["PGPORT"] == "49153"
    assert env["PGUSER"] == "postgres"
    assert env["PGPASSWORD"] == "p@ss/word"  # libpq takes the password as it is, not %-encoded
    assert env["PGDATABASE"] == env["HODEI_E2E_DATABASE_NAME"] == "e2e_db_1_api"
    assert env["HODEI_E2E_ADMIN_DATABASE_URL"] == SERVER.admin_url
    assert env["HODEI_E2E_DOCKER"] == "1"
    assert env["HODEI_WORKER_IMAGE"] == "hodei-worker:e2e-test"
    assert env["HODEI_SERVER_HOST"] == "172.17.0.1"
    assert env["HODEI_E2E_RUN_ID"] == "20260101120000-abc123"
    assert env["HODEI_E2E_SUITE"] == "api"


def test_every_value_is_a_string() -> None:
    assert all(isinstance(v, str) for v in env_for().values())


def test_template_database_only_when_there_is_one() -> None:
    assert "HODEI_E2E_TEMPLATE_DATABASE" not in env_for()
    server = ServerFacts(**{**SERVER.__dict__, "template_database": "e2e_tpl_0123abcd"})
    env = suite_environment(FACTS, server, suite="api", database="d", database_url=URL)
    assert env["HODEI_E2E_TEMPLATE_DATABASE"] == "e2e_tpl_0123abcd"


def test_config_env_templates_are_rendered() -> None:
    env = env_for(
        config_env={
            "APP_DSN": "{database_url}",
            "WHO": "{project}/{suite}@{run_id}",
            "WHERE": "{host}:{port} as {user} in {database}",
            "ADMIN": "{admin_database_url}",
            "WORKER": "{worker_image} -> {server_host}",
            "UPPER": "{HODEI_E2E_DATABASE_NAME}",
            "PLAIN": "info",
        }
    )
    assert env["APP_DSN"] == URL
    assert env["WHO"] == "hodei/api@20260101120000-abc123"
    assert env["WHERE"] == "127.0.0.1:49153 as postgres in e2e_db_1_api"
    assert env["ADMIN"] == SERVER.admin_url
    assert env["WORKER"] == "hodei-worker:e2e-test -> 172.17.0.1"
    assert env["UPPER"] == "e2e_db_1_api"
    assert env["PLAIN"] == "info"


def test_suite_env_wins_over_config_env() -> None:
    env = env_for(config_env={"RUST_LOG": "info"}, suite_env={"RUST_LOG": "debug,{suite}=trace"})
    assert env["RUST_LOG"] == "debug,api=trace"


def test_config_env_may_override_a_contract_variable() -> None:
    # `env:` is applied on top of the contract (the table's last row): the user has the last word.
    env = env_for(config_env={"HODEI_SERVER_HOST": "host.docker.internal"})
    assert env["HODEI_SERVER_HOST"] == "host.docker.internal"


def test_exports_of_services_are_given_and_usable_in_templates() -> None:
    env = env_for(
        exports={"REDIS_URL": "redis://127.0.0.1:49200"}, config_env={"CACHE": "{REDIS_URL}/0"}
    )
    assert env["REDIS_URL"] == "redis://127.0.0.1:49200"
    assert env["CACHE"] == "redis://127.0.0.1:49200/0"


def test_templates_see_the_contract_not_other_config_values() -> None:
    with pytest.raises(ConfigError):
        env_for(config_env={"A": "a", "B": "{A}"})


def test_unknown_template_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        env_for(suite_env={"DSN": "{databse_url}"})
    message = caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE
    assert "suites.api.env.DSN" in message
    assert "{databse_url}" in message
    assert "database_url" in message  # the known names are listed


def test_unknown_template_in_top_level_env_names_env_key() -> None:
    with pytest.raises(ConfigError) as caught:
        env_for(config_env={"X": "{nope}"})
    assert "env.X" in caught.value.message


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{literal}}", "{literal}"),
        ("{{{suite}}}", "{api}"),
        ('{"json": true}', '{"json": true}'),  # not a placeholder: left alone
        ("{not a name}", "{not a name}"),
        ("{}", "{}"),
        ("no braces", "no braces"),
        ("{suite}-{suite}", "api-api"),
    ],
)
def test_render(template: str, rendered: str) -> None:
    assert render(template, {"suite": "api"}, "env.X") == rendered


def test_render_rejects_an_unknown_name_inside_shell_syntax() -> None:
    # e2e.yaml interpolates ${VAR} when it is loaded; what reaches `render` as `${HOME}` holds
    # the placeholder {HOME}, an unknown name: an error, not a silent pass-through.
    with pytest.raises(ConfigError):
        render("$" + "{HOME}", {"suite": "api"}, "env.X")


def test_render_does_not_render_twice() -> None:
    # A value that itself looks like a placeholder is inserted as it is.
    assert render("{a}", {"a": "{b}", "b": "no"}, "env.X") == "{b}"
