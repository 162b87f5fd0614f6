"""`load_config`: the e2e.yaml schema, and error messages that name FILE:LINE: key.path."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from hodei_e2e.config import (
    DEFAULT_SETTINGS,
    Config,
    ImageConfig,
    MigrationsConfig,
    ReadyCheck,
    load_config,
)
from hodei_e2e.errors import ConfigError, ExitCode

DESIGN_SKETCH = """\
version: 1
project: hodei
requires: [cargo]                      # tools that must be on PATH
image:
  tag: hodei-worker:e2e-test
  dockerfile: scripts/docker/Dockerfile.worker
  context: .
  build_args: {}
  rebuild: if-changed                  # if-missing | if-changed | always
postgres:
  image: ${HODEI_E2E_POSTGRES_IMAGE:-postgres:16-alpine}
  user: postgres
  password: postgres
  settings: {fsync: "off", synchronous_commit: "off", full_page_writes: "off"}
  tmpfs: true
  startup_timeout: 60s
  reuse: false
  max_reuse: 8h
  migrations: {dir: migrations}        # or {command: "...", files: ["migrations/**"]}
services:
  redis:
    image: redis:7-alpine
    port: 6379                         # published on 127.0.0.1, random host port
    environment: {}                    # the container's own environment
    command: null                      # optional override
    ready: [redis-cli, ping]           # exec check; or {tcp: 6379} / {http: "..."}
    startup_timeout: 30s
    exports: {REDIS_URL: "redis://{host}:{port}"}   # variables given to the suites that need it
env:
  RUST_LOG: info
suites:
  docker-provider:
    command: cargo test -p hodei-jobs-grpc --test e2e_docker_provider -- --ignored --nocapture
    timeout: 10m
    needs: [postgres]
    tags: [docker]
    retries: 0
    junit: target/nextest/e2e/junit.xml   # merge the suite's own report, when it writes one
defaults: {jobs: 2, timeout: 15m}
"""

MINIMAL = "suites:\n  api: make test\n"


def write(directory: Path, text: str, name: str = "e2e.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def load(directory: Path, text: str, environ: Mapping[str, str] | None = None) -> Config:
    return load_config(write(directory, text), environ={} if environ is None else environ)


def error_of(directory: Path, text: str, environ: Mapping[str, str] | None = None) -> str:
    """The message of the ConfigError that loading `text` raises, with the file shown as FILE."""
    path = write(directory, text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={} if environ is None else environ)
    return str(excinfo.value).replace(str(path), "FILE")


# -- The happy path --------------------------------------------------------------------------------


def test_design_sketch_loads_with_paths_resolved_and_durations_in_seconds(tmp_path: Path) -> None:
    config = load(tmp_path, DESIGN_SKETCH)

    assert config.path == tmp_path / "e2e.yaml"
    assert config.root == tmp_path
    assert (config.version, config.project, config.requires) == (1, "hodei", ("cargo",))
    assert config.image == ImageConfig(
        tag="hodei-worker:e2e-test",
        dockerfile=tmp_path / "scripts/docker/Dockerfile.worker",
        context=tmp_path,
        build_args={},
        target=None,
        rebuild="if-changed",
    )

    postgres = config.postgres
    assert postgres.image == "postgres:16-alpine"
    assert (postgres.user, postgres.password) == ("postgres", "postgres")
    assert postgres.settings == DEFAULT_SETTINGS
    assert (postgres.tmpfs, postgres.reuse) == (True, False)
    assert (postgres.startup_timeout, postgres.max_reuse) == (60.0, 8 * 3600.0)
    assert postgres.migrations == MigrationsConfig(dir=tmp_path / "migrations")
    assert postgres.database_prefix == "e2e"

    redis = config.services["redis"]
    assert (redis.name, redis.image, redis.ports) == ("redis", "redis:7-alpine", (6379,))
    assert (redis.environment, redis.command) == ({}, None)
    assert redis.ready == ReadyCheck(exec=("redis-cli", "ping"))
    assert redis.startup_timeout == 30.0
    assert redis.exports == {"REDIS_URL": "redis://{host}:{port}"}  # templates left alone

    assert config.env == {"RUST_LOG": "info"}
    suite = config.suites["docker-provider"]
    assert suite.command.startswith("cargo test -p hodei-jobs-grpc --test e2e_docker_provider")
    assert (suite.timeout, suite.needs, suite.tags, suite.retries) == (
        600.0,
        ("postgres",),
        ("docker",),
        0,
    )
    assert suite.junit == tmp_path / "target/nextest/e2e/junit.xml"
    assert suite.workdir == tmp_path
    assert (config.defaults.jobs, config.defaults.timeout) == (2, 900.0)


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    project_dir = tmp_path / "My Project!"
    project_dir.mkdir()
    config = load(project_dir, MINIMAL)

    assert config.project == "my-project"  # the directory's name, sanitized
    assert config.image is None
    assert config.postgres.image == "postgres:16-alpine"
    assert config.postgres.migrations is None
    assert config.services == {}
    suite = config.suites["api"]
    assert suite.command == "make test"
    assert (suite.timeout, suite.needs, suite.retries, suite.junit) == (
        None,
        ("postgres",),
        0,
        None,
    )
    assert suite.workdir == project_dir
    assert (config.defaults.jobs, config.defaults.timeout) == (2, 900.0)


def test_suites_keep_declaration_order(tmp_path: Path) -> None:
    config = load(tmp_path, "suites: {zeta: z, alpha: a, mid: m}\n")
    assert list(config.suites) == ["zeta", "alpha", "mid"]


def test_image_dockerfile_defaults_to_the_context_and_paths_are_relative_to_the_file(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path,
        """\
        image: {context: ../ctx, build_args: {N: 3, FLAG: true, V: 1.10}, target: worker}
        suites:
          api: {command: x, workdir: sub/dir, junit: /abs/junit.xml}
        """,
    )
    assert config.image is not None
    assert config.image.context == tmp_path.parent / "ctx"
    assert config.image.dockerfile == tmp_path.parent / "ctx" / "Dockerfile"
    assert config.image.build_args == {"N": "3", "FLAG": "true", "V": "1.10"}  # as written
    assert config.image.target == "worker"
    assert config.suites["api"].workdir == tmp_path / "sub/dir"
    assert config.suites["api"].junit == Path("/abs/junit.xml")


def test_postgres_settings_are_strings_merged_over_the_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        postgres:
          settings: {fsync: on, max_connections: 200, log_statement: all}
          database_prefix: hodei_t
          migrations: {command: "cargo sqlx migrate run", files: ["migrations/**"]}
        suites: {api: x}
        """,
    )
    assert config.postgres.settings == {
        **DEFAULT_SETTINGS,
        "fsync": "on",
        "max_connections": "200",
        "log_statement": "all",
    }
    assert config.postgres.database_prefix == "hodei_t"
    assert config.postgres.migrations == MigrationsConfig(
        command="cargo sqlx migrate run", files=("migrations/**",)
    )


def test_service_forms_of_ports_command_and_ready(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            ports: [80, 8080]
            command: nginx -g "daemon off;"
            ready: {http: "http://{host}:{port}/health"}
          mq:
            image: rabbitmq
            port: 5672
            ready: {tcp: 5672}
          cache:
            image: redis
            command: [redis-server, --port, 6380]
            ready: redis-cli -p 6380 ping
        suites:
          api: {command: x, needs: [postgres, web, mq, web]}
        """,
    )
    web, mq, cache = config.services["web"], config.services["mq"], config.services["cache"]
    assert web.ports == (80, 8080)
    assert web.command == ("nginx", "-g", "daemon off;")
    assert web.ready == ReadyCheck(http="http://{host}:{port}/health")
    assert mq.ready == ReadyCheck(tcp=5672)
    assert cache.command == ("redis-server", "--port", "6380")
    assert cache.ready == ReadyCheck(exec=("redis-cli", "-p", "6380", "ping"))
    assert config.suites["api"].needs == ("postgres", "web", "mq")  # duplicates dropped


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("45", 45.0),
        ("2.5", 2.5),
        ("'90'", 90.0),
    ],
)
def test_durations(tmp_path: Path, written: str, seconds: float) -> None:
    config = load(tmp_path, f"suites: {{api: {{command: x, timeout: {written}}}}}\n")
    assert config.suites["api"].timeout == seconds


# -- Interpolation ---------------------------------------------------------------------------------


def test_interpolation_uses_the_environ_and_defaults(tmp_path: Path) -> None:
    text = """\
    postgres: {image: "${PG_IMAGE:-postgres:16-alpine}", password: "${PG_PASSWORD}"}
    env: {GREETING: "hello ${WHO:-world}", EMPTY_FALLS_BACK: "${BLANK:-dflt}"}
    suites: {api: x}
    """
    config = load(tmp_path, text, environ={"PG_PASSWORD": "s3cret", "BLANK": ""})
    assert config.postgres.image == "postgres:16-alpine"
    assert config.postgres.password == "s3cret"
    assert config.env == {"GREETING": "hello world", "EMPTY_FALLS_BACK": "dflt"}

    config = load(tmp_path, text, environ={"PG_IMAGE": "postgres:17", "PG_PASSWORD": "x"})
    assert config.postgres.image == "postgres:17"


def test_double_dollar_escapes_and_other_dollars_and_braces_are_left_alone(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        env: {URL: "postgres://{host}:{port}/x"}
        suites:
          api: echo $${HOME} $$ $HOME {database_url}
        """,
        environ={"HOME": "/home/me"},
    )
    assert config.suites["api"].command == "echo ${HOME} $ $HOME {database_url}"
    assert config.env == {"URL": "postgres://{host}:{port}/x"}


def test_interpolated_values_are_typed_where_a_number_or_boolean_is_expected(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path,
        """\
        postgres: {reuse: "${REUSE:-false}"}
        defaults: {jobs: "${JOBS}", timeout: "${TIMEOUT:-20m}"}
        suites: {api: x}
        """,
        environ={"REUSE": "true", "JOBS": "4"},
    )
    assert config.postgres.reuse is True
    assert (config.defaults.jobs, config.defaults.timeout) == (4, 1200.0)


def test_malformed_interpolation(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'suites:\n  api: "echo ${HOME%/*}"\n')
    assert message.startswith("FILE:2: suites.api: invalid interpolation '${HOME%/*}'")
    assert "write $$ for a literal $" in message


# -- Errors: reading and parsing -------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})
    assert str(excinfo.value) == f"{path}: no such file"
    assert excinfo.value.detail is not None
    assert "-c" in excinfo.value.detail
    assert "HODEI_E2E_CONFIG" in excinfo.value.detail
    assert excinfo.value.exit_code == ExitCode.USAGE


def test_file_is_named_as_given_and_config_path_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "suites: {api: {command: x, timeout: soon}}\n", "bad.yaml")
    write(tmp_path, MINIMAL, "good.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^bad\.yaml:1: suites\.api\.timeout: "):
        load_config(Path("bad.yaml"), environ={})
    config = load_config(Path("good.yaml"), environ={})
    assert (config.path, config.root) == (tmp_path / "good.yaml", tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the file's structure
        pytest.param(
            "# only a comment\n",
            "FILE: the file is empty; expected a mapping with at least 'suites'",
            id="empty_file",
        ),
        pytest.param(
            "- api\n- web\n",
            "FILE:1: expected a mapping at the top level; got a list",
            id="top_level_must_be_a_mapping",
        ),
        pytest.param(
            "suites:\n  api: !shell make\n",
            "FILE:2: suites.api: unsupported YAML tag '!shell'",
            id="unsupported_tag",
        ),
        pytest.param(
            "version: 1\n",
            "FILE:1: missing required key 'suites'",
            id="no_suites_key",
        ),
        pytest.param(
            "version: 1\nsuites: {}\n",
            "FILE:2: suites: expected at least one suite; got none",
            id="no_suites_in_the_mapping",
        ),
        pytest.param(
            "suites:\n  api:\n    timeout: 5m\n",
            "FILE:2: suites.api: missing required key 'command'",
            id="suite_without_command",
        ),
        # reading and parsing
        pytest.param(
            'suites:\n  api:\n    command: "cargo test\n',
            (
                "FILE:4: invalid YAML: found unexpected end of stream"
                " (while scanning a quoted scalar at line 3)"
            ),
            id="unterminated_quote_names_where_it_started",
        ),
        pytest.param(
            """\
            suites:
              api: make api
              web: make web
              api: make api2
            """,
            "FILE:4: suites.api: duplicate key (first set on line 2)",
            id="duplicate_key",
        ),
        # interpolation
        pytest.param(
            """\
            suites:
              api:
                command: cargo test
                env: {TOKEN: "${API_TOKEN}"}
            """,
            (
                "FILE:4: suites.api.env.TOKEN: environment variable API_TOKEN is not set"
                " (give a default: ${API_TOKEN:-...})"
            ),
            id="unset_variable_without_default",
        ),
        # the schema
        pytest.param(
            "version: 1\nsuits:\n  api: x\n",
            "FILE:2: suits: unknown key 'suits'; did you mean 'suites'?",
            id="unknown_top_level_key_suggests_the_closest",
        ),
        pytest.param(
            """\
            services:
              redis:
                image: redis:7-alpine
                port: 6379
                ready: {tpc: 6379}
            suites: {api: x}
            """,
            "FILE:5: services.redis.ready.tpc: unknown key 'tpc'; did you mean 'tcp'?",
            id="unknown_nested_key_names_the_full_path",
        ),
        pytest.param(
            "suites:\n  api:\n    command: x\n    timout: 5m\n",
            "FILE:4: suites.api.timout: unknown key 'timout'; did you mean 'timeout'?",
            id="unknown_suite_key",
        ),
        pytest.param(
            """\
            version: 1
            suites:
              api:
                command: cargo test

                timeout: soon
            """,
            "FILE:6: suites.api.timeout: expected a duration like 30s, 5m, 1h; got 'soon'",
            id="bad_duration",
        ),
        pytest.param(
            'postgres:\n  tmpfs: "yes"\nsuites: {api: x}\n',
            "FILE:2: postgres.tmpfs: expected true or false; got 'yes'",
            id="wrong_type_boolean",
        ),
        pytest.param(
            "env:\n  RUST_LOG: [info]\nsuites: {api: x}\n",
            "FILE:2: env.RUST_LOG: expected a string; got a list",
            id="wrong_type_collection_where_a_string_is_expected",
        ),
        pytest.param(
            "requires: cargo\nsuites: {api: x}\n",
            "FILE:1: requires: expected a list of strings; got 'cargo'",
            id="wrong_type_list_expected",
        ),
        pytest.param(
            "defaults: {jobs: 0}\nsuites: {api: x}\n",
            "FILE:1: defaults.jobs: expected an integer >= 1; got 0",
            id="wrong_type_integer",
        ),
        pytest.param(
            "image: {rebuild: if_changed}\nsuites: {api: x}\n",
            (
                "FILE:1: image.rebuild: expected one of if-missing, if-changed, always;"
                " got 'if_changed'; did you mean 'if-changed'?"
            ),
            id="bad_choice_suggests",
        ),
        pytest.param(
            "image: {builder: build-kit}\nsuites: {api: x}\n",
            (
                "FILE:1: image.builder: expected one of auto, buildkit, classic;"
                " got 'build-kit'; did you mean 'buildkit'?"
            ),
            id="bad_builder",
        ),
        pytest.param(
            """\
            services:
              redis: {image: redis:7-alpine, port: 6379}
            suites:
              api:
                command: x
                needs:
                  - postgres
                  - redsi
            """,
            "FILE:8: suites.api.needs[1]: unknown service 'redsi'; did you mean 'redis'?",
            id="needs_an_unknown_service",
        ),
        pytest.param(
            """\
            services:
              redis:
                image: redis:7-alpine
                port: 6379
                ports: [6379, 6380]
            suites: {api: x}
            """,
            "FILE:5: services.redis.ports: set either 'port' or 'ports', not both",
            id="both_port_and_ports",
        ),
        pytest.param(
            "services:\n  r: {image: r, ports: [1, 70000]}\nsuites: {a: x}\n",
            "FILE:2: services.r.ports[1]: expected a port number from 1 to 65535; got 70000",
            id="port_out_of_range",
        ),
        pytest.param(
            "services:\n  postgres: {image: postgres}\nsuites: {a: x}\n",
            (
                "FILE:2: services.postgres: the name 'postgres' is reserved"
                " for the tool's own Postgres"
            ),
            id="service_name_postgres_is_reserved",
        ),
        pytest.param(
            "services:\n  redis:\n    port: 6379\nsuites: {a: x}\n",
            "FILE:2: services.redis: missing required key 'image'",
            id="service_without_image",
        ),
        pytest.param(
            """\
            postgres:
              migrations:
                dir: migrations
                command: sqlx migrate run
            suites: {api: x}
            """,
            "FILE:2: postgres.migrations: set either 'dir' or 'command', not both",
            id="migrations_with_both_dir_and_command",
        ),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text) == expected


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        version: 1
        suites:
          api:
            command: cargo test
           timeout: 5m
        """,
    )
    assert message.startswith("FILE:5: invalid YAML: ")
    assert "expected <block end>" in message


# -- Errors: the schema ----------------------------------------------------------------------------


def test_unknown_key_without_a_close_match_lists_the_valid_ones(tmp_path: Path) -> None:
    message = error_of(tmp_path, "suites: {api: x}\npostgres: {xyz: 1}\n")
    assert message.startswith("FILE:2: postgres.xyz: unknown key 'xyz'; expected one of: image,")


@pytest.mark.parametrize(
    ("written", "shown"), [("0", "0"), ("0s", "'0s'"), ("-5", "-5"), (".inf", ".inf")]
)
def test_durations_must_be_positive(tmp_path: Path, written: str, shown: str) -> None:
    message = error_of(tmp_path, f"defaults: {{timeout: {written}}}\nsuites: {{api: x}}\n")
    assert message == (
        f"FILE:1: defaults.timeout: expected a positive duration like 30s, 5m, 1h; got {shown}"
    )


def test_unsupported_version(tmp_path: Path) -> None:
    message = error_of(tmp_path, "version: 2\nsuites: {api: x}\n")
    assert message.startswith("FILE:1: version: expected 1 ")
    assert message.endswith("; got 2")


def test_ready_tcp_port_must_be_published(tmp_path: Path) -> None:
    message = error_of(tmp_path, "services:\n  r: {image: r, ready: {tcp: 6379}}\nsuites: {a: x}\n")
    assert message.startswith("FILE:2: services.r.ready.tcp: port 6379 is not published")


def test_service_name_must_be_lower_case(tmp_path: Path) -> None:
    message = error_of(tmp_path, "services:\n  Redis: {image: redis}\nsuites: {a: x}\n")
    assert message.startswith("FILE:2: services.Redis: invalid service name 'Redis': expected ")


def test_service_reuse_and_max_reuse(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        services:
          cache: {image: redis, reuse: true, max_reuse: 2h}
          queue: {image: rabbitmq}
        suites: {a: {command: x, needs: [cache, queue]}}
        """,
    )
    cache, queue = config.services["cache"], config.services["queue"]
    assert (cache.reuse, cache.max_reuse) == (True, 7200.0)
    assert (queue.reuse, queue.max_reuse) == (False, 8 * 3600.0)


def test_service_reuse_must_be_a_boolean(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, "services:\n  redis: {image: redis, reuse: often}\nsuites: {a: x}\n"
    )
    assert message.startswith("FILE:2: services.redis.reuse: expected "), message


def test_migrations_files_need_a_command(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "postgres:\n  migrations: {dir: m, files: ['m/**']}\nsuites: {api: x}\n",
    )
    assert message.startswith("FILE:2: postgres.migrations.files: only allowed with 'command'")


def test_database_prefix_rules(tmp_path: Path) -> None:
    message = error_of(tmp_path, "postgres: {database_prefix: E2E}\nsuites: {api: x}\n")
    assert message.startswith("FILE:1: postgres.database_prefix: expected 1 to 16 lower-case")
    assert message.endswith("; got 'E2E'")
