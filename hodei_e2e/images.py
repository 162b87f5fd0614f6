"""The worker image: make sure `image.tag` exists, building it when the policy says so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hodei_e2e.config import ImageConfig
from hodei_e2e.console import Output
from hodei_e2e.docker import Engine
from hodei_e2e.errors import ConfigError, InfrastructureError
from hodei_e2e.identity import RunIdentity, image_labels


@dataclass(frozen=True)
class ImageOutcome:
    tag: str
    built: bool
    reason: str


def check_sources(image: ImageConfig) -> None:
    if not image.context.is_dir():
        raise ConfigError(f"image.context: no such directory: {image.context}")
    if not image.dockerfile.is_file():
        raise ConfigError(f"image.dockerfile: no such file: {image.dockerfile}")


def ensure_image(
    engine: Engine, image: ImageConfig, identity: RunIdentity, out: Output, *, build: bool = True
) -> ImageOutcome:
    if engine.image_labels(image.tag) is not None and image.rebuild != "always":
        return ImageOutcome(image.tag, built=False, reason="present")
    if not build:
        raise InfrastructureError(
            f"image {image.tag} is missing and --no-build was given",
            detail="Run `hodei-e2e build-image` or drop --no-build.",
        )
    check_sources(image)
    build_image(engine, image, identity, out)
    return ImageOutcome(image.tag, built=True, reason="image missing")


def build_image(engine: Engine, image: ImageConfig, identity: RunIdentity, out: Output) -> None:
    log_lines: list[str] = []
    dockerfile = _relative_dockerfile(image.dockerfile, image.context)
    for chunk in engine.build(
        path=str(image.context),
        dockerfile=dockerfile,
        tag=image.tag,
        buildargs=dict(image.build_args),
        target=image.target,
        labels=image_labels(identity.project),
    ):
        if "stream" in chunk:
            for line in str(chunk["stream"]).splitlines():
                if line.strip():
                    log_lines.append(line)
                    out.detail(f"  {line}")
        if "error" in chunk:
            tail = "\n".join(log_lines[-30:])
            raise InfrastructureError(
                f"building {image.tag} failed: {str(chunk['error']).strip()}", detail=tail
            )


def _relative_dockerfile(dockerfile: Path, context: Path) -> str:
    try:
        return str(dockerfile.relative_to(context))
    except ValueError:
        return str(dockerfile)  # outside the context: the engine takes an absolute path too
