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
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.collateral.bundle import Collateral
from pydcap.collateral.enclave_identity import EnclaveIdentity
from pydcap.collateral.signed import SignedDocument
from pydcap.collateral.tcb_info import TcbInfo
from pydcap.errors import (
    CollateralFormatError,
    FormatError,
    InvalidCollateralError,
    QuoteFormatError,
    UnsupportedVersionError,
)
from pydcap.intel.outcomes import QV_RESULT_OF_STATUS, Failure, QvResult, TcbStatus
from pydcap.intel.quote3 import QUOTE3_ERROR_OF_FAILURE, PreflightStep, Quote3Error
from pydcap.intel.time import TimeLike, to_unix
from pydcap.lazy import maker, remember
from pydcap.pki.certs import Certificate, CertificateChain
from pydcap.pki.crl import RevocationList
from pydcap.pki.intel_layout import read_pck
from pydcap.pki.pck import PckCertificate, SgxExtension, SgxType, ca_type
from pydcap.pki.trust import TrustRoot
from pydcap.policy import AppraisalPolicy, Policy
from pydcap.quote.parser import Quote
from pydcap.quote.structs import EnclaveReport, TdReport10, TdReport15
from pydcap.results import Supplemental, VerificationResult
from pydcap.trust.chains import (
    INTERMEDIATE_CN,
    PCK_CN,
    SigningChain,
    check_pck_certificates,
    check_pck_crls,
    check_signing_chain,
    parse_crl,
    read_chain,
    trusted_pck_chain,
)
from pydcap.trust.errors import Refused
from pydcap.trust.lru import BoundedCache
from pydcap.trust.memo import PkiMemo
from pydcap.trust.signatures import document_signed, point_signed, public_key_from_point
from pydcap.verify.tcb import TcbEvaluation, TcbNotSupported, evaluate, relaunch

T = TypeVar("T")
D = TypeVar("D", TcbInfo, EnclaveIdentity)
H = TypeVar("H", bound=Hashable)


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

    def __or__(self, other: _Dates) -> _Dates:
        """The dates of both groups together."""
        return _Dates(
            min(self.earliest_issue, other.earliest_issue),
            max(self.latest_issue, other.latest_issue),
            min(self.expiration, other.expiration),
        )


@dataclass(frozen=True, eq=False)
class _SignedCollateral(Generic[D]):
    """A TCB info or enclave identity whose signing chain and signature verified. A TCB info also remembers the
    TCB evaluations made with it (few distinct TCBs meet one TCB info), bounded in number."""

    document: D
    chain: SigningChain
    dates: _Dates
    evaluations: dict[Hashable, _TcbOutcome | Refused] = field(default_factory=dict)


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


class _Platform:
    """What a verifier keeps of one platform, keyed by the digest of its quotes' certification data (attestation
    key, QE report and signature, QE authentication data, PCK chain): the outcome of every check of that data
    that needs no collateral. It stays well under a kilobyte: no certificate, key object or raw bytes beyond the
    SGX extension's values."""

    __slots__ = (
        "ca_type",
        "earliest_issue",
        "expiration",
        "intermediate",
        "latest_issue",
        "pck_key_ok",
        "qe_failure",
        "root",
        "serial",
        "sgx",
    )

    def __init__(
        self,
        root: Certificate,
        intermediate: Certificate,
        sgx: SgxExtension,
        ca_type: str,
        serial: int,
        earliest_issue: int,
        latest_issue: int,
        expiration: int,
        pck_key_ok: bool,
        qe_failure: Refused | None,
    ) -> None:
        self.root = root  # shared with every platform under the same CA
        self.intermediate = intermediate
        self.sgx = sgx
        self.ca_type = ca_type  # of the PCK certificate's issuer: "processor" or "platform"
        self.serial = serial  # of the PCK certificate, for the PCK CRL
        self.earliest_issue = earliest_issue  # the chain's dates
        self.latest_issue = latest_issue
        self.expiration = expiration
        self.pck_key_ok = pck_key_ok  # the PCK key is a P-256 point
        self.qe_failure = qe_failure  # of the QE report's signature by the PCK key, then of its REPORTDATA


class _CaPair:
    """The root and intermediate CA of a PCK chain, with what the platforms under them share: the CA type, and the
    issue and expiry dates of the chain's certificates (``certificates``: the CAs', and the PCK certificate's when
    it is this one platform's pair), which a platform's record combines with its PCK certificate's."""

    __slots__ = ("ca_type", "earliest_issue", "expiration", "intermediate", "latest_issue", "root")

    def __init__(self, root: Certificate, intermediate: Certificate, certificates: tuple[Certificate, ...]) -> None:
        self.root = root
        self.intermediate = intermediate
        self.ca_type = ca_type(intermediate.subject_cn)
        self.earliest_issue = min(cert.not_before for cert in certificates)
        self.latest_issue = max(cert.not_before for cert in certificates)
        self.expiration = min(cert.not_after for cert in certificates)


class _UntrustedChain:
    """A platform whose chain passes Intel's pre-flight but fails the QVL's check of its names or signatures
    (reported after the pre-flight's other steps, as Intel's order has it)."""

    __slots__ = ("failure",)

    def __init__(self, failure: Refused) -> None:
        self.failure = failure


# What ``_Platform`` costs in memory with its cache slot (an estimate the tests hold to tracemalloc's measure).
PLATFORM_BYTES = 768


@dataclass(frozen=True, slots=True)
class _CheckedCrls:
    """The root CA CRL and PCK CRL of a bundle, readable, with their dates and their issuer chain's; and how
    they fared against each pair of root and intermediate CA met (few: Intel has two intermediates)."""

    root_ca_crl: RevocationList
    pck_crl: RevocationList
    dates: _Dates
    issuers: dict[tuple[Certificate, Certificate], Refused | None] = field(default_factory=dict)


class _CheckedBundle:
    """What checking a collateral bundle found, step by step in Intel's order (the pre-flight's reading of each
    part, then the QVL's checks of the documents): each outcome, or its failure, raised when a verification
    reaches that step; and, when all were checked, their dates and supplemental values together."""

    __slots__ = (
        "crls",
        "dates",
        "issuer_chains",
        "latest_crl_update",
        "nbytes",
        "passed",
        "qe",
        "qe_identity",
        "supplemental",
        "tcb",
        "tcb_info",
    )

    def __init__(self, verifier: Verifier, collateral: Collateral) -> None:
        memo = verifier._memo
        self.tcb_info = _outcome(lambda: _parse(_TCB_INFO, collateral.tcb_info), PreflightStep.TCB_INFO)
        self.qe_identity = _outcome(lambda: _parse(_QE_IDENTITY, collateral.qe_identity), PreflightStep.QE_IDENTITY)
        self.issuer_chains = _outcome(
            lambda: (
                read_chain(collateral.qe_identity_issuer_chain, "QE identity issuer chain", memo),
                read_chain(collateral.tcb_info_issuer_chain, "TCB info issuer chain", memo),
                read_chain(collateral.pck_crl_issuer_chain, "PCK CRL issuer chain", memo),
            ),
            PreflightStep.ISSUER_CHAINS,
        )
        self.crls = _outcome(lambda: _read_crls(collateral, memo, self.issuer_chains), PreflightStep.CRLS)
        tcb_info, qe_identity = self.tcb_info, self.qe_identity
        self.tcb: _SignedCollateral[TcbInfo] | Refused = (
            tcb_info
            if isinstance(tcb_info, Refused)
            else _outcome(lambda: verifier._check_signed(_TCB_INFO, tcb_info, collateral.tcb_info, collateral))
        )
        self.qe: _SignedCollateral[EnclaveIdentity] | Refused = (
            qe_identity
            if isinstance(qe_identity, Refused)
            else _outcome(lambda: verifier._check_signed(_QE_IDENTITY, qe_identity, collateral.qe_identity, collateral))
        )
        self.dates: _Dates | None = None
        self.supplemental: dict[str, object] | None = None  # the supplemental data's values that come from it
        self.latest_crl_update = 0
        self.nbytes = _collateral_bytes(collateral)  # what it costs in memory, estimated
        self.passed: tuple[_CheckedCrls, _SignedCollateral[TcbInfo], _SignedCollateral[EnclaveIdentity]] | None = None
        crls, tcb, qe = self.crls, self.tcb, self.qe
        if isinstance(crls, _CheckedCrls) and isinstance(tcb, _SignedCollateral) and isinstance(qe, _SignedCollateral):
            if not isinstance(self.issuer_chains, Refused):  # every part read, and checked
                self.passed = (crls, tcb, qe)
            self.dates = crls.dates | tcb.dates | qe.dates
            evaluation = min(tcb.document.tcb_evaluation_data_number, qe.document.tcb_evaluation_data_number)
            self.supplemental = {
                "tcb_evaluation_data_number": evaluation,
                "pck_crl_number": crls.pck_crl.crl_number,
                "root_ca_crl_number": crls.root_ca_crl.crl_number,
            }
            self.latest_crl_update = max(crls.root_ca_crl.this_update, crls.pck_crl.this_update)


@dataclass(frozen=True, slots=True)
class _TcbOutcome:
    """A TCB evaluation (launch, and current for TD 1.5) and what the result says of it."""

    launch: TcbEvaluation
    current: TcbEvaluation | None
    status: TcbStatus
    qv_result: QvResult  # Intel's result for that status
    detail: str
    advisory_ids: tuple[str, ...]
    supplemental: dict[str, object]  # the supplemental data's values that come from the evaluation


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What a verifier's caches hold: platforms, collateral checks, and their estimated size against the budget."""

    platforms: int
    entries: int
    nbytes: int
    max_bytes: int


DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class Verifier:
    """Verifies quotes against collateral under one trust root and one policy, reusing verified collateral.

    A ``Verifier`` is safe to share between threads. It remembers, by the digest of the exact bytes, every
    collateral bundle it checked and every platform it met (what checking that platform's PCK chain and QE
    report taught it, in well under a kilobyte), least recently used first out beyond ``cache_bytes`` (default
    64 MiB: some 90,000 platforms). A quote from a platform it knows costs little more than its own signature.
    """

    def __init__(
        self,
        *,
        trusted_root: TrustRoot | bytes | str | None = None,
        policy: AppraisalPolicy | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must not be negative, not {cache_bytes}")
        self.trust = _trust_root(trusted_root)
        self.policy: AppraisalPolicy = policy if policy is not None else _DEFAULT_POLICY
        self._cache: BoundedCache[object] = BoundedCache(max_bytes=cache_bytes, sizeof=_cached_bytes)
        self._memo = PkiMemo(trust=self.trust)
        self._shared: dict[Hashable, Hashable] = {}  # values platforms have in common (see _share)
        self._known_cas: dict[bytes, _CaPair] = {}  # see _on_known_cas
        self._keys: dict[bytes, ec.EllipticCurvePublicKey] = {}  # see _attestation_key
        self._root_key_id = self.trust.key_id  # every checked chain ends in this key
        self._root_pins = (self.trust.public_key, self.trust.signed_certificates)  # see _PINNED_CA_CHAINS
        self._root_name, self._root_is_intel = self.trust.name, self.trust.is_intel

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
        result = self.appraise(quote, collateral, at=at if type(at) is int else to_unix(at))  # unix seconds
        reasons = tuple((policy or self.policy).reasons(result))
        values = result.__dict__  # a new result's, not yet seen by anyone else
        values["accepted"] = not reasons
        values["reasons"] = reasons
        return result

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
        except Refused as exc:
            return self._failed(exc.failure, exc.detail, at, parsed, exc.step)

    def pck_platform(self, quote: Quote) -> tuple[bytes, str] | None:
        """The FMSPC and CA type ("processor" or "platform") of the PCK certificate in ``quote``, read as an
        appraisal reads it and remembered for the appraisal of this quote that follows (a service choosing the
        collateral then reads the certificate once); None when the quote has no PCK chain this verifier trusts."""
        pem = quote.pck_chain_pem
        if pem is None:
            return None
        try:
            platform = self._platform_record(quote, pem)
        except Refused:
            return None
        return (platform.sgx.fmspc, platform.ca_type) if isinstance(platform, _Platform) else None

    def clear_caches(self) -> None:
        self._cache.clear()
        self._memo.clear()
        self._shared.clear()
        self._known_cas.clear()
        self._keys.clear()

    def cache_stats(self) -> CacheStats:
        platforms = sum(1 for key in self._cache.keys_now() if isinstance(key, bytes))
        return CacheStats(platforms, len(self._cache), self._cache.nbytes, self._cache.max_bytes or 0)

    # ---- steps -----------------------------------------------------------------------------------

    def _failed(
        self, failure: Failure, detail: str, at: int, quote: Quote | None, step: PreflightStep | None = None
    ) -> VerificationResult:
        """A failure as Intel's API reports it: the code of the pre-flight ``step`` that met it, else the code of
        its QVL status; the result UNSPECIFIED."""
        return _make_result(  # by name: a failure is not the hot path
            qv_result=QvResult.UNSPECIFIED,
            quote3_error=step.quote3_error if step is not None else QUOTE3_ERROR_OF_FAILURE[failure],
            tcb_status=None,
            failure=failure,
            detail=detail,
            advisory_ids=(),
            collateral_expired=False,
            verified_at=at,
            trusted_root=self._root_name,
            root_is_intel=self._root_is_intel,
            quote=quote,
            supplemental=None,
            accepted=False,
            reasons=(),
        )

    def _appraise(self, quote: Quote, collateral: Collateral, at: int) -> VerificationResult:
        pem = quote.pck_chain_pem
        if pem is None and quote.certification_data.encrypted_ppid is not None:
            # The PCK certificate a service selected for the quote's encrypted PPID and raw TCB (pydcap's
            # collateral fetch, dcap-qvl's): checked like an embedded chain; the QE report, which the PCK key
            # signs, binds it to this platform.
            pem = collateral.pck_chain
        if pem is None:
            raise Refused(
                Failure.UNSUPPORTED_QE_CERTIFICATION_DATA_TYPE,
                f"certification data type {quote.certification_data.type} is not a PCK certificate chain (5)",
            )
        bundle = self._bundle(collateral)
        passed = bundle.passed
        if passed is None:  # some part of the bundle fails: Intel's order of steps decides which failure is named
            # Intel's API pre-flight (qve.cpp): each part read, in its order; the PCK chain's root must be trusted.
            _checked(bundle.tcb_info)
            platform = self._platform_record(quote, pem)
            _checked(bundle.qe_identity)
            _checked(bundle.issuer_chains)
            crls = _checked(bundle.crls)
            # The QVL's four calls: the PCK chain and its CRLs, the TCB info, the QE identity, then the quote.
            self._check_pck(platform, crls)
            tcb = _checked(bundle.tcb)
            qe = _checked(bundle.qe)
            signed = self._quote_signed(quote)
        else:  # only the platform's own steps can fail
            crls, tcb, qe = passed
            platform = self._platform_record(quote, pem)
            # Checked now, beside the signature checks of a platform met for the first time (the CPU's caches then
            # serve all three); reported in its turn.
            signed = self._quote_signed(quote)
            self._check_pck(platform, crls)
        assert isinstance(platform, _Platform)

        self._check_quote(quote, platform, tcb.document, qe.document, signed)
        outcome = self._evaluate_tcb(quote, platform.sgx, tcb, qe)
        supplemental = self._supplemental(quote, platform, bundle, outcome)
        expired = supplemental.earliest_expiration_date <= at or bundle.latest_crl_update > at
        status = outcome.status
        if status == _REVOKED:
            result = self._failed(Failure.TCB_REVOKED, "a matched TCB level is Revoked", at, quote)
            return replace(result, supplemental=supplemental, collateral_expired=expired)
        return _make_result(
            outcome.qv_result,  # qv_result
            _SUCCESS,  # quote3_error
            status,  # tcb_status
            None,  # failure
            outcome.detail,  # detail
            outcome.advisory_ids,  # advisory_ids
            expired,  # collateral_expired
            at,  # verified_at
            self._root_name,  # trusted_root
            self._root_is_intel,  # root_is_intel
            quote,  # quote
            supplemental,  # supplemental
            False,  # accepted
            (),  # reasons
        )

    def _bundle(self, collateral: Collateral) -> _CheckedBundle:
        """Every check of a collateral bundle that needs no quote, made once per bundle (by content)."""
        key = ("bundle", collateral.digest)
        bundle = self._cache.get(key)
        if not isinstance(bundle, _CheckedBundle):
            bundle = _CheckedBundle(self, collateral)
            self._cache.put(key, bundle)
        return bundle

    def _platform_record(self, quote: Quote, pem: bytes) -> _Platform | _UntrustedChain:
        """What this verifier knows of the quote's platform, found out now if need be; a failure of the
        pre-flight's reading of the chain is raised."""
        key = _platform_digest(quote, pem)
        remembered = self._cache.get(key)
        if remembered is None:
            try:
                remembered = self._platform(quote, pem)
            except Refused as exc:
                remembered = exc
            self._cache.put(key, remembered)
        return _checked(remembered)  # type: ignore[return-value]  # what _platform returned for this key

    def _check_pck(self, platform: _Platform | _UntrustedChain, crls: _CheckedCrls) -> None:
        """The QVL's PCK chain check: its names and signatures, the CRLs against it, revocation."""
        if isinstance(platform, _UntrustedChain):
            raise Refused(platform.failure.failure, platform.failure.detail)
        issuers = (platform.root, platform.intermediate)
        checked: object = crls.issuers.get(issuers, _UNCHECKED)  # None once checked and passed
        if checked is _UNCHECKED:
            outcome = _outcome(lambda: check_pck_crls(crls.root_ca_crl, crls.pck_crl, *issuers, self._memo))
            checked = remember(crls.issuers, issuers, outcome, _ISSUERS_PER_BUNDLE)
        if isinstance(checked, Refused):
            _checked(checked)
        if crls.pck_crl.revokes_serial(platform.serial):
            raise Refused(Failure.SGX_PCK_REVOKED, "the PCK certificate is revoked")

    def _platform(self, quote: Quote, pem: bytes) -> _Platform | _UntrustedChain:
        """Every check of a quote's certification data that needs no collateral: the pre-flight's reading of the
        chain (a failure is raised), the QVL's check of its names and signatures (a failure is kept, raised in
        its turn), the QE report's signature by the PCK key and its binding of the attestation key."""
        found = self._on_known_cas(pem)
        if found is None:
            with _during(PreflightStep.PCK_CHAIN):
                chain, named_pck = trusted_pck_chain(pem, self.trust, self._memo)
            try:
                root, intermediate, pck = check_pck_certificates(chain, named_pck, self._memo)
            except Refused as exc:
                return _UntrustedChain(exc)
            cas = self._remember_cas(pem, chain, pck, _CaPair(root, intermediate, chain.certificates))
        else:
            cas, pck = found
            if pck.issuer_raw != cas.intermediate.subject_raw or not pck.is_signed_by(cas.intermediate):
                return _UntrustedChain(
                    Refused(Failure.SGX_PCK_INVALID_ISSUER, "PCK certificate is not signed by the intermediate CA")
                )
        qe_signed = point_signed(pck.public_key_bytes, quote.qe_report_signature, quote.qe_report.raw)
        qe_failure = None
        if qe_signed is not None:
            if not qe_signed:
                qe_failure = Refused(
                    Failure.INVALID_QE_REPORT_SIGNATURE, "the QE report is not signed by the PCK certificate's key"
                )
            elif quote.qe_report.report_data[:32] != _binding(quote):
                qe_failure = Refused(
                    Failure.INVALID_QE_REPORT_DATA,
                    "the QE report does not bind the attestation key (REPORTDATA != SHA-256(key || auth data))",
                )
        issued = pck.not_before
        return _Platform(
            cas.root,
            cas.intermediate,
            pck.sgx,
            cas.ca_type,
            pck.serial_number,
            self._share(min(issued, cas.earliest_issue)),  # mostly the root's
            max(issued, cas.latest_issue),
            min(pck.not_after, cas.expiration),
            qe_signed is not None,
            qe_failure,
        )

    def _attestation_key(self, point: bytes) -> ec.EllipticCurvePublicKey | None:
        """The quote's attestation key (0x04 || its x || y) as a key object; the most recently used few are kept (a
        key object costs about 2 KB outside Python, so the per-platform records keep none)."""
        keys = self._keys
        key = keys.get(point)
        if key is None:
            key = public_key_from_point(point)
            if key is not None:
                remember(keys, point, key, _KEY_OBJECTS)
        return key

    def _on_known_cas(self, pem: bytes) -> tuple[_CaPair, PckCertificate] | None:
        """A chain whose CA certificates, exactly as encoded, this verifier has read and checked before (the bytes
        after the PCK certificate's block), or any verifier with this root when it pins them
        (``_PINNED_CA_CHAINS``): its root and intermediate CA, and the PCK certificate read and checked
        as the full reading would; None (read it in full) when anything about it is unusual. What is left to check
        is the PCK certificate's issuer and signature."""
        split = pem.find(_PEM_END) + len(_PEM_END)
        if split <= len(_PEM_END):
            return None
        tail = pem[split:]
        known = self._known_cas.get(tail) or _PINNED_CA_CHAINS.get((*self._root_pins, tail))
        if known is None or not pem.startswith(_PEM_BEGIN) or 0 < pem.find(_PEM_BEGIN, 1) < split:
            return None
        try:
            leaf = read_pck(pem[:split], known.intermediate.subject_raw)
            name = leaf.subject_cn
            if leaf.missing_extensions or leaf.self_issued or PCK_CN not in name or INTERMEDIATE_CN in name:
                return None
        except FormatError:
            return None
        return known, leaf

    def _remember_cas(self, pem: bytes, chain: CertificateChain, pck: PckCertificate, cas: _CaPair) -> _CaPair:
        """After a full reading of a chain led by its PCK certificate: its CA certificates, for ``_on_known_cas``
        (with their own dates, without the PCK certificate's). Returns ``cas``."""
        first, *others = chain.certificates
        split = pem.find(_PEM_END) + len(_PEM_END)
        root, intermediate = cas.root, cas.intermediate
        if (
            first.der == pck.der
            and root in others
            and intermediate in others
            and not any(PCK_CN in ca.subject_cn for ca in others)
            and split > len(_PEM_END)
        ):
            tail = pem[split:]
            known = remember(self._known_cas, tail, _CaPair(root, intermediate, (root, intermediate)), _KNOWN_CA_CHAINS)
            pinned = self.trust.signed_certificates
            if root.digest in pinned and intermediate.digest in pinned:
                remember(_PINNED_CA_CHAINS, (*self._root_pins, tail), known, _KNOWN_CA_CHAINS)
        return cas

    def _share(self, value: H) -> H:
        """The object equal to ``value`` that earlier platforms use, if any (at most a few thousand are kept)."""
        found = self._shared.get(value)
        if found is None:
            if len(self._shared) < _SHARED_VALUES:
                self._shared[value] = value
            return value
        return cast(H, found)

    def _check_signed(
        self, kind: _DocumentKind[D], document: D, signed: SignedDocument, collateral: Collateral
    ) -> _SignedCollateral[D]:
        """The QVL's check of a parsed document (``document``, read from ``signed``): its signing chain, then
        its signature."""
        chain_pem = collateral.tcb_info_issuer_chain if kind is _TCB_INFO else collateral.qe_identity_issuer_chain
        chain = check_signing_chain(chain_pem, collateral.root_ca_crl, self.trust, kind.what, self._memo)
        if not document_signed(signed, chain.signer.public_key_bytes, self._memo.point_key):
            raise Refused(kind.invalid_signature, f"{kind.what} signature does not verify with the TCB Signing key")
        dates = _Dates.of((chain.chain,), [document.issue_date], [document.next_update])
        return _SignedCollateral(document, chain, dates)

    def _check_quote(
        self, quote: Quote, platform: _Platform, tcb_info: TcbInfo, qe_identity: EnclaveIdentity, signed: bool | None
    ) -> None:
        """Intel's QuoteVerifier::verify, after the collateral checks (``signed``: what ``_quote_signed`` found)."""
        sgx = platform.sgx
        tdx = quote.is_tdx
        if tcb_info.version >= 3:
            if tcb_info.is_tdx != tdx:
                raise Refused(Failure.TCB_INFO_MISMATCH, f"TCB info is for {tcb_info.id} but the quote is {quote.tee}")
        elif tdx:
            raise Refused(Failure.TCB_INFO_MISMATCH, "a version 2 TCB info cannot describe a TDX platform")
        if sgx.fmspc != tcb_info.fmspc:
            raise Refused(
                Failure.TCB_INFO_MISMATCH,
                f"TCB info is for FMSPC {tcb_info.fmspc.hex()}, the PCK certificate says {sgx.fmspc.hex()}",
            )
        if sgx.pce_id != tcb_info.pce_id:
            raise Refused(
                Failure.TCB_INFO_MISMATCH,
                f"TCB info is for PCE-ID {tcb_info.pce_id.hex()}, the PCK certificate says {sgx.pce_id.hex()}",
            )
        if not platform.pck_key_ok:
            raise Refused(Failure.INVALID_PCK_CERT, "the PCK certificate's public key is not a P-256 point")
        td = quote.td_report
        if td is not None:
            _check_tdx_module(td, tcb_info)
        if platform.qe_failure is not None:  # the QE report's signature, then its REPORTDATA
            raise Refused(platform.qe_failure.failure, platform.qe_failure.detail)
        _check_qe_identity(quote.qe_report, tdx, qe_identity)
        if signed is None:
            raise Refused(Failure.UNSUPPORTED_QUOTE_FORMAT, "the attestation key is not a P-256 point")
        if not signed:
            raise Refused(
                Failure.INVALID_QUOTE_SIGNATURE,
                "the quote signature does not verify with the attestation key",
            )

    def _quote_signed(self, quote: Quote) -> bool | None:
        """Whether the quote's signature verifies with its attestation key; None when that key is not a P-256
        point."""
        return point_signed(b"\x04" + quote.attestation_key, quote.signature, quote.signed_data, self._attestation_key)

    @staticmethod
    def _evaluate_tcb(
        quote: Quote, sgx: SgxExtension, tcb: _SignedCollateral[TcbInfo], qe: _SignedCollateral[EnclaveIdentity]
    ) -> _TcbOutcome:
        """The launch TCB and, for a TD 1.5 body, the current TCB (TEE_TCB_SVN2), merged by the relaunch rule;
        remembered with the TCB info (a fleet has few distinct TCBs)."""
        td = quote.td_report
        launch_svn = td.tee_tcb_svn if td is not None else None
        current_svn = td.tee_tcb_svn2 if isinstance(td, TdReport15) else None
        isv_svn = quote.qe_report.isv_svn
        key = (qe, sgx.tcb.components, sgx.tcb.pce_svn, isv_svn, launch_svn, current_svn)  # what evaluation reads
        memo = tcb.evaluations
        found = memo.get(key)
        if found is None:
            found = _outcome(lambda: _evaluate(tcb.document, qe.document, sgx, isv_svn, launch_svn, current_svn))
            remember(memo, key, found, _EVALUATIONS_PER_TCB_INFO)
        return _checked(found)

    def _supplemental(
        self, quote: Quote, platform: _Platform, bundle: _CheckedBundle, outcome: _TcbOutcome
    ) -> Supplemental:
        """Intel's supplemental data: the platform's, the bundle's and the TCB evaluation's values."""
        sgx = platform.sgx
        tcb = sgx.tcb
        dates = bundle.dates
        collateral = bundle.supplemental
        assert dates is not None and collateral is not None  # every part of the bundle checked
        evaluation = outcome.supplemental
        return _make_supplemental(
            min(platform.earliest_issue, dates.earliest_issue),  # earliest_issue_date
            max(platform.latest_issue, dates.latest_issue),  # latest_issue_date
            min(platform.expiration, dates.expiration),  # earliest_expiration_date
            collateral["tcb_evaluation_data_number"],  # tcb_evaluation_data_number
            collateral["pck_crl_number"],  # pck_crl_number
            collateral["root_ca_crl_number"],  # root_ca_crl_number
            self._root_key_id,  # root_key_id
            sgx.ppid,  # ppid
            sgx.fmspc,  # fmspc
            sgx.pce_id,  # pce_id
            tcb.cpu_svn,  # tcb_cpusvn
            tcb.pce_svn,  # tcb_pce_svn
            quote.tee,  # tee_type
            _SGX_TYPE_LABELS[sgx.sgx_type],  # sgx_type
            platform.ca_type,  # ca_type
            sgx.platform_instance_id,  # platform_instance_id
            sgx.dynamic_platform,  # dynamic_platform
            sgx.cached_keys,  # cached_keys
            sgx.smt_enabled,  # smt_enabled
            evaluation["tcb_level_date"],  # tcb_level_date
            evaluation["platform_tcb_level_date"],  # platform_tcb_level_date
            evaluation["qe_tcb_level_date"],  # qe_tcb_level_date
            evaluation["platform_status"],  # platform_status
            evaluation["qe_status"],  # qe_status
            evaluation["module_status"],  # module_status
            evaluation["current_tcb_status"],  # current_tcb_status
            evaluation["current_tcb_date"],  # current_tcb_date
            evaluation["current_advisory_ids"],  # current_advisory_ids
        )


def _evaluate(
    tcb_info: TcbInfo,
    qe_identity: EnclaveIdentity,
    sgx: SgxExtension,
    isv_svn: int,
    launch_svn: bytes | None,
    current_svn: bytes | None,
) -> _TcbOutcome:
    components, pce_svn = sgx.tcb.components, sgx.tcb.pce_svn
    try:
        launch = evaluate(tcb_info, qe_identity, components, pce_svn, isv_svn, launch_svn)
        current = (
            evaluate(tcb_info, qe_identity, components, pce_svn, isv_svn, current_svn)
            if current_svn is not None
            else None
        )
    except TcbNotSupported as exc:
        raise Refused(exc.failure, exc.detail) from exc
    status = launch.status if current is None else relaunch(launch.status, current.status)
    now = current or launch
    supplemental = {
        "tcb_level_date": launch.tcb_date,
        "platform_tcb_level_date": launch.platform_level.tcb_date,
        "qe_tcb_level_date": launch.qe_level.tcb_date,
        "platform_status": launch.platform_level.status,
        "qe_status": launch.qe_level.status,
        "module_status": launch.module_level.status if launch.module_level else None,
        "current_tcb_status": now.status.value,
        "current_tcb_date": now.tcb_date,
        "current_advisory_ids": tuple(sorted(set(now.advisory_ids))),
    }
    return _TcbOutcome(
        launch,
        current,
        status,
        QV_RESULT_OF_STATUS[status],
        _explain(status, launch),
        tuple(sorted(set(launch.advisory_ids))),
        supplemental,
    )


_EVALUATIONS_PER_TCB_INFO = 4096
_SGX_TYPE_LABELS = {sgx_type: sgx_type.label for sgx_type in SgxType}
# A result and its supplemental data as the verifier makes them: every field, in order (given by name, at
# several times the cost).
_make_result = maker(VerificationResult)
_make_supplemental = maker(Supplemental)
_ISSUERS_PER_BUNDLE = 16
_KNOWN_CA_CHAINS = 16
# The CA certificates of PCK chains (``_known_cas``'s keys) that a trust root pins both of, once a verifier with
# that root has read and checked them in full, by the root's key and pins and their exact bytes: every verifier
# with that root knows them (a new one included), as it knows the pinned certificates themselves.
_PINNED_CA_CHAINS: dict[tuple[bytes, frozenset[bytes], bytes], _CaPair] = {}
_KEY_OBJECTS = 256
_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


_SHARED_VALUES = 4096
_DEFAULT_POLICY = Policy()  # immutable: one for every verifier given none
_UNCHECKED = object()  # what a memo's get gives for what it has not seen
# Members read as module names (an enum's metaclass makes reading them from the class cost as much as their use).
_REVOKED = TcbStatus.REVOKED
_SUCCESS = Quote3Error.SGX_QL_SUCCESS


def _outcome(check: Callable[[], T], step: PreflightStep | None = None) -> T | Refused:
    """What ``check`` returns, or the failure it raises (as a failure of the pre-flight ``step``, if given)."""
    try:
        return check()
    except Refused as exc:
        if step is not None:
            exc.step = step
        return exc


def _checked(outcome: T | Refused) -> T:
    """The outcome of a check, or its failure raised (again)."""
    if isinstance(outcome, Refused):
        raise Refused(outcome.failure, outcome.detail, outcome.step)
    return outcome


@contextmanager
def _during(step: PreflightStep | None) -> Iterator[None]:
    """Failures met inside: reported as failures of Intel's pre-flight ``step`` (None: of the QVL's checks)."""
    try:
        yield
    except Refused as exc:
        if step is not None:
            exc.step = step
        raise


def _parse(kind: _DocumentKind[D], signed: SignedDocument) -> D:
    try:
        return kind.parse(signed)
    except UnsupportedVersionError as exc:
        raise Refused(kind.unsupported_version, str(exc)) from exc
    except InvalidCollateralError as exc:
        raise Refused(kind.invalid, str(exc)) from exc
    except CollateralFormatError as exc:
        raise Refused(kind.unsupported_format, str(exc)) from exc


def _read_crls(
    collateral: Collateral, memo: PkiMemo, issuer_chains: tuple[CertificateChain, ...] | Refused
) -> _CheckedCrls:
    """Both CRLs read, with their dates and those of the PCK CRL issuer chain (when it could be read)."""
    root_ca_crl = parse_crl(collateral.root_ca_crl, "root CA CRL", memo)
    pck_crl = parse_crl(collateral.pck_crl, "PCK CRL", memo)
    crls = (root_ca_crl, pck_crl)
    chains = () if isinstance(issuer_chains, Refused) else issuer_chains[2:]
    dates = _Dates.of(chains, [c.this_update for c in crls], [c.next_update for c in crls])
    return _CheckedCrls(root_ca_crl, pck_crl, dates)


_MIN_QUOTE_SIZE = 1020  # Intel's QUOTE_MIN_SIZE


def _refused_as_parameter(raw: bytes) -> bool:
    """Whether Intel's API refuses the quote bytes as a bad parameter before parsing them (tee_verify_evidence):
    fewer than QUOTE_MIN_SIZE bytes, or a TEE type (bytes 4-8) neither SGX (0) nor TDX (0x81)."""
    return len(raw) < _MIN_QUOTE_SIZE or int.from_bytes(raw[4:8], "little") not in (0x00, 0x81)


def _cached_bytes(value: object) -> int:
    """What a value of the verifier's cache costs in memory: a bundle's estimate, else a platform's."""
    return value.nbytes if isinstance(value, _CheckedBundle) else PLATFORM_BYTES


def _collateral_bytes(collateral: Collateral) -> int:
    """An estimate of what a checked bundle costs in memory once parsed: a few times its size."""
    parts = (collateral.pck_crl, collateral.root_ca_crl, collateral.tcb_info.body, collateral.qe_identity.body)
    return 16384 + 8 * sum(len(p) for p in parts)


def _binding(quote: Quote) -> bytes:
    """What the QE report's REPORTDATA must begin with: SHA-256(attestation key || QE authentication data)."""
    return hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()


def _platform_digest(quote: Quote, pem: bytes) -> bytes:
    """SHA-256 over everything in a quote that belongs to its platform rather than to this one quote: the
    attestation key, the QE report, its signature, the QE authentication data and the PCK chain (lengths
    included, so that no two different sets of fields give the same bytes)."""
    auth = quote.qe_auth_data
    parts = (quote.attestation_key, quote.qe_report.raw, quote.qe_report_signature, len(auth).to_bytes(2), auth, pem)
    return hashlib.sha256(b"".join(parts)).digest()


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
            raise Refused(
                Failure.TDX_MODULE_MISMATCH,
                f"the TCB info has no TDX module identity TDX_{td.tee_tcb_svn[1]:02X}",
            )
        expected_signer = identity.mr_signer
        expected_attributes = identity.attributes
    if td.mr_signer_seam != expected_signer:
        raise Refused(
            Failure.TDX_MODULE_MISMATCH,
            f"MRSIGNERSEAM {td.mr_signer_seam.hex()} is not the TDX module signer {expected_signer.hex()}",
        )
    # Intel ignores the attributes mask: both must be all zero.
    if any(td.seam_attributes) or any(expected_attributes):
        raise Refused(Failure.TDX_MODULE_MISMATCH, "SEAMATTRIBUTES must be zero, as must the module's")


def _check_qe_identity(report: EnclaveReport, tdx: bool, identity: EnclaveIdentity) -> None:
    """The QE report (of a TDX quote's QE, if ``tdx``) against the QE identity."""
    if tdx and identity.id != "TD_QE":
        raise Refused(Failure.QE_IDENTITY_MISMATCH, f"a TDX quote needs the TD_QE identity, not {identity.id}")
    if not tdx and identity.id != "QE":
        raise Refused(Failure.QE_IDENTITY_MISMATCH, f"an SGX quote needs the QE identity, not {identity.id}")
    if report.misc_select & identity.miscselect_mask != identity.miscselect:
        raise Refused(Failure.QE_IDENTITY_MISMATCH, "the QE's MISCSELECT does not match its identity")
    masked = int.from_bytes(report.attributes, "big") & int.from_bytes(identity.attributes_mask, "big")
    if masked != int.from_bytes(identity.attributes, "big"):
        raise Refused(Failure.QE_IDENTITY_MISMATCH, "the QE's ATTRIBUTES do not match its identity")
    if report.mr_signer != identity.mr_signer:
        raise Refused(Failure.QE_IDENTITY_MISMATCH, "the QE's MRSIGNER is not Intel's")
    if report.isv_prod_id != identity.isv_prod_id:
        raise Refused(
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
