"""Time as pydcap's code passes it around: a verification time (``TimeLike``, read with ``to_unix``), dates written
as Intel writes them (``iso``), and the injectable ``Clock`` every service takes instead of reading the time itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import overload

TimeLike = datetime | int | float | None
"""A point in time: an aware datetime, unix seconds, or None for now."""

Clock = Callable[[], float]
"""Unix seconds now (``time.time`` in production; a test passes its own)."""


def to_unix(at: TimeLike, clock: Clock = time.time) -> int:
    """``at`` as unix seconds; None means ``clock()``. A naive datetime is refused: it names no single instant."""
    if at is None:
        return int(clock())
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous: give a timezone (e.g. datetime.UTC)")
        return int(at.timestamp())
    return int(at)


@overload
def iso(ts: int | float) -> str: ...
@overload
def iso(ts: None) -> None: ...
def iso(ts: int | float | None) -> str | None:
    """Unix seconds as Intel writes dates (``2025-06-19T10:56:11Z``); None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
