"""JSON read at ``msgspec``'s speed, with exactly the values and errors of the standard ``json`` module.

``msgspec`` reads a subset of what ``json`` reads (no ``NaN``, no lone surrogates, no UTF-16, no BOM, no integer
``json`` finds too long) and gives the same values for it (floats through ``float``, as ``json`` converts them; the
last of two members with one name, in the first one's place). Whatever it refuses is left to ``json``, which then
reads it or names what is wrong. Nesting is the one thing the two judge differently (each stops at its own depth near
the recursion limit): a text with as many brackets as could come near it is left to ``json`` too.

Importing ``msgspec`` costs some 11 ms, as much as it saves on a few hundred documents: a process imports it only
once it has read ``IMPORT_AFTER`` texts here (a command that verifies one quote never does; a verifier of a fleet
soon does). Until then every text is left to ``json``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

NOT_READ: Any = object()
IMPORT_AFTER = 200
_STACK_MARGIN = 64  # frames, beyond the nesting, that a read may take below the caller's (C calls included)
# msgspec's reader of any value; of an object's raw members; of a value without floats; its compact writer
_Readers = tuple[Callable[[Any], Any], Callable[[Any], dict[str, Any]], Callable[[Any], Any], Callable[[Any], bytes]]
_readers: _Readers | None = None
_texts = 0


def _msgspec() -> _Readers | None:
    """msgspec's readers, imported once ``IMPORT_AFTER`` texts have been read here; None until then."""
    global _readers, _texts  # noqa: PLW0603 - made once per process
    if _readers is None:
        _texts += 1
        if _texts <= IMPORT_AFTER:
            return None
        import msgspec

        _readers = (
            msgspec.json.Decoder(float_hook=float).decode,
            msgspec.json.Decoder(dict[str, msgspec.Raw]).decode,
            msgspec.json.Decoder(float_hook=_refuse_float).decode,
            msgspec.json.encode,
        )
    return _readers


def _refuse_float(text: str) -> float:
    raise ValueError(f"a float ({text}): left to json")


def read(data: bytes | str) -> Any:
    """``json.loads(data)`` when msgspec reads it as ``json`` would; else ``NOT_READ``, for the caller to call
    ``json.loads`` itself (at its own depth of stack, which decides where deep nesting fails), which then reads it
    or names what is wrong."""
    readers = _msgspec()
    if readers is None:
        return NOT_READ
    try:
        value = readers[0](data)
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError, as is a lone surrogate's error
        return NOT_READ
    return value if (_room_for(1) if _flat(value) else _shallow(data)) else NOT_READ


def object_members(text: bytes) -> dict[str, tuple[bytes, Any]] | None:
    """The members of the compact JSON object ``text`` (UTF-8, no whitespace between its members), each as its
    value's exact bytes and the value ``json`` reads from them; None when ``text`` is anything else (whitespace
    between members, a name with an escape, a name twice, not an object, not JSON, or a float anywhere: Intel's
    documents have none), for a slower reader to judge."""
    readers = _msgspec()
    if readers is None or not _shallow(text):
        return None
    _, read_members, read_any, _ = readers
    try:
        raw = read_members(text)
    except (ValueError, RecursionError):
        return None
    # Every byte accounted for: braces, commas, quoted names (no escape), colons and values. A name written with an
    # escape takes more bytes than it has, and a member given twice more than the one kept: either makes text longer.
    if 1 + len(raw) + sum(len(name.encode("utf-8")) + 3 + len(value) for name, value in raw.items()) != len(text):
        return None
    members = {}
    for name, value in raw.items():
        try:
            members[name] = (bytes(value), read_any(value))
        except (ValueError, RecursionError):
            return None
    return members


def compact_object(text: bytes) -> dict[str, Any] | None:
    """The object ``json`` reads from ``text`` when ``text`` is exactly what ``written_as`` vouches for: what
    ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` writes for it (so no whitespace, no escape, no
    member given twice and no float, as in everything Intel serves); None otherwise, for a slower reader to judge.
    Read in one pass, then written back and compared."""
    readers = _msgspec()
    if readers is None or b"\\" in text or not _shallow(text):
        return None
    try:
        value = readers[2](text)
    except (ValueError, RecursionError):
        return None
    return value if type(value) is dict and written_as(value, text) else None


def written_as(value: Any, text: bytes) -> bool:
    """Whether ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` is ``text`` (in UTF-8), for a
    ``value`` without floats, as ``object_members`` reads them. Answered by msgspec's writer when ``text`` has no
    backslash: then neither writer escapes anything in any string, and the two write everything else alike (names in
    order, integers in decimal, ``true``, ``false``, ``null``, no whitespace). False when it cannot tell."""
    if _readers is None or b"\\" in text:
        return False
    try:
        return _readers[3](value) == text
    except (TypeError, ValueError, OverflowError):
        return False


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _flat(value: Any) -> bool:
    """Whether ``value`` nests no deeper than one object or array of scalars (the form of a bundle's JSON)."""
    if type(value) is dict:
        return _SCALARS.issuperset(map(type, value.values()))
    if type(value) is list:
        return _SCALARS.issuperset(map(type, value))
    return True


def _shallow(data: bytes | str) -> bool:
    """Whether nesting every bracket in ``data`` on top of the caller's stack stays well below the recursion limit
    (then neither reader can reach it)."""
    # Counted as what removing them takes away: replace finds a byte faster than count counts it.
    if isinstance(data, str):
        return _room_for(2 * len(data) - len(data.replace("[", "")) - len(data.replace("{", "")))
    return _room_for(2 * len(data) - len(data.replace(b"[", b"")) - len(data.replace(b"{", b"")))


def _room_for(nesting: int) -> bool:
    depth = sys.getrecursionlimit() - nesting - _STACK_MARGIN
    if depth <= 0:
        return False
    try:
        sys._getframe(depth)  # the caller's stack is at least this deep
    except ValueError:
        return True
    return False
