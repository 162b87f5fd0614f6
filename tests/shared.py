"""What every tier of the tests uses (unit, integration and e2e all see this directory)."""

from __future__ import annotations

from pathlib import Path

SESSION_LABEL = "hodei-e2e-tests.session"  # containers of this test session (the leak check)


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is dead: it runs nothing any more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZXx"
