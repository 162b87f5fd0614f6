"""An internal error: one line for the user, the traceback in a crash log.

A bug must not show a wall of traceback, and must not hide the traceback either: the user sees
`internal error: <type>: <message>` and the path of a file that holds the whole traceback, to
attach to a bug report. `--debug` prints the traceback as well.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hodei_e2e import __version__
from hodei_e2e.errors import ExitCode

debug = False  # --debug: the traceback is printed as well


def report_internal_error(error: BaseException, directory: Path | None = None) -> int:
    """`internal error: <type>: <message>` and where the traceback went; exit 70."""
    from hodei_e2e.console import Output

    path = write_crash_log(error, directory)
    if debug:
        import traceback

        traceback.print_exception(error)
    Output().error(describe(error), f"the traceback is in {path}; please attach it to a bug report")
    return ExitCode.INTERNAL


def crash_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hodei-e2e" / "crashes"


def write_crash_log(error: BaseException, directory: Path | None = None) -> Path:
    """Write the traceback of `error` to a new file and return its path (a temporary directory
    when the preferred one cannot be written)."""
    import tempfile
    import traceback

    text = (
        f"hodei-e2e {__version__}, pid {os.getpid()}, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n"
        + "".join(traceback.format_exception(error))
    )
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (directory or crash_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
        except OSError:
            continue
        return path
    return Path(os.devnull)


def describe(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"internal error: {type(error).__name__}: {message[0] if message else '(no message)'}"
