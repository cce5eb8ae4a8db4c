"""Simulated SGX and TDX platforms: a PCK key and certificate, a quoting enclave whose identity matches the QE
identity document, and an attestation key bound to the QE report. They sign quotes v3, v4 and v5.

Platforms are made by ``SimulatedIntel.sgx_platform`` / ``tdx_platform``, which issue their certificates.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.intel import PlatformId, Tcb
from pydcap.pki.pck import SgxType
from pydcap.quote.structs import INTEL_QE_VENDOR_ID, CertificationData
from pydcap.sim import quote_writer as qw
from pydcap.sim.defects import CollateralDefect, QuoteDefect
from pydcap.sim.keys import raw_public_key, sign_raw
from pydcap.sim.pki import Authority, Pki

QE_ATTRIBUTES = bytes.fromhex("1500000000000000e700000000000000")
ENCLAVE_XFRM = bytes.fromhex("e700000000000000")
DEFAULT_MR_ENCLAVE = hashlib.sha256(b"pydcap-sim enclave").digest()
DEFAULT_MR_SIGNER = hashlib.sha256(b"pydcap-sim enclave signer").digest()
DEFAULT_MR_TD = hashlib.sha384(b"pydcap-sim TD").digest()
DEFAULT_TD_ATTRIBUTES = bytes.fromhex("0000001000000000")  # SEPT_VE_DISABLE, as Linux TDs run
DEFAULT_XFAM = bytes.fromhex("e702060000000000")
ENCRYPTED_PPID_CERTIFICATION = 3  # PPID_RSA3072_ENCRYPTED certification data


@dataclass(frozen=True, eq=False)
class IssuedPck:
    """A PCK certificate for one TCB level of a platform, with its private key."""

    authority: Authority
    components: tuple[int, ...]
    pce_svn: int

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        return self.authority.key

    @property
    def serial(self) -> int:
        return self.authority.serial

    @property
    def pem(self) -> bytes:
        return self.authority.pem

    @property
    def cpu_svn(self) -> bytes:
        return bytes(self.components)

    @property
    def tcbm(self) -> str:
        """CPUSVN then PCESVN (little-endian), upper-case hex, as PCS's ``SGX-TCBm`` and ``tcbm`` say it."""
        return Tcb.from_raw(self.cpu_svn, self.pce_svn).tcbm

    @property
    def tcb(self) -> dict[str, int]:
        """The ``tcb`` object of a PCS ``pckcerts`` entry."""
        out = {f"sgxtcbcomp{i:02d}svn": svn for i, svn in enumerate(self.components, start=1)}
        out["pcesvn"] = self.pce_svn
        return out


class Certifier(Protocol):
    """The simulated Intel that certified a platform (a ``SimulatedIntel``), as the platform's users see it."""

    seed: int
    pki: Pki


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SimulatedPlatform:
    """What SGX and TDX platforms share: identity, TCB, quoting enclave, PCK certificate and defects."""

    intel: Certifier
    name: str
    fmspc: bytes
    ca: str
    cpu_svn: bytes
    pce_svn: int
    pce_id: bytes
    qe_svn: int
    sgx_type: SgxType
    ppid: bytes
    qe_id: bytes
    encrypted_ppid: bytes
    platform_manifest: bytes | None
    platform_instance_id: bytes | None
    issuer: Authority
    pck: IssuedPck
    pck_chain_pem: bytes
    attestation_key: ec.EllipticCurvePrivateKey
    qe_mr_signer: bytes
    qe_isv_prod_id: int
    quote_defects: frozenset[QuoteDefect] = frozenset()
    collateral_defects: frozenset[CollateralDefect] = frozenset()
    scenario: str | None = None
    collateral_update: str = "standard"  # the scenario's: collateral_for's default update
    default_quote_version: int

    tee: ClassVar[str] = "sgx"

    def __repr__(self) -> str:
        scenario = f", scenario={self.scenario!r}" if self.scenario else ""
        return (
            f"{type(self).__name__}(name={self.name!r}, fmspc={self.fmspc.hex().upper()}, ca={self.ca!r}, "
            f"tcbm={self.pck.tcbm}, qe_svn={self.qe_svn}{scenario})"
        )

    @property
    def pck_certificate_pem(self) -> bytes:
        return self.pck.pem

    @property
    def platform_id(self) -> PlatformId:
        """What a quote provider sends to PCS to fetch this platform's PCK certificate."""
        return PlatformId(
            qe_id=self.qe_id,
            cpu_svn=self.cpu_svn,
            pce_svn=self.pce_svn,
            pce_id=int.from_bytes(self.pce_id, "little"),
            encrypted_ppid=self.encrypted_ppid,
            platform_manifest=self.platform_manifest,
        )

    @cached_property
    def attestation_public_key(self) -> bytes:
        return raw_public_key(self.attestation_key)

    @property
    def qe_mr_enclave(self) -> bytes:
        return hashlib.sha256(f"pydcap-sim {self.tee} quoting enclave {self.qe_svn}".encode()).digest()

    def _has(self, defect: QuoteDefect) -> bool:
        return defect in self.quote_defects

    def _qe_report(self) -> bytes:
        binding = hashlib.sha256(self.attestation_public_key + qw.QE_AUTH_DATA).digest()
        if self._has(QuoteDefect.QE_REPORT_DATA_UNBOUND):
            binding = hashlib.sha256(b"some other attestation key").digest()
        return qw.EnclaveReportFields(
            cpu_svn=self.cpu_svn,
            attributes=QE_ATTRIBUTES,
            mr_enclave=self.qe_mr_enclave,
            mr_signer=self.qe_mr_signer,
            isv_prod_id=self.qe_isv_prod_id,
            isv_svn=self.qe_svn,
            report_data=binding,
        ).encode()

    def _certification(self) -> CertificationData:
        if self._has(QuoteDefect.ENCRYPTED_PPID_CERTIFICATION):
            data = self.encrypted_ppid + self.cpu_svn + struct.pack("<H", self.pce_svn) + self.pce_id
            return CertificationData(ENCRYPTED_PPID_CERTIFICATION, data)
        # Intel's quoting enclaves end the PEM chain with a NUL byte.
        return CertificationData(CertificationData.PCK_CERT_CHAIN, self.pck_chain_pem + b"\x00")

    def _header(self, version: int) -> bytes:
        vendor = bytes(16) if self._has(QuoteDefect.FOREIGN_QE_VENDOR) else INTEL_QE_VENDOR_ID
        # TDX quoting enclaves leave the header's QE and PCE SVN fields zero.
        return qw.header(
            version=version,
            tee_type=qw.tee_type(self.tee == "tdx"),
            qe_svn=0 if self.tee == "tdx" else self.qe_svn,
            pce_svn=0 if self.tee == "tdx" else self.pce_svn,
            user_data=self.qe_id,
            qe_vendor_id=vendor,
        )

    def _sign_quote(self, version: int, body_type: int, body: bytes) -> bytes:
        if version not in (3, 4, 5):
            raise ValueError(f"quote version {version} is not 3, 4 or 5")
        signed = self._header(version) + qw.body_prefix(version, body_type, body) + body
        qe_report = self._qe_report()
        qe_signer = self.attestation_key if self._has(QuoteDefect.QE_REPORT_SIGNED_BY_WRONG_KEY) else self.pck.key
        section = qw.qe_report_section(
            qe_report, sign_raw(qe_signer, qe_report), qw.QE_AUTH_DATA, self._certification()
        )
        quote_signer = self.pck.key if self._has(QuoteDefect.QUOTE_SIGNED_BY_WRONG_KEY) else self.attestation_key
        return signed + qw.signature_data(version, sign_raw(quote_signer, signed), self.attestation_public_key, section)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SimulatedSgxPlatform(SimulatedPlatform):
    """An SGX platform. ``quote()`` signs an enclave report with the platform's quoting enclave."""

    tee: ClassVar[str] = "sgx"

    def quote(
        self,
        report_data: bytes = b"",
        *,
        version: int | None = None,
        mr_enclave: bytes = DEFAULT_MR_ENCLAVE,
        mr_signer: bytes = DEFAULT_MR_SIGNER,
        isv_prod_id: int = 0,
        isv_svn: int = 0,
        debug: bool = False,
        attributes: bytes | None = None,
        misc_select: int = 0,
        config_id: bytes = bytes(64),
        config_svn: int = 0,
        isv_ext_prod_id: bytes = bytes(16),
        isv_family_id: bytes = bytes(16),
    ) -> bytes:
        """An SGX quote (v3, v4 or v5) over an enclave report. ``report_data`` is zero-padded to 64 bytes."""
        if attributes is None:
            flags = 0x07 if debug else 0x05  # INIT | MODE64BIT (| DEBUG)
            attributes = bytes([flags]) + bytes(7) + ENCLAVE_XFRM
        body = qw.EnclaveReportFields(
            cpu_svn=self.cpu_svn,
            attributes=attributes,
            mr_enclave=mr_enclave,
            mr_signer=mr_signer,
            report_data=report_data,
            misc_select=misc_select,
            isv_ext_prod_id=isv_ext_prod_id,
            config_id=config_id,
            isv_prod_id=isv_prod_id,
            isv_svn=isv_svn,
            config_svn=config_svn,
            isv_family_id=isv_family_id,
        ).encode()
        return self._sign_quote(version or self.default_quote_version, qw.SGX_BODY_TYPE, body)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class SimulatedTdxPlatform(SimulatedPlatform):
    """A TDX platform. A TD 1.5 platform (``tee_tcb_svn2`` set) reports its launch TCB in ``tee_tcb_svn`` and
    its current TCB in ``tee_tcb_svn2``; version 5 quotes then carry the TD 1.5 body."""

    tee_tcb_svn: bytes
    tee_tcb_svn2: bytes | None
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes

    tee: ClassVar[str] = "tdx"

    @property
    def td_version(self) -> str:
        return "1.0" if self.tee_tcb_svn2 is None else "1.5"

    @property
    def module_version(self) -> int:
        """The TDX module's major version, TEE_TCB_SVN[1] (the ``TDX_%02X`` module identity)."""
        return self.tee_tcb_svn[1]

    def quote(
        self,
        report_data: bytes = b"",
        *,
        version: int | None = None,
        mr_td: bytes = DEFAULT_MR_TD,
        rtmrs: tuple[bytes, bytes, bytes, bytes] | None = None,
        mr_config_id: bytes = bytes(48),
        mr_owner: bytes = bytes(48),
        mr_owner_config: bytes = bytes(48),
        td_attributes: bytes = DEFAULT_TD_ATTRIBUTES,
        xfam: bytes = DEFAULT_XFAM,
        debug: bool = False,
        mr_service_td: bytes = bytes(48),
    ) -> bytes:
        """A TDX quote: version 4 (TD 1.0 body) or 5 (TD 1.5 body on a TD 1.5 platform, else TD 1.0)."""
        version = version or self.default_quote_version
        if version == 3:
            raise ValueError("TDX quotes are version 4 or 5")
        if debug:
            td_attributes = bytes([td_attributes[0] | 0x01]) + td_attributes[1:]
        fields = qw.TdReportFields(
            tee_tcb_svn=self.tee_tcb_svn,
            mr_seam=self.mr_seam,
            mr_signer_seam=self.mr_signer_seam,
            seam_attributes=self.seam_attributes,
            td_attributes=td_attributes,
            xfam=xfam,
            mr_td=mr_td,
            report_data=report_data,
            mr_config_id=mr_config_id,
            mr_owner=mr_owner,
            mr_owner_config=mr_owner_config,
            rtmrs=rtmrs or (bytes(48), bytes(48), bytes(48), bytes(48)),
            tee_tcb_svn2=self.tee_tcb_svn2 if version == 5 else None,
            mr_service_td=mr_service_td,
        )
        return self._sign_quote(version, fields.body_type, fields.encode())
