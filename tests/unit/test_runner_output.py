"""Per-test results from a runner's output: real `cargo test` output of the fixture crate
(tests/fixtures/libtest-crate, captured in tests/fixtures/libtest/*.txt), and the forms it does
not print on this toolchain (the old panic format, slow tests, one test thread) written out."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hodei_e2e.report.results import Diagnostic, Status, TestResult
from hodei_e2e.suites.lines import LineSplitter
from hodei_e2e.suites.test_parser import OutputParser, Parsed

FIXTURES = Path(__file__).parents[1] / "fixtures"
CRATE = FIXTURES / "libtest-crate"
IN_REPO = "tests/fixtures/libtest-crate/"  # the crate's files, relative to the repository root


def parse(text: str, workdir: Path = CRATE, root: Path | None = None) -> Parsed:
    parser = OutputParser()
    for line in text.splitlines():
        parser.feed(line)
    return parser.finish(workdir, root)


def captured(name: str) -> str:
    return (FIXTURES / "libtest" / name).read_text(encoding="utf-8")


def brief(tests: tuple[TestResult, ...]) -> list[tuple[str, str, str]]:
    return [(test.binary, test.name, test.status.value) for test in tests]


EVERY_TEST = [
    ("libtest_fixture", "tests::unit_passes", "passed"),
    ("e2e_math", "adds_up", "passed"),
    ("e2e_math", "answer_is_off_by_one", "failed"),
    ("e2e_math", "ignored_plain", "skipped"),
    ("e2e_math", "ignored_with_reason", "skipped"),
    ("e2e_panics", "panics_with_two_lines", "failed"),
    ("e2e_panics", "prints_then_passes", "passed"),
    ("libtest_fixture.doctests", "src/lib.rs - answer (line 5)", "passed"),
]


@pytest.mark.parametrize("fixture", ["cargo-test.txt", "cargo-test-nocapture.txt"])
def test_every_test_of_every_binary_with_the_failures_located(fixture: str) -> None:
    parsed = parse(captured(fixture))
    assert brief(parsed.tests) == EVERY_TEST
    tests = {test.name: test for test in parsed.tests}
    off = tests["answer_is_off_by_one"]
    assert off.message == (
        "assertion `left == right` failed: the answer is off by one\n  left: 42\n right: 41"
    )
    assert (off.file, off.line) == (IN_REPO + "tests/e2e_math.rs", 11)
    assert "panicked at tests/e2e_math.rs:11:5:" in off.output
    two = tests["panics_with_two_lines"]
    assert two.message == "first line of the message\nsecond line"
    assert (two.file, two.line) == (IN_REPO + "tests/e2e_panics.rs", 9)
    assert tests["ignored_with_reason"].message == "needs a GPU"
    assert tests["ignored_plain"].message == ""
    doc = tests["src/lib.rs - answer (line 5)"]
    assert (doc.file, doc.line) == (IN_REPO + "src/lib.rs", 5)
    assert parsed.running == ()
    assert parsed.diagnostic is None


def test_a_captured_failure_keeps_its_own_output_block() -> None:
    tests = {test.name: test for test in parse(captured("cargo-test.txt")).tests}
    output = tests["answer_is_off_by_one"].output.splitlines()
    assert output[0] == "checking the answer"  # what the test printed before it panicked
    assert output[-1].startswith("note: run with `RUST_BACKTRACE=1`")
    assert "some stderr before the panic" in tests["panics_with_two_lines"].output
    assert "checking the answer" not in tests["panics_with_two_lines"].output


def test_a_block_of_a_test_that_printed_nothing_starts_at_its_panic() -> None:
    # libtest writes an empty line before a captured panic: with nothing printed before it, the
    # block would open with that line (and the console's failure block with a blank line)
    text = textwrap.dedent(
        """\
        running 1 test
        test quiet_failure ... FAILED

        failures:

        ---- quiet_failure stdout ----

        thread 'quiet_failure' (11798) panicked at tests/e2e_math.rs:11:5:
        off by one

        failures:
            quiet_failure

        test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out
        """
    )
    (test,) = parse(text).tests
    assert test.output.splitlines()[0].startswith("thread 'quiet_failure' (11798) panicked at")
    assert test.message == "off by one"


def test_a_build_error_is_the_first_compiler_error_and_where_it_points() -> None:
    parsed = parse(captured("cargo-build-error.txt"))
    assert parsed.tests == ()
    assert parsed.diagnostic == Diagnostic(
        "expected `;`, found `}`", IN_REPO + "tests/e2e_broken.rs", 3
    )


def test_paths_are_found_from_a_member_crate_up_to_the_workspace_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    member = tmp_path / "rust" / "crates" / "server"
    (member / "tests").mkdir(parents=True)
    (member / "tests" / "e2e.rs").write_text("")
    text = textwrap.dedent("""\
        running 1 test
        test it_works ... FAILED

        failures:

        ---- it_works stdout ----
        thread 'it_works' panicked at crates/server/tests/e2e.rs:3:5:
        boom
    """)
    # rustc prints paths from the workspace root (rust/), the suite runs in the member crate
    (test,) = parse(text, workdir=member).tests
    assert (test.binary, test.file, test.line) == ("", "rust/crates/server/tests/e2e.rs", 3)


def test_the_old_panic_format_single_and_multi_line() -> None:
    text = textwrap.dedent("""\
             Running tests/old.rs (target/debug/deps/old-0123456789abcdef)

        running 2 tests
        test one ... FAILED
        test two ... FAILED

        failures:

        ---- one stdout ----
        thread 'one' panicked at 'assertion failed: `(left == right)`
          left: `1`,
         right: `2`', tests/old.rs:4:5
        note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

        ---- two stdout ----
        thread 'two' panicked at 'short', tests/old.rs:9:5


        failures:
            one
            two

        test result: FAILED. 0 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out
    """)
    one, two = parse(text).tests
    assert one.binary == "old"
    assert one.message == "assertion failed: `(left == right)`\n  left: `1`,\n right: `2`"
    assert (one.file, one.line) == (IN_REPO + "tests/old.rs", 4)
    assert (two.message, two.file, two.line) == ("short", IN_REPO + "tests/old.rs", 9)


def test_slow_tests_and_a_single_thread_test_without_result_are_still_running() -> None:
    text = textwrap.dedent("""\
             Running tests/slow.rs (target/debug/deps/slow-0123456789abcdef)

        running 3 tests
        test quick ... ok
        test stuck has been running for over 60 seconds
        test hangs ...\x20
    """)
    parsed = parse(text)
    assert brief(parsed.tests) == [("slow", "quick", "passed")]
    assert parsed.running == ("slow::stuck", "slow::hangs")


def test_one_test_thread_with_nocapture_puts_the_result_after_the_output() -> None:
    text = textwrap.dedent("""\
        running 2 tests
        test first ... starting up
        thread 'main' panicked at src/lib.rs:20:9:
        not ready
        FAILED
        test second ... ok
    """)
    first, second = parse(text).tests
    assert (first.name, first.status, first.message) == ("first", Status.FAILED, "not ready")
    assert (first.file, first.line) == (IN_REPO + "src/lib.rs", 20)
    assert (second.name, second.status) == ("second", Status.PASSED)


def test_nocapture_result_run_into_another_threads_line() -> None:
    """Real `cargo test -- --nocapture` output (the fixture's e2e_panics): `ok` and the other
    thread's panic note share a line."""
    text = textwrap.dedent("""\
        running 2 tests
        some stderr before the panic
        hello from a passing test
        test prints_then_passes ...\x20
        thread 'panics_with_two_lines' (9533) panicked at tests/e2e_panics.rs:9:5:
        first line of the message
        second line
        oknote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

        test panics_with_two_lines ... FAILED
    """)
    parsed = parse(text)
    assert brief(parsed.tests) == [
        ("", "prints_then_passes", "passed"),
        ("", "panics_with_two_lines", "failed"),
    ]
    assert parsed.tests[1].message == "first line of the message\nsecond line"
    assert parsed.running == ()


def test_nocapture_result_and_another_threads_line_after_the_test_line() -> None:
    text = textwrap.dedent("""\
        running 2 tests
        thread 'panics_with_two_lines' (12815) panicked at tests/e2e_panics.rs:9:5:
        first line of the message
        second line
        test prints_then_passes ... oknote: run with `RUST_BACKTRACE=1` environment variable

        test panics_with_two_lines ... FAILED
    """)
    parsed = parse(text)
    assert brief(parsed.tests) == [
        ("", "prints_then_passes", "passed"),
        ("", "panics_with_two_lines", "failed"),
    ]
    assert parsed.tests[1].message == "first line of the message\nsecond line"


def test_colours_are_ignored() -> None:
    text = (
        "\x1b[1m\x1b[92m     Running\x1b[0m tests/c.rs (target/debug/deps/c-0123456789abcdef)\n"
        "running 1 test\n"
        "test painted ... \x1b[32mok\x1b[0m\n"
    )
    assert brief(parse(text).tests) == [("c", "painted", "passed")]


def test_output_that_only_looks_like_libtest_inside_a_block_stays_output() -> None:
    text = textwrap.dedent("""\
        running 1 test
        test talks ... FAILED

        failures:

        ---- talks stdout ----
        test fake ... ok
        running 99 tests
        thread 'talks' panicked at tests/t.rs:2:1:
        real message

        failures:
            talks
    """)
    (test,) = parse(text).tests
    assert test.name == "talks"
    assert test.message == "real message"
    assert "test fake ... ok" in test.output


def test_pytest_short_summary() -> None:
    text = textwrap.dedent("""\
        tests/test_api.py .Fs                                                    [100%]
        =========================== short test summary info ============================
        PASSED tests/test_api.py::test_ok
        FAILED tests/test_api.py::test_fail - assert 1 == 2
        SKIPPED [1] tests/test_api.py:9: later
        ==================== 1 failed, 1 passed, 1 skipped in 0.03s ====================
    """)
    tests = parse(text).tests
    assert [(t.binary, t.name, t.status.value, t.message) for t in tests] == [
        ("tests/test_api.py", "test_ok", "passed", ""),
        ("tests/test_api.py", "test_fail", "failed", "assert 1 == 2"),
        ("", "tests/test_api.py:9", "skipped", "later"),
    ]
    assert tests[1].file == IN_REPO + "tests/test_api.py"


def test_plain_output_gives_no_tests() -> None:
    parsed = parse("hello\ntest that is not a test line\nPASSED nothing\n")
    assert parsed == Parsed()


def test_a_huge_output_block_keeps_its_last_lines() -> None:
    parser = OutputParser()
    for line in ["running 1 test", "test big ... FAILED", "failures:", "---- big stdout ----"]:
        parser.feed(line)
    for index in range(100_000):
        parser.feed(f"line {index}")
    (test,) = parser.finish(CRATE).tests
    lines = test.output.splitlines()
    assert len(lines) <= 400
    assert lines[-1] == "line 99999"


MANY_PASSING = (
    "     Running tests/e2e_a.rs (target/debug/deps/e2e_a-0123456789abcdef)\n\nrunning 3 tests\n"
    + "test a::one ... ok\nsome log line\ntest a::two ... ok\n" * 400
    + "\x1b[32mtest a::coloured ... ok\x1b[0m\n"
    + "test a::three ... FAILED\n\nfailures:\n\n---- a::three stdout ----\n"
    + "thread 'a::three' (7) panicked at tests/e2e_a.rs:3:5:\nboom\n\nfailures:\n    a::three\n\n"
    + "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\n"
    + "     Running tests/e2e_b.rs (target/debug/deps/e2e_b-0123456789abcdef)\n\n"
    + "test a::one ... ok\n" * 300
    + "test odd ... ok ... ok\ntest with_reason ... ok, not really\nlatest news\n"
    + "===== short test summary info =====\nPASSED tests/x.py::t\n"
)


@pytest.mark.parametrize("name", ["cargo-test.txt", "cargo-test-nocapture.txt", "many-passing"])
@pytest.mark.parametrize("read", [5, 97, 4096, 1 << 20])
def test_reading_blocks_finds_what_reading_line_by_line_finds(name: str, read: int) -> None:
    # the suite's output path hands the parser blocks of whatever a read gave; a block whose
    # only lines of note pass is recorded in bulk, which must come to the same
    text = MANY_PASSING if name == "many-passing" else captured(name)
    parser, splitter, data = OutputParser(), LineSplitter(), text.encode()
    for at in range(0, len(data), read):
        parser.feed_block(splitter.feed(data[at : at + read]))
    parser.feed_block(splitter.finish())
    by_blocks = parser.finish(CRATE)
    assert by_blocks == parse(text)
    assert by_blocks.tests  # the text has tests: the comparison is not of two empty results
