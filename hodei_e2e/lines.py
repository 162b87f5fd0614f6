"""Output lines, bounded: whatever a suite prints, what is shown of it has a size limit.

A line longer than `LINE_LIMIT` characters is cut, and the cut says how much went:
`aaaa…… [hodei-e2e: 199,995,904 characters cut]`. Cutting a cut line again keeps one marker
with the total. The suite's log file keeps every line whole; the terminal, the failure tail,
JUnit, annotations and the step summary show lines cut.

`LineSplitter` turns a byte stream into blocks of such lines with a bounded buffer, whatever
the length of a line; it decodes UTF-8 (invalid bytes shown as U+FFFD), and a `Block` does work
per line only for the lines asked of it (the last ones, those holding a word, or all).
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from pathlib import Path

LINE_LIMIT = 4096  # characters of a line shown anywhere but the log file
READ_SIZE = 1 << 20

_MARKER = re.compile(r"… \[hodei-e2e: ([\d,]+) characters cut\]\Z")


def marker(cut: int) -> str:
    return f"… [hodei-e2e: {cut:,} characters cut]"


def cut_line(line: str, limit: int = LINE_LIMIT) -> str:
    """`line`, or its first `limit` characters and a marker saying how many more there were."""
    if len(line) <= limit:
        return line
    found = _MARKER.search(line)
    body, before = (line[: found.start()], int(found[1].replace(",", ""))) if found else (line, 0)
    if len(body) <= limit:
        return line
    return body[:limit] + marker(before + len(body) - limit)


def cut_lines(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` with each of its lines cut to `limit` characters."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    if max(map(len, lines)) <= limit:
        return text
    return "\n".join(cut_line(line, limit) for line in lines)


class Block:
    """Complete lines, as one text (each line ended by `\n`); a line is cut only when it is
    asked for, so that a block of a thousand short lines costs no work per line."""

    def __init__(self, text: str = "", limit: int = LINE_LIMIT) -> None:
        self.text = text
        self.limit = limit

    def __bool__(self) -> bool:
        return bool(self.text)

    def __len__(self) -> int:
        return self.text.count("\n")

    def last(self, count: int) -> list[str]:
        """The last `count` lines."""
        text, end = self.text, len(self.text) - 1
        start = end
        for _ in range(count):
            start = text.rfind("\n", 0, start)
            if start == -1:
                break
        return self._lines(text[start + 1 : end]) if text else []

    def all(self) -> list[str]:
        return self._lines(self.text[:-1]) if self.text else []

    def has(self, needle: str) -> bool:
        """Whether a line holds `needle`."""
        return needle in self.text

    def containing(self, needle: str) -> list[str]:
        """The lines in which `needle` occurs (`needle` holds no line break)."""
        text, found, at = self.text, [], 0
        while (at := text.find(needle, at)) != -1:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at + len(needle))
            found.append(text[start:end])
            at = end
        return self._cut(found)

    def _lines(self, text: str) -> list[str]:
        return self._cut(text.split("\n"), carriage_return="\r" in text)

    def _cut(self, lines: list[str], *, carriage_return: bool = True) -> list[str]:
        if lines and max(map(len, lines)) > self.limit:
            lines = [cut_line(line, self.limit) for line in lines]
        if carriage_return:
            lines = [line.removesuffix("\r") for line in lines]
        return lines


class LineSplitter:
    """Bytes in, blocks of complete lines out, each line cut to `limit` (without its `\n` or a
    trailing `\r`); it keeps at most `limit` characters of an unfinished line."""

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self.limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head = ""  # the start of the unfinished line, at most `limit` characters
        self._cut = 0  # characters of the unfinished line beyond `limit`

    def feed(self, data: bytes) -> Block:
        return self._split(self._decoder.decode(data))

    def finish(self) -> Block:
        """The lines still held: the last one, when the stream did not end with a newline."""
        block = self._split(self._decoder.decode(b"", final=True))
        if self._head or self._cut:
            block.text += self._line("") + "\n"
        return block

    def _split(self, text: str) -> Block:
        last = text.rfind("\n")
        if last == -1:
            self._extend(text)
            return Block("", self.limit)
        first = text.find("\n")
        head = self._line(text[:first]) if self._head or self._cut else None
        done = text[: last + 1] if head is None else head + text[first : last + 1]
        self._extend(text[last + 1 :])
        return Block(done, self.limit)

    def _extend(self, piece: str) -> None:
        """Add `piece` to the unfinished line, keeping its first `limit` characters."""
        room = self.limit - len(self._head)
        if len(piece) <= room:
            self._head += piece
        else:
            self._head += piece[: max(0, room)]
            self._cut += len(piece) - max(0, room)

    def _line(self, rest: str) -> str:
        """The unfinished line, ended by `rest`; the state starts a new line."""
        self._extend(rest)
        line = self._head + (marker(self._cut) if self._cut else "")
        self._head, self._cut = "", 0
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
