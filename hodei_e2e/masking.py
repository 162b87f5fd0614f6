"""Secrets never reach the terminal, a log or a report: everything printed passes through here.

A password is always masked where it stands as a credential: in a URL (`user:PASSWORD@host`)
and after a `...PASSWORD=` key. Anywhere else it is masked too, unless it is one of the
well-known defaults (`postgres`, ...), which would otherwise blank out image names and users.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "***"
WELL_KNOWN = frozenset({"postgres", "password", "secret", "test", "root", "admin"})


class Masker:
    def __init__(self) -> None:
        self._bare: set[str] = set()
        self._patterns: list[re.Pattern[str]] = []
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        forms = {secret, quote(secret, safe="")}
        alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
        in_url = re.compile(rf"(?<=:)(?:{alternatives})(?=@)")
        after_key = re.compile(rf"(?<=PASSWORD=)(?:{alternatives})(?=$|[\s'\";&])", re.I)
        with self._lock:
            self._patterns += [in_url, after_key]
            if len(secret) >= 3 and secret.lower() not in WELL_KNOWN:
                self._bare |= forms

    def __call__(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(MASK, text)
        for secret in sorted(self._bare, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text


masker = Masker()  # the process-wide instance; a run registers its passwords here
