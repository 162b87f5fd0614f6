"""`prepare:` and `image.after`: the three forms, and the errors with file:line and a hint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hodei_e2e.config import PrepareConfig, load_config
from hodei_e2e.errors import ConfigError
from hodei_e2e.suites.prepare import script


def load(directory: Path, text: str) -> object:
    path = directory / "e2e.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, environ={})


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        pytest.param(
            "prepare: cargo build --tests",
            PrepareConfig(commands=("cargo build --tests",)),
            id="string",
        ),
        pytest.param("prepare: [a, b]", PrepareConfig(commands=("a", "b")), id="list"),
        pytest.param(
            "prepare: {commands: [a], timeout: 20m, needs: [postgres]}",
            PrepareConfig(commands=("a",), timeout=1200.0, needs=("postgres",)),
            id="mapping",
        ),
        pytest.param("prepare: {command: a}", PrepareConfig(commands=("a",)), id="mapping_command"),
    ],
)
def test_prepare_forms(tmp_path: Path, written: str, expected: PrepareConfig) -> None:
    config = load(tmp_path, f"{written}\nsuites: {{a: x}}\n")
    assert config.prepare == expected  # type: ignore[attr-defined]


def test_no_prepare_and_image_not_waiting_by_default(tmp_path: Path) -> None:
    config = load(tmp_path, "image: {}\nsuites: {a: x}\n")
    assert config.prepare is None  # type: ignore[attr-defined]
    assert config.image.after_prepare is False  # type: ignore[attr-defined]


def test_image_after_prepare(tmp_path: Path) -> None:
    config = load(tmp_path, "prepare: make\nimage: {after: prepare}\nsuites: {a: x}\n")
    assert config.image.after_prepare is True  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "prepare:\n  comands: [a]\nsuites: {a: x}\n",
            "FILE:2: prepare.comands: unknown key 'comands'; did you mean 'commands'?",
        ),
        (
            "prepare: {command: a, commands: [b]}\nsuites: {a: x}\n",
            "FILE:1: prepare.command: set either 'commands' or 'command', not both",
        ),
        (
            "prepare: {timeout: 5m}\nsuites: {a: x}\n",
            "FILE:1: prepare: missing required key 'commands' (a command or a list of commands)",
        ),
        (
            "prepare: []\nsuites: {a: x}\n",
            "FILE:1: prepare: expected at least one command; got an empty list",
        ),
        (
            "prepare: [a, {b: c}]\nsuites: {a: x}\n",
            "FILE:1: prepare[1]: expected a command string; got a mapping",
        ),
        (
            "prepare: {command: a, timeout: soon}\nsuites: {a: x}\n",
            "FILE:1: prepare.timeout: expected a duration like 30s, 5m, 1h; got 'soon'",
        ),
        (
            "prepare:\n  command: a\n  needs: [postgress]\nsuites: {a: x}\n",
            "FILE:3: prepare.needs[0]: unknown service 'postgress'; did you mean 'postgres'?",
        ),
        (
            "prepare: make\nimage: {after: prepar}\nsuites: {a: x}\n",
            "FILE:2: image.after: expected one of prepare; got 'prepar'; did you mean 'prepare'?",
        ),
        (
            "image:\n  after: prepare\nsuites: {a: x}\n",
            "FILE:2: image.after: the image waits for the prepare step, but there is no 'prepare'",
        ),
        (
            "prepare: make\nsuites:\n  prepare: x\n",
            "FILE:2: suites: suite name 'prepare' is taken by the prepare step; rename the suite",
        ),
    ],
)
def test_prepare_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, text)
    assert str(excinfo.value).replace(str(tmp_path / "e2e.yaml"), "FILE") == expected


def test_script_announces_each_command_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    import subprocess

    text = script(("echo one", "false # a comment", "echo never"))
    done = subprocess.run(
        text, shell=True, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 1
    assert done.stdout == "$ echo one\none\n$ false # a comment\n"
