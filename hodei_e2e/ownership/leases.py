"""Leases on a reused server: a shared `flock` per container name, held while a run uses it.

The kernel drops a lock when its holder dies, so a lease can never go stale: a server is in
use exactly when an exclusive lock on its file cannot be taken. Reused servers publish their
port on 127.0.0.1 only, so their users are on this host and can all see the same files.

A lease file exists only while someone may hold it: the last holder to release removes it, and
`prune` removes those of holders that were killed. Every step that opens, probes or removes a
lease file takes the directory's mutex (an exclusive `flock` on `.mutex`, held for
microseconds), so that a file is never removed between another process's open and its lock, nor
while `others_hold` lets go of its own lock for an instant.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

MUTEX = ".mutex"


def lease_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"hodei-e2e-leases-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _path(name: str) -> Path:
    return lease_dir() / f"{name[:100]}.lock"


@contextmanager
def _mutex() -> Iterator[None]:
    with (lease_dir() / MUTEX).open("ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file drops the lock


def _try_exclusive(handle: IO[bytes]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Lease:
    """A shared lock on a server name, released by `release()` or by the process ending."""

    def __init__(self, name: str) -> None:
        self.name = name
        with _mutex():
            self._file: IO[bytes] | None = _path(name).open("ab")
            # Nobody holds an exclusive lock for longer than a probe under the mutex: this
            # waits for no one.
            fcntl.flock(self._file, fcntl.LOCK_SH)

    def others_hold(self) -> bool:
        """Whether another process holds a lease too (ours is dropped for an instant)."""
        assert self._file is not None
        with _mutex():
            fcntl.flock(self._file, fcntl.LOCK_UN)
            try:
                return not _try_exclusive(self._file)
            finally:
                fcntl.flock(self._file, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._file is not None:
            with _mutex():
                self._file.close()  # closing drops the lock
                self._file = None
                _discard(self.name)  # the file is only needed while someone holds it


def in_use(name: str) -> bool:
    """Whether any process holds a lease on the server `name` (non-blocking)."""
    with _mutex():
        try:
            handle = _path(name).open("rb")  # never creates a file
        except FileNotFoundError:
            return False
        with handle:
            return not _try_exclusive(handle)


def _discard(name: str) -> bool:
    """Remove the lease file of `name` unless a run holds it (under the mutex)."""
    path = _path(name)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return True
    with handle:
        if not _try_exclusive(handle):
            return False
        path.unlink(missing_ok=True)
    return True


def prune() -> list[str]:
    """Remove every lease file that no process holds (those of runs killed with SIGKILL); return
    the server names whose files went."""
    with _mutex():
        return [path.stem for path in sorted(lease_dir().glob("*.lock")) if _discard(path.stem)]
