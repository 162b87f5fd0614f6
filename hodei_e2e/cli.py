"""The command line: parse, call one function per command, turn errors into exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from hodei_e2e import __version__
from hodei_e2e.errors import E2EError, ExitCode, Interrupted, UsageError

if TYPE_CHECKING:
    from hodei_e2e.postgres.databases import Isolation

app = typer.Typer(
    name="hodei-e2e",
    help="Run the Hodei Jobs end-to-end suites: one Postgres, a database per suite, no leaks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="The config file (default: $HODEI_E2E_CONFIG or ./e2e.yaml)."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hodei-e2e {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    _version_flag: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    from hodei_e2e import crash

    crash.debug = debug


def _duration(text: str | None, option: str = "--timeout") -> float | None:
    if text is None:
        return None
    from hodei_e2e.config import parse_duration

    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise UsageError(f"{option}: expected a duration like 30s, 5m, 1h; got {text!r}")
    return seconds


# `run`'s options
SuitesOption = Annotated[list[str] | None, typer.Argument(help="Suites to run (default: all).")]
KeywordOption = Annotated[
    str | None,
    typer.Option("-k", help="Select suites by a substring expression (and/or/not)."),
]
TagOption = Annotated[
    list[str] | None, typer.Option("--tag", help="Select suites with this tag (repeatable).")
]
JobsOption = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, help="Suites at a time (default: defaults.jobs)."),
]
FailFastOption = Annotated[
    bool, typer.Option("--fail-fast", "-x", help="Start no new suite after a failure.")
]
TimeoutOption = Annotated[
    str | None, typer.Option("--timeout", help="Per-suite timeout for this run, e.g. 5m.")
]
JunitOption = Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")]
JsonPathOption = Annotated[Path | None, typer.Option("--json", help="Write a JSON report here.")]
KeepOption = Annotated[
    bool, typer.Option("--keep", help="Leave Postgres and the databases running.")
]
NoBuildOption = Annotated[bool, typer.Option("--no-build", help="Never build the worker image.")]
NoPrepareOption = Annotated[
    bool, typer.Option("--no-prepare", help="Skip the config's prepare step.")
]
VerboseOption = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More output (suite lines).")
]
QuietOption = Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less output.")]
ReuseOption = Annotated[
    bool | None,
    typer.Option(
        "--reuse/--no-reuse",
        help="Keep Postgres and the services between runs and use them again (default: each one's reuse key).",
    ),
]
IsolationOption = Annotated[
    str,
    typer.Option(
        "--isolation",
        help="database: a database per suite in one server; container: a server per suite.",
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option("--shard", help="Run the K-th of N shards of the selection, e.g. 2/4."),
]
TimingsOption = Annotated[
    Path | None,
    typer.Option(
        "--timings", help="A JSON report of an earlier run: balance shards by its durations."
    ),
]
ListOnlyOption = Annotated[
    bool,
    typer.Option("--list", help="Print the suites this run (or shard) would run, and stop."),
]
StrictOption = Annotated[
    bool | None,
    typer.Option(
        "--strict/--no-strict",
        help="A service that does not come up fails the run (default: on when CI is set).",
    ),
]


@app.command()
def run(
    suites: SuitesOption = None,
    config: ConfigOption = None,
    keyword: KeywordOption = None,
    tag: TagOption = None,
    jobs: JobsOption = None,
    fail_fast: FailFastOption = False,
    timeout: TimeoutOption = None,
    junit: JunitOption = None,
    json_path: JsonPathOption = None,
    keep: KeepOption = False,
    no_build: NoBuildOption = False,
    no_prepare: NoPrepareOption = False,
    verbose: VerboseOption = 0,
    quiet: QuietOption = 0,
    reuse: ReuseOption = None,
    isolation: IsolationOption = "database",
    shard: ShardOption = None,
    timings: TimingsOption = None,
    list_only: ListOnlyOption = False,
    strict: StrictOption = None,
) -> None:
    """Check, build the worker image, start Postgres, run the suites, report, clean up."""
    from hodei_e2e.commands.run import run_command
    from hodei_e2e.pipeline.plan import RunOptions
    from hodei_e2e.suites.sharding import parse_shard

    if timings is not None and shard is None:
        raise UsageError("--timings balances shards: use it with --shard K/N")

    options = RunOptions(
        config_path=config,
        suites=tuple(suites or ()),
        keyword=keyword,
        tags=tuple(tag or ()),
        jobs=jobs,
        fail_fast=fail_fast,
        timeout=_duration(timeout),
        junit=junit,
        json=json_path,
        keep=keep,
        build=not no_build,
        prepare=not no_prepare,
        verbosity=verbose - quiet,
        reuse=reuse,
        isolation=_isolation(isolation),
        shard=parse_shard(shard) if shard else None,
        timings=timings,
        list_only=list_only,
        strict=strict,
    )
    raise typer.Exit(run_command(options))


def _isolation(value: str) -> Isolation:
    if value == "database":
        return "database"
    if value == "container":
        return "container"
    raise UsageError(f"--isolation: expected 'database' or 'container'; got {value!r}")


def _not_yet(command: str) -> NoReturn:
    raise UsageError(f"`hodei-e2e {command}` is not available yet in this version")


@app.command("build-image")
def build_image(
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Build even when the image is up to date.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Build without the engine's layer cache.")
    ] = False,
    pull: Annotated[
        bool, typer.Option("--pull", help="Pull a newer base image while building.")
    ] = False,
    build_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--build-arg", metavar="K=V", help="A build arg over image.build_args (repeatable)."
        ),
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Build this tag instead of image.tag.")
    ] = None,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less output.")] = 0,
) -> None:
    """Build the worker image (the config's `image:`) when it is missing or its build context changed."""
    from hodei_e2e.commands.build_image import build_image_command
    from hodei_e2e.config import config_path
    from hodei_e2e.console import Output
    from hodei_e2e.image.worker_image import BuildRequest

    config_file = config_path(config)
    request = BuildRequest(force=force, no_cache=no_cache, pull=pull)
    out = Output(verbosity=-quiet)
    build_image_command(config_file, out, request=request, build_args=build_arg or (), tag=tag)


@app.command()
def cleanup(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go; remove nothing.")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Also remove reusable singletons.")] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", help="Also remove other hosts' resources older than this, e.g. 2h."
        ),
    ] = None,
    testcontainers: Annotated[
        bool,
        typer.Option(
            "--testcontainers",
            help="Also remove Testcontainers' containers older than --older-than.",
        ),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
) -> None:
    """Remove orphaned containers, networks, volumes and test databases."""
    from hodei_e2e.commands.cleanup import sweep_command
    from hodei_e2e.ownership.orphans import SweepPolicy

    age = _duration(older_than, "--older-than")
    if testcontainers and age is None:
        raise UsageError("--testcontainers needs --older-than (e.g. --older-than 1h)")
    policy = SweepPolicy(all=all_, older_than=age, testcontainers=testcontainers)
    raise typer.Exit(sweep_command(policy, config_path=config, dry_run=dry_run, as_json=json_out))


@app.command()
def doctor(
    config: ConfigOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the checks as JSON on stdout.")
    ] = False,
) -> None:
    """Check every prerequisite, each with its remedy (exit 3 when one fails)."""
    from hodei_e2e.commands.doctor import doctor_command

    raise typer.Exit(doctor_command(config, as_json=json_out))


def main() -> None:
    """The console script: the one place where errors become exit codes."""
    from typer.exceptions import TyperException

    from hodei_e2e import signals

    try:
        with signals.catching():
            code = app(standalone_mode=False)
    except E2EError as error:
        _report_error(error)
        code = error.exit_code
    except Interrupted as stop:
        from hodei_e2e.console import Output

        Output().error(stop.message)
        code = stop.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = ExitCode.SIGINT
    except TyperException as error:  # bad usage: typer's own message and hint
        show = getattr(error, "show", None)
        if callable(show):
            show()
        else:
            print(f"Error: {error.format_message()}", file=sys.stderr)
        code = ExitCode.USAGE
    except Exception as error:  # noqa: BLE001 - a bug: one line and a crash log, no traceback
        from hodei_e2e.crash import report_internal_error

        code = report_internal_error(error)
    _exit(code if isinstance(code, int) else 0)


def _exit(code: int) -> NoReturn:
    """Leave now. Everything is done, closed and reported by this point; the interpreter's own
    shutdown (tearing down every module, thread pool and connection pool) would add 0.2-0.3 s
    to every command."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _report_error(error: E2EError) -> None:
    from hodei_e2e import crash
    from hodei_e2e.console import Output

    if crash.debug:
        import traceback

        traceback.print_exception(error)
    Output().error(error.message, error.detail)
