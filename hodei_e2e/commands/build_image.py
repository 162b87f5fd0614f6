"""`hodei-e2e build-image`: check the worker image against its build context, build it when it
is due (or forced), and say which it was."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from hodei_e2e.console import Output
from hodei_e2e.engine.docker import Engine
from hodei_e2e.errors import ConfigError, UsageError
from hodei_e2e.image.worker_image import STATE_DIR, BuildRequest, ImageOutcome, ensure_image
from hodei_e2e.ownership.identity import RunIdentity


def parse_build_args(
    items: Sequence[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`K=V`, or `K` alone for the value of $K (as `docker build --build-arg` takes them)."""
    environ = os.environ if environ is None else environ
    args = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not name or any(char.isspace() for char in name):
            raise UsageError(f"--build-arg: expected NAME=VALUE; got {item!r}")
        if not equals:
            if name not in environ:
                raise UsageError(f"--build-arg {name}: no value given and ${name} is not set")
            value = environ[name]
        args[name] = value
    return args


def build_image_command(
    config_file: Path,
    out: Output,
    *,
    request: BuildRequest,
    build_args: Sequence[str] = (),
    tag: str | None = None,
) -> ImageOutcome:
    """`hodei-e2e build-image`: check the image against its context, build it when due."""
    from hodei_e2e.config import load_config
    from hodei_e2e.signals import SignalGuard

    config = load_config(config_file)
    if config.image is None:
        raise ConfigError(f"{config_file}: no `image:` section, so there is no image to build")
    image = replace(
        config.image,
        tag=tag or config.image.tag,
        build_args={**config.image.build_args, **parse_build_args(build_args)},
    )
    started = time.monotonic()
    with SignalGuard() as guard:
        engine = Engine.connect()
        try:  # Ctrl-C raises inside the build, whose stream then cancels it
            outcome = guard.interruptible(
                lambda: ensure_image(
                    engine,
                    image,
                    RunIdentity(project=config.project),
                    out,
                    request=request,
                    state_dir=config.root / STATE_DIR,
                )
            )
        finally:
            engine.close()
    _report(out, outcome, request, time.monotonic() - started)
    return outcome


def _report(out: Output, outcome: ImageOutcome, request: BuildRequest, seconds: float) -> None:
    if outcome.built:
        short = outcome.image_id.removeprefix("sha256:")[:12]
        text = f"✓ built {outcome.tag} ({short}) in {seconds:.1f}s with {outcome.builder}: "
        text += outcome.reason
        out.print(text, style="green", min_verbosity=-1)
        return
    digest_note = (
        f", context {outcome.digest.removeprefix('sha256:')[:12]}" if outcome.digest else ""
    )
    out.print(f"✓ {outcome.tag} is {outcome.reason}{digest_note}", style="green", min_verbosity=-1)
    if request.no_cache or request.pull:
        out.print("  --no-cache and --pull apply to a build; add --force to build anyway.")
