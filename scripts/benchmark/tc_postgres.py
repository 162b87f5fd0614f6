"""The baseline of the benchmark: start, connect to and stop COUNT PostgresContainers in turn
with testcontainers-python, one after another, in this process.

Run as a file (its start-up is part of what is measured, so it imports nothing else of the
benchmark): python tc_postgres.py IMAGE COUNT PROJECT strip|keep. Prints one JSON line: the
import time, each container's start / ready / total seconds, and the stops that failed.
"""

from __future__ import annotations

import json
import sys
import time

T0 = time.perf_counter()
import psycopg  # noqa: E402 - timed: the import is part of the baseline

try:
    from testcontainers.community.postgres import PostgresContainer
except ImportError:  # releases before the community package
    from testcontainers.postgres import PostgresContainer

IMPORTED = time.perf_counter()


def strip_testcontainers_labels() -> None:
    """Without its org.testcontainers labels, no hodei-e2e run on this engine takes the
    container for a Testcontainers leftover of its own and removes it. Labels cost nothing to
    set."""
    from testcontainers.core import docker_client
    from testcontainers.core.labels import create_labels

    def labels_without_tc(image: str, labels: dict[str, str] | None) -> dict[str, str]:
        made = create_labels(image, labels)
        return {k: v for k, v in made.items() if not k.startswith("org.testcontainers")}

    docker_client.create_labels = labels_without_tc  # type: ignore[attr-defined,unused-ignore]


def main(image: str, count: int, project: str, strip: bool) -> None:
    if strip:
        strip_testcontainers_labels()
    labels = {"io.hodei.bench": "true", "io.hodei.bench.project": project}
    runs, stop_errors = [], []
    for _ in range(count):
        begin = time.perf_counter()
        container = PostgresContainer(image, driver=None, labels=labels)
        try:
            container.start()
            started = time.perf_counter()
            with psycopg.connect(container.get_connection_url(), connect_timeout=10) as conn:
                conn.execute("SELECT 1")  # the trivial suite's work
            ready = time.perf_counter()
        finally:
            try:
                container.stop()
            except Exception as error:  # removed under it by another process: still measured
                stop_errors.append(str(error)[:200])
        runs.append(
            {"start": started - begin, "ready": ready - begin, "total": time.perf_counter() - begin}
        )
    print(json.dumps({"import": IMPORTED - T0, "runs": runs, "stop_errors": stop_errors}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "strip")
