"""`hodei-e2e run` as a user sees it: exit codes, `docker ps -a`, rows in the databases, the text
of errors. Each test runs the CLI in a subprocess against the real engine and the local images.

Suites are small shell scripts written next to the config; their commands are `sh NAME.sh`
because e2e.yaml interpolates `${VAR}` and `$$` itself.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from shared import Missing
from support import (
    Cli,
    DockerPs,
    FakePostgresImages,
    WorkersGone,
    WrittenConfig,
    process_alive,
    run_json,
    script,
)

from hodei_e2e import __version__
from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------------------


def pids(directory: Path, pattern: str) -> dict[str, int]:
    found = {path.name: int(path.read_text().split()[0]) for path in directory.glob(pattern)}
    assert found, f"no pid file matching {pattern} in {directory}"
    return found


@dataclass
class Outcome:
    root: Path
    project: str
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def suite(self, name: str) -> dict[str, Any]:
        for record in self.report["suites"]:
            if record["name"] == name:
                return dict(record)
        raise AssertionError(f"no suite {name} in the JSON report: {self.report}")

    def explain(self) -> str:
        return (
            f"exit code {self.code}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def run_to_outcome(
    cli: Cli, root: Path, config: WrittenConfig, *args: str, env: Mapping[str, str] | None = None
) -> Outcome:
    result, report = run_json(cli, root, *args, env=env)
    return Outcome(root, config.project, result.code, result.stdout, result.stderr, report)


# -- 1. isolation between concurrent suites, and databases dropped after each suite ----------------

ISOLATION = """\
me="$HODEI_E2E_SUITE"
case "$me" in iso-a) other=iso-b ;; *) other=iso-a ;; esac
echo "$PGDATABASE" > "db-$me"
psql -v ON_ERROR_STOP=1 -qAt \\
    -c "CREATE TABLE rows_of (owner text NOT NULL)" \\
    -c "INSERT INTO rows_of SELECT '$me' FROM generate_series(1, 50)"
touch "written-$me"
# Both suites hold their databases at the same time: wait until the other one has written.
i=0
while [ ! -e "written-$other" ]; do
    i=$((i + 1)); [ "$i" -lt 600 ] || { echo "never saw $other write (jobs 2?)" >&2; exit 1; }
    sleep 0.05
done
psql -v ON_ERROR_STOP=1 -qAt > "seen-$me" \\
    -c "SELECT owner || '=' || count(*) FROM rows_of GROUP BY owner"
psql -qAt -c "SELECT current_database()" > "current-$me"
echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
"""

AFTER = """\
a=$(cat db-iso-a); b=$(cat db-iso-b)
# Starts when one of iso-a/iso-b has ended; waits (at most 30 s) for both databases to be gone.
i=0
while :; do
    psql "$HODEI_E2E_ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -qAt \\
        -c "SELECT datname FROM pg_database ORDER BY 1" > databases-seen
    if ! grep -qxF "$a" databases-seen && ! grep -qxF "$b" databases-seen; then break; fi
    i=$((i + 1)); [ "$i" -lt 300 ] || { echo "still there: $(cat databases-seen)" >&2; exit 1; }
    sleep 0.1
done
"""


@pytest.fixture(scope="module")
def isolation_run(cli: Cli, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("isolation")
    iso = script(root, "iso.sh", ISOLATION)
    config = cli.write_config(
        root,
        {"iso-a": iso, "iso-b": iso, "after": script(root, "after.sh", AFTER)},
        defaults={"jobs": 2},
    )
    return run_to_outcome(cli, root, config)


def test_isolation_run_passes(isolation_run: Outcome) -> None:
    assert isolation_run.code == 0, isolation_run.explain()
    assert [s["status"] for s in isolation_run.report["suites"]] == ["passed"] * 3


def test_concurrent_suites_see_only_their_own_rows(isolation_run: Outcome) -> None:
    root = isolation_run.root
    assert (root / "seen-iso-a").read_text().split() == ["iso-a=50"], isolation_run.explain()
    assert (root / "seen-iso-b").read_text().split() == ["iso-b=50"], isolation_run.explain()


def test_each_suite_gets_its_own_database(isolation_run: Outcome) -> None:
    names = {name: isolation_run.suite(name)["database"] for name in ("iso-a", "iso-b", "after")}
    assert len(set(names.values())) == 3, names
    for suite, database in names.items():
        assert re.fullmatch(r"[a-z0-9_]{1,63}", database), database
        if suite != "after":
            root = isolation_run.root
            assert (root / f"db-{suite}").read_text().strip() == database
            assert (root / f"current-{suite}").read_text().strip() == database


def test_suite_databases_are_dropped_when_the_suite_ends(isolation_run: Outcome) -> None:
    assert isolation_run.suite("after")["status"] == "passed", isolation_run.explain()
    seen = (isolation_run.root / "databases-seen").read_text().split()
    assert isolation_run.suite("after")["database"] in seen  # the listing is real
    assert isolation_run.suite("iso-a")["database"] not in seen
    assert isolation_run.suite("iso-b")["database"] not in seen


def test_isolation_run_leaves_no_container(isolation_run: Outcome, docker_ps: DockerPs) -> None:
    assert (
        docker_ps("io.hodei.e2e=true", f"io.hodei.e2e.run-id={isolation_run.report['run_id']}")
        == []
    )
    assert docker_ps(f"io.hodei.e2e.project={isolation_run.project}") == []


# -- 2. the environment contract, and the password never shown -------------------------------------

PASSWORD = "Hx-s3cret@pw/1"  # '@' and '/' must be %-encoded in the URL
DUMP_ENV = """\
python3 -c 'import json, os; json.dump(dict(os.environ), open("env.json", "w"), indent=1)'
# libpq's variables alone are enough for psql:
env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \\
    PGPASSWORD="$PGPASSWORD" PGDATABASE="$PGDATABASE" \\
    psql -v ON_ERROR_STOP=1 -qAt -c "SELECT current_database() || '|' || current_user" > psql.out
echo "url: $DATABASE_URL"
echo "admin: $HODEI_E2E_ADMIN_DATABASE_URL"
echo "password: $PGPASSWORD"
"""


@pytest.fixture(scope="module")
def env_run(cli: Cli, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("env")
    config = cli.write_config(
        root,
        {
            "dump-env": {
                "command": script(root, "dump.sh", DUMP_ENV),
                "env": {"HODEI_TEST_DSN": "{database_url}", "HODEI_TEST_BOTH": "from the suite"},
            }
        },
        postgres={"password": PASSWORD},
        env={"HODEI_TEST_TOP": "top {database} {{braces}}", "HODEI_TEST_BOTH": "from the top"},
    )
    return run_to_outcome(
        cli,
        root,
        config,
        "-v",
        "--junit",
        "junit.xml",
        env={"HODEI_TEST_INHERITED": "from the caller"},
    )


def suite_env(run: Outcome) -> dict[str, str]:
    path = run.root / "env.json"
    assert path.is_file(), f"the suite did not run\n{run.explain()}"
    return dict(json.loads(path.read_text()))


def test_env_run_passes(env_run: Outcome) -> None:
    assert env_run.code == 0, env_run.explain()


def test_env_database_url_and_libpq_variables_agree(env_run: Outcome) -> None:
    env = suite_env(env_run)
    database = env_run.suite("dump-env")["database"]
    url = env["DATABASE_URL"]
    assert env["HODEI_E2E_DATABASE_URL"] == url
    parts = urlsplit(url)
    assert parts.scheme in ("postgres", "postgresql"), url
    assert parts.hostname == env["PGHOST"]
    assert parts.port == int(env["PGPORT"])
    assert unquote(parts.username or "") == env["PGUSER"] == "postgres"
    assert unquote(parts.password or "") == env["PGPASSWORD"] == PASSWORD
    assert parts.path == f"/{database}"
    assert env["PGDATABASE"] == env["HODEI_E2E_DATABASE_NAME"] == database
    assert re.fullmatch(r"[a-z0-9_]{1,63}", env["HODEI_E2E_DATABASE_NAME"])


def test_env_admin_url_points_at_the_postgres_database(env_run: Outcome) -> None:
    env = suite_env(env_run)
    admin, own = urlsplit(env["HODEI_E2E_ADMIN_DATABASE_URL"]), urlsplit(env["DATABASE_URL"])
    assert env["HODEI_E2E_ADMIN_DATABASE_URL"].endswith("/postgres")
    assert (admin.scheme, admin.netloc) == (own.scheme, own.netloc)


def test_env_identity_and_docker_variables(env_run: Outcome) -> None:
    env = suite_env(env_run)
    assert env["HODEI_E2E_DOCKER"] == "1"
    assert env["HODEI_WORKER_IMAGE"] == "hodei-worker:e2e-test"  # no image: section, none inherited
    assert env["HODEI_SERVER_HOST"].strip()
    assert env["HODEI_E2E_RUN_ID"] == env_run.report["run_id"]
    assert env["HODEI_E2E_SUITE"] == "dump-env"
    assert "HODEI_E2E_TEMPLATE_DATABASE" not in env  # no migrations configured


def test_env_from_config_is_rendered_and_the_caller_env_inherited(env_run: Outcome) -> None:
    env = suite_env(env_run)
    database = env_run.suite("dump-env")["database"]
    assert env["HODEI_TEST_TOP"] == f"top {database} {{braces}}"
    assert env["HODEI_TEST_DSN"] == env["DATABASE_URL"]
    assert env["HODEI_TEST_BOTH"] == "from the suite"
    assert env["HODEI_TEST_INHERITED"] == "from the caller"


def test_env_psql_works_with_only_the_pg_variables(env_run: Outcome) -> None:
    out = env_run.root / "psql.out"
    assert out.is_file(), env_run.explain()
    assert out.read_text().strip() == f"{env_run.suite('dump-env')['database']}|postgres"


def test_password_never_shown(env_run: Outcome) -> None:
    secrets = (PASSWORD, quote(PASSWORD, safe=""))
    log_path = Path(env_run.suite("dump-env")["log"])
    places = {
        "stdout": env_run.stdout,
        "stderr": env_run.stderr,
        "JSON report": (env_run.root / "report.json").read_text(),
        "JUnit report": (env_run.root / "junit.xml").read_text(),
    }
    # every file the tool wrote: the suite's log, the watchdog's log, ...
    state = env_run.root / ".hodei-e2e"
    for path in sorted(p for p in state.rglob("*") if p.is_file()):
        places[str(path.relative_to(env_run.root))] = path.read_text(errors="replace")
    assert str(log_path.relative_to(env_run.root)) in places
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"the password appears in {place}"
    # ... and the lines that carried it are there, masked: the check above is not vacuous.
    log = log_path.read_text()
    assert re.search(r"url: postgres://postgres:\*\*\*@", log), log
    assert "password: ***" in log
    assert "url: postgres://postgres:***@" in env_run.stderr  # -v shows the suite's lines


# -- 3, 4, 10. a failing suite, a missing command, a hanging suite ---------------------------------

HANG = """\
echo $$ > hangs-shell.pid
sleep 300 & echo $! > hangs-child.pid
(trap '' TERM; exec sleep 299) & echo $! > hangs-deaf.pid
(sleep 298 & echo $! > hangs-orphan.pid)
echo "hanging now"
sleep 297
"""


@pytest.fixture(scope="module")
def failing_run(cli: Cli, engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("failing")
    noise = "".join(f"echo 'line {n:03d}'\n" for n in range(1, 301))
    config = cli.write_config(
        root,
        {
            "fails": script(root, "fails.sh", noise + "echo 'the last words'\nexit 3\n"),
            "missing": "hodei-e2e-no-such-command --flag",
            "hangs": {"command": script(root, "hangs.sh", HANG), "timeout": "2s"},
            "passes": "true",
        },
        defaults={"jobs": 4},
    )
    return run_to_outcome(cli, root, config)


def test_failing_run_exits_1(failing_run: Outcome) -> None:
    assert failing_run.code == 1, failing_run.explain()
    assert failing_run.report["exit_code"] == 1
    assert failing_run.suite("passes")["status"] == "passed"


def test_failing_suite_shows_its_tail(failing_run: Outcome) -> None:
    record = failing_run.suite("fails")
    assert (record["status"], record["exit_code"]) == ("failed", 3)
    assert "exit code 3" in failing_run.stderr
    assert "the last words" in failing_run.stderr, failing_run.explain()
    assert "line 300" in failing_run.stderr
    assert "line 001" not in failing_run.output  # the tail, not the whole output
    assert record["log"] in failing_run.stderr  # where the rest is
    assert "line 001" in Path(record["log"]).read_text()


def test_missing_command_fails_with_command_not_found(failing_run: Outcome) -> None:
    record = failing_run.suite("missing")
    assert record["status"] == "failed"
    assert "command not found" in record["reason"]
    assert "command not found" in failing_run.stderr
    assert "Traceback" not in failing_run.output


def test_hanging_suite_is_killed_at_its_timeout_with_its_children(failing_run: Outcome) -> None:
    record = failing_run.suite("hangs")
    assert record["status"] == "timeout", failing_run.explain()
    assert "timed out after 2s" in failing_run.stderr
    assert "hanging now" in failing_run.stderr  # its tail is shown too
    # The shell, its child, a child that ignores SIGTERM and an orphaned grandchild: all gone.
    left = {
        name: pid
        for name, pid in pids(failing_run.root, "hangs-*.pid").items()
        if process_alive(pid)
    }
    assert len(pids(failing_run.root, "hangs-*.pid")) == 4
    assert left == {}, f"processes of the timed-out suite still alive: {left}"


def test_failing_run_leaves_no_container(failing_run: Outcome, docker_ps: DockerPs) -> None:
    assert docker_ps(f"io.hodei.e2e.project={failing_run.project}") == []


# -- 5. Ctrl-C and SIGTERM -------------------------------------------------------------------------

BLOCK = """\
echo $$ > "$HODEI_E2E_SUITE.pid"
sleep 300 & echo $! > "$HODEI_E2E_SUITE-child.pid"
echo "$PGDATABASE" > "$HODEI_E2E_SUITE.db"
touch "$HODEI_E2E_SUITE.started"
wait
"""


@pytest.mark.parametrize(
    ("signum", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_during_suites_cleans_up(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs, signum: int, expected: int
) -> None:
    block = script(tmp_path, "block.sh", BLOCK)
    config = cli.write_config(tmp_path, {"one": block, "two": block}, defaults={"jobs": 2})
    process = cli.start("run", "--json", "report.json", cwd=tmp_path)
    process.wait_for(
        lambda: (tmp_path / "one.started").exists() and (tmp_path / "two.started").exists(),
        "both suites to start",
    )
    assert docker_ps(f"io.hodei.e2e.project={config.project}") != []  # Postgres is up now
    process.send(signum)
    result = process.wait(60)
    assert result.code == expected, result.explain()
    assert f"interrupted by {signal.Signals(signum).name}" in result.stderr
    assert "Traceback" not in result.output
    assert docker_ps("io.hodei.e2e=true", f"io.hodei.e2e.project={config.project}") == []
    alive = {name: pid for name, pid in pids(tmp_path, "*.pid").items() if process_alive(pid)}
    assert alive == {}, f"suite processes survived the interruption: {alive}"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exit_code"] == expected
    assert [s["status"] for s in report["suites"]] == ["interrupted", "interrupted"]


@pytest.mark.parametrize(
    ("signum", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_during_postgres_start_cleans_up(
    cli: Cli,
    engine: Engine,
    fake_postgres_images: FakePostgresImages,
    tmp_path: Path,
    docker_ps: DockerPs,
    signum: int,
    expected: int,
) -> None:
    config = cli.write_config(
        tmp_path,
        {"never-runs": "touch ran"},
        postgres={"image": fake_postgres_images.never_ready, "startup_timeout": "60s"},
    )
    process = cli.start("run", cwd=tmp_path)
    process.wait_for(
        lambda: any(" Up " in line for line in docker_ps(f"io.hodei.e2e.project={config.project}")),
        "the Postgres container to be running",
    )
    process.send(signum)
    result = process.wait(60)
    assert result.code == expected, result.explain()
    assert "Traceback" not in result.output
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []
    assert not (tmp_path / "ran").exists()


# -- 6. worker containers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker_run(
    cli: Cli, engine: Engine, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Outcome:
    root = tmp_path_factory.mktemp("workers")
    session = cli.support.session
    body = f"""\
    tagged="hodei-test-worker-$HODEI_E2E_RUN_ID-tagged"
    plain="hodei-test-worker-$HODEI_E2E_RUN_ID-plain"
    echo "$tagged" > worker-names; echo "$plain" >> worker-names
    # As the platform's DockerProvider would: one worker that names its run, one that does not.
    docker run -d --name "$tagged" --label hodei.managed=true \\
        --label "io.hodei.e2e.run-id=$HODEI_E2E_RUN_ID" --label hodei-e2e-tests.session={session} \\
        -e DATABASE_URL {base_image} sh -c 'echo "worker-hello $DATABASE_URL"; exec sleep 300'
    docker run -d --name "$plain" --label hodei.managed=true \\
        --label hodei-e2e-tests.session={session} {base_image} sleep 300
    i=0
    until docker logs "$tagged" 2>&1 | grep -q worker-hello; do
        i=$((i + 1)); [ "$i" -lt 300 ] || {{ echo "the worker never said hello" >&2; exit 1; }}
        sleep 0.1
    done
    """
    config = cli.write_config(root, {"starts-workers": script(root, "workers.sh", body)})
    return run_to_outcome(cli, root, config)


def worker_names(run: Outcome) -> list[str]:
    path = run.root / "worker-names"
    assert path.is_file(), run.explain()
    return path.read_text().split()


def test_worker_run_passes(worker_run: Outcome) -> None:
    assert worker_run.code == 0, worker_run.explain()


def test_worker_containers_are_removed(
    worker_run: Outcome, docker_ps: DockerPs, workers_gone: WorkersGone
) -> None:
    tagged, plain = worker_names(worker_run)
    # The worker that names its run belongs to this run alone: gone when the run ends.
    left = [line for line in docker_ps("hodei.managed=true") if line.split()[-1] == tagged]
    assert left == [], f"the run's worker container is left after the run: {left}"
    # An unattributed one is this run's, unless another live run overlapped it (see
    # `workers_gone`).
    workers_gone("hodei.managed=true", names=(plain,))
    assert docker_ps(f"io.hodei.e2e.project={worker_run.project}") == []


def test_worker_logs_are_saved_in_the_run_directory(worker_run: Outcome) -> None:
    tagged = worker_names(worker_run)[0]
    workers_dir = Path(worker_run.report["logs"]) / "workers"
    assert (
        workers_dir
        == worker_run.root / ".hodei-e2e" / "runs" / worker_run.report["run_id"] / "workers"
    )
    log = workers_dir / f"{tagged}.log"
    assert log.is_file(), f"no {log.name} in {sorted(p.name for p in workers_dir.glob('*'))}"
    assert "worker-hello" in log.read_text()


def test_worker_logs_do_not_show_the_password(worker_run: Outcome) -> None:
    # The worker printed its DATABASE_URL; the default password is "postgres", so look for the
    # URL's userinfo rather than the bare word.
    tagged = worker_names(worker_run)[0]
    log = Path(worker_run.report["logs"]) / "workers" / f"{tagged}.log"
    assert log.is_file(), worker_run.explain()
    text = log.read_text()
    assert "worker-hello postgres://" in text
    assert "postgres://postgres:postgres@" not in text, f"password in the saved worker log:\n{text}"


# -- 7, 8. prerequisites and infrastructure --------------------------------------------------------


def test_unreachable_engine_exits_3_with_a_remedy(cli: Cli, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"a": "true"})
    result = cli.run("run", cwd=tmp_path, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.code == 3, result.explain()
    assert "Docker engine not reachable" in result.stderr
    assert "unix:///nonexistent.sock" in result.stderr
    assert "DOCKER_HOST" in result.stderr  # the remedy
    assert "Traceback" not in result.output


def test_postgres_image_without_postgres_exits_4(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path, docker_ps: DockerPs
) -> None:
    # The tool runs `postgres -c ...`, which busybox does not have: the container cannot start.
    config = cli.write_config(
        tmp_path,
        {"never-runs": "touch ran"},
        postgres={"image": base_image, "startup_timeout": "3s", "password": "pw-not-a-word"},
    )
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 4, result.explain()
    assert base_image in result.stderr
    assert '"postgres": executable file not found' in result.stderr
    assert "Traceback" not in result.output
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []
    assert not (tmp_path / "ran").exists()


def test_postgres_that_exits_at_once_exits_4_with_its_log(
    cli: Cli,
    engine: Engine,
    fake_postgres_images: FakePostgresImages,
    tmp_path: Path,
    docker_ps: DockerPs,
) -> None:
    config = cli.write_config(
        tmp_path,
        {"never-runs": "touch ran"},
        postgres={"image": fake_postgres_images.crashes, "startup_timeout": "10s"},
    )
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 4, result.explain()
    assert "exited before it was ready" in result.stderr, result.explain()
    assert "FATAL: hodei-test: the data directory is broken" in result.stderr
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []


def test_postgres_that_never_gets_ready_exits_4_after_its_timeout(
    cli: Cli,
    engine: Engine,
    fake_postgres_images: FakePostgresImages,
    tmp_path: Path,
    docker_ps: DockerPs,
) -> None:
    config = cli.write_config(
        tmp_path,
        {"never-runs": "touch ran"},
        postgres={"image": fake_postgres_images.never_ready, "startup_timeout": "3s"},
    )
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 4, result.explain()
    assert "was not ready after 3s" in result.stderr
    assert "starting" in result.stderr  # its log tail
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []
    assert not (tmp_path / "ran").exists()


def test_default_password_does_not_mask_the_word_postgres(
    cli: Cli, engine: Engine, base_image: str, tmp_path: Path
) -> None:
    # With the default password ("postgres") the step and the engine's error must still say
    # what failed: the step is "postgres IMAGE", the missing executable is "postgres".
    cli.write_config(
        tmp_path,
        {"never-runs": "touch ran"},
        postgres={"image": base_image, "startup_timeout": "3s"},
    )
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 4, result.explain()
    assert f"postgres {base_image}" in result.stderr, result.explain()
    assert '"postgres": executable file not found' in result.stderr, result.explain()


# -- 9. the demo, twice ----------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_demo_runs_twice_and_leaves_nothing(
    missing: Missing,
    cli: Cli,
    engine: Engine,
    tmp_path: Path,
    docker_ps: DockerPs,
    workers_gone: WorkersGone,
) -> None:
    if shutil.which("psql") is None:
        missing("the demo needs psql on PATH (scripts/bootstrap installs it)")
    run_dirs = []
    try:
        for attempt in (1, 2):
            report_path = tmp_path / f"demo-{attempt}.json"
            result = cli.run("run", "--json", str(report_path), cwd=REPO, timeout=150)
            assert result.code == 0, f"demo run {attempt}: {result.explain()}"
            report = json.loads(report_path.read_text())
            run_dirs.append(Path(report["logs"]))
            statuses = {s["name"]: s["status"] for s in report["suites"]}
            assert len(statuses) >= 4
            assert set(statuses.values()) == {"passed"}, statuses
            run_id = report["run_id"]
            assert docker_ps("io.hodei.e2e=true", f"io.hodei.e2e.run-id={run_id}") == []
            workers_gone(f"hodei.worker.id=worker-callback-{run_id}")
    finally:
        for run_dir in run_dirs:
            shutil.rmtree(run_dir, ignore_errors=True)


# -- 10. usage errors and --version ----------------------------------------------------------------


def test_unknown_suite_exits_2_listing_the_known_ones(cli: Cli, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"alpha": "true", "beta": "true"})
    result = cli.run("run", "alpah", cwd=tmp_path)
    assert result.code == 2, result.explain()
    assert "unknown suite 'alpah'" in result.stderr
    assert "alpha, beta" in result.stderr
    assert "Did you mean 'alpha'?" in result.stderr
    assert "Traceback" not in result.output


def test_malformed_yaml_exits_2_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "e2e.yaml").write_text("version: 1\nsuites:\n  a: echo: hi\n", encoding="utf-8")
    result = cli.run("run", cwd=tmp_path)
    assert result.code == 2, result.explain()
    assert "e2e.yaml:3:" in result.stderr, result.explain()
    assert "Traceback" not in result.output


def test_unknown_key_exits_2_with_file_line_and_key(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ci.yaml").write_text(
        "version: 1\nsuites:\n  a:\n    command: 'true'\n    timout: 5s\n", encoding="utf-8"
    )
    result = cli.run("run", "-c", "ci.yaml", cwd=tmp_path)
    assert result.code == 2, result.explain()
    assert "ci.yaml:5: suites.a.timout: unknown key 'timout'" in result.stderr
    assert "did you mean 'timeout'?" in result.stderr


def test_bad_timeout_option_exits_2(cli: Cli, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"a": "true"})
    result = cli.run("run", "--timeout", "soon", cwd=tmp_path)
    assert result.code == 2, result.explain()
    assert "--timeout" in result.stderr
    assert "Traceback" not in result.output


def test_version(cli: Cli, tmp_path: Path) -> None:
    result = cli.run("--version", cwd=tmp_path)
    assert result.code == 0, result.explain()
    assert result.stdout.strip() == f"hodei-e2e {__version__}"
