"""image/dockerfile.py's reading of FROM and ARG, with Docker's rules: global ARGs (before the
first FROM) only, build args over declared defaults, the `${VAR...}` forms, escapes and
continuations."""

from __future__ import annotations

from pathlib import Path

import pytest

from hodei_e2e.image.dockerfile import (
    base_images,
    expand,
    from_reference,
    global_args,
    parse_stages,
    variables,
)


@pytest.mark.parametrize(
    ("text", "values", "expanded"),
    [
        ("$A", {"A": "1"}, "1"),
        ("${A}", {"A": "1"}, "1"),
        ("x${A}y$A.z", {"A": "1"}, "x1y1.z"),
        ("$UNSET", {}, ""),
        ("${UNSET:-dflt}", {}, "dflt"),
        ("${EMPTY:-dflt}", {"EMPTY": ""}, "dflt"),
        ("${EMPTY-dflt}", {"EMPTY": ""}, ""),
        ("${UNSET-dflt}", {}, "dflt"),
        ("${A:+alt}", {"A": "1"}, "alt"),
        ("${EMPTY:+alt}", {"EMPTY": ""}, ""),
        ("${EMPTY+alt}", {"EMPTY": ""}, "alt"),
        ("${UNSET+alt}", {}, ""),
        ("${UNSET:-${B}-x}", {"B": "b"}, "b-x"),
        ("\\$A${A}", {"A": "1"}, "$A1"),
        ("registry:5000/img:$TAG", {"TAG": "7"}, "registry:5000/img:7"),
        ("cost $", {}, "cost $"),
        ("${unterminated", {"unterminated": "x"}, "${unterminated"),
    ],
)
def test_expand_follows_dockers_substitution(
    text: str, values: dict[str, str], expanded: str
) -> None:
    assert expand(text, values) == expanded


def test_variables_are_named_in_order_with_the_defaults_own() -> None:
    assert variables("${A:-$B}x$C${A}\\$D") == ["A", "B", "C"]
    assert variables("busybox:1.36") == []


def test_only_args_before_the_first_from_are_seen_by_from_lines() -> None:
    stages = parse_stages(
        "ARG BASE=busybox:1\n"
        "FROM $BASE AS first\n"
        "ARG BASE=debian:12\n"  # in the first stage's scope, not global
        "ARG LATER=x\n"
        "FROM ${BASE}\n"
        "FROM ${LATER:-fallback}\n"
    )
    assert [stage.image for stage in stages] == ["busybox:1", "busybox:1", "fallback"]
    assert [stage.line for stage in stages] == [2, 5, 6]
    assert stages[0].name == "first"
    assert stages[0].reference == "$BASE"
    assert stages[0].variables == ("BASE",)


def test_build_args_override_declared_args_only() -> None:
    text = "ARG BASE=busybox:1\nARG NODEFAULT\nFROM $BASE\nFROM img:${NODEFAULT:-none}\nFROM $X\n"
    images = [s.image for s in parse_stages(text, {"BASE": "alpine:3", "NODEFAULT": "7"})]
    assert images == ["alpine:3", "img:7", ""]
    images = [s.image for s in parse_stages(text, {"X": "undeclared:1"})]
    assert images == ["busybox:1", "img:none", ""]  # X is not declared: not used


def test_arg_defaults_use_earlier_args_quotes_and_several_per_line() -> None:
    text = 'ARG REPO=hodei TAG="1.2 beta"\nARG IMAGE=${REPO}/worker\nFROM ${IMAGE}:latest\n'
    assert [s.image for s in parse_stages(text)] == ["hodei/worker:latest"]
    values = parse_stages(text, {"REPO": "other"})
    assert values[0].image == "other/worker:latest"


def test_a_declared_arg_without_a_default_is_unset() -> None:
    text = "ARG A=1\nARG A\nFROM img${A-:unset}\n"
    assert parse_stages(text)[0].image == "img:unset"


def test_continuations_comments_flags_and_escape_directive() -> None:
    stages = parse_stages(
        "# escape=`\n"
        "ARG BASE=busybox `\n"
        "  TAG=1\n"
        "# a comment\n"
        "from --platform=linux/amd64 `\n"
        "# a comment inside the continuation\n"
        "  ${BASE}:$TAG as Build\n"
    )
    assert [(s.image, s.name, s.line) for s in stages] == [("busybox:1", "build", 5)]


def test_base_images_leave_out_stages_and_scratch(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG BASE=busybox:1.36\n"
        "FROM rust:1.80 AS Build\n"
        "FROM build AS again\n"
        "FROM scratch\n"
        "FROM ${BASE}\n"
        "FROM busybox:1.36\n"
    )
    assert base_images(dockerfile) == ["rust:1.80", "busybox:1.36"]
    assert base_images(dockerfile, {"BASE": "alpine:3"}) == [
        "rust:1.80",
        "alpine:3",
        "busybox:1.36",
    ]
    assert base_images(tmp_path / "missing") == []


def test_global_args_and_from_reference(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE\nARG TAG=1\nFROM ${BASE}:${TAG}\nARG INSIDE=x\n")
    assert global_args(dockerfile) == {"TAG": "1"}
    assert global_args(dockerfile, {"BASE": "b", "INSIDE": "y"}) == {"BASE": "b", "TAG": "1"}
    assert from_reference("FROM --platform=linux/arm64 ${BASE} AS build") == "${BASE}"
    assert from_reference("from busybox") == "busybox"
    assert from_reference("RUN make") == "RUN make"
