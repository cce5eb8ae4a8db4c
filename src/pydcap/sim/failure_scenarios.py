"""Scenarios in which something is wrong: revoked or broken certificate chains and CRLs, defective TCB info and
QE identity documents, tampered quotes, and expired collateral (which is a flag, not a failure).

Most are an up-to-date platform with one defect; the tables below name each and the failure it must give.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pydcap.intel import Failure, Quote3Error
from pydcap.sim import catalog as cat
from pydcap.sim.defects import CollateralDefect, QuoteDefect, Revocation
from pydcap.sim.scenario_model import SGX, Scenario, defective, fails, status

_Q = QuoteDefect
_C = CollateralDefect
_E = Quote3Error
_Case = tuple[str, str, Failure, Quote3Error, QuoteDefect | CollateralDefect]

_PKI_CASES: tuple[_Case, ...] = (
    (
        "pck-chain-truncated",
        "the PCK chain lacks the root",
        Failure.UNSUPPORTED_CERT_FORMAT,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _Q.CHAIN_TRUNCATED,
    ),
    (
        "pck-chain-without-root",
        "the PCK chain repeats the intermediate instead of the root",
        Failure.SGX_ROOT_CA_MISSING,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _Q.CHAIN_WITHOUT_ROOT,
    ),
    (
        "pck-chain-without-intermediate",
        "the PCK chain has the TCB Signing cert instead of a PCK CA",
        Failure.SGX_INTERMEDIATE_CA_MISSING,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _Q.CHAIN_WITHOUT_INTERMEDIATE,
    ),
    (
        "pck-chain-without-pck",
        "the PCK chain has the TCB Signing cert instead of the PCK certificate",
        Failure.SGX_PCK_MISSING,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _Q.CHAIN_WITHOUT_PCK,
    ),
    (
        "pck-without-sgx-extension",
        "the PCK certificate lacks the SGX extension",
        Failure.SGX_PCK_INVALID_EXTENSIONS,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _Q.PCK_WITHOUT_SGX_EXTENSION,
    ),
    (
        "pck-without-basic-constraints",
        "the PCK certificate lacks basic constraints; Intel takes a chain's first certificate for the root",
        Failure.SGX_ROOT_CA_INVALID_EXTENSIONS,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _Q.PCK_WITHOUT_BASIC_CONSTRAINTS,
    ),
    (
        "intermediate-without-subject-key-identifier",
        "the PCK CA certificate lacks its subject key identifier",
        Failure.SGX_INTERMEDIATE_CA_INVALID_EXTENSIONS,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _Q.INTERMEDIATE_WITHOUT_SUBJECT_KEY_IDENTIFIER,
    ),
    (
        "root-without-authority-key-identifier",
        "the PCK chain's root lacks its authority key identifier; Intel takes a third certificate for the PCK",
        Failure.SGX_PCK_INVALID_EXTENSIONS,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _Q.ROOT_WITHOUT_AUTHORITY_KEY_IDENTIFIER,
    ),
    (
        "forged-root",
        "the chain's root has Intel's name and key but is not self-signed",
        Failure.SGX_ROOT_CA_INVALID_ISSUER,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _Q.FORGED_ROOT,
    ),
    (
        "forged-intermediate",
        "the chain's PCK CA certificate is not signed by the root",
        Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _Q.FORGED_INTERMEDIATE,
    ),
    (
        "pck-issuer-mismatch",
        "the chain carries the other PCK CA than the one that issued the PCK",
        Failure.SGX_PCK_INVALID_ISSUER,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _Q.CHAIN_WITH_OTHER_CA,
    ),
    (
        "pck-crl-wrong-issuer",
        "the PCK CRL of the other PCK CA",
        Failure.SGX_CRL_UNKNOWN_ISSUER,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _C.PCK_CRL_FROM_OTHER_CA,
    ),
    (
        "pck-crl-without-extensions",
        "a PCK CRL without CRL number and AKI (Intel's CRL parser needs the number)",
        Failure.SGX_CRL_UNSUPPORTED_FORMAT,
        _E.SGX_QL_CRL_UNSUPPORTED_FORMAT,
        _C.PCK_CRL_WITHOUT_EXTENSIONS,
    ),
    (
        "pck-crl-without-aki",
        "a PCK CRL with its CRL number but without AKI",
        Failure.SGX_CRL_INVALID_EXTENSIONS,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _C.PCK_CRL_WITHOUT_AKI,
    ),
    (
        "pck-crl-bad-signature",
        "a PCK CRL not signed by its CA",
        Failure.SGX_CRL_INVALID_SIGNATURE,
        _E.SGX_QL_RESULT_INVALID_SIGNATURE,
        _C.PCK_CRL_FORGED,
    ),
    (
        "pck-crl-unreadable",
        "PCK CRL bytes that are not a CRL",
        Failure.SGX_CRL_UNSUPPORTED_FORMAT,
        _E.SGX_QL_CRL_UNSUPPORTED_FORMAT,
        _C.PCK_CRL_UNREADABLE,
    ),
)

_DOCUMENT_CASES: tuple[_Case, ...] = (
    (
        "tcb-info-unsupported-version",
        "a TCB info of version 4",
        Failure.SGX_TCB_INFO_INVALID,
        _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT,
        _C.TCB_INFO_UNSUPPORTED_VERSION,
    ),
    (
        "tcb-info-unsupported-format",
        "a TCB info without its pceId",
        Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT,
        _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT,
        _C.TCB_INFO_MISSING_FIELD,
    ),
    (
        "tcb-info-duplicate-levels",
        "a TCB info listing one level twice",
        Failure.SGX_TCB_INFO_INVALID,
        _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT,
        _C.TCB_INFO_DUPLICATE_LEVELS,
    ),
    (
        "tcb-info-bad-signature",
        "a TCB info signed by another key",
        Failure.TCB_INFO_INVALID_SIGNATURE,
        _E.SGX_QL_TCBINFO_CHAIN_ERROR,
        _C.TCB_INFO_FORGED,
    ),
    (
        "tcb-info-chain-without-signer",
        "a TCB info issuer chain without the TCB Signing certificate",
        Failure.SGX_TCB_SIGNING_CERT_MISSING,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _C.TCB_INFO_CHAIN_WITHOUT_SIGNER,
    ),
    (
        "tcb-signing-cert-forged",
        "a TCB Signing certificate not signed by the root",
        Failure.SGX_TCB_SIGNING_CERT_INVALID_ISSUER,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _C.TCB_SIGNING_CERT_FORGED,
    ),
    (
        "tcb-signing-cert-without-key-usage",
        "the TCB info's TCB Signing certificate lacks key usage; Intel takes a chain's first certificate for the root",
        Failure.SGX_ROOT_CA_INVALID_EXTENSIONS,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _C.TCB_SIGNING_CERT_WITHOUT_KEY_USAGE,
    ),
    (
        "qe-identity-chain-root-without-crl-distribution-points",
        "the QE identity chain's root lacks CRL distribution points; Intel takes the second of two for the signer",
        Failure.SGX_TCB_SIGNING_CERT_INVALID_EXTENSIONS,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _C.QE_IDENTITY_CHAIN_ROOT_WITHOUT_CRL_DISTRIBUTION_POINTS,
    ),
    (
        "tcb-info-wrong-fmspc",
        "the TCB info of another FMSPC",
        Failure.TCB_INFO_MISMATCH,
        _E.SGX_QL_TCBINFO_MISMATCH,
        _C.TCB_INFO_OTHER_FMSPC,
    ),
    (
        "tcb-info-wrong-pce-id",
        "a TCB info for another PCE-ID",
        Failure.TCB_INFO_MISMATCH,
        _E.SGX_QL_TCBINFO_MISMATCH,
        _C.TCB_INFO_OTHER_PCE_ID,
    ),
    (
        "tcb-info-wrong-tee",
        "the TCB info of the other TEE (SGX for TDX, TDX for SGX)",
        Failure.TCB_INFO_MISMATCH,
        _E.SGX_QL_TCBINFO_MISMATCH,
        _C.TCB_INFO_OTHER_TEE,
    ),
    (
        "qe-identity-without-mrsigner",
        "a QE identity without its mrsigner",
        Failure.SGX_ENCLAVE_IDENTITY_INVALID,
        _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT,
        _C.QE_IDENTITY_MISSING_FIELD,
    ),
    (
        "qe-identity-level-unsupported-format",
        "a QE identity whose levels lack their tcbDate",
        Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_FORMAT,
        _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT,
        _C.QE_IDENTITY_LEVEL_MISSING_FIELD,
    ),
    (
        "qe-identity-invalid",
        "a QE identity with a ConfigurationNeeded level",
        Failure.SGX_ENCLAVE_IDENTITY_INVALID,
        _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT,
        _C.QE_IDENTITY_INVALID_STATUS,
    ),
    (
        "qe-identity-unsupported-version",
        "a QE identity of version 3",
        Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_VERSION,
        _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT,
        _C.QE_IDENTITY_VERSION_3,
    ),
    (
        "qe-identity-bad-signature",
        "a QE identity signed by another key",
        Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE,
        _E.SGX_QL_QEIDENTITY_CHAIN_ERROR,
        _C.QE_IDENTITY_FORGED,
    ),
    (
        "qe-identity-wrong-enclave",
        "the identity of the other quoting enclave (TD_QE for SGX, QE for TDX)",
        Failure.QE_IDENTITY_MISMATCH,
        _E.SGX_QL_QEIDENTITY_MISMATCH,
        _C.QE_IDENTITY_OTHER_ENCLAVE,
    ),
)

_QUOTE_CASES: tuple[_Case, ...] = (
    (
        "bad-qe-report-signature",
        "the QE report is not signed by the PCK key",
        Failure.INVALID_QE_REPORT_SIGNATURE,
        _E.SGX_QL_QE_REPORT_INVALID_SIGNATURE,
        _Q.QE_REPORT_SIGNED_BY_WRONG_KEY,
    ),
    (
        "broken-report-data-binding",
        "the QE report data does not hash the attestation key",
        Failure.INVALID_QE_REPORT_DATA,
        _E.SGX_QL_ERROR_UNEXPECTED,
        _Q.QE_REPORT_DATA_UNBOUND,
    ),
    (
        "bad-quote-signature",
        "the quote is not signed by the attestation key",
        Failure.INVALID_QUOTE_SIGNATURE,
        _E.SGX_QL_RESULT_INVALID_SIGNATURE,
        _Q.QUOTE_SIGNED_BY_WRONG_KEY,
    ),
    (
        "encrypted-ppid-certification",
        "certification data type 3 (encrypted PPID) instead of a PCK chain: so with collateral alone; through "
        "a PCCS, PCS or Azure (or with pck_cert.pem) it verifies",
        Failure.UNSUPPORTED_QE_CERTIFICATION_DATA_TYPE,
        _E.SGX_QL_QUOTE_CERTIFICATION_DATA_UNSUPPORTED,
        _Q.ENCRYPTED_PPID_CERTIFICATION,
    ),
    (
        "malformed-quote",
        "a quote whose QE vendor ID is not Intel's",
        Failure.UNSUPPORTED_QUOTE_FORMAT,
        _E.SGX_QL_QUOTE_FORMAT_UNSUPPORTED,
        _Q.FOREIGN_QE_VENDOR,
    ),
)

_EXPIRY_CASES: tuple[tuple[str, str, QuoteDefect | CollateralDefect], ...] = (
    ("expired-tcb-info", "the TCB info's nextUpdate has passed", _C.TCB_INFO_EXPIRED),
    ("expired-qe-identity", "the QE identity's nextUpdate has passed", _C.QE_IDENTITY_EXPIRED),
    ("expired-pck-crl", "the PCK CRL's nextUpdate has passed", _C.PCK_CRL_EXPIRED),
    ("pck-crl-not-yet-valid", "the PCK CRL's thisUpdate is in the future", _C.PCK_CRL_NOT_YET_VALID),
    ("expired-root-ca-crl", "the root CA CRL's nextUpdate has passed", _C.ROOT_CA_CRL_EXPIRED),
    (
        "expired-tcb-signing-cert",
        "the TCB Signing certificate in the issuer chains has expired",
        _C.TCB_SIGNING_CERT_EXPIRED,
    ),
    ("expired-pck-certificate", "the platform's PCK certificate has expired", _Q.EXPIRED_PCK_CERTIFICATE),
)


def _failing(cases: Iterable[_Case]) -> Iterator[Scenario]:
    for name, summary, failure, quote3_error, defect in cases:
        yield defective(name, summary, fails(failure, quote3_error), defect)


def pki_scenarios() -> Iterator[Scenario]:
    yield Scenario(
        "revoked-pck",
        "the platform's PCK certificate is on the PCK CRL",
        fails(Failure.SGX_PCK_REVOKED, _E.SGX_QL_PCK_REVOKED),
        revocations=frozenset({Revocation.PCK}),
    )
    yield Scenario(
        "revoked-intermediate",
        "the PCK CA that issued the platform is on the root CA CRL",
        fails(Failure.SGX_INTERMEDIATE_CA_REVOKED, _E.SGX_QL_PCK_REVOKED),
        revocations=frozenset({Revocation.INTERMEDIATE_CA}),
    )
    yield Scenario(
        "revoked-tcb-signing-cert",
        "the TCB info is signed by a TCB Signing certificate on the root CA CRL",
        fails(Failure.SGX_TCB_SIGNING_CERT_REVOKED, _E.SGX_QL_PCK_REVOKED),
        revocations=frozenset({Revocation.TCB_SIGNING_CERT}),
        collateral_defects=frozenset({_C.TCB_SIGNING_CERT_RETIRED}),
    )
    yield Scenario(
        "wrong-root",
        "a platform and collateral of another Intel root: untrusted",
        fails(Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED, _E.SGX_QL_PCK_CERT_CHAIN_ERROR),
        impostor=True,
    )
    yield from _failing(_PKI_CASES)


def document_scenarios() -> Iterator[Scenario]:
    yield defective(
        "tcb-info-v2",
        "a version 2 TCB info, as PCS API v3 serves it",
        status(cat.UP_TO_DATE),
        _C.TCB_INFO_VERSION_2,
        tees=SGX,
    )
    yield from _failing(_DOCUMENT_CASES)
    yield Scenario(
        "qe-identity-mismatch",
        "the quoting enclave's MRSIGNER is not Intel's",
        fails(Failure.QE_IDENTITY_MISMATCH, _E.SGX_QL_QEIDENTITY_MISMATCH),
        settings={"qe_mr_signer": bytes(32)},
    )


def quote_scenarios() -> Iterator[Scenario]:
    yield from _failing(_QUOTE_CASES)


def expiry_scenarios() -> Iterator[Scenario]:
    expired = status(cat.UP_TO_DATE, expired=True)
    for name, summary, defect in _EXPIRY_CASES:
        yield defective(name, summary, expired, defect)
