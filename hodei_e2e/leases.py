"""Leases on a reused server: a shared `flock` per container name, held while a run uses it.

The kernel drops a lock when its holder dies, so a lease can never go stale: a server is in
use exactly when an exclusive lock on its file cannot be taken. A lease file exists only while
someone may hold it: the last holder to release removes it under an exclusive lock, and
`prune` removes those of holders that were killed. Reused servers publish their
port on 127.0.0.1 only, so their users are on this host and can all see the same files.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO


def lease_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"hodei-e2e-leases-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _path(name: str) -> Path:
    return lease_dir() / f"{name[:100]}.lock"


def _locked(path: Path, mode: int) -> IO[bytes] | None:
    """`path` opened and locked with `mode`; None when a non-blocking lock is held elsewhere.

    A lease file may be removed (`discard`) between our open and our lock: then the lock is on
    a file nobody else will see, so open the path again until the lock is on the file there."""
    while True:
        handle = path.open("ab")
        try:
            fcntl.flock(handle, mode)
        except BlockingIOError:
            handle.close()
            return None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = -1
        if current == os.fstat(handle.fileno()).st_ino:
            return handle
        handle.close()


class Lease:
    """A shared lock on a server name, released by `release()` or by the process ending."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._file: IO[bytes] | None = _locked(_path(name), fcntl.LOCK_SH)

    def others_hold(self) -> bool:
        """Whether another process holds a lease too (ours is dropped for an instant)."""
        assert self._file is not None
        fcntl.flock(self._file, fcntl.LOCK_UN)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            fcntl.flock(self._file, fcntl.LOCK_SH)
        return False

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None
            discard(self.name)  # the file is only needed while someone holds it


def in_use(name: str) -> bool:
    """Whether any process holds a lease on the server `name` (non-blocking)."""
    try:
        handle = _path(name).open("rb")  # never creates a file
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def discard(name: str) -> bool:
    """Remove the lease file of `name` unless a run holds it; True when it is gone."""
    path = _path(name)
    if not path.exists():
        return True
    handle = _locked(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if handle is None:
        return False
    with handle:
        path.unlink(missing_ok=True)  # under the exclusive lock: nobody holds or takes it
    return True


def prune() -> list[str]:
    """Remove every lease file that no process holds (those of runs killed with SIGKILL); return
    the server names whose files went."""
    return [path.stem for path in sorted(lease_dir().glob("*.lock")) if discard(path.stem)]
