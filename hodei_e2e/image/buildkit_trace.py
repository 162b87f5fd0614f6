"""BuildKit's progress, as the Engine API streams it: `{"id": "moby.buildkit.trace", "aux":
"<base64>"}`, each a protobuf `moby.buildkit.v1.StatusResponse` (buildkit's
api/services/control/control.proto). Only the fields the build view needs are read:

    StatusResponse { repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2;
                     repeated VertexLog logs = 3; }
    Vertex         { string digest = 1; string name = 3; bool cached = 4;
                     Timestamp started = 5; Timestamp completed = 6; string error = 7; }
    VertexStatus   { string ID = 1; string vertex = 2; string name = 3; int64 current = 4;
                     int64 total = 5; Timestamp completed = 8; }
    VertexLog      { string vertex = 1; int64 stream = 3; bytes msg = 4; }

A few dozen lines of wire-format reading instead of a protobuf dependency and generated code;
unknown fields are skipped, so newer engines' additions (warnings, progress groups) do no harm.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field

TRACE_ID = "moby.buildkit.trace"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Vertex:
    digest: str
    name: str  # "[stage-0 3/4] RUN make", "[internal] load metadata for ..."
    cached: bool = False
    started: bool = False
    completed: bool = False
    error: str = ""


@dataclass(frozen=True)
class VertexStatus:
    id: str  # "exporting layers", "writing image sha256:..."
    vertex: str
    current: int = 0
    total: int = 0
    completed: bool = False


@dataclass(frozen=True)
class VertexLog:
    vertex: str
    stream: int  # 1 stdout, 2 stderr
    data: bytes


@dataclass(frozen=True)
class Status:
    vertexes: list[Vertex] = field(default_factory=list)
    statuses: list[VertexStatus] = field(default_factory=list)
    logs: list[VertexLog] = field(default_factory=list)


class TraceError(ValueError):
    """The message is not a StatusResponse this reader understands."""


def decode_aux(aux: object) -> Status:
    """The `aux` of a trace message (base64 text) as a Status."""
    if not isinstance(aux, str):
        raise TraceError(f"expected base64 text, got {type(aux).__name__}")
    try:
        raw = base64.b64decode(aux, validate=True)
    except (binascii.Error, ValueError) as error:
        raise TraceError(f"not base64: {error}") from None
    return decode_status(raw)


def decode_status(raw: bytes) -> Status:
    status = Status()
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            status.vertexes.append(_vertex(value))
        elif number == 2 and isinstance(value, bytes):
            status.statuses.append(_vertex_status(value))
        elif number == 3 and isinstance(value, bytes):
            status.logs.append(_vertex_log(value))
    return status


def _vertex(raw: bytes) -> Vertex:
    values = dict(_fields(raw))  # the fields we read are not repeated
    return Vertex(
        digest=_text(values.get(1)),
        name=_text(values.get(3)),
        cached=bool(values.get(4)),
        started=5 in values,
        completed=6 in values,
        error=_text(values.get(7)),
    )


def _vertex_status(raw: bytes) -> VertexStatus:
    values = dict(_fields(raw))
    return VertexStatus(
        id=_text(values.get(1)),
        vertex=_text(values.get(2)),
        current=_number(values.get(4)),
        total=_number(values.get(5)),
        completed=8 in values,
    )


def _vertex_log(raw: bytes) -> VertexLog:
    values = dict(_fields(raw))
    data = values.get(4)
    return VertexLog(
        _text(values.get(1)), _number(values.get(3)), data if isinstance(data, bytes) else b""
    )


def _text(value: int | bytes | None) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _number(value: int | bytes | None) -> int:
    return value if isinstance(value, int) else 0


def _fields(raw: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of one message: varints as int, length-delimited as bytes;
    fixed-width fields (none of ours) as int."""
    position, end = 0, len(raw)
    while position < end:
        key, position = _varint(raw, position)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, position = _varint(raw, position)
            yield number, value
        elif wire == _BYTES:
            size, position = _varint(raw, position)
            if position + size > end:
                raise TraceError("length-delimited field runs past the message")
            yield number, raw[position : position + size]
            position += size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if position + width > end:
                raise TraceError("fixed field runs past the message")
            yield number, int.from_bytes(raw[position : position + width], "little")
            position += width
        else:
            raise TraceError(f"unsupported wire type {wire}")


def _varint(raw: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(raw) or shift > 63:
            raise TraceError("truncated varint")
        byte = raw[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
