"""Output lines, bounded: whatever a suite prints, what is shown of it has a size limit.

A line longer than `LINE_LIMIT` bytes (of UTF-8) is cut at a character boundary, and the cut
says how much went: `aaaa…… [hodei-e2e: 199,995,904 bytes cut]`. Cutting a cut line again keeps
one marker with the total. The suite's log file keeps every line whole; the terminal, the
failure tail, JUnit, annotations and the step summary show lines cut.

`LineSplitter` turns a byte stream into blocks of such lines with a bounded buffer, whatever
the length of a line. A `Block` is the bytes as read, with no copy: it decodes (UTF-8, invalid
bytes shown as U+FFFD) and cuts only the lines asked of it (the last ones, those holding a
word, or all), so that a block of a thousand short lines costs no work per line.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

LINE_LIMIT = 4096  # bytes of a line shown anywhere but the log file
READ_SIZE = 1 << 20

_MARKER = re.compile(r"… \[hodei-e2e: ([\d,]+) bytes cut\]\Z")


# CSI (ESC [ ... final, or the 8-bit CSI), OSC (ESC ] ... BEL or ST), other two-byte escapes.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
    r"|\x1b"
)


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves, hyperlinks)."""
    return _ANSI.sub("", text)


def marker(cut: int) -> str:
    return f"… [hodei-e2e: {cut:,} bytes cut]"


def _boundary(data: bytes, limit: int) -> int:
    """The largest cut <= `limit` that does not split a UTF-8 character of `data`."""
    cut = limit
    while cut > 0 and cut > limit - 3 and cut < len(data) and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut


def cut_bytes(line: bytes, limit: int = LINE_LIMIT, before: int = 0) -> str:
    """`line` decoded, cut to `limit` bytes with a marker (counting `before` bytes already
    cut from it)."""
    if len(line) <= limit and not before:
        return line.decode("utf-8", "replace")
    keep = _boundary(line, limit) if len(line) > limit else len(line)
    return line[:keep].decode("utf-8", "replace") + marker(before + len(line) - keep)


def cut_line(line: str, limit: int = LINE_LIMIT) -> str:
    """`line`, or its first `limit` bytes and a marker saying how many more there were."""
    if len(line) <= limit // 4:
        return line
    found = _MARKER.search(line)
    body, before = (line[: found.start()], int(found[1].replace(",", ""))) if found else (line, 0)
    data = body.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return line
    return cut_bytes(data, limit, before)


def cut_lines(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` with each of its lines cut to `limit` bytes."""
    if len(text) <= limit // 4:
        return text
    lines = text.split("\n")
    if max(map(len, lines)) <= limit // 4:
        return text
    return "\n".join(cut_line(line, limit) for line in lines)


class Block:
    """Complete lines: `first` (when it began in an earlier read), then `data[start:end]`, each
    line ended by `\n`."""

    def __init__(
        self,
        data: bytes = b"",
        start: int = 0,
        end: int = 0,
        first: str | None = None,
        limit: int = LINE_LIMIT,
    ) -> None:
        self.data, self.start, self.end = data, start, end
        self.first = first
        self.limit = limit

    def __bool__(self) -> bool:
        return self.first is not None or self.end > self.start

    def __len__(self) -> int:
        return self.data.count(b"\n", self.start, self.end) + (self.first is not None)

    def last(self, count: int) -> list[str]:
        """The last `count` lines."""
        data, at, taken = self.data, self.end - 1, 0  # `at`: the line break before them
        while taken < count and at >= self.start:
            at = data.rfind(b"\n", self.start, at)
            taken += 1
            if at == -1:
                at = self.start - 1
        lines = self._decode(data[at + 1 : self.end - 1]) if self.end > self.start else []
        if taken < count and self.first is not None:
            lines.insert(0, self.first)
        return lines

    def all(self) -> list[str]:
        head = [] if self.first is None else [self.first]
        if self.end <= self.start:
            return head
        return head + self._decode(self.data[self.start : self.end - 1])

    def distinct(self) -> list[str]:
        """Each line once, in the order of its first occurrence (repeated lines are found on
        the bytes, before anything is decoded)."""
        head = [] if self.first is None else [self.first]
        if self.end <= self.start:
            return head
        raw = b"\n".join(dict.fromkeys(self.data[self.start : self.end - 1].split(b"\n")))
        return list(dict.fromkeys(head + self._decode(raw)))

    def has(self, needle: bytes) -> bool:
        """Whether a line holds `needle`."""
        if self.first is not None and needle.decode() in self.first:
            return True
        return self.data.find(needle, self.start, self.end) != -1

    def containing(self, needle: bytes) -> list[str]:
        """The lines in which `needle` occurs (`needle` holds no line break)."""
        word = needle.decode()
        found = [self.first] if self.first is not None and word in self.first else []
        data, at = self.data, self.start
        while (at := data.find(needle, at, self.end)) != -1:
            begin = max(self.start, data.rfind(b"\n", self.start, at) + 1)
            stop = data.find(b"\n", at + len(needle), self.end)
            found += self._decode(data[begin:stop])
            at = stop
        return found

    def _decode(self, raw: bytes) -> list[str]:
        """`raw` (lines joined by `\n`) as lines: decoded, each cut, without a trailing `\r`."""
        pieces = raw.split(b"\n")
        if max(map(len, pieces)) > self.limit:
            lines = [cut_bytes(piece, self.limit) for piece in pieces]
        else:
            lines = raw.decode("utf-8", "replace").split("\n")
        if b"\r" in raw:
            lines = [line.removesuffix("\r") for line in lines]
        return lines


class LineSplitter:
    """Bytes in, blocks of complete lines out; it keeps at most `limit` bytes of an unfinished
    line, whatever its length."""

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self.limit = limit
        self._head = b""  # the start of the unfinished line, at most `limit` bytes
        self._cut = 0  # bytes of the unfinished line beyond `limit`

    def feed(self, data: bytes) -> Block:
        last = data.rfind(b"\n")
        if last == -1:
            self._extend(data, 0, len(data))
            return Block(limit=self.limit)
        start, first = 0, None
        if self._head or self._cut:
            start = data.find(b"\n") + 1
            self._extend(data, 0, start - 1)
            first = self._line()
        self._extend(data, last + 1, len(data))
        return Block(data, start, last + 1, first, self.limit)

    def finish(self) -> Block:
        """The last line, when the stream did not end with a newline."""
        if not (self._head or self._cut):
            return Block(limit=self.limit)
        return Block(first=self._line(), limit=self.limit)

    def _extend(self, data: bytes, start: int, end: int) -> None:
        """Add `data[start:end]` to the unfinished line, keeping its first `limit` bytes."""
        take = min(end - start, self.limit + 3 - len(self._head))  # +3: a character's end
        if take > 0:
            self._head += data[start : start + take]
        self._cut += end - start - max(take, 0)

    def _line(self) -> str:
        """The unfinished line, now complete; the state starts a new line."""
        line = cut_bytes(self._head, self.limit, self._cut)
        if self._head.endswith(b"\r") and not self._cut:
            line = line.removesuffix("\r")
        self._head, self._cut = b"", 0
        return line


def last_lines(path: Path, count: int, limit: int = LINE_LIMIT) -> tuple[list[str], int]:
    """The last `count` lines of a file, each cut to `limit`, and how many lines came before
    them; memory bounded by `count` and `limit`, not by the file."""
    kept: deque[str] = deque(maxlen=count)
    total = 0
    splitter = LineSplitter(limit)
    with path.open("rb") as stream:
        while data := stream.read(READ_SIZE):
            block = splitter.feed(data)
            total += len(block)
            kept.extend(block.last(count))
    block = splitter.finish()
    total += len(block)
    kept.extend(block.last(count))
    return list(kept), total - len(kept)
