"""GitHub Actions: groups, annotations, the step summary and the step outputs, to the byte."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from hodei_e2e.report.github import (
    SUMMARY_BUDGET,
    GitHubReporter,
    escape_data,
    escape_property,
    in_github_actions,
)
from hodei_e2e.report.results import Status, SuiteResult
from hodei_e2e.report.results import TestCounts as Counts
from hodei_e2e.suites.lines import strip_ansi

RESULTS = [
    SuiteResult("api", Status.PASSED, duration=1.234, exit_code=0, counts=Counts(3, 0, 0)),
    SuiteResult(
        "docker-provider",
        Status.FAILED,
        duration=12.5,
        exit_code=1,
        reason="exit status 1",
        tail=(
            "running 2 tests",
            "\x1b[31mtest a ... FAILED\x1b[0m",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored",
        ),
        counts=Counts(1, 1, 0),
        log_path=Path("/nonexistent/docker-provider.log"),
    ),
    SuiteResult(
        "slow",
        Status.TIMEOUT,
        duration=60.0,
        exit_code=-15,
        reason="timed out after 60s",
        tail=("waiting 50%\rwaiting 100%", "a|b <c> ```x```"),
    ),
    SuiteResult("redis", Status.SKIPPED, reason="needs redis, which failed to start"),
]

SUMMARY = """\
## hodei-e2e: hodei-demo, shard 1/3

❌ **4 suite(s): 1 passed, 1 failed, 1 timeout, 1 skipped** in 75.50s

| Suite | Status | Duration | Tests | Reason |
| --- | --- | ---: | --- | --- |
| api | ✅ passed | 1.23s | 3 passed, 0 failed |  |
| docker-provider | ❌ failed | 12.50s | 1 passed, 1 failed | exit status 1 |
| slow | ⏱️ timeout | 60.00s |  | timed out after 60s |
| redis | ⏭️ skipped | 0.00s |  | needs redis, which failed to start |

<details><summary>docker-provider: failed (exit status 1), last 3 line(s) of the log</summary>

```text
running 2 tests
test a ... FAILED
test result: FAILED. 1 passed; 1 failed; 0 ignored
```

</details>

<details><summary>slow: timeout (timed out after 60s), last 2 line(s) of the log</summary>

````text
waiting 100%
a|b <c> ```x```
````

</details>
"""

ANNOTATIONS = [
    "::error title=docker-provider failed::exit status 1 (log: /nonexistent/docker-provider.log)"
    "%0Arunning 2 tests%0Atest a ... FAILED%0Atest result: FAILED. 1 passed; 1 failed; 0 ignored",
    "::error title=slow timeout::timed out after 60s%0Awaiting 100%25%0Aa|b <c> ```x```",
]

OUTPUTS = """\
passed=1
failed=2
skipped=1
junit=out/junit.xml
json=out/run.json
logs=.hodei-e2e/runs/abc
"""

REPORTS = {
    "junit": Path("out/junit.xml"),
    "json": Path("out/run.json"),
    "logs": Path(".hodei-e2e/runs/abc"),
}


def reporter() -> GitHubReporter:
    return GitHubReporter(token=lambda: "T0KEN")


def test_detects_github_actions() -> None:
    assert in_github_actions({"GITHUB_ACTIONS": "true"})
    assert not in_github_actions({"GITHUB_ACTIONS": "false"})
    assert not in_github_actions({"CI": "true"})


def test_step_summary_exact_content() -> None:
    text = reporter().step_summary(RESULTS, title="hodei-demo, shard 1/3", wall=75.5)
    assert text == SUMMARY
    assert "\x1b" not in text


def test_step_summary_verdicts() -> None:
    passed = reporter().step_summary(RESULTS[:1], title="t", wall=1.0)
    assert "✅ **1 suite(s): 1 passed** in 1.00s" in passed
    stopped = [SuiteResult("a", Status.INTERRUPTED, reason="the run was interrupted")]
    assert "⚠️ **1 suite(s): 1 interrupted**" in reporter().step_summary(stopped, title="t", wall=0)
    empty = reporter().step_summary([], title="hodei, shard 4/4", wall=0.25)
    assert empty == "## hodei-e2e: hodei, shard 4/4\n\n✅ **0 suite(s): no suites** in 0.25s\n"


def test_write_summary_appends(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# earlier step\n", encoding="utf-8")
    text = reporter().step_summary(RESULTS, title="hodei-demo, shard 1/3", wall=75.5)
    GitHubReporter.write_summary(path, text)
    assert path.read_text(encoding="utf-8") == "# earlier step\n" + SUMMARY


def test_outputs_exact_content(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=1\n")
    GitHubReporter.write_outputs(path, RESULTS, REPORTS)
    assert path.read_text() == "earlier=1\n" + OUTPUTS
    assert GitHubReporter.outputs([]) == "passed=0\nfailed=0\nskipped=0\n"


def test_outputs_use_a_delimiter_only_for_multiline_values() -> None:
    text = GitHubReporter.outputs([], {"notes": "one\ntwo", "plain": "x=y"})
    match = re.fullmatch(
        r"passed=0\nfailed=0\nskipped=0\nnotes<<(ghadelimiter_[0-9a-f]{32})\none\ntwo\n\1\n"
        r"plain=x=y\n",
        text,
    )
    assert match, text


def test_errored_suites_count_as_failed() -> None:
    results = [SuiteResult("a", Status.ERROR, reason="database creation failed")]
    assert GitHubReporter.outputs(results).startswith("passed=0\nfailed=1\n")
    assert GitHubReporter().annotations(results) == [
        "::error title=a error::database creation failed"
    ]


# -- annotations -----------------------------------------------------------------------------------


def test_annotations_exact_content() -> None:
    assert reporter().annotations(RESULTS) == ANNOTATIONS


def test_escaping_follows_the_actions_toolkit() -> None:
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext%3A a%2C b"
    # `%` first, so an escape is never escaped twice
    assert escape_data("%0A") == "%250A"


def test_annotation_properties_and_message_are_escaped() -> None:
    result = SuiteResult(
        "db,slow",
        Status.FAILED,
        reason="exit: 100%",
        tail=("line one\r", "\x1b[1;31mboom\x1b[0m: 3, 4"),
    )
    (line,) = GitHubReporter().annotations([result])
    assert line == "::error title=db%2Cslow failed::exit: 100%25%0Aline one%0Aboom: 3, 4"
    assert "\n" not in line
    assert "\r" not in line


def test_annotation_message_keeps_the_end_of_a_long_tail() -> None:
    result = SuiteResult("big", Status.FAILED, reason="r", tail=tuple("x" * 900 for _ in range(30)))
    (line,) = GitHubReporter().annotations([result])
    message = line.split("::", 2)[2]
    assert len(message) < 4100
    assert message.startswith("…")


def test_at_most_ten_error_annotations_then_one_that_says_how_many_more() -> None:
    results = [SuiteResult(f"s{i:02d}", Status.FAILED, reason="exit status 1") for i in range(13)]
    results.insert(5, SuiteResult("ok", Status.PASSED))
    lines = GitHubReporter().annotations(results)
    assert len(lines) == 11
    assert [line.split("::")[1] for line in lines[:10]] == [
        f"error title=s{i:02d} failed" for i in range(10)
    ]
    assert lines[10] == (
        "::warning title=hodei-e2e%3A more failures::3 more suite(s) failed, not annotated "
        "because GitHub keeps 10 error annotations per step: s10, s11, s12. See the job summary."
    )


def test_exactly_ten_failures_need_no_extra_line() -> None:
    results = [SuiteResult(f"s{i}", Status.TIMEOUT, reason="t") for i in range(10)]
    assert len(GitHubReporter().annotations(results)) == 10


# -- groups ----------------------------------------------------------------------------------------


def test_suite_block_from_the_tail_when_there_is_no_log() -> None:
    assert reporter().suite_block(RESULTS[1]) == (
        "::group::docker-provider: failed in 12.50s, 1 passed, 1 failed (exit status 1)\n"
        "::stop-commands::T0KEN\n"
        "hodei-e2e: failed: exit status 1\n"
        "running 2 tests\n"
        "test a ... FAILED\n"
        "test result: FAILED. 1 passed; 1 failed; 0 ignored\n"
        "::T0KEN::\n"
        "::endgroup::\n"
    )


def test_suite_block_reads_the_log_file_and_fences_off_workflow_commands(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text(
        "\x1b[32mok\x1b[0m\n::error::not ours\n::endgroup::\nprogress 10%\rprogress 100%\n"
    )
    result = SuiteResult("api", Status.PASSED, duration=2.0, exit_code=0, log_path=log)
    assert reporter().suite_block(result) == (
        "::group::api: passed in 2.00s\n"
        "::stop-commands::T0KEN\n"
        "ok\n"
        "::error::not ours\n"
        "::endgroup::\n"
        "progress 100%\n"
        "::T0KEN::\n"
        "::endgroup::\n"
    )


def test_suite_block_shows_the_end_of_a_long_log(tmp_path: Path) -> None:
    log = tmp_path / "long.log"
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    result = SuiteResult("long", Status.PASSED, exit_code=0, log_path=log)
    block = GitHubReporter(token=lambda: "T", group_max_lines=3).suite_block(result)
    assert block.splitlines()[2:-2] == [
        f"hodei-e2e: 7 earlier line(s) not shown; see {log}",
        "line 7",
        "line 8",
        "line 9",
    ]


def test_a_suite_without_output_is_an_empty_group() -> None:
    result = SuiteResult("quiet", Status.PASSED, exit_code=0)
    assert reporter().suite_block(result) == "::group::quiet: passed in 0.00s\n::endgroup::\n"


def test_group_title_is_escaped_and_plain() -> None:
    assert reporter().group_start("a\nb \x1b[1m50%\x1b[0m") == "::group::a%0Ab 50%25"
    assert reporter().group_end() == "::endgroup::"


def test_print_suite_writes_one_block_per_call() -> None:
    stream = io.StringIO()
    github = GitHubReporter(stream, token=lambda: "T")
    github.print_suite(RESULTS[0])
    github.print_suite(RESULTS[3])
    assert stream.getvalue() == (
        "::group::api: passed in 1.23s, 3 passed, 0 failed\n::endgroup::\n"
        "::group::redis: skipped in 0.00s (needs redis, which failed to start)\n"
        "::stop-commands::T\n"
        "hodei-e2e: skipped: needs redis, which failed to start\n"
        "::T::\n"
        "::endgroup::\n"
    )


# -- limits ----------------------------------------------------------------------------------------


def test_summary_stays_under_the_budget_and_keeps_the_whole_table() -> None:
    megabyte_tail = tuple(f"{i:04d} " + "y" * 5000 for i in range(200))  # ~1 MB per suite
    results = [
        SuiteResult(f"suite-{i:02d}", Status.FAILED, reason="exit status 1", tail=megabyte_tail)
        for i in range(50)
    ]
    text = reporter().step_summary(results, title="big", wall=1.0)
    size = len(text.encode("utf-8"))
    assert size <= SUMMARY_BUDGET < 1024 * 1024
    table = [line for line in text.splitlines() if line.startswith("| suite-")]
    assert table == [f"| suite-{i:02d} | ❌ failed | 0.00s |  | exit status 1 |" for i in range(50)]
    # tails are shortened, still ending with each suite's last line, and shared fairly
    assert text.count("<details>") == 50
    assert text.count("shortened to fit the summary") == 50
    assert text.count("0199 yyy") == 50
    assert size > SUMMARY_BUDGET * 0.9  # the room is used, not thrown away


def test_tails_are_left_out_before_the_table_is_touched() -> None:
    tail = tuple("z" * 400 for _ in range(40))
    results = [SuiteResult(f"s{i}", Status.FAILED, reason="x", tail=tail) for i in range(30)]
    text = reporter().step_summary(results, title="t", wall=0, budget=6000)
    assert len(text.encode()) <= 6000
    assert all(f"| s{i} | ❌ failed" in text for i in range(30))
    assert "failure tail(s) left out to stay under GitHub's 1 MiB summary limit" in text


def test_summary_cells_cannot_break_the_table() -> None:
    result = SuiteResult("a", Status.FAILED, reason="bad | pipe\nand <b>html</b> " + "r" * 300)
    text = reporter().step_summary([result], title="t", wall=0)
    row = next(line for line in text.splitlines() if line.startswith("| a |"))
    assert "bad \\| pipe and &lt;b&gt;html&lt;/b&gt; " in row
    assert row.endswith("… |")
    assert len(row) < 300


@pytest.mark.parametrize(
    "text", ["\x1b[1;31mred\x1b[0m", "\x1b]8;;http://x\x1b\\red\x1b]8;;\x1b\\"]
)
def test_strip_ansi(text: str) -> None:
    assert strip_ansi(text) == "red"


def test_secrets_are_masked_even_inside_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    from hodei_e2e.masking import Masker

    masker = Masker()  # not the process-wide one: it keeps what is added for good
    masker.add("hunter22")
    monkeypatch.setattr("hodei_e2e.report.github.masker", masker)
    result = SuiteResult("a", Status.FAILED, reason="r", tail=("pw=hun\x1b[0mter22",))
    github = reporter()
    everything = "\n".join(
        [
            *github.annotations([result]),
            github.step_summary([result], title="t", wall=0),
            github.suite_block(result),
        ]
    )
    assert "hunter22" not in everything
    assert everything.count("pw=***") == 3
