"""Quotes in base64 as attestation APIs send them: one reader for the attestation service and `pydcap verify`."""

from __future__ import annotations

import base64

import pytest

from pydcap.quote.encoding import decode_base64

DATA = bytes(range(256)) * 3 + b"\xfb\xff"  # every byte value, and the ones whose encodings hold + / - _


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(DATA).decode(),
        base64.b64encode(DATA).decode().rstrip("="),
        base64.urlsafe_b64encode(DATA).decode(),
        base64.urlsafe_b64encode(DATA).decode().rstrip("="),
    ],
)
def test_either_alphabet_padded_or_not(text: str) -> None:
    assert decode_base64(text) == DATA


def test_refusals_say_why() -> None:
    with pytest.raises(ValueError, match="characters outside"):
        decode_base64("AAAA*AAA")
    with pytest.raises(ValueError, match="characters outside"):
        decode_base64("AAAAé")
    with pytest.raises(ValueError, match="length"):
        decode_base64("AAAAA")
    with pytest.raises(ValueError, match="padding"):
        decode_base64("AA=A")
    with pytest.raises(ValueError, match="length"):
        decode_base64("AAAAA===")
