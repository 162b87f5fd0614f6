"""The end of every run, whatever ended it: what it started is undone in reverse.

Two stacks, each unwound last-in first-out. The *work* still going on stops first (the prepare
step's processes, the background starts), so that nothing new appears while the *resources* are
undone (databases, leases on reused servers, worker and Testcontainers containers, the run's own
containers, the engine connection). Each resource is registered the moment it exists, so that a
half-finished start is undone like a finished one. `--keep` is decided here and nowhere else:
what it keeps is registered with `removes`, what it prints with `keeps`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import TypeVar

from hodei_e2e import faults
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import ContainerInfo, Engine
from hodei_e2e.ownership.identity import REUSE, RUN_ID, RunIdentity

T = TypeVar("T")


class Teardown:
    def __init__(self, out: Output, *, keep: bool) -> None:
        self.out = out
        self.keep = keep
        self.removed: list[str] = []  # what the cleanup line says it removed
        self._work = ExitStack()
        self._resources = ExitStack()
        self._registered = 0

    def stops(self, callback: Callable[[], object]) -> None:
        """Work to stop before any resource is undone."""
        self._work.callback(callback)

    def working(self, work: AbstractContextManager[T]) -> T:
        """Work (a context manager) to stop before any resource is undone."""
        return self._work.enter_context(work)

    def holds(self, resource: AbstractContextManager[T]) -> T:
        """A resource (a context manager) to undo, --keep or not."""
        self._registered += 1
        return self._resources.enter_context(resource)

    def releases(self, callback: Callable[[], object]) -> None:
        """A resource to undo, --keep or not (a lease, a connection, the run's leftovers)."""
        self._resources.callback(callback)
        self._registered += 1

    def removes(self, callback: Callable[[], object]) -> None:
        """A resource that --keep keeps (the run's databases and containers)."""
        if not self.keep:
            self.releases(callback)

    def keeps(self, callback: Callable[[], object]) -> None:
        """What --keep says it kept, in the place of the removal."""
        if self.keep:
            self.releases(callback)

    def unless_kept(self, callback: Callable[[], object]) -> None:
        """Undo a resource now (a suite's database when the suite ends), unless --keep."""
        if not self.keep:
            callback()

    def close(self) -> None:
        faults.point("teardown")
        self._work.close()
        if not self._registered:
            self._resources.close()
            return
        with self.out.step("cleanup") as note:
            try:
                self._resources.close()
            finally:
                note.text = ", ".join(self.removed) or "nothing to remove"


class RunContainers:
    """The containers of a run: its own (those it was told of as they were created, and any
    labelled with its id that it was not told of: a signal between the engine's answer and the
    callback), and the leftovers of its suites (the platform's workers, Testcontainers')."""

    def __init__(self, engine: Engine, identity: RunIdentity, teardown: Teardown) -> None:
        self.engine = engine
        self.identity = identity
        self.teardown = teardown
        self.created: list[ContainerInfo] = []
        self._listed: list[ContainerInfo] | None = None

    def add(self, container: ContainerInfo) -> None:
        self.created.append(container)

    def listed(self) -> list[ContainerInfo]:
        """Every container of the engine, listed once at the teardown."""
        if self._listed is None:
            self._listed = self.engine.containers([])
        return self._listed

    def remove_leftovers(self, logs_dir: Path, *, testcontainers: bool) -> None:
        from hodei_e2e.ownership.orphans import leaked_testcontainers, other_live_starts
        from hodei_e2e.ownership.workers import remove_run_workers

        everything = self.listed()
        others = other_live_starts(everything, self.identity.run_id)
        workers = remove_run_workers(self.engine, self.identity, logs_dir, others)
        if workers:
            self.teardown.removed.append(f"{len(workers)} worker container(s)")
        if testcontainers:
            leaked = leaked_testcontainers(
                everything, self.identity.run_id, self.identity.created, time.time(), others
            )
            self.engine.remove([c.id for c in leaked])
            if leaked:
                self.teardown.removed.append(f"{len(leaked)} Testcontainers container(s)")

    def remove_own(self) -> None:
        mine = self.own(self.listed())
        self.engine.remove([c.id for c in mine])
        if mine:
            self.teardown.removed.append(f"{len(mine)} container(s) of the run")

    def own(self, listed: Sequence[ContainerInfo]) -> list[ContainerInfo]:
        """What the run created, reusable singletons aside."""
        mine = {c.id: c for c in self.created}
        for container in listed:
            labels = container.labels
            if labels.get(RUN_ID) == self.identity.run_id and labels.get(REUSE) != "true":
                mine.setdefault(container.id, container)
        return list(mine.values())
