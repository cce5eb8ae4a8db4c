"""The simulated PKI follows Intel's certificate and CRL profile exactly, differs only in its keys, and is
deterministic from the seed."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from pydcap import Verifier
from pydcap.pki import CertificateChain, TrustRoot
from pydcap.quote import Quote
from pydcap.sim import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.pki import NOT_AFTER, Authority, without_extension
from pydcap.verify import Failure
from tests.support.sim import AT
from tests.support.testdata import TESTDATA, require_testdata

REAL_BUNDLES = {"processor": "phala-sgx-v3", "platform": "phala-tdx-v4"}


def _real_chain(bundle: str) -> dict[str, x509.Certificate]:
    require_testdata()
    quote = Quote.parse((TESTDATA / "real" / bundle / "quote.bin").read_bytes())
    assert quote.pck_chain_pem is not None
    chain = CertificateChain.parse(quote.pck_chain_pem)
    signing = CertificateChain.parse(
        (TESTDATA / "real" / bundle / "collateral" / "tcb_info_issuer_chain.pem").read_bytes()
    )
    out = {c.subject_cn: c.x509 for c in chain.certificates}
    out.update({c.subject_cn: c.x509 for c in signing.certificates})
    return out


def _profile(cert: x509.Certificate) -> list[object]:
    """Everything about a certificate except keys, serials, key identifiers, signatures and dates."""
    values: list[object] = [
        cert.version,
        cert.signature_algorithm_oid,
        cert.subject.public_bytes(),
        cert.issuer.public_bytes(),
    ]
    for ext in cert.extensions:
        values.append((ext.oid.dotted_string, ext.critical))
        if isinstance(ext.value, x509.KeyUsage | x509.BasicConstraints):
            values.append(ext.value)
    return values


@pytest.mark.parametrize("ca", ["processor", "platform"])
def test_certificates_have_intels_profile(intel: SimulatedIntel, ca: str) -> None:
    real = _real_chain(REAL_BUNDLES[ca])
    platform = intel.sgx_platform(ca=ca, name=f"profile-{ca}")
    sim = {c.subject_cn: c.x509 for c in CertificateChain.parse(platform.pck_chain_pem).certificates}
    sim[intel.pki.tcb_signing.common_name] = intel.pki.tcb_signing.certificate
    assert sorted(sim) == sorted(real)
    for name, cert in real.items():
        assert _profile(sim[name]) == _profile(cert), name
        assert sim[name].public_key() != cert.public_key()


def test_ca_serial_numbers_equal_their_key_identifiers_as_intels_do(intel: SimulatedIntel) -> None:
    for authority in (intel.pki.root, intel.pki.processor_ca, intel.pki.platform_ca, intel.pki.tcb_signing):
        ski = authority.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        assert authority.serial == int.from_bytes(ski, "big")
        aki = authority.certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == intel.pki.root.key_id or authority is intel.pki.root


def test_certificates_stay_valid_for_decades(intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform()
    for cert in CertificateChain.parse(platform.pck_chain_pem).certificates:
        assert cert.x509.not_valid_after_utc == NOT_AFTER


def _crl_profile(der: bytes) -> list[object]:
    crl = x509.load_der_x509_crl(der)
    values: list[object] = [crl.signature_algorithm_oid, crl.issuer.public_bytes()]
    values += [(e.oid.dotted_string, e.critical) for e in crl.extensions]
    values += [[(e.oid.dotted_string, e.value) for e in entry.extensions] for entry in list(crl)[:1]]
    return values


def test_crls_have_intels_profile(intel: SimulatedIntel) -> None:
    require_testdata()
    real = TESTDATA / "real" / "phala-tdx-v4" / "collateral"
    intel.revoke(intel.sgx_platform(ca="platform", name="crl-profile"))
    assert _crl_profile(intel.pck_crl("platform")) == _crl_profile((real / "pck_crl.der").read_bytes())
    assert _crl_profile(intel.root_ca_crl()) == _crl_profile((real / "root_ca_crl.der").read_bytes())


def test_crl_numbers_count_revocations_and_crls_are_issued_at_now() -> None:
    intel = SimulatedIntel(seed=11, now=REFERENCE_TIME)
    before = x509.load_der_x509_crl(intel.pck_crl("processor"))
    intel.revoke(intel.sgx_platform())
    after = x509.load_der_x509_crl(intel.pck_crl("processor"))
    assert before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1 + len(list(after))
    assert len(list(after)) > len(list(before)) == 0
    assert after.last_update_utc == REFERENCE_TIME


def test_same_seed_same_world_other_seed_other_keys() -> None:
    a, b, c = (SimulatedIntel(seed=s, now=REFERENCE_TIME) for s in (21, 21, 22))
    assert a.root_pem == b.root_pem != c.root_pem
    assert a.sgx_platform().quote(b"x") == b.sgx_platform().quote(b"x")
    assert a.collateral_for(a.tdx_platform()).digest == b.collateral_for(b.tdx_platform()).digest
    assert a.trust_root != c.trust_root


def test_root_has_intels_name_but_is_not_trusted_by_default(intel: SimulatedIntel) -> None:
    assert "CN=Intel SGX Root CA (key " in intel.trust_root.name  # the key id tells it from Intel's
    assert not intel.trust_root.is_intel
    platform = intel.sgx_platform()
    quote, collateral = platform.quote(), intel.collateral_for(platform)
    assert Verifier().appraise(quote, collateral, at=AT).failure == Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED
    assert Verifier(trusted_root=intel.root_pem).appraise(quote, collateral, at=AT).failure is None
    assert TrustRoot.from_pem(intel.root_pem) == intel.trust_root


def test_authority_pem_and_der_agree(intel: SimulatedIntel) -> None:
    root: Authority = intel.pki.root
    assert x509.load_pem_x509_certificate(root.pem) == x509.load_der_x509_certificate(root.der)


def test_a_certificate_without_an_extension_differs_only_by_it(intel: SimulatedIntel) -> None:
    """Defect scenarios strip one extension and sign again with the issuer's key: nothing else changes."""
    ca, root = intel.pki.processor_ca, intel.pki.root
    stripped = x509.load_pem_x509_certificate(without_extension(ca, root, ExtensionOID.KEY_USAGE))
    kept = [e for e in ca.certificate.extensions if e.oid != ExtensionOID.KEY_USAGE]
    assert list(stripped.extensions) == kept and len(kept) == len(ca.certificate.extensions) - 1
    assert (stripped.subject, stripped.issuer, stripped.serial_number) == (ca.name, root.name, ca.serial)
    assert stripped.public_key() == ca.certificate.public_key()
    stripped.verify_directly_issued_by(root.certificate)
