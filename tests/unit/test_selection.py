"""Which suites a run runs: names, `-k` expressions (pytest-like) and tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from hodei_e2e.config import SuiteConfig
from hodei_e2e.errors import ExitCode, UsageError
from hodei_e2e.suites.selection import compile_keyword, select


def suite(name: str, *tags: str) -> SuiteConfig:
    return SuiteConfig(name=name, command="true", tags=tags, workdir=Path())


SUITES = [
    suite("docker-provider", "docker", "slow"),
    suite("isolation-a", "db"),
    suite("isolation-b", "db"),
    suite("streaming"),
    suite("Worker_Callback", "docker"),
]


def names(selected: list[SuiteConfig]) -> list[str]:
    return [s.name for s in selected]


# -- names -------------------------------------------------------------------------------------


def test_no_selection_is_every_suite_in_declaration_order() -> None:
    assert names(select(SUITES)) == [s.name for s in SUITES]


def test_named_suites_run_in_declaration_order() -> None:
    # select()'s docstring: "The suites to run, in declaration order".
    assert names(select(SUITES, ["streaming", "isolation-a"])) == ["isolation-a", "streaming"]


def test_a_name_given_twice_runs_once() -> None:
    assert names(select(SUITES, ["streaming", "streaming"])) == ["streaming"]


def test_unknown_name_is_a_usage_error_that_lists_the_known_suites() -> None:
    with pytest.raises(UsageError) as caught:
        select(SUITES, ["isolation-c"])
    message = caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE == 2  # type: ignore[comparison-overlap]
    assert "unknown suite 'isolation-c'" in message
    assert "Did you mean 'isolation-a'?" in message or "Did you mean 'isolation-b'?" in message
    assert ", ".join(s.name for s in SUITES) in message


def test_unknown_name_without_a_close_match_has_no_suggestion() -> None:
    with pytest.raises(UsageError) as caught:
        select(SUITES, ["zzz"])
    assert "Did you mean" not in caught.value.message
    assert "Known suites: docker-provider" in caught.value.message


def test_names_are_case_sensitive() -> None:
    with pytest.raises(UsageError):
        select(SUITES, ["worker_callback"])


# -- -k expressions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("isolation", ["isolation-a", "isolation-b"]),
        ("ISOLATION", ["isolation-a", "isolation-b"]),  # case-insensitive
        ("worker_callback", ["Worker_Callback"]),
        ("isolation-a", ["isolation-a"]),  # '-' is part of the word
        ("not isolation", ["docker-provider", "streaming", "Worker_Callback"]),
        ("isolation and not b", ["isolation-a"]),
        ("stream or worker", ["streaming", "Worker_Callback"]),
        ("not not streaming", ["streaming"]),
        # and binds tighter than or
        ("streaming or isolation and b", ["isolation-b", "streaming"]),
        ("(streaming or isolation) and b", ["isolation-b"]),
        ("( streaming or isolation )and -a", ["isolation-a"]),  # no space needed at ( and )
        ("((docker))", ["docker-provider"]),
        ("provider and docker", ["docker-provider"]),
        ("nothing-matches", []),
    ],
)
def test_keyword_expressions(expression: str, expected: list[str]) -> None:
    assert sorted(names(select(SUITES, keyword=expression))) == sorted(expected)


def test_a_word_that_starts_with_an_operator_is_a_word() -> None:
    matches = compile_keyword("android or order or notice")
    assert matches("my-android-suite")
    assert matches("in-order")
    assert matches("notice")
    assert not matches("and")


def test_empty_expression_matches_everything() -> None:
    assert compile_keyword("")("anything")
    assert compile_keyword("   ")("anything")


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("isolation and", "ends too early"),
        ("not", "ends too early"),
        ("(isolation", "ends too early"),
        ("isolation)", "unexpected ')'"),
        ("and isolation", "unexpected 'and'"),
        ("or", "unexpected 'or'"),
        ("isolation streaming", "unexpected 'streaming'"),
        ("()", "unexpected ')'"),
        ("(a b)", "expected ')'"),
    ],
)
def test_malformed_keyword_is_a_usage_error(expression: str, complaint: str) -> None:
    with pytest.raises(UsageError) as caught:
        compile_keyword(expression)
    assert caught.value.exit_code == ExitCode.USAGE
    assert f"-k {expression!r}" in caught.value.message
    assert complaint in caught.value.message


# -- tags and combinations ------------------------------------------------------------------------


def test_tags_select_suites_with_any_of_them() -> None:
    assert names(select(SUITES, tags=["db"])) == ["isolation-a", "isolation-b"]
    assert names(select(SUITES, tags=["db", "slow"])) == [
        "docker-provider",
        "isolation-a",
        "isolation-b",
    ]
    assert names(select(SUITES, tags=["no-such-tag"])) == []


def test_names_keyword_and_tags_all_apply() -> None:
    chosen = select(
        SUITES, ["docker-provider", "isolation-a", "Worker_Callback"], "not isolation", ["docker"]
    )
    assert names(chosen) == ["docker-provider", "Worker_Callback"]


def test_keyword_applies_to_named_suites_only() -> None:
    assert names(select(SUITES, ["streaming"], keyword="isolation")) == []
