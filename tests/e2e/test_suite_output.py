"""A suite's output as a user sees it through `hodei-e2e run` (issue 15), and a suite whose
descendant left its process group and holds its pipe (issue 13).

- a secret printed transformed (percent-encoded, JSON-escaped, base64) is masked in every sink:
  the terminal, the `::group::` and annotations, the step summary, JUnit, JSON, the log file;
- a very long line is cut with a marker in each of those, and whole in the log file;
- a timeout or a Ctrl-C ends on time and leaves no process behind, though a `setsid` grandchild
  holds the suite's pipe.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from support import Cli, DockerPs, find_watchdog, process_alive, script, wait_until

from hodei_e2e.engine.docker import Engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

SECRET = 'Pa$$ w/rd"€-hodei-15'
LONG = 100_000  # characters of the long line
FORMS = {
    "raw": SECRET,
    "quote": quote(SECRET),
    "quote (no safe)": quote(SECRET, safe=""),
    "quote_plus": quote_plus(SECRET),
    "JSON": json.dumps(SECRET)[1:-1],
    "JSON (UTF-8 kept)": json.dumps(SECRET, ensure_ascii=False)[1:-1],
    # what the masker must hide of `base64("user:" + secret)`: the secret's own characters
    "base64 (user:...)": base64.b64encode(f"user:{SECRET}".encode()).decode()[8:30],
}

LEAKY = """\
python3 - <<'EOF'
import base64, json, os
from urllib.parse import quote, quote_plus
secret = os.environ["PGPASSWORD"]
print("quote:", quote(secret))
print("quote safe='':", quote(secret, safe=""))
print("quote_plus:", quote_plus(secret))
print("json:", json.dumps({"password": secret}))
print("json utf-8:", json.dumps({"password": secret}, ensure_ascii=False))
print("basic auth:", base64.b64encode(("user:" + secret).encode()).decode())
print("split " + "and " * 5000 + "a long line: " + "x" * 100000 + " END")
EOF
echo "the end"
exit 1
"""


def test_encoded_secrets_are_masked_and_long_lines_cut_in_every_sink(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    cli.write_config(
        tmp_path,
        {"leaky": script(tmp_path, "leaky.sh", LEAKY)},
        postgres={"password": SECRET},
    )
    summary = tmp_path / "summary.md"
    summary.write_text("")
    result = cli.run(
        "run",
        "--junit",
        "junit.xml",
        "--json",
        "report.json",
        cwd=tmp_path,
        env={"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 1, result.explain()
    report = json.loads((tmp_path / "report.json").read_text())
    log = Path(report["suites"][0]["log"]).read_text()
    sinks = {
        "the terminal": result.stderr,
        "the ::group:: and annotations": result.stdout,
        "the step summary": summary.read_text(),
        "the JUnit file": (tmp_path / "junit.xml").read_text(),
        "the JSON report": (tmp_path / "report.json").read_text(),
        "the log file": log,
    }
    for sink, text in sinks.items():
        for form, value in FORMS.items():
            assert value not in text, f"the password ({form}) appears in {sink}"
    # the lines are there, masked (the checks above are not vacuous)
    assert 'json: {"password": "***"}' in log
    assert "quote_plus: ***" in log
    # the long line: whole in the log, cut with its marker everywhere else
    whole = next(line for line in log.splitlines() if line.startswith("split "))
    assert len(whole) > LONG
    assert whole.endswith(" END")
    marker = re.compile(r"… \[hodei-e2e: [\d,]+ bytes cut\]")
    for sink in ("the terminal", "the ::group:: and annotations", "the step summary"):
        text = sinks[sink]
        assert marker.search(text), f"no cut marker in {sink}"
        assert "x" * 5000 not in text, f"the long line is whole in {sink}"
        assert " END" not in text, sink
    junit = sinks["the JUnit file"]
    assert marker.search(junit)
    assert "x" * 5000 not in junit
    assert "::error" in result.stdout  # the annotation is there, its lines cut
    assert len(result.output) < 200_000


ESCAPING = """\
(setsid sh -c 'echo $$ > stray.pid.tmp && mv stray.pid.tmp stray.pid; exec sleep 40' &)
while [ ! -e stray.pid ]; do sleep 0.01; done
touch started
sleep 600
"""


@contextmanager
def stray_of(directory: Path) -> Iterator[int]:
    """The pid the suite's stray wrote; killed at the end should the run have left it."""
    stray = int((directory / "stray.pid").read_text())
    try:
        yield stray
    finally:
        if process_alive(stray):
            os.kill(stray, signal.SIGKILL)


def test_a_timeout_ends_on_time_though_a_grandchild_left_the_group(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    cli.write_config(
        tmp_path, {"escapes": {"command": script(tmp_path, "e.sh", ESCAPING), "timeout": "3s"}}
    )
    result = cli.run("run", "--json", "report.json", cwd=tmp_path, timeout=60)
    with stray_of(tmp_path) as stray:
        assert result.code == 1, result.explain()
        (suite,) = json.loads((tmp_path / "report.json").read_text())["suites"]
        assert (suite["status"], suite["reason"]) == ("timeout", "timed out after 3s")
        assert suite["duration"] < 3 + 2, suite  # 3 s, then everything goes at SIGTERM
        assert "timeout in 3." in result.stderr, result.explain()
        assert not process_alive(stray), "the setsid grandchild is still running"


def start_escaping(cli: Cli, directory: Path) -> tuple[Any, str]:
    """A run of the escaping suite, once the suite runs, and its project."""
    config = cli.write_config(directory, {"escapes": script(directory, "e.sh", ESCAPING)})
    process = cli.start("run", cwd=directory)
    process.wait_for((directory / "started").exists, "the suite to start")
    return process, config.project


def test_ctrl_c_ends_on_time_though_a_grandchild_left_the_group(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    process, _ = start_escaping(cli, tmp_path)
    with stray_of(tmp_path) as stray:
        assert process_alive(stray)
        process.send(signal.SIGINT)
        sent = time.monotonic()
        result = process.wait(30)
        took = time.monotonic() - sent
        assert result.code == 130, result.explain()
        assert took < 7.5, f"Ctrl-C to exit took {took:.1f}s"
        assert "Traceback" not in result.output
        assert not process_alive(stray), "the setsid grandchild is still running"


def test_after_kill_9_of_the_cli_the_watchdog_stops_a_grandchild_that_left_the_group(
    cli: Cli, engine: Engine, tmp_path: Path, docker_ps: DockerPs
) -> None:
    process, project = start_escaping(cli, tmp_path)
    watchdog = find_watchdog(process.pid)
    with stray_of(tmp_path) as stray:
        assert watchdog is not None
        assert process_alive(stray)
        os.kill(process.pid, signal.SIGKILL)
        process.proc.wait(timeout=10)
        assert wait_until(lambda: not process_alive(stray), timeout=10), (
            "the setsid grandchild outlived the run"
        )
        assert wait_until(lambda: not process_alive(watchdog), timeout=20)
        # its Postgres too (the engine may still be removing it when the watchdog is done)
        assert wait_until(lambda: not docker_ps(f"io.hodei.e2e.project={project}"), timeout=20)
        log = (tmp_path / ".hodei-e2e" / "watchdog.log").read_text(errors="replace")
        assert f"stopped process {stray} (" in log, log
