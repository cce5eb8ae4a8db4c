"""The Intel PCS client: the v4 paths it shares with a PCCS (against the recorded PCCS), and what only PCS
has: the subscription key, the root CA CRL location, ``pckcert`` by encrypted PPID, ``pckcerts`` (with its
"Not available" entries, also from the simulated PCS), ``fmspcs``."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest

from pydcap.sim import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.catalog import RECOVERED_SGX_TCB
from pydcap.sim.server import SimulatedPcs
from pydcap.sources import MalformedResponseError, PckCa, PcsClient, PlatformId, Tee, UpstreamRejectedError
from pydcap.sources.pcs import INTEL_ROOT_CA_CRL_URL
from tests.sources.pccs_replay import Answer, ReplayPccs
from tests.support.testdata import TESTDATA

SGX = TESTDATA / "real" / "phala-sgx-v3" / "collateral"


def test_collateral_and_the_subscription_key(replay_pccs: ReplayPccs) -> None:
    async def fetch() -> None:
        client = PcsClient(replay_pccs.url, api_key="secret-key")
        tcb = await client.tcb_info(Tee.SGX, bytes.fromhex("00a067110000"))
        crl = await client.pck_crl(PckCa.PROCESSOR)
        root = await client.root_ca_crl()
        assert tcb.data == (SGX / "tcb_info.json").read_bytes()
        assert crl.data == (SGX / "pck_crl.der").read_bytes()
        assert root.data == (SGX / "root_ca_crl.der").read_bytes()

    asyncio.run(fetch())
    assert all(h["ocp-apim-subscription-key"] == "secret-key" for h in replay_pccs.request_headers)
    assert "request-id" not in replay_pccs.request_headers[0], "Request-ID is a PCCS convention"


def test_the_root_ca_crl_comes_from_intels_distribution_point_or_the_servers_endpoint() -> None:
    assert PcsClient().root_ca_crl_url == INTEL_ROOT_CA_CRL_URL
    assert PcsClient("http://127.0.0.1:8080").root_ca_crl_url == "http://127.0.0.1:8080/sgx/certification/v4/rootcacrl"
    assert PcsClient("http://x", root_ca_crl_url="http://y/crl").root_ca_crl_url == "http://y/crl"


def test_a_refused_subscription_key_says_what_to_do(replay_pccs: ReplayPccs) -> None:
    replay_pccs.queue("/pckcert", Answer(401, {}, b""))
    platform = PlatformId(b"\x01" * 16, bytes(16), 1, 0, encrypted_ppid=b"\xee" * 384)
    with pytest.raises(UpstreamRejectedError, match="subscription key") as caught:
        asyncio.run(PcsClient(replay_pccs.url).pck_certificate(platform))
    (asked,) = replay_pccs.counts
    assert asked.startswith("/sgx/certification/v4/pckcert?encrypted_ppid=" + "ee" * 384 + "&cpusvn=")
    assert "qeid" not in asked and caught.value.status == 401


def test_every_certificate_of_a_platform(replay_pccs: ReplayPccs) -> None:
    chain = (SGX / "pck_crl_issuer_chain.pem").read_text()
    items = [
        {
            "tcb": {"pcesvn": 13},
            "tcbm": "0B0B" + "00" * 14 + "0D00",
            "cert": quote("-----BEGIN CERTIFICATE-----\nAA\n"),
        },
        {"tcb": {"pcesvn": 5}, "tcbm": "0101" + "00" * 14 + "0500", "cert": "Not available"},
    ]
    headers = {
        "SGX-PCK-Certificate-Issuer-Chain": quote(chain),
        "SGX-FMSPC": "00A067110000",
        "SGX-PCK-Certificate-CA-Type": "processor",
    }
    replay_pccs.queue("/pckcerts", Answer(200, headers, json.dumps(items).encode()), times=2)
    client = PcsClient(replay_pccs.url, api_key="k")
    by_ppid = asyncio.run(client.pck_certificates(pce_id=0, encrypted_ppid=b"\x01" * 384))
    by_manifest = asyncio.run(client.pck_certificates(pce_id=0, platform_manifest=b"\x02" * 16))
    for got in (by_ppid, by_manifest):
        assert [o.tcbm for o in got.options] == [items[0]["tcbm"].lower(), items[1]["tcbm"].lower()]
        assert got.options[0].certificate == b"-----BEGIN CERTIFICATE-----\nAA\n" and got.options[1].certificate is None
        assert (got.fmspc, got.ca_type) == ("00A067110000", "processor")
    asked = list(replay_pccs.counts)
    assert asked[0] == "/sgx/certification/v4/pckcerts?encrypted_ppid=" + "01" * 384 + "&pceid=0000"
    assert asked[1] == "/sgx/certification/v4/pckcerts"


def test_certificates_the_simulated_pcs_has_not_generated_are_none() -> None:
    intel = SimulatedIntel(seed=3, now=REFERENCE_TIME)
    recovered, pce_svn = RECOVERED_SGX_TCB
    platform = intel.sgx_platform(name="not-yet", cpu_svn=bytes(recovered), pce_svn=pce_svn)
    issued = intel.pck_certificates(platform)
    intel.withhold_pck_certificates(platform, [RECOVERED_SGX_TCB])
    with SimulatedPcs(intel) as pcs:
        some = asyncio.run(PcsClient(pcs.url).pck_certificates(pce_id=0, encrypted_ppid=platform.encrypted_ppid))
        intel.withhold_pck_certificates(platform)
        none = asyncio.run(PcsClient(pcs.url).pck_certificates(pce_id=0, encrypted_ppid=platform.encrypted_ppid))
    assert [o.tcbm for o in some.options] == [tcbm.lower() for _, tcbm, _ in issued]
    assert [dict(o.tcb) for o in some.options] == [tcb for tcb, _, _ in issued]
    assert some.options[0].certificate is None and some.options[0].tcbm == platform.pck.tcbm.lower()
    assert [o.certificate for o in some.options[1:]] == [pem for _, _, pem in issued[1:]]
    assert [o.certificate for o in none.options] == [None] * len(issued)
    for fetched in (some, none):
        assert (fetched.fmspc, fetched.ca_type) == (platform.fmspc.hex().upper(), "processor")
        assert fetched.issuer_chain == intel.pck_crl_issuer_chain("processor")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"tcb": {}, "tcbm": "0B0B", "cert": "Not available"}, "TCBm must be 18 bytes, not 2"),
        ({"tcb": {}, "tcbm": "zz" * 18, "cert": "Not available"}, "is not hex"),
        ({"tcb": {}, "tcbm": "00" * 18}, "lacks tcb, tcbm or cert"),
        ({"tcbm": "00" * 18, "cert": "Not available"}, "lacks tcb, tcbm or cert"),
        ({"tcb": {}, "tcbm": "00" * 18, "cert": "garbage"}, "not a PEM certificate"),
    ],
)
def test_a_certificate_list_entry_that_is_not_what_pcs_sends_is_malformed(
    replay_pccs: ReplayPccs, entry: dict[str, object], message: str
) -> None:
    chain = quote((SGX / "pck_crl_issuer_chain.pem").read_text())
    replay_pccs.queue(
        "/pckcerts", Answer(200, {"SGX-PCK-Certificate-Issuer-Chain": chain}, json.dumps([entry]).encode())
    )
    with pytest.raises(MalformedResponseError, match=message):
        asyncio.run(PcsClient(replay_pccs.url).pck_certificates(pce_id=0, encrypted_ppid=b"\x01" * 384))


def test_the_fmspc_list(replay_pccs: ReplayPccs) -> None:
    body = json.dumps([{"fmspc": "00A067110000", "platform": "E3"}]).encode()
    replay_pccs.queue("/fmspcs", Answer(200, {}, body))
    assert asyncio.run(PcsClient(replay_pccs.url).fmspcs("E3")) == [{"fmspc": "00A067110000", "platform": "E3"}]
    assert list(replay_pccs.counts) == ["/sgx/certification/v4/fmspcs?platform=E3"]
