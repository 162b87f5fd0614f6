"""Fault points: named places where the fault battery (`scripts/faults`) and the tests make the
tool pause, announce itself or fail, so that a signal or a crash lands inside a given phase.

`HODEI_E2E_FAULTS="engine=sleep:1.5,teardown=mark,report=raise"`: at the point `engine` sleep
1.5 s, at `teardown` only announce it, at `report` raise an unexpected error. Every action first
writes `hodei-e2e: fault point NAME` to stderr, which the battery waits for. Unset (always, for
users), a point costs one dictionary look-up.
"""

from __future__ import annotations

import os
import sys
import time


def _parse(text: str) -> dict[str, str]:
    points = {}
    for item in text.split(","):
        name, _, action = item.strip().partition("=")
        if name:
            points[name] = action or "mark"
    return points


_POINTS = _parse(os.environ.get("HODEI_E2E_FAULTS", ""))


class InjectedFault(RuntimeError):
    """An unexpected error on purpose: the internal-error path (exit 70) under test."""


def point(name: str) -> None:
    action = _POINTS.get(name)
    if action is None:
        return
    sys.stderr.write(f"hodei-e2e: fault point {name}\n")
    sys.stderr.flush()
    kind, _, argument = action.partition(":")
    if kind == "sleep":
        time.sleep(float(argument or "1"))
    elif kind == "raise":
        raise InjectedFault(f"fault injected at {name}")
