"""Lines cut with a marker, and a byte stream split into lines in bounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from hodei_e2e.suites.lines import Block, LineSplitter, cut_line, cut_lines, last_lines


def test_a_short_line_is_left_alone() -> None:
    assert cut_line("short", 10) == "short"
    assert cut_line("x" * 10, 10) == "x" * 10


def test_a_long_line_is_cut_with_a_marker_saying_how_much_went() -> None:
    assert cut_line("a" * 10_010, 10) == "a" * 10 + "… [hodei-e2e: 10,000 bytes cut]"


def test_cutting_a_cut_line_again_keeps_one_marker_with_the_total() -> None:
    once = cut_line("b" * 1000, 100)
    assert cut_line(once, 10) == "b" * 10 + "… [hodei-e2e: 990 bytes cut]"
    assert cut_line(once, 100) == once  # already short enough


def test_cut_lines_cuts_each_line() -> None:
    assert cut_lines("ok\n" + "c" * 20 + "\nok", 5) == "ok\nccccc… [hodei-e2e: 15 bytes cut]\nok"


def feed_all(splitter: LineSplitter, pieces: list[bytes]) -> list[str]:
    lines: list[str] = []
    for piece in pieces:
        lines += splitter.feed(piece).all()
    return lines + splitter.finish().all()


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_lines_come_out_whole_whatever_the_reads(size: int) -> None:
    data = "one\ntwo\r\n\nthree €uro\nlast".encode()
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    assert feed_all(LineSplitter(), pieces) == ["one", "two", "", "three €uro", "last"]


def test_a_huge_line_is_held_cut_however_many_reads_it_takes() -> None:
    splitter = LineSplitter(limit=100)
    for _ in range(1000):
        assert not splitter.feed(b"z" * 10_000)
        assert len(splitter._head) <= 100 + 3  # bounded: never the whole line
    (line,) = splitter.feed(b"z\nnext\n").all()[:1]
    assert line == "z" * 100 + "… [hodei-e2e: 9,999,901 bytes cut]"


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert feed_all(LineSplitter(), [b"bad \xff\xfe bytes\n"]) == ["bad \ufffd\ufffd bytes"]


def test_a_block_gives_its_last_lines_and_those_holding_a_word() -> None:
    data = b"a\ntest result: ok\nb\n=== 1 passed in 0.1s ===\nc\n"
    block = Block(data, 0, len(data), limit=8)
    assert block.last(2) == ["=== 1 pa… [hodei-e2e: 16 bytes cut]", "c"]
    assert block.last(99)[0] == "a"
    assert block.containing(b"test result:") == ["test res… [hodei-e2e: 7 bytes cut]"]
    assert len(block) == 5
    assert Block().last(3) == []


def test_last_lines_of_a_file_are_bounded(tmp_path: Path) -> None:
    log = tmp_path / "suite.log"
    log.write_bytes(b"first\n" + b"y" * 5_000_000 + b"\nsecond\nthird")
    lines, before = last_lines(log, 2, limit=50)
    assert lines == ["second", "third"]
    assert before == 2
    lines, before = last_lines(log, 5, limit=50)
    assert lines[1] == "y" * 50 + "… [hodei-e2e: 4,999,950 bytes cut]"
    assert before == 0


def test_a_cut_never_splits_a_character() -> None:
    line = ("€" * 10).encode()  # 3 bytes each
    assert cut_line("€" * 10, 10) == "€€€… [hodei-e2e: 21 bytes cut]"
    splitter = LineSplitter(limit=10)
    assert splitter.feed(line[:4]).all() == []
    assert splitter.feed(line[4:] + b"\nok\n").all() == ["€€€… [hodei-e2e: 21 bytes cut]", "ok"]


def test_the_last_lines_of_a_block_count_the_line_begun_earlier() -> None:
    splitter = LineSplitter()
    splitter.feed(b"begun ")
    block = splitter.feed(b"earlier\nsecond\n")
    assert block.last(1) == ["second"]
    assert block.last(2) == ["begun earlier", "second"]
    assert block.last(9) == ["begun earlier", "second"]
    assert len(block) == 2


def test_a_blocks_distinct_lines_in_the_order_they_first_come() -> None:
    splitter = LineSplitter(limit=5)
    splitter.feed(b"a ")
    block = splitter.feed(b"b\nx\r\ny\nx\na b\n" + b"z" * 8 + b"1\n" + b"z" * 8 + b"2\n")
    cut = "zzzzz… [hodei-e2e: 4 bytes cut]"
    assert block.all() == ["a b", "x", "y", "x", "a b", cut, cut]
    assert block.distinct() == ["a b", "x", "y", cut]  # `x\r` is `x`; both cuts are one line
