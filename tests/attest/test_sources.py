"""Collateral through a PCCS (HTTPS, its self-signed certificate trusted with ``upstream_ca``), sharing the
PCCS's store: what the PCCS cached is what the service uses, and Intel is asked once."""

from __future__ import annotations

import base64
from pathlib import Path

from pydcap.attest import AttestServer
from pydcap.pccs import PccsConfig, PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from pydcap.sources import RequestBudget
from tests.support.attest import API, attest_config, client


def test_attest_through_an_https_pccs(
    tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel
) -> None:
    store = str(tmp_path / "shared.sqlite3")
    pccs_config = PccsConfig(port=0, upstream=pcs.url, database=store, root_ca=str(root_file), state_dir=str(tmp_path))
    quote = base64.urlsafe_b64encode(intel.sgx_platform(name="via-pccs", fmspc="00A067110000").quote(b"")).decode()
    with PccsServer.create(pccs_config) as pccs:
        assert pccs.tls is not None
        config = attest_config(
            tmp_path / "attest", pcs, root_file, source="pccs", upstream=pccs.url, upstream_ca=str(pccs.tls.cert),
        )  # fmt: skip
        (tmp_path / "attest").mkdir()
        pcs.reset_stats()
        with AttestServer(config) as server, client(server) as http:
            response = http.post("/attest/SgxEnclave", params=API, json={"quote": quote})
            assert response.status_code == 200, response.text
        first = pcs.stats()["total"]
        assert first > 0
        # A second service on the PCCS's own store: the PCCS fetched it, the service reads it; Intel is not asked.
        config = attest_config(tmp_path / "attest", pcs, root_file, database=store, upstream="http://127.0.0.1:9")
        with AttestServer(config) as server, client(server) as http:
            response = http.post("/attest/SgxEnclave", params=API, json={"quote": quote})
            assert response.status_code == 200, response.text
        assert pcs.stats()["total"] == first


def test_unreachable_upstream_is_503(tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel) -> None:
    config = attest_config(tmp_path, pcs, root_file, upstream="http://127.0.0.1:9", upstream_timeout=1.0)
    quote = base64.urlsafe_b64encode(intel.sgx_platform(name="nowhere", fmspc="00A067110000").quote(b"")).decode()
    with AttestServer(config) as server, client(server) as http:
        response = http.post("/attest/SgxEnclave", params=API, json={"quote": quote})
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "ServiceUnavailable" and response.headers["retry-after"] == "5"
        assert http.get("/healthz").status_code == 200


def test_a_throttled_upstream_is_503_with_the_budgets_wait(
    tmp_path: Path, pcs: SimulatedPcs, root_file: Path, intel: SimulatedIntel
) -> None:
    """The upstream request budget spent: 503 with the Retry-After the budget says (as the PCCS answers it), not a
    fixed wait; Intel is not asked for the TCB info."""
    quote = base64.urlsafe_b64encode(intel.sgx_platform(name="throttled", fmspc="00A067110000").quote(b"")).decode()
    with AttestServer(attest_config(tmp_path, pcs, root_file)) as server, client(server) as http:
        budget = RequestBudget(rate=1 / 120, burst=1)
        assert budget.try_spend() == 0.0  # the one request of the burst is gone; the next is 120 s away
        server.app.service.collateral.cache.budget = budget
        pcs.reset_stats()
        response = http.post("/attest/SgxEnclave", params=API, json={"quote": quote})
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "ServiceUnavailable"
        assert 118 <= int(response.headers["retry-after"]) <= 120, response.headers
        assert "budget" in response.json()["error"]["message"]
        assert "sgx/v4/tcb" not in pcs.stats()["by_endpoint"]
