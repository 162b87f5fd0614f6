"""Following an image build: the current step, the last lines, and the full log on disk.

On a terminal the build is a live view (step N of M, elapsed time, the last lines) that gives
way to one summary line; elsewhere every line is printed as it comes. Either way the whole
output goes to the build log.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from hodei_e2e.console import Output
from hodei_e2e.masking import masker

if TYPE_CHECKING:
    from rich.console import Group
    from rich.live import Live

TAIL = 30  # lines kept for an error message
LIVE_LINES = 8  # lines shown under the step in the live view
_STEP = re.compile(r"Step (\d+)/(\d+) : (.*)")
_CHATTER = re.compile(r" ---> |Removing intermediate container |Successfully (built|tagged) ")


class BuildProgress:
    """Feed it the engine's build messages; it shows them, logs them and remembers the state."""

    def __init__(self, out: Output, tag: str, log_path: Path, header: str = "") -> None:
        self.out = out
        self.tag = tag
        self.log_path = log_path
        self.header = header
        self.step: str | None = None  # "3/7"
        self.instruction: str | None = None  # "RUN make"
        self.tail: deque[str] = deque(maxlen=TAIL)  # the current step's last output lines
        self.error: str | None = None
        self.image_id: str | None = None
        self.started = time.monotonic()
        self._partial = ""
        self._log: IO[str] | None = None
        self._live: Live | None = None

    def __enter__(self) -> BuildProgress:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w", encoding="utf-8", errors="replace")
        if self.header:
            self._log.write(self.header + "\n")
        if self.out.live and self.out.verbosity >= 0:
            from rich.live import Live

            self._live = Live(self, console=self.out.err, refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._flush()
        if self._live is not None:
            self._live.stop()
        if self._log is not None:
            self._log.close()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def message(self, message: Mapping[str, Any]) -> None:
        """One decoded message of the engine's build stream."""
        if "stream" in message:
            self._text(str(message["stream"]))
        if "status" in message:
            self._status(message)
        if "aux" in message and isinstance(message["aux"], Mapping):
            self.image_id = str(message["aux"].get("ID") or "") or self.image_id
        if "error" in message:
            self._flush()
            self.error = str(message["error"]).strip()
            self._write_log(f"ERROR: {self.error}")

    def note(self, text: str) -> None:
        """A line of our own, in the log and on the screen."""
        self._line(text)

    def _text(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line.rsplit("\r", 1)[-1])  # what a terminal would show of a \r-progress

    def _flush(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, ""
            self._line(partial.rsplit("\r", 1)[-1])

    def _status(self, message: Mapping[str, Any]) -> None:
        if message.get("progressDetail"):  # pull progress bars: too chatty to keep
            return
        ident = f"{message['id']}: " if message.get("id") else ""
        self._line(f"{ident}{message['status']}")

    def _line(self, line: str) -> None:
        line = masker(line.rstrip())
        if not line:
            return
        step = _STEP.fullmatch(line)
        if step:
            self.step = f"{step.group(1)}/{step.group(2)}"
            self.instruction = step.group(3)
            self.tail.clear()  # the tail is the current step's own output
        elif not _CHATTER.match(line):
            self.tail.append(line)
        self._write_log(line)
        if self._live is None:
            self.out.print(f"  {line}")

    def _write_log(self, line: str) -> None:
        if self._log is not None:
            self._log.write(line + "\n")
            self._log.flush()

    def __rich__(self) -> Group:
        from rich.console import Group
        from rich.text import Text

        step = f"step {self.step}" if self.step else "sending context"
        lines = [Text(f"⠿ building {self.tag} · {step} · {self.elapsed:.1f}s", style="bold")]
        if self.instruction:
            lines.append(Text(f"  {self.instruction}", style="cyan", overflow="ellipsis"))
        body = list(self.tail)[-LIVE_LINES:]
        lines += [
            Text(f"  │ {line}", style="dim", no_wrap=True, overflow="ellipsis") for line in body
        ]
        return Group(*lines)
