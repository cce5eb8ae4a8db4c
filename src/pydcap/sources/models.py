"""What the sources are asked for and what they answer: collateral requests and fetched bytes. The words they are
asked in (``PlatformId``, ``Tee``, ``PckCa``, ``Update``) are Intel's, from ``pydcap.intel``.

``Fetched`` is one answer exactly as received (after the transport encoding is undone: hex or PEM CRLs
become DER, URL-encoded issuer chains become PEM). Nothing in it has been verified yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydcap.errors import FormatError
from pydcap.intel import PckCa, PlatformId, PlatformRequestError, Tee, Update
from pydcap.pki import Certificate, CertificateChain, PckCertificate
from pydcap.quote import Quote

__all__ = [
    "CollateralRequest",
    "Fetched",
    "FetchedPckCertificates",
    "PckCa",
    "PckCertificateOption",
    "PlatformId",
    "PlatformRequestError",
    "Tee",
    "Update",
]


@dataclass(frozen=True)
class CollateralRequest:
    """What to fetch to verify one quote: the TEE (from the header), FMSPC and PCK CA (from its PCK
    certificate, the CA read from the issuer's name as Intel's tools read it)."""

    tee: Tee
    fmspc: bytes
    ca: PckCa

    @classmethod
    def from_quote(
        cls,
        quote: bytes | Quote,
        pck_chain: bytes | None = None,
        *,
        load: Callable[[bytes], Certificate] = Certificate.from_pem,
    ) -> CollateralRequest:
        """From the quote's PCK certificate chain, else from ``pck_chain`` (the PCK certificate fetched for a
        quote that carries an encrypted PPID). ``load`` reads one PEM certificate (a caller reading many quotes
        passes a memoising one, such as ``PkiMemo.certificate``)."""
        q = quote if isinstance(quote, Quote) else Quote.parse(quote)
        pem = q.pck_chain_pem or pck_chain
        if pem is None:
            raise PlatformRequestError(
                f"the quote carries certification data type {q.certification_data.type}, not a PCK certificate "
                "chain (5), so its FMSPC and CA cannot be read from it"
            )
        try:
            leaf = CertificateChain.parse(pem, load).find("SGX PCK Certificate")
            if leaf is None:
                raise PlatformRequestError("the quote's certificate chain has no SGX PCK Certificate")
            pck = PckCertificate.from_certificate(leaf)
        except PlatformRequestError:
            raise
        except FormatError as exc:
            raise PlatformRequestError(f"the quote's PCK certificate is unreadable: {exc}") from exc
        return cls.for_platform(q, pck.fmspc, pck.ca_type)

    @classmethod
    def for_platform(cls, quote: Quote, fmspc: bytes, ca_type: str) -> CollateralRequest:
        """The collateral ``quote`` needs when its PCK certificate says ``fmspc`` and ``ca_type`` (``processor``
        or ``platform``): its TEE's."""
        return cls(Tee.TDX if quote.is_tdx else Tee.SGX, fmspc, PckCa(ca_type))


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
