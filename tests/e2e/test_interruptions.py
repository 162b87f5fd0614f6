"""Interruptions and crashes at the edges: a signal while the CLI still imports, an internal error,
processes a dead run left running (also those that left their process group), lease files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from support import Cli, DockerPs, Scrub, WaitGone, process_alive, wait_until

from hodei_e2e.ownership.identity import process_start_token
from hodei_e2e.ownership.leases import lease_dir
from hodei_e2e.ownership.process_orphans import OWNER_ENV


def _caught_signals(pid: int) -> int:
    """The mask of signals `pid` has handlers for (SigCgt in /proc/PID/status), 0 when gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return int(line.split()[1], 16)


def _handler_or_exit(proc: subprocess.Popen[bytes], signals: int) -> int | None:
    """Whether `proc` has a handler for one of `signals` (a mask), or has exited."""
    return _caught_signals(proc.pid) & signals or proc.poll()


def test_sigint_while_the_cli_imports_exits_130_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C at any instant after the CLI's first line ran (the early handlers catch SIGTERM,
    which the interpreter alone does not) while it imports and parses: 130 or done already,
    never a traceback. The interpreter's own start, before a line of ours, is CPython's."""
    command = [sys.executable, "-m", "hodei_e2e", "run", "--list", "-c", "missing.yaml"]
    sigterm_bit = 1 << (signal.SIGTERM - 1)
    interrupted = 0
    for step in range(16):
        proc = subprocess.Popen(
            command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        wait_until(partial(_handler_or_exit, proc, sigterm_bit), 10, 0.0005)
        time.sleep(0.006 * step)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        text = stderr.decode(errors="replace")
        assert "Traceback" not in text, f"{0.006 * step:.3f}s after the handlers:\n{text}"
        assert "KeyboardInterrupt" not in text, text
        assert proc.returncode in (130, 2), (proc.returncode, text)  # 2: the config is missing
        interrupted += proc.returncode == 130
    assert interrupted >= 4, "no SIGINT landed while the CLI was starting"


def test_an_internal_error_is_one_line_and_a_crash_log_and_the_run_still_cleans_up(
    cli: Cli, tmp_path: Path, docker_ps: DockerPs
) -> None:
    config = cli.write_config(tmp_path, {"s": {"command": "sleep 30"}})
    result = cli.run("run", cwd=tmp_path, env={"HODEI_E2E_FAULTS": "suites=raise"})
    assert result.code == 70, result.explain()
    assert "internal error: InjectedFault: fault injected at suites" in result.stderr
    assert "Traceback" not in result.stderr
    line = next(line for line in result.stderr.splitlines() if "the traceback is in" in line)
    crash_log = Path(line.split("the traceback is in ", 1)[1].split(";")[0])
    assert "Traceback (most recent call last)" in crash_log.read_text(encoding="utf-8")
    assert crash_log.is_relative_to(tmp_path / ".hodei-e2e" / "runs")
    assert docker_ps(f"io.hodei.e2e.project={config.project}") == []


def test_debug_shows_the_traceback_of_an_internal_error(cli: Cli, tmp_path: Path) -> None:
    cli.write_config(tmp_path, {"s": {"command": "true"}})
    result = cli.run("--debug", "run", cwd=tmp_path, env={"HODEI_E2E_FAULTS": "suites=raise"})
    assert result.code == 70, result.explain()
    assert "Traceback (most recent call last)" in result.stderr


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_cleanup_stops_the_processes_of_a_run_that_is_gone(
    cli: Cli, tmp_path: Path, private_host: dict[str, str]
) -> None:
    """What a run started carries its owner token; once the owner is dead, `cleanup` stops it,
    and `--dry-run` only lists it. A live owner's processes are left alone. (A host name of the
    test's own: no other run on this machine may sweep the test's orphan first.)"""
    host = private_host["HODEI_E2E_TEST_HOSTNAME"]
    orphan = subprocess.Popen(
        ["sleep", "300"],
        env={**os.environ, OWNER_ENV: f"{host}:{_dead_pid()}:1"},
        start_new_session=True,
    )
    alive = subprocess.Popen(
        ["sleep", "300"],
        env={**os.environ, OWNER_ENV: f"{host}:{os.getpid()}:{process_start_token(os.getpid())}"},
        start_new_session=True,
    )
    try:
        listed = cli.run("cleanup", "--dry-run", "--json", cwd=tmp_path, env=private_host)
        assert listed.code == 0, listed.explain()
        assert f'"id": "{orphan.pid}"' in listed.stdout
        assert f'"id": "{alive.pid}"' not in listed.stdout
        assert process_alive(orphan.pid)
        removed = cli.run("cleanup", cwd=tmp_path, env=private_host)
        assert removed.code == 0, removed.explain()
        assert orphan.wait(timeout=10) == -signal.SIGTERM
        assert alive.poll() is None, "a live run's process was stopped"
    finally:
        for proc in (orphan, alive):
            proc.kill()
            proc.wait()


def test_after_kill_9_the_watchdog_stops_a_descendant_that_left_its_process_group(
    cli: Cli, tmp_path: Path, wait_gone: WaitGone
) -> None:
    flag, pidfile = tmp_path / "started", tmp_path / "escaped.pid"
    suite = f"setsid sleep 300 & echo $! > {pidfile}; touch {flag}; sleep 300"
    config = cli.write_config(tmp_path, {"s": {"command": suite}})
    process = cli.start("run", cwd=tmp_path)
    process.wait_for(lambda: flag.exists() and pidfile.exists(), "the suite")
    escaped = int(pidfile.read_text().strip())
    assert os.getpgid(escaped) != os.getpgid(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.proc.wait(timeout=10)
    assert wait_until(lambda: not process_alive(escaped), 10), "the escaped process still runs"
    assert wait_gone(f"io.hodei.e2e.project={config.project}", timeout=10) == []


def _lease_files(project: str) -> list[str]:
    return sorted(path.name for path in lease_dir().glob(f"hodei-e2e-{project}-*.lock"))


def test_lease_files_go_with_their_last_holder_and_cleanup_prunes_a_killed_ones(
    cli: Cli, tmp_path: Path, scrub: Scrub
) -> None:
    config = cli.write_config(tmp_path, {"s": {"command": "true"}}, postgres={"reuse": True})
    scrub.projects.add(config.project)
    scrub.finalizers.append(
        lambda: cli.run("cleanup", "--all", "-c", str(config.path), cwd=tmp_path)
    )
    first = cli.run("run", cwd=tmp_path)
    assert first.code == 0, first.explain()
    assert _lease_files(config.project) == [], "a lease file outlived its only holder"
    flag = tmp_path / "started"
    cli.write_config(
        tmp_path,
        {"s": {"command": f"touch {flag}; sleep 300"}},
        postgres={"reuse": True},
        project=config.project,
    )
    killed = cli.start("run", cwd=tmp_path)
    killed.wait_for(flag.exists, "the suite")
    assert len(_lease_files(config.project)) == 1
    os.kill(killed.pid, signal.SIGKILL)
    killed.proc.wait(timeout=10)
    done = cli.run("cleanup", "-c", str(config.path), cwd=tmp_path)
    assert done.code == 0, done.explain()
    assert _lease_files(config.project) == []
