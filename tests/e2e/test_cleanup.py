"""`hodei-e2e cleanup` and a run's teardown as a user sees them: `--dry-run` lists and removes
nothing, a plain `cleanup` removes an orphan, `--json` names it; containers without the tool's
labels are never touched; Testcontainers' leftovers go at the end of a run, or with
`cleanup --testcontainers --older-than`.

An orphan is made by hand, labelled as the tool labels its containers but with an owner pid that
cannot be alive (pid_max is far below 999999). Every container a test makes carries its own
project label or a name the `scrub` fixture knows, and is removed even when the test fails.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from shared import Missing
from support import SESSION_LABEL, TEST_PROJECT, Cli, DockerPs, Scrub, docker, script, state

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

DEAD_PID = 999999


def make_orphan(
    scrub: Scrub, project: str, base_image: str, hostname: str, role: str = "postgres"
) -> tuple[str, str]:
    """A container labelled like the tool's, whose owner pid on `hostname` is dead (as
    `--label io.hodei.e2e.owner=$(hostname):999999`); returns (id, name)."""
    name = f"orphan-{project}-{secrets.token_hex(2)}"
    scrub.projects.add(project)
    scrub.names.add(name)
    done = docker(
        "run", "-d", "--name", name,
        "--label", "io.hodei.e2e=true",
        "--label", f"io.hodei.e2e.owner={hostname}:{DEAD_PID}",
        "--label", "io.hodei.e2e.run-id=x",
        "--label", f"io.hodei.e2e.role={role}",
        "--label", f"io.hodei.e2e.project={project}",
        "--label", f"io.hodei.e2e.created={int(time.time())}",
        base_image, "sleep", "300",
    )  # fmt: skip
    return done.stdout.strip(), name


# -- --dry-run, plain, --json ----------------------------------------------------------------------


def test_dry_run_lists_and_removes_nothing_then_cleanup_removes_and_json_names(
    cli: Cli,
    engine: Engine,
    base_image: str,
    tmp_path: Path,
    docker_ps: DockerPs,
    scrub: Scrub,
    private_host: dict[str, str],
) -> None:
    project = f"t{secrets.token_hex(4)}"
    host = private_host["HODEI_E2E_TEST_HOSTNAME"]
    first_id, first = make_orphan(scrub, project, base_image, host)

    dry = cli.run("cleanup", "--dry-run", cwd=tmp_path, env=private_host)
    assert dry.code == 0, dry.explain()
    assert first in dry.stderr, dry.explain()
    assert "would remove" in dry.stderr
    assert f"{DEAD_PID} is gone" in dry.stderr  # the reason
    assert state(first_id) == "running", "--dry-run removed the orphan"

    dry_json = cli.run("cleanup", "--dry-run", "--json", cwd=tmp_path, env=private_host)
    assert dry_json.code == 0, dry_json.explain()
    listed = {r["id"]: r for r in json.loads(dry_json.stdout)["removed"]}
    assert json.loads(dry_json.stdout)["dry_run"] is True
    assert listed[first_id]["result"] == "would remove"
    assert state(first_id) == "running", "--dry-run --json removed the orphan"

    plain = cli.run("cleanup", cwd=tmp_path, env=private_host)
    assert plain.code == 0, plain.explain()
    assert first in plain.stderr, plain.explain()
    assert "removed" in plain.stderr
    assert state(first_id) is None, "cleanup did not remove the orphan"
    assert docker_ps(f"io.hodei.e2e.project={project}") == []

    second_id, second = make_orphan(scrub, project, base_image, host)
    as_json = cli.run("cleanup", "--json", cwd=tmp_path, env=private_host)
    assert as_json.code == 0, as_json.explain()
    doc = json.loads(as_json.stdout)  # stdout is JSON and nothing else
    assert doc["dry_run"] is False
    records = [r for r in doc["removed"] if r["id"] == second_id]
    assert len(records) == 1, doc
    record = records[0]
    assert (record["kind"], record["name"], record["role"], record["result"]) == (
        "container",
        second,
        "postgres",
        "removed",
    )
    assert str(DEAD_PID) in record["reason"]
    assert record["error"] is None
    assert state(second_id) is None
    assert docker_ps(f"io.hodei.e2e.project={project}") == []


def test_cleanup_with_nothing_to_do_says_so(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    # Another session's orphan may exist on a shared engine: then this proves only the exit code.
    result = cli.run("cleanup", "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.explain()
    assert "nothing to clean up" in result.stderr or "would remove" in result.stderr


# -- containers without the tool's labels ----------------------------------------------------------


def test_unlabelled_containers_are_never_touched(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    before = f"unlabelled-before-{secrets.token_hex(3)}"
    during = f"unlabelled-during-{secrets.token_hex(3)}"
    scrub.names.update({before, during})
    docker("run", "-d", "--name", before, base_image, "sleep", "300")
    body = f"""\
    # An unlabelled container made while the run is going, next to a worker that the run owns.
    docker run -d --name {during} {base_image} sleep 300
    docker run -d --name "w-$HODEI_E2E_RUN_ID" --label hodei.managed=true \\
        --label "io.hodei.e2e.run-id=$HODEI_E2E_RUN_ID" \\
        --label {SESSION_LABEL}={cli.support.session} --label {TEST_PROJECT}=PROJECT \\
        {base_image} sleep 300
    """
    config = cli.write_config(tmp_path, {"makes": "sh makes.sh"})
    script(tmp_path, "makes.sh", body.replace("PROJECT", config.project))
    scrub.projects.add(config.project)

    result = cli.run("run", cwd=tmp_path)
    assert result.code == 0, result.explain()
    assert (
        docker_ps(f"{TEST_PROJECT}={config.project}") == []
    )  # the worker went (the check is real)
    assert state(before) == "running", "a run's teardown touched a container without labels"
    assert state(during) == "running", "a run's teardown touched a container without labels"

    for args in (("cleanup",), ("cleanup", "--testcontainers", "--older-than", "1s")):
        swept = cli.run(*args, cwd=tmp_path)
        assert swept.code == 0, swept.explain()
        assert state(before) == "running", f"`{' '.join(args)}` touched a container without labels"
        assert state(during) == "running", f"`{' '.join(args)}` touched a container without labels"
        assert before not in swept.output
        assert during not in swept.output


# -- Testcontainers' leftovers ---------------------------------------------------------------------


def test_testcontainers_leftovers_of_a_run_are_removed_at_its_end(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    project = f"t{secrets.token_hex(4)}"
    scrub.projects.add(project)
    labels = f"--label {SESSION_LABEL}={cli.support.session} --label {TEST_PROJECT}={project}"
    body = f"""\
    # As testcontainers-java/-go (org.testcontainers=true) and testcontainers-rs do.
    docker run -d {labels} --label org.testcontainers=true \\
        --label org.testcontainers.sessionId=s1 {base_image} sleep 300 > tc-java.id
    docker run -d {labels} --label org.testcontainers.lang=rust \\
        --label org.testcontainers.version=0.15 {base_image} sleep 300 > tc-rust.id
    """
    cli.write_config(tmp_path, {"leaks": script(tmp_path, "leaks.sh", body)}, project=project)
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 0, result.explain()
    ids = [(tmp_path / name).read_text().strip() for name in ("tc-java.id", "tc-rust.id")]
    assert all(len(i) == 64 for i in ids), ids
    left = {i[:12]: state(i) for i in ids if state(i) is not None}
    assert left == {}, f"Testcontainers containers left after the run: {left}\n{result.explain()}"
    assert docker_ps(f"{TEST_PROJECT}={project}") == []
    assert "Testcontainers" in result.stderr  # the cleanup step says what it removed


def test_cleanup_testcontainers_older_than_removes_one_not_made_by_a_run(
    missing: Missing,
    cli: Cli,
    engine: Engine,
    base_image: str,
    tmp_path: Path,
    docker_ps: DockerPs,
    scrub: Scrub,
) -> None:
    project = f"t{secrets.token_hex(4)}"
    scrub.projects.add(project)
    usage = cli.run("cleanup", "--testcontainers", cwd=tmp_path)
    assert usage.code == 2, usage.explain()
    assert "--older-than" in usage.stderr
    assert "Traceback" not in usage.output

    made = docker(
        "run", "-d", "--label", "org.testcontainers=true", "--label", f"{TEST_PROJECT}={project}",
        base_image, "sleep", "300",
    )  # fmt: skip
    tc_id = made.stdout.strip()

    def still_there(step: str) -> None:
        """Another session's run on a shared engine removes every Testcontainers container made
        in its time window when it ends (see the test below): then this one proves nothing."""
        if state(tc_id) != "running":
            missing(f"the container was removed by another process {step} (shared engine)")

    young = cli.run("cleanup", "--testcontainers", "--older-than", "1h", "--json", cwd=tmp_path)
    assert young.code == 0, young.explain()
    assert tc_id not in {r["id"] for r in json.loads(young.stdout)["removed"]}, young.explain()
    still_there("after `cleanup --older-than 1h`, which did not list it")

    time.sleep(2.1)  # the engine's Created has one-second resolution
    still_there("before `cleanup --older-than 1s`")
    result = cli.run("cleanup", "--testcontainers", "--older-than", "1s", "--json", cwd=tmp_path)
    assert result.code == 0, result.explain()
    records = [r for r in json.loads(result.stdout)["removed"] if r["id"] == tc_id]
    assert len(records) == 1, result.explain()
    assert records[0]["result"] == "removed"
    assert records[0]["role"] == "testcontainers"
    assert "older than 1s" in records[0]["reason"]
    assert state(tc_id) is None
    assert docker_ps(f"{TEST_PROJECT}={project}") == []


def test_testcontainers_without_older_than_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli.run("cleanup", "--testcontainers", "--dry-run", cwd=tmp_path)
    assert result.code == 2, result.explain()
    assert "--testcontainers needs --older-than" in result.stderr
    bad = cli.run("cleanup", "--older-than", "soon", cwd=tmp_path)
    assert bad.code == 2, bad.explain()
    assert "--older-than" in bad.stderr


TC_USER = """\
docker run -d --label {labels} --label org.testcontainers=true {image} sleep 300 > tc.id
touch started
i=0
while [ ! -e go ]; do
    i=$((i + 1)); [ "$i" -lt 1200 ] || {{ echo "never got the go" >&2; exit 1; }}
    sleep 0.05
done
state=$(docker inspect -f '{{{{.State.Status}}}}' "$(cat tc.id)" 2>&1) || state="gone: $state"
echo "my Testcontainers container: $state"
[ "$state" = running ]
docker rm -f "$(cat tc.id)" > /dev/null
"""


def test_a_runs_teardown_leaves_another_live_runs_testcontainers_alone(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs, scrub: Scrub
) -> None:
    """Run A ends while run B's suite still uses a Testcontainers container it started during
    A's window. A's teardown must not take it (workers get this rule: one created while another
    live run was going is left to that run; Testcontainers' containers do not)."""
    project = f"t{secrets.token_hex(4)}"
    scrub.projects.add(project)
    a_root, b_root = tmp_path / "a", tmp_path / "b"
    a_root.mkdir()
    b_root.mkdir()
    cli.write_config(a_root, {"a": "while [ ! -e go ]; do sleep 0.05; done"}, project=project)
    labels = f"{TEST_PROJECT}={project} --label {SESSION_LABEL}={cli.support.session}"
    b_suite = script(b_root, "b.sh", TC_USER.format(labels=labels, image=base_image))
    cli.write_config(b_root, {"b": b_suite}, project=project)

    a = cli.start("run", cwd=a_root)
    a.wait_for(lambda: docker_ps(f"io.hodei.e2e.project={project}"), "run A's Postgres")
    b = cli.start("run", cwd=b_root)
    b.wait_for((b_root / "started").exists, "run B's suite to start its container")
    (a_root / "go").touch()
    a_result = a.wait(60)
    (b_root / "go").touch()
    b_result = b.wait(60)
    assert a_result.code == 0, a_result.explain()
    assert b_result.code == 0, (
        "run A's teardown removed the Testcontainers container of run B's live suite "
        "(pipeline._teardown -> cleanup.leaked_testcontainers takes every such container "
        f"created in A's time window)\n--- run B ---\n{b_result.explain()}\n--- run A ---\n"
        f"{a_result.explain()}"
    )
    assert docker_ps(f"{TEST_PROJECT}={project}") == []
