"""`hodei-e2e run`: plan the run from the config and the selection, then execute its steps."""

from __future__ import annotations

from hodei_e2e.console import Output
from hodei_e2e.pipeline.plan import RunOptions, plan_run
from hodei_e2e.pipeline.steps import execute


def run_command(options: RunOptions) -> int:
    out = Output(verbosity=options.verbosity)
    return execute(plan_run(options), out)
