"""The error hierarchy. Every failure the user can cause or meet carries its exit code.

The CLI catches `E2EError` in exactly one place and prints `str(error)`; a traceback is shown
only with `--debug`.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    SUITES_FAILED = 1
    USAGE = 2
    PREREQUISITE = 3
    INFRASTRUCTURE = 4
    INTERNAL = 70  # a bug: one line, a crash log with the traceback, the teardown still done
    SIGINT = 130
    SIGTERM = 143


class E2EError(Exception):
    """Base of every error the tool reports without a traceback."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # extra lines shown under the message (log tails, remedies)


def first_line(value: object, empty: str) -> str:
    """The first line of `value` (an exception or a message), or `empty` when it has none."""
    text = str(value).strip()
    return text.splitlines()[0] if text else empty


def last_lines(title: str, text: str, lines: int = 30) -> str:
    """An error's detail: `title:` and the last `lines` lines of `text` (a log, some output)."""
    body = "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"
    return f"{title}:\n{body}"


class UsageError(E2EError):
    """Bad command-line usage, or a command that is not available yet."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A configuration file that cannot be used; the message names file, line and key."""


class PrerequisiteError(E2EError):
    """Something the run needs is missing on this machine; the detail gives the remedy."""

    exit_code = ExitCode.PREREQUISITE


class InfrastructureError(E2EError):
    """An image build, Postgres or a service did not come up."""

    exit_code = ExitCode.INFRASTRUCTURE


class Interrupted(BaseException):
    """The run was stopped by a signal. A `BaseException`, like `KeyboardInterrupt`, so that no
    `except Exception` in a library swallows it."""

    def __init__(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}")
        self.message = f"interrupted by {name}"
        self.signum = signum
        self.exit_code = ExitCode.SIGTERM if signum == signal.SIGTERM else ExitCode.SIGINT
