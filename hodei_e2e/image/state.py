"""What the tool remembers about its image builds, in the state directory (`.hodei-e2e/`).

- `image-manifest.json`: per tag, what the last build saw (its digest, the Dockerfile's hash,
  the build args, one hash per file), so that a rebuild can say *what* changed; and per build
  context, the content hashes of its files keyed by (size, mtime, ctime, inode), so that an
  unchanged context is checked with `lstat` calls alone.
- `build-<tag>.lock`: held while a tag is checked and built, so that two builds of one tag
  take turns and the second finds the first's image instead of building it again.

The manifest is a cache: a missing or unreadable one only costs a re-hash and a vaguer reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hodei_e2e.image.context import HashCache, StatKey

MANIFEST = "image-manifest.json"
_VERSION = 1


@dataclass(frozen=True)
class ImageRecord:
    """What the build of a tag saw."""

    digest: str
    dockerfile: str  # content hash
    build_args: Mapping[str, str]  # name -> hash of the value (values may be secrets)
    target: str | None
    files: Mapping[str, str] = field(default_factory=dict)  # path -> entry hash

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "dockerfile": self.dockerfile,
            "build_args": dict(self.build_args),
            "target": self.target,
            "files": dict(self.files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageRecord:
        return cls(
            digest=str(data["digest"]),
            dockerfile=str(data["dockerfile"]),
            build_args={str(k): str(v) for k, v in dict(data["build_args"]).items()},
            target=None if data.get("target") is None else str(data["target"]),
            files={str(k): str(v) for k, v in dict(data["files"]).items()},
        )


def value_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] | None = None  # the manifest as last read

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def record(self, tag: str) -> ImageRecord | None:
        entry = self._read().get("images", {}).get(tag)
        try:
            return ImageRecord.from_json(entry) if entry else None
        except (KeyError, TypeError, ValueError):
            return None

    def hash_cache(self, context: Path) -> HashCache:
        raw = self._read().get("contexts", {}).get(str(context), {})
        cache: HashCache = {}
        for path, value in raw.items() if isinstance(raw, dict) else ():
            with contextlib.suppress(TypeError, ValueError):
                key: StatKey = (int(value[0]), int(value[1]), int(value[2]), int(value[3]))
                cache[str(path)] = (key, str(value[4]))
        return cache

    def save_hash_cache(self, context: Path, cache: HashCache) -> None:
        flat = {path: [*key, content] for path, (key, content) in cache.items()}
        self._update(lambda data: data.setdefault("contexts", {}).__setitem__(str(context), flat))

    def save_record(self, tag: str, record: ImageRecord) -> None:
        self._update(lambda data: data.setdefault("images", {}).__setitem__(tag, record.to_json()))

    @contextlib.contextmanager
    def build_lock(self, tag: str, on_wait: Callable[[Path], None]) -> Iterator[None]:
        """Hold the lock of `tag`; `on_wait` is told when another process holds it."""
        path = self.path / f"build-{_safe(tag)}.lock"
        with _locked(path, on_wait):
            self._data = None  # another build may have written it while we waited
            yield

    def _read(self) -> dict[str, Any]:
        if self._data is None:
            self._data = _load(self.manifest_path)
        return self._data

    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Read, change and replace the manifest under its own lock; failures are ignored
        (the manifest is a cache)."""
        try:
            with _locked(self.path / f"{MANIFEST}.lock", lambda _path: None):
                data = _load(self.manifest_path) or {"version": _VERSION}
                change(data)
                _write_atomic(self.manifest_path, json.dumps(data, separators=(",", ":")))
                self._data = data
        except OSError:
            pass


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return {}
    return data


@contextlib.contextmanager
def _locked(path: Path, on_wait: Callable[[Path], None]) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_atomic(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _safe(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)
