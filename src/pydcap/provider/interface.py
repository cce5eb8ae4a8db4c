"""The quote provider interface, mirroring Intel's quote provider library (``libdcap_quoteprov.so``).

Every provider (bundled, Intel QCNL, Azure, a native plugin) answers the same four questions: the PCK
certificate chain for a platform, verification collateral for an FMSPC, the QvE identity, the root CA CRL.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Literal, Self

from pydcap.collateral import Collateral, SignedDocument
from pydcap.intel import PckCa, PlatformId, PlatformRequestError, Tcb, TcbFormatError, Tee
from pydcap.pki import CertificateChain, PckCertificate, TrustRoot
from pydcap.provider import codes
from pydcap.provider.errors import InvalidParameter, MalformedResponse
from pydcap.quote import Quote, TeeType
from pydcap.sources.models import CollateralRequest

__all__ = [
    "CA_TYPES",
    "CaType",
    "CacheKind",
    "LogCallback",
    "LogLevel",
    "PckCertChain",
    "PlatformId",
    "QuoteProvider",
    "QveIdentity",
    "check_request",
    "fmspc_and_ca",
]

CaType = Literal["processor", "platform"]
CA_TYPES: tuple[CaType, ...] = ("processor", "platform")


class LogLevel(enum.IntEnum):
    """pydcap's log levels, most severe first; a callback receives messages at its level and more severe ones."""

    ERROR = 0
    WARNING = 1
    INFO = 2
    DEBUG = 3
    TRACE = 4


LogCallback = Callable[[LogLevel, str], None]


class CacheKind(enum.IntFlag):
    """What ``clear_cache`` clears, with the bit values of ``sgx_qpl_cache_type_t``."""

    CERTIFICATE = 1
    QV_COLLATERAL = 2
    MULTICERTS = 4
    ALL = 7


@dataclass(frozen=True)
class PckCertChain:
    """A platform's PCK certificate chain (leaf, intermediate CA, root; PEM) and the TCB it certifies."""

    pem: bytes
    cert_cpu_svn: bytes
    cert_pce_svn: int

    @classmethod
    def from_tcbm(cls, pem: bytes, tcbm: str) -> PckCertChain:
        """From the ``SGX-TCBm`` value Intel's services send: CPUSVN (16 bytes) then PCESVN (little-endian)."""
        try:
            tcb = Tcb.from_tcbm(tcbm)
        except TcbFormatError as exc:
            raise MalformedResponse(codes.MESSAGE_ERROR, str(exc)) from exc
        return cls(pem, tcb.cpu_svn, tcb.pce_svn)

    @property
    def tcbm(self) -> str:
        return Tcb.from_raw(self.cert_cpu_svn, self.cert_pce_svn).tcbm.lower()

    @cached_property
    def chain(self) -> CertificateChain:
        return CertificateChain.parse(self.pem)

    @cached_property
    def pck(self) -> PckCertificate:
        leaf = self.chain.find("SGX PCK Certificate")
        if leaf is None:
            raise MalformedResponse(codes.MESSAGE_ERROR, "the chain has no SGX PCK Certificate")
        return PckCertificate.from_certificate(leaf)


@dataclass(frozen=True)
class QveIdentity:
    """The QvE identity document (signed JSON, byte-exact) and its issuer chain (PEM)."""

    identity: SignedDocument
    issuer_chain: bytes


def fmspc_and_ca(quote: bytes | Quote) -> tuple[bytes, CaType, TeeType]:
    """What to ask a provider for, read as Conclave's host does: FMSPC from the PCK certificate's SGX
    extension, CA type from the issuer name, TEE type from the quote header."""
    try:
        request = CollateralRequest.from_quote(quote)
    except PlatformRequestError as exc:
        raise InvalidParameter(codes.ERROR_INVALID_PARAMETER, str(exc)) from exc
    ca: CaType = "processor" if request.ca is PckCa.PROCESSOR else "platform"
    return request.fmspc, ca, TeeType.TDX if request.tee is Tee.TDX else TeeType.SGX


def check_request(fmspc: bytes, ca: str, tee: TeeType) -> None:
    """Refuse, before anything is asked of a service or plugin, a request no provider could answer."""
    if len(fmspc) != 6:
        raise InvalidParameter(codes.ERROR_INVALID_PARAMETER, f"FMSPC must be 6 bytes, not {len(fmspc)}")
    if ca not in CA_TYPES:
        raise InvalidParameter(codes.ERROR_INVALID_PARAMETER, f"CA must be 'processor' or 'platform', not {ca!r}")
    if tee not in (TeeType.SGX, TeeType.TDX):
        raise InvalidParameter(codes.ERROR_INVALID_PARAMETER, f"unknown TEE type {tee!r}")


class QuoteProvider(abc.ABC):
    """A source of PCK certificates and verification collateral. Use as a context manager to release it."""

    #: Short name for messages: ``bundled``, ``intel-qcnl``, ``azure`` or ``native:<path>``.
    name: str
    #: The root the provider verifies what it serves against (Intel's, or ``$PYDCAP_TRUSTED_ROOT``); None when it
    #: cannot tell (a native plugin).
    trust: TrustRoot | None = None

    @abc.abstractmethod
    def pck_cert_chain(self, platform: PlatformId) -> PckCertChain:
        """The PCK certificate chain for the platform and the TCB it certifies (``sgx_ql_get_quote_config``)."""

    @abc.abstractmethod
    def verification_collateral(self, fmspc: bytes, ca: CaType, tee: TeeType = TeeType.SGX) -> Collateral:
        """Collateral for quotes of platforms with this FMSPC and PCK CA (``*_get_quote_verification_collateral``)."""

    @abc.abstractmethod
    def qve_identity(self) -> QveIdentity:
        """The QvE identity and its issuer chain (``sgx_ql_get_qve_identity``)."""

    @abc.abstractmethod
    def root_ca_crl(self) -> bytes:
        """The Intel SGX Root CA CRL, as DER (``sgx_ql_get_root_ca_crl``)."""

    @abc.abstractmethod
    def clear_cache(self, kinds: CacheKind = CacheKind.ALL) -> None:
        """Forget cached answers of these kinds (``sgx_qpl_clear_cache``)."""

    @abc.abstractmethod
    def set_logging(self, callback: LogCallback | None, level: LogLevel = LogLevel.INFO) -> None:
        """Send the provider's messages at ``level`` and more severe to ``callback`` (None stops them)."""

    def collateral_for_quote(self, quote: bytes | Quote) -> Collateral:
        """Collateral for this quote's platform, FMSPC and CA read from the quote itself."""
        fmspc, ca, tee = fmspc_and_ca(quote)
        return self.verification_collateral(fmspc, ca, tee)

    def close(self) -> None:
        """Release what the provider holds (connections, a plugin's global state)."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
