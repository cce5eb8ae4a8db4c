"""The quote verifier: Intel's QvE/QVL appraisal, step by step, with content-keyed caches for collateral.

Order of checks (the first failure wins, as in Intel's verification API, qve.cpp ``sgx_qve_verify_quote``):
the quote's format; a pre-flight that reads the TCB info, the PCK chain (and pins its root key), the QE
identity, the issuer chains and the CRLs; then the QVL's four calls: PCK chain and CRLs, TCB info and its
signing chain, QE identity and its signing chain, the quote itself (TCB info match, TDX module, QE report
signature and binding, QE identity, quote signature) and finally the TCB level. Collateral expiry is a flag
beside the result, never a failure.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.collateral.bundle import Collateral
from pydcap.collateral.enclave_identity import EnclaveIdentity
from pydcap.collateral.signed import SignedDocument
from pydcap.collateral.tcb_info import TcbInfo
from pydcap.errors import (
    CollateralFormatError,
    InvalidCollateralError,
    QuoteFormatError,
    UnsupportedVersionError,
)
from pydcap.pki.certs import CertificateChain
from pydcap.pki.trust import TrustRoot
from pydcap.policy import AppraisalPolicy, Policy
from pydcap.quote.parser import Quote
from pydcap.quote.structs import TdReport10, TdReport15
from pydcap.verify.cache import BoundedCache
from pydcap.verify.chains import (
    CheckFailed,
    PckChain,
    SigningChain,
    check_pck_chain,
    check_signing_chain,
    parse_crl,
    read_chain,
    trusted_pck_chain,
)
from pydcap.verify.memo import PkiMemo
from pydcap.verify.names import QV_RESULT_OF_STATUS, Failure, QvResult, TcbStatus
from pydcap.verify.quote3 import QUOTE3_ERROR_OF_FAILURE, PreflightStep, Quote3Error
from pydcap.verify.result import Supplemental, VerificationResult
from pydcap.verify.signatures import document_signature_ok, verify_raw
from pydcap.verify.tcb import TcbEvaluation, TcbNotSupported, evaluate, relaunch

TimeLike = datetime | int | float | None
T = TypeVar("T")
D = TypeVar("D", TcbInfo, EnclaveIdentity)


def to_unix(at: TimeLike) -> int:
    """A verification time as unix seconds; None means now."""
    if at is None:
        return int(time.time())
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous: give a timezone (e.g. datetime.UTC)")
        return int(at.timestamp())
    return int(at)


@dataclass(frozen=True, slots=True)
class _Dates:
    """Issue and expiry dates of a group of collateral parts, for Intel's supplemental dates."""

    earliest_issue: int
    latest_issue: int
    expiration: int

    @classmethod
    def of(cls, chains: tuple[CertificateChain, ...], issued: list[int], expires: list[int]) -> _Dates:
        return cls(
            earliest_issue=min([c.earliest_not_before for c in chains] + issued),
            latest_issue=max([c.latest_not_before for c in chains] + issued),
            expiration=min([c.earliest_not_after for c in chains] + expires),
        )


@dataclass(frozen=True)
class _SignedCollateral(Generic[D]):
    """A TCB info or enclave identity whose signing chain and signature verified."""

    document: D
    chain: SigningChain
    dates: _Dates


@dataclass(frozen=True)
class _DocumentKind(Generic[D]):
    """A kind of signed collateral document: how to parse it and Intel's names for what can be wrong."""

    what: str
    parse: Callable[[SignedDocument], D]
    unsupported_format: Failure
    unsupported_version: Failure
    invalid: Failure
    invalid_signature: Failure


_TCB_INFO = _DocumentKind(
    "TCB info",
    TcbInfo.parse,
    unsupported_format=Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT,
    unsupported_version=Failure.SGX_TCB_INFO_INVALID,  # Intel's parser throws "invalid" for a version not 2 or 3
    invalid=Failure.SGX_TCB_INFO_INVALID,
    invalid_signature=Failure.TCB_INFO_INVALID_SIGNATURE,
)
_QE_IDENTITY = _DocumentKind(
    "QE identity",
    EnclaveIdentity.parse,
    unsupported_format=Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_FORMAT,
    unsupported_version=Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_VERSION,
    invalid=Failure.SGX_ENCLAVE_IDENTITY_INVALID,
    invalid_signature=Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE,
)


@dataclass(frozen=True)
class _Parsed:
    """The collateral documents as Intel's API pre-flight parsed them."""

    tcb_info: TcbInfo
    qe_identity: EnclaveIdentity


@dataclass(frozen=True)
class _PckOutcome:
    """A checked PCK chain with its CRLs; ``dates`` also cover the PCK CRL issuer chain (which, as in Intel's
    verification enclave, is read for its dates only)."""

    chain: PckChain
    dates: _Dates
    pck_key: ec.EllipticCurvePublicKey | None  # None: not a P-256 point, which the quote check reports


class Verifier:
    """Verifies quotes against collateral under one trust root and one policy, reusing verified collateral.

    A ``Verifier`` is safe to share between threads. Its caches are keyed by the exact bytes of each input
    and bounded in size, so a second quote from the same platform costs little more than its own signature
    check.
    """

    def __init__(
        self,
        *,
        trusted_root: TrustRoot | bytes | str | None = None,
        policy: AppraisalPolicy | None = None,
        cache_size: int = 256,
    ) -> None:
        self.trust = _trust_root(trusted_root)
        self.policy: AppraisalPolicy = policy if policy is not None else Policy()
        self._parsed: BoundedCache[_Parsed | CheckFailed] = BoundedCache(cache_size)
        self._pck: BoundedCache[_PckOutcome | CheckFailed] = BoundedCache(cache_size)
        self._tcb: BoundedCache[_SignedCollateral[TcbInfo] | CheckFailed] = BoundedCache(cache_size)
        self._qe: BoundedCache[_SignedCollateral[EnclaveIdentity] | CheckFailed] = BoundedCache(cache_size)
        self._memo = PkiMemo(cache_size * 2)
        self._root_key_id = self.trust.key_id  # every checked chain ends in this key

    # ---- public API ------------------------------------------------------------------------------

    def verify(
        self,
        quote: bytes | Quote,
        collateral: Collateral,
        *,
        at: TimeLike = None,
        policy: AppraisalPolicy | None = None,
    ) -> VerificationResult:
        """Appraise ``quote`` with ``collateral`` at time ``at`` (default: now), then apply the policy
        (this verifier's, unless ``policy`` is given for this call)."""
        result = self.appraise(quote, collateral, at=to_unix(at))
        reasons = tuple((policy or self.policy).reasons(result))
        return replace(result, accepted=not reasons, reasons=reasons)

    def appraise(self, quote: bytes | Quote, collateral: Collateral, *, at: int) -> VerificationResult:
        """Intel's appraisal only (no policy): ``accepted`` is left False."""
        if at <= 0:  # Intel's verification enclave refuses such a time before looking at anything
            return self._failed(Failure.INVALID_PARAMETER, f"verification time {at} is not after 1970-01-01", at, None)
        parsed: Quote | None = None
        try:
            parsed = quote if isinstance(quote, Quote) else Quote.parse(quote)
            return self._appraise(parsed, collateral, at)
        except QuoteFormatError as exc:
            raw = quote.raw if isinstance(quote, Quote) else quote
            step = PreflightStep.QUOTE_SIZE if _refused_as_parameter(raw) else PreflightStep.QUOTE
            return self._failed(Failure.UNSUPPORTED_QUOTE_FORMAT, str(exc), at, None, step)
        except CheckFailed as exc:
            return self._failed(exc.failure, exc.detail, at, parsed, exc.step)

    def clear_caches(self) -> None:
        for cache in (self._parsed, self._pck, self._tcb, self._qe):
            cache.clear()
        self._memo.clear()

    # ---- steps -----------------------------------------------------------------------------------

    def _failed(
        self, failure: Failure, detail: str, at: int, quote: Quote | None, step: PreflightStep | None = None
    ) -> VerificationResult:
        """A failure as Intel's API reports it: the code of the pre-flight ``step`` that met it, else the code of
        its QVL status; the result UNSPECIFIED."""
        return VerificationResult(
            qv_result=QvResult.UNSPECIFIED,
            quote3_error=step.quote3_error if step is not None else QUOTE3_ERROR_OF_FAILURE[failure],
            tcb_status=None,
            failure=failure,
            detail=detail,
            advisory_ids=(),
            collateral_expired=False,
            verified_at=at,
            trusted_root=self.trust.name,
            root_is_intel=self.trust.is_intel,
            quote=quote,
        )

    def _appraise(self, quote: Quote, collateral: Collateral, at: int) -> VerificationResult:
        pem = quote.pck_chain_pem
        if pem is None and quote.certification_data.encrypted_ppid is not None:
            # The PCK certificate a service selected for the quote's encrypted PPID and raw TCB (pydcap's
            # collateral fetch, dcap-qvl's): checked like an embedded chain; the QE report, which the PCK key
            # signs, binds it to this platform.
            pem = collateral.pck_chain
        if pem is None:
            raise CheckFailed(
                Failure.UNSUPPORTED_QE_CERTIFICATION_DATA_TYPE,
                f"certification data type {quote.certification_data.type} is not a PCK certificate chain (5)",
            )
        tcb_doc, qe_doc = collateral.tcb_info, collateral.qe_identity
        documents = _lookup(
            self._parsed,
            (
                pem,
                tcb_doc.body,
                qe_doc.body,
                collateral.qe_identity_issuer_chain,
                collateral.tcb_info_issuer_chain,
                collateral.pck_crl_issuer_chain,
                collateral.root_ca_crl,
                collateral.pck_crl,
            ),
            lambda: self._preflight(pem, collateral),
        )
        pck = _lookup(
            self._pck,
            (pem, collateral.root_ca_crl, collateral.pck_crl, collateral.pck_crl_issuer_chain),
            lambda: self._check_pck(pem, collateral),
        )
        tcb = _lookup(
            self._tcb,
            (tcb_doc.body, tcb_doc.signature, collateral.tcb_info_issuer_chain, collateral.root_ca_crl),
            lambda: self._check_signed(
                _TCB_INFO, documents.tcb_info, tcb_doc, collateral.tcb_info_issuer_chain, collateral
            ),
        )
        qe = _lookup(
            self._qe,
            (qe_doc.body, qe_doc.signature, collateral.qe_identity_issuer_chain, collateral.root_ca_crl),
            lambda: self._check_signed(
                _QE_IDENTITY, documents.qe_identity, qe_doc, collateral.qe_identity_issuer_chain, collateral
            ),
        )
        tcb_info = tcb.document
        qe_identity = qe.document

        self._check_quote(quote, pck, tcb_info, qe_identity)
        launch, current = self._evaluate_tcb(quote, pck.chain, tcb_info, qe_identity)
        status = launch.status if current is None else relaunch(launch.status, current.status)
        supplemental = self._supplemental(quote, pck, tcb, qe, launch, current)
        expired = supplemental.earliest_expiration_date <= at or any(
            crl.this_update > at for crl in (pck.chain.root_ca_crl, pck.chain.pck_crl)
        )
        if status == TcbStatus.REVOKED:
            result = self._failed(Failure.TCB_REVOKED, "a matched TCB level is Revoked", at, quote)
            return replace(result, supplemental=supplemental, collateral_expired=expired)
        return VerificationResult(
            qv_result=QV_RESULT_OF_STATUS[status],
            quote3_error=Quote3Error.SGX_QL_SUCCESS,
            tcb_status=status,
            failure=None,
            detail=_explain(status, launch),
            advisory_ids=tuple(sorted(set(launch.advisory_ids))),
            collateral_expired=expired,
            verified_at=at,
            trusted_root=self.trust.name,
            root_is_intel=self.trust.is_intel,
            quote=quote,
            supplemental=supplemental,
        )

    def _preflight(self, pem: bytes, collateral: Collateral) -> _Parsed | CheckFailed:
        """What Intel's API reads before the QVL's four calls, in its order (qve.cpp ``sgx_qve_verify_quote``);
        a defect met here is reported with the step's own code."""
        memo = self._memo
        try:
            with _during(PreflightStep.TCB_INFO):
                tcb_info = _parse(_TCB_INFO, collateral.tcb_info)
            with _during(PreflightStep.PCK_CHAIN):
                trusted_pck_chain(pem, self.trust, memo)
            with _during(PreflightStep.QE_IDENTITY):
                qe_identity = _parse(_QE_IDENTITY, collateral.qe_identity)
            with _during(PreflightStep.ISSUER_CHAINS):
                read_chain(collateral.qe_identity_issuer_chain, "QE identity issuer chain", memo)
                read_chain(collateral.tcb_info_issuer_chain, "TCB info issuer chain", memo)
                read_chain(collateral.pck_crl_issuer_chain, "PCK CRL issuer chain", memo)
            with _during(PreflightStep.CRLS):
                parse_crl(collateral.root_ca_crl, "root CA CRL", memo)
                parse_crl(collateral.pck_crl, "PCK CRL", memo)
        except CheckFailed as exc:
            return exc
        return _Parsed(tcb_info, qe_identity)

    def _check_pck(self, pem: bytes, collateral: Collateral) -> _PckOutcome | CheckFailed:
        try:
            chain = check_pck_chain(pem, collateral.root_ca_crl, collateral.pck_crl, self.trust, self._memo)
            crl_chain = read_chain(collateral.pck_crl_issuer_chain, "PCK CRL issuer chain", self._memo)
            crls = [chain.root_ca_crl.this_update, chain.pck_crl.this_update]
            dates = _Dates.of(
                (crl_chain, chain.chain), crls, [chain.root_ca_crl.next_update, chain.pck_crl.next_update]
            )
            return _PckOutcome(chain, dates, self._memo.certificate_key(chain.pck))
        except CheckFailed as exc:
            return exc

    def _check_signed(
        self, kind: _DocumentKind[D], document: D, signed: SignedDocument, chain_pem: bytes, collateral: Collateral
    ) -> _SignedCollateral[D] | CheckFailed:
        """The QVL's check of a parsed document (``document``, read from ``signed``): its signing chain, then
        its signature."""
        try:
            chain = check_signing_chain(chain_pem, collateral.root_ca_crl, self.trust, kind.what, self._memo)
            key = self._memo.certificate_key(chain.signer)
            if key is None or not document_signature_ok(signed, key):
                raise CheckFailed(
                    kind.invalid_signature, f"{kind.what} signature does not verify with the TCB Signing key"
                )
            dates = _Dates.of((chain.chain,), [document.issue_date], [document.next_update])
            return _SignedCollateral(document, chain, dates)
        except CheckFailed as exc:
            return exc

    def _check_quote(self, quote: Quote, checked: _PckOutcome, tcb_info: TcbInfo, qe_identity: EnclaveIdentity) -> None:
        """Intel's QuoteVerifier::verify, after the collateral checks."""
        pck = checked.chain
        tdx = quote.is_tdx
        if tcb_info.version >= 3:
            if tcb_info.is_tdx != tdx:
                raise CheckFailed(
                    Failure.TCB_INFO_MISMATCH, f"TCB info is for {tcb_info.id} but the quote is {quote.tee}"
                )
        elif tdx:
            raise CheckFailed(Failure.TCB_INFO_MISMATCH, "a version 2 TCB info cannot describe a TDX platform")
        if pck.pck.fmspc != tcb_info.fmspc:
            raise CheckFailed(
                Failure.TCB_INFO_MISMATCH,
                f"TCB info is for FMSPC {tcb_info.fmspc.hex()}, the PCK certificate says {pck.pck.fmspc.hex()}",
            )
        if pck.pck.pce_id != tcb_info.pce_id:
            raise CheckFailed(
                Failure.TCB_INFO_MISMATCH,
                f"TCB info is for PCE-ID {tcb_info.pce_id.hex()}, the PCK certificate says {pck.pck.pce_id.hex()}",
            )
        pck_key = checked.pck_key
        if pck_key is None:
            raise CheckFailed(Failure.INVALID_PCK_CERT, "the PCK certificate's public key is not a P-256 point")
        td = quote.td_report
        if td is not None:
            _check_tdx_module(td, tcb_info)
        if not self._memo.raw_signature_ok(
            pck.pck.public_key_bytes, pck_key, quote.qe_report_signature, quote.qe_report.raw
        ):
            raise CheckFailed(
                Failure.INVALID_QE_REPORT_SIGNATURE,
                "the QE report is not signed by the PCK certificate's key",
            )
        binding = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()
        if quote.qe_report.report_data[:32] != binding:
            raise CheckFailed(
                Failure.INVALID_QE_REPORT_DATA,
                "the QE report does not bind the attestation key (REPORTDATA != SHA-256(key || auth data))",
            )
        _check_qe_identity(quote, qe_identity)
        key = self._memo.attestation_key(quote.attestation_key)
        if key is None:
            raise CheckFailed(Failure.UNSUPPORTED_QUOTE_FORMAT, "the attestation key is not a P-256 point")
        if not verify_raw(key, quote.signature, quote.signed_data):
            raise CheckFailed(
                Failure.INVALID_QUOTE_SIGNATURE,
                "the quote signature does not verify with the attestation key",
            )

    @staticmethod
    def _evaluate_tcb(
        quote: Quote, pck: PckChain, tcb_info: TcbInfo, qe_identity: EnclaveIdentity
    ) -> tuple[TcbEvaluation, TcbEvaluation | None]:
        """The launch TCB and, for a TD 1.5 body, the current TCB (TEE_TCB_SVN2)."""
        tcb = pck.pck.sgx.tcb
        td = quote.td_report

        def evaluated(tee_tcb_svn: bytes | None) -> TcbEvaluation:
            return evaluate(tcb_info, qe_identity, tcb.components, tcb.pce_svn, quote.qe_report.isv_svn, tee_tcb_svn)

        try:
            launch = evaluated(td.tee_tcb_svn if td is not None else None)
            current = evaluated(td.tee_tcb_svn2) if isinstance(td, TdReport15) else None
        except TcbNotSupported as exc:
            raise CheckFailed(exc.failure, exc.detail) from exc
        return launch, current

    def _supplemental(
        self,
        quote: Quote,
        pck: _PckOutcome,
        tcb: _SignedCollateral[TcbInfo],
        qe: _SignedCollateral[EnclaveIdentity],
        launch: TcbEvaluation,
        current: TcbEvaluation | None,
    ) -> Supplemental:
        chain = pck.chain
        tcb_info = tcb.document
        qe_identity = qe.document
        sgx = chain.pck.sgx
        now = current or launch
        return Supplemental(
            earliest_issue_date=min(pck.dates.earliest_issue, tcb.dates.earliest_issue, qe.dates.earliest_issue),
            latest_issue_date=max(pck.dates.latest_issue, tcb.dates.latest_issue, qe.dates.latest_issue),
            earliest_expiration_date=min(pck.dates.expiration, tcb.dates.expiration, qe.dates.expiration),
            tcb_evaluation_data_number=min(tcb_info.tcb_evaluation_data_number, qe_identity.tcb_evaluation_data_number),
            pck_crl_number=chain.pck_crl.crl_number,
            root_ca_crl_number=chain.root_ca_crl.crl_number,
            root_key_id=self._root_key_id,
            ppid=sgx.ppid,
            fmspc=sgx.fmspc,
            pce_id=sgx.pce_id,
            tcb_cpusvn=sgx.tcb.cpu_svn,
            tcb_pce_svn=sgx.tcb.pce_svn,
            tee_type=quote.tee,
            sgx_type=sgx.sgx_type.label,
            ca_type=chain.pck.ca_type,
            platform_instance_id=sgx.platform_instance_id,
            dynamic_platform=sgx.dynamic_platform,
            cached_keys=sgx.cached_keys,
            smt_enabled=sgx.smt_enabled,
            tcb_level_date=launch.tcb_date,
            platform_tcb_level_date=launch.platform_level.tcb_date,
            qe_tcb_level_date=launch.qe_level.tcb_date,
            platform_status=launch.platform_level.status,
            qe_status=launch.qe_level.status,
            module_status=launch.module_level.status if launch.module_level else None,
            current_tcb_status=now.status.value,
            current_tcb_date=now.tcb_date,
            current_advisory_ids=tuple(sorted(set(now.advisory_ids))),
        )


def _lookup(cache: BoundedCache[T | CheckFailed], key: Hashable, compute: Callable[[], T | CheckFailed]) -> T:
    """A cached check: its value, or the failure it recorded, raised again."""
    value = cache.get_or_compute(key, compute)
    if isinstance(value, CheckFailed):
        raise CheckFailed(value.failure, value.detail, value.step)
    return value


@contextmanager
def _during(step: PreflightStep) -> Iterator[None]:
    """Failures met inside: reported as failures of Intel's pre-flight ``step``."""
    try:
        yield
    except CheckFailed as exc:
        exc.step = step
        raise


def _parse(kind: _DocumentKind[D], signed: SignedDocument) -> D:
    try:
        return kind.parse(signed)
    except UnsupportedVersionError as exc:
        raise CheckFailed(kind.unsupported_version, str(exc)) from exc
    except InvalidCollateralError as exc:
        raise CheckFailed(kind.invalid, str(exc)) from exc
    except CollateralFormatError as exc:
        raise CheckFailed(kind.unsupported_format, str(exc)) from exc


_MIN_QUOTE_SIZE = 1020  # Intel's QUOTE_MIN_SIZE


def _refused_as_parameter(raw: bytes) -> bool:
    """Whether Intel's API refuses the quote bytes as a bad parameter before parsing them (tee_verify_evidence):
    fewer than QUOTE_MIN_SIZE bytes, or a TEE type (bytes 4-8) neither SGX (0) nor TDX (0x81)."""
    return len(raw) < _MIN_QUOTE_SIZE or int.from_bytes(raw[4:8], "little") not in (0x00, 0x81)


def _check_tdx_module(td: TdReport10, tcb_info: TcbInfo) -> None:
    """The TD's SEAM module against the TCB info's TDX module (or the ``TDX_%02X`` identity of its version)."""
    module = tcb_info.tdx_module
    if module is None:  # the TCB info is for SGX: already a TCB_INFO_MISMATCH
        return
    expected_signer = module.mr_signer
    expected_attributes = module.attributes
    # Intel also requires quote version > 3 here, which every TDX quote meets.
    if td.tee_tcb_svn[1] > 0:
        identity = tcb_info.module_identity(td.tee_tcb_svn[1])
        if identity is None:
            raise CheckFailed(
                Failure.TDX_MODULE_MISMATCH,
                f"the TCB info has no TDX module identity TDX_{td.tee_tcb_svn[1]:02X}",
            )
        expected_signer = identity.mr_signer
        expected_attributes = identity.attributes
    if td.mr_signer_seam != expected_signer:
        raise CheckFailed(
            Failure.TDX_MODULE_MISMATCH,
            f"MRSIGNERSEAM {td.mr_signer_seam.hex()} is not the TDX module signer {expected_signer.hex()}",
        )
    # Intel ignores the attributes mask: both must be all zero.
    if any(td.seam_attributes) or any(expected_attributes):
        raise CheckFailed(Failure.TDX_MODULE_MISMATCH, "SEAMATTRIBUTES must be zero, as must the module's")


def _check_qe_identity(quote: Quote, identity: EnclaveIdentity) -> None:
    if quote.is_tdx and identity.id != "TD_QE":
        raise CheckFailed(Failure.QE_IDENTITY_MISMATCH, f"a TDX quote needs the TD_QE identity, not {identity.id}")
    if not quote.is_tdx and identity.id != "QE":
        raise CheckFailed(Failure.QE_IDENTITY_MISMATCH, f"an SGX quote needs the QE identity, not {identity.id}")
    report = quote.qe_report
    if report.misc_select & identity.miscselect_mask != identity.miscselect:
        raise CheckFailed(Failure.QE_IDENTITY_MISMATCH, "the QE's MISCSELECT does not match its identity")
    masked = int.from_bytes(report.attributes, "big") & int.from_bytes(identity.attributes_mask, "big")
    if masked != int.from_bytes(identity.attributes, "big"):
        raise CheckFailed(Failure.QE_IDENTITY_MISMATCH, "the QE's ATTRIBUTES do not match its identity")
    if report.mr_signer != identity.mr_signer:
        raise CheckFailed(Failure.QE_IDENTITY_MISMATCH, "the QE's MRSIGNER is not Intel's")
    if report.isv_prod_id != identity.isv_prod_id:
        raise CheckFailed(
            Failure.QE_IDENTITY_MISMATCH,
            f"the QE's ISVPRODID {report.isv_prod_id} is not {identity.isv_prod_id}",
        )


def _explain(status: TcbStatus, launch: TcbEvaluation) -> str:
    parts = [f"platform {launch.platform_level.status}", f"QE {launch.qe_level.status}"]
    if launch.module_level is not None:
        parts.append(f"TDX module {launch.module_level.status}")
    return f"{status.value} ({', '.join(parts)})"


def _trust_root(trusted_root: TrustRoot | bytes | str | None) -> TrustRoot:
    if trusted_root is None:
        return TrustRoot.intel()
    if isinstance(trusted_root, TrustRoot):
        return trusted_root
    return TrustRoot.from_pem(trusted_root)


# One shared verifier (and so one set of caches) per trust root, for verify_quote.
_DEFAULT_VERIFIERS: BoundedCache[Verifier] = BoundedCache(8)


def verify_quote(
    quote: bytes | Quote,
    collateral: Collateral,
    *,
    at: TimeLike = None,
    trusted_root: TrustRoot | bytes | str | None = None,
    policy: AppraisalPolicy | None = None,
) -> VerificationResult:
    """Verify one quote. Collateral checks are cached per trust root across calls."""
    trust = _trust_root(trusted_root)
    verifier = _DEFAULT_VERIFIERS.get_or_compute(trust, lambda: Verifier(trusted_root=trust))
    return verifier.verify(quote, collateral, at=at, policy=policy)
