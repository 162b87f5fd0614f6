"""A suite that needs two services: its own Postgres database and the run's Redis.

hodei-e2e gives it DATABASE_URL (and PG* for psql) and REDIS_URL, which the `redis` service's
`exports` make from the published port. Redis is spoken to with a few lines of RESP over a
socket, so nothing beyond Python's standard library (and psql) is needed on the host.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

Reply = bytes | int | list["Reply"] | None


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname:
            raise ValueError(f"expected redis://HOST:PORT[/DB]; got {url!r}")
        self.sock = socket.create_connection((parts.hostname, parts.port or 6379), timeout=5)
        self.reader = self.sock.makefile("rb")
        if parts.password:
            self.call("AUTH", unquote(parts.password))
        if parts.path.strip("/"):
            self.call("SELECT", parts.path.strip("/"))

    def call(self, *args: str) -> Reply:
        request = f"*{len(args)}\r\n".encode()
        for arg in args:
            data = arg.encode()
            request += b"$%d\r\n%s\r\n" % (len(data), data)
        self.sock.sendall(request)
        return self._reply()

    def _reply(self) -> Reply:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.reader.read(size + 2)[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise RedisError(f"unexpected reply {line!r}")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def psql(sql: str) -> str:
    done = subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def main() -> int:
    url = os.environ.get("REDIS_URL")
    if not url:
        print("REDIS_URL is not set: this suite needs the `redis` service", file=sys.stderr)
        return 2
    prefix = f"{os.environ.get('HODEI_E2E_RUN_ID', 'local')}:{os.environ.get('HODEI_E2E_SUITE')}"
    redis = Redis(url)

    def ping() -> None:
        assert redis.call("PING") == b"PONG"

    def set_and_get() -> None:
        key = f"{prefix}:greeting"
        assert redis.call("SET", key, "hello", "EX", "60") == b"OK"
        assert redis.call("GET", key) == b"hello"

    def cache_aside() -> None:
        psql("DROP TABLE IF EXISTS prices; CREATE TABLE prices (item text PRIMARY KEY, cents int);"
             "INSERT INTO prices VALUES ('coffee', 250);")  # fmt: skip
        key = f"{prefix}:price:coffee"
        redis.call("DEL", key)  # a retry starts cold too
        assert redis.call("GET", key) is None  # a miss: read through to Postgres
        cents = psql("SELECT cents FROM prices WHERE item = 'coffee'")
        redis.call("SET", key, cents, "EX", "60")
        psql("UPDATE prices SET cents = 300 WHERE item = 'coffee'")
        assert redis.call("GET", key) == b"250"  # a hit: the cached value, not the new one

    tests: list[tuple[str, Callable[[], None]]] = [
        ("ping", ping),
        ("set_and_get", set_and_get),
        ("cache_aside", cache_aside),
    ]
    failed = 0
    try:
        for name, test in tests:
            try:
                test()
            except (AssertionError, RedisError, OSError, subprocess.CalledProcessError) as error:
                failed += 1
                said = getattr(error, "stderr", None) or ""
                print(f"test {name} ... FAILED: {error!r} {said}".rstrip(), flush=True)
            else:
                print(f"test {name} ... ok", flush=True)
    finally:
        redis.close()
    passed = len(tests) - failed
    verdict = "ok" if not failed else "FAILED"
    print(
        f"test result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; "
        "0 filtered out"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
