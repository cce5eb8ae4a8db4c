"""Local PCK cache files for ``local_cache_only``, laid out as Intel's PCS client tool writes them
(``pcsclient.py cache``: a packed ``<HIQ`` header, then four u32-prefixed fields), from a simulated Intel or
for the platform of a real quote."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote

from pydcap.pki import Certificate, PckCertificate
from pydcap.pki.certs import split_pem_chain
from pydcap.provider.interface import PlatformId
from pydcap.quote import Quote
from pydcap.sim import SimulatedIntel, SimulatedPlatform

MULTICERTS = 4  # SGX_QPL_CACHE_MULTICERTS


@dataclass(frozen=True)
class PlatformCertificates:
    """One simulated platform and what PCS ``pckcerts`` answers for it."""

    intel: SimulatedIntel
    platform: SimulatedPlatform
    listing: tuple[dict[str, object], ...]  # {"tcb", "tcbm", "cert"} as PCS sends them (cert URL-encoded)
    tcb_info: bytes
    issuer_chain: bytes

    @property
    def file_name(self) -> str:
        return f"{self.platform.qe_id.hex()}_{self.platform.pce_id.hex()}"

    def platform_id(self, pce_svn: int, cpu_svn: bytes = bytes(16)) -> PlatformId:
        return PlatformId(self.platform.qe_id, cpu_svn, pce_svn, int.from_bytes(self.platform.pce_id, "little"))

    def file(self, components: str, expiry: int, *, listing: object = None) -> bytes:
        """The platform's file; ``listing`` (any JSON value) replaces the ``pckcerts`` answer."""
        certificates = list(self.listing) if listing is None else listing
        return local_pck_file(components, self.tcb_info, self.issuer_chain, certificates, expiry)


@cache
def platform_certificates(
    seed: int = 41, name: str = "local-cache", fmspc: str | None = None, pce_id: str | None = None
) -> PlatformCertificates:
    intel = SimulatedIntel(seed=seed)
    platform = intel.sgx_platform(name=name, fmspc=fmspc, pce_id=pce_id)
    listing = tuple(
        dict[str, object](tcb=tcb, tcbm=tcbm, cert=quote(pem.decode()))
        for tcb, tcbm, pem in intel.pck_certificates(platform)
    )
    return PlatformCertificates(
        intel, platform, listing, intel.tcb_info(platform.fmspc), intel.pck_crl_issuer_chain(platform.ca)
    )


@dataclass(frozen=True)
class RealPlatformFile:
    content: bytes
    tcbm: str  # what the file's one certificate certifies, lower-case hex


def real_platform_file(real_quote: bytes, tcb_info: bytes, expiry: int) -> RealPlatformFile:
    """A file for the platform that made ``real_quote``: its one (Intel-signed) certificate, at its own TCB."""
    leaf, *issuers = split_pem_chain(Quote.parse(real_quote).pck_chain_pem or b"")
    tcb = PckCertificate.from_certificate(Certificate.from_pem(leaf)).sgx.tcb
    tcbm = (tcb.cpu_svn + tcb.pce_svn.to_bytes(2, "little")).hex()
    listing = [{"tcb": {}, "tcbm": tcbm.upper(), "cert": quote(leaf.decode())}]
    chain = b"\n".join(issuers) + b"\n"
    return RealPlatformFile(local_pck_file(tcb.cpu_svn.hex(), tcb_info, chain, listing, expiry), tcbm)


def local_pck_file(components: str, tcb_info: bytes, issuer_chain: bytes, listing: object, expiry: int) -> bytes:
    """The bytes ``pcsclient.py cache`` writes: header (version 1, MULTICERTS, expiry), the TCB components as hex,
    the TCB info, the URL-encoded issuer chain, and the ``pckcerts`` JSON."""
    fields = [components.encode(), tcb_info, quote(issuer_chain.decode()).encode(), json.dumps(listing).encode()]
    out = struct.pack("<HIQ", 1, MULTICERTS, expiry)
    for f in fields:
        out += struct.pack("<I", len(f)) + f
    return out


def install(directory: Path, name: str, content: bytes) -> Path:
    path = directory / name
    path.write_bytes(content)
    return path
