"""Which builder builds the worker image, and whether it can build this Dockerfile.

BuildKit wherever the engine has it, through the Engine API (`POST /build?version=2`): the
engine runs BuildKit for a tar context without a client session. Not the docker CLI: since
23.0 its BuildKit is the buildx plugin, often missing (Debian's docker.io CLI on this project's
machines has none), and docker-py drives only the classic builder. The classic builder is the
fallback for engines without BuildKit; `image.builder` or `HODEI_E2E_BUILDER` (`auto`,
`buildkit`, `classic`) choose by hand.

Which engines have BuildKit: Docker Engine on Linux with API 1.39 or later (18.09+), whatever
its default (the ping's `Builder-Version` header says the default: `2` on 23.0+, absent on
20.10 unless `"features": {"buildkit": true}`; `1` when the daemon turned BuildKit off, which
`auto` respects). Not Windows engines, not Podman (its compat API builds with Buildah for any
`version`, which knows cache mounts and heredocs itself).

Heredocs need the dockerfile frontend 1.4 (BuildKit 0.10), embedded in Docker Engine 23.0 and
later; 20.10 embeds BuildKit 0.8. A `# syntax=` line brings its own frontend from an image.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hodei_e2e.config import BuilderSetting, ImageConfig
from hodei_e2e.engine.docker import BuilderFacts, Engine
from hodei_e2e.errors import ConfigError, PrerequisiteError
from hodei_e2e.image.dockerfile import Features, read_features

SETTINGS: tuple[BuilderSetting, ...] = ("auto", "buildkit", "classic")
ENV = "HODEI_E2E_BUILDER"
HEREDOC_ENGINE = (23, 0)  # Docker Engine that embeds dockerfile frontend 1.4 (BuildKit 0.10)
_MIN_BUILDKIT_API = (1, 39)


@dataclass(frozen=True)
class Builder:
    buildkit: bool
    reason: str  # why this builder, for the build step and doctor
    heredocs: bool = False  # its own Dockerfile parser knows heredocs
    engine: str = ""  # "Docker Engine 20.10.24"

    @property
    def name(self) -> str:
        return "BuildKit" if self.buildkit else "the classic builder"

    def describe(self) -> str:
        return f"{self.name} ({self.reason})"


def setting(configured: BuilderSetting, environ: Mapping[str, str]) -> tuple[BuilderSetting, str]:
    """The setting in force and where it came from: $HODEI_E2E_BUILDER over `image.builder`."""
    value = environ.get(ENV, "").strip().lower()
    if not value:
        return configured, "image.builder" if configured != "auto" else ""
    if value not in SETTINGS:
        raise ConfigError(f"{ENV}={value!r}: expected one of {', '.join(SETTINGS)}")
    return value, ENV


def choose(facts: BuilderFacts, configured: BuilderSetting, environ: Mapping[str, str]) -> Builder:
    wanted, source = setting(configured, environ)
    engine = _engine_name(facts)
    has, why_not = _has_buildkit(facts)
    heredocs = has and _version(facts.version) >= HEREDOC_ENGINE
    if wanted == "classic":
        return Builder(False, f"{source}: classic")
    if wanted == "buildkit":
        if not has:
            raise PrerequisiteError(
                f"{source} asks for BuildKit, but {engine} has none ({why_not})",
                detail=f"Use an engine with BuildKit (Docker Engine 18.09+ on Linux), or set "
                f"{source} to auto or classic.",
            )
        return Builder(True, f"{source}: buildkit; {engine}", heredocs, engine)
    if not has:
        return Builder(False, f"{engine} has no BuildKit: {why_not}", engine=engine)
    if facts.default_builder == "1":
        why = f"{engine} makes the classic builder its default (Builder-Version 1)"
        return Builder(False, why, engine=engine)
    return Builder(True, f"{engine} has it", heredocs, engine)


def _has_buildkit(facts: BuilderFacts) -> tuple[bool, str]:
    if "docker" not in facts.server.lower() and facts.engine.lower() != "engine":
        return False, f"its builder is {facts.engine}'s own, not BuildKit"
    if facts.os_type.lower() not in ("", "linux"):
        return False, f"BuildKit is not offered on {facts.os_type} engines"
    if _version(facts.api_version) < _MIN_BUILDKIT_API:
        return False, f"API {facts.api_version} predates BuildKit (1.39, Docker 18.09)"
    return True, ""


def _engine_name(facts: BuilderFacts) -> str:
    name = "Docker Engine" if facts.engine.lower() == "engine" else facts.engine
    return f"{name} {facts.version}"


def _version(text: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


# -- what the Dockerfile asks for ------------------------------------------------------------------


def refuse_unsupported(
    features: Features,
    builder: Builder,
    dockerfile: str,
    frontend_available: Callable[[str], str | None],
) -> None:
    """PrerequisiteError when `builder` cannot build a Dockerfile with `features`, naming the
    line and the remedy. `frontend_available(image)` is None when the engine has or can pull
    the `# syntax=` image, else why not."""
    where = f"{dockerfile}:"
    if not builder.buildkit and features.needs_buildkit:
        uses = [(f"RUN {flag}", use) for flag, use in features.buildkit_flags]
        uses += [("a heredoc", use) for use in features.heredocs]
        what, use = min(uses, key=lambda item: item[1].line)
        raise PrerequisiteError(
            f"{where}{use.line}: {what} needs BuildKit; this build uses {builder.describe()}",
            detail=f"  {use.text}\nUse an engine with BuildKit (Docker Engine 18.09+ on Linux; "
            f"23.0+ for heredocs), or set image.builder / {ENV} to auto or buildkit.",
        )
    if not builder.buildkit:
        return
    if features.syntax:
        why = frontend_available(features.syntax)
        if why is not None:
            raise PrerequisiteError(
                f"{where}{features.syntax_line}: `# syntax={features.syntax}` asks for a "
                "frontend image this engine does not have and cannot pull",
                detail=f"{why}\nPull or load {features.syntax} into the engine where a "
                "registry is reachable (`docker pull`, or `docker save` / `docker load`), "
                "or drop the `# syntax=` line to use the engine's built-in frontend "
                f"(heredocs need Docker Engine {HEREDOC_ENGINE[0]}.{HEREDOC_ENGINE[1]}+ then).",
            )
        return  # the named frontend decides what it supports
    if features.heredocs and not builder.heredocs:
        use = features.heredocs[0]
        raise PrerequisiteError(
            f"{where}{use.line}: a heredoc needs Docker Engine "
            f"{HEREDOC_ENGINE[0]}.{HEREDOC_ENGINE[1]}+; the Dockerfile frontend built into "
            f"{builder.engine or 'this engine'} predates them (they came with frontend 1.4)",
            detail=f"  {use.text}\nUpgrade the engine to {HEREDOC_ENGINE[0]}.{HEREDOC_ENGINE[1]} "
            "or later; or add `# syntax=docker/dockerfile:1.4` as the first line where a "
            "registry is reachable (or that image is loaded); or write the file another way "
            "(`printf` / `COPY` of a file from the context).",
        )


def for_image(
    engine: Engine, image: ImageConfig, environ: Mapping[str, str] | None = None
) -> Builder:
    """The builder for `image` on `engine`, after checking that it can build the Dockerfile."""
    builder = choose(
        engine.builder_facts(), image.builder, os.environ if environ is None else environ
    )

    def frontend_available(reference: str) -> str | None:
        return None if engine.image_id(reference) is not None else engine.image_pullable(reference)

    refuse_unsupported(
        read_features(image.dockerfile), builder, str(image.dockerfile), frontend_available
    )
    return builder
