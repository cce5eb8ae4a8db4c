"""The interface every quote source implements, and its error."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from pydcap.errors import PydcapError

REPORT_DATA_SIZE = 64
T = TypeVar("T")


class PlatformError(PydcapError):
    """A quote could not be obtained from the platform; the message says what was tried."""


class QuoteSource(Protocol):
    """Produces quotes whose REPORTDATA is the caller's 64 bytes."""

    @property
    def name(self) -> str: ...

    @property
    def tee(self) -> str:
        """``"SGX"`` or ``"TDX"``."""
        ...

    def get_quote(self, report_data: bytes) -> bytes: ...


def sysroot() -> Path:
    """The system root under which device and configfs paths are looked up (``$PYDCAP_SYSROOT`` or /)."""
    return Path(os.environ.get("PYDCAP_SYSROOT", "/"))


def under(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def pad_report_data(report_data: bytes) -> bytes:
    if len(report_data) > REPORT_DATA_SIZE:
        raise PlatformError(f"report data is {len(report_data)} bytes; at most {REPORT_DATA_SIZE} fit")
    return report_data.ljust(REPORT_DATA_SIZE, b"\x00")


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns a value. Real devices answer at once; file-backed fakes may lag."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise PlatformError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
