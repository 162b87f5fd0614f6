"""The teardown of a run: work stopped first, then resources undone in reverse, --keep decided
in one place, and everything undone even when one undo fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hodei_e2e.console import Output
from hodei_e2e.pipeline.teardown import Teardown


@contextmanager
def resource(done: list[str], name: str) -> Iterator[str]:
    yield name
    done.append(name)


def test_work_stops_before_any_resource_and_resources_go_in_reverse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done: list[str] = []
    teardown = Teardown(Output(), keep=False)
    teardown.releases(lambda: done.append("engine"))
    teardown.removes(lambda: done.append("containers"))
    assert teardown.holds(resource(done, "postgres")) == "postgres"
    teardown.working(resource(done, "background"))
    teardown.stops(lambda: done.append("prepare"))
    teardown.holds(resource(done, "services"))
    teardown.removes(lambda: done.append("databases"))
    teardown.close()
    assert done == [
        "prepare",
        "background",
        "databases",
        "services",
        "postgres",
        "containers",
        "engine",
    ]
    assert "✓ cleanup" in capsys.readouterr().err


def test_keep_skips_what_it_keeps_and_says_so_in_its_place() -> None:
    done: list[str] = []
    teardown = Teardown(Output(), keep=True)
    teardown.releases(lambda: done.append("engine"))
    teardown.removes(lambda: done.append("containers"))
    teardown.keeps(lambda: done.append("kept: postgres at 127.0.0.1:5432"))
    teardown.releases(lambda: done.append("lease"))
    teardown.unless_kept(lambda: done.append("a suite's database"))
    teardown.close()
    assert done == ["lease", "kept: postgres at 127.0.0.1:5432", "engine"]


def test_without_keep_nothing_is_said_to_be_kept() -> None:
    done: list[str] = []
    teardown = Teardown(Output(), keep=False)
    teardown.keeps(lambda: done.append("kept"))
    teardown.unless_kept(lambda: done.append("a suite's database"))
    teardown.close()
    assert done == ["a suite's database"]


def test_a_failing_undo_does_not_stop_the_others_and_is_raised_after_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done: list[str] = []

    def broken() -> None:
        raise RuntimeError("the engine went away")

    teardown = Teardown(Output(), keep=False)
    teardown.releases(lambda: done.append("engine"))
    teardown.releases(broken)
    teardown.releases(lambda: done.append("databases"))
    with pytest.raises(RuntimeError, match="the engine went away"):
        teardown.close()
    assert done == ["databases", "engine"]
    assert "✗ cleanup" in capsys.readouterr().err


def test_nothing_registered_shows_no_cleanup_line(capsys: pytest.CaptureFixture[str]) -> None:
    done: list[str] = []
    teardown = Teardown(Output(), keep=False)
    teardown.stops(lambda: done.append("background"))
    teardown.close()
    assert done == ["background"]
    assert "cleanup" not in capsys.readouterr().err
