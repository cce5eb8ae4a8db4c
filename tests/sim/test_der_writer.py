"""The DER writer produces exactly the SGX extension bytes of Intel's real PCK certificates."""

from __future__ import annotations

import pytest
from cryptography import x509

from pydcap.pki import Certificate, CertificateChain, PckCertificate
from pydcap.pki.der import decode_integer, decode_oid, read_one
from pydcap.pki.pck import SGX_EXTENSION_OID, parse_sgx_extension
from pydcap.quote import Quote
from pydcap.sim import der_writer as der
from pydcap.sim.der_writer import SgxExtensionFields, sgx_extension
from pydcap.sim.keys import derive_key
from pydcap.sim.pki import NOT_AFTER, PCK_NOT_BEFORE, CertificateProfile, build_certificate, intel_name
from tests.support.testdata import REAL, Bundle, bundle_params, require_testdata


def _real_pck(bundle: Bundle) -> PckCertificate:
    quote = Quote.parse(bundle.quote)
    assert quote.pck_chain_pem is not None
    leaf = CertificateChain.parse(quote.pck_chain_pem).find("SGX PCK Certificate")
    assert leaf is not None
    return PckCertificate.from_certificate(leaf)


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_sgx_extension_is_byte_identical_to_intels(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    pck = _real_pck(bundle)
    e = pck.sgx
    fields = SgxExtensionFields(
        e.ppid,
        e.tcb.components,
        e.tcb.pce_svn,
        e.tcb.cpu_svn,
        e.pce_id,
        e.fmspc,
        int(e.sgx_type),
        e.platform_instance_id,
        e.dynamic_platform,
        e.cached_keys,
        e.smt_enabled,
    )
    raw = pck.x509.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID)).value
    assert isinstance(raw, x509.UnrecognizedExtension)
    assert sgx_extension(fields) == raw.value


def test_integers_use_the_shortest_twos_complement_form() -> None:
    assert der.integer(0) == bytes.fromhex("020100")
    assert der.integer(127) == bytes.fromhex("02017f")
    assert der.integer(255) == bytes.fromhex("020200ff")  # as in Intel's certificates (TCB component 255)
    assert der.integer(65535) == bytes.fromhex("020300ffff")
    assert decode_integer(read_one(der.integer(1234), 0x02).value) == 1234


def test_long_lengths_and_oids_round_trip() -> None:
    value = bytes(300)
    encoded = der.octet_string(value)
    assert encoded[:4] == bytes.fromhex("0482012c")
    assert read_one(encoded, 0x04).value == value
    for dotted in ("1.2.840.113741.1.13.1.2.18", "2.5.29.35", "1.2.840.10045.4.3.2"):
        assert decode_oid(read_one(der.oid(dotted), 0x06).value) == dotted


def test_fields_of_the_wrong_size_are_refused() -> None:
    good = SgxExtensionFields(bytes(16), (0,) * 16, 0, bytes(16), bytes(2), bytes(6), 0)
    sgx_extension(good)
    with pytest.raises(ValueError, match="16 bytes"):
        sgx_extension(SgxExtensionFields(bytes(15), (0,) * 16, 0, bytes(16), bytes(2), bytes(6), 0))
    with pytest.raises(ValueError, match="FMSPC"):
        sgx_extension(SgxExtensionFields(bytes(16), (0,) * 16, 0, bytes(16), bytes(2), bytes(5), 0))


def test_platform_ca_fields_are_read_back_by_pydcap() -> None:
    fields = SgxExtensionFields(
        ppid=bytes(range(16)),
        components=tuple(range(16)),
        pce_svn=300,
        cpu_svn=bytes(range(16, 32)),
        pce_id=b"\x01\x02",
        fmspc=bytes.fromhex("00806F050000"),
        sgx_type=1,
        platform_instance_id=bytes(range(100, 116)),
        dynamic_platform=True,
        cached_keys=False,
        smt_enabled=True,
    )
    cert = _certificate_with(sgx_extension(fields))
    parsed = parse_sgx_extension(Certificate(cert))
    assert parsed.tcb.components == fields.components
    assert parsed.tcb.pce_svn == 300
    assert parsed.platform_instance_id == fields.platform_instance_id
    assert (parsed.dynamic_platform, parsed.cached_keys, parsed.smt_enabled) == (True, False, True)


def _certificate_with(extension: bytes) -> x509.Certificate:
    key = derive_key(0, "der-writer-test")
    return build_certificate(
        subject=intel_name("Intel SGX PCK Certificate"),
        public_key=key.public_key(),
        issuer_name=intel_name("x"),
        issuer_key_id=bytes(20),
        signing_key=key,
        serial=1,
        not_before=PCK_NOT_BEFORE,
        not_after=NOT_AFTER,
        profile=CertificateProfile(ca=False, path_length=None, crl_url="https://example.invalid/crl"),
        sgx_extension=extension,
    )
