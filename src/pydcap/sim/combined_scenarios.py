"""Scenarios with two defects, and which one Intel's verification API names: the one its code meets first.

The expected answers are read from Intel's code (qve.cpp ``sgx_qve_verify_quote``): a pre-flight parses the TCB
info, then the PCK chain (and pins the chain root's key), then the QE identity, the issuer chains and the CRLs,
each step failing with its own ``quote3_error_t``; only then come the QVL's four checks (PCK chain, TCB info,
QE identity, quote). So an unreadable TCB info is named before any PCK chain defect, an unreadable QE identity
before a PCK or TCB info defect, and a chain root of another key before any other defect of that chain.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydcap.intel import Failure, Quote3Error
from pydcap.sim import catalog as cat
from pydcap.sim.defects import CollateralDefect, QuoteDefect, Revocation
from pydcap.sim.scenario_model import Expectation, Scenario, fails

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


# Where Intel's API meets the defect of each single-defect scenario, in its order (qve.cpp, then the QVL's four
# checks): of two defects in different stages, the one of the earlier stage is named. Defects of one stage are
# ordered by the QVL's own checks, which the single scenarios already test.
INTEL_STAGES: tuple[tuple[str, ...], ...] = (
    ("malformed-quote", "encrypted-ppid-certification"),  # the quote, its certification data
    ("tcb-info-unsupported-version", "tcb-info-unsupported-format", "tcb-info-duplicate-levels"),  # TCB info read
    (  # PCK chain read: three certificates with their extensions, readable PCK certificates, a root
        "pck-chain-truncated",
        "pck-chain-without-root",
        "pck-without-sgx-extension",
        "pck-without-basic-constraints",
        "intermediate-without-subject-key-identifier",
        "root-without-authority-key-identifier",
    ),
    ("wrong-root",),  # the chain root's key
    (  # QE identity read
        "qe-identity-without-mrsigner",
        "qe-identity-level-unsupported-format",
        "qe-identity-invalid",
        "qe-identity-unsupported-version",
    ),
    ("qe-identity-chain-root-without-crl-distribution-points",),  # QE identity issuer chain read
    ("tcb-signing-cert-without-key-usage",),  # TCB info issuer chain read
    ("pck-crl-without-extensions", "pck-crl-unreadable"),  # CRLs read
    (  # QVL: PCK chain and CRLs
        "pck-chain-without-intermediate",
        "pck-chain-without-pck",
        "forged-root",
        "forged-intermediate",
        "pck-issuer-mismatch",
        "pck-crl-wrong-issuer",
        "pck-crl-without-aki",
        "pck-crl-bad-signature",
        "revoked-pck",
        "revoked-intermediate",
    ),
    (  # QVL: TCB info
        "tcb-info-bad-signature",
        "tcb-info-chain-without-signer",
        "tcb-signing-cert-forged",
        "revoked-tcb-signing-cert",
    ),
    ("qe-identity-bad-signature",),  # QVL: QE identity
    (  # QVL: the quote
        "tcb-info-wrong-fmspc",
        "tcb-info-wrong-pce-id",
        "tcb-info-wrong-tee",
        "tdx-module-signer-mismatch",
        "tdx-seam-attributes-set",
        "tdx-module-identity-missing",
        "bad-qe-report-signature",
        "broken-report-data-binding",
        "qe-identity-wrong-enclave",
        "qe-identity-mismatch",
        "bad-quote-signature",
    ),
    ("tcb-revoked", "tcb-not-supported", "qe-revoked", "qe-not-supported", "module-revoked", "module-not-supported"),
)
# Defects that are no failure (expiry is a flag): paired with a failing one, that one is named.
NOT_FAILING: tuple[str, ...] = (
    "expired-tcb-info",
    "expired-qe-identity",
    "expired-pck-crl",
    "pck-crl-not-yet-valid",
    "expired-root-ca-crl",
    "expired-tcb-signing-cert",
    "expired-pck-certificate",
)
_STAGE = {name: stage for stage, names in enumerate(INTEL_STAGES) for name in names}

# What each defect replaces: two defects replacing the same part do not combine.
_PCK_CHAIN = frozenset({"pck-chain"})
DEFECT_PARTS: dict[QuoteDefect | CollateralDefect, frozenset[str]] = {
    **{d: _PCK_CHAIN for d in _Q if d.value.startswith(("chain-", "forged-", "pck-", "intermediate-", "root-"))},
    _Q.EXPIRED_PCK_CERTIFICATE: _PCK_CHAIN,
    _Q.QE_REPORT_SIGNED_BY_WRONG_KEY: frozenset({"qe-report-signature"}),
    _Q.QE_REPORT_DATA_UNBOUND: frozenset({"qe-report"}),
    _Q.QUOTE_SIGNED_BY_WRONG_KEY: frozenset({"quote-signature"}),
    _Q.ENCRYPTED_PPID_CERTIFICATION: frozenset({"certification-data"}),
    _Q.FOREIGN_QE_VENDOR: frozenset({"header"}),
    **{d: frozenset({"pck-crl"}) for d in _C if d.value.startswith("pck-crl-")},
    _C.PCK_CRL_FROM_OTHER_CA: frozenset({"pck-crl", "pck-crl-chain"}),
    _C.ROOT_CA_CRL_EXPIRED: frozenset({"root-ca-crl"}),
    **{d: frozenset({"tcb-info"}) for d in _C if d.value.startswith("tcb-info-")},
    _C.TCB_INFO_CHAIN_WITHOUT_SIGNER: frozenset({"tcb-info-chain"}),
    _C.TCB_SIGNING_CERT_FORGED: frozenset({"tcb-info-chain"}),
    _C.TCB_SIGNING_CERT_RETIRED: frozenset({"tcb-info", "tcb-info-chain"}),
    _C.TCB_SIGNING_CERT_EXPIRED: frozenset({"tcb-info-chain", "qe-identity-chain"}),
    _C.TCB_SIGNING_CERT_WITHOUT_KEY_USAGE: frozenset({"tcb-info-chain"}),
    _C.QE_IDENTITY_CHAIN_ROOT_WITHOUT_CRL_DISTRIBUTION_POINTS: frozenset({"qe-identity-chain"}),
    **{d: frozenset({"qe-identity"}) for d in _C if d.value.startswith("qe-identity-") and "chain" not in d.value},
}
_REVOKES: dict[Revocation, frozenset[str]] = {
    Revocation.PCK: frozenset({"pck-crl"}),
    Revocation.INTERMEDIATE_CA: frozenset({"pck-chain", "pck-crl", "root-ca-crl"}),
    Revocation.TCB_SIGNING_CERT: frozenset({"root-ca-crl", "tcb-info", "tcb-info-chain"}),
}


def _touches(scenario: Scenario) -> frozenset[str]:
    parts: set[str] = {"root"} if scenario.impostor else set()
    for defect in scenario.quote_defects | scenario.collateral_defects:
        parts |= DEFECT_PARTS[defect]
    for revocation in scenario.revocations:
        parts |= _REVOKES[revocation]
    parts |= {f"setting {key}" for key in (*scenario.settings, *scenario.tdx_settings)}
    parts |= {kind for kind in ("platform", "qe", "module") if getattr(scenario, kind) != cat.UP_TO_DATE}
    return frozenset(parts)


def _rank(scenario: Scenario) -> int:
    if scenario.name in NOT_FAILING:
        return len(INTEL_STAGES)
    return _STAGE[scenario.name]  # KeyError: a scenario whose place in Intel's order is not stated


def pair(first: Scenario, second: Scenario) -> Scenario | None:
    """Both scenarios' defects on one platform, with the answer Intel's order gives (the failure of the earlier
    stage); None when they do not combine (no common TEE, the same stage, a part both replace)."""
    tees = tuple(t for t in first.tees if t in second.tees)
    if not tees or _touches(first) & _touches(second) or _rank(first) == _rank(second):
        return None
    named = first if _rank(first) < _rank(second) else second

    def level(kind: str) -> str:
        return next(
            (str(getattr(s, kind)) for s in (first, second) if getattr(s, kind) != cat.UP_TO_DATE), cat.UP_TO_DATE
        )

    return Scenario(
        f"{first.name}+{second.name}",
        f"{named.name} is met first",
        Expectation(tcb_status=None, failure=named.expected.failure, quote3_error=named.expected.quote3_error),
        tees=tees,
        platform=level("platform"),
        qe=level("qe"),
        module=level("module"),
        settings={**first.settings, **second.settings},
        tdx_settings={**first.tdx_settings, **second.tdx_settings},
        quote_defects=first.quote_defects | second.quote_defects,
        collateral_defects=first.collateral_defects | second.collateral_defects,
        revocations=first.revocations | second.revocations,
        impostor=first.impostor or second.impostor,
    )
