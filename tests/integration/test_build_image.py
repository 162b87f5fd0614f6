"""`hodei-e2e build-image` against the real engine: when it builds and when it does not, what it
says, and that an interrupted or failed build never leaves an image under the real tag.

Every test builds its own tag (`hodei-e2e-test/img-<random>:t`, project `imgtest-<random>`) FROM
the local busybox image, runs the CLI as a subprocess, and removes its images at the end. The
engine's BuildKit builds by default; `project.builder = "classic"` sets HODEI_E2E_BUILDER.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from shared import Missing

from hodei_e2e.config import ImageConfig
from hodei_e2e.console import Output
from hodei_e2e.engine.docker import Engine
from hodei_e2e.errors import InfrastructureError
from hodei_e2e.image.context import scan
from hodei_e2e.image.worker_image import ensure_image
from hodei_e2e.ownership.identity import CONTEXT_DIGEST, PROJECT, RunIdentity
from hodei_e2e.suites import processes

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

CLI = [sys.executable, "-c", "from hodei_e2e.cli import main; main()"]
DOCKERFILE = "ARG BASE\nFROM ${BASE}\nCOPY app /app\nRUN cat /app/main.sh > /built\n"


@dataclass
class Project:
    root: Path
    tag: str
    project: str
    base_image: str
    builder: str = ""  # HODEI_E2E_BUILDER for the CLI ("": auto)

    @property
    def context(self) -> Path:
        return self.root / "ctx"

    @property
    def config(self) -> Path:
        return self.root / "e2e.yaml"

    def write(self, name: str, text: str) -> None:
        path = self.context / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def cli(
        self, *args: str, timeout: float = 150, command: str = "build-image"
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, command, "-c", str(self.config), *args],
            cwd=self.root,
            env=_environment(self.builder),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, "build-image", "-c", str(self.config), *args],
            cwd=self.root,
            env=_environment(self.builder),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _environment(builder: str = "") -> dict[str, str]:
    skip = ("HODEI_E2E_CONFIG", "HODEI_E2E_BUILDER")
    env = {key: value for key, value in os.environ.items() if key not in skip}
    env.update(NO_COLOR="1", COLUMNS="200")
    if builder:
        env["HODEI_E2E_BUILDER"] = builder
    return env


def explain(result: subprocess.CompletedProcess[str]) -> str:
    streams = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    return f"exit {result.returncode}\n{streams}"


@pytest.fixture
def project(tmp_path: Path, engine: Engine, base_image: str) -> Iterator[Project]:
    token = secrets.token_hex(4)
    made = Project(tmp_path, f"hodei-e2e-test/img-{token}:t", f"imgtest-{token}", base_image)
    made.config.write_text(
        f"version: 1\nproject: {made.project}\n"
        f"image:\n  tag: {made.tag}\n  context: ctx\n  build_args: {{BASE: '{base_image}'}}\n"
        "suites:\n  noop: 'true'\n"
    )
    made.write("Dockerfile", DOCKERFILE)
    made.write(".dockerignore", "*.log\nscratch/\n")
    made.write("app/main.sh", "echo hello\n")
    made.write("debug.log", "noise\n")
    yield made
    _remove_images(engine, made)


def _remove_images(engine: Engine, project: Project) -> None:
    """The test's tag and every image labelled with its project (dangling ones included)."""
    engine.remove_image(project.tag)
    for image in engine.images({PROJECT: project.project}):
        for tag in image.get("RepoTags") or ():
            if tag != "<none>:<none>":
                engine.remove_image(tag)
        engine.remove_image(str(image["Id"]))


def _project_images(engine: Engine, project: Project) -> list[str]:
    return sorted(str(image["Id"]) for image in engine.images({PROJECT: project.project}))


def _image_id(engine: Engine, tag: str) -> str:
    info = engine.image_info(tag)
    assert info is not None, f"{tag} is missing"
    return info.id


def _build(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    result = project.cli(*args)
    assert result.returncode == 0, explain(result)
    return result


# -- when it builds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a user sees from one builder."""

    setting: str  # HODEI_E2E_BUILDER ("": auto, which is BuildKit on the test engine)
    says: str  # the build step's line
    step: str  # how the RUN step shows when not on a terminal
    failed_step: str  # how a failing step is named
    engine_error: str  # the engine's words for a failing RUN


BUILDERS = {
    "buildkit": Expected(
        "", "with BuildKit (Docker Engine", "] RUN cat /app/main.sh > /built",
        "failed at step 2/2: RUN for i", "executor failed running [/bin/sh -c for i in",
    ),
    "classic": Expected(
        "classic", "with the classic builder (HODEI_E2E_BUILDER: classic)", "Step 4/",
        "failed at step 3/", "returned a non-zero code: 3",
    ),
}  # fmt: skip
each_builder = pytest.mark.parametrize("expected", BUILDERS.values(), ids=BUILDERS.keys())


@each_builder
def test_first_build_labels_the_image_and_logs_the_build(
    engine: Engine, project: Project, expected: Expected
) -> None:
    project.builder = expected.setting
    says, step = expected.says, expected.step
    result = _build(project)
    assert "built" in result.stderr
    assert "image missing" in result.stderr
    assert says in result.stderr, explain(result)
    assert step in result.stderr, explain(result)  # plain lines when not on a terminal
    info = engine.image_info(project.tag)
    assert info is not None
    assert info.labels[CONTEXT_DIGEST].startswith("sha256:")
    assert info.labels[PROJECT] == project.project
    assert info.labels["io.hodei.e2e.role"] == "worker-image"
    log = (project.root / ".hodei-e2e" / "build.log").read_text()
    assert "RUN cat /app/main.sh > /built" in log
    assert says.split(" (")[0].removeprefix("with ") in log
    assert not [tag for tag in _all_tags(engine) if "hodei-tmp-" in tag and project.tag[:-2] in tag]


def _all_tags(engine: Engine) -> list[str]:
    return [tag for image in engine.images([]) for tag in image.get("RepoTags") or ()]


def test_an_unchanged_context_and_ignored_files_do_not_rebuild(
    engine: Engine, project: Project
) -> None:
    _build(project)
    first = _image_id(engine, project.tag)
    result = _build(project)
    assert "is up to date" in result.stderr, explain(result)
    project.write("debug.log", "other noise\n")  # excluded by *.log
    project.write("scratch/tmp.txt", "x\n")  # excluded by scratch/
    result = _build(project)
    assert "is up to date" in result.stderr, explain(result)
    assert _image_id(engine, project.tag) == first


def test_a_sent_file_change_rebuilds_and_removes_the_superseded_image(
    engine: Engine, project: Project
) -> None:
    _build(project)
    first = _image_id(engine, project.tag)
    project.write("app/main.sh", "echo changed\n")
    result = _build(project)
    assert "1 file changed (app/main.sh)" in result.stderr, explain(result)
    second = _image_id(engine, project.tag)
    assert second != first
    assert engine.image_info(first) is None  # dangling, labelled by us: removed
    assert _project_images(engine, project) == [second]


def test_a_dockerfile_change_says_so(engine: Engine, project: Project) -> None:
    _build(project)
    project.write("Dockerfile", DOCKERFILE + "ENV CHANGED=1\n")
    result = _build(project)
    assert "Dockerfile changed" in result.stderr, explain(result)


def test_a_build_arg_change_rebuilds(engine: Engine, project: Project) -> None:
    _build(project)
    first = _image_id(engine, project.tag)
    result = _build(project, "--build-arg", "EXTRA=1")
    assert "build arg EXTRA changed" in result.stderr, explain(result)
    assert _image_id(engine, project.tag) != first
    result = _build(project, "--build-arg", "EXTRA=1")
    assert "is up to date" in result.stderr, explain(result)


def test_force_rebuilds_an_up_to_date_image(engine: Engine, project: Project) -> None:
    _build(project)
    first = _image_id(engine, project.tag)
    result = _build(project, "--force", "--no-cache")
    assert "--force" in result.stderr, explain(result)
    assert _image_id(engine, project.tag) != first
    assert engine.image_info(first) is None


def test_run_without_build_reports_a_missing_image(engine: Engine, project: Project) -> None:
    image = ImageConfig(
        tag=project.tag, dockerfile=project.context / "Dockerfile", context=project.context
    )
    with pytest.raises(InfrastructureError, match="missing and --no-build"):
        ensure_image(
            engine,
            image,
            RunIdentity(project=project.project),
            Output(),
            build=False,
            state_dir=project.root / ".hodei-e2e",
        )


# -- failures --------------------------------------------------------------------------------------


@each_builder
def test_a_failing_run_step_is_exit_4_with_the_step_and_its_last_lines(
    engine: Engine, project: Project, expected: Expected
) -> None:
    project.builder = expected.setting
    project.write(
        "Dockerfile",
        "ARG BASE\nFROM ${BASE}\nRUN for i in $(seq 1 45); do echo out-$i; done; exit 3\n",
    )
    result = project.cli()
    assert result.returncode == 4, explain(result)
    error = result.stderr[result.stderr.index("✗") :]
    assert expected.failed_step in error, explain(result)
    assert "RUN for i in $(seq 1 45)" in error
    assert "out-45" in error
    assert "out-16" in error  # the last 30 lines...
    assert "out-15\n" not in error  # ...and no more
    assert expected.engine_error in error, explain(result)
    assert "Traceback" not in result.stderr
    assert engine.image_info(project.tag) is None
    assert _project_images(engine, project) == []


def test_a_missing_dockerfile_or_context_is_exit_2_naming_the_path(project: Project) -> None:
    (project.context / "Dockerfile").unlink()
    result = project.cli()
    assert result.returncode == 2, explain(result)
    assert str(project.context / "Dockerfile") in result.stderr
    shutil.rmtree(project.context)
    result = project.cli()
    assert result.returncode == 2, explain(result)
    assert str(project.context) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_base_image_that_cannot_be_pulled_says_so(project: Project) -> None:
    result = project.cli("--build-arg", "BASE=hodei-e2e-test/no-such-base:1")
    assert result.returncode == 4, explain(result)
    assert "base image hodei-e2e-test/no-such-base:1 cannot be pulled" in result.stderr
    assert "--build-arg BASE=" in result.stderr


# -- interruption and concurrency ------------------------------------------------------------------


def test_an_interrupted_classic_build_leaves_no_image_under_the_real_tag(
    engine: Engine, project: Project
) -> None:
    project.builder = "classic"
    project.write("Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY app /app\nRUN sleep 30\n")
    seen = _interrupt_when(project, lambda line: "Running in" in line)  # the RUN's container
    assert engine.image_info(project.tag) is None
    assert _project_images(engine, project) == []  # no temporary tag either
    container = next(line for line in seen if "Running in" in line).split()[-1]
    for _ in range(50):  # the engine stops the step once the client is gone
        if engine.find(container) is None:
            break
        time.sleep(0.2)
    assert engine.find(container) is None


def test_an_interrupted_buildkit_run_step_is_cancelled_and_leaves_no_image(
    engine: Engine, project: Project
) -> None:
    """The RUN step's process stops, and no tag appears later either (a build left running
    would tag its image under the temporary tag once the step ends)."""
    token = secrets.token_hex(4)
    project.write(
        "Dockerfile", f"ARG BASE\nFROM ${{BASE}}\nRUN echo started-{token}; sleep 4; echo end\n"
    )
    step = f"started-{token}; sleep 4"

    def running(line: str) -> bool:  # its output has come, and its process runs on this host
        return line.strip().endswith(f"started-{token}") and _running(step)

    _interrupt_when(project, running)
    assert not _running(step), "the RUN step runs on after the interrupt"
    time.sleep(5)  # past the step's end: a build left running would have tagged its image now
    assert engine.image_info(project.tag) is None
    assert _project_images(engine, project) == [], "an image appeared under the temporary tag"


def _interrupt_when(project: Project, started: Callable[[str], bool]) -> list[str]:
    """Start a build, send SIGINT once a line says its step `started`, and check that the CLI
    says so and exits 130; the lines seen before the signal."""
    process = project.start()
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in process.stdout:
        seen.append(line)
        if started(line):
            break
        assert time.monotonic() < deadline, "".join(seen)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    output = "".join(seen) + rest
    assert process.returncode == 130, output
    assert "interrupted by SIGINT" in output
    return seen


def _running(fragment: str) -> bool:
    """A process on this host whose command line contains `fragment` (BuildKit runs a RUN step
    as a plain process of the engine's host)."""
    return any(fragment in processes.command_line(pid) for pid in processes.pids())


def test_two_builds_of_one_tag_at_once_end_with_one_image(engine: Engine, project: Project) -> None:
    project.write("Dockerfile", DOCKERFILE + "RUN sleep 2\n")
    first = project.start()
    time.sleep(0.3)
    second = project.start()
    outputs = [process.communicate(timeout=150)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n---\n".join(outputs)
    verdicts = sorted("is up to date" if "is up to date" in out else "built" for out in outputs)
    assert verdicts == ["built", "is up to date"], "\n---\n".join(outputs)
    assert _project_images(engine, project) == [_image_id(engine, project.tag)]


# -- the listing is what the Docker CLI would send -------------------------------------------------


def test_the_listing_matches_what_docker_build_sends(
    missing: Missing, project: Project, engine: Engine
) -> None:
    if shutil.which("docker") is None:
        missing("needs the docker CLI")
    ignore = "*.md\n!README*.md\nREADME-secret.md\n**/*.pyc\n/logs\n!logs/keep.log\ntemp?\n"
    ignore += "d\n!d/keep\na/b/c\n!a/b/c/keep.md\n ./e/**/y \nDockerfile\n"
    project.write(".dockerignore", ignore)
    for name in (
        "README.md", "README-secret.md", "notes.md", "a/1.txt", "a/b/2.txt", "a/b/c/3.md",
        "a/b/c/keep.md", "d/keep/k.txt", "d/other.txt", "e/x/y/z.go", "e/x/w.go", "logs/a.log",
        "logs/keep.log", "src/sub/x.pyc", "src/main.py", "temp1", "tempab",
    ):  # fmt: skip
        project.write(name, name)
    project.write("Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY . /ctx\n")
    tag = f"{project.tag[:-2]}:cli"
    result = subprocess.run(
        ["docker", "build", "-q", "--build-arg", f"BASE={project.base_image}", "-t", tag, "."],
        cwd=project.context,
        env={**_environment(), "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        missing(f"the docker CLI cannot build with the legacy builder: {result.stderr[-300:]}")
    try:
        found = subprocess.run(
            ["docker", "run", "--rm", tag, "sh", "-c", "cd /ctx && find . -type f"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
    finally:
        engine.remove_image(tag)
    sent_by_cli = {path.removeprefix("./") for path in found}
    listing = scan(project.context, project.context / "Dockerfile")
    ours = {entry.path for entry in listing.entries if entry.kind == "f"}
    ours -= {"Dockerfile"}  # excluded by .dockerignore: sent, then dropped by the engine
    assert ours == sent_by_cli


# -- BuildKit: cache mounts, refusals, the bundled example -----------------------------------------


def test_a_cache_mount_survives_into_the_next_build_after_a_source_change(
    engine: Engine, project: Project
) -> None:
    cache = f"hodei-e2e-test-{secrets.token_hex(4)}"  # an id of its own: the engine is shared
    project.write(
        "Dockerfile",
        "ARG BASE\nFROM ${BASE}\nCOPY app /app\n"
        f"RUN --mount=type=cache,id={cache},target=/cache "
        "cat /app/main.sh >> /cache/seen && sed 's/^/seen: /' /cache/seen\n",
    )
    result = _build(project)
    assert "with BuildKit" in result.stderr, explain(result)
    assert "seen: echo hello" in result.stderr
    project.write("app/main.sh", "echo changed\n")
    result = _build(project)
    assert "1 file changed (app/main.sh)" in result.stderr, explain(result)
    log = (project.root / ".hodei-e2e" / "build.log").read_text()
    assert "seen: echo hello" in log, log  # written into the cache by the first build
    assert "seen: echo changed" in log, log
    assert f"importing cache manifest from {project.tag}" in log  # the image it replaces
    info = engine.image_info(project.tag)
    assert info is not None
    assert info.labels[CONTEXT_DIGEST].startswith("sha256:")
    assert info.labels[PROJECT] == project.project


REFUSALS = {  # name -> (builder, Dockerfile body after FROM, what the message says)
    "mount-on-classic": (
        "classic",
        "RUN --mount=type=cache,target=/cache true\n",
        ":3: RUN --mount needs BuildKit; this build uses the classic builder",
    ),
    "heredoc-on-classic": ("classic", "RUN <<EOF\ntrue\nEOF\n", ":3: a heredoc needs BuildKit"),
    "unreachable-frontend": (
        "",
        "RUN true\n",
        ":1: `# syntax=hodei-e2e-test/no-such-frontend:1` asks for a frontend image",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_what_the_builder_cannot_build_is_refused_before_building(
    engine: Engine, project: Project, case: str
) -> None:
    project.builder, body, says = REFUSALS[case]
    frontend = case == "unreachable-frontend"
    syntax = "# syntax=hodei-e2e-test/no-such-frontend:1\n" if frontend else ""
    project.write("Dockerfile", f"{syntax}ARG BASE\nFROM ${{BASE}}\n{body}")
    result = project.cli()
    assert result.returncode == 3, explain(result)
    assert says in result.stderr, explain(result)
    assert "building" not in result.stderr.split("✗")[0]  # nothing was sent to the engine
    assert engine.image_info(project.tag) is None


def test_a_heredoc_on_an_engine_whose_frontend_predates_them_is_refused(
    engine: Engine, project: Project, missing: Missing
) -> None:
    version = engine.builder_facts().version
    if tuple(int(part) for part in version.split(".")[:2]) >= (23, 0):
        missing(f"engine {version} has a frontend with heredocs")
    project.write("Dockerfile", "ARG BASE\nFROM ${BASE}\nRUN cat > /x <<'EOF'\nexport A=1\nEOF\n")
    result = project.cli()
    assert result.returncode == 3, explain(result)
    assert ":3: a heredoc needs Docker Engine 23.0+" in result.stderr, explain(result)
    assert "# syntax=docker/dockerfile:1.4" in result.stderr  # the other remedy


@each_builder
def test_the_bundled_example_builds_with_either_builder(
    engine: Engine, project: Project, expected: Expected
) -> None:
    """examples/worker as the demo e2e.yaml builds it, FROM the local busybox."""
    shutil.rmtree(project.context)
    shutil.copytree(Path(__file__).parents[2] / "examples" / "worker", project.context)
    project.config.write_text(
        f"version: 1\nproject: {project.project}\nimage:\n  tag: {project.tag}\n  context: ctx\n"
        f"  build_args: {{BASE_IMAGE: '{project.base_image}'}}\nsuites:\n  noop: 'true'\n"
    )
    project.builder = expected.setting
    result = _build(project)
    assert expected.says in result.stderr, explain(result)
    info = engine.image_info(project.tag)
    assert info is not None
    assert info.labels["org.opencontainers.image.title"] == "hodei-worker (e2e demo)"


def test_doctor_says_whether_the_image_is_up_to_date_with_its_context(project: Project) -> None:
    _build(project)
    result = project.cli(command="doctor")
    up_to_date = f"✓ worker image: {project.tag}: present, up to date with its build context"
    assert up_to_date in result.stderr, explain(result)
    assert "✓ image builder: BuildKit (Docker Engine" in result.stderr, explain(result)
    project.write("app/main.sh", "echo changed\n")
    result = project.cli(command="doctor")
    stale = f"⚠ worker image: {project.tag}: present, but out of date (1 file changed (app/"
    assert stale in result.stderr, explain(result)
    project.write("Dockerfile", DOCKERFILE.replace("RUN ", "RUN --mount=type=cache,target=/c "))
    project.builder = "classic"
    result = project.cli(command="doctor")
    assert "✗ image builder: " in result.stderr, explain(result)
    assert ":4: RUN --mount needs BuildKit" in result.stderr, explain(result)
