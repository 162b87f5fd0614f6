"""The console script's entry point: signals first, then the CLI.

Importing the CLI (typer, rich) takes tens of milliseconds; a Ctrl-C in that time must end the
process quietly with 130, not print a `KeyboardInterrupt` traceback. So this module, which
imports next to nothing, installs the early handlers before anything heavy is imported.
"""

from __future__ import annotations

import os

from hodei_e2e import signals
from hodei_e2e.errors import Interrupted


def main() -> None:
    signals.install_early()
    try:
        with signals.catching():
            from hodei_e2e.cli import main as cli_main
    except Interrupted as stop:
        os._exit(stop.exit_code)
    cli_main()
