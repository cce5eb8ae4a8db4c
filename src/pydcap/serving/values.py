"""Reading one configuration value of a pydcap service (from a JSON file, an environment variable or a flag):
each reader returns the value or raises ``ValueError`` saying what is wrong, for the caller to prefix with the key
and where it came from."""

from __future__ import annotations

import re
from typing import Any

_SHA512_HEX = re.compile(r"^[0-9a-fA-F]{128}$")


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type(value).__name__}")
    return value.strip()


def whole_number(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"{value!r} is not a whole number")


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise ValueError(f"{value!r} is not true or false")


def token_hash(value: Any) -> str:
    """An administrator or user token as the service keeps it: SHA-512 in hex, or empty (nobody is let in)."""
    found = text(value)
    if found and not _SHA512_HEX.match(found):
        raise ValueError("must be the SHA-512 of the token in hex (128 hex digits), or empty to refuse everyone")
    return found.lower()
