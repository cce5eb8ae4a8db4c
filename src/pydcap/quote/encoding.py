"""Quotes as attestation APIs carry them in JSON: base64, URL-safe (MAA's base64url) or standard, padded or not."""

from __future__ import annotations

import binascii
import re

_ALPHABETS = re.compile(r"[A-Za-z0-9+/_-]*=*")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def decode_base64(text: str) -> bytes:
    """The bytes ``text`` encodes in either alphabet (or a mix), padding optional; ``ValueError`` saying what is
    wrong otherwise."""
    try:
        normalized = text.encode("ascii").rstrip(b"=").translate(_TO_STANDARD)
        return binascii.a2b_base64(normalized + b"=" * (-len(normalized) % 4), strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        if "=" in text.rstrip("="):
            raise ValueError("it has padding (=) before its end") from None
        if not _ALPHABETS.fullmatch(text):
            raise ValueError("it has characters outside A-Z a-z 0-9 - _ + /") from None
        raise ValueError("its length is not that of any encoding") from None
