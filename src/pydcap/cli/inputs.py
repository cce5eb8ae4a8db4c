"""Reading the command line's inputs: quote files, collateral, times, trust roots."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from pydcap.cli.errors import CliError
from pydcap.collateral import Collateral
from pydcap.errors import FormatError
from pydcap.pki import TrustRoot


def read_quote(path: str) -> bytes:
    """The quote file ``path`` (``-``: standard input); an empty one is refused like a missing one."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"QUOTE {path}: cannot read it: {exc.strerror}") from exc
    if not data:
        raise CliError(f"QUOTE {path}: empty")
    return data


def load_collateral(path: str, flag: str = "--collateral") -> Collateral:
    p = Path(path)
    if not p.exists():
        raise CliError(f"{flag} {path}: no such file or directory")
    if p.is_dir() and not any(p.iterdir()):
        raise CliError(f"{flag} {path}: the directory is empty")
    try:
        return Collateral.load(p)
    except FormatError as exc:
        raise CliError(f"{flag} {path}: {exc}") from exc
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot read it: {exc.strerror}") from exc


def parse_time(value: str | None, flag: str = "--at") -> int | None:
    """Unix seconds or ISO 8601 (``2025-07-19T10:01:17Z``), not before 1970."""
    if value is None:
        return None
    seconds = int(value) if value.lstrip("-").isdigit() else _iso_seconds(value, flag)
    if seconds < 0:
        raise CliError(f"{flag} {value!r} is before 1970")
    try:
        datetime.fromtimestamp(seconds, UTC)  # results print their time: it must be a date
    except (OverflowError, OSError, ValueError) as exc:
        raise CliError(f"{flag} {value!r} is out of the range of dates") from exc
    return seconds


def _iso_seconds(value: str, flag: str) -> int:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{flag} {value!r} is neither unix seconds nor an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise CliError(f"{flag} {value!r} has no timezone; add Z for UTC")
    return int(parsed.timestamp())


def load_root(path: str | None, flag: str = "--root-ca") -> TrustRoot | None:
    """The root ``flag`` names: a self-signed CA certificate (PEM), else a one-line error."""
    if path is None:
        return None
    try:
        return TrustRoot.from_pem(Path(path).read_bytes())
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot read it: {exc.strerror}") from exc
    except FormatError as exc:
        raise CliError(f"{flag} {path}: {exc}") from exc
