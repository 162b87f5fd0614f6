"""The build context: which files the engine is sent, their digest, and the tar that sends them.

One listing serves both the digest and the upload, so the digest covers exactly what the build
sees. The listing follows the Docker CLI (`archive.TarWithOptions` with the .dockerignore
patterns, and the Dockerfile and .dockerignore always sent), except for the tool's own state
directory, which is never sent.

File contents are hashed once and remembered by (size, mtime, ctime, inode): with nothing
changed, a check costs one `lstat` per file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from hodei_e2e.errors import ConfigError
from hodei_e2e.image.dockerignore import PatternError, PatternMatcher, read_patterns

DIGEST_VERSION = "hodei-e2e context v1"
RACY_NS = 1_000_000_000  # a file changed this close to a scan is hashed again next time
_BLOCK = 1 << 20

StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
HashCache = dict[str, tuple[StatKey, str]]  # relative path -> (stat key, content hash)


@dataclass(frozen=True)
class Entry:
    path: str  # relative, slash-separated
    kind: str  # "f" file, "d" directory, "l" symlink
    mode: int  # permission bits
    size: int
    mtime: int  # seconds
    content: str  # sha256 of a file's bytes, a symlink's target, "" for a directory

    def line(self) -> str:
        return f"{self.kind}\0{self.mode:o}\0{self.path}\0{self.content}\0\0"

    def hash(self) -> str:
        return hashlib.sha256(self.line().encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass
class Listing:
    """What a build of `context` sends, in the order it is sent."""

    context: Path
    entries: list[Entry]
    dockerfile_name: str  # the name the engine reads the Dockerfile by, inside the tar
    dockerfile_outside: bytes | None  # the Dockerfile's bytes when it lives outside the context
    cache: HashCache = field(default_factory=dict)  # hashes worth keeping for the next scan
    hashed: int = 0  # files read during this scan (0: every hash came from the cache)


@dataclass(frozen=True)
class Inputs:
    """Everything a build depends on besides the files."""

    dockerfile_hash: str
    build_args: Mapping[str, str]
    target: str | None


def scan(
    context: Path,
    dockerfile: Path,
    *,
    cache: Mapping[str, tuple[StatKey, str]] | None = None,
    never_send: Iterable[Path] = (),
) -> Listing:
    """List what a build sends; `cache` (from a previous scan) spares re-reading files."""
    patterns = _ignore_patterns(context)
    inside = _relative(dockerfile, context)
    if inside is not None:
        name, outside = inside, None
    else:  # the CLI's name is random; one from the content keeps BuildKit's `COPY .`
        outside = dockerfile.read_bytes()  # cacheable, where the file stays (see write_tar)
        name = f".dockerfile.{hashlib.sha256(outside).hexdigest()[:20]}"
    if inside is not None:
        patterns = _keep_build_files(patterns, inside)
    try:
        matcher = PatternMatcher(patterns)
    except PatternError as error:
        raise ConfigError(f"{context / '.dockerignore'}: {error}") from None
    skip = {rel for path in never_send if (rel := _relative(path, context)) is not None}
    walk = _Walk(context, matcher, cache or {}, skip)
    walk.directory("", ())
    return Listing(context, walk.entries, name, outside, walk.new_cache, walk.hashed)


def digest(listing: Listing, inputs: Inputs) -> str:
    """A stable hash over the Dockerfile, the build args, the target and every file sent."""
    sha = hashlib.sha256(f"{DIGEST_VERSION}\0".encode())
    sha.update(f"dockerfile\0{inputs.dockerfile_hash}\0target\0{inputs.target or ''}\0".encode())
    for key in sorted(inputs.build_args):
        sha.update(f"arg\0{key}\0{inputs.build_args[key]}\0".encode())
    for entry in listing.entries:
        sha.update(entry.line().encode("utf-8", "surrogateescape"))
    return "sha256:" + sha.hexdigest()


def file_hash(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            sha.update(block)
    return sha.hexdigest()


def changed_paths(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Paths added, removed or changed between two {path: entry hash} maps, sorted."""
    paths = before.keys() | after.keys()
    return sorted(path for path in paths if before.get(path) != after.get(path))


def write_tar(listing: Listing, target: IO[bytes], *, engine_applies_ignore: bool = True) -> None:
    """Write the context as an uncompressed tar; a file whose bytes no longer match the
    listing raises ConfigError (it changed during the build: the digest would be wrong).

    A Dockerfile from outside the context is added under its generated name. The classic
    builder applies `.dockerignore` to the upload, so the name is appended to it and the engine
    drops the file again, as with the CLI; BuildKit does not read it for an uploaded context
    (`engine_applies_ignore=False`), so the file simply stays, and `.dockerignore` is left
    as it is."""
    with tarfile.open(fileobj=target, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in listing.entries:
            _add(tar, listing.context, entry)
        if listing.dockerfile_outside is not None:
            _add_bytes(tar, listing.dockerfile_name, listing.dockerfile_outside)
            if not engine_applies_ignore:
                return
            ignore = listing.context / ".dockerignore"
            text = ignore.read_bytes() if ignore.is_file() else b""
            _add_bytes(tar, ".dockerignore", text + f"\n{listing.dockerfile_name}\n".encode())


# -- the walk --------------------------------------------------------------------------------------


class _Walk:
    def __init__(
        self,
        root: Path,
        matcher: PatternMatcher,
        cache: Mapping[str, tuple[StatKey, str]],
        skip: set[str],
    ) -> None:
        self.root = os.fspath(root)
        self.matcher = matcher
        self.cache = cache
        self.skip = skip
        self.entries: list[Entry] = []
        self.new_cache: HashCache = {}
        self.hashed = 0
        self.racy_after = time.time_ns() - RACY_NS

    def directory(self, rel: str, info: tuple[bool, ...]) -> None:
        path = os.path.join(self.root, rel) if rel else self.root
        try:
            names = sorted(entry.name for entry in os.scandir(path))
        except OSError as error:
            raise ConfigError(f"build context: cannot read {path}: {error.strerror}") from None
        for name in names:
            child = f"{rel}/{name}" if rel else name
            if child not in self.skip:
                self.visit(child, info)

    def visit(self, rel: str, parent: tuple[bool, ...]) -> None:
        full = os.path.join(self.root, rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return  # gone while we looked
        excluded, info = self.matcher.matches(rel, parent)
        is_dir = stat.S_ISDIR(st.st_mode)
        if excluded:
            if is_dir and self.matcher.exclusions and self.matcher.may_include_under(rel):
                self.directory(rel, info)
            return
        if is_dir:
            self.entries.append(Entry(rel, "d", st.st_mode & 0o7777, 0, int(st.st_mtime), ""))
            self.directory(rel, info)
        elif stat.S_ISLNK(st.st_mode):
            target = os.readlink(full)
            self.entries.append(Entry(rel, "l", st.st_mode & 0o7777, 0, int(st.st_mtime), target))
        elif stat.S_ISREG(st.st_mode):
            content = self.content(rel, full, st)
            entry = Entry(rel, "f", st.st_mode & 0o7777, st.st_size, int(st.st_mtime), content)
            self.entries.append(entry)
        # sockets, fifos and devices are not sent

    def content(self, rel: str, full: str, st: os.stat_result) -> str:
        key: StatKey = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        cached = self.cache.get(rel)
        if cached is not None and tuple(cached[0]) == key:
            content = cached[1]
        else:
            try:
                content = file_hash(Path(full))
            except OSError as error:
                raise ConfigError(f"build context: cannot read {full}: {error.strerror}") from None
            self.hashed += 1
        if max(st.st_mtime_ns, st.st_ctime_ns) < self.racy_after:
            self.new_cache[rel] = (key, content)
        return content


def _ignore_patterns(context: Path) -> list[str]:
    path = context / ".dockerignore"
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    return read_patterns(text)


def _keep_build_files(patterns: list[str], dockerfile: str) -> list[str]:
    """The CLI's `TrimBuildFilesFromExcludes`: the engine needs both files, so they are sent
    even when .dockerignore excludes them (the engine then leaves them out of COPY)."""
    try:
        matcher = PatternMatcher(patterns)
    except PatternError:
        return patterns  # reported by the caller
    kept = list(patterns)
    if matcher.matches_or_parent_matches(".dockerignore"):
        kept.append("!.dockerignore")
    if matcher.matches_or_parent_matches(dockerfile):
        kept.append("!" + dockerfile)
    return kept


def _relative(path: Path, root: Path) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else None


# -- the tar ---------------------------------------------------------------------------------------


def _add(tar: tarfile.TarFile, root: Path, entry: Entry) -> None:
    info = tarfile.TarInfo(entry.path)
    info.mode = entry.mode
    info.mtime = entry.mtime
    info.uname = info.gname = ""
    if entry.kind == "d":
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif entry.kind == "l":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.content
        tar.addfile(info)
    else:
        _add_file(tar, info, root / entry.path, entry)


def _add_file(tar: tarfile.TarFile, info: tarfile.TarInfo, path: Path, entry: Entry) -> None:
    changed = ConfigError(
        f"build context: {path} changed while the build was starting",
        detail="Run the command again once the files are saved.",
    )
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size != entry.size:
                raise changed
            reader = _HashingReader(handle)
            info.size = entry.size
            tar.addfile(info, cast("IO[bytes]", reader))
    except OSError as error:
        if error.errno is None:  # shorter than listed: tarfile's "unexpected end of data"
            raise changed from None
        raise ConfigError(f"build context: cannot read {path}: {error.strerror}") from None
    if reader.sha.hexdigest() != entry.content:
        raise changed


class _HashingReader:
    """Hands the tar writer a file's bytes and hashes them on the way."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha.update(data)
        return data


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o600
    info.mtime = int(time.time())
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
