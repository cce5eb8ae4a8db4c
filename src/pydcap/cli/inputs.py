"""Reading the command line's inputs: quote files, collateral, times, trust roots."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from pydcap.cli import EXIT_COLLATERAL_UNAVAILABLE, CliError
from pydcap.collateral import Collateral
from pydcap.errors import FormatError
from pydcap.pki import TrustRoot


def read_quote(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read quote {path}: {exc.strerror}") from exc


def load_collateral(path: str) -> Collateral:
    p = Path(path)
    if not p.exists():
        raise CliError(f"collateral {path} does not exist", EXIT_COLLATERAL_UNAVAILABLE)
    try:
        return Collateral.load(p)
    except FormatError as exc:
        raise CliError(f"cannot read collateral {path}: {exc}") from exc


def parse_time(value: str | None) -> int | None:
    """Unix seconds or ISO 8601 (``2025-07-19T10:01:17Z``)."""
    if value is None:
        return None
    try:
        seconds = int(value)
    except ValueError:
        pass
    else:
        try:
            datetime.fromtimestamp(seconds, UTC)  # results print their time: it must be a date
        except (OverflowError, OSError, ValueError) as exc:
            raise CliError(f"--at {value!r} is out of the range of dates") from exc
        return seconds
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"--at {value!r} is neither unix seconds nor an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise CliError(f"--at {value!r} has no timezone; add Z for UTC")
    return int(parsed.timestamp())


def load_root(path: str | None) -> TrustRoot | None:
    if path is None:
        return None
    try:
        return TrustRoot.from_pem(Path(path).read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read root CA {path}: {exc.strerror}") from exc
    except FormatError as exc:
        raise CliError(f"root CA {path}: {exc}") from exc
