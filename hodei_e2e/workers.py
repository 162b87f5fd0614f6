"""Worker containers: started by the platform under test (`hodei.managed=true`), owned by a run.

A run owns a worker that carries its run id, and any unattributed worker created while it ran.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from hodei_e2e.docker import ContainerInfo, Engine
from hodei_e2e.identity import RUN_ID, WORKER_LABEL, RunIdentity

MAX_PASSES = 5


def owned_by(worker: ContainerInfo, identity: RunIdentity, until: float) -> bool:
    run_id = worker.labels.get(RUN_ID)
    if run_id:
        return run_id == identity.run_id
    return identity.created - 1 <= worker.created <= until + 1


def remove_run_workers(
    engine: Engine, identity: RunIdentity, logs_dir: Path, *, save_logs: bool = True
) -> list[ContainerInfo]:
    """Remove this run's workers, sweeping again until a pass finds nothing new."""
    removed: dict[str, ContainerInfo] = {}
    for _ in range(MAX_PASSES):
        now = time.time()
        found = [
            worker
            for worker in engine.containers([f"{WORKER_LABEL}=true"])
            if worker.id not in removed and owned_by(worker, identity, now)
        ]
        if not found:
            break
        if save_logs:
            save_worker_logs(engine, found, logs_dir)
        engine.remove([worker.id for worker in found])
        removed.update({worker.id: worker for worker in found})
    return list(removed.values())


def save_worker_logs(engine: Engine, workers: Sequence[ContainerInfo], logs_dir: Path) -> None:
    target = logs_dir / "workers"
    target.mkdir(parents=True, exist_ok=True)
    for worker in workers:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", worker.name) or worker.short_id
        (target / f"{name}.log").write_text(engine.logs_tail(worker.id, 200), encoding="utf-8")
