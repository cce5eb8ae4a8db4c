"""The QCNL provider against a real loopback PCCS: Intel's URLs and parameters for each configuration (and the
CRLs asked first to check what they admit), collateral that verifies, retries, status codes as named errors,
cache expiry; and ``local_cache_only``, PCK certificates selected from local cache files laid out as Intel's
tool writes them, their chains checked up to the trusted root."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import unquote

import pytest

from pydcap import verify_quote
from pydcap.provider import codes
from pydcap.provider.errors import (
    CertsUnavailable,
    CollateralNotFound,
    MalformedResponse,
    NoPlatformCertData,
    PlatformUnknown,
    ProviderNetworkError,
    ServiceUnavailable,
    UnexpectedProviderError,
    UntrustedCollateral,
)
from pydcap.provider.interface import CacheKind, LogLevel, PlatformId
from pydcap.provider.loader import open_provider
from pydcap.provider.qcnl.cache_item import cache_key
from pydcap.provider.qcnl.config import parse_qcnl_config
from pydcap.provider.qcnl.local_pck import DEFAULT_FILE
from pydcap.provider.qcnl.provider import QcnlProvider
from pydcap.quote import TeeType
from tests.provider.local_pck_files import install, platform_certificates, real_platform_file
from tests.provider.pccs_server import PccsData, running_pccs
from tests.support.provider import PLATFORM, QE_ID, Clock, QcnlPccs, provider

PCK_AND_ITS_CRLS = ["pckcert", "pckcrl", "rootcacrl"]  # a PCK answer, then the CRLs it is checked against


def test_sgx_collateral_with_api_3_0(qcnl_pccs: QcnlPccs) -> None:
    b = qcnl_pccs.data.sgx
    with provider(qcnl_pccs.config()) as p:
        collateral = p.collateral_for_quote(b.quote)
    fmspc = qcnl_pccs.data.documents("sgx")[0]
    assert qcnl_pccs.paths() == [
        "/sgx/certification/v4/pckcrl?ca=processor",
        "/sgx/certification/v4/rootcacrl",  # the PCK CRL is checked against it before anything else is asked
        f"/sgx/certification/v4/tcb?fmspc={fmspc.upper()}&update=standard",
        "/sgx/certification/v4/qe/identity?update=standard",
    ]
    assert collateral.digest == qcnl_pccs.data.documents("sgx")[1].digest  # hex CRLs arrive as the same DER
    result = verify_quote(b.quote, collateral, at=b.at)
    assert result.tcb_status is not None and result.tcb_status.value == b.expected["tcb_status"]


def test_tdx_collateral_with_api_3_1_and_early_update(qcnl_pccs: QcnlPccs) -> None:
    b = qcnl_pccs.data.tdx
    with provider(qcnl_pccs.config(pccs_api_version="3.1", tcb_update_type="early")) as p:
        collateral = p.collateral_for_quote(b.quote)
    fmspc = qcnl_pccs.data.documents("tdx")[0]
    assert qcnl_pccs.paths() == [
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        "/sgx/certification/v4/crl?uri=https://certificates.trustedservices.intel.com/IntelSGXRootCA.der",
        f"/tdx/certification/v4/tcb?fmspc={fmspc.upper()}&update=early",
        "/tdx/certification/v4/qe/identity?update=early",
    ]
    result = verify_quote(b.quote, collateral, at=b.at)
    assert (result.failure, result.tcb_status and result.tcb_status.value) == (None, b.expected["tcb_status"])


def test_pck_certificate_request_and_custom_options(qcnl_pccs: QcnlPccs) -> None:
    config = qcnl_pccs.config(
        custom_request_options={"get_cert": {"headers": {"metadata": "true"}, "params": {"api-version": "x"}}}
    )
    with provider(config) as p:
        chain = p.pck_cert_chain(PLATFORM)
        p.verification_collateral(bytes.fromhex(qcnl_pccs.data.documents("sgx")[0]), "processor")
    path, headers = qcnl_pccs.data.requests[0]
    assert path == (
        f"/sgx/certification/v4/pckcert?qeid={QE_ID.hex().upper()}&encrypted_ppid={'00' * 384}"
        f"&cpusvn={'00' * 16}&pcesvn=0D00&pceid=0000&api-version=x"
    )
    assert headers["metadata"] == "true"
    assert all("metadata" not in h and "api-version" not in p for p, h in qcnl_pccs.data.requests[1:])
    assert chain.pck.fmspc.hex() == qcnl_pccs.data.documents("sgx")[0]
    assert len(chain.chain) == 3 and chain.tcbm.endswith(chain.cert_pce_svn.to_bytes(2, "little").hex())


def test_local_pck_url_first_then_pccs(qcnl_pccs: QcnlPccs) -> None:
    local = PccsData(qcnl_pccs.data.sgx, qcnl_pccs.data.tdx, "ff" * 16)
    with running_pccs(local) as local_url:
        with provider(qcnl_pccs.config(local_pck_url=local_url)) as p:
            p.pck_cert_chain(PLATFORM)  # the local service does not know this QE-ID: falls back
        assert local.endpoints() == ["pckcert"]
        assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS  # the CRLs come from the collateral service
    with provider(qcnl_pccs.config(local_pck_url=qcnl_pccs.url)) as p:
        p.pck_cert_chain(PLATFORM)
    assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS * 2


@pytest.mark.parametrize(("delay", "waits"), [(0, [1.0, 2.0]), (10, [10.0, 10.0])])
def test_retries_on_503(qcnl_pccs: QcnlPccs, delay: int, waits: list[float]) -> None:
    clock = Clock()
    qcnl_pccs.data.fail_next = [503, 503]
    with provider(qcnl_pccs.config(retry_times=2, retry_delay=delay), clock) as p:
        p.pck_cert_chain(PLATFORM)
    assert clock.sleeps == waits and qcnl_pccs.data.endpoints() == ["pckcert", "pckcert", *PCK_AND_ITS_CRLS]  # 2 503s
    qcnl_pccs.data.fail_next = [503, 503]
    with provider(qcnl_pccs.config(retry_times=1), clock) as p, pytest.raises(ServiceUnavailable):
        p.pck_cert_chain(PLATFORM)


@pytest.mark.parametrize(
    ("status", "family", "code"),
    [
        (461, PlatformUnknown, codes.PLATFORM_UNKNOWN),
        (462, CertsUnavailable, codes.CERTS_UNAVAILABLE),
        (404, NoPlatformCertData, codes.NO_PLATFORM_CERT_DATA),
        (429, MalformedResponse, codes.UNKNOWN_MESSAGE_RESPONSE),
    ],
)
def test_statuses_are_named_and_not_retried(qcnl_pccs: QcnlPccs, status: int, family: type, code: int) -> None:
    qcnl_pccs.data.fail_next = [status]
    with provider(qcnl_pccs.config(retry_times=3)) as p, pytest.raises(family) as info:
        p.pck_cert_chain(PLATFORM)
    assert info.value.code == code and len(qcnl_pccs.data.requests) == 1


def test_missing_collateral_names_what_is_missing(qcnl_pccs: QcnlPccs) -> None:
    with provider(qcnl_pccs.config()) as p, pytest.raises(CollateralNotFound) as info:
        p.verification_collateral(bytes(6), "processor")
    assert info.value.code == codes.TCBINFO_NOT_FOUND


def test_unreachable_service_is_retried_then_a_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = Clock()
    config = parse_qcnl_config(
        json.dumps({"pccs_url": f"http://127.0.0.1:{port}/sgx/certification/v4/", "retry_times": 1})
    )
    with provider(config, clock) as p, pytest.raises(ProviderNetworkError):
        p.pck_cert_chain(PLATFORM)
    assert clock.sleeps == [1.0]


def test_cache_expiry_hours_max_age_and_clear(qcnl_pccs: QcnlPccs) -> None:
    clock = Clock()
    with provider(qcnl_pccs.config(pck_cache_expire_hours=1), clock) as p:  # the CRLs are not cached (0 hours)
        p.pck_cert_chain(PLATFORM)
        p.pck_cert_chain(PlatformId(QE_ID, bytes(16), 13, 0, encrypted_ppid=b"\x01" * 384))  # same cache key
        assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS  # memory holds only what was checked: not checked again
        clock.now += 3601
        p.pck_cert_chain(PLATFORM)
        assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS * 2
        p.clear_cache(CacheKind.QV_COLLATERAL)
        p.pck_cert_chain(PLATFORM)
        assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS * 2
        p.clear_cache(CacheKind.CERTIFICATE)
        p.pck_cert_chain(PLATFORM)
        assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS * 3
    qcnl_pccs.data.cache_control = "public, max-age=60"
    root_ca_crl = ["qe/identity", "rootcacrl"]  # where the root CA CRL is found, and the CRL
    with provider(qcnl_pccs.config(), clock) as p:  # expiry 0 in the file, but the service says 60 s
        p.root_ca_crl()
        p.root_ca_crl()
        assert qcnl_pccs.data.endpoints()[9:] == root_ca_crl
        clock.now += 61
        p.root_ca_crl()
        assert qcnl_pccs.data.endpoints()[9:] == root_ca_crl * 2


def test_a_qve_identity_that_is_another_enclaves_is_refused(qcnl_pccs: QcnlPccs, qcnl_cache_base: Path) -> None:
    """This PCCS answers the QE identity (Intel-signed) for the QvE's: authentic, but not the document asked
    for. The conformance suite gets a genuine QvE identity from the simulated Intel."""
    messages: list[tuple[LogLevel, str]] = []
    with provider(qcnl_pccs.config(verify_collateral_cache_expire_hours=1)) as p:
        p.set_logging(lambda level, text: messages.append((level, text)))
        with pytest.raises(UntrustedCollateral, match=r"asked for the QVE identity, got QE") as info:
            p.qve_identity()
        root = p.root_ca_crl()
        qve_item = p.cache.load(cache_key(f"{qcnl_pccs.url}qve/identity?update=standard"))
    assert info.value.code == codes.QEIDENTITY_CHAIN_ERROR and "QE_IDENTITY_MISMATCH" in info.value.detail
    assert qve_item is None and len(list((qcnl_cache_base / ".dcap-qcnl").iterdir())) == 2  # QE identity, root CRL
    assert root == qcnl_pccs.data.documents("sgx")[1].root_ca_crl
    assert (LogLevel.INFO, f"[QCNL] GET {qcnl_pccs.url}qve/identity?update=standard") in messages


def test_tdx_needs_sgx_in_the_url(qcnl_pccs: QcnlPccs) -> None:
    config = parse_qcnl_config(json.dumps({"pccs_url": qcnl_pccs.url.replace("/sgx/", "/other/")}))
    with provider(config) as p, pytest.raises(UnexpectedProviderError, match="no /sgx/"):
        p.verification_collateral(bytes(6), "platform", TeeType.TDX)


def test_opened_by_name_with_the_configuration_file(qcnl_pccs: QcnlPccs, tmp_path: Path) -> None:
    conf = tmp_path / "sgx_default_qcnl.conf"
    conf.write_text(f'{{\n  // written by the test\n  "pccs_url": "{qcnl_pccs.url}"\n}}\n')
    env = {"PYDCAP_SYSROOT": str(tmp_path / "empty-root"), "QCNL_CONF_PATH": str(conf)}
    with open_provider("intel", env=env) as p:
        assert isinstance(p, QcnlProvider) and p.config.source == str(conf) and p.trust.is_intel
        p.pck_cert_chain(PLATFORM)
    assert qcnl_pccs.data.endpoints() == PCK_AND_ITS_CRLS


# ---- local_cache_only ----------------------------------------------------------------------------------

LOCAL_ONLY = parse_qcnl_config(
    json.dumps({"pccs_url": "http://127.0.0.1:9/sgx/certification/v4/", "local_cache_only": True})
)
EXPIRY = 1_000_000 + 90 * 24 * 3600  # the Clock starts at 1_000_000; Intel's tool defaults to 90 days


@pytest.mark.parametrize(
    ("components", "pce_svn", "tcbm"),
    [
        ("06060202030101000000000000000000", 13, "060602020301010000000000000000000D00"),  # its own level
        ("06060202030101000000000000000000", 12, "060602020301010000000000000000000C00"),  # older PCE
        ("07070202030100000000000000000000", 13, "070702020301000000000000000000000D00"),  # above the TCB info
        ("05050202030100000000000000000000", 13, "050502020301000000000000000000000D00"),
        ("04040202030100000000000000000000", 13, "040402020301000000000000000000000B00"),  # lowest, lower PCESVN
        ("ffffffffffffffffffffffffffffffff", 12, "070702020301010000000000000000000C00"),  # "CPUSVN unknown"
    ],
)
def test_local_cache_only_selects_the_certificate_for_the_tcb(
    qcnl_cache_base: Path, components: str, pce_svn: int, tcbm: str
) -> None:
    pc = platform_certificates()
    install(qcnl_cache_base / ".dcap-qcnl", pc.file_name, pc.file(components, EXPIRY))
    with provider(LOCAL_ONLY, trust=pc.intel.trust_root) as p:
        chain = p.pck_cert_chain(pc.platform_id(pce_svn, cpu_svn=bytes(16)))  # the CPUSVN comes from the file
    chosen = next(e for e in pc.listing if e["tcbm"] == tcbm)
    assert chain.tcbm.upper() == tcbm
    assert chain.pem.startswith(unquote(str(chosen["cert"])).strip().encode())
    assert len(chain.chain) == 3 and chain.pck.sgx.ppid == pc.platform.ppid
    oracle = pc.intel.select_pck(pc.platform, bytes.fromhex(components), pce_svn)  # PCS's choice agrees here
    assert oracle is not None and oracle.tcbm.upper() == tcbm


def test_local_cache_only_asks_no_service_for_pck_but_collateral_still_comes_from_it(
    qcnl_pccs: QcnlPccs, qcnl_cache_base: Path
) -> None:
    real = real_platform_file(qcnl_pccs.data.sgx.quote, qcnl_pccs.data.documents("sgx")[1].tcb_info.to_bytes(), EXPIRY)
    install(qcnl_cache_base / ".dcap-qcnl", f"{QE_ID.hex()}_0000", real.content)  # Intel-signed, checked offline
    config = qcnl_pccs.config(local_cache_only=True, local_pck_url=qcnl_pccs.url)
    with provider(config) as p:
        assert p.pck_cert_chain(PLATFORM).tcbm == real.tcbm
        assert qcnl_pccs.data.requests == []
        p.verification_collateral(bytes.fromhex(qcnl_pccs.data.documents("sgx")[0]), "processor")
    assert qcnl_pccs.data.endpoints() == ["pckcrl", "rootcacrl", "tcb", "qe/identity"]


def test_local_cache_only_falls_back_to_the_default_file(qcnl_cache_base: Path) -> None:
    pc = platform_certificates()
    install(qcnl_cache_base / ".dcap-qcnl", DEFAULT_FILE, pc.file("ff" * 16, EXPIRY))
    with provider(LOCAL_ONLY, trust=pc.intel.trust_root) as p:
        assert p.pck_cert_chain(pc.platform_id(13)).tcbm.upper() == "070702020301010000000000000000000D00"


def test_local_cache_only_without_a_file_fails_as_intel() -> None:
    with provider(LOCAL_ONLY) as p, pytest.raises(UnexpectedProviderError) as info:
        p.pck_cert_chain(PLATFORM)
    assert info.value.code == codes.ERROR_UNEXPECTED == 0xE001  # SGX_QL_ERROR_UNEXPECTED, as Intel's QPL returns
    assert f"{QE_ID.hex()}_0000" in info.value.detail and DEFAULT_FILE in info.value.detail


@pytest.mark.parametrize(("components", "pce_svn"), [("03030202030100000000000000000000", 13), ("06" * 16, 10)])
def test_local_cache_only_without_a_matching_certificate(qcnl_cache_base: Path, components: str, pce_svn: int) -> None:
    pc = platform_certificates()
    path = install(qcnl_cache_base / ".dcap-qcnl", pc.file_name, pc.file(components, EXPIRY))
    with (
        provider(LOCAL_ONLY, trust=pc.intel.trust_root) as p,
        pytest.raises(UnexpectedProviderError, match="PCK_CERT_SELECT_PCK_NOT_FOUND") as info,
    ):
        p.pck_cert_chain(pc.platform_id(pce_svn))
    assert info.value.code == codes.ERROR_UNEXPECTED
    assert path.exists()  # a good file that only this request cannot use is kept (Intel's library deletes it)


def test_local_cache_only_deletes_expired_and_corrupt_files(qcnl_cache_base: Path) -> None:
    pc = platform_certificates()
    other = platform_certificates(name="another-machine")
    good = pc.file("06" * 16, EXPIRY)
    unusable = {
        "expired": pc.file("06" * 16, 1_000_000),  # expiry == now is expired, as Intel compares
        "truncated": good[:-10],
        "bad components": pc.file("06" * 15 + "zz", EXPIRY),
        "certificates not an array": pc.file("06" * 16, EXPIRY, listing={"cert": "", "tcbm": ""}),
        "no usable entry": pc.file("06" * 16, EXPIRY, listing=[{"tcbm": "00"}, "cert"]),
        "another machine's certificate": pc.file("06" * 16, EXPIRY, listing=[*pc.listing, other.listing[0]]),
    }
    for why, content in unusable.items():
        path = install(qcnl_cache_base / ".dcap-qcnl", pc.file_name, content)
        with provider(LOCAL_ONLY, trust=pc.intel.trust_root) as p, pytest.raises(UnexpectedProviderError) as info:
            p.pck_cert_chain(pc.platform_id(13))
        assert info.value.code == codes.ERROR_UNEXPECTED, why
        assert not path.exists(), why
    assert "PCK_CERT_SELECT_INVALID_PPID" in str(info.value)
