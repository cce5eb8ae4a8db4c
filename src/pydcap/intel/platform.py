"""A platform as Intel's PCK certificate services know it (``sgx_ql_pck_cert_id_t``, PCS's ``pckcert`` parameters)."""

from __future__ import annotations

from dataclasses import dataclass

from pydcap.errors import FormatError
from pydcap.quote import Quote


class PlatformRequestError(FormatError):
    """A quote or platform id that does not say which collateral it needs."""


@dataclass(frozen=True)
class PlatformId:
    """QE-ID, raw CPUSVN and PCESVN, PCE-ID (a 16-bit value, as in Intel's ABI), the encrypted PPID when known (Intel
    PCS needs it), the crypto suite of that encryption, and the platform manifest of a multi-package platform (what a
    PCCS registers). Fields out of bounds raise ``PlatformRequestError``."""

    qe_id: bytes
    cpu_svn: bytes
    pce_svn: int
    pce_id: int
    encrypted_ppid: bytes | None = None
    crypto_suite: int = 1
    platform_manifest: bytes | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.qe_id) <= 130:
            raise PlatformRequestError(f"QE-ID must be 1 to 130 bytes, not {len(self.qe_id)}")
        if len(self.cpu_svn) != 16:
            raise PlatformRequestError(f"CPUSVN must be 16 bytes, not {len(self.cpu_svn)}")
        for name, value in (("PCESVN", self.pce_svn), ("PCE-ID", self.pce_id)):
            if not 0 <= value <= 0xFFFF:
                raise PlatformRequestError(f"{name} {value} is not a 16-bit value")
        if self.encrypted_ppid is not None and not self.encrypted_ppid:
            raise PlatformRequestError("an encrypted PPID, when given, must not be empty")
        if not 0 <= self.crypto_suite <= 0xFF:
            raise PlatformRequestError(f"crypto suite {self.crypto_suite} is not a byte")

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
        """PCE-ID as the services want it: two bytes little-endian, in hex."""
        return self.pce_id.to_bytes(2, "little").hex()

    @property
    def key(self) -> str:
        """``qeid/cpusvn/pcesvn/pceid`` in lower-case hex: the cache key of this platform's certificate."""
        return f"{self.qe_id.hex()}/{self.cpu_svn.hex()}/{self.pce_svn_hex}/{self.pce_id_hex}"
