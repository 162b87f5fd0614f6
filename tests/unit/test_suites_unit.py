"""Pure logic around suites: how an exit is described, database names, password masking."""

from __future__ import annotations

import re
import signal

import pytest

from hodei_e2e.masking import MASK, Masker
from hodei_e2e.ownership.identity import database_name, new_run_id, run_id_of_database
from hodei_e2e.suites.runner import describe_exit

# -- describe_exit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exit code 0"),
        (1, "exit code 1"),
        (3, "exit code 3"),
        (101, "exit code 101"),  # a panicking cargo test
        (127, "exit code 127: command not found"),
        (126, "exit code 126: command not executable"),
        (-signal.SIGKILL, "killed by SIGKILL"),
        (-signal.SIGTERM, "killed by SIGTERM"),
        (-signal.SIGSEGV, "killed by SIGSEGV"),
        (-200, "killed by signal 200"),
    ],
)
def test_describe_exit(code: int, text: str) -> None:
    assert describe_exit(code) == text


# -- database names -------------------------------------------------------------------------------

RUN_ID = "20260101120000-abc123"
VALID = re.compile(r"[a-z0-9_]{1,63}")


def test_database_name_layout() -> None:
    assert (
        database_name("e2e", RUN_ID, 1, "isolation-a") == "e2e_20260101120000xabc123_1_isolation_a"
    )


@pytest.mark.parametrize(
    "suite",
    [
        "api",
        "Worker.Callback",
        "UPPER-case_and.dots",
        "x" * 200,
        "a-" * 80,
        "docker-provider-with-a-very-long-name-that-does-not-fit-in-postgres",
        "...",
        "ünïcödé-suite",
    ],
)
@pytest.mark.parametrize("prefix", ["e2e", "p", "abcdefghijklmnop"])  # 16: the longest allowed
@pytest.mark.parametrize("counter", [1, 42, 99999])
def test_database_names_are_valid_postgres_identifiers(
    suite: str, prefix: str, counter: int
) -> None:
    name = database_name(prefix, RUN_ID, counter, suite)
    assert VALID.fullmatch(name), name
    assert len(name.encode()) <= 63
    assert not name.endswith("_")
    assert name.startswith(f"{prefix}_")
    assert run_id_of_database(name, prefix) == RUN_ID


def test_a_suite_name_without_letters_still_gives_a_readable_name() -> None:
    assert database_name("e2e", RUN_ID, 7, "---") == "e2e_20260101120000xabc123_7_suite"


def test_names_stay_unique_when_long_suite_names_are_cut() -> None:
    long = "a-suite-name-long-enough-to-be-cut-by-the-63-byte-limit-"
    names = {database_name("e2e", RUN_ID, n, long + tail) for n, tail in enumerate(("one", "two"))}
    assert len(names) == 2


def test_names_stay_unique_when_suite_names_differ_only_in_punctuation() -> None:
    assert database_name("e2e", RUN_ID, 1, "a-b") != database_name("e2e", RUN_ID, 2, "a_b")


def test_names_of_two_runs_in_the_same_second_differ() -> None:
    first, second = new_run_id(now=1767268800), new_run_id(now=1767268800)
    assert first != second  # the random part
    assert database_name("e2e", first, 1, "api") != database_name("e2e", second, 1, "api")


@pytest.mark.parametrize(
    "name",
    [
        "postgres",
        "template1",
        "e2e",
        "e2e_",
        "e2e_something_else",
        "other_20260101120000xabc123_1_api",
        "e2e_20260101120000xabc12_1_api",  # the token is 6 hex digits
    ],
)
def test_run_id_of_a_foreign_database_is_none(name: str) -> None:
    assert run_id_of_database(name, "e2e") is None


# -- masking ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secrets", "text", "expected"),
    [
        pytest.param(
            ["hunter2-secret"],
            "password is hunter2-secret, again hunter2-secret",
            f"password is {MASK}, again {MASK}",
            id="a_password_is_masked_everywhere",
        ),
        pytest.param(
            ["postgres"],
            "image postgres:16-alpine, user postgres, "
            "url postgres://postgres:postgres@127.0.0.1:5432/postgres, PGPASSWORD=postgres",
            "image postgres:16-alpine, user postgres, "
            f"url postgres://postgres:{MASK}@127.0.0.1:5432/postgres, PGPASSWORD={MASK}",
            id="a_well_known_password_is_masked_as_a_credential_only",
        ),
        pytest.param(
            ["pw"],
            "postgres://u:pw@h/db, pwd",
            f"postgres://u:{MASK}@h/db, pwd",
            id="a_short_password_is_masked_in_a_url",
        ),
        pytest.param(
            ["a.b*c+(d)"],
            "x a.b*c+(d) y axbbbc+d",
            f"x {MASK} y axbbbc+d",
            id="regex_characters_in_a_password_are_literal",
        ),
        pytest.param(
            ["secret-one", "secret-one-and-more"],
            "[secret-one-and-more]",
            f"[{MASK}]",
            id="the_longer_of_two_overlapping_secrets_is_masked_whole",
        ),
        pytest.param(
            [None, ""],
            "postgres://u:p@h/db",
            "postgres://u:p@h/db",
            id="nothing_registered_changes_nothing",
        ),
    ],
)
def test_masking(secrets: list[str | None], text: str, expected: str) -> None:
    masker = Masker()
    for secret in secrets:
        masker.add(secret)
    assert masker(text) == expected


def test_the_url_encoded_form_is_masked_too() -> None:
    masker = Masker()
    masker.add("p@ss/word")
    text = masker("postgres://postgres:p%40ss%2Fword@127.0.0.1:5432/db and PGPASSWORD=p@ss/word")
    assert "p%40ss%2Fword" not in text
    assert "p@ss/word" not in text
    assert text.startswith(f"postgres://postgres:{MASK}@127.0.0.1:5432/db")
