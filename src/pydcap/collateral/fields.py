"""Typed, strict readers for the members of Intel's JSON collateral documents.

A missing or mistyped member is a format error; a present member with an impossible value (a date that is
not a date, hex of the wrong length, an unknown status) makes the document invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydcap.collateral.signed import SignedDocument
from pydcap.errors import CollateralFormatError, InvalidCollateralError
from pydcap.lazy import remember


def signed_body(data: bytes | str | SignedDocument, body_key: str, part: str) -> tuple[SignedDocument, Fields]:
    """The signed document (cut out of ``data`` unless it already is one) and a reader of its body."""
    signed = data if isinstance(data, SignedDocument) else SignedDocument.parse(data, body_key, part)
    try:
        body = signed.parsed_body
    except (ValueError, RecursionError) as exc:
        raise CollateralFormatError(part, f"{body_key} is not valid JSON: {exc}") from exc
    return signed, Fields(body, part, body_key)


T = TypeVar("T")


def mistyped_is_invalid(f: Fields, read: Callable[..., T], key: str, *args: Any) -> T:
    """``read(key, *args)`` of a member of ``f`` as Intel's parser reads most members: missing, it is a format
    error; present with the wrong type, it makes the document invalid."""
    if not f.has(key):
        raise CollateralFormatError(f.part, f"{f.path}.{key} is missing")
    try:
        return read(key, *args)
    except InvalidCollateralError:
        raise
    except CollateralFormatError as exc:
        raise InvalidCollateralError(f.part, exc.reason) from exc


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_DATES: dict[str, int] = {}  # each valid date met, as unix seconds: documents repeat a handful of dates


def date_seconds(value: str) -> int | None:
    """``value`` as unix seconds when it is a date in exactly the form Intel's library accepts,
    ``2025-06-19T10:56:11Z``; None when it is not."""
    seconds = _DATES.get(value)
    if seconds is None:
        try:
            if not _DATE.fullmatch(value):
                return None
            seconds = int(datetime.fromisoformat(value).timestamp())
        except ValueError:
            return None
        remember(_DATES, value, seconds, 1024)
    return seconds


# Readers of a member's value that give None where ``Fields`` would raise, for fast paths that leave the naming of a
# defect to ``Fields``. They accept no more than ``Fields`` does (exact JSON types: no ``bool`` for an integer).


def plain_uint(value: object, maximum: int = 0xFFFFFFFF) -> int | None:
    """``value`` if ``Fields.uint`` would read it (with ``maximum``), else None."""
    return value if type(value) is int and 0 <= value <= maximum else None


def plain_hex(value: object, size: int) -> bytes | None:
    """What ``Fields.hexbytes`` would read from ``value`` (with ``size``), else None."""
    if type(value) is not str or len(value) != size * 2:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def plain_date(value: object) -> int | None:
    """What ``Fields.date`` would read from ``value``, else None."""
    return date_seconds(value) if type(value) is str else None


_ABSENT: Any = object()


def plain_strings(obj: dict[str, Any], key: str) -> tuple[str, ...] | None:
    """What ``Fields.strings`` would read from member ``key`` of ``obj``, else None."""
    values = obj.get(key, _ABSENT)
    if values is _ABSENT:
        return ()
    if type(values) is list and all(type(v) is str for v in values):
        return tuple(values)
    return None


def plain_isv_level(item: object, max_svn: int) -> tuple[int, int, str, tuple[str, ...]] | None:
    """An ISVSVN level (``{"tcb": {"isvsvn"}, "tcbDate", "tcbStatus", "advisoryIDs"}``, of an enclave identity or a
    TDX module identity) as its ISVSVN, date, status and advisory IDs, if each reads plainly; else None."""
    if type(item) is not dict:
        return None
    tcb = item.get("tcb")
    if type(tcb) is not dict:
        return None
    isv_svn = plain_uint(tcb.get("isvsvn"), max_svn)
    tcb_date = plain_date(item.get("tcbDate"))
    status = item.get("tcbStatus")
    advisory_ids = plain_strings(item, "advisoryIDs")
    if isv_svn is None or tcb_date is None or type(status) is not str or advisory_ids is None:
        return None
    return isv_svn, tcb_date, status, advisory_ids


class Fields:
    """Reads members of one JSON object, naming the document part and path in every error."""

    __slots__ = ("obj", "part", "path")

    def __init__(self, obj: Any, part: str, path: str) -> None:
        if not isinstance(obj, dict):
            raise CollateralFormatError(part, f"{path} must be a JSON object")
        self.obj: dict[str, Any] = obj
        self.part = part
        self.path = path

    def has(self, key: str) -> bool:
        return key in self.obj

    def _get(self, key: str) -> Any:
        if key not in self.obj:
            raise CollateralFormatError(self.part, f"{self.path}.{key} is missing")
        return self.obj[key]

    def uint(self, key: str, maximum: int = 0xFFFFFFFF) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise CollateralFormatError(self.part, f"{self.path}.{key} must be an integer")
        if not 0 <= value <= maximum:
            raise InvalidCollateralError(self.part, f"{self.path}.{key} = {value} is out of range")
        return value

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise CollateralFormatError(self.part, f"{self.path}.{key} must be a string")
        return value

    def hexbytes(self, key: str, size: int) -> bytes:
        value = self.string(key)
        if len(value) != size * 2:
            raise InvalidCollateralError(self.part, f"{self.path}.{key} must be {size * 2} hex characters")
        try:
            return bytes.fromhex(value)
        except ValueError as exc:
            raise InvalidCollateralError(self.part, f"{self.path}.{key} is not hex") from exc

    def date(self, key: str) -> int:
        """A date in exactly the form Intel's library accepts, ``2025-06-19T10:56:11Z``, as unix seconds."""
        value = self.string(key)
        seconds = date_seconds(value)
        if seconds is None:
            message = f"{self.path}.{key} {value!r} is not a date like 2025-06-19T10:56:11Z"
            raise InvalidCollateralError(self.part, message)
        return seconds

    def array(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise CollateralFormatError(self.part, f"{self.path}.{key} must be an array")
        return value

    def obj_at(self, key: str) -> Fields:
        return Fields(self._get(key), self.part, f"{self.path}.{key}")

    def strings(self, key: str) -> tuple[str, ...]:
        """An optional array of strings (absent means empty)."""
        if key not in self.obj:
            return ()
        values = self.obj[key]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidCollateralError(self.part, f"{self.path}.{key} must be an array of strings")
        return tuple(values)
