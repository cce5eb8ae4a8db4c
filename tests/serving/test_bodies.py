"""The one request-body reader of pydcap's servers (``pydcap.serving.read_body``, ``parse_json``): bounded (413 by
Content-Length or as chunks arrive), JSON refused with a 400 naming the field and where it breaks; the PCCS and
the attestation service answer the same bodies the same way, each in its own error shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pydcap.attest import AttestConfig
from pydcap.attest.server import build_app as attest_app
from pydcap.pccs import CachingMode, PccsConfig
from pydcap.pccs.server import build_app as pccs_app
from pydcap.serving import RequestBodyError, parse_json, read_body, token_hash

TOKEN = "body-test-token"
LIMIT = 1000


def _receive(*chunks: bytes, disconnect: bool = False) -> Any:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    if disconnect:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


def _read(*chunks: bytes, length: bytes | None = None, disconnect: bool = False) -> bytes:
    headers = [(b"content-length", length)] if length is not None else []
    return asyncio.run(read_body({"headers": headers}, _receive(*chunks, disconnect=disconnect), LIMIT))


def test_read_body_within_the_limit_and_refused_past_it() -> None:
    assert _read(b"a" * 600, b"b" * 400) == b"a" * 600 + b"b" * 400
    for chunks, length in (((b"a" * 600, b"b" * 401), None), ((b"",), b"1001"), ((b"",), b"9" * 40)):
        with pytest.raises(RequestBodyError, match="1000") as refused:
            _read(*chunks, length=length)
        assert refused.value.status == 413
    for chunks, length, words in (((b"",), b"-5", "Content-Length"), ((b"abc",), None, "went away")):
        with pytest.raises(RequestBodyError, match=words) as refused:
            _read(*chunks, length=length, disconnect=length is None)
        assert refused.value.status == 400


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            b"{not json",
            "runtimeData is not JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        (b'{\n  "a": 1,\n  "b": }', "runtimeData is not JSON: Expecting value at line 3, column 8"),
        (b'{"a": NaN}', "runtimeData is not JSON: NaN is not a JSON value"),
        (b'{"a": "\xff"}', "runtimeData is not JSON: it is not UTF-8 text"),
        (b"[" * 100_000, "runtimeData is not JSON a server reads: it nests too deeply"),
    ],
)
def test_parse_json_names_the_field_and_where_it_breaks(data: bytes, words: str) -> None:
    with pytest.raises(RequestBodyError) as refused:
        parse_json(data, "runtimeData")
    assert str(refused.value) == words and refused.value.status == 400
    assert parse_json(b'{"a": [1, "\xc3\xa9"]}') == {"a": [1, "é"]}


# ---- both services, through the shared reader ------------------------------------------------------------------


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory: Path = tmp_path_factory.mktemp("bodies")
    pccs = pccs_app(
        PccsConfig(
            mode=CachingMode.OFFLINE, database=str(directory / "pccs.sqlite3"), state_dir=str(directory),
            user_token_hash=token_hash(TOKEN), admin_token_hash=token_hash(TOKEN), max_request_body=LIMIT,
        )
    )  # fmt: skip
    attest = attest_app(
        AttestConfig(
            database=str(directory / "attest.sqlite3"), state_dir=str(directory), admin_token_hash=token_hash(TOKEN),
            max_request_body=LIMIT,
        )
    )  # fmt: skip
    yield {"pccs": pccs, "attest": attest}
    asyncio.run(attest.service.aclose())
    asyncio.run(pccs.service.aclose())


REQUESTS = {  # a request taking a JSON body, of each service
    "pccs": ("POST", "/sgx/certification/v4/platforms", b"", [(b"user-token", TOKEN.encode())]),
    "attest": ("POST", "/attest/SgxEnclave", b"api-version=2022-08-01", []),
}


def _call(app: Any, service: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    method, path, query, auth = REQUESTS[service]
    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": [*auth, *headers]}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, _receive(*(body[i : i + 300] for i in range(0, max(len(body), 1), 300))), send))
    text = sent[1]["body"].decode()
    if service == "attest":
        text = json.loads(text)["error"]["message"]
    return sent[0]["status"], text


@pytest.mark.parametrize("service", sorted(REQUESTS))
def test_both_services_read_bodies_alike(apps: dict[str, Any], service: str) -> None:
    app = apps[service]
    # Past the limit as chunks arrive (no Content-Length: the server in front did not stop it), and by a length
    # too long for int(): 413 both.
    status, text = _call(app, service, b"{" + b" " * LIMIT + b"}", [])
    assert status == 413 and f"over {LIMIT} bytes" in text, text
    status, text = _call(app, service, b"{}", [(b"content-length", b"9" * 40)])
    assert status == 413 and f"accepts at most {LIMIT}" in text, text
    # Malformed JSON: 400, naming the body and where it breaks.
    status, text = _call(app, service, b'{"a": 1,\n "b": }', [])
    assert status == 400 and "the request body is not JSON: Expecting value at line 2, column 7" in text, text
    status, text = _call(app, service, b'{"a": Infinity}', [])
    assert status == 400 and "the request body is not JSON: Infinity is not a JSON value" in text, text
