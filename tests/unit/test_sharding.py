"""`--shard K/N`: parsing, timings files, and a split that is complete, disjoint and balanced."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hodei_e2e.config import SuiteConfig
from hodei_e2e.errors import ExitCode, UsageError
from hodei_e2e.suites.sharding import estimates, load_timings, parse_shard, plan, shard


def suites(*names: str) -> list[SuiteConfig]:
    return [SuiteConfig(name=name, command="true", workdir=Path("/")) for name in names]


NINE = suites(*(f"suite-{c}" for c in "ihgfedcba"))  # declared in reverse name order
TEN = suites(*(f"s{n:02d}" for n in (7, 3, 9, 1, 10, 5, 2, 8, 6, 4)))
DURATIONS = {  # the 9 suites' recorded seconds
    "suite-a": 120.0,
    "suite-b": 95.5,
    "suite-c": 60.0,
    "suite-d": 42.0,
    "suite-e": 30.0,
    "suite-f": 12.5,
    "suite-g": 7.0,
    "suite-h": 3.0,
    "suite-i": 0.5,
}


# -- parse_shard -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("1/3", (1, 3)), ("3/3", (3, 3)), (" 2 / 4 ", (2, 4))]
)
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0/3", "K must be between 1 and 3"),
        ("4/3", "K must be between 1 and 3"),
        ("1/0", "N must be at least 1"),
        ("a/b", "expected K/N with whole numbers"),
        ("2", "expected K/N"),
        ("-1/3", "expected K/N"),
        ("", "expected K/N"),
    ],
)
def test_parse_shard_rejects(text: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_shard(text)
    assert words in caught.value.message
    assert repr(text) in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


# -- load_timings ----------------------------------------------------------------------------------


def test_load_timings_reads_a_json_report(tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    report.write_text(
        json.dumps(
            {
                "schema": 1,
                "suites": [
                    {"name": "a", "status": "passed"},
                    {"name": "b", "status": "failed"},
                    {"name": "c", "status": "skipped"},
                    {"name": "d", "status": "interrupted"},
                    {"name": "e", "status": "timeout"},
                ],
                "timings": {"a": 1.5, "b": 20, "c": 0.0, "d": 4.0, "e": 600.0, "f": 0},
            }
        )
    )
    # skipped/interrupted suites and zero durations say nothing about how long a suite takes
    assert load_timings(report) == {"a": 1.5, "b": 20.0, "e": 600.0}


def test_load_timings_reads_a_merged_timings_file(tmp_path: Path) -> None:
    merged = tmp_path / "timings.json"
    merged.write_text('{"timings": {"x": 3.25}}')
    assert load_timings(merged) == {"x": 3.25}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not valid JSON (line 1, column 2"),
        ("[1, 2]", "no `timings` object"),
        ('{"suites": []}', "no `timings` object"),
        ('{"timings": [1]}', "no `timings` object"),
        ('{"timings": {"a": "fast"}}', "timings.a: expected a number of seconds"),
        ('{"timings": {"a": true}}', "timings.a: expected a number of seconds"),
    ],
)
def test_load_timings_rejects_malformed_files(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError) as caught:
        load_timings(path)
    assert caught.value.message.startswith(f"--timings {path}: ")
    assert words in caught.value.message


def test_load_timings_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(UsageError, match=r"--timings .*nope\.json: cannot read the file"):
        load_timings(path)


def test_load_timings_rejects_binary(tmp_path: Path) -> None:
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_timings(path)


# -- shard: complete and disjoint ------------------------------------------------------------------


@pytest.mark.parametrize("selection", [NINE, TEN], ids=["9 suites", "10 suites"])
@pytest.mark.parametrize("total", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("with_timings", [False, True], ids=["by name", "by timings"])
def test_shards_cover_the_selection_exactly_once(
    selection: list[SuiteConfig], total: int, with_timings: bool
) -> None:
    timings = {s.name: float(len(s.name) * i % 7 + 1) for i, s in enumerate(selection)}
    parts = [
        shard(selection, k, total, timings if with_timings else None) for k in range(1, total + 1)
    ]
    names = [s.name for part in parts for s in part]
    assert sorted(names) == sorted(s.name for s in selection)
    assert len(names) == len(set(names))  # no overlap
    order = [s.name for s in selection]
    for part in parts:  # declaration order within a shard
        assert [s.name for s in part] == sorted((s.name for s in part), key=order.index)


def test_by_name_is_round_robin_over_sorted_names() -> None:
    assert [[s.name for s in part] for part in plan(NINE, 3)] == [
        # declaration order inside each shard; sorted position i goes to shard i % 3
        ["suite-g", "suite-d", "suite-a"],
        ["suite-h", "suite-e", "suite-b"],
        ["suite-i", "suite-f", "suite-c"],
    ]


def test_by_name_sizes_differ_by_at_most_one() -> None:
    for total in range(1, 6):
        sizes = [len(part) for part in plan(TEN, total)]
        assert max(sizes) - min(sizes) <= 1


def test_empty_shards_when_there_are_more_shards_than_suites() -> None:
    two = suites("a", "b")
    assert [[s.name for s in shard(two, k, 4)] for k in range(1, 5)] == [["a"], ["b"], [], []]
    assert shard([], 1, 3) == []


def test_shard_rejects_an_index_outside_1_to_n() -> None:
    with pytest.raises(UsageError):
        shard(NINE, 0, 3)
    with pytest.raises(UsageError):
        shard(NINE, 4, 3)


# -- shard: balanced by timings --------------------------------------------------------------------


@pytest.mark.parametrize("total", [2, 3, 4])
def test_balanced_shards_differ_by_no_more_than_the_longest_suite(total: int) -> None:
    loads = [sum(DURATIONS[s.name] for s in part) for part in plan(NINE, total, DURATIONS)]
    assert max(loads) - min(loads) <= max(DURATIONS.values())


@pytest.mark.parametrize("seed", range(25))
def test_balance_holds_for_any_durations(seed: int) -> None:
    rng = random.Random(seed)
    durations = {s.name: round(rng.uniform(0.1, 600.0), 3) for s in NINE}
    for total in range(2, 6):
        loads = [sum(durations[s.name] for s in part) for part in plan(NINE, total, durations)]
        assert max(loads) - min(loads) <= max(durations.values())


def test_balanced_plan_is_longest_first_onto_the_least_loaded_shard() -> None:
    parts = [[s.name for s in part] for part in plan(NINE, 3, DURATIONS)]
    # a=120 -> 1 (0); b=95.5 -> 2 (0); c=60 -> 3 (0); d=42 -> 3 (60); e=30 -> 2 (95.5);
    # f=12.5 -> 3 (102); g=7 -> 3 (114.5); h=3 -> 1 (120); i=0.5 -> 3 (121.5)
    assert parts == [
        ["suite-h", "suite-a"],
        ["suite-e", "suite-b"],
        ["suite-i", "suite-g", "suite-f", "suite-d", "suite-c"],
    ]
    loads = [sum(DURATIONS[n] for n in part) for part in parts]
    assert loads == [123.0, 125.5, 122.0]


def test_unknown_suites_count_as_the_median_of_the_known() -> None:
    known = {"suite-a": 10.0, "suite-b": 20.0, "suite-c": 90.0}
    cost = estimates(NINE, known)
    assert cost["suite-a"] == 10.0
    assert cost["suite-i"] == 20.0  # median of 10, 20, 90
    assert estimates(NINE, {})["suite-e"] == 1.0
    assert estimates(NINE, {"other": 5.0})["suite-e"] == 1.0  # only the selection's times count


def test_timings_of_unselected_suites_do_not_matter() -> None:
    with_extra = {**DURATIONS, "gone": 1000.0}
    assert plan(NINE, 3, with_extra) == plan(NINE, 3, DURATIONS)


def test_plans_are_deterministic_whatever_the_order_of_inputs() -> None:
    reversed_timings = dict(reversed(list(DURATIONS.items())))
    assert plan(NINE, 3, DURATIONS) == plan(list(NINE), 3, reversed_timings)
    ties = dict.fromkeys(DURATIONS, 5.0)
    first = plan(NINE, 4, ties)
    for _ in range(3):
        assert plan(NINE, 4, dict(reversed(list(ties.items())))) == first
    # equal durations break ties by name: a, b, c, d onto shards 1, 2, 3, 4, then e onto 1 ...
    assert next([s.name for s in part] for part in first) == ["suite-i", "suite-e", "suite-a"]
