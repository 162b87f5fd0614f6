"""Secrets never reach the terminal, a log or a report: everything printed passes through here."""

from __future__ import annotations

import threading
from urllib.parse import quote

MASK = "***"


class Masker:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3:  # masking "a" would make every text unreadable
            with self._lock:
                self._secrets |= {secret, quote(secret, safe="")}

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text


masker = Masker()  # the process-wide instance; a run registers its passwords here
