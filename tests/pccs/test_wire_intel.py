"""Byte-compatibility with Intel's PCCS 1.23: the real bundles' collateral imported through the admin API
exactly as Intel's PCCS accepted it, then every recorded GET answered with the recorded body and headers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pydcap.pccs import CachingMode, PccsConfig, PccsServer
from tests.support.pccs import ADMIN, ADMIN_TOKEN
from tests.support.testdata import TESTDATA

WIRE = TESTDATA / "pccs-wire"
RECORDED = json.loads((WIRE / "responses.json").read_text()) if (WIRE / "responses.json").exists() else {}
# The collateral was current on this day; Intel's answers carry no staleness warning then.
WHEN = datetime(2025, 6, 20, tzinfo=UTC).timestamp()
# Headers of Express itself (and the connection) that a client never reads.
NOT_COMPARED = {"X-Powered-By", "Request-ID", "Content-Length"}


@pytest.fixture(scope="module")
def intel_pccs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not RECORDED:
        pytest.skip(f"the recorded PCCS answers are not in {WIRE}")
    directory = tmp_path_factory.mktemp("wire")
    config = PccsConfig(
        port=0, mode=CachingMode.OFFLINE, database=str(directory / "db.sqlite3"), insecure_http=True,
        state_dir=str(directory), admin_token_hash=hashlib.sha512(ADMIN_TOKEN.encode()).hexdigest(),
    )  # fmt: skip
    with PccsServer.create(config, clock=lambda: WHEN) as server:  # Intel's root, the default trust
        body = (WIRE / "platformcollateral-put.json").read_bytes()
        put = httpx.put(f"{server.url}/sgx/certification/v4/platformcollateral", content=body, headers=ADMIN)
        assert put.status_code == 200, put.text
        assert put.text == "Operation successful."
        yield server


@pytest.mark.parametrize("name", sorted(RECORDED) or ["none"])
def test_recorded_answer(intel_pccs: PccsServer, name: str) -> None:
    recorded = RECORDED[name]
    path = recorded["request"].split(" ", 1)[1]
    answer = httpx.get(intel_pccs.url + path, headers=recorded["request_headers"])
    assert answer.status_code == recorded["status"]
    for header, value in recorded["headers"].items():
        # Intel's error sentences are sent as text that no browser runs.
        expected = "text/plain; charset=utf-8" if value == "text/html; charset=utf-8" else value
        if header not in NOT_COMPARED:
            assert answer.headers.get(header) == expected, header
    body = (WIRE / recorded["body_file"]).read_bytes()
    if recorded["status"] == 200:
        assert answer.content == body
        assert answer.headers["Content-Length"] == recorded["headers"]["Content-Length"]
    elif recorded["status"] == 404:
        # Intel says "No cache data for this platform." for anything missing; we say what is missing.
        assert answer.text.startswith("No cache data for the SGX TCB info"), answer.text
        assert "OFFLINE" in answer.text
    else:
        assert answer.text.startswith(body.decode()), answer.text  # Intel's sentence, then the detail


def test_request_id_is_echoed(intel_pccs: PccsServer) -> None:
    answer = httpx.get(f"{intel_pccs.url}/sgx/certification/v4/rootcacrl", headers={"Request-ID": "abc123"})
    assert answer.headers["Request-ID"] == "abc123"
    fresh = httpx.get(f"{intel_pccs.url}/sgx/certification/v4/rootcacrl", headers={"Request-ID": "bad id\t!"})
    assert len(fresh.headers["Request-ID"]) == 32 and fresh.headers["Request-ID"] != "bad id\t!"


def test_exported_collateral_reimports_to_the_same_answers(intel_pccs: PccsServer, tmp_path: Path) -> None:
    from pydcap.pccs import export_collateral

    exported = export_collateral(intel_pccs.app.service)
    config = PccsConfig(
        port=0,
        mode=CachingMode.OFFLINE,
        database=str(tmp_path / "b.sqlite3"),
        insecure_http=True,
        state_dir=str(tmp_path),
    )
    with PccsServer.create(config, clock=lambda: WHEN) as other:
        import asyncio

        from pydcap.pccs import import_collateral

        asyncio.run(import_collateral(other.app.service, json.loads(json.dumps(exported))))
        for path in ("/sgx/certification/v4/tcb?fmspc=00A067110000", "/tdx/certification/v4/qe/identity",
                     "/sgx/certification/v4/pckcrl?ca=platform&encoding=der", "/sgx/certification/v4/rootcacrl"):  # fmt: skip
            assert httpx.get(other.url + path).content == httpx.get(intel_pccs.url + path).content, path
