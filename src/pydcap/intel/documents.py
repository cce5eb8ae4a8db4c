"""Which document is meant: one ``EntryKey`` per collateral document Intel publishes, printable as a short path and
parsed back (the name the cache, the PCCS, the QCNL provider and the simulated Intel use), and the parameters
Intel's APIs select documents by (``Tee``, ``PckCa``, ``Update``).

``root_ca_crl``, ``pck_crl/processor``, ``tcb_info/sgx/00a067110000/standard``, ``qe_identity/tdx/standard``,
``qve_identity/standard``, ``pck_certificate/<qeid>/<cpusvn>/<pcesvn>/<pceid>`` (lower-case hex).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from pydcap.intel.platform import PlatformId

_HEX = re.compile(r"^[0-9a-f]+$")


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


class EntryKind(enum.StrEnum):
    """The kinds of documents, as the first part of an ``EntryKey``'s name."""

    ROOT_CA_CRL = "root_ca_crl"
    PCK_CRL = "pck_crl"
    TCB_INFO = "tcb_info"
    QE_IDENTITY = "qe_identity"
    QVE_IDENTITY = "qve_identity"
    PCK_CERTIFICATE = "pck_certificate"


class InvalidKeyError(ValueError):
    """A string that is not the name of a document."""


@dataclass(frozen=True)
class EntryKey:
    """Which document an entry holds. Only the fields that matter for its kind are set."""

    kind: EntryKind
    tee: Tee | None = None
    fmspc: str | None = None
    ca: PckCa | None = None
    update: Update = Update.STANDARD
    platform: str | None = None

    @classmethod
    def root_ca_crl(cls) -> EntryKey:
        return cls(EntryKind.ROOT_CA_CRL)

    @classmethod
    def pck_crl(cls, ca: PckCa | str) -> EntryKey:
        return cls(EntryKind.PCK_CRL, ca=PckCa(ca))

    @classmethod
    def tcb_info(cls, tee: Tee | str, fmspc: bytes | str, update: Update | str = Update.STANDARD) -> EntryKey:
        text = fmspc.hex() if isinstance(fmspc, bytes) else fmspc.lower()
        if len(text) != 12 or not _HEX.match(text):
            raise InvalidKeyError(f"FMSPC must be 6 bytes (12 hex digits), not {fmspc!r}")
        return cls(EntryKind.TCB_INFO, tee=Tee(tee), fmspc=text, update=Update(update))

    @classmethod
    def qe_identity(cls, tee: Tee | str, update: Update | str = Update.STANDARD) -> EntryKey:
        return cls(EntryKind.QE_IDENTITY, tee=Tee(tee), update=Update(update))

    @classmethod
    def qve_identity(cls, update: Update | str = Update.STANDARD) -> EntryKey:
        return cls(EntryKind.QVE_IDENTITY, update=Update(update))

    @classmethod
    def pck_certificate(cls, platform: PlatformId | str) -> EntryKey:
        if isinstance(platform, PlatformId):
            return cls(EntryKind.PCK_CERTIFICATE, platform=platform.key)
        text = platform.lower()
        # Only the canonical spelling of a valid platform: one key per platform, and platform_id() cannot fail.
        try:
            canonical = _platform(text).key == text
        except ValueError as exc:  # not hex, or a PlatformId field out of bounds (PlatformRequestError)
            raise InvalidKeyError(f"{platform!r} is not a platform key (qeid/cpusvn/pcesvn/pceid): {exc}") from exc
        if not canonical:
            raise InvalidKeyError(
                f"{platform!r} is not a platform key: qeid/cpusvn/pcesvn/pceid in hex, PCESVN and PCE-ID 2 bytes each"
            )
        return cls(EntryKind.PCK_CERTIFICATE, platform=text)

    @classmethod
    def parse(cls, text: str) -> EntryKey:
        """The key printed as ``str(key)``; raises ``InvalidKeyError`` for anything else."""
        kind, _, rest = text.partition("/")
        args = rest.split("/") if rest else []
        try:
            if kind == EntryKind.ROOT_CA_CRL and not args:
                return cls.root_ca_crl()
            if kind == EntryKind.PCK_CRL and len(args) == 1:
                return cls.pck_crl(args[0])
            if kind == EntryKind.TCB_INFO and len(args) == 3:
                return cls.tcb_info(args[0], args[1], args[2])
            if kind == EntryKind.QE_IDENTITY and len(args) == 2:
                return cls.qe_identity(args[0], args[1])
            if kind == EntryKind.QVE_IDENTITY and len(args) == 1:
                return cls.qve_identity(args[0])
            if kind == EntryKind.PCK_CERTIFICATE and len(args) == 4:
                return cls.pck_certificate(rest)
        except ValueError as exc:
            raise InvalidKeyError(f"{text!r} is not a cache key: {exc}") from exc
        raise InvalidKeyError(f"{text!r} is not a cache key")

    def platform_id(self) -> PlatformId:
        """The platform of a PCK certificate key (without encrypted PPID, which keys never hold)."""
        if self.platform is None:
            raise InvalidKeyError(f"{self} is not a PCK certificate key")
        return _platform(self.platform)

    def __str__(self) -> str:
        k = self.kind
        if k is EntryKind.ROOT_CA_CRL:
            return k.value
        if k is EntryKind.PCK_CRL:
            return f"{k.value}/{self.ca}"
        if k is EntryKind.TCB_INFO:
            return f"{k.value}/{self.tee}/{self.fmspc}/{self.update}"
        if k is EntryKind.QE_IDENTITY:
            return f"{k.value}/{self.tee}/{self.update}"
        if k is EntryKind.QVE_IDENTITY:
            return f"{k.value}/{self.update}"
        return f"{k.value}/{self.platform}"

    @property
    def description(self) -> str:
        """For messages: ``SGX TCB info for FMSPC 00A067110000``."""
        k = self.kind
        if k is EntryKind.ROOT_CA_CRL:
            return "root CA CRL"
        if k is EntryKind.PCK_CRL:
            return f"PCK CRL ({self.ca} CA)"
        if k is EntryKind.TCB_INFO:
            return f"{str(self.tee).upper()} TCB info for FMSPC {str(self.fmspc).upper()}"
        if k is EntryKind.QE_IDENTITY:
            return "TD QE identity" if self.tee is Tee.TDX else "QE identity"
        if k is EntryKind.QVE_IDENTITY:
            return "QvE identity"
        return f"PCK certificate for platform {self.platform}"


def _platform(key: str) -> PlatformId:
    parts = key.split("/")
    if len(parts) != 4:
        raise ValueError(f"it has {len(parts)} parts, not 4")
    qe_id, cpu_svn, pce_svn, pce_id = (bytes.fromhex(p) for p in parts)
    return PlatformId(qe_id, cpu_svn, int.from_bytes(pce_svn, "little"), int.from_bytes(pce_id, "little"))
