"""`python -m hodei_e2e` is the same command as the `hodei-e2e` script: same output, same exit
codes, its usage line named after how it was called."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("hodei-e2e")
MODULE = [sys.executable, "-m", "hodei_e2e"]


def run(command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("--version",), 0, "hodei-e2e 0.1.0"),
        (("run", "-c", "/nonexistent/e2e.yaml"), 2, "/nonexistent/e2e.yaml: no such file"),
        (("no-such-command",), 2, "No such command 'no-such-command'"),
    ],
)
def test_python_m_runs_the_cli(args: tuple[str, ...], code: int, text: str) -> None:
    done = run(MODULE, *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert text in done.stdout + done.stderr
    if SCRIPT.exists():  # the console script, where the package is installed with it
        script = run([str(SCRIPT)], *args)
        assert (script.returncode, script.stdout) == (done.returncode, done.stdout)


def test_python_m_help_names_itself() -> None:
    done = run(MODULE, "--help")
    assert done.returncode == 0
    assert "python -m hodei_e2e" in done.stdout
    assert "doctor" in done.stdout
