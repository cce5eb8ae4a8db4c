"""PCK certificates and chains: the SGX extension, CA type, chain classification whatever the order."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcap import CertificateFormatError, Quote
from pydcap.pki import CertificateChain, PckCertificate, SgxType
from pydcap.pki.certs import split_pem_chain
from pydcap.pki.pck import SgxExtension, parse_sgx_extension, read_sgx_extension, read_standard_layout
from pydcap.pki.trust import INTEL_SGX_ROOT_CA_PUBLIC_KEY, TrustRoot
from pydcap.sim.der_writer import SgxExtensionFields, octet_string, pair, sequence, sgx_extension, tlv
from tests.support.edits import edited
from tests.support.testdata import REAL, Bundle, bundle_params, require_testdata


def _pck(bundle: Bundle) -> tuple[CertificateChain, PckCertificate]:
    pem = Quote.parse(bundle.quote).pck_chain_pem
    assert pem is not None
    chain = CertificateChain.parse(pem)
    leaf = chain.find("SGX PCK Certificate")
    assert leaf is not None
    return chain, PckCertificate.from_certificate(leaf)


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_sgx_extension_matches_the_bundle(bundle: Bundle | None) -> None:
    require_testdata()
    assert bundle is not None
    chain, pck = _pck(bundle)
    facts = bundle.expected["quote_facts"]
    assert pck.fmspc.hex() == facts["fmspc"]
    assert pck.issuer_cn == facts["pck_issuer"]
    assert pck.ca_type == ("processor" if "Processor" in facts["pck_issuer"] else "platform")
    sgx = pck.sgx
    assert len(sgx.ppid) == 16 and len(sgx.tcb.components) == 16 and len(sgx.tcb.cpu_svn) == 16
    assert sgx.pce_id == b"\x00\x00"
    if pck.ca_type == "platform":
        assert sgx.platform_instance_id is not None and len(sgx.platform_instance_id) == 16
        assert sgx.dynamic_platform is not None and sgx.cached_keys is not None and sgx.smt_enabled is not None
        assert sgx.sgx_type == SgxType.SCALABLE
    else:
        assert sgx.platform_instance_id is None and sgx.dynamic_platform is None
        assert sgx.sgx_type == SgxType.STANDARD
    # CPUSVN in the certificate carries the same component values for these platforms.
    assert tuple(sgx.tcb.cpu_svn) == sgx.tcb.components
    assert chain.root is not None and chain.root.public_key_bytes == INTEL_SGX_ROOT_CA_PUBLIC_KEY


def test_chain_classification_ignores_order() -> None:
    require_testdata()
    pem = Quote.parse(REAL[0].quote).pck_chain_pem
    assert pem is not None
    blocks = split_pem_chain(pem)
    for order in ([2, 0, 1], [1, 2, 0], [0, 2, 1]):
        chain = CertificateChain.parse(b"\n".join(blocks[i] for i in order))
        assert chain.root is not None and "Root CA" in chain.root.subject_cn
        assert chain.topmost is not None and "PCK Certificate" in chain.topmost.subject_cn


def test_a_certificate_without_the_sgx_extension_is_rejected() -> None:
    require_testdata()
    chain, _ = _pck(REAL[0])
    assert chain.root is not None
    with pytest.raises(CertificateFormatError, match="no SGX extension"):
        parse_sgx_extension(chain.root)


def test_garbage_chain() -> None:
    with pytest.raises(CertificateFormatError):
        CertificateChain.parse(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateFormatError):
        CertificateChain.parse(b"nothing here")


def test_trust_root_from_pem_keeps_only_the_key() -> None:
    require_testdata()
    chain, _ = _pck(REAL[0])
    assert chain.root is not None
    from cryptography.hazmat.primitives.serialization import Encoding

    root = TrustRoot.from_pem(chain.root.x509.public_bytes(Encoding.PEM))
    assert root.is_intel and root == TrustRoot(INTEL_SGX_ROOT_CA_PUBLIC_KEY, root.name)
    with pytest.raises(CertificateFormatError):
        TrustRoot.from_pem(b"junk")


@pytest.mark.parametrize("oid", ["2.5.4.3", "1.2.840.113741.1.13.1.2.17", "2.999.1", "0.9.2342.19200300", "2.999"])
def test_oid_round_trip(oid: str) -> None:
    from pydcap.pki import der

    assert der.decode_oid(der.encode_oid(oid)) == oid


# ---- the one-pass decoder of Intel's layout against the generic decoder -------------------------------------

_FIELDS = st.builds(
    SgxExtensionFields,
    ppid=st.binary(min_size=16, max_size=16),
    components=st.tuples(*[st.integers(0, 255)] * 16),
    pce_svn=st.integers(0, 0xFFFF),
    cpu_svn=st.binary(min_size=16, max_size=16),
    pce_id=st.binary(min_size=2, max_size=2),
    fmspc=st.binary(min_size=6, max_size=6),
    sgx_type=st.integers(0, 2),
)


def _generic(raw: bytes) -> SgxExtension | Exception:
    try:
        return read_sgx_extension(raw)
    except ValueError as exc:
        return exc


@given(
    _FIELDS,
    st.one_of(st.none(), st.tuples(st.binary(min_size=16, max_size=16), st.booleans(), st.booleans(), st.booleans())),
)
@settings(max_examples=300, deadline=None)
def test_intels_layout_is_read_in_one_pass_to_the_same_values(
    fields: SgxExtensionFields, platform: tuple[bytes, bool, bool, bool] | None
) -> None:
    if platform is not None:
        fields = replace(
            fields,
            platform_instance_id=platform[0],
            dynamic_platform=platform[1],
            cached_keys=platform[2],
            smt_enabled=platform[3],
        )
    raw = sgx_extension(fields)
    fast = read_standard_layout(raw)
    assert fast is not None and fast == _generic(raw)
    assert fast.tcb.components == fields.components and fast.tcb.pce_svn == fields.pce_svn


@given(_FIELDS, st.data())
@settings(max_examples=500, deadline=None)
def test_whatever_the_one_pass_decoder_reads_the_generic_one_reads_alike(
    fields: SgxExtensionFields, data: st.DataObject
) -> None:
    """Mutations (bytes changed, inserted or removed): the one-pass decoder either declines, or gives exactly what
    the generic decoder gives (which never fails on such input)."""
    raw = edited(sgx_extension(replace(fields, platform_instance_id=bytes(16), dynamic_platform=True)), data)
    fast = read_standard_layout(raw)
    if fast is not None:
        assert fast == _generic(raw)


def test_other_layouts_take_the_generic_decoder() -> None:
    """Entries out of order, a longer integer encoding, a flag spelled 0x01: all valid, none Intel's layout."""
    fields = SgxExtensionFields(bytes(16), tuple(range(16)), 13, bytes(16), b"\x00\x00", bytes(6), 0)
    standard = sgx_extension(fields)
    p = "1.2.840.113741.1.13.1"
    reordered = standard.replace(
        pair(f"{p}.3", octet_string(b"\x00\x00")) + pair(f"{p}.4", octet_string(bytes(6))),
        pair(f"{p}.4", octet_string(bytes(6))) + pair(f"{p}.3", octet_string(b"\x00\x00")),
    )
    padded = sequence([*der_items(standard)[:-1], pair(f"{p}.5", b"\x0a\x02\x00\x00")])
    for raw in (reordered, padded):
        assert raw != standard
        assert read_standard_layout(raw) is None
        assert read_sgx_extension(raw) == read_sgx_extension(standard)


def der_items(raw: bytes) -> list[bytes]:
    """The encoded elements of the SEQUENCE ``raw``."""
    from pydcap.pki import der

    return [tlv(t.tag, t.value) for t in der.read_all(der.read_one(raw, 0x30).value)]
