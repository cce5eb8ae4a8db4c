"""The QCNL provider verifies before it caches or returns: a tampered answer, or one that is not the document asked
for, fails the call with a named error and is kept neither in memory nor on disk; a cache file that fails is
deleted and fetched again; nothing is cached past its own freshness; under ``local_cache_only`` the chosen
certificate's chain must verify; the root is Intel's unless one is passed, and then it is announced."""

from __future__ import annotations

import base64
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pydcap.collateral import Collateral, TcbInfo
from pydcap.pki import TrustRoot
from pydcap.provider import codes
from pydcap.provider.errors import ProviderConfigError, UntrustedCollateral
from pydcap.provider.interface import CacheKind, PlatformId
from pydcap.provider.qcnl.cache_item import CachedResponse, cache_key
from pydcap.provider.qcnl.config import QcnlConfig, parse_qcnl_config
from pydcap.provider.qcnl.provider import QcnlProvider
from pydcap.provider.trust import TRUSTED_ROOT_ENV, UntrustedRootWarning
from pydcap.sim import SimulatedIntel
from tests.provider.local_pck_files import install, platform_certificates
from tests.support.provider import PLATFORM, QE_ID, Clock, QcnlPccs, provider

DAY = 24 * 3600
LOCAL_ONLY = parse_qcnl_config('{"pccs_url": "http://127.0.0.1:9/sgx/certification/v4/", "local_cache_only": true}')


def edit_first_tcb_status(tcb_info: bytes) -> bytes:
    """The TCB info with its first TCB level's status changed (its signature left as it was)."""
    found = re.search(rb'"tcbStatus"\s*:\s*"(\w+)"', tcb_info)
    assert found is not None
    status = b"UpToDate" if found.group(1) == b"Revoked" else b"Revoked"
    return tcb_info[: found.start(1)] + status + tcb_info[found.end(1) :]


def break_signature(der: bytes) -> bytes:
    """A DER certificate or CRL ends in its signature's last byte: flipped, the signature no longer verifies."""
    return der[:-1] + bytes([der[-1] ^ 1])


def break_pem_signature(pem: bytes) -> bytes:
    der = break_signature(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


def urls(qcnl_pccs: QcnlPccs) -> dict[str, str]:
    """The URL each endpoint is asked at for SGX collateral and PLATFORM's certificate (API 3.0, its cache key)."""
    fmspc = qcnl_pccs.data.documents("sgx")[0]
    return {
        "pckcert": f"{qcnl_pccs.url}pckcert?qeid={QE_ID.hex().upper()}&cpusvn={'00' * 16}&pcesvn=0D00&pceid=0000",
        "pckcrl": f"{qcnl_pccs.url}pckcrl?ca=processor",
        "rootcacrl": f"{qcnl_pccs.url}rootcacrl",
        "tcb": f"{qcnl_pccs.url}tcb?fmspc={fmspc.upper()}&update=standard",
        "qe/identity": f"{qcnl_pccs.url}qe/identity?update=standard",
    }


def cached(qcnl_pccs: QcnlPccs, directory: Path) -> set[str]:
    """The endpoints whose answers have a cache file (and no other file is there)."""
    names = {cache_key(url): endpoint for endpoint, url in urls(qcnl_pccs).items()}
    files = {path.name for path in directory.iterdir()}
    assert files <= names.keys(), files - names.keys()
    return {names[name] for name in files}


def caching(qcnl_pccs: QcnlPccs) -> QcnlConfig:
    return qcnl_pccs.config(pck_cache_expire_hours=1, verify_collateral_cache_expire_hours=1)


# ---- tampered answers --------------------------------------------------------------------------------------

TAMPERED: dict[str, tuple[str, Callable[[bytes], bytes], int, str]] = {
    # endpoint, change, the code it fails with (the cache's mapping), Intel's name for the failed check
    "TCB info, one status edited": (
        "tcb",
        edit_first_tcb_status,
        codes.TCBINFO_CHAIN_ERROR,
        "TCB_INFO_INVALID_SIGNATURE",
    ),
    "QE identity, edited": (
        "qe/identity",
        lambda b: b.replace(b'"isvprodid":1', b'"isvprodid":2', 1),
        codes.QEIDENTITY_CHAIN_ERROR,
        "SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE",
    ),
    "PCK CRL, broken signature": (
        "pckcrl",
        break_signature,
        codes.UNABLE_TO_GET_COLLATERAL,
        "SGX_CRL_INVALID_SIGNATURE",
    ),
    "root CA CRL, broken signature": (
        "rootcacrl",
        break_signature,
        codes.UNABLE_TO_GET_COLLATERAL,
        "SGX_CRL_INVALID_SIGNATURE",
    ),
}
ORIGINALS: dict[str, Callable[[Collateral], bytes]] = {
    "tcb": lambda c: c.tcb_info.to_bytes(),
    "qe/identity": lambda c: c.qe_identity.to_bytes(),
    "pckcrl": lambda c: c.pck_crl,
    "rootcacrl": lambda c: c.root_ca_crl,
}
# What can be cached when the endpoint's answer is refused: only what verifies without it.
ADMITTED_WITHOUT = {
    "tcb": {"pckcrl", "rootcacrl"},
    "qe/identity": {"pckcrl", "rootcacrl", "tcb"},
    "pckcrl": {"rootcacrl"},
    "rootcacrl": set(),
}


@pytest.mark.parametrize("tampering", list(TAMPERED))
def test_a_tampered_collateral_answer_fails_the_call_and_is_not_kept(
    qcnl_pccs: QcnlPccs, qcnl_cache_base: Path, tampering: str
) -> None:
    endpoint, change, code, failure = TAMPERED[tampering]
    fmspc = bytes.fromhex(qcnl_pccs.data.documents("sgx")[0])
    original = ORIGINALS[endpoint](qcnl_pccs.data.documents("sgx")[1])
    assert change(original) != original  # the tampering does change what is served
    qcnl_pccs.data.altered[endpoint] = change
    directory = qcnl_cache_base / ".dcap-qcnl"
    with provider(caching(qcnl_pccs)) as p:
        with pytest.raises(UntrustedCollateral) as info:
            p.verification_collateral(fmspc, "processor")
        assert info.value.code == code and failure in info.value.detail
        assert p.cache.load(cache_key(urls(qcnl_pccs)[endpoint])) is None  # neither in memory nor on disk
        assert cached(qcnl_pccs, directory) == ADMITTED_WITHOUT[endpoint]
        del qcnl_pccs.data.altered[endpoint]
        collateral = p.verification_collateral(fmspc, "processor")  # asked again, now served genuine
    assert qcnl_pccs.data.endpoints().count(endpoint) == 2
    assert collateral.digest == qcnl_pccs.data.documents("sgx")[1].digest
    assert cached(qcnl_pccs, directory) == {"pckcrl", "rootcacrl", "tcb", "qe/identity"}


def test_the_tampering_edits_what_it_says() -> None:
    """The changes above do change the documents (a test of the tests)."""
    tcb = b'{"tcbInfo":{"tcbLevels":[{"tcbStatus":"UpToDate"},{"tcbStatus":"OutOfDate"}]},"signature":"00"}'
    assert edit_first_tcb_status(tcb) == tcb.replace(b"UpToDate", b"Revoked")
    assert break_signature(b"\x30\x01\x02") == b"\x30\x01\x03"


def test_a_pck_certificate_with_a_broken_signature_fails_and_is_not_kept(
    qcnl_pccs: QcnlPccs, qcnl_cache_base: Path
) -> None:
    qcnl_pccs.data.altered["pckcert"] = break_pem_signature
    with provider(caching(qcnl_pccs)) as p:
        with pytest.raises(UntrustedCollateral, match="SGX_PCK_INVALID_ISSUER") as info:
            p.pck_cert_chain(PLATFORM)
        assert p.cache.load(cache_key(urls(qcnl_pccs)["pckcert"])) is None  # neither in memory nor on disk
    assert info.value.code == codes.PCK_CERT_CHAIN_ERROR
    assert cached(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl") == {"pckcrl", "rootcacrl"}


def test_a_pck_certificate_for_another_platform_is_refused(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    """This PCCS answers its one certificate (PCE-ID 0000) whatever PCE-ID is asked for."""
    other = PlatformId(QE_ID, bytes(16), 13, pce_id=1)
    with provider(caching(qcnl_pccs)) as p, pytest.raises(UntrustedCollateral, match="PCK_CERT_MISMATCH") as info:
        p.pck_cert_chain(other)
    assert info.value.code == codes.PCK_CERT_CHAIN_ERROR
    assert cached(qcnl_pccs, qcnl_cache_base / ".dcap-qcnl") == {"pckcrl", "rootcacrl"}


# ---- planted cache files ------------------------------------------------------------------------------------


def planted_tcb_info(qcnl_pccs: QcnlPccs) -> tuple[str, bytes]:
    collateral = qcnl_pccs.data.documents("sgx")[1]
    headers = {"TCB-Info-Issuer-Chain": quote(collateral.tcb_info_issuer_chain.decode())}
    body = edit_first_tcb_status(collateral.tcb_info.to_bytes())
    return "tcb", CachedResponse.create(CacheKind.QV_COLLATERAL, 2_000_000, headers, body).encode()


def planted_pck_crl(qcnl_pccs: QcnlPccs) -> tuple[str, bytes]:
    collateral = qcnl_pccs.data.documents("sgx")[1]
    headers = {"SGX-PCK-CRL-Issuer-Chain": quote(collateral.pck_crl_issuer_chain.decode())}
    body = break_signature(collateral.pck_crl).hex().encode()
    return "pckcrl", CachedResponse.create(CacheKind.QV_COLLATERAL, 2_000_000, headers, body).encode()


def planted_simulated_pck(qcnl_pccs: QcnlPccs) -> tuple[str, bytes]:
    """A PCK certificate of a simulated Intel (another root), in the cache file of the real platform's."""
    platform = platform_certificates().platform
    leaf, _, chain = platform.pck_chain_pem.partition(b"-----END CERTIFICATE-----\n")
    headers = {"SGX-TCBm": platform.pck.tcbm, "SGX-PCK-Certificate-Issuer-Chain": quote(chain.decode())}
    body = leaf + b"-----END CERTIFICATE-----\n"
    return "pckcert", CachedResponse.create(CacheKind.CERTIFICATE, 2_000_000, headers, body).encode()


@pytest.mark.parametrize("plant", [planted_tcb_info, planted_pck_crl, planted_simulated_pck])
def test_a_planted_cache_file_is_refused_deleted_and_fetched_again(
    qcnl_pccs: QcnlPccs, qcnl_cache_base: Path, plant: Callable[[QcnlPccs], tuple[str, bytes]]
) -> None:
    endpoint, item = plant(qcnl_pccs)
    path = install(qcnl_cache_base / ".dcap-qcnl", cache_key(urls(qcnl_pccs)[endpoint]), item)
    messages: list[str] = []
    with provider(qcnl_pccs.config()) as p:  # 0 hours: the genuine answer is not written back
        p.set_logging(lambda level, text: messages.append(text))
        chain = p.pck_cert_chain(PLATFORM)
        collateral = p.collateral_for_quote(qcnl_pccs.data.sgx.quote)
    assert not path.exists() and endpoint in qcnl_pccs.data.endpoints()
    assert any(f"dropping cache item {path.name}: refused" in m for m in messages)
    assert collateral.digest == qcnl_pccs.data.documents("sgx")[1].digest
    assert chain.pck.fmspc.hex() == qcnl_pccs.data.documents("sgx")[0]


def test_a_genuine_cache_file_is_checked_served_and_kept(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    """A file as Intel's library (or another process) writes it: served without a request, left as it is, and
    remembered in memory once checked."""
    clock = Clock()
    with provider(caching(qcnl_pccs), clock) as p:
        expected = p.collateral_for_quote(qcnl_pccs.data.sgx.quote).digest
    files = {path: path.read_bytes() for path in (qcnl_cache_base / ".dcap-qcnl").iterdir()}
    with provider(qcnl_pccs.config(), clock) as p:
        assert p.collateral_for_quote(qcnl_pccs.data.sgx.quote).digest == expected
        assert {path: path.read_bytes() for path in files} == files
        for path in files:
            path.unlink()  # from now on only memory can serve them
        assert p.collateral_for_quote(qcnl_pccs.data.sgx.quote).digest == expected
    assert qcnl_pccs.data.endpoints() == ["pckcrl", "rootcacrl", "tcb", "qe/identity"]  # the first provider's


# ---- time -------------------------------------------------------------------------------------------------


def test_nothing_is_cached_past_its_own_freshness(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    collateral = qcnl_pccs.data.documents("sgx")[1]
    next_update = TcbInfo.parse(collateral.tcb_info.to_bytes()).next_update
    clock = Clock()
    clock.now = next_update - 60
    tcb_file = qcnl_cache_base / ".dcap-qcnl" / cache_key(urls(qcnl_pccs)["tcb"])
    config = qcnl_pccs.config(verify_collateral_cache_expire_hours=24)
    with provider(config, clock) as p:
        p.verification_collateral(bytes.fromhex(qcnl_pccs.data.documents("sgx")[0]), "processor")
        assert CachedResponse.decode(tcb_file.read_bytes()).expiry == next_update  # not now + 24 hours
        clock.now += 60
        p.verification_collateral(bytes.fromhex(qcnl_pccs.data.documents("sgx")[0]), "processor")
    assert qcnl_pccs.data.endpoints().count("tcb") == 2
    assert not tcb_file.exists()  # expired, deleted; the answer, already past its freshness, was not kept


def test_a_cache_file_past_its_documents_freshness_is_deleted(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    """Intel's library keeps an answer for the configured hours; pydcap serves it no longer than the document."""
    collateral = qcnl_pccs.data.documents("sgx")[1]
    next_update = TcbInfo.parse(collateral.tcb_info.to_bytes()).next_update
    headers = {"TCB-Info-Issuer-Chain": quote(collateral.tcb_info_issuer_chain.decode())}
    item = CachedResponse.create(CacheKind.QV_COLLATERAL, next_update + DAY, headers, collateral.tcb_info.to_bytes())
    path = install(qcnl_cache_base / ".dcap-qcnl", cache_key(urls(qcnl_pccs)["tcb"]), item.encode())
    clock = Clock()
    clock.now = next_update
    with provider(qcnl_pccs.config(), clock) as p:
        p.verification_collateral(bytes.fromhex(qcnl_pccs.data.documents("sgx")[0]), "processor")
    assert not path.exists() and "tcb" in qcnl_pccs.data.endpoints()


# ---- the trust root ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> SimulatedIntel:
    return SimulatedIntel(seed=12)


def test_the_root_is_intels_unless_one_is_passed_and_then_announced(
    qcnl_pccs: QcnlPccs, simulated: SimulatedIntel, qcnl_cache_base: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(simulated.root_pem)

    def trust(given: TrustRoot | None = None, root_file: Path | None = None) -> TrustRoot:
        env = {"AZDCAP_CACHE": str(qcnl_cache_base)} | ({TRUSTED_ROOT_ENV: str(root_file)} if root_file else {})
        with QcnlProvider(qcnl_pccs.config(), trust=given, env=env) as p:
            return p.trust

    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrustedRootWarning)
        assert trust().is_intel
    with pytest.warns(UntrustedRootWarning, match="intel-qcnl provider trusts a root other than Intel's"):
        assert trust(root_file=root) == simulated.trust_root
    other = simulated.impostor().trust_root
    with pytest.warns(UntrustedRootWarning, match=f"key id {other.key_id.hex()[:16]}"):
        assert trust(other, root_file=root) == other  # the argument wins over the environment
    with pytest.raises(ProviderConfigError) as info:
        trust(root_file=tmp_path / "missing.pem")
    assert info.value.key == TRUSTED_ROOT_ENV


def test_a_provider_trusting_another_root_refuses_intels_answers(
    qcnl_pccs: QcnlPccs, qcnl_cache_base: Path, simulated: SimulatedIntel
) -> None:
    config = qcnl_pccs.config(pck_cache_expire_hours=1, verify_collateral_cache_expire_hours=1, pccs_api_version="3.1")
    with provider(config, trust=simulated.trust_root) as p, pytest.raises(UntrustedCollateral) as info:
        p.pck_cert_chain(PLATFORM)
    assert info.value.code == codes.PCK_CERT_CHAIN_ERROR and "SGX_ROOT_CA_UNTRUSTED" in info.value.detail
    assert qcnl_pccs.data.endpoints() == ["pckcert"]  # no CRL is asked where an untrusted chain says it is
    assert list((qcnl_cache_base / ".dcap-qcnl").iterdir()) == []


# ---- local_cache_only ---------------------------------------------------------------------------------------

EXPIRY = 1_000_000 + 90 * DAY


def _rotated_tcbms(listing: tuple[dict[str, object], ...]) -> list[dict[str, object]]:
    tcbms = [entry["tcbm"] for entry in listing]
    return [{**entry, "tcbm": tcbm} for entry, tcbm in zip(listing, tcbms[1:] + tcbms[:1], strict=True)]


def _forged(listing: tuple[dict[str, object], ...]) -> list[dict[str, object]]:
    return [{**e, "cert": quote(break_pem_signature(unquote(str(e["cert"])).encode()).decode())} for e in listing]


@pytest.mark.parametrize(
    ("why", "failure"),
    [
        ("another root", "SGX_PCK_CERT_CHAIN_UNTRUSTED"),
        ("forged signatures", "SGX_PCK_INVALID_ISSUER"),
        ("a TCBm the certificate does not certify", "PCK_CERT_MISMATCH"),
    ],
)
def test_local_cache_only_refuses_a_certificate_whose_chain_does_not_verify(
    qcnl_cache_base: Path, why: str, failure: str
) -> None:
    pc = platform_certificates()
    listing = {
        "another root": list(pc.listing),
        "forged signatures": _forged(pc.listing),
        "a TCBm the certificate does not certify": _rotated_tcbms(pc.listing),
    }[why]
    path = install(qcnl_cache_base / ".dcap-qcnl", pc.file_name, pc.file("06" * 16, EXPIRY, listing=listing))
    trust = None if why == "another root" else pc.intel.trust_root
    with provider(LOCAL_ONLY, trust=trust) as p, pytest.raises(UntrustedCollateral) as info:
        p.pck_cert_chain(pc.platform_id(13))
    assert info.value.code == codes.PCK_CERT_CHAIN_ERROR and failure in info.value.detail
    assert path.exists()  # kept: it cannot be fetched again, and may be sound under the root it was made for
