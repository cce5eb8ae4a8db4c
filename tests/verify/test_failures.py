"""One test per named verification failure the simulated Intel can produce, each named after the failure.

Every scenario whose expected verdict is that failure runs on every TEE it applies to. The *_EXPIRED names,
which pydcap reports as the ``collateral_expired`` flag (as Intel's verification enclave does), are tested
as that flag. The last tests check that every ``Failure`` is either tested here or explained.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
import re
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import pydcap.verify
from pydcap import Policy, Verifier
from pydcap.collateral import SignedDocument
from pydcap.pki.certs import split_pem_chain
from pydcap.sim import REFERENCE_TIME, SCENARIOS, SimulatedIntel
from pydcap.sim.keys import sign_raw
from pydcap.verify import Failure, QvResult, TcbStatus, VerificationResult

AT = int(REFERENCE_TIME.timestamp()) + 3600

# Failures the simulated Intel cannot make the verifier return, and why.
NOT_PRODUCIBLE = {
    Failure.SGX_TCB_SIGNING_CERT_CHAIN_UNTRUSTED: (
        "the root CA CRL is checked against the signing chain's root before the trust check, and the same CRL "
        "has already verified under the PCK chain's trusted root; roots are pinned by key, so a signing-chain "
        "root that verifies the CRL is the trusted one (Intel compares certificate signatures instead)"
    ),
}
# pydcap reports these as collateral_expired beside the status, never as a failure.
EXPIRY = {
    Failure.SGX_TCB_INFO_EXPIRED: ("expired-tcb-info",),
    Failure.SGX_ENCLAVE_IDENTITY_EXPIRED: ("expired-qe-identity",),
    Failure.SGX_CRL_EXPIRED: ("expired-pck-crl", "expired-root-ca-crl", "pck-crl-not-yet-valid"),
    Failure.SGX_PCK_CERT_CHAIN_EXPIRED: ("expired-pck-certificate",),
    Failure.SGX_SIGNING_CERT_CHAIN_EXPIRED: ("expired-tcb-signing-cert",),
}


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=13, now=REFERENCE_TIME)


def _verify(intel: SimulatedIntel, scenario: str, tee: str) -> VerificationResult:
    platform = intel.tdx_platform(scenario=scenario) if tee == "tdx" else intel.sgx_platform(scenario=scenario)
    verifier = Verifier(trusted_root=intel.trust_root, policy=Policy())
    return verifier.verify(platform.quote(b"failure"), intel.collateral_for(platform), at=AT)


def fails_with(intel: SimulatedIntel, failure: Failure) -> None:
    """Every scenario expecting ``failure`` gets it, on each of its TEEs, and the quote is not accepted."""
    scenarios = [s for s in SCENARIOS.values() if s.expected.failure == failure]
    assert scenarios, f"no scenario produces {failure}"
    for scenario in scenarios:
        for tee in scenario.tees:
            result = _verify(intel, scenario.name, tee)
            assert result.failure == failure, f"{scenario.name} ({tee}): {result.failure} {result.detail}"
            assert result.tcb_status is None and not result.accepted
            assert (result.quote3_error, result.qv_result) == (scenario.expected.quote3_error, QvResult.UNSPECIFIED)
            assert any(failure.value in reason for reason in result.reasons)


def flags_expired(intel: SimulatedIntel, name: Failure) -> None:
    """The status stands, the expiry flag is set and the default policy rejects the quote for it."""
    for scenario in EXPIRY[name]:
        for tee in SCENARIOS[scenario].tees:
            result = _verify(intel, scenario, tee)
            assert result.failure is None and result.tcb_status == TcbStatus.UP_TO_DATE, (scenario, tee)
            assert result.collateral_expired and not result.accepted
            assert any("expired" in reason for reason in result.reasons)


# ---- certificate chains and CRLs ------------------------------------------------------------------------


def test_unsupported_cert_format(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.UNSUPPORTED_CERT_FORMAT)


def test_sgx_root_ca_missing(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_ROOT_CA_MISSING)


def test_sgx_root_ca_invalid_extensions(intel: SimulatedIntel) -> None:
    """Intel names a chain's first certificate the root: here a PCK or TCB Signing certificate without a
    required X.509 extension."""
    fails_with(intel, Failure.SGX_ROOT_CA_INVALID_EXTENSIONS)


def test_sgx_root_ca_invalid_issuer(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_ROOT_CA_INVALID_ISSUER)


def test_sgx_intermediate_ca_missing(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_INTERMEDIATE_CA_MISSING)


def test_sgx_intermediate_ca_invalid_extensions(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_INTERMEDIATE_CA_INVALID_EXTENSIONS)


def test_sgx_intermediate_ca_invalid_issuer(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_INTERMEDIATE_CA_INVALID_ISSUER)


def test_sgx_intermediate_ca_revoked(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_INTERMEDIATE_CA_REVOKED)


def test_sgx_pck_missing(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_PCK_MISSING)


def test_sgx_pck_invalid_extensions(intel: SimulatedIntel) -> None:
    """A PCK certificate without the SGX extension, and the third certificate of a chain (the root, in a quote's
    chain) without a required X.509 extension, which Intel takes for the PCK certificate."""
    fails_with(intel, Failure.SGX_PCK_INVALID_EXTENSIONS)


def test_sgx_pck_invalid_issuer(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_PCK_INVALID_ISSUER)


def test_sgx_pck_revoked(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_PCK_REVOKED)


def test_sgx_pck_cert_chain_untrusted(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED)


def test_sgx_crl_unsupported_format(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_CRL_UNSUPPORTED_FORMAT)


def test_sgx_crl_unknown_issuer(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_CRL_UNKNOWN_ISSUER)


def test_sgx_crl_invalid_extensions(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_CRL_INVALID_EXTENSIONS)


def test_sgx_crl_invalid_signature(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_CRL_INVALID_SIGNATURE)


# ---- TCB info and QE identity ---------------------------------------------------------------------------


def test_sgx_tcb_info_unsupported_format(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT)


def test_sgx_tcb_info_invalid(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_TCB_INFO_INVALID)


def test_tcb_info_invalid_signature(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.TCB_INFO_INVALID_SIGNATURE)


def test_sgx_tcb_signing_cert_missing(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_TCB_SIGNING_CERT_MISSING)


def test_sgx_tcb_signing_cert_invalid_extensions(intel: SimulatedIntel) -> None:
    """Intel names the second certificate of a chain of two the TCB Signing certificate: here the root."""
    fails_with(intel, Failure.SGX_TCB_SIGNING_CERT_INVALID_EXTENSIONS)


def test_sgx_tcb_signing_cert_invalid_issuer(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_TCB_SIGNING_CERT_INVALID_ISSUER)


def test_sgx_tcb_signing_cert_revoked(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_TCB_SIGNING_CERT_REVOKED)


def test_sgx_enclave_identity_unsupported_format(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_FORMAT)


def test_sgx_enclave_identity_invalid(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_ENCLAVE_IDENTITY_INVALID)


def test_sgx_enclave_identity_unsupported_version(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_ENCLAVE_IDENTITY_UNSUPPORTED_VERSION)


def test_sgx_enclave_identity_invalid_signature(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE)


@pytest.mark.parametrize("part", ["tcb_info", "qe_identity"])
def test_documents_are_checked_over_their_compact_form(intel: SimulatedIntel, part: str) -> None:
    """Intel checks the signature over the compact re-serialisation of the parsed body: a pretty-printed copy
    of a signed document verifies, a document whose pretty-printed bytes were signed does not."""
    platform = intel.sgx_platform()
    collateral = intel.collateral_for(platform)
    signed: SignedDocument = getattr(collateral, part)
    body = json.loads(signed.body)
    verifier = Verifier(trusted_root=intel.trust_root)

    copy = SignedDocument.parse(
        json.dumps({signed.body_key: body, "signature": signed.signature.hex()}, indent=2), signed.body_key, part
    )
    assert copy.body != signed.body
    result = verifier.verify(platform.quote(b"x"), dataclasses.replace(collateral, **{part: copy}), at=AT)
    assert result.failure is None and result.tcb_status == TcbStatus.UP_TO_DATE, result.detail

    pretty = json.dumps(body, indent=1).encode()
    odd = SignedDocument(signed.body_key, pretty, sign_raw(intel.pki.tcb_signing.key, pretty))
    result = verifier.verify(platform.quote(b"x"), dataclasses.replace(collateral, **{part: odd}), at=AT)
    expected = (
        Failure.TCB_INFO_INVALID_SIGNATURE if part == "tcb_info" else Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE
    )
    assert result.failure == expected


def test_tdx_module_identity_with_two_levels_for_one_isvsvn_is_refused(intel: SimulatedIntel) -> None:
    """Intel's parser refuses such a TCB info (a format error); pydcap used to take the first of the two."""
    platform = intel.tdx_platform()
    collateral = intel.collateral_for(platform)
    body = json.loads(collateral.tcb_info.body)
    levels = body["tdxModuleIdentities"][0]["tcbLevels"]
    levels.append(dict(levels[0], tcbStatus="Revoked"))
    compact = json.dumps(body, separators=(",", ":")).encode()
    odd = SignedDocument("tcbInfo", compact, sign_raw(intel.pki.tcb_signing.key, compact))
    result = Verifier(trusted_root=intel.trust_root).verify(
        platform.quote(b"x"), dataclasses.replace(collateral, tcb_info=odd), at=AT
    )
    assert result.failure == Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT, result.detail


# ---- the quote ------------------------------------------------------------------------------------------


def test_unsupported_quote_format(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.UNSUPPORTED_QUOTE_FORMAT)


def test_unsupported_qe_certification_data_type(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.UNSUPPORTED_QE_CERTIFICATION_DATA_TYPE)


def test_tcb_info_mismatch(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.TCB_INFO_MISMATCH)


def test_tdx_module_mismatch(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.TDX_MODULE_MISMATCH)


def test_invalid_qe_report_signature(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.INVALID_QE_REPORT_SIGNATURE)


def test_invalid_qe_report_data(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.INVALID_QE_REPORT_DATA)


def test_qe_identity_mismatch(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.QE_IDENTITY_MISMATCH)


def test_invalid_quote_signature(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.INVALID_QUOTE_SIGNATURE)


# Keys Intel's library cannot read as a raw P-256 point (it takes an uncompressed point, whatever the
# certificate's algorithm says): another curve, or not EC at all.
OTHER_KEYS = {
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def _rekeyed(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, issuer: object) -> bytes:
    """``cert`` (names, serial, extensions) with another subject key, signed by ``issuer``'s key."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(key.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    signing_key = issuer.key  # type: ignore[attr-defined]
    return builder.sign(signing_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("key", sorted(OTHER_KEYS))
def test_invalid_pck_cert(intel: SimulatedIntel, key: str) -> None:
    """A PCK certificate whose key is not a P-256 point: Intel's INVALID_PCK_CERT (it was an exception)."""
    for platform in (intel.sgx_platform(), intel.tdx_platform()):
        leaf = _rekeyed(platform.pck.authority.certificate, OTHER_KEYS[key](), platform.issuer)
        rest = split_pem_chain(platform.pck_chain_pem)[1:]
        odd = dataclasses.replace(platform, pck_chain_pem=leaf + b"".join(c + b"\n" for c in rest))
        verifier = Verifier(trusted_root=intel.trust_root)
        result = verifier.verify(odd.quote(b"failure"), intel.collateral_for(platform), at=AT)
        assert result.failure == Failure.INVALID_PCK_CERT, (platform.tee, result.detail)
        assert result.qv_result == QvResult.UNSPECIFIED and not result.accepted


@pytest.mark.parametrize("key", sorted(OTHER_KEYS))
def test_signing_certificate_without_a_p256_key_is_an_invalid_signature(intel: SimulatedIntel, key: str) -> None:
    """A TCB Signing certificate whose key is not a P-256 point cannot verify a document (it was an exception)."""
    platform = intel.sgx_platform()
    collateral = intel.collateral_for(platform)
    chain = _rekeyed(intel.pki.tcb_signing.certificate, OTHER_KEYS[key](), intel.pki.root) + intel.pki.root.pem
    cases = {
        "tcb_info_issuer_chain": Failure.TCB_INFO_INVALID_SIGNATURE,
        "qe_identity_issuer_chain": Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE,
    }
    for part, failure in cases.items():
        odd = dataclasses.replace(collateral, **{part: chain})
        result = Verifier(trusted_root=intel.trust_root).verify(platform.quote(b"failure"), odd, at=AT)
        assert result.failure == failure, (part, result.detail)


# ---- the TCB level --------------------------------------------------------------------------------------


def test_tcb_not_supported(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.TCB_NOT_SUPPORTED)


def test_tcb_revoked(intel: SimulatedIntel) -> None:
    fails_with(intel, Failure.TCB_REVOKED)


# ---- the caller's input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("at", [0, -1])
def test_invalid_parameter(intel: SimulatedIntel, at: int) -> None:
    """A verification time not after 1970: Intel's verification enclave refuses it (pydcap verified at it)."""
    platform = intel.sgx_platform()
    result = Verifier(trusted_root=intel.trust_root).verify(platform.quote(), intel.collateral_for(platform), at=at)
    assert result.failure == Failure.INVALID_PARAMETER and result.qv_result == QvResult.UNSPECIFIED
    assert not result.accepted


# ---- expiry: a flag beside the status -------------------------------------------------------------------


def test_sgx_tcb_info_expired(intel: SimulatedIntel) -> None:
    flags_expired(intel, Failure.SGX_TCB_INFO_EXPIRED)


def test_sgx_enclave_identity_expired(intel: SimulatedIntel) -> None:
    flags_expired(intel, Failure.SGX_ENCLAVE_IDENTITY_EXPIRED)


def test_sgx_crl_expired(intel: SimulatedIntel) -> None:
    flags_expired(intel, Failure.SGX_CRL_EXPIRED)


def test_sgx_pck_cert_chain_expired(intel: SimulatedIntel) -> None:
    flags_expired(intel, Failure.SGX_PCK_CERT_CHAIN_EXPIRED)


def test_sgx_signing_cert_chain_expired(intel: SimulatedIntel) -> None:
    flags_expired(intel, Failure.SGX_SIGNING_CERT_CHAIN_EXPIRED)


# ---- coverage -------------------------------------------------------------------------------------------


def _tested() -> set[Failure]:
    module = sys.modules[__name__]
    names = {name[len("test_") :].upper() for name, _ in inspect.getmembers(module, inspect.isfunction)}
    return {f for f in Failure if f.value in names}


def _returned_by_verifier() -> set[Failure]:
    """Every failure named in the verifier's code (the module that defines the names aside)."""
    named: set[str] = set()
    for info in pkgutil.iter_modules(pydcap.verify.__path__):
        if info.name != "names":
            source = inspect.getsource(importlib.import_module(f"pydcap.verify.{info.name}"))
            named.update(re.findall(r"\bFailure\.([A-Z_]+)\b", source))
    return {f for f in Failure if f.name in named}


def test_every_failure_the_verifier_returns_is_tested_or_explained() -> None:
    missing = _returned_by_verifier() - _tested() - set(NOT_PRODUCIBLE)
    assert not missing, f"add a scenario and a test for: {sorted(missing)}"


def test_every_failure_a_scenario_expects_has_its_test() -> None:
    expected = {s.expected.failure for s in SCENARIOS.values() if s.expected.failure is not None}
    assert expected <= _tested()
