"""Worker containers: started by the platform under test (`hodei.managed=true`), owned by a run.

A run owns a worker that carries its run id, and an unattributed worker created while it ran,
unless another live run was running then too: that run removes it when it ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.masking import masker
from hodei_e2e.ownership.identity import WORKER_LABEL, RunIdentity

MAX_PASSES = 5


def owned_by_window(
    worker: ContainerInfo,
    run_id: str,
    started: float,
    until: float,
    other_live_starts: Sequence[float] = (),
) -> bool:
    from hodei_e2e.ownership.orphans import owned_by_run

    return owned_by_run(worker, run_id, started, until, other_live_starts)


def remove_run_workers(
    engine: Engine,
    identity: RunIdentity,
    logs_dir: Path,
    others: Sequence[float],
    *,
    save_logs: bool = True,
) -> list[ContainerInfo]:
    """Remove this run's workers, sweeping again until a pass finds nothing new. `others`:
    when the other live runs started (`cleanup.other_live_starts`)."""
    removed: dict[str, ContainerInfo] = {}
    for _ in range(MAX_PASSES):
        now = time.time()
        found = [
            worker
            for worker in engine.containers([f"{WORKER_LABEL}=true"])
            if worker.id not in removed
            and owned_by_window(worker, identity.run_id, identity.created, now, others)
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
        text = masker(engine.logs_tail(worker.id, 200))
        (target / f"{name}.log").write_text(text, encoding="utf-8")
