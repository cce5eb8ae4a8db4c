"""One ``.dcap-qcnl`` cache for pydcap's QCNL provider and Intel's library: what pydcap writes is found and read
by Intel's rules, and what Intel's library writes is served by pydcap without asking the service.

Intel's rules, as its QCNL source states them (``certification_service.cpp``, ``certification_provider.cpp``,
``local_cache.h``, ``qcnl_util.cpp``) and written here independently of pydcap's code: every byte array in a URL is
upper-case hex; the PCK certificate URL is asked without its ``&encrypted_ppid=...`` part; an item is named by
the lower-case sha256 hex of the service URL plus the query; it is a packed header (u16 version 1, u32 cache
type, i64 expiry) and the response's raw header and body, each after its u32 size; header names are matched
case-insensitively, the first of a repeated name wins.
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pydcap.provider.interface import PlatformId
from pydcap.provider.qcnl.config import QcnlConfig
from pydcap.provider.qcnl.provider import QcnlProvider
from pydcap.provider.trust import UntrustedRootWarning
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.server import SimulatedPcs

SEED = 4
CERTIFICATE, QV_COLLATERAL = 1, 2  # sgx_qpl_cache_type_t
HOURS = 24


@pytest.fixture(scope="module")
def pcs() -> Iterator[SimulatedPcs]:
    intel = SimulatedIntel(SEED)
    intel.register_scenario_platforms()
    with SimulatedPcs(intel) as server:
        yield server


def upper(value: bytes) -> str:
    return value.hex().upper()


@dataclass(frozen=True)
class IntelRequest:
    """One request of Intel's library: the endpoint, the query it sends, and the cache type of the answer."""

    endpoint: str
    params: str
    cache_type: int
    chain_header: str

    @property
    def url(self) -> str:
        return self.endpoint + self.params

    @property
    def item_name(self) -> str:
        query = (
            re.sub(r"&encrypted_ppid=[0-9a-zA-Z]+&", "&", self.params)
            if self.params.startswith("pckcert")
            else self.params
        )
        return hashlib.sha256((self.endpoint + query).encode()).hexdigest().lower()


def intels_requests(base: str, platform: SimulatedPlatform, root_cdp: str) -> list[IntelRequest]:
    """What Intel's library asks a PCCS (API 3.1) for a platform's PCK certificate and its quote's collateral."""
    tee_base = base.replace("/sgx/", "/tdx/", 1) if platform.tee == "tdx" else base
    pck = (
        f"pckcert?qeid={upper(platform.qe_id)}&encrypted_ppid={upper(platform.encrypted_ppid)}"
        f"&cpusvn={upper(platform.cpu_svn)}&pcesvn={upper(struct.pack('<H', platform.pce_svn))}"
        f"&pceid={upper(platform.pce_id)}"
    )
    return [
        IntelRequest(base, pck, CERTIFICATE, "sgx-pck-certificate-issuer-chain"),
        IntelRequest(base, f"pckcrl?ca={platform.ca}&encoding=der", QV_COLLATERAL, "sgx-pck-crl-issuer-chain"),
        IntelRequest(base, f"crl?uri={root_cdp}", QV_COLLATERAL, ""),
        IntelRequest(
            tee_base, f"tcb?fmspc={upper(platform.fmspc)}&update=standard", QV_COLLATERAL, "tcb-info-issuer-chain"
        ),
        IntelRequest(tee_base, "qe/identity?update=standard", QV_COLLATERAL, "sgx-enclave-identity-issuer-chain"),
    ]


def intel_reads(path: Path, now: float) -> tuple[int, dict[str, str], bytes]:
    """An item as Intel's library reads it (or fails the test where it would drop the item)."""
    value = path.read_bytes()
    version, cache_type, expiry = struct.unpack_from("<HIq", value)
    assert version == 1 and expiry > now
    pos = 14
    (header_size,) = struct.unpack_from("<I", value, pos)
    assert header_size <= len(value) - 14 - 8
    header = value[pos + 4 : pos + 4 + header_size].decode("latin-1")
    pos += 4 + header_size
    (body_size,) = struct.unpack_from("<I", value, pos)
    assert body_size == len(value) - pos - 4
    headers: dict[str, str] = {}
    for line in re.split(r"[\r\n]+", header):
        name, sep, rest = line.partition(": ")
        if sep:
            headers.setdefault(name.lower(), rest)
    return cache_type, headers, value[pos + 4 :]


def intel_writes(directory: Path, request: IntelRequest, response: httpx.Response, now: float) -> None:
    """An item as Intel's library writes one after a successful answer (curl's raw header block, expiry now+24h)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in response.headers.items())
    header = f"HTTP/1.1 {response.status_code} OK\r\n{lines}\r\n".encode("latin-1")
    item = struct.pack("<HIq", 1, request.cache_type, int(now) + HOURS * 3600)
    item += struct.pack("<I", len(header)) + header + struct.pack("<I", len(response.content)) + response.content
    (directory / request.item_name).write_bytes(item)


def qcnl(url: str, pcs: SimulatedPcs) -> QcnlProvider:
    config = QcnlConfig(
        pccs_url=url,
        use_secure_cert=False,
        pccs_api_version="3.1",
        pck_cache_expire_hours=HOURS,
        verify_collateral_cache_expire_hours=HOURS,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedRootWarning)
        return QcnlProvider(config, trust=pcs.intel.trust_root, timeout=5.0)


def platform_id(p: SimulatedPlatform) -> PlatformId:
    return PlatformId(p.qe_id, p.cpu_svn, p.pce_svn, int.from_bytes(p.pce_id, "little"), p.encrypted_ppid)


def root_cdp(pcs: SimulatedPcs) -> str:
    from cryptography import x509

    root = x509.load_pem_x509_certificate(pcs.intel.root_pem)
    points = root.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return str(points[0].full_name[0].value)  # type: ignore[index]


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_pydcap_writes_what_intels_library_reads(pcs: SimulatedPcs, qcnl_cache_base: Path, tee: str) -> None:
    base = f"{pcs.url}/sgx/certification/v4/"
    platform = SimulatedIntel(SEED).scenario_platform("platform-ca" if tee == "sgx" else "up-to-date", tee)
    with qcnl(base, pcs) as provider:
        provider.pck_cert_chain(platform_id(platform))
        provider.collateral_for_quote(platform.quote())
    directory = qcnl_cache_base / ".dcap-qcnl"
    now = time.time()
    for request in intels_requests(base, platform, root_cdp(pcs)):
        path = directory / request.item_name
        assert path.is_file(), f"Intel's library would not find {request.url}"
        cache_type, headers, body = intel_reads(path, now)
        assert cache_type == request.cache_type, request.params
        assert body == httpx.get(request.url, timeout=10).content, request.params
        if request.chain_header:
            assert request.chain_header in headers, request.params
        if request.cache_type == CERTIFICATE:
            assert headers["sgx-tcbm"] == platform.pck.tcbm


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_what_intels_library_writes_pydcap_serves_without_asking(
    pcs: SimulatedPcs, qcnl_cache_base: Path, tee: str
) -> None:
    base = f"{pcs.url}/sgx/certification/v4/"
    platform = SimulatedIntel(SEED).scenario_platform("processor-ca" if tee == "sgx" else "up-to-date", tee)
    directory = qcnl_cache_base / ".dcap-qcnl"
    now = time.time()
    for request in intels_requests(base, platform, root_cdp(pcs)):
        answer = httpx.get(request.url, timeout=10)
        assert answer.status_code == 200, request.params
        intel_writes(directory, request, answer, now)
    pcs.reset_stats()
    with qcnl(base, pcs) as provider:
        chain = provider.pck_cert_chain(platform_id(platform))
        collateral = provider.collateral_for_quote(platform.quote())
    assert pcs.stats()["total"] == 0  # every answer came from Intel's items
    assert chain.tcbm.upper() == platform.pck.tcbm
    assert collateral.tcb_info.to_bytes() == pcs.intel.tcb_info(platform.fmspc, tee)
