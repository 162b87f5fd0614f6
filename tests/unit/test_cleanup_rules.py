"""What counts as an orphan (DESIGN.md, "What counts as an orphan"), as pure rules over
`ContainerInfo` objects: owner liveness (pid + start token, other hosts), reusable singletons,
worker containers and their runs, Testcontainers' leftovers, and what is never touched.

No Docker here: `find_orphans` is given a fake engine that lists containers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hodei_e2e.engine.docker import ContainerInfo
from hodei_e2e.ownership import identity as ident
from hodei_e2e.ownership import leases
from hodei_e2e.ownership.cleanup import find_orphans
from hodei_e2e.ownership.identity import owner_alive, pid_alive, process_start_token
from hodei_e2e.ownership.orphans import (
    Orphan,
    SweepPolicy,
    is_testcontainers,
    leaked_testcontainers,
    live_run_starts,
    owner_verdict,
)
from hodei_e2e.ownership.reaper import kill_groups
from hodei_e2e.ownership.workers import owned_by_window

HOST = socket.gethostname()
NOW = 1_800_000_000.0
MY_PID = os.getpid()
MY_TOKEN = process_start_token(MY_PID)


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _private_lease_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leases live in $XDG_RUNTIME_DIR: keep these tests' lease files away from real runs."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "runtime").mkdir()


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


_ids = iter(range(1, 1_000_000))


def container(
    labels: Mapping[str, str],
    *,
    created: float = NOW - 60,
    status: str = "running",
    name: str | None = None,
) -> ContainerInfo:
    number = next(_ids)
    return ContainerInfo(
        id=f"{number:064x}",
        name=name or f"c{number}",
        image="hodei-e2e.local/busybox:latest",
        status=status,
        labels=dict(labels),
        created=created,
    )


def tool_labels(
    owner: str,
    *,
    token: str | None = None,
    role: str = "postgres",
    run_id: str = "20260101000000-abcdef",
    created: float = NOW - 60,
    reuse: bool = False,
) -> dict[str, str]:
    labels = {
        ident.LABEL: "true",
        ident.PROJECT: "rules",
        ident.RUN_ID: run_id,
        ident.ROLE: role,
        ident.OWNER: owner,
        ident.CREATED: str(int(created)),
        ident.REUSE: "true" if reuse else "false",
    }
    if token is not None:
        labels[ident.OWNER_START] = token
    return labels


def worker_labels(run_id: str | None = None) -> dict[str, str]:
    labels = {ident.WORKER_LABEL: "true", "hodei.worker.id": "w-1"}
    if run_id:
        labels[ident.RUN_ID] = run_id
    return labels


@dataclass
class FakeEngine:
    """What `find_orphans` asks of an engine: a listing of containers (and of networks and
    volumes, none here)."""

    listed: list[ContainerInfo]

    def containers(
        self, labels: Mapping[str, str] | Iterable[str], *, all: bool = True
    ) -> list[ContainerInfo]:
        assert not list(labels), "find_orphans lists every container and filters itself"
        return list(self.listed)

    def networks(self, _labels: Any) -> list[dict[str, Any]]:
        return []

    def volumes(self, _labels: Any) -> list[dict[str, Any]]:
        return []


def orphans_of(*containers: ContainerInfo, policy: SweepPolicy | None = None) -> dict[str, Orphan]:
    policy = policy or SweepPolicy(hostname=HOST, now=NOW)
    found = find_orphans(FakeEngine(list(containers)), policy)  # type: ignore[arg-type]
    return {orphan.name: orphan for orphan in found}


def policy(**kwargs: Any) -> SweepPolicy:
    return SweepPolicy(hostname=HOST, now=NOW, **kwargs)


# -- owner liveness: pid + start token, and other hosts --------------------------------------------


def test_start_token_of_this_process_is_readable() -> None:
    assert MY_TOKEN.isdigit(), "the tests below need /proc/<pid>/stat"
    assert process_start_token(MY_PID) == MY_TOKEN  # stable
    assert process_start_token(999_999_999) == ""


def test_live_pid_with_its_start_token_is_alive() -> None:
    assert pid_alive(MY_PID, MY_TOKEN)
    assert owner_alive({ident.OWNER: f"{HOST}:{MY_PID}", ident.OWNER_START: MY_TOKEN}, HOST) is True


def test_dead_pid_is_dead(dead_pid: int) -> None:
    assert not pid_alive(dead_pid)
    assert owner_alive({ident.OWNER: f"{HOST}:{dead_pid}"}, HOST) is False


def test_live_pid_with_another_start_token_is_a_recycled_pid_and_dead() -> None:
    wrong = str(int(MY_TOKEN) + 12345)
    assert not pid_alive(MY_PID, wrong)
    assert owner_alive({ident.OWNER: f"{HOST}:{MY_PID}", ident.OWNER_START: wrong}, HOST) is False


def test_owner_on_another_host_is_unknown_not_dead() -> None:
    assert owner_alive({ident.OWNER: f"not-{HOST}:{MY_PID}"}, HOST) is None


@pytest.mark.parametrize("owner", ["", "no-pid", f"{HOST}:", f"{HOST}:abc", ":123"])
def test_malformed_or_missing_owner_counts_as_gone(owner: str) -> None:
    labels = {ident.OWNER: owner} if owner else {}
    assert owner_alive(labels, HOST) is False


def test_container_of_a_dead_owner_is_an_orphan(dead_pid: int) -> None:
    found = orphans_of(container(tool_labels(f"{HOST}:{dead_pid}"), name="pg-dead"))
    assert set(found) == {"pg-dead"}
    assert found["pg-dead"].kind == "container"
    assert found["pg-dead"].role == "postgres"
    assert found["pg-dead"].reason == f"owner {HOST}:{dead_pid} is gone"


def test_container_of_a_live_owner_is_kept() -> None:
    mine = container(tool_labels(f"{HOST}:{MY_PID}", token=MY_TOKEN), name="pg-live")
    assert orphans_of(mine) == {}
    assert orphans_of(mine, policy=policy(all=True, older_than=0.0, testcontainers=True)) == {}


def test_container_of_a_recycled_pid_is_an_orphan() -> None:
    wrong = str(int(MY_TOKEN) + 1)
    found = orphans_of(container(tool_labels(f"{HOST}:{MY_PID}", token=wrong), name="pg-recycled"))
    assert set(found) == {"pg-recycled"}
    assert "is gone" in found["pg-recycled"].reason


def test_another_hosts_container_needs_older_than() -> None:
    old = container(
        tool_labels(f"elsewhere-{HOST}:1", created=NOW - 7200), created=NOW - 7200, name="old"
    )
    young = container(
        tool_labels(f"elsewhere-{HOST}:1", created=NOW - 60), created=NOW - 60, name="young"
    )
    assert orphans_of(old, young) == {}  # without --older-than, another host's things stay
    found = orphans_of(old, young, policy=policy(older_than=3600.0))
    assert set(found) == {"old"}
    assert "another host" in found["old"].reason
    assert "3600" in found["old"].reason


def test_owner_verdict_direct(dead_pid: int) -> None:
    assert owner_verdict({ident.OWNER: f"{HOST}:{MY_PID}"}, policy(), NOW) is None
    assert owner_verdict({ident.OWNER: f"{HOST}:{dead_pid}"}, policy(), NOW) is not None
    assert owner_verdict({ident.OWNER: f"x{HOST}:1"}, policy(older_than=10.0), NOW - 5) is None
    assert owner_verdict({ident.OWNER: f"x{HOST}:1"}, policy(older_than=10.0), NOW - 10) is not None


# -- reusable singletons ---------------------------------------------------------------------------


def singleton(owner: str, *, created: float = NOW - 60, max_reuse: float = 3600) -> ContainerInfo:
    labels = tool_labels(owner, created=created, reuse=True)
    labels[ident.CONFIG_HASH] = "0123456789abcdef"
    labels[f"{ident.LABEL}.max-reuse"] = str(int(max_reuse))
    return container(labels, created=created, name="pg-singleton")


def test_singleton_of_a_gone_run_is_kept_while_wanted(dead_pid: int) -> None:
    assert orphans_of(singleton(f"{HOST}:{dead_pid}")) == {}


def test_singleton_goes_with_all(dead_pid: int) -> None:
    found = orphans_of(singleton(f"{HOST}:{dead_pid}"), policy=policy(all=True))
    assert set(found) == {"pg-singleton"}
    assert "--all" in found["pg-singleton"].reason


def test_singleton_goes_when_idle_past_max_reuse(dead_pid: int) -> None:
    found = orphans_of(singleton(f"{HOST}:{dead_pid}", created=NOW - 7200, max_reuse=3600))
    assert set(found) == {"pg-singleton"}
    assert "max_reuse" in found["pg-singleton"].reason


def test_leased_singleton_is_never_removed_even_with_all(dead_pid: int) -> None:
    old = singleton(f"{HOST}:{dead_pid}", created=NOW - 7200, max_reuse=3600)
    lease = leases.Lease(old.name)
    try:
        assert leases.in_use(old.name)
        assert orphans_of(old, policy=policy(all=True, older_than=0.0)) == {}
    finally:
        lease.release()
    assert not leases.in_use(old.name)
    assert set(orphans_of(old, policy=policy(all=True))) == {"pg-singleton"}


# -- worker containers (hodei.managed=true) --------------------------------------------------------


def live_run(started: float) -> ContainerInfo:
    return container(
        tool_labels(
            f"{HOST}:{MY_PID}", token=MY_TOKEN, created=started, run_id="20260101000000-11aa11"
        ),
        created=started,
        name="pg-of-live-run",
    )


def test_running_worker_with_no_live_run_is_an_orphan() -> None:
    found = orphans_of(container(worker_labels(), name="w"))
    assert set(found) == {"w"}
    assert found["w"].role == "worker"
    assert "gone" in found["w"].reason


def test_stopped_worker_with_no_live_run_is_an_orphan() -> None:
    found = orphans_of(container(worker_labels(), status="exited", name="w"))
    assert set(found) == {"w"}
    assert "exited" in found["w"].reason


def test_worker_created_during_a_live_run_is_kept() -> None:
    run = live_run(NOW - 30)
    during = container(worker_labels(), created=NOW - 10, name="w-during")
    stopped = container(worker_labels(), created=NOW - 10, status="exited", name="w-stopped")
    assert orphans_of(run, during, stopped) == {}


def test_worker_created_before_every_live_run_is_an_orphan() -> None:
    run = live_run(NOW - 30)
    before = container(worker_labels(), created=NOW - 300, name="w-before")
    assert set(orphans_of(run, before)) == {"w-before"}


def test_worker_of_a_dead_run_is_an_orphan_even_while_another_run_is_live(dead_pid: int) -> None:
    """DESIGN.md: a `hodei.managed=true` container "whose creating run is gone" is an orphan.

    The worker names its run (`io.hodei.e2e.run-id`), and that run's own Postgres container
    says its owner is dead. A later, unrelated live run must not make the worker look owned."""
    other = live_run(NOW - 300)  # a live run, started before the dead one
    dead_run = "20260101000000-dead00"
    dead_pg = container(
        tool_labels(f"{HOST}:{dead_pid}", run_id=dead_run, created=NOW - 100),
        created=NOW - 100,
        name="pg-of-dead-run",
    )
    worker = container(worker_labels(dead_run), created=NOW - 90, name="w-of-dead-run")
    found = orphans_of(other, dead_pg, worker)
    assert "pg-of-dead-run" in found  # the run is recognised as dead ...
    assert "w-of-dead-run" in found, (  # ... so its worker is an orphan too
        "a worker labelled with the run id of a dead run is kept because an unrelated run is "
        f"live (orphans._worker_verdict ignores io.hodei.e2e.run-id); orphans: {sorted(found)}"
    )


def test_worker_of_a_live_run_that_reuses_a_server_is_kept(dead_pid: int) -> None:
    """A run that reuses a server owns no container of its own: the server's owner label names
    the (gone) run that created it. The live run holds a lease on the server; its worker, made
    just now and naming it, must not be taken for a dead run's."""
    server = singleton(f"{HOST}:{dead_pid}", created=NOW - 600)
    worker = container(worker_labels("20260101000500-11ve11"), created=NOW - 5, name="w-reuser")
    lease = leases.Lease(server.name)  # held by the live run that reuses the server
    try:
        found = orphans_of(server, worker)
    finally:
        lease.release()
    assert "w-reuser" not in found, (
        "the worker of a live run on a reused server is an orphan to `cleanup` and to every "
        f"run's start-of-run sweep: {found.get('w-reuser')}"
    )


def test_unlabelled_worker_made_during_another_hosts_run_is_kept() -> None:
    """On an engine shared by several hosts (a remote DOCKER_HOST), a run of another host may
    be alive: its Postgres container is kept (owner unknown, no --older-than), and so must be an
    unlabelled worker created while it runs, as one created during a local live run is."""
    other_host_run = container(
        tool_labels(f"elsewhere-{HOST}:4242", created=NOW - 30), created=NOW - 30, name="pg-far"
    )
    worker = container(worker_labels(), created=NOW - 10, name="w-far")
    found = orphans_of(other_host_run, worker)
    assert "pg-far" not in found
    assert "w-far" not in found, (
        "orphans.live_run_starts counts only owners alive on this host (owner_alive() is None "
        f"for another host and is taken as dead): {found.get('w-far')}"
    )


def test_worker_of_a_live_run_is_kept_even_before_other_runs() -> None:
    run = live_run(NOW - 30)
    worker = container(worker_labels(run.labels[ident.RUN_ID]), created=NOW - 20, name="w-live")
    assert orphans_of(run, worker) == {}


# -- live runs and the window rule -----------------------------------------------------------------


def test_live_run_starts_counts_only_live_owners(dead_pid: int) -> None:
    live = live_run(NOW - 30)
    dead = container(tool_labels(f"{HOST}:{dead_pid}", created=NOW - 20), created=NOW - 20)
    image = container(tool_labels(f"{HOST}:{MY_PID}", token=MY_TOKEN, role="worker-image"))
    worker = container(worker_labels())
    assert live_run_starts([live, dead, image, worker], policy()) == [float(int(NOW - 30))]


def test_owned_by_window_rules() -> None:
    tagged = container(worker_labels("run-a"), created=NOW)
    assert owned_by_window(tagged, "run-a", NOW - 100, NOW + 100)
    assert not owned_by_window(tagged, "run-b", NOW - 100, NOW + 100)  # another run's, always
    plain = container(worker_labels(), created=NOW)
    assert owned_by_window(plain, "run-a", NOW - 10, NOW + 10)
    assert not owned_by_window(plain, "run-a", NOW + 10, NOW + 20)  # before the run
    assert not owned_by_window(plain, "run-a", NOW - 20, NOW - 10)  # after the run
    # Another live run was going too when it was created: that run removes it.
    assert not owned_by_window(plain, "run-a", NOW - 10, NOW + 10, [NOW - 5])
    assert owned_by_window(plain, "run-a", NOW - 10, NOW + 10, [NOW + 5])


# -- Testcontainers, and what is never touched -----------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"org.testcontainers": "true"}, True),
        ({"org.testcontainers.lang": "rust"}, True),
        ({"org.testcontainers.sessionId": "x"}, True),
        ({"org.testcontainersX": "true"}, False),
        ({"com.example.org.testcontainers": "true"}, False),
        ({}, False),
    ],
)
def test_testcontainers_labels(labels: dict[str, str], expected: bool) -> None:
    assert is_testcontainers(labels) is expected


def test_testcontainers_only_when_asked_and_old_enough() -> None:
    old = container({"org.testcontainers": "true"}, created=NOW - 120, name="tc-old")
    rust = container({"org.testcontainers.lang": "rust"}, created=NOW - 120, name="tc-rust")
    young = container({"org.testcontainers": "true"}, created=NOW - 1, name="tc-young")
    assert orphans_of(old, rust, young) == {}
    assert orphans_of(old, rust, young, policy=policy(older_than=60.0)) == {}  # not asked
    found = orphans_of(old, rust, young, policy=policy(testcontainers=True, older_than=60.0))
    assert set(found) == {"tc-old", "tc-rust"}
    assert found["tc-old"].role == "testcontainers"


def test_a_runs_testcontainers_leftovers_go_by_its_run_id_label_first() -> None:
    """A suite labels its testcontainers with HODEI_E2E_RUN_ID: the label decides, whatever other
    runs were live; unlabelled ones are taken only in the run's window with no other run live."""
    mine = container({"org.testcontainers": "true", ident.RUN_ID: "run-a"}, created=NOW, name="m")
    theirs = container({"org.testcontainers": "true", ident.RUN_ID: "run-b"}, created=NOW, name="t")
    plain = container({"org.testcontainers": "true"}, created=NOW, name="p")

    def taken(others: list[float]) -> set[str]:
        found = leaked_testcontainers([mine, theirs, plain], "run-a", NOW - 10, NOW + 10, others)
        return {c.name for c in found}

    assert taken([]) == {"m", "p"}
    assert taken([NOW - 5]) == {"m"}  # another run was live when they were created


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"com.example.app": "x"},
        {ident.LABEL: "false", ident.OWNER: f"{HOST}:999999"},
        {ident.WORKER_LABEL: "false"},
        {ident.OWNER: f"{HOST}:999999", ident.RUN_ID: "x"},  # owner without io.hodei.e2e=true
    ],
    ids=["none", "foreign", "tool-label-false", "managed-false", "owner-only"],
)
def test_containers_without_the_tools_labels_are_never_touched(labels: dict[str, str]) -> None:
    foreign = container(labels, created=NOW - 10**6, status="exited", name="foreign")
    everything = policy(all=True, older_than=0.0, testcontainers=True)
    assert orphans_of(foreign, policy=everything) == {}


def test_containers_of_the_worker_image_are_not_orphans_by_their_image_labels() -> None:
    # A container started from the built worker image inherits io.hodei.e2e=true without owner.
    from_image = container(
        {ident.LABEL: "true", ident.PROJECT: "rules", ident.ROLE: "worker-image"}, name="from-image"
    )
    assert orphans_of(from_image) == {}


# -- the watchdog's side: process groups and recycled pids -----------------------------------------


@pytest.fixture
def group() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_watchdog_leaves_a_recycled_process_group_alone(group: subprocess.Popen[bytes]) -> None:
    token = process_start_token(group.pid)
    kill_groups([[group.pid, str(int(token) + 1)]], grace=0.2)
    time.sleep(0.1)
    assert group.poll() is None, "a group whose leader has another start time was killed"


def test_watchdog_stops_a_live_process_group(group: subprocess.Popen[bytes]) -> None:
    token = process_start_token(group.pid)
    kill_groups([[group.pid, token]], grace=0.2)
    assert group.wait(timeout=5) == -signal.SIGTERM


def test_watchdog_tolerates_a_group_that_is_gone(dead_pid: int) -> None:
    kill_groups([[dead_pid, "1"]], grace=0.1)  # no exception


# -- containers that only inherit our image's labels ---------------------------------------------


def test_a_stopped_build_step_container_is_an_orphan_once_no_build_can_use_it() -> None:
    from hodei_e2e.ownership.identity import image_labels

    labels = image_labels("demo")  # what a container of our image inherits
    old = container(labels, status="created", created=NOW - 600, name="step-old")
    fresh = container(labels, status="created", created=NOW - 5, name="step-fresh")
    running = container(labels, status="running", created=NOW - 600, name="debug-shell")
    found = orphans_of(old, fresh, running)
    assert set(found) == {"step-old"}
    assert "image build" in found["step-old"].reason
