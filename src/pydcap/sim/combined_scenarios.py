"""Scenarios with two defects, and which one Intel's verification API names: the one its code meets first.

The expected answers are read from Intel's code (qve.cpp ``sgx_qve_verify_quote``): a pre-flight parses the TCB
info, then the PCK chain (and pins the chain root's key), then the QE identity, the issuer chains and the CRLs,
each step failing with its own ``quote3_error_t``; only then come the QVL's four checks (PCK chain, TCB info,
QE identity, quote). So an unreadable TCB info is named before any PCK chain defect, an unreadable QE identity
before a PCK or TCB info defect, and a chain root of another key before any other defect of that chain.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydcap.sim.defects import CollateralDefect, QuoteDefect, Revocation
from pydcap.sim.scenario_model import Scenario, fails
from pydcap.verify.names import Failure
from pydcap.verify.quote3 import Quote3Error

_Q = QuoteDefect
_C = CollateralDefect
_E = Quote3Error
_F = Failure


def combined_scenarios() -> Iterator[Scenario]:
    # TCB info unreadable + a PCK defect: Intel parses the TCB info first.
    yield Scenario(
        "tcb-info-unreadable-and-pck-revoked",
        "the TCB info is parsed before the PCK chain is read",
        fails(_F.SGX_TCB_INFO_UNSUPPORTED_FORMAT, _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT),
        collateral_defects=frozenset({_C.TCB_INFO_MISSING_FIELD}),
        revocations=frozenset({Revocation.PCK}),
    )
    yield Scenario(
        "tcb-info-invalid-and-pck-chain-truncated",
        "the TCB info is parsed before the PCK chain",
        fails(_F.SGX_TCB_INFO_INVALID, _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT),
        quote_defects=frozenset({_Q.CHAIN_TRUNCATED}),
        collateral_defects=frozenset({_C.TCB_INFO_DUPLICATE_LEVELS}),
    )
    yield Scenario(
        "tcb-info-unsupported-version-and-wrong-root",
        "the TCB info is parsed before the chain root's key is compared",
        fails(_F.SGX_TCB_INFO_INVALID, _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT),
        collateral_defects=frozenset({_C.TCB_INFO_UNSUPPORTED_VERSION}),
        impostor=True,
    )
    # QE identity unreadable + a PCK or TCB info defect: the QE identity is parsed before the four checks.
    yield Scenario(
        "qe-identity-unreadable-and-pck-revoked",
        "the QE identity is parsed before the PCK chain is checked",
        fails(_F.SGX_ENCLAVE_IDENTITY_INVALID, _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT),
        collateral_defects=frozenset({_C.QE_IDENTITY_MISSING_FIELD}),
        revocations=frozenset({Revocation.PCK}),
    )
    yield Scenario(
        "qe-identity-invalid-and-pck-issuer-mismatch",
        "the QE identity is parsed before the PCK certificate's issuer is checked",
        fails(_F.SGX_ENCLAVE_IDENTITY_INVALID, _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT),
        quote_defects=frozenset({_Q.CHAIN_WITH_OTHER_CA}),
        collateral_defects=frozenset({_C.QE_IDENTITY_INVALID_STATUS}),
    )
    yield Scenario(
        "qe-identity-version-3-and-tcb-info-forged",
        "the QE identity is parsed before the TCB info's signature is checked",
        fails(_F.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_VERSION, _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT),
        collateral_defects=frozenset({_C.QE_IDENTITY_VERSION_3, _C.TCB_INFO_FORGED}),
    )
    yield Scenario(
        "qe-identity-unreadable-and-tcb-signing-cert-revoked",
        "the QE identity is parsed before the TCB info's signing chain is checked",
        fails(_F.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_FORMAT, _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT),
        collateral_defects=frozenset({_C.QE_IDENTITY_LEVEL_MISSING_FIELD, _C.TCB_SIGNING_CERT_RETIRED}),
        revocations=frozenset({Revocation.TCB_SIGNING_CERT}),
    )
    # The chain's root of another key + another PCK defect: the key is compared before the chain is checked.
    yield Scenario(
        "wrong-root-and-pck-issuer-mismatch",
        "the chain root's key is compared before the PCK certificate's issuer",
        fails(_F.SGX_PCK_CERT_CHAIN_UNTRUSTED, _E.SGX_QL_PCK_CERT_CHAIN_ERROR),
        quote_defects=frozenset({_Q.CHAIN_WITH_OTHER_CA}),
        impostor=True,
    )
    yield Scenario(
        "wrong-root-and-intermediate-missing",
        "the chain root's key is compared before the chain is searched for its CA",
        fails(_F.SGX_PCK_CERT_CHAIN_UNTRUSTED, _E.SGX_QL_PCK_CERT_CHAIN_ERROR),
        quote_defects=frozenset({_Q.CHAIN_WITHOUT_INTERMEDIATE}),
        impostor=True,
    )
    yield Scenario(
        "wrong-root-and-pck-crl-without-aki",
        "the chain root's key is compared before the CRLs are checked",
        fails(_F.SGX_PCK_CERT_CHAIN_UNTRUSTED, _E.SGX_QL_PCK_CERT_CHAIN_ERROR),
        collateral_defects=frozenset({_C.PCK_CRL_WITHOUT_AKI}),
        impostor=True,
    )
    # Within the pre-flight: the PCK chain's own parse first, the issuer chains in Intel's order, CRLs last.
    yield Scenario(
        "pck-without-sgx-extension-and-wrong-root",
        "the PCK chain parse (which reads every PCK certificate) comes before the root key comparison",
        fails(_F.SGX_PCK_INVALID_EXTENSIONS, _E.SGX_QL_PCK_CERT_CHAIN_ERROR),
        quote_defects=frozenset({_Q.PCK_WITHOUT_SGX_EXTENSION}),
        impostor=True,
    )
    yield Scenario(
        "tcb-info-chain-unreadable-and-pck-revoked",
        "the issuer chains are parsed before the PCK chain is checked",
        fails(_F.SGX_ROOT_CA_INVALID_EXTENSIONS, _E.SGX_QL_PCK_CERT_CHAIN_ERROR),
        collateral_defects=frozenset({_C.TCB_SIGNING_CERT_WITHOUT_KEY_USAGE}),
        revocations=frozenset({Revocation.PCK}),
    )
    yield Scenario(
        "qe-identity-chain-and-tcb-info-chain-unreadable",
        "the QE identity's issuer chain is parsed before the TCB info's",
        fails(_F.SGX_TCB_SIGNING_CERT_INVALID_EXTENSIONS, _E.SGX_QL_PCK_CERT_CHAIN_ERROR),
        collateral_defects=frozenset(
            {_C.QE_IDENTITY_CHAIN_ROOT_WITHOUT_CRL_DISTRIBUTION_POINTS, _C.TCB_SIGNING_CERT_WITHOUT_KEY_USAGE}
        ),
    )
    yield Scenario(
        "pck-crl-unreadable-and-pck-issuer-mismatch",
        "the CRLs are parsed before the PCK chain is checked",
        fails(_F.SGX_CRL_UNSUPPORTED_FORMAT, _E.SGX_QL_CRL_UNSUPPORTED_FORMAT),
        quote_defects=frozenset({_Q.CHAIN_WITH_OTHER_CA}),
        collateral_defects=frozenset({_C.PCK_CRL_UNREADABLE}),
    )
    # After the pre-flight, the four checks in order; expiry is only a flag.
    yield Scenario(
        "pck-revoked-and-tcb-info-forged",
        "the PCK chain is checked before the TCB info",
        fails(_F.SGX_PCK_REVOKED, _E.SGX_QL_PCK_REVOKED),
        collateral_defects=frozenset({_C.TCB_INFO_FORGED}),
        revocations=frozenset({Revocation.PCK}),
    )
    yield Scenario(
        "tcb-info-forged-and-qe-identity-forged",
        "the TCB info is checked before the QE identity",
        fails(_F.TCB_INFO_INVALID_SIGNATURE, _E.SGX_QL_TCBINFO_CHAIN_ERROR),
        collateral_defects=frozenset({_C.TCB_INFO_FORGED, _C.QE_IDENTITY_FORGED}),
    )
    yield Scenario(
        "expired-pck-crl-and-qe-identity-forged",
        "an expired CRL only sets the expiration flag; the QE identity's signature is the failure",
        fails(_F.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE, _E.SGX_QL_QEIDENTITY_CHAIN_ERROR),
        collateral_defects=frozenset({_C.PCK_CRL_EXPIRED, _C.QE_IDENTITY_FORGED}),
    )
