"""Secrets never reach the terminal, a log or a report: everything printed passes through here.

A password is always masked where it stands as a credential: in a URL (`user:PASSWORD@host`)
and after a `...PASSWORD=` key. Anywhere else it is masked too, unless it is one of the
well-known defaults (`postgres`, ...), which would otherwise blank out image names and users.

Each secret is masked in the forms a program prints it after transforming it, too: percent-
encoded (`quote` with and without `/` kept, `quote_plus`), JSON-escaped (`\\"`, `\\u20ac`, or the
UTF-8 kept), and base64 at each of the three alignments it can have inside a longer encoded text
(`base64(user:password)`), as GitHub Actions masks it; a base64 form is only the characters that
depend on the secret alone.

`masker(text)` masks a string; `masker.stream()` masks a byte stream chunk by chunk, holding back
only the end of a chunk that could be the start of a secret, so that a secret split across two
reads is still masked and everything else goes out at once.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass
from typing import AnyStr
from urllib.parse import quote, quote_plus

MASK = "***"
WELL_KNOWN = frozenset({"postgres", "password", "secret", "test", "root", "admin"})
KEY = "PASSWORD="
_END = "'\";&"  # besides white space, what may end a `PASSWORD=` value


def encoded_forms(secret: str) -> set[str]:
    """`secret` and the encodings of it that programs commonly print."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),  # `/` kept
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    }
    data = secret.encode("utf-8", "surrogatepass")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        first = -(-8 * shift // 6)  # the first character made of the secret's bits alone
        last = 8 * (shift + len(data)) // 6  # one past the last such character
        fragment = encoded[first:last]
        if len(fragment) >= 4:
            forms |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return forms


@dataclass(frozen=True)
class _Rules:
    """What one state of the masker replaces, compiled for text and for bytes."""

    bare: tuple[str, ...]  # masked wherever they stand, longest first
    in_url: tuple[str, ...]  # masked only as a credential: `:FORM@` and `PASSWORD=FORM`
    keyed: re.Pattern[str] | None
    keyed_bytes: re.Pattern[bytes] | None
    bare_bytes: tuple[bytes, ...]
    in_url_bytes: tuple[bytes, ...]
    needles: tuple[bytes, ...]  # what a chunk may end in the middle of (lower case for the key)
    longest: int


def _compile(bare: set[str], credential: set[str]) -> _Rules:
    by_length = sorted(bare | credential, key=len, reverse=True)
    url_sorted = tuple(form for form in by_length if form in credential and form not in bare)
    alternatives = "|".join(re.escape(form) for form in url_sorted)
    keyed = keyed_bytes = None
    if alternatives:
        pattern = rf"(?<={KEY})(?:{alternatives})(?=[\s{_END}]|\Z)"
        keyed = re.compile(pattern, re.IGNORECASE)
        keyed_bytes = re.compile(pattern.encode("utf-8"), re.IGNORECASE)
    bare_sorted = tuple(form for form in by_length if form in bare)
    needles = {form.encode() for form in bare_sorted}
    needles |= {f":{form}@".encode() for form in url_sorted}
    needles |= {f"{KEY}{form}".lower().encode() for form in url_sorted}
    return _Rules(
        bare=bare_sorted,
        in_url=url_sorted,
        keyed=keyed,
        keyed_bytes=keyed_bytes,
        bare_bytes=tuple(form.encode() for form in bare_sorted),
        in_url_bytes=tuple(form.encode() for form in url_sorted),
        needles=tuple(sorted(needles, key=len, reverse=True)),
        longest=max((len(n) for n in needles), default=0),
    )


class Masker:
    def __init__(self) -> None:
        self._bare: set[str] = set()
        self._credential: set[str] = set()
        self._lock = threading.Lock()
        self._rules = _compile(set(), set())

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        forms = encoded_forms(secret)
        with self._lock:
            if len(secret) >= 3 and secret.lower() not in WELL_KNOWN:
                self._bare |= forms
            else:  # the other forms of a well-known one are not words: masked anywhere
                self._credential.add(secret)
                self._bare |= {form for form in forms if form != secret and len(form) >= 6}
            self._rules = _compile(self._bare, self._credential)

    def __call__(self, text: str) -> str:
        rules = self._rules
        return _mask(text, rules.in_url, rules.keyed, rules.bare, MASK, ":", "@")

    def mask_bytes(self, data: bytes) -> bytes:
        rules = self._rules
        return _mask(
            data, rules.in_url_bytes, rules.keyed_bytes, rules.bare_bytes, MASK.encode(), b":", b"@"
        )

    def stream(self) -> MaskStream:
        return MaskStream(self)

    def held_back(self, data: bytes) -> int:
        """How many bytes at the end of `data` could be the start of something to mask."""
        rules = self._rules
        if not rules.longest or not data:
            return 0
        tail = data[-rules.longest :]
        lowered = tail.lower()
        best = 0
        for needle in rules.needles:
            text = lowered if needle.startswith(KEY.lower().encode()) else tail
            i = text.find(needle[:1], max(0, len(text) - len(needle)))
            while i != -1 and len(text) - i > best:
                if needle.startswith(text[i:]):
                    best = len(text) - i
                    break
                i = text.find(needle[:1], i + 1)
        return best


def _mask(
    text: AnyStr,
    in_url: tuple[AnyStr, ...],
    keyed: re.Pattern[AnyStr] | None,
    bare: tuple[AnyStr, ...],
    mask: AnyStr,
    colon: AnyStr,
    at: AnyStr,
) -> AnyStr:
    """`text` (str or bytes alike) with the credential forms masked as `:FORM@` and after
    `PASSWORD=`, and the bare forms wherever they stand."""
    for form in in_url:
        if form in text:
            text = text.replace(colon + form + at, colon + mask + at)
            if keyed is not None:
                text = keyed.sub(mask, text)
    for form in bare:
        if form in text:
            text = text.replace(form, mask)
    return text


class MaskStream:
    """Masks a byte stream: `feed` returns what can be written now, `finish` the rest."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        data = self._held + data if self._held else data
        keep = self._masker.held_back(data)
        ready, self._held = (data[:-keep], data[-keep:]) if keep else (data, b"")
        return self._masker.mask_bytes(ready) if ready else b""

    def finish(self) -> bytes:
        held, self._held = self._held, b""
        return self._masker.mask_bytes(held) if held else b""


masker = Masker()  # the process-wide instance; a run registers its passwords here
