"""Lease files: held while a run uses a server, gone with their last holder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hodei_e2e.ownership import leases


@pytest.fixture(autouse=True)
def _own_lease_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))


def test_the_last_holder_removes_the_file() -> None:
    first, second = leases.Lease("srv"), leases.Lease("srv")
    assert leases.in_use("srv")
    assert first.others_hold()
    assert second.others_hold()
    first.release()
    assert (leases.lease_dir() / "srv.lock").exists(), "removed under a holder"
    assert not second.others_hold()
    second.release()
    assert not (leases.lease_dir() / "srv.lock").exists()
    assert not leases.in_use("srv")
    assert not (leases.lease_dir() / "srv.lock").exists(), "in_use created a file"


def test_prune_removes_the_files_of_killed_holders_only(tmp_path: Path) -> None:
    held = leases.Lease("live")
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from hodei_e2e.ownership.leases import Lease; Lease('killed'); os._exit(0)",
        ],
        env={"XDG_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert killed.returncode == 0
    assert (leases.lease_dir() / "killed.lock").exists()
    assert leases.prune() == ["killed"]
    assert leases.in_use("live")
    held.release()
