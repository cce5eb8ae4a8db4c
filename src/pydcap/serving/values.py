"""Reading a pydcap service's configuration: the file (``read_config_file``: JSON with comments and trailing
commas, as Intel's PCCS reads its own), and one value from it, an environment variable or a flag: each value
reader returns the value or raises ``ValueError`` saying what is wrong, for the caller to turn into a
``ConfigError`` naming the key and where it came from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydcap.errors import PydcapError
from pydcap.jsonc import CommentError, strip_comments, strip_trailing_commas

_SHA512_HEX = re.compile(r"^[0-9a-fA-F]{128}$")


class ConfigError(PydcapError):
    """A configuration that cannot be used: names the key, where it came from and the reason."""


def read_config_file(file: Path) -> dict[str, Any]:
    """The keys of a configuration file as Intel's PCCS reads it: JSON with ``//`` and ``/* */`` comments and
    trailing commas allowed."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file} is not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(strip_trailing_commas(strip_comments(text)))
    except CommentError as exc:
        raise ConfigError(f"{file}:{exc.line}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}:{exc.lineno}: not JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{file}: nested too deeply to be a configuration") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{file}: the configuration must be a JSON object of keys")
    return document


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
