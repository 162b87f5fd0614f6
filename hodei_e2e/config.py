"""The `e2e.yaml` schema as frozen dataclasses, and its loader.

Nothing downstream reads raw dicts: `load_config` turns the file into a `Config` or raises a
`ConfigError` naming the file, the line and the key path.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

from hodei_e2e.errors import ConfigError

RebuildPolicy = Literal["if-missing", "if-changed", "always"]
BuilderSetting = Literal["auto", "buildkit", "classic"]  # see hodei_e2e/image/builder.py

DEFAULT_MAX_REUSE = 8 * 3600.0  # seconds a reusable container may serve
DEFAULT_POSTGRES_IMAGE = "postgres:16-alpine"
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass(frozen=True, kw_only=True)
class ImageConfig:
    tag: str = "hodei-worker:e2e-test"
    dockerfile: Path  # absolute
    context: Path  # absolute
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    rebuild: RebuildPolicy = "if-changed"
    builder: BuilderSetting = "auto"
    after_prepare: bool = False  # `after: prepare`: the build waits for the prepare step


@dataclass(frozen=True, kw_only=True)
class PrepareConfig:
    """`prepare:`: commands run once, in order, before any suite (compiling the tests)."""

    commands: tuple[str, ...]  # each through the shell, in the config file's directory
    timeout: float | None = None  # None: the defaults' timeout
    needs: tuple[str, ...] = ()  # non-empty: the suites' environment, with its own database


@dataclass(frozen=True, kw_only=True)
class MigrationsConfig:
    dir: Path | None = None  # absolute; .sql files applied in name order
    command: str | None = None  # run with DATABASE_URL pointing at the template
    files: tuple[str, ...] = ()  # globs (relative to the config dir) fingerprinting `command`


@dataclass(frozen=True, kw_only=True)
class PostgresConfig:
    image: str = DEFAULT_POSTGRES_IMAGE
    user: str = "postgres"
    password: str = "postgres"
    settings: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    tmpfs: bool = True
    startup_timeout: float = 60.0  # seconds
    reuse: bool = False
    max_reuse: float = DEFAULT_MAX_REUSE  # seconds
    migrations: MigrationsConfig | None = None
    database_prefix: str = "e2e"
    # The container's own environment on top of the official image's interface, e.g.
    # POSTGRES_INITDB_ARGS: "--encoding=SQL_ASCII --locale=C".
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ReadyCheck:
    """Exactly one of the three is set."""

    exec: tuple[str, ...] | None = None
    tcp: int | None = None
    http: str | None = None


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    name: str
    image: str
    ports: tuple[int, ...] = ()  # container ports, published on 127.0.0.1 at random host ports
    environment: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    ready: ReadyCheck | None = None
    startup_timeout: float = 30.0
    exports: Mapping[str, str] = field(default_factory=dict)
    reuse: bool = False  # keep the container between runs, like `postgres.reuse`
    max_reuse: float = DEFAULT_MAX_REUSE  # seconds


@dataclass(frozen=True, kw_only=True)
class SuiteConfig:
    name: str
    command: str  # run through the shell
    timeout: float | None = None  # None: the defaults' timeout
    needs: tuple[str, ...] = ("postgres",)
    tags: tuple[str, ...] = ()
    retries: int = 0
    junit: Path | None = None  # absolute
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: Path  # absolute; the config file's directory unless set


@dataclass(frozen=True, kw_only=True)
class Defaults:
    jobs: int = 2
    timeout: float = 15 * 60.0
    remove_testcontainers: bool = True  # remove Testcontainers' leftovers of the run


@dataclass(frozen=True, kw_only=True)
class Config:
    path: Path  # absolute path of the file
    root: Path  # its directory
    version: int = 1
    project: str
    requires: tuple[str, ...] = ()
    image: ImageConfig | None = None
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    services: Mapping[str, ServiceConfig] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    prepare: PrepareConfig | None = None
    suites: Mapping[str, SuiteConfig] = field(default_factory=dict)  # declaration order
    defaults: Defaults = field(default_factory=Defaults)


def config_path(option: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file: `-c FILE`, else `$HODEI_E2E_CONFIG`, else `./e2e.yaml`."""
    if option is not None:
        return option
    environ = os.environ if environ is None else environ
    return Path(environ.get("HODEI_E2E_CONFIG") or "e2e.yaml")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate `path`; `environ` (default `os.environ`) feeds `${VAR}` interpolation.

    Every problem raises `ConfigError` whose message starts `FILE:LINE: key.path:`, with FILE
    the path as given.
    """
    name = str(path)
    absolute = Path(os.path.abspath(path))
    source = _Source(name, absolute.parent, os.environ if environ is None else environ)
    node = _compose(name, _read(Path(path), name))
    return _config(_Cursor(source, node, "", _line(node)), absolute)


# -- Schema ----------------------------------------------------------------------------------------

_TOP_KEYS = (
    "version", "project", "requires", "image", "postgres", "services", "env", "prepare", "suites",
    "defaults",
)  # fmt: skip
_IMAGE_KEYS = (
    "tag", "dockerfile", "context", "build_args", "target", "rebuild", "after", "builder",
)  # fmt: skip
_IMAGE_AFTER = ("prepare",)
_PREPARE_KEYS = ("commands", "command", "timeout", "needs")
PREPARE_STEP = "prepare"  # the step's name in the reports; no suite may take it
_POSTGRES_KEYS = (
    "image", "user", "password", "settings", "tmpfs", "startup_timeout", "reuse", "max_reuse",
    "migrations", "database_prefix", "environment",
)  # fmt: skip
_MIGRATIONS_KEYS = ("dir", "command", "files")
_SERVICE_KEYS = (
    "image", "port", "ports", "environment", "command", "ready", "startup_timeout", "exports",
    "reuse", "max_reuse",
)  # fmt: skip
_READY_KEYS = ("exec", "tcp", "http")
_SUITE_KEYS = ("command", "timeout", "needs", "tags", "retries", "junit", "env", "workdir")
_DEFAULTS_KEYS = ("jobs", "timeout", "remove_testcontainers")

_REBUILD: dict[str, RebuildPolicy] = {
    "if-missing": "if-missing",
    "if-changed": "if-changed",
    "always": "always",
}

_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DATABASE_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,15}")
_VARIABLE_NAME = re.compile(r"[^=\s]+")
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")

_DURATION_WHAT = "a duration like 30s, 5m, 1h"
_READY_WHAT = "a command (a string or a list), {tcp: PORT} or {http: URL}"
_MISSING_FILE_HINT = "Point at the configuration with -c PATH or HODEI_E2E_CONFIG=PATH."

# Defaults are read from the dataclasses, so they are written down once.
_IMAGE_DEFAULTS = ImageConfig(dockerfile=Path("Dockerfile"), context=Path())
_POSTGRES_DEFAULTS = PostgresConfig()
_SERVICE_DEFAULTS = ServiceConfig(name="", image="")
_SUITE_DEFAULTS = SuiteConfig(name="", command="", workdir=Path())
_DEFAULTS = Defaults()


def _config(top: _Cursor, path: Path) -> Config:
    fields = top.fields(_TOP_KEYS, "a mapping at the top level")
    services: Mapping[str, ServiceConfig] = fields.read("services", _services, {})
    needable = ("postgres", *services)
    prepare = fields.read("prepare", lambda cursor: _prepare(cursor, needable), None)
    image = fields.read("image", _image, None)
    if image is not None and image.after_prepare and prepare is None:
        after = fields.require("image").fields(_IMAGE_KEYS).require("after")
        raise after.error("the image waits for the prepare step, but there is no 'prepare'")
    suites = _suites(fields.require("suites"), services)
    if prepare is not None and PREPARE_STEP in suites:
        raise fields.require("suites").error(
            f"suite name '{PREPARE_STEP}' is taken by the prepare step; rename the suite"
        )
    return Config(
        path=path,
        root=path.parent,
        version=fields.read("version", _version, 1),
        project=fields.read("project", _project, _default_project(path.parent)),
        requires=fields.read("requires", _Cursor.words, ()),
        image=image,
        postgres=fields.read("postgres", _postgres, _POSTGRES_DEFAULTS),
        services=services,
        env=fields.read("env", _Cursor.text_map, {}),
        prepare=prepare,
        suites=suites,
        defaults=fields.read("defaults", _defaults, _DEFAULTS),
    )


def _version(cursor: _Cursor) -> int:
    return cursor.integer("1 (the only version this hodei-e2e reads)", minimum=1, maximum=1)


def _project(cursor: _Cursor) -> str:
    return cursor.matching(_PROJECT_NAME, "a project name of lower-case letters, digits, _ and -")


def _default_project(root: Path) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-_") or "e2e"


def _image(cursor: _Cursor) -> ImageConfig:
    fields = cursor.fields(_IMAGE_KEYS)
    context = fields.read("context", _Cursor.path, cursor.source.root)
    return ImageConfig(
        tag=fields.read("tag", _Cursor.word, _IMAGE_DEFAULTS.tag),
        dockerfile=fields.read("dockerfile", _Cursor.path, context / "Dockerfile"),
        context=context,
        build_args=fields.read("build_args", _Cursor.text_map, {}),
        target=fields.read("target", _Cursor.word, None),
        rebuild=fields.read("rebuild", _rebuild, _IMAGE_DEFAULTS.rebuild),
        builder=fields.read("builder", _builder, _IMAGE_DEFAULTS.builder),
        after_prepare=fields.read("after", lambda after: after.choice(_IMAGE_AFTER), "") != "",
    )


_PREPARE_WHAT = "a command, a list of commands or {commands: [...], timeout: ..., needs: [...]}"


def _prepare(cursor: _Cursor, needable: Sequence[str]) -> PrepareConfig:
    if not isinstance(cursor.node, MappingNode):
        return PrepareConfig(commands=_commands(cursor))
    fields = cursor.fields(_PREPARE_KEYS, _PREPARE_WHAT)
    commands, command = fields.get("commands"), fields.get("command")
    if commands is not None and command is not None:
        raise command.error("set either 'commands' or 'command', not both")
    given = commands or command
    if given is None:
        raise cursor.error("missing required key 'commands' (a command or a list of commands)")
    return PrepareConfig(
        commands=_commands(given),
        timeout=fields.read("timeout", _Cursor.duration, None),
        needs=fields.read("needs", lambda needs: _needs(needs, needable), ()),
    )


def _commands(cursor: _Cursor) -> tuple[str, ...]:
    if cursor.is_string():
        return (cursor.word("a command"),)
    commands = tuple(item.word("a command string") for item in cursor.items(_PREPARE_WHAT))
    if not commands:
        raise cursor.error("expected at least one command; got an empty list")
    return commands


def _rebuild(cursor: _Cursor) -> RebuildPolicy:
    return _REBUILD[cursor.choice(tuple(_REBUILD))]


_BUILDERS: dict[str, BuilderSetting] = {name: name for name in ("auto", "buildkit", "classic")}


def _builder(cursor: _Cursor) -> BuilderSetting:
    return _BUILDERS[cursor.choice(tuple(_BUILDERS))]


def _postgres(cursor: _Cursor) -> PostgresConfig:
    fields = cursor.fields(_POSTGRES_KEYS)
    default = _POSTGRES_DEFAULTS
    return PostgresConfig(
        image=fields.read("image", _Cursor.word, default.image),
        user=fields.read("user", _Cursor.word, default.user),
        password=fields.read("password", _Cursor.word, default.password),
        settings={**default.settings, **fields.read("settings", _settings, {})},
        tmpfs=fields.read("tmpfs", _Cursor.boolean, default.tmpfs),
        startup_timeout=fields.read("startup_timeout", _Cursor.duration, default.startup_timeout),
        reuse=fields.read("reuse", _Cursor.boolean, default.reuse),
        max_reuse=fields.read("max_reuse", _Cursor.duration, default.max_reuse),
        migrations=fields.read("migrations", _migrations, None),
        database_prefix=fields.read("database_prefix", _database_prefix, default.database_prefix),
        environment=fields.read("environment", _Cursor.text_map, {}),
    )


def _settings(cursor: _Cursor) -> dict[str, str]:
    settings = {}
    for name, value in cursor.entries():
        _check_name(value, name, _SETTING_NAME, "setting", "a Postgres parameter name")
        is_bool = value.node.tag == _BOOL
        settings[name] = ("on" if value.boolean() else "off") if is_bool else value.text("a value")
    return settings


def _migrations(cursor: _Cursor) -> MigrationsConfig:
    fields = cursor.fields(_MIGRATIONS_KEYS)
    directory, command, files = fields.get("dir"), fields.get("command"), fields.get("files")
    if directory is not None and command is not None:
        raise cursor.error("set either 'dir' or 'command', not both")
    if files is not None and command is None:
        raise files.error("only allowed with 'command' (the files that 'command' applies)")
    if directory is not None:
        return MigrationsConfig(dir=directory.path())
    if command is not None:
        return MigrationsConfig(command=command.word(), files=fields.read("files", _globs, ()))
    raise cursor.error("expected {dir: PATH} or {command: COMMAND, files: [GLOB, ...]}")


def _globs(cursor: _Cursor) -> tuple[str, ...]:
    return cursor.words("a list of globs")


def _database_prefix(cursor: _Cursor) -> str:
    what = "1 to 16 lower-case letters, digits and _, starting with a letter"
    return cursor.matching(_DATABASE_PREFIX, what)


def _services(cursor: _Cursor) -> dict[str, ServiceConfig]:
    services = {}
    for name, entry in cursor.entries("a mapping of service names to services"):
        rule = "lower-case letters, digits, _ and -, starting with a letter"
        _check_name(entry, name, _SERVICE_NAME, "service", rule)
        if name == "postgres":
            raise entry.error("the name 'postgres' is reserved for the tool's own Postgres")
        services[name] = _service(name, entry)
    return services


def _service(name: str, cursor: _Cursor) -> ServiceConfig:
    fields = cursor.fields(_SERVICE_KEYS)
    ports = _ports(fields)
    return ServiceConfig(
        name=name,
        image=fields.require("image").word("an image reference"),
        ports=ports,
        environment=fields.read("environment", _Cursor.text_map, {}),
        command=fields.read("command", _Cursor.argv, None),
        ready=fields.read("ready", lambda ready: _ready(ready, ports), None),
        startup_timeout=fields.read(
            "startup_timeout", _Cursor.duration, _SERVICE_DEFAULTS.startup_timeout
        ),
        exports=fields.read("exports", _Cursor.text_map, {}),
        reuse=fields.read("reuse", _Cursor.boolean, _SERVICE_DEFAULTS.reuse),
        max_reuse=fields.read("max_reuse", _Cursor.duration, _SERVICE_DEFAULTS.max_reuse),
    )


def _ports(fields: _Fields) -> tuple[int, ...]:
    port, ports = fields.get("port"), fields.get("ports")
    if port is not None and ports is not None:
        raise ports.error("set either 'port' or 'ports', not both")
    if port is not None:
        return (port.port(),)
    if ports is None:
        return ()
    numbers = tuple(item.port() for item in ports.items("a list of port numbers"))
    if len(set(numbers)) != len(numbers):
        raise ports.error(f"a port is listed twice in {list(numbers)}")
    return numbers


def _ready(cursor: _Cursor, ports: tuple[int, ...]) -> ReadyCheck:
    if not isinstance(cursor.node, MappingNode):
        return ReadyCheck(exec=cursor.argv(_READY_WHAT))
    fields = cursor.fields(_READY_KEYS)
    if len(fields.present()) != 1:
        raise cursor.error("expected exactly one of 'exec', 'tcp' or 'http'")
    return ReadyCheck(
        exec=fields.read("exec", _Cursor.argv, None),
        tcp=fields.read("tcp", lambda tcp: _published_port(tcp, ports), None),
        http=fields.read("http", _http_url, None),
    )


def _published_port(cursor: _Cursor, ports: tuple[int, ...]) -> int:
    port = cursor.port()
    if port not in ports:
        raise cursor.error(f"port {port} is not published; add it to the service's 'port(s)'")
    return port


def _http_url(cursor: _Cursor) -> str:
    url = cursor.word("an http:// or https:// URL")
    if not url.startswith(("http://", "https://")):
        raise cursor.expected("an http:// or https:// URL")
    return url


def _suites(cursor: _Cursor, services: Mapping[str, ServiceConfig]) -> dict[str, SuiteConfig]:
    entries = cursor.entries("a mapping of suite names to suites")
    if not entries:
        raise cursor.error("expected at least one suite; got none")
    needable = ("postgres", *services)
    suites = {}
    for name, entry in entries:
        rule = "letters, digits, _, . and -, starting with a letter or digit"
        _check_name(entry, name, _SUITE_NAME, "suite", rule)
        suites[name] = _suite(name, entry, needable)
    return suites


def _suite(name: str, cursor: _Cursor, needable: Sequence[str]) -> SuiteConfig:
    root = cursor.source.root
    if cursor.is_string():
        return SuiteConfig(name=name, command=cursor.word("a command"), workdir=root)
    fields = cursor.fields(_SUITE_KEYS, "a command or a mapping")
    return SuiteConfig(
        name=name,
        command=fields.require("command").word("a command string"),
        timeout=fields.read("timeout", _Cursor.duration, None),
        needs=fields.read("needs", lambda needs: _needs(needs, needable), _SUITE_DEFAULTS.needs),
        tags=fields.read("tags", _Cursor.words, ()),
        retries=fields.read("retries", _retries, _SUITE_DEFAULTS.retries),
        junit=fields.read("junit", _Cursor.path, None),
        env=fields.read("env", _Cursor.text_map, {}),
        workdir=fields.read("workdir", _Cursor.path, root),
    )


def _needs(cursor: _Cursor, needable: Sequence[str]) -> tuple[str, ...]:
    names = []
    for item in cursor.items("a list of service names"):
        name = item.word("a service name")
        if name not in needable:
            raise item.error(f"unknown service '{name}'{_suggest(name, needable)}")
        names.append(name)
    return tuple(dict.fromkeys(names))


def _retries(cursor: _Cursor) -> int:
    return cursor.integer("an integer >= 0", minimum=0)


def _defaults(cursor: _Cursor) -> Defaults:
    fields = cursor.fields(_DEFAULTS_KEYS)
    return Defaults(
        jobs=fields.read("jobs", _jobs, _DEFAULTS.jobs),
        timeout=fields.read("timeout", _Cursor.duration, _DEFAULTS.timeout),
        remove_testcontainers=fields.read(
            "remove_testcontainers", _Cursor.boolean, _DEFAULTS.remove_testcontainers
        ),
    )


def _jobs(cursor: _Cursor) -> int:
    return cursor.integer("an integer >= 1", minimum=1)


def _check_name(cursor: _Cursor, name: str, pattern: re.Pattern[str], kind: str, rule: str) -> None:
    if not pattern.fullmatch(name):
        raise cursor.error(f"invalid {kind} name '{name}': expected {rule}")


def _suggest(word: str, options: Sequence[str]) -> str:
    """'; did you mean ...?' when something is close, else the list of what would do."""
    return _did_you_mean(word, options) or "; expected one of: " + ", ".join(options)


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


# -- Reading the file into YAML nodes --------------------------------------------------------------


def _read(path: Path, name: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file", detail=_MISSING_FILE_HINT) from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory", detail=_MISSING_FILE_HINT) from None
    except OSError as error:
        raise ConfigError(f"{name}: cannot read: {error.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(f"{name}:{line}: not UTF-8 text") from None


def _compose(name: str, text: str) -> Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except MarkedYAMLError as error:
        raise ConfigError(_syntax_error(name, error)) from None
    except ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        message = f"invalid YAML: {error.reason} ({error.character!r})"
        raise ConfigError(f"{name}:{line}: {message}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{name}: invalid YAML: {error}") from None
    if node is None:
        raise ConfigError(f"{name}: the file is empty; expected a mapping with at least 'suites'")
    return node


def _syntax_error(name: str, error: MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"{name}:{mark.line + 1}" if mark else name
    message = f"{where}: invalid YAML: {error.problem or error.context}"
    if error.problem and error.context and error.context_mark:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    return message


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


# -- The cursor: a node, its key path and its line -------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_BOOL = _TAG + "bool"
_NULL = _TAG + "null"
_MERGE = _TAG + "merge"
_KNOWN_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)
_RESOLVER = Resolver()

_INTERPOLATION = re.compile(
    r"\$\$"  # a literal $
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{"  # anything else after ${ is a mistake
)
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Source:
    """What every cursor shares: the file name as given, its directory, the environment."""

    name: str
    root: Path
    environ: Mapping[str, str]


@dataclass(frozen=True)
class _Cursor:
    """One YAML node, with the key path and the line that error messages name."""

    source: _Source
    node: Node
    key_path: str  # "suites.api.timeout"; "" at the top
    line: int  # 1-based; for a mapping's value, the line of its key

    def __post_init__(self) -> None:
        if self.node.tag not in _KNOWN_TAGS:
            raise self.error(f"unsupported YAML tag '{self.node.tag}'")

    # Errors

    def error(self, message: str) -> ConfigError:
        return _error(self.source, self.line, self.key_path, message)

    def expected(self, what: str) -> ConfigError:
        return self.error(f"expected {what}; got {self.found()}")

    def found(self) -> str:
        if isinstance(self.node, MappingNode):
            return "a mapping"
        if isinstance(self.node, SequenceNode):
            return "a list"
        if self.node.tag == _STR:
            return repr(self._interpolated())
        return "null" if self.is_null else str(self.node.value)

    # Collections

    @property
    def is_null(self) -> bool:
        return self.node.tag == _NULL

    def is_string(self) -> bool:
        return isinstance(self.node, ScalarNode) and self.node.tag == _STR

    def entries(self, what: str = "a mapping") -> list[tuple[str, _Cursor]]:
        """The mapping's keys and values in file order; a key given twice is an error."""
        if not isinstance(self.node, MappingNode):
            raise self.expected(what)
        lines: dict[str, int] = {}
        entries = []
        for key_node, value_node in self.node.value:
            key = self._key(key_node)
            value = self._child(key, value_node, _line(key_node))
            if key in lines:
                raise value.error(f"duplicate key (first set on line {lines[key]})")
            lines[key] = value.line
            entries.append((key, value))
        return entries

    def fields(self, allowed: Sequence[str], what: str = "a mapping") -> _Fields:
        return _Fields(self, self.entries(what), allowed)

    def items(self, what: str = "a list") -> list[_Cursor]:
        if not isinstance(self.node, SequenceNode):
            raise self.expected(what)
        return [
            _Cursor(self.source, item, f"{self.key_path}[{index}]", _line(item))
            for index, item in enumerate(self.node.value)
        ]

    def words(self, what: str = "a list of strings") -> tuple[str, ...]:
        return tuple(item.word() for item in self.items(what))

    def text_map(self) -> dict[str, str]:
        """A mapping of variable names to strings (other scalars are taken as written)."""
        result = {}
        for name, value in self.entries("a mapping of names to strings"):
            _check_name(value, name, _VARIABLE_NAME, "variable", "no '=' and no spaces")
            result[name] = value.text()
        return result

    def argv(self, what: str = "a command (a string or a list of strings)") -> tuple[str, ...]:
        if self.is_string():
            try:
                argv = shlex.split(self.text())
            except ValueError as error:
                raise self.error(f"cannot split the command into words: {error}") from None
        else:
            argv = [item.word() for item in self.items(what)]
        if not argv:
            raise self.error("expected a command; got an empty one")
        return tuple(argv)

    # Scalars

    def text(self, what: str = "a string") -> str:
        """A string; a number, boolean or date is taken as written in the file."""
        if not isinstance(self.node, ScalarNode) or self.is_null:
            raise self.expected(what)
        return self._interpolated() if self.node.tag == _STR else str(self.node.value)

    def word(self, what: str = "a non-empty string") -> str:
        text = self.text(what)
        if not text.strip():
            raise self.expected(what)
        return text

    def matching(self, pattern: re.Pattern[str], what: str) -> str:
        text = self.text(what)
        if not pattern.fullmatch(text):
            raise self.expected(what)
        return text

    def choice(self, options: Sequence[str]) -> str:
        text = self.text()
        if text not in options:
            expected = f"expected one of {', '.join(options)}; got {text!r}"
            raise self.error(expected + _did_you_mean(text, options))
        return text

    def integer(
        self, what: str = "an integer", *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._typed(what)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.expected(what)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.expected(what)
        return value

    def port(self) -> int:
        return self.integer("a port number from 1 to 65535", minimum=1, maximum=65535)

    def boolean(self) -> bool:
        value = self._typed("true or false")
        if not isinstance(value, bool):
            raise self.expected("true or false")
        return value

    def duration(self) -> float:
        """Seconds, from `30s`, `5m`, `1h30m`, `250ms` or a bare number of seconds."""
        seconds = _seconds(self._typed(_DURATION_WHAT))
        if seconds is None:
            raise self.expected(_DURATION_WHAT)
        if not (math.isfinite(seconds) and seconds > 0):
            raise self.expected(f"a positive {_DURATION_WHAT.removeprefix('a ')}")
        return seconds

    def path(self) -> Path:
        """An absolute path; a relative one is relative to the configuration file."""
        return Path(os.path.normpath(self.source.root / self.word("a path")))

    # Private

    def _child(self, key: str, node: Node, line: int) -> _Cursor:
        path = f"{self.key_path}.{key}" if self.key_path else key
        return _Cursor(self.source, node, path, line)

    def _key(self, node: Node) -> str:
        if node.tag == _MERGE:
            message = "merge keys (<<) are not supported; write the keys out"
            raise _error(self.source, _line(node), self.key_path, message)
        if not isinstance(node, ScalarNode):
            message = "expected a key name; got a collection"
            raise _error(self.source, _line(node), self.key_path, message)
        return str(node.value)

    def _typed(self, what: str) -> object:
        """The scalar's value as YAML types it; text made by `${...}` is typed as if written out."""
        if not isinstance(self.node, ScalarNode):
            raise self.expected(what)
        if self.node.tag != _STR:
            return _construct(self.node)
        text = self._interpolated()
        if "${" not in self.node.value:
            return text
        return _construct(ScalarNode(_plain_tag(text), text))

    def _interpolated(self) -> str:
        return _INTERPOLATION.sub(self._substitute, str(self.node.value))

    def _substitute(self, match: re.Match[str]) -> str:
        if match.group() == "$$":
            return "$"
        name, default = match.group("name"), match.group("default")
        if name is None:
            rest = match.string[match.start() :]
            snippet = rest[: rest.find("}") + 1] if "}" in rest else rest
            raise self.error(
                f"invalid interpolation {snippet[:40]!r}: expected ${{NAME}} or "
                "${NAME:-default}; write $$ for a literal $"
            )
        value = self.source.environ.get(name)
        if default is not None and not value:
            return default
        if value is None:
            message = f"environment variable {name} is not set (give a default: ${{{name}:-...}})"
            raise self.error(message)
        return value


class _Fields:
    """A mapping whose keys come from a fixed list; a null value reads as an absent key."""

    def __init__(
        self, cursor: _Cursor, entries: list[tuple[str, _Cursor]], allowed: Sequence[str]
    ) -> None:
        for key, value in entries:
            if key not in allowed:
                raise value.error(f"unknown key '{key}'{_suggest(key, allowed)}")
        self._cursor = cursor
        self._values = dict(entries)

    def get(self, key: str) -> _Cursor | None:
        value = self._values.get(key)
        return None if value is None or value.is_null else value

    def present(self) -> list[str]:
        return [key for key in self._values if self.get(key) is not None]

    def require(self, key: str) -> _Cursor:
        if key not in self._values:
            raise self._cursor.error(f"missing required key '{key}'")
        return self._values[key]

    def read(self, key: str, read: Callable[[_Cursor], _T], default: _T) -> _T:
        value = self.get(key)
        return default if value is None else read(value)


def _error(source: _Source, line: int, path: str, message: str) -> ConfigError:
    where = f" {path}:" if path else ""
    return ConfigError(f"{source.name}:{line}:{where} {message}")


def _plain_tag(text: str) -> str:
    """The tag YAML gives `text` written as a plain scalar: `42` is an int, `off` a bool."""
    tag: str = _RESOLVER.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _construct(node: ScalarNode) -> object:
    value: object = SafeConstructor().construct_object(node)
    return value


def parse_duration(text: str) -> float | None:
    """Seconds for `30s`, `5m`, `1h30m`, `250ms` or a bare number; None when it is not one."""
    return _seconds(text)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    if not _DURATION.fullmatch(text):
        return None
    parts = _DURATION_PART.findall(text)
    return sum(float(number) * _SECONDS_PER_UNIT[unit] for number, unit in parts)
