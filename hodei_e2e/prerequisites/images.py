"""The images a run needs: present, or buildable (the worker image), with the way to get them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hodei_e2e.config import Config, ImageConfig, ServiceConfig
    from hodei_e2e.engine.docker import Engine

from hodei_e2e.prerequisites.check import Check

BOOTSTRAP_HINT = (
    "scripts/bootstrap builds local images without a registry and writes "
    ".hodei-e2e/images.env (source it to use them)"
)


def image_checks(
    engine: Engine, config: Config, *, services: Sequence[ServiceConfig] | None = None
) -> list[Check]:
    checks = [_image_check(engine, "image postgres", config.postgres.image, "postgres.image")]
    for service in config.services.values() if services is None else services:
        key = f"services.{service.name}.image"
        checks.append(_image_check(engine, f"image {service.name}", service.image, key))
    if config.image is not None:
        checks.append(_worker_image_check(engine, config.image, config.root / ".hodei-e2e"))
    return checks


def _image_check(engine: Engine, name: str, image: str, key: str) -> Check:
    if engine.image_id(image) is not None:
        return Check(name, "ok", f"{image}: present")
    why = engine.image_pullable(image)
    if why is None:
        return Check(name, "ok", f"{image}: not present; pullable (the run pulls it)")
    return Check(
        name, "fail", f"{image}: not present, and not pullable ({why})",
        f"`docker pull {image}` where a registry is reachable, or build it; or point `{key}` "
        f"at an image this engine has. {BOOTSTRAP_HINT}.",
    )  # fmt: skip


def _worker_image_check(engine: Engine, image: ImageConfig, state_dir: Path) -> Check:
    """Present and up to date with its build context (the digest check a run makes), out of
    date (the run rebuilds it: its base images must then be there), or missing."""
    from hodei_e2e.image.worker_image import image_status

    name = "worker image"
    sources = image.dockerfile.is_file() and image.context.is_dir()
    if not sources:
        if engine.image_id(image.tag) is not None:
            return Check(name, "ok", f"{image.tag}: present ({image.dockerfile} does not exist, "
                         "so it is not compared with a build context)")  # fmt: skip
        return Check(
            name, "fail", f"{image.tag}: not present, and {image.dockerfile} does not exist",
            "Fix `image.dockerfile` / `image.context` in the config, or build the image.",
        )  # fmt: skip
    present, stale = image_status(engine, image, state_dir)
    if present and stale is None:
        return Check(name, "ok", f"{image.tag}: present, up to date with its build context "
                     f"{image.context}")  # fmt: skip
    from hodei_e2e.image.dockerfile import base_images

    missing = []
    for base in base_images(image.dockerfile, image.build_args):
        if engine.image_id(base) is None and engine.image_pullable(base) is not None:
            missing.append(base)
    if missing:
        return Check(
            name, "fail",
            f"{image.tag}: not present; its base image {', '.join(missing)} is neither present "
            "nor pullable",
            f"Pull or build {', '.join(missing)}, or set the base through `image.build_args`. "
            f"{BOOTSTRAP_HINT}.",
        )  # fmt: skip
    if present:
        return Check(
            name, "warn", f"{image.tag}: present, but out of date ({stale}); the run rebuilds it",
            "`hodei-e2e build-image` rebuilds it now.",
        )  # fmt: skip
    return Check(name, "ok", f"{image.tag}: not present; the run builds it from {image.dockerfile}")
