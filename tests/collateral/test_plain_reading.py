"""The fast paths of TCB info and enclave identity parsing (``_plain_*``) read exactly what the member-by-member
readers (``Fields``) read, and leave every defect to them: the same result or the same error, for Intel's real
documents and for many damaged copies of them."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pydcap.collateral import enclave_identity, tcb_info
from pydcap.collateral.enclave_identity import EnclaveIdentity
from pydcap.collateral.fields import plain_date, plain_hex, plain_strings, plain_uint
from pydcap.collateral.signed import SignedDocument
from pydcap.collateral.tcb_info import TcbInfo
from tests.support.testdata import REAL, require_testdata

KINDS = {"tcbInfo": ("tcb_info.json", TcbInfo), "enclaveIdentity": ("qe_identity.json", EnclaveIdentity)}

# Values a damaged member takes: each of Intel's types, out of range, of the wrong type, or the right one.
VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2, 3, 255, 256, 65535, 65536, 2**32, 2**70, 1.5, "", "x", "UpToDate", "Revoked",
    "OutOfDate", "2024-03-13T00:00:00Z", "2024-13-01T00:00:00Z", "2024-03-13T00:00:00", "SGX", "TDX", "QE",
    [], ["a"], ["a", 1], {}, {"svn": 1}, "ZZ", "00" * 2, "00" * 4, "00" * 6, "00" * 16, "00" * 32,
]  # fmt: skip


def _documents() -> list[tuple[str, dict[str, Any]]]:
    require_testdata()
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for bundle in REAL:
        for key, (filename, _) in KINDS.items():
            text = (bundle.path / "collateral" / filename).read_text()
            seen.setdefault(text, (key, json.loads(text)[key]))
    return list(seen.values())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from _paths(v, (*prefix, k))


def _damaged(body: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """``body`` with one to three members removed, repeated or replaced."""
    body = copy.deepcopy(body)
    for _ in range(rnd.choice((1, 1, 2, 3))):
        path = rnd.choice(list(_paths(body)))
        parent = body
        for k in path[:-1]:
            parent = parent[k]
        choice = rnd.random()
        if choice < 0.15:
            del parent[path[-1]]
        elif choice < 0.25 and isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = copy.deepcopy(rnd.choice(VALUES))
    return body


def _outcome(parse: Callable[[SignedDocument], object], document: SignedDocument) -> str:
    try:
        return repr(parse(document))
    except Exception as exc:  # the error itself is what is compared
        return f"{type(exc).__name__}: {exc}"


def _slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Disable every fast path: each member is read by ``Fields``."""
    monkeypatch.setattr(tcb_info, "_plain_header", lambda obj: None)
    monkeypatch.setattr(tcb_info, "_plain_levels", lambda items, tdx: None)
    monkeypatch.setattr(tcb_info, "_plain_tdx_module", lambda obj: None)
    monkeypatch.setattr(tcb_info, "_plain_module_identities", lambda items: None)
    monkeypatch.setattr(enclave_identity, "_plain_body", lambda signed, obj: None)


def _signed(key: str, body: dict[str, Any]) -> SignedDocument:
    return SignedDocument(key, json.dumps(body, separators=(",", ":")).encode(), bytes(64))


def test_real_documents_take_the_fast_paths() -> None:
    for key, body in _documents():
        if key == "enclaveIdentity":
            assert enclave_identity._plain_body(_signed(key, body), body) is not None
        else:
            assert tcb_info._plain_header(body) is not None
            if body["version"] == 3:
                assert tcb_info._plain_levels(body["tcbLevels"], body.get("id") == "TDX") is not None
            if "tdxModule" in body:
                assert tcb_info._plain_tdx_module(body["tdxModule"]) is not None
            if "tdxModuleIdentities" in body:
                assert tcb_info._plain_module_identities(body["tdxModuleIdentities"]) is not None


def _each_member_damaged(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """For each member name (its first place in ``body``), ``body`` with it removed or given each of ``VALUES``."""
    firsts: dict[Any, tuple[Any, ...]] = {}
    for path in _paths(body):
        firsts.setdefault(path[-1] if isinstance(path[-1], str) else (path[-2:-1], "item"), path)
    for path in firsts.values():
        for value in [_ABSENT, *VALUES]:
            damaged = copy.deepcopy(body)
            parent = damaged
            for k in path[:-1]:
                parent = parent[k]
            if value is _ABSENT:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(value)
            yield damaged


_ABSENT = object()


def test_fast_and_slow_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(14)
    cases = []
    kinds_seen = set()
    for key, body in _documents():
        cases.append((key, _signed(key, body)))
        cases.extend((key, _signed(key, _damaged(body, rnd))) for _ in range(40))
        kind = (key, body.get("version"), body.get("id"), *sorted(body))
        if kind not in kinds_seen:  # one document of each kind: every member damaged in every way
            kinds_seen.add(kind)
            cases.extend((key, _signed(key, damaged)) for damaged in _each_member_damaged(body))
    fast = [_outcome(KINDS[key][1].parse, document) for key, document in cases]
    _slow(monkeypatch)
    slow = [_outcome(KINDS[key][1].parse, SignedDocument(d.body_key, d.body, d.signature)) for key, d in cases]
    assert fast == slow
    successes = sum(not outcome.startswith(("CollateralFormatError", "InvalidCollateralError")) for outcome in fast)
    assert 0 < successes < len(cases)  # both kinds of outcome were compared


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), (0, 0), (256, None), (-1, None), (True, None), (7.0, None), ("7", None), (None, None)],
)
def test_plain_uint(value: object, expected: int | None) -> None:
    assert plain_uint(value, 255) == expected


def test_plain_readers_refuse_what_fields_refuses() -> None:
    assert plain_hex("00ff", 2) == b"\x00\xff"
    assert plain_hex("00f", 2) is None and plain_hex("zzzz", 2) is None and plain_hex(b"00ff", 2) is None
    assert plain_date("2025-06-19T10:56:11Z") == 1750330571
    assert plain_date("2025-06-19T10:56:11") is None and plain_date("2025-02-30T00:00:00Z") is None
    assert plain_date(1750330571) is None
    assert plain_strings({}, "k") == () and plain_strings({"k": ["a"]}, "k") == ("a",)
    assert plain_strings({"k": None}, "k") is None and plain_strings({"k": ["a", 1]}, "k") is None
