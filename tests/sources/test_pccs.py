"""The PCCS client against a replay of Intel's own PCCS (exact recorded bodies and headers, over HTTP)."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import pytest

from pydcap.pki import CertificateChain
from pydcap.sources import (
    CertificatesUnavailableError,
    CollateralNotFoundError,
    HttpSettings,
    MalformedResponseError,
    PccsClient,
    PckCa,
    PlatformId,
    PlatformUnknownError,
    RetryPolicy,
    Tee,
    UpstreamServerError,
)
from tests.sources.pccs_replay import Answer, ReplayPccs
from tests.support.testdata import TESTDATA

SGX = TESTDATA / "real" / "phala-sgx-v3" / "collateral"
TDX = TESTDATA / "real" / "phala-tdx-v4" / "collateral"


def _same_chain(a: bytes, b: bytes) -> bool:
    return [c.der for c in CertificateChain.parse(a).certificates] == [
        c.der for c in CertificateChain.parse(b).certificates
    ]


def test_every_document_comes_back_byte_exact(replay_pccs: ReplayPccs) -> None:
    async def fetch_all() -> None:
        client = PccsClient(replay_pccs.url)
        root = await client.root_ca_crl()
        processor = await client.pck_crl(PckCa.PROCESSOR)
        platform = await client.pck_crl(PckCa.PLATFORM)
        sgx_tcb = await client.tcb_info(Tee.SGX, bytes.fromhex("00a067110000"))
        tdx_tcb = await client.tcb_info(Tee.TDX, bytes.fromhex("b0c06f000000"))
        qe = await client.qe_identity(Tee.SGX)
        td_qe = await client.qe_identity(Tee.TDX)
        await client.aclose()
        assert root.data == (SGX / "root_ca_crl.der").read_bytes() and root.issuer_chain == b""
        assert processor.data == (SGX / "pck_crl.der").read_bytes()
        assert _same_chain(processor.issuer_chain, (SGX / "pck_crl_issuer_chain.pem").read_bytes())
        assert platform.data == (TDX / "pck_crl.der").read_bytes()
        assert sgx_tcb.data == (SGX / "tcb_info.json").read_bytes()
        assert _same_chain(sgx_tcb.issuer_chain, (SGX / "tcb_info_issuer_chain.pem").read_bytes())
        assert tdx_tcb.data == (TDX / "tcb_info.json").read_bytes()
        assert qe.data == (SGX / "qe_identity.json").read_bytes()
        assert td_qe.data == (TDX / "qe_identity.json").read_bytes()
        assert _same_chain(td_qe.issuer_chain, (TDX / "qe_identity_issuer_chain.pem").read_bytes())
        assert re.fullmatch(r"[0-9a-f]{32}", qe.request_id or ""), "the PCCS's own Request-ID is kept"

    asyncio.run(fetch_all())
    assert set(replay_pccs.counts) == {
        "/sgx/certification/v4/rootcacrl",
        "/sgx/certification/v4/pckcrl?ca=processor&encoding=der",
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        "/sgx/certification/v4/tcb?fmspc=00A067110000",
        "/tdx/certification/v4/tcb?fmspc=B0C06F000000",
        "/sgx/certification/v4/qe/identity",
        "/tdx/certification/v4/qe/identity",
    }
    ids = [h.get("request-id", "") for h in replay_pccs.request_headers]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and len(set(ids)) == len(ids)


def test_hex_crls_are_read_as_pccs_api_3_0_clients_ask_for_them(replay_pccs: ReplayPccs) -> None:
    got = asyncio.run(PccsClient(replay_pccs.url, crl_encoding="hex").pck_crl(PckCa.PROCESSOR))
    assert got.data == (SGX / "pck_crl.der").read_bytes()
    assert list(replay_pccs.counts) == ["/sgx/certification/v4/pckcrl?ca=processor"]


def test_a_miss_is_a_named_error_with_url_status_and_advice(replay_pccs: ReplayPccs) -> None:
    with pytest.raises(CollateralNotFoundError) as caught:
        asyncio.run(PccsClient(replay_pccs.url).tcb_info(Tee.SGX, bytes.fromhex("00906ed50000")))
    exc = caught.value
    assert exc.status == 404 and exc.url == f"{replay_pccs.url}/sgx/certification/v4/tcb?fmspc=00906ED50000"
    assert "No cache data for this platform." in str(exc) and "register the platform" in exc.hint
    assert exc.request_id is not None and exc.request_id in str(exc)


def test_an_unknown_platform_is_named_as_such(replay_pccs: ReplayPccs) -> None:
    platform = PlatformId(
        bytes.fromhex("00112233445566778899aabbccddeeff"), bytes.fromhex("0a0a0202ff0100000000000000000000"), 13, 0
    )
    with pytest.raises(PlatformUnknownError, match="does not know this platform") as caught:
        asyncio.run(PccsClient(replay_pccs.url).pck_certificate(platform))
    assert caught.value.status == 461 and "The platform was not found in the cache." in str(caught.value)


def test_the_api_version_comes_from_a_qcnl_style_url(replay_pccs: ReplayPccs) -> None:
    client = PccsClient(f"{replay_pccs.url}/sgx/certification/v3/")
    assert client.api_version == 3 and client.root == replay_pccs.url
    with pytest.raises(CollateralNotFoundError):
        asyncio.run(client.tcb_info(Tee.SGX, bytes.fromhex("00a067110000")))
    assert list(replay_pccs.counts) == ["/sgx/certification/v3/tcb?fmspc=00A067110000"]


def test_v3_header_names_are_understood(replay_pccs: ReplayPccs) -> None:
    chain = (SGX / "tcb_info_issuer_chain.pem").read_bytes()
    body = (SGX / "tcb_info.json").read_bytes()
    replay_pccs.queue("/v3/tcb", Answer(200, {"SGX-TCB-Info-Issuer-Chain": quote(chain.decode())}, body))
    got = asyncio.run(
        PccsClient(f"{replay_pccs.url}/sgx/certification/v3").tcb_info(Tee.SGX, bytes.fromhex("00a067110000"))
    )
    assert got.data == body and _same_chain(got.issuer_chain, chain)


@pytest.mark.parametrize(
    ("status", "error", "advice"),
    [
        (462, CertificatesUnavailableError, "no PCK certificate for its TCB"),
        (502, UpstreamServerError, "could not reach Intel PCS"),
    ],
)
def test_pccs_statuses_become_named_errors(
    replay_pccs: ReplayPccs, status: int, error: type[Exception], advice: str
) -> None:
    replay_pccs.queue("/pckcert", Answer(status, {"Request-ID": "ab" * 16}, b"failure"), times=10)
    platform = PlatformId(b"\x01" * 16, b"\x00" * 16, 1, 0)
    client = PccsClient(replay_pccs.url, settings=_fast())
    with pytest.raises(error, match=advice):
        asyncio.run(client.pck_certificate(platform))


def test_a_pck_certificate_with_its_tcbm_fmspc_and_ca_type(replay_pccs: ReplayPccs) -> None:
    from pydcap.quote import Quote

    pem = Quote.parse((SGX.parent / "quote.bin").read_bytes()).pck_chain_pem
    assert pem is not None
    end = pem.index(b"-----END CERTIFICATE-----") + 25
    headers = {
        "SGX-TCBm": "0B0B0202FF0100000000000000000000" + "0D00",
        "SGX-FMSPC": "00A067110000",
        "SGX-PCK-Certificate-CA-Type": "processor",
        "SGX-PCK-Certificate-Issuer-Chain": quote(pem[end:].decode().strip("\x00\n")),
    }
    replay_pccs.queue("/pckcert", Answer(200, headers, pem[:end] + b"\n"))
    platform = PlatformId(b"\x01" * 16, bytes(16), 13, 0, encrypted_ppid=b"\x02" * 384)
    got = asyncio.run(PccsClient(replay_pccs.url).pck_certificate(platform))
    assert dict(got.meta) == {"tcbm": headers["SGX-TCBm"].lower(), "fmspc": "00a067110000", "ca_type": "processor"}
    (asked,) = replay_pccs.counts
    assert asked.startswith(f"/sgx/certification/v4/pckcert?qeid={'01' * 16}&cpusvn={'00' * 16}&pcesvn=0d00&pceid=0000")
    assert asked.endswith("&encrypted_ppid=" + "02" * 384)


def test_an_answer_without_its_issuer_chain_is_malformed(replay_pccs: ReplayPccs) -> None:
    replay_pccs.queue("/qe/identity", Answer(200, {}, (SGX / "qe_identity.json").read_bytes()))
    with pytest.raises(
        MalformedResponseError,
        match="SGX-Enclave-Identity-Issuer-Chain or SGX-QE-Identity-Issuer-Chain header is missing",
    ):
        asyncio.run(PccsClient(replay_pccs.url).qe_identity(Tee.SGX))


def test_a_body_that_is_not_a_crl_is_malformed(replay_pccs: ReplayPccs) -> None:
    replay_pccs.queue("/rootcacrl", Answer(200, {}, b"<html>maintenance</html>"))
    with pytest.raises(MalformedResponseError, match="not a CRL"):
        asyncio.run(PccsClient(replay_pccs.url).root_ca_crl())


def _fast() -> HttpSettings:
    return HttpSettings(retry=RetryPolicy(attempts=2, backoff=0.01, deadline=5))
