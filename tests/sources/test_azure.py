"""The Azure client: the URLs Microsoft's Azure DCAP client builds (clientid, api-version, CRLs by Intel's
distribution URL, THIM for TDX, CRLs included) and the JSON ``pckcert`` body, answered on loopback with real
Intel data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from pydcap.quote import Quote
from pydcap.sources import (
    AzureClient,
    Fetched,
    HttpSettings,
    MalformedResponseError,
    PckCa,
    PlatformId,
    RetryPolicy,
    Tee,
)
from pydcap.sources.azure import CRL_URIS, crl_uri_param
from tests.sources.pccs_replay import Answer, ReplayPccs
from tests.support.testdata import TESTDATA

SGX = TESTDATA / "real" / "phala-sgx-v3" / "collateral"
TDX = TESTDATA / "real" / "phala-tdx-v4" / "collateral"


async def _closing(client: AzureClient, call: Awaitable[Fetched]) -> Fetched:
    """``call``'s answer, the client closed after it (no connection left for the garbage collector)."""
    async with client:
        return await call


def _asked(replay_pccs: ReplayPccs) -> list[tuple[str, dict[str, list[str]]]]:
    return [(urlsplit(k).path, parse_qs(urlsplit(k).query)) for k in replay_pccs.counts]


def test_sgx_collateral_from_the_global_cache(replay_pccs: ReplayPccs) -> None:
    chain = quote((SGX / "tcb_info_issuer_chain.pem").read_text())
    replay_pccs.queue("/pckcrl", Answer(200, {}, (SGX / "root_ca_crl.der").read_bytes()))
    replay_pccs.queue(
        "/pckcrl",
        Answer(
            200,
            {"SGX-PCK-CRL-Issuer-Chain": quote((SGX / "pck_crl_issuer_chain.pem").read_text())},
            (SGX / "pck_crl.der").read_bytes(),
        ),
    )
    replay_pccs.queue("/tcb", Answer(200, {"SGX-TCB-Info-Issuer-Chain": chain}, (SGX / "tcb_info.json").read_bytes()))
    replay_pccs.queue(
        "/qe/identity",
        Answer(200, {"SGX-Enclave-Identity-Issuer-Chain": chain}, (SGX / "qe_identity.json").read_bytes()),
    )
    client = AzureClient(f"{replay_pccs.url}/sgx/certification", client_id="tests")

    async def fetch() -> None:
        async with client:
            assert (await client.root_ca_crl()).data == (SGX / "root_ca_crl.der").read_bytes()
            assert (await client.pck_crl(PckCa.PROCESSOR)).data == (SGX / "pck_crl.der").read_bytes()
            assert (await client.tcb_info(Tee.SGX, bytes.fromhex("00a067110000"))).data == (
                SGX / "tcb_info.json"
            ).read_bytes()
            assert (await client.qe_identity(Tee.SGX)).data == (SGX / "qe_identity.json").read_bytes()

    asyncio.run(fetch())
    asked = _asked(replay_pccs)
    assert asked[0] == (
        "/sgx/certification/v4/pckcrl",
        {"uri": [crl_uri_param(CRL_URIS["root"])], "clientid": ["tests"], "api-version": ["2020-02-12-preview"]},
    )
    assert asked[1][1]["uri"] == ["https%3a%2f%2fcertificates.trustedservices.intel.com%2fintelsgxpckprocessor.crl"]
    assert asked[2] == (
        "/sgx/certification/v4/tcb",
        {"fmspc": ["00a067110000"], "clientid": ["tests"], "api-version": ["2018-10-01-preview"]},
    )
    assert asked[3] == (
        "/sgx/certification/v4/qe/identity",
        {"clientid": ["tests"], "api-version": ["2018-10-01-preview"]},
    )


def test_tdx_collateral_from_thim(replay_pccs: ReplayPccs) -> None:
    chain = quote((TDX / "tcb_info_issuer_chain.pem").read_text())
    crl_chain = {"SGX-PCK-CRL-Issuer-Chain": quote((TDX / "pck_crl_issuer_chain.pem").read_text())}
    replay_pccs.queue(
        "/tdx/certification/v4/tcb", Answer(200, {"TCB-Info-Issuer-Chain": chain}, (TDX / "tcb_info.json").read_bytes())
    )
    replay_pccs.queue("/thim/sgx/certification/v4/pckcrl", Answer(200, crl_chain, (TDX / "pck_crl.der").read_bytes()))
    replay_pccs.queue(
        "/thim/sgx/certification/v4/rootcacrl", Answer(200, {}, (TDX / "root_ca_crl.der").read_bytes().hex().encode())
    )
    # AZDCAP_COLLATERAL_VERSION is SGX's: TDX collateral is v4 whatever it says.
    client = AzureClient(
        f"{replay_pccs.url}/sgx/certification",
        tdx_url=f"{replay_pccs.url}/thim/sgx/certification",
        collateral_version="v3",
    )

    async def fetch() -> None:
        async with client:
            got = await client.tcb_info(Tee.TDX, bytes.fromhex("b0c06f000000"))
            assert got.data == (TDX / "tcb_info.json").read_bytes()
            assert (await client.pck_crl(PckCa.PLATFORM, Tee.TDX)).data == (TDX / "pck_crl.der").read_bytes()
            assert (await client.root_ca_crl(Tee.TDX)).data == (TDX / "root_ca_crl.der").read_bytes()

    asyncio.run(fetch())
    assert _asked(replay_pccs) == [
        (
            "/thim/tdx/certification/v4/tcb",
            {"fmspc": ["b0c06f000000"], "clientid": ["production_client"], "api-version": ["2018-10-01-preview"]},
        ),
        ("/thim/sgx/certification/v4/pckcrl", {"ca": ["platform"], "clientid": ["production_client"]}),
        ("/thim/sgx/certification/v4/rootcacrl", {"clientid": ["production_client"]}),
    ]


def test_the_machine_certificate_as_azure_sends_it(replay_pccs: ReplayPccs) -> None:
    pem = Quote.parse((SGX.parent / "quote.bin").read_bytes()).pck_chain_pem
    assert pem is not None
    end = pem.index(b"-----END CERTIFICATE-----") + 25
    body = {
        "pckCert": pem[:end].decode(),
        "sgx-Pck-Certificate-Issuer-Chain": quote(pem[end:].decode().strip("\x00\n")),
        "sgx-Tcbm": "0B0B0202FF0100000000000000000000" + "000D",  # Azure: PCESVN big-endian
    }
    replay_pccs.queue("/thim/v4/pckcert", Answer(503, {}, b"no THIM here"), times=4)
    replay_pccs.queue("/sgx/certification/v4/pckcert", Answer(200, {}, json.dumps(body).encode()))
    fast = HttpSettings(retry=RetryPolicy(attempts=4, backoff=0.01))
    client = AzureClient(f"{replay_pccs.url}/sgx/certification", pck_url=f"{replay_pccs.url}/thim", settings=fast)
    platform = PlatformId(b"\x01" * 16, bytes(16), 13, 0)
    got = asyncio.run(_closing(client, client.pck_certificate(platform)))
    assert got.data == pem[:end] + b"\n" and got.issuer_chain.count(b"BEGIN CERTIFICATE") == 2
    assert got.meta == {"tcbm": "0b0b0202ff0100000000000000000000" + "0d00"}  # pydcap: little-endian, as Intel
    asked = _asked(replay_pccs)
    assert asked[0][0] == "/thim/v4/pckcert" and asked[-1][0] == "/sgx/certification/v4/pckcert"
    assert asked[-1][1]["api-version"] == ["2021-07-22-preview"] and asked[-1][1]["qeid"] == ["01" * 16]
    thim_headers = [h for h in replay_pccs.request_headers if h.get("metadata") == "true"]
    assert thim_headers, "THIM is asked with the metadata header"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"pckCert": "not pem", "sgx-Pck-Certificate-Issuer-Chain": "x"}, "not a PEM certificate"),
        ({"pckCert": "-----BEGIN CERTIFICATE-----\n", "sgx-Pck-Certificate-Issuer-Chain": "x"}, "not PEM certificates"),
        ({"pckCert": "-----BEGIN CERTIFICATE-----\n"}, "sgx-Pck-Certificate-Issuer-Chain is missing"),
    ],
)
def test_a_machine_certificate_body_that_is_not_what_azure_sends_is_malformed(
    replay_pccs: ReplayPccs, body: dict[str, str], message: str
) -> None:
    replay_pccs.queue("/sgx/certification/v4/pckcert", Answer(200, {}, json.dumps(body).encode()))
    client = AzureClient(f"{replay_pccs.url}/sgx/certification")
    with pytest.raises(MalformedResponseError, match=message):
        asyncio.run(_closing(client, client.pck_certificate(PlatformId(b"\x01" * 16, bytes(16), 13, 0))))
