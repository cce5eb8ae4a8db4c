"""Fetching a quote's collateral straight from a source: FMSPC, CA and TEE read from the quote, all parts at
once, and the first failure reported as itself."""

from __future__ import annotations

import asyncio

import pytest

from pydcap import Collateral, verify_quote
from pydcap.sources import (
    CollateralNotFoundError,
    CollateralRequest,
    Fetched,
    MalformedResponseError,
    PccsClient,
    PckCa,
    PlatformRequestError,
    Tee,
    fetch_collateral,
    fetch_collateral_sync,
)
from pydcap.sources.fetch import collateral_from_parts
from tests.sources.pccs_replay import ReplayPccs
from tests.support.testdata import REAL, TESTDATA, require_testdata


@pytest.mark.parametrize("name", ["phala-sgx-v3", "phala-tdx-v4"])
def test_a_quotes_collateral_is_what_intels_pccs_serves(replay_pccs: ReplayPccs, name: str) -> None:
    bundle = next(b for b in REAL if b.name == name)
    collateral = fetch_collateral_sync(PccsClient(replay_pccs.url), bundle.quote)
    assert collateral == Collateral.load(bundle.path)
    result = verify_quote(bundle.quote, collateral, at=bundle.at)
    assert result.tcb_status is not None and result.tcb_status.value == bundle.expected["tcb_status"]
    assert replay_pccs.total() == 4


def test_what_a_quote_needs_is_read_from_it() -> None:
    require_testdata()
    sgx = CollateralRequest.from_quote((TESTDATA / "real" / "phala-sgx-v3" / "quote.bin").read_bytes())
    tdx = CollateralRequest.from_quote((TESTDATA / "real" / "teepot-tdx_1" / "quote.bin").read_bytes())
    assert (sgx.tee, sgx.fmspc.hex(), sgx.ca) == (Tee.SGX, "00a067110000", PckCa.PROCESSOR)
    assert (tdx.tee, tdx.fmspc.hex(), tdx.ca) == (Tee.TDX, "00806f050000", PckCa.PLATFORM)


def test_a_quote_without_a_pck_chain_cannot_say_what_it_needs() -> None:
    require_testdata()
    raw = bytearray((TESTDATA / "real" / "phala-sgx-v3" / "quote.bin").read_bytes())
    at = raw.index(b"-----BEGIN CERTIFICATE-----")
    raw[at : at + 5] = b"XXXXX"
    with pytest.raises(PlatformRequestError):
        CollateralRequest.from_quote(bytes(raw))


def test_the_first_failure_is_raised_as_itself(replay_pccs: ReplayPccs) -> None:
    """teepot-azure's FMSPC is not in the recorded PCCS: its TCB info is a miss."""
    quote = (TESTDATA / "real" / "teepot-azure" / "quote.bin").read_bytes()
    with pytest.raises(CollateralNotFoundError, match="00606A000000"):
        asyncio.run(fetch_collateral(PccsClient(replay_pccs.url), quote))


def test_an_unreadable_part_is_blamed_on_the_url_it_came_from() -> None:
    require_testdata()
    d = TESTDATA / "real" / "phala-sgx-v3" / "collateral"

    def part(name: str, chain: str | None = None) -> Fetched:
        return Fetched((d / name).read_bytes(), (d / chain).read_bytes() if chain else b"", f"http://pcs/{name}")

    good = {
        "root_ca_crl": part("root_ca_crl.der"),
        "pck_crl": part("pck_crl.der", "pck_crl_issuer_chain.pem"),
        "tcb_info": part("tcb_info.json", "tcb_info_issuer_chain.pem"),
        "qe_identity": part("qe_identity.json", "qe_identity_issuer_chain.pem"),
    }
    assert collateral_from_parts(**good) == Collateral.load(d)
    broken_pem = b"-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n"
    for name, data in (("root_ca_crl", broken_pem), ("pck_crl", broken_pem), ("tcb_info", b"[]")):
        bad = {**good, name: Fetched(data, good[name].issuer_chain, f"http://bad/{name}")}
        with pytest.raises(MalformedResponseError, match=name) as caught:
            collateral_from_parts(**bad)
        assert caught.value.url == f"http://bad/{name}"
