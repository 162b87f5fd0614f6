"""BuildKit without an engine: reading its progress messages, what a Dockerfile asks of its
builder, and which builder an engine gets."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from hodei_e2e.console import Output
from hodei_e2e.engine.docker import BuilderFacts
from hodei_e2e.errors import ConfigError, PrerequisiteError
from hodei_e2e.image.build_view import BuildProgress
from hodei_e2e.image.builder import choose, refuse_unsupported
from hodei_e2e.image.buildkit_trace import TRACE_ID, TraceError, decode_aux
from hodei_e2e.image.dockerfile import parse_features

# -- a minimal protobuf writer, to build StatusResponse messages the way the engine sends them


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


TIMESTAMP = _field(1, 1_796_000_000) + _field(2, 5)


def _vertex(digest: str, name: str, **state: bool | str) -> bytes:
    body = _field(1, digest) + _field(2, "sha256:parent") + _field(3, name)
    if state.get("cached"):
        body += _field(4, 1)
    if state.get("started"):
        body += _field(5, TIMESTAMP)
    if state.get("completed"):
        body += _field(6, TIMESTAMP)
    if state.get("error"):
        body += _field(7, str(state["error"]))
    body += _field(8, _field(1, "group"))  # a newer field: skipped
    return _field(1, body)


def _log(digest: str, data: bytes, stream: int = 1) -> bytes:
    return _field(3, _field(1, digest) + _field(2, TIMESTAMP) + _field(3, stream) + _field(4, data))


def _trace(*parts: bytes) -> dict[str, str]:
    return {"id": TRACE_ID, "aux": base64.b64encode(b"".join(parts)).decode()}


def test_a_status_response_decodes_into_vertexes_and_logs() -> None:
    status = decode_aux(
        _trace(_vertex("sha256:a", "[2/3] RUN make", started=True), _log("sha256:a", b"hi\n"))[
            "aux"
        ]
    )
    assert [(v.digest, v.name, v.started, v.completed) for v in status.vertexes] == [
        ("sha256:a", "[2/3] RUN make", True, False)
    ]
    assert [(log.vertex, log.stream, log.data) for log in status.logs] == [("sha256:a", 1, b"hi\n")]


@pytest.mark.parametrize("aux", ["not base64!", base64.b64encode(b"\x0a\xff").decode(), 3])
def test_a_broken_message_is_a_trace_error(aux: object) -> None:
    with pytest.raises(TraceError):
        decode_aux(aux)


def test_the_view_follows_steps_and_keeps_the_failing_steps_lines(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with BuildProgress(Output(verbosity=-9), "t", log) as progress:
        progress.message(_trace(_vertex("sha256:c", "[internal] load remote build context")))
        progress.message(_trace(_vertex("sha256:a", "[stage-0 1/2] COPY . /", started=True)))
        progress.message(_trace(_vertex("sha256:a", "[stage-0 1/2] COPY . /", cached=True)))
        progress.message(_trace(_vertex("sha256:b", "[builder 2/2] RUN make", started=True)))
        progress.message(_trace(_log("sha256:b", b"one\ntw"), _log("sha256:b", b"o\n", 2)))
        progress.message(
            _trace(_vertex("sha256:b", "[builder 2/2] RUN make", started=True, error="exit 2"))
        )
        progress.message({"errorDetail": {"message": "exit 2"}, "error": "exit 2"})
    assert progress.step == "builder 2/2"
    assert progress.instruction == "RUN make"
    assert list(progress.tail) == ["one", "two"]
    assert progress.error == "exit 2"
    assert log.read_text().splitlines() == [
        "#1 [stage-0 1/2] COPY . /", "#1 CACHED", "#2 [builder 2/2] RUN make", "#2 one",
        "#2 two", "#2 ERROR: exit 2", "ERROR: exit 2",
    ]  # fmt: skip


def test_a_vertex_marked_cached_after_it_is_done_is_reported_once(tmp_path: Path) -> None:
    # what dockerd 20.10 sends for a FROM of a local image: started and completed, then cached
    log = tmp_path / "build.log"
    step = "[1/2] FROM hodei-e2e.local/debian:bookworm"
    with BuildProgress(Output(verbosity=-9), "t", log) as progress:
        progress.message(_trace(_vertex("sha256:f", step, started=True)))
        progress.message(_trace(_vertex("sha256:f", step, started=True, completed=True)))
        progress.message(_trace(_vertex("sha256:f", step, cached=True, completed=True)))
    assert log.read_text().splitlines() == [f"#1 {step}", "#1 DONE"]


def test_a_base_image_buildkit_cannot_resolve_is_named(tmp_path: Path) -> None:
    name = "[internal] load metadata for docker.io/library/nosuch:1"
    with BuildProgress(Output(verbosity=-9), "t", tmp_path / "log") as progress:
        progress.message(_trace(_vertex("sha256:m", name, started=True, error="not found")))
    assert progress.failed_base == "nosuch:1"
    assert progress.instruction == "FROM nosuch:1"


# -- the Dockerfile -------------------------------------------------------------------------------


def test_features_are_found_with_their_lines() -> None:
    features = parse_features(
        "# syntax=docker/dockerfile:1.4\n# escape=\\\nFROM x\n# a comment\n"
        "RUN --network=none \\\n  --mount=type=cache,target=/c make\n"
        "COPY <<-'EOT' /etc/x\nbody\nEOT\nRUN echo '<<not a heredoc' # shell text\n"
        "RUN echo --mount=later\n"
    )
    assert (features.syntax, features.syntax_line) == ("docker/dockerfile:1.4", 1)
    assert [use.line for use in features.heredocs] == [7]
    assert [(flag, use.line) for flag, use in features.buildkit_flags] == [
        ("--network", 5),
        ("--mount", 5),
    ]


def test_a_syntax_line_after_an_instruction_is_only_a_comment() -> None:
    assert parse_features("FROM x\n# syntax=other\n").syntax is None
    assert parse_features("# hello\n# syntax=other\nFROM x\n").syntax is None


# -- the builder ----------------------------------------------------------------------------------


def _facts(**changes: str | None) -> BuilderFacts:
    base = {"engine": "Engine", "version": "20.10.24+dfsg1", "os_type": "linux",
            "api_version": "1.41", "default_builder": None,
            "server": "Docker/20.10.24+dfsg1 (linux)"}  # fmt: skip
    return BuilderFacts(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "setting", "env", "buildkit", "says"),
    [
        (_facts(), "auto", {}, True, "Docker Engine 20.10.24+dfsg1 has it"),
        (_facts(version="24.0.7", default_builder="2"), "auto", {}, True, "24.0.7 has it"),
        (_facts(default_builder="1"), "auto", {}, False, "classic builder its default"),
        (_facts(os_type="windows"), "auto", {}, False, "not offered on windows"),
        (_facts(api_version="1.38"), "auto", {}, False, "predates BuildKit"),
        (_facts(engine="Podman Engine", server="Libpod/4.3.1"), "auto", {}, False, "Podman"),
        (_facts(), "classic", {}, False, "image.builder: classic"),
        (_facts(), "buildkit", {"HODEI_E2E_BUILDER": "classic"}, False, "HODEI_E2E_BUILDER"),
    ],
)
def test_the_builder_and_why(
    facts: BuilderFacts, setting: str, env: dict[str, str], buildkit: bool, says: str
) -> None:
    builder = choose(facts, setting, env)  # type: ignore[arg-type]
    assert builder.buildkit is buildkit
    assert says in builder.describe()


def test_buildkit_asked_for_on_an_engine_without_it_is_a_prerequisite_error() -> None:
    with pytest.raises(PrerequisiteError, match="asks for BuildKit"):
        choose(_facts(os_type="windows"), "buildkit", {})


def test_heredocs_pass_on_engines_from_23_and_with_a_frontend_that_is_there() -> None:
    features = parse_features("FROM x\nRUN <<EOF\ntrue\nEOF\n")
    new = choose(_facts(version="23.0.1"), "auto", {})
    refuse_unsupported(features, new, "Dockerfile", lambda _image: None)
    old = choose(_facts(), "auto", {})
    with pytest.raises(PrerequisiteError, match=r"heredoc needs Docker Engine 23\.0"):
        refuse_unsupported(features, old, "Dockerfile", lambda _image: None)
    with_syntax = parse_features("# syntax=docker/dockerfile:1.4\nFROM x\nRUN <<EOF\ntrue\nEOF\n")
    refuse_unsupported(with_syntax, old, "Dockerfile", lambda _image: None)  # a local frontend


def test_a_bad_builder_in_the_environment_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="HODEI_E2E_BUILDER='kit': expected one of auto"):
        choose(_facts(), "auto", {"HODEI_E2E_BUILDER": "kit"})
