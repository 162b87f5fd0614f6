"""Who a run is: its id, its owner process, and the labels it puts on what it creates.

The owner is `<hostname>:<pid>` plus the process start time read from /proc, so that a recycled
pid is never mistaken for a live run.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from hodei_e2e.suites import processes

LABEL = "io.hodei.e2e"
PROJECT = f"{LABEL}.project"
RUN_ID = f"{LABEL}.run-id"
ROLE = f"{LABEL}.role"
OWNER = f"{LABEL}.owner"
OWNER_START = f"{LABEL}.owner-start"
CREATED = f"{LABEL}.created"
CONFIG_HASH = f"{LABEL}.config-hash"
REUSE = f"{LABEL}.reuse"
MAX_REUSE = f"{LABEL}.max-reuse"  # seconds a reusable container may serve
CONTEXT_DIGEST = f"{LABEL}.context-digest"
WORKER_LABEL = "hodei.managed"

Role = Literal["postgres", "service", "worker-image"]


def process_start_token(pid: int) -> str:
    """The start time of `pid` in clock ticks since boot, or "" when it cannot be read."""
    found = processes.entry(pid)
    return found.start if found is not None else ""


def pid_alive(pid: int, start_token: str = "") -> bool:
    """Whether `pid` runs on this host and, when `start_token` is given, is the same process."""
    return processes.process_alive(pid) and (
        not start_token or process_start_token(pid) in ("", start_token)
    )


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{secrets.token_hex(3)}"


def run_started(run_id: str) -> float | None:
    """The unix time in a run id made by `new_run_id`, or None for another shape."""
    import calendar

    try:
        return float(calendar.timegm(time.strptime(run_id.partition("-")[0], "%Y%m%d%H%M%S")))
    except ValueError:
        return None


@dataclass(frozen=True)
class RunIdentity:
    project: str
    run_id: str = field(default_factory=new_run_id)
    hostname: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    created: float = field(default_factory=time.time)

    @property
    def owner(self) -> str:
        return f"{self.hostname}:{self.pid}"

    def labels(
        self, role: Role, *, reuse: bool = False, config_hash: str | None = None
    ) -> dict[str, str]:
        labels = {
            LABEL: "true",
            PROJECT: self.project,
            RUN_ID: self.run_id,
            ROLE: role,
            OWNER: self.owner,
            OWNER_START: process_start_token(self.pid),
            CREATED: str(int(self.created)),
            REUSE: "true" if reuse else "false",
        }
        if config_hash:
            labels[CONFIG_HASH] = config_hash
        return labels


def image_labels(project: str, **extra: str) -> dict[str, str]:
    """Labels for a built image. No run id and no owner: an image outlives the run that built
    it, and every container started from it inherits its labels."""
    return {
        LABEL: "true",
        PROJECT: project,
        ROLE: "worker-image",
        CREATED: str(int(time.time())),
        **extra,
    }


def owner_alive(labels: Mapping[str, str], hostname: str | None = None) -> bool | None:
    """True/False for an owner on this host; None when the owner lives on another host."""
    owner = labels.get(OWNER, "")
    host, _, pid = owner.rpartition(":")
    if not host or not pid.isdigit():
        return False
    if host != (hostname or socket.gethostname()):
        return None
    return pid_alive(int(pid), labels.get(OWNER_START, ""))


_UNSAFE = re.compile(r"[^a-z0-9_]+")


def database_name(prefix: str, run_id: str, counter: int, suite: str) -> str:
    """`<prefix>_<timestamp>_<counter>_<suite>`: lower-case `[a-z0-9_]`, at most 63 bytes.

    The timestamp part is the run id (UTC time plus a random token), so two runs started in
    the same second never collide and `cleanup` can tell which run a database belongs to.
    """
    stamp = _UNSAFE.sub("", run_id.lower().replace("-", "x"))
    head = f"{prefix}_{stamp}_{counter}_"
    tail = _UNSAFE.sub("_", suite.lower()).strip("_") or "suite"
    return (head + tail)[:63].rstrip("_")


def run_id_of_database(name: str, prefix: str) -> str | None:
    """The run id encoded by `database_name`, or None for a name it did not make."""
    match = re.fullmatch(rf"{re.escape(prefix)}_(\d{{14}})x([0-9a-f]{{6}})_\d+(_.*)?", name)
    return f"{match.group(1)}-{match.group(2)}" if match else None
