"""Leases on a reused server: a shared `flock` per container name, held while a run uses it.

The kernel drops a lock when its holder dies, so a lease can never go stale: a server is in
use exactly when an exclusive lock on its file cannot be taken. Reused servers publish their
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


class Lease:
    """A shared lock on a server name, released by `release()` or by the process ending."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._file: IO[bytes] | None = _path(name).open("ab")
        fcntl.flock(self._file, fcntl.LOCK_SH)

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


def in_use(name: str) -> bool:
    """Whether any process holds a lease on the server `name` (non-blocking)."""
    path = _path(name)
    if not path.exists():
        return False
    with path.open("ab") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
