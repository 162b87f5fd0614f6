"""Leases on a reused server: a shared `flock` per container, held while a run uses it.

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


def _path(container_id: str) -> Path:
    return lease_dir() / f"{container_id[:32]}.lock"


class Lease:
    """A shared lock on a container, released by `release()` or by the process ending."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        self._file: IO[bytes] | None = _path(container_id).open("ab")
        fcntl.flock(self._file, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


def in_use(container_id: str) -> bool:
    """Whether any process holds a lease on the container (non-blocking)."""
    path = _path(container_id)
    if not path.exists():
        return False
    with path.open("ab") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def forget(container_id: str) -> None:
    _path(container_id).unlink(missing_ok=True)
