"""Starts a worker container the way the platform's DockerProvider does, and waits for it to
call back to a server that this suite runs on the host, at HODEI_SERVER_HOST.

The worker is labelled hodei.managed=true and deliberately left running: removing the
workers a run created is hodei-e2e's job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

registered = threading.Event()
workers: list[str] = []


class Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        workers.append(query.get("worker", ["?"])[0])
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"welcome")
        registered.set()

    def log_message(self, *_args: object) -> None:
        pass


def main() -> int:
    server = ThreadingHTTPServer(("0.0.0.0", 0), Registry)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = os.environ["HODEI_SERVER_HOST"]
    worker_id = f"{os.environ['HODEI_E2E_SUITE']}-{os.environ['HODEI_E2E_RUN_ID']}"
    print(f"server listening on port {port}; workers reach it at {host}:{port}", flush=True)
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--label",
            "hodei.managed=true",
            "--label",
            f"hodei.worker.id={worker_id}",
            "--add-host",
            "host.docker.internal:host-gateway",
            "-e",
            f"HODEI_SERVER_URL=http://{host}:{port}",
            "-e",
            f"HODEI_WORKER_ID={worker_id}",
            os.environ["HODEI_WORKER_IMAGE"],
        ],
        check=True,
    )
    if not registered.wait(timeout=20):
        print("the worker never called back", file=sys.stderr)
        return 1
    print(f"worker {workers[0]} registered", flush=True)
    subprocess.run(
        [
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            "CREATE TABLE workers (id text PRIMARY KEY);"
            f"INSERT INTO workers VALUES ('{workers[0]}');",
        ],
        check=True,
    )
    print("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
