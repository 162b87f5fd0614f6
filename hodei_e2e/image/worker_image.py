"""The worker image: make sure `image.tag` exists and matches its build context, building it when
the rebuild policy says so.

A build is safe to interrupt and to run twice at once: it runs under a per-tag file lock, the
engine builds under a temporary tag that becomes the real one only when the build succeeded, and
the image it replaces (labelled by us, now without a tag) is removed afterwards.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from hodei_e2e.config import ImageConfig
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import BuildOptions, Engine, ImageInfo, split_reference
from hodei_e2e.errors import ConfigError, E2EError, InfrastructureError, Interrupted
from hodei_e2e.image.build_view import BuildProgress
from hodei_e2e.image.builder import Builder, for_image
from hodei_e2e.image.context import (
    Inputs,
    Listing,
    changed_paths,
    digest,
    file_hash,
    scan,
    write_tar,
)
from hodei_e2e.image.state import ImageRecord, StateDir, value_hash
from hodei_e2e.ownership.identity import CONTEXT_DIGEST, LABEL, PROJECT, RunIdentity, image_labels

STATE_DIR = ".hodei-e2e"
BUILD_LOG = "build.log"
_MAX_NAMES = 3  # changed files named in a reason


@dataclass(frozen=True)
class ImageOutcome:
    tag: str
    built: bool
    reason: str  # why it was built, or why not ("up to date", "present")
    digest: str = ""  # the context digest, when it was computed
    image_id: str = ""
    builder: str = ""  # what built it, when it was built ("BuildKit", ...)


@dataclass(frozen=True)
class BuildRequest:
    """How `build-image` was asked to build; `run` uses the defaults."""

    force: bool = False
    no_cache: bool = False
    pull: bool = False


@dataclass(frozen=True)
class _Scanned:
    listing: Listing
    digest: str
    record: ImageRecord  # what a build of it records in the manifest
    dockerfile_path: str | None  # inside the context, relative


def check_sources(image: ImageConfig) -> None:
    if not image.context.is_dir():
        raise ConfigError(f"image.context: no such directory: {image.context}")
    if not image.dockerfile.is_file():
        raise ConfigError(f"image.dockerfile: no such file: {image.dockerfile}")


def ensure_image(
    engine: Engine,
    image: ImageConfig,
    identity: RunIdentity,
    out: Output,
    *,
    build: bool = True,
    request: BuildRequest | None = None,
    state_dir: Path | None = None,
) -> ImageOutcome:
    """The image `image.tag`, built first when missing or (by the policy) stale.

    `state_dir` holds the manifest, the lock and the build log: the config file's
    `.hodei-e2e/` (default: `./.hodei-e2e`).
    """
    request = request or BuildRequest()
    state = StateDir(state_dir or Path.cwd() / STATE_DIR)
    present = engine.image_info(image.tag)
    if present is not None and image.rebuild == "if-missing" and not request.force:
        return ImageOutcome(image.tag, built=False, reason="present", image_id=present.id)
    check_sources(image)
    scanned = _scan(image, state)
    reason = _stale_reason(image, present, scanned, state, request)
    if reason is None:
        return _up_to_date(image, scanned, present)
    if not build:
        if present is None:
            raise InfrastructureError(
                f"image {image.tag} is missing and --no-build was given",
                detail="Run `hodei-e2e build-image` or drop --no-build.",
            )
        out.warn(f"image {image.tag} is out of date ({reason}); using it as --no-build says")
        return ImageOutcome(image.tag, False, f"out of date: {reason}", scanned.digest, present.id)

    def waiting(lock: Path) -> None:
        out.print(f"… waiting for another build of {image.tag} to finish (lock {lock})")

    builder = for_image(engine, image)  # refuses what the builder cannot build, up front
    with state.build_lock(image.tag, waiting):
        if not request.force:  # another process may have built it while we waited
            present = engine.image_info(image.tag)
            if _stale_reason(image, present, scanned, state, request) is None:
                return _up_to_date(image, scanned, present)
        return _build(engine, image, identity, out, _Job(scanned, reason, request, builder), state)


def image_status(engine: Engine, image: ImageConfig, state_dir: Path) -> tuple[bool, str | None]:
    """(present, why it would be built or None when up to date), for doctor: the same check
    as a run's, without building."""
    present = engine.image_info(image.tag)
    if present is not None and image.rebuild == "if-missing":
        return True, None
    check_sources(image)
    state = StateDir(state_dir)
    compared = replace(image, rebuild="if-changed")  # `always` rebuilds, but is it current?
    reason = _stale_reason(compared, present, _scan(image, state), state, BuildRequest())
    return present is not None, reason


def _up_to_date(image: ImageConfig, scanned: _Scanned, present: ImageInfo | None) -> ImageOutcome:
    image_id = present.id if present else ""
    return ImageOutcome(image.tag, False, "up to date", scanned.digest, image_id)


# -- is it stale? ----------------------------------------------------------------------------------


def _scan(image: ImageConfig, state: StateDir) -> _Scanned:
    cache = state.hash_cache(image.context)
    listing = scan(image.context, image.dockerfile, cache=cache, never_send=[state.path])
    if listing.cache != cache:
        state.save_hash_cache(image.context, listing.cache)
    inputs = Inputs(file_hash(image.dockerfile), dict(image.build_args), image.target)
    record = ImageRecord(
        digest=digest(listing, inputs),
        dockerfile=inputs.dockerfile_hash,
        build_args={name: value_hash(value) for name, value in image.build_args.items()},
        target=image.target,
        files={entry.path: entry.hash() for entry in listing.entries},
    )
    dockerfile_path = None if listing.dockerfile_outside is not None else listing.dockerfile_name
    return _Scanned(listing, record.digest, record, dockerfile_path)


def _stale_reason(
    image: ImageConfig,
    present: ImageInfo | None,
    scanned: _Scanned,
    state: StateDir,
    request: BuildRequest,
) -> str | None:
    """Why the image must be built, or None when it is up to date."""
    if present is None:
        return "image missing"
    if request.force:
        return "--force"
    if image.rebuild == "always":
        return "rebuild: always"
    if image.rebuild == "if-missing":
        return None
    label = present.labels.get(CONTEXT_DIGEST)
    if label == scanned.digest:
        return None
    if label is None:
        return "the image has no context digest (not built by hodei-e2e)"
    before = state.record(image.tag)
    if before is None or before.digest != label:
        return "context changed"
    return describe_change(before, scanned.record, scanned.dockerfile_path)


def describe_change(before: ImageRecord, after: ImageRecord, dockerfile: str | None = None) -> str:
    """What differs, e.g. `Dockerfile changed, 3 files changed (a, b, c)`."""
    parts = []
    if before.dockerfile != after.dockerfile:
        parts.append("Dockerfile changed")
    args = changed_paths(before.build_args, after.build_args)
    if args:
        noun = "build arg" if len(args) == 1 else "build args"
        parts.append(f"{noun} {', '.join(args)} changed")
    if before.target != after.target:
        parts.append("target changed")
    files = [path for path in changed_paths(before.files, after.files) if path != dockerfile]
    if files:
        names = ", ".join(files[:_MAX_NAMES]) + (", …" if len(files) > _MAX_NAMES else "")
        noun = "file" if len(files) == 1 else "files"
        parts.append(f"{len(files)} {noun} changed ({names})")
    return ", ".join(parts) or "context changed"


# -- the build -------------------------------------------------------------------------------------

INLINE_CACHE = "BUILDKIT_INLINE_CACHE"  # BuildKit writes its cache metadata into the image


@dataclass(frozen=True)
class _Job:
    scanned: _Scanned
    reason: str
    request: BuildRequest
    builder: Builder


def _build_options(
    image: ImageConfig, identity: RunIdentity, job: _Job, temporary: str, previous: bool
) -> BuildOptions:
    """Under BuildKit the image carries its inline cache, and the image it replaces (found
    here, or loaded from a CI cache) is offered as a cache source: unchanged steps are reused
    even on a fresh engine."""
    buildkit = job.builder.buildkit
    return BuildOptions(
        tag=temporary,
        dockerfile=job.scanned.listing.dockerfile_name,
        labels=image_labels(identity.project, **{CONTEXT_DIGEST: job.scanned.digest}),
        buildargs={**({INLINE_CACHE: "1"} if buildkit else {}), **image.build_args},
        target=image.target,
        nocache=job.request.no_cache,
        pull=job.request.pull,
        buildkit=buildkit,
        build_id=f"hodei-e2e-{secrets.token_hex(8)}" if buildkit else "",
        cache_from=(image.tag,) if buildkit and previous and not job.request.no_cache else (),
    )


def _build(
    engine: Engine,
    image: ImageConfig,
    identity: RunIdentity,
    out: Output,
    job: _Job,
    state: StateDir,
) -> ImageOutcome:
    scanned, reason, request = job.scanned, job.reason, job.request
    repository, _ = split_reference(image.tag)
    temporary = f"{repository}:hodei-tmp-{secrets.token_hex(6)}"
    present = engine.image_info(image.tag) is not None
    options = _build_options(image, identity, job, temporary, present)
    log_path = state.path / BUILD_LOG
    header = f"# hodei-e2e: building {image.tag} ({reason}); context {image.context}"
    header += f"\n# with {job.builder.describe()}"
    out.print(f"… building {image.tag} with {job.builder.describe()}")
    try:
        with BuildProgress(out, image.tag, log_path, header) as progress:
            try:
                _stream(engine, scanned.listing, options, progress, image)
            except Interrupted:
                _remove_unfinished(engine, identity.project, scanned.digest)
                raise
        if progress.error is not None:
            raise _failure(image, progress, log_path, request)
        built = engine.image_info(temporary)
        if built is None:
            raise InfrastructureError(f"the engine reported no image for {image.tag}")
        previous = engine.image_info(image.tag)
        engine.tag_image(temporary, image.tag)
    finally:
        _best_effort(engine.remove_image, temporary)  # only a tag once the real tag is set
    state.save_record(image.tag, scanned.record)
    if previous is not None and previous.id != built.id:
        _remove_superseded(engine, previous.id)
    return ImageOutcome(image.tag, True, reason, scanned.digest, built.id, job.builder.name)


def _stream(
    engine: Engine,
    listing: Listing,
    options: BuildOptions,
    progress: BuildProgress,
    image: ImageConfig,
) -> None:
    with tempfile.TemporaryFile(prefix="hodei-e2e-context-") as tar:
        write_tar(listing, tar, engine_applies_ignore=not options.buildkit)
        tar.seek(0)
        try:
            stream = engine.build(tar, options)
        except InfrastructureError as error:
            raise InfrastructureError(
                f"building {image.tag} failed: {error.message}",
                detail=f"Dockerfile: {image.dockerfile}",
            ) from None
        with stream:  # leaving early (Ctrl-C, an error) drops the connection: the engine stops
            for message in stream:
                progress.message(message)
                if progress.error is not None:
                    break


def _remove_unfinished(engine: Engine, project: str, digest: str) -> None:
    """The untagged images a build that did not finish left (the classic builder commits each
    step as an image carrying the build's labels), looked for twice: the engine may still be
    committing the step it was in when the build was dropped."""
    selector = {PROJECT: project, CONTEXT_DIGEST: digest}
    for attempt in range(2):
        if attempt:
            time.sleep(0.3)
        for found in engine.images(selector, dangling=True):
            _best_effort(engine.remove_image, str(found["Id"]))


def _remove_superseded(engine: Engine, image_id: str) -> None:
    """The image that had the tag before, once it has no tag left and was built by us."""
    info = engine.image_info(image_id)
    if info is not None and not info.tags and info.labels.get(LABEL) == "true":
        _best_effort(engine.remove_image, image_id)


def _best_effort(remove: Callable[[str], None], reference: str) -> None:
    """Remove, ignoring an engine error (`cleanup` finds what is left); never a signal."""
    try:
        remove(reference)
    except E2EError:
        raise
    except Exception:  # noqa: BLE001 - docker/requests errors of a failing engine
        return


def _failure(
    image: ImageConfig, progress: BuildProgress, log_path: Path, request: BuildRequest
) -> InfrastructureError:
    error = progress.error or "unknown error"
    instruction = progress.instruction or ""
    where = f" at step {progress.step}: {instruction}" if progress.step else ""
    if not progress.step and instruction:  # a BuildKit step of its own, e.g. loading the context
        where = f" at {instruction}"
    if instruction.upper().startswith("FROM"):
        return _base_image_failure(image, progress, log_path, request)
    lines = list(progress.tail)
    detail = "\n".join([*lines, "", error, f"Full log: {log_path}"])
    return InfrastructureError(f"building {image.tag} failed{where}", detail=detail)


def _base_image_failure(
    image: ImageConfig, progress: BuildProgress, log_path: Path, request: BuildRequest
) -> InfrastructureError:
    from hodei_e2e.image.dockerfile import (
        expand,
        from_reference,
        global_args,
        read_stages,
        variables,
    )

    instruction = progress.instruction or ""
    first = next(iter(read_stages(image.dockerfile)), None)
    arg = next(iter([*variables(instruction), *(first.variables if first else ())]), None)
    base = progress.failed_base or expand(
        from_reference(instruction), global_args(image.dockerfile, image.build_args)
    )
    how = (
        f"pass one with --build-arg {arg}=<image> (or set image.build_args.{arg})"
        if arg
        else "make the Dockerfile take it from an ARG and pass one with --build-arg NAME=<image>"
    )
    hints = [
        progress.error or "",
        f"The engine does not have {base} and cannot pull it.",
        f"Use a base image this engine has (`docker images` lists them): {how};",
        f"or pull or build {base} beforehand (scripts/bootstrap builds offline images).",
    ]
    if request.pull:
        hints.append("--pull always asks the registry: drop it to use a local copy.")
    hints.append(f"Full log: {log_path}")
    where = f"step {progress.step}: {instruction}" if progress.step else instruction
    return InfrastructureError(
        f"base image {base} cannot be pulled ({where})",
        detail="\n".join(hints),
    )
