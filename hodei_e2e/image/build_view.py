"""Following an image build: the current step, the last lines, and the full log on disk.

On a terminal the build is a live view (step N of M, elapsed time, the last lines) that gives
way to one summary line; elsewhere every line is printed as it comes. Either way the whole
output goes to the build log.

The classic builder sends text (`Step 3/7 : RUN make`, then the step's output); BuildKit sends
its own progress (`moby.buildkit.trace`: steps, their state and their log lines), written here
the way `docker build --progress=plain` writes it: `#5 [3/7] RUN make`, `#5 0.4 output`,
`#5 DONE`, `#5 CACHED`, `#5 ERROR: …`.
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
from hodei_e2e.image.buildkit_trace import TRACE_ID, Status, TraceError, Vertex, decode_aux
from hodei_e2e.masking import masker

if TYPE_CHECKING:
    from rich.console import Group
    from rich.live import Live

TAIL = 30  # lines kept for an error message
LIVE_LINES = 8  # lines shown under the step in the live view
_STEP = re.compile(r"Step (\d+)/(\d+) : (.*)")
_CHATTER = re.compile(r" ---> |Removing intermediate container |Successfully (built|tagged) ")
_BUILDKIT_STEP = re.compile(
    r"\[(?:(?P<stage>[^\]]*?) )?(?P<step>\d+/\d+)\] (?P<instruction>.*)", re.DOTALL
)
_LOAD_METADATA = "[internal] load metadata for "


class _Vertex:
    """What the view keeps of one BuildKit vertex (a step, or an internal one)."""

    def __init__(self, name: str) -> None:
        self.number = 0  # given when it starts, so that the log counts up
        self.name = name
        self.started = self.cached = self.done = False
        self.partial = b""
        self.tail: deque[str] = deque(maxlen=TAIL)
        found = _BUILDKIT_STEP.fullmatch(name)
        self.step = None if found is None else found["step"]
        if found is not None and found["stage"] and found["stage"] != "stage-0":
            self.step = f"{found['stage']} {found['step']}"
        self.instruction = name if found is None else found["instruction"]


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
        self.failed_base: str | None = None  # BuildKit: the base image it could not resolve
        self.started = time.monotonic()
        self._vertices: dict[str, _Vertex] = {}
        self._started = 0  # BuildKit vertices seen starting
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
        if message.get("id") == TRACE_ID:
            self._trace(message.get("aux"))
            return
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

    # -- BuildKit ---------------------------------------------------------------------------

    def _trace(self, aux: object) -> None:
        try:
            status = decode_aux(aux)
        except TraceError as error:
            self._write_log(f"(unreadable BuildKit progress: {error})")
            return
        self._vertex_updates(status)
        for log in status.logs:
            vertex = self._vertices.get(log.vertex)
            if vertex is not None and vertex.number:
                self._vertex_output(vertex, log.data)
        for entry in status.statuses:
            vertex = self._vertices.get(entry.vertex)
            if vertex is not None and vertex.number and entry.completed and entry.total == 0:
                self._emit(f"#{vertex.number} {entry.id} done", vertex, keep=False)

    def _vertex_updates(self, status: Status) -> None:
        for update in status.vertexes:
            vertex = self._vertices.get(update.digest)
            if vertex is None:
                vertex = _Vertex(masker(update.name))
                self._vertices[update.digest] = vertex
            self._vertex_state(vertex, update)

    def _vertex_state(self, vertex: _Vertex, update: Vertex) -> None:
        if (update.started or update.cached or update.error) and not vertex.number:
            self._started += 1
            vertex.number = self._started
        if update.started and not vertex.started:
            vertex.started = True
            if vertex.step is not None:  # a Dockerfile step: it becomes the current one
                self.step, self.instruction, self.tail = (
                    vertex.step,
                    vertex.instruction,
                    vertex.tail,
                )
            self._emit(f"#{vertex.number} {vertex.name}", vertex, keep=False)
        if update.cached and not vertex.cached:
            vertex.cached = True
            if not vertex.done:  # a vertex can be marked cached after its DONE: said once
                self._emit(f"#{vertex.number} CACHED", vertex, keep=False)
        if update.error:
            self._flush_vertex(vertex)
            self.step, self.instruction, self.tail = vertex.step, vertex.instruction, vertex.tail
            if vertex.name.startswith(_LOAD_METADATA):
                self.failed_base = _short_reference(vertex.name.removeprefix(_LOAD_METADATA))
                self.instruction = f"FROM {self.failed_base}"
            self._write_log(f"#{vertex.number} ERROR: {masker(update.error)}")
            if self._live is None:
                self.out.print(f"  #{vertex.number} ERROR: {masker(update.error)}")
            vertex.done = True
        elif update.completed and not vertex.done:
            vertex.done = True
            self._flush_vertex(vertex)
            if not vertex.cached:
                self._emit(f"#{vertex.number} DONE", vertex, keep=False)

    def _vertex_output(self, vertex: _Vertex, data: bytes) -> None:
        lines = (vertex.partial + data).split(b"\n")
        vertex.partial = lines.pop()
        for raw in lines:
            self._vertex_line(vertex, raw)

    def _flush_vertex(self, vertex: _Vertex) -> None:
        if vertex.partial:
            partial, vertex.partial = vertex.partial, b""
            self._vertex_line(vertex, partial)

    def _vertex_line(self, vertex: _Vertex, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rsplit("\r", 1)[-1].rstrip()
        if text:
            self._emit(f"#{vertex.number} {text}", vertex, keep=True, plain=text)

    def _emit(self, line: str, vertex: _Vertex, *, keep: bool, plain: str = "") -> None:
        line = masker(line)
        if keep:
            vertex.tail.append(masker(plain))
        self._write_log(line)
        if self._live is None:
            self.out.print(f"  {line}")

    # -- the classic builder --------------------------------------------------------------------

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


def _short_reference(reference: str) -> str:
    """`docker.io/library/busybox:1` as a user writes it: `busybox:1`."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference.removeprefix(prefix)
    return reference
