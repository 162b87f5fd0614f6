"""Masking a secret's encoded forms, and masking a byte stream whose reads split a secret."""

from __future__ import annotations

import base64
import itertools
import json
from urllib.parse import quote, quote_plus

import pytest

from hodei_e2e.masking import MASK, Masker

SECRET = 'p@ss/w rd"€+x'


def masker_of(*secrets: str) -> Masker:
    masker = Masker()  # not the process-wide one: it keeps what is added for good
    for secret in secrets:
        masker.add(secret)
    return masker


@pytest.mark.parametrize(
    "printed",
    [
        pytest.param(SECRET, id="raw"),
        pytest.param(quote(SECRET), id="quote_keeping_slash"),
        pytest.param(quote(SECRET, safe=""), id="quote"),
        pytest.param(quote_plus(SECRET), id="quote_plus"),
        pytest.param(quote_plus(SECRET, safe="/"), id="quote_plus_keeping_slash"),
        pytest.param(json.dumps(SECRET)[1:-1], id="json_ascii"),
        pytest.param(json.dumps(SECRET, ensure_ascii=False)[1:-1], id="json_utf8"),
        pytest.param(json.dumps(SECRET)[1:-1].replace("/", "\\/"), id="json_escaped_slash"),
    ],
)
def test_an_encoded_form_is_masked_in_text_and_bytes(printed: str) -> None:
    masker = masker_of(SECRET)
    line = f"connecting with {printed} now"
    assert masker(line) == f"connecting with {MASK} now"
    assert masker.mask_bytes(line.encode()) == f"connecting with {MASK} now".encode()


@pytest.mark.parametrize("prefix", ["", "u:", "us:", "user:", "a-longer-user:"])
def test_base64_of_a_text_holding_the_secret_is_masked_at_any_offset(prefix: str) -> None:
    masker = masker_of(SECRET)
    encoded = base64.b64encode(f"{prefix}{SECRET}\n".encode()).decode()
    masked = masker(f"Authorization: Basic {encoded}")
    assert MASK in masked
    # what is left of the encoded text is only what the prefix and the suffix decide
    left = masked.split("Basic ", 1)[1].replace(MASK, "")
    assert len(left) <= (len(prefix) * 8 + 5) // 6 + 5, masked


def test_a_well_known_password_stays_a_word_but_its_encodings_are_masked() -> None:
    masker = masker_of("postgres")
    text = masker(
        "image postgres:16, postgres://postgres:postgres@h/db, "
        + base64.b64encode(b"postgres:postgres").decode()
    )
    assert text.startswith(f"image postgres:16, postgres://postgres:{MASK}@h/db, ")
    assert "cG9zdGdyZXM6cG9zdGdyZXM" not in text


def chunks(data: bytes, *cuts: int) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def stream_mask(masker: Masker, pieces: list[bytes]) -> bytes:
    stream = masker.stream()
    return b"".join([*(stream.feed(piece) for piece in pieces), stream.finish()])


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        pytest.param(
            "hodei-split-secret",
            "before hodei-split-secret after\n",
            f"before {MASK} after\n",
            id="bare",
        ),
        pytest.param(
            "postgres",
            "url postgres://postgres:postgres@127.0.0.1/db PGPASSWORD=postgres\n",
            f"url postgres://postgres:{MASK}@127.0.0.1/db PGPASSWORD={MASK}\n",
            id="as_a_credential",
        ),
        pytest.param(
            SECRET,
            f"q={quote_plus(SECRET)} j={json.dumps(SECRET)}\n",
            f'q={MASK} j="{MASK}"\n',
            id="encoded",
        ),
    ],
)
def test_a_secret_split_across_reads_is_masked_wherever_the_read_ends(
    secret: str, text: str, expected: str
) -> None:
    masker = masker_of(secret)
    data = text.encode()
    for cut in range(1, len(data)):
        assert stream_mask(masker, chunks(data, cut)) == expected.encode(), f"split at {cut}"
    assert stream_mask(masker, [bytes([b]) for b in data]) == expected.encode()


def test_a_stream_holds_back_only_what_could_start_a_secret() -> None:
    masker = masker_of("hodei-held-secret")
    stream = masker.stream()
    assert stream.feed(b"progress: 10%\n") == b"progress: 10%\n"  # nothing waits for more
    assert stream.feed(b"waiting for hodei-he") == b"waiting for "
    assert stream.feed(b"llo\n") == b"hodei-hello\n"
    assert stream.feed(b"x hodei-held-") == b"x "
    assert stream.feed(b"secret!") == f"{MASK}!".encode()
    assert stream.feed(b"hodei") == b""
    assert stream.finish() == b"hodei"
