"""hodei-e2e's benchmark (issue 9; targets in DESIGN.md, "Performance targets").

Every scenario runs `--warmup` untimed times, then `--repeat` timed times, and prints
min/median/max; a final table compares the medians with the targets. Everything also goes to a
JSON file (default bench-results/bench.json) and a Markdown copy next to it (bench.md).

The tool always runs through its real CLI as a subprocess, timed by the wall clock around the
subprocess; where a run's time goes comes from its JSON report (`run --json`). testcontainers-
python, the baseline, runs in a subprocess as well (tc_postgres.py: interpreter, import,
container, ready, connect, stop), with its reaper disabled (its image cannot be pulled here).
Scenario dbcreate runs in-process against a server the tool's own functions start.

Scenarios (--only NAME[,NAME..]), one module per family:
  cold        a cold `run` of one trivial suite vs testcontainers handing out one Postgres
              (runs.py)
  suites      N trivial suites: one server (a database each) vs a container per suite
              (testcontainers, one after another) vs `--isolation container` (runs.py)
  warm        `run --reuse` with the server already up (runs.py)
  dbcreate    a suite database: plain, from a 20-table template (WAL_LOG, FILE_COPY), the
              migrations run directly instead, and the pre-created handout (databases.py)
  imagecheck  the image check with nothing changed (external.py runs image_check.py)
  cleanup     `hodei-e2e cleanup` of 50 orphaned containers (cleanup.py)
  startup     `--version`, `run --list`, and the peak memory of a run of 8 suites (startup.py)
  output      a suite's output: MB/s through a run against a file, the time 100 MB of output
              adds, peak RSS and report sizes for one 200 MB line (output.py)
  rust        examples/hodei-mini under `run` vs the seed script's sequence, cold and warm
              (external.py runs scripts/bench_rust.py)

Run it through scripts/bench (bootstrap, the bench extra, the local images; it runs
`python -m benchmark` with scripts/ on the path). Nothing is left behind: each scenario removes
its containers (by its labels) even when it fails.
"""
