"""What the sources are asked for and what they answer: platform ids, collateral requests, fetched bytes.

``Fetched`` is one answer exactly as received (after the transport encoding is undone: hex or PEM CRLs
become DER, URL-encoded issuer chains become PEM). Nothing in it has been verified yet.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydcap.errors import FormatError
from pydcap.pki import CertificateChain, PckCertificate
from pydcap.quote import Quote


class Tee(enum.StrEnum):
    """The TEE a document is for; its value is the path segment Intel's APIs use."""

    SGX = "sgx"
    TDX = "tdx"


class PckCa(enum.StrEnum):
    """The CA that issued a PCK certificate, as the ``ca`` parameter of ``pckcrl`` spells it."""

    PROCESSOR = "processor"
    PLATFORM = "platform"


class Update(enum.StrEnum):
    """Which TCB evaluation a TCB info or identity reflects (Intel's ``update`` parameter)."""

    STANDARD = "standard"
    EARLY = "early"


class PlatformRequestError(FormatError):
    """A quote or platform id that does not say which collateral it needs."""


@dataclass(frozen=True)
class PlatformId:
    """A platform as a PCK certificate service knows it: QE-ID, raw CPUSVN and PCESVN, PCE-ID (a 16-bit
    value, as in Intel's ABI) and, for Intel PCS, the encrypted PPID. Same fields as
    ``pydcap.provider.PlatformId``."""

    qe_id: bytes
    cpu_svn: bytes
    pce_svn: int
    pce_id: int
    encrypted_ppid: bytes | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.qe_id) <= 130:
            raise PlatformRequestError(f"QE-ID must be 1 to 130 bytes, not {len(self.qe_id)}")
        if len(self.cpu_svn) != 16:
            raise PlatformRequestError(f"CPUSVN must be 16 bytes, not {len(self.cpu_svn)}")
        for name, value in (("PCESVN", self.pce_svn), ("PCE-ID", self.pce_id)):
            if not 0 <= value <= 0xFFFF:
                raise PlatformRequestError(f"{name} {value} is not a 16-bit value")

    @classmethod
    def from_quote(cls, quote: bytes | Quote) -> PlatformId:
        """The platform of a quote that carries an encrypted PPID (certification data type 2 or 3) instead of
        its PCK certificate chain: its QE-ID (the first 16 bytes of the header's user data, where Intel's QE
        puts it), raw TCB, PCE-ID and encrypted PPID: what Intel's QCNL sends to fetch the PCK certificate."""
        q = quote if isinstance(quote, Quote) else Quote.parse(quote)
        found = q.certification_data.encrypted_ppid
        if found is None:
            raise PlatformRequestError(
                f"the quote's certification data (type {q.certification_data.type}, "
                f"{len(q.certification_data.data)} bytes) is not an encrypted PPID (type 2 or 3)"
            )
        return cls(q.header.user_data[:16], found.cpu_svn, found.pce_svn, found.pce_id, found.encrypted_ppid)

    @property
    def pce_svn_hex(self) -> str:
        """PCESVN as the services want it: two bytes little-endian, in hex."""
        return self.pce_svn.to_bytes(2, "little").hex()

    @property
    def pce_id_hex(self) -> str:
        return self.pce_id.to_bytes(2, "little").hex()

    @property
    def key(self) -> str:
        """``qeid/cpusvn/pcesvn/pceid`` in lower-case hex: the cache key of this platform's certificate."""
        return f"{self.qe_id.hex()}/{self.cpu_svn.hex()}/{self.pce_svn_hex}/{self.pce_id_hex}"


@dataclass(frozen=True)
class CollateralRequest:
    """What to fetch to verify one quote: the TEE (from the header), FMSPC and PCK CA (from its PCK
    certificate, the CA read from the issuer's name as Intel's tools read it)."""

    tee: Tee
    fmspc: bytes
    ca: PckCa

    @classmethod
    def from_quote(cls, quote: bytes | Quote, pck_chain: bytes | None = None) -> CollateralRequest:
        """From the quote's PCK certificate chain, else from ``pck_chain`` (the PCK certificate fetched for a
        quote that carries an encrypted PPID)."""
        q = quote if isinstance(quote, Quote) else Quote.parse(quote)
        pem = q.pck_chain_pem or pck_chain
        if pem is None:
            raise PlatformRequestError(
                f"the quote carries certification data type {q.certification_data.type}, not a PCK certificate "
                "chain (5), so its FMSPC and CA cannot be read from it"
            )
        try:
            leaf = CertificateChain.parse(pem).find("SGX PCK Certificate")
            if leaf is None:
                raise PlatformRequestError("the quote's certificate chain has no SGX PCK Certificate")
            pck = PckCertificate.from_certificate(leaf)
        except PlatformRequestError:
            raise
        except FormatError as exc:
            raise PlatformRequestError(f"the quote's PCK certificate is unreadable: {exc}") from exc
        return cls(Tee.TDX if q.is_tdx else Tee.SGX, pck.fmspc, PckCa(pck.ca_type))


@dataclass(frozen=True)
class Fetched:
    """One document as a source delivered it, unverified.

    ``data`` is DER for CRLs, the served JSON for TCB info and identities, the PEM leaf for a PCK
    certificate; ``issuer_chain`` is PEM (empty for the root CA CRL); ``meta`` carries what came beside the
    body (``tcbm``, ``fmspc``, ``ca_type`` of a PCK certificate) as text.
    """

    data: bytes
    issuer_chain: bytes
    url: str
    request_id: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PckCertificateOption:
    """One entry of Intel PCS ``pckcerts``: the certificate for one TCB level (None when "Not available")."""

    tcb: Mapping[str, object]
    tcbm: str
    certificate: bytes | None


@dataclass(frozen=True)
class FetchedPckCertificates:
    """Every PCK certificate of a platform (Intel PCS ``pckcerts``), with their common issuer chain."""

    options: tuple[PckCertificateOption, ...]
    issuer_chain: bytes
    fmspc: str | None
    ca_type: str | None
    url: str
    request_id: str | None = None
