"""``jsonread``: msgspec's reading is used only where it gives what ``json`` gives; anything else is left to ``json``."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap.collateral import jsonread
from pydcap.collateral.jsonread import NOT_READ, compact_object, object_members, read, written_as
from pydcap.collateral.signed import SignedDocument, top_level_spans
from tests.support.testdata import REAL, require_testdata

# Texts where the two readers could part: what json reads and msgspec does not (NaN, lone surrogates, a BOM, UTF-16),
# what neither reads, numbers at their edges, names twice, whitespace, deep nesting.
EDGES = [
    b'{"a":1}', b'{"a":NaN}', b'{"a":Infinity,"b":-Infinity}', b'{"a":"\\ud800"}', b'{"a":"\xed\xa0\x80"}',
    b'\xef\xbb\xbf{"a":1}', b'{"a":1,"a":2}', b'{"a":1,"b":2,"a":3}', b'{"\\u0061":1,"a":2}', b'{"a":1e400}',
    b'{"a":1.00000000000000011}', b'{"a":-0}', b'{"a":-0.0}', b'{"a":1E5}', b'{"a":123456789012345678901234567890}',
    b'{"a":' + b"9" * 5000 + b"}", b'{ "a":1}', b'{"a" :1}', b'{"a":1 }', b'{"a":1}\n', b'{"a":1}\x00', b"{}", b"[]",
    b"[1]", b'"x"', b"1", b"null", b'{"a":"\\ud83d\\ude00"}', '{"a":"\U0001f600"}'.encode(), b'{"a":"\x01"}',
    b'{"a":"\x7f"}', b'{"a":01}', b'{"a":1.}', b'{"a":tru}', b'{"a":"x\\/y"}', b'{"a":"\\u00e9"}',
    '{"é":"é"}'.encode(), '{"a":"x"}'.encode("utf-16"), b'{"a":1,}', b'{"a":1}{"b":2}', b"", b"  ",
    b'{"a":' + b"[" * 900 + b"]" * 900 + b"}", b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _msgspec_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a process that has read enough JSON to have imported msgspec."""
    monkeypatch.setattr(jsonread, "_texts", jsonread.IMPORT_AFTER)


def test_msgspec_is_imported_only_after_many_texts() -> None:
    code = (
        "import sys\n"
        "from pydcap.collateral import jsonread\n"
        "assert all(jsonread.read(b'{}') is jsonread.NOT_READ for _ in range(jsonread.IMPORT_AFTER))\n"
        "assert 'msgspec' not in sys.modules\n"
        "assert jsonread.read(b'{\"a\":[1]}') == {'a': [1]} and 'msgspec' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _json(data: bytes | str) -> tuple[str, Any]:
    try:
        return "value", json.loads(data)
    except (ValueError, RecursionError) as exc:
        return "error", type(exc)


@pytest.mark.parametrize("text", EDGES)
def test_read_gives_what_json_gives_or_leaves_it_to_json(text: bytes) -> None:
    for data in (text, text.decode("utf-8", "surrogateescape")):
        value = read(data)
        if value is not NOT_READ:
            assert _json(data) == ("value", value)
            assert json.dumps(value) == json.dumps(json.loads(data))  # same order, same float values


def test_written_as_is_what_json_writes() -> None:
    value = {"a": [1, -2, None, True, False, {"b": "é x"}], "c": 2**70}
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert written_as(value, text)
    assert not written_as(value, text.replace(b":", b": "))
    assert not written_as({"a": "\n"}, b'{"a":"\\n"}')  # an escape: left to the slower check
    document = SignedDocument.from_parts(b'{"a":"\\u00e9","b":1.50}', "00" * 64, "tcbInfo", "tcb_info")
    assert document.compact_body == '{"a":"é","b":1.5}'.encode()


def test_deep_nesting_is_left_to_json() -> None:
    assert read(b"[" * 2000 + b"]" * 2000) is NOT_READ
    assert object_members(b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}") is None
    assert compact_object(b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}") is None
    assert read(b"[" * 20 + b"]" * 20) == json.loads(b"[" * 20 + b"]" * 20)


@pytest.mark.parametrize("text", EDGES)
def test_object_members_only_of_compact_objects(text: bytes) -> None:
    members = object_members(text)
    compact = compact_object(text)
    if compact is not None:  # only an object json writes exactly so, read as json reads it
        assert json.dumps(compact, separators=(",", ":"), ensure_ascii=False).encode() == text
        assert compact == json.loads(text)
    if members is None:
        assert compact is None or text == b"{}"  # the empty object is written exactly so
        return
    values: dict[str, Any] = {}
    spans = top_level_spans(text.decode(), "x", values)  # what the slow reader finds, no member twice
    assert {name: value for name, (_, value) in members.items()} == values
    assert {name: raw for name, (raw, _) in members.items()} == {
        name: text.decode()[start:end].encode() for name, (start, end) in spans.items()
    }


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"a":1}',  # a name twice, even with the same value
        b'{"a":1, "b":2}',  # whitespace between members
        b'{"\\u0061":1}',  # a name with an escape
        b'{"a":1,"\\u0061":1}',
        b"[1,2]",
        b"{}",
        b'{"a":NaN}',
        b'{"a":1.5}',  # a float: Intel's documents have none
        b'{"a":[1,{"b":1e5}]}',
    ],
)
def test_object_members_refuses(text: bytes) -> None:
    assert object_members(text) is None
    assert compact_object(text) is None or text == b"{}"  # the empty object is written exactly so


def test_real_documents_are_read_fast() -> None:
    require_testdata()
    for bundle in REAL:
        for name, body_key in (("tcb_info.json", "tcbInfo"), ("qe_identity.json", "enclaveIdentity")):
            text = (bundle.path / "collateral" / name).read_bytes().strip()
            members = object_members(text)
            assert members is not None
            assert {k: v for k, (_, v) in members.items()} == json.loads(text)
            assert read(text) == json.loads(text)
            body, _ = members[body_key]
            assert compact_object(body) == json.loads(body)  # Intel's bodies: exactly compact, read in one pass


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.text(max_size=6), _values, max_size=6),
    st.sampled_from([(",", ":"), (", ", ": ")]),
    st.booleans(),
)
def test_random_objects(obj: dict[str, Any], separators: tuple[str, str], ascii_only: bool) -> None:
    text = json.dumps(obj, separators=separators, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    value = read(text)
    assert value is NOT_READ or _json(text) == ("value", value)
    members = object_members(text)
    if members is not None:
        values: dict[str, Any] = {}
        top_level_spans(text.decode(), "x", values)
        assert {name: v for name, (_, v) in members.items()} == values
    else:  # only what msgspec cannot vouch for: whitespace, escaped names, floats, deep nesting
        compact = separators == (",", ":") and ascii_only and obj and not any(map(_needs_escape, obj))
        assert not compact or _has_float(obj) or text.count(b"[") + text.count(b"{") > 100
    exact = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    read_fast = compact_object(text)
    if read_fast is not None:
        assert text == exact and read_fast == json.loads(text)
    elif text == exact and b"\\" not in text and not _has_float(obj):
        assert text.count(b"[") + text.count(b"{") > 100  # only deep nesting keeps json's own form from it
    document = SignedDocument.from_parts(text, "00" * 64, "tcbInfo", "tcb_info")
    assert document.compact_body == json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    if members is not None and b"\\" not in text:
        assert written_as(values, json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def _has_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(map(_has_float, value.values()))
    if isinstance(value, list):
        return any(map(_has_float, value))
    return isinstance(value, float)


def _needs_escape(name: str) -> bool:
    return json.dumps(name, ensure_ascii=True) != f'"{name}"'
