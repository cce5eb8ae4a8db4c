"""Verify before store: every real Intel document is admitted with its own freshness; anything altered,
misattributed or chained to another root is refused with Intel's name for the failed check."""

from __future__ import annotations

import json

import pytest

from pydcap.cache import EntryKey, UntrustedCollateralError, admit
from pydcap.cache.admission import Admission, pck_ca_of
from pydcap.collateral import EnclaveIdentity, TcbInfo
from pydcap.intel.outcomes import Failure
from pydcap.pki import CertificateChain, RevocationList, TrustRoot
from pydcap.sources import CollateralRequest, Tee
from tests.cache.bundle_source import leaf_and_chain, platform_of
from tests.sources.pccs_replay import flip_signature_byte
from tests.support.keys import other_root
from tests.support.testdata import NEGATIVE, REAL, Bundle, bundle_params, require_testdata

INTEL = TrustRoot.intel()


def _bundle(bundle: Bundle | None) -> Bundle:
    require_testdata()
    assert bundle is not None
    return bundle


def _parts(b: Bundle) -> dict[str, bytes]:
    d = b.path / "collateral"
    return {p.name: p.read_bytes() for p in d.iterdir()}


def _admit_all(b: Bundle, trust: TrustRoot = INTEL) -> dict[str, Admission]:
    f = _parts(b)
    req = CollateralRequest.from_quote(b.quote)
    root = f["root_ca_crl.der"]
    leaf, chain = leaf_and_chain(b)
    return {
        "root_ca_crl": admit(EntryKey.root_ca_crl(), root, b"", trust),
        "pck_crl": admit(
            EntryKey.pck_crl(req.ca), f["pck_crl.der"], f["pck_crl_issuer_chain.pem"], trust, root_ca_crl=root
        ),
        "tcb_info": admit(
            EntryKey.tcb_info(req.tee, req.fmspc),
            f["tcb_info.json"],
            f["tcb_info_issuer_chain.pem"],
            trust,
            root_ca_crl=root,
        ),
        "qe_identity": admit(
            EntryKey.qe_identity(req.tee),
            f["qe_identity.json"],
            f["qe_identity_issuer_chain.pem"],
            trust,
            root_ca_crl=root,
        ),
        "pck_certificate": admit(
            EntryKey.pck_certificate(platform_of(b)), leaf, chain, trust, root_ca_crl=root, pck_crl=f["pck_crl.der"]
        ),
    }


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_every_real_document_is_admitted_fresh_until_its_own_next_update(bundle: Bundle | None) -> None:
    b = _bundle(bundle)
    f = _parts(b)
    got = _admit_all(b)
    tcb = TcbInfo.parse(f["tcb_info.json"])
    qe = EnclaveIdentity.parse(f["qe_identity.json"])
    tcb_chain = CertificateChain.parse(f["tcb_info_issuer_chain.pem"])
    crl_chain = CertificateChain.parse(f["pck_crl_issuer_chain.pem"])
    assert got["root_ca_crl"].valid_until == RevocationList.parse(f["root_ca_crl.der"]).next_update
    assert got["pck_crl"].valid_until == min(
        RevocationList.parse(f["pck_crl.der"]).next_update, crl_chain.earliest_not_after
    )
    assert got["tcb_info"].valid_until == min(tcb.next_update, tcb_chain.earliest_not_after)
    assert got["qe_identity"].valid_until == min(qe.next_update, tcb_chain.earliest_not_after)
    assert got["tcb_info"].meta["tcb_evaluation_data_number"] == str(tcb.tcb_evaluation_data_number)
    req = CollateralRequest.from_quote(b.quote)
    assert got["pck_certificate"].meta["fmspc"] == req.fmspc.hex()
    assert got["pck_certificate"].meta["ca_type"] == req.ca.value
    # Valid at the pinned time: the bundle's own verify_at falls inside every document's freshness
    # for bundles Intel did not flag as expired.
    if b.expected.get("collateral_expired") is False:
        assert all(b.at < a.valid_until for a in got.values())


def _real() -> Bundle:
    require_testdata()
    return next(b for b in REAL if b.name == "phala-sgx-v3")


def _refused(
    key: EntryKey, data: bytes, chain: bytes, *, trust: TrustRoot = INTEL, **kw: object
) -> UntrustedCollateralError:
    with pytest.raises(UntrustedCollateralError) as caught:
        admit(key, data, chain, trust, **kw)  # type: ignore[arg-type]
    return caught.value


def test_a_tcb_info_with_a_broken_signature_is_refused() -> None:
    b = _real()
    f = _parts(b)
    key = EntryKey.tcb_info("sgx", "00a067110000")
    exc = _refused(
        key, flip_signature_byte(f["tcb_info.json"]), f["tcb_info_issuer_chain.pem"], root_ca_crl=f["root_ca_crl.der"]
    )
    assert exc.failure is Failure.TCB_INFO_INVALID_SIGNATURE
    assert "TCB info" in str(exc) and "not cached" in str(exc)


def test_a_tcb_info_whose_body_was_edited_is_refused() -> None:
    f = _parts(_real())
    edited = f["tcb_info.json"].replace(b'"tcbStatus":"OutOfDate"', b'"tcbStatus":"UpToDate"', 1)
    assert edited != f["tcb_info.json"]
    exc = _refused(
        EntryKey.tcb_info("sgx", "00a067110000"),
        edited,
        f["tcb_info_issuer_chain.pem"],
        root_ca_crl=f["root_ca_crl.der"],
    )
    assert exc.failure is Failure.TCB_INFO_INVALID_SIGNATURE


def test_an_identity_with_a_broken_signature_is_refused() -> None:
    f = _parts(_real())
    exc = _refused(
        EntryKey.qe_identity("sgx"),
        flip_signature_byte(f["qe_identity.json"]),
        f["qe_identity_issuer_chain.pem"],
        root_ca_crl=f["root_ca_crl.der"],
    )
    assert exc.failure is Failure.SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE


def test_an_authentic_document_under_the_wrong_key_is_refused() -> None:
    f = _parts(_real())
    root = f["root_ca_crl.der"]
    other_fmspc = _refused(
        EntryKey.tcb_info("sgx", "00906ed50000"), f["tcb_info.json"], f["tcb_info_issuer_chain.pem"], root_ca_crl=root
    )
    assert other_fmspc.failure is Failure.TCB_INFO_MISMATCH
    other_tee = _refused(
        EntryKey.tcb_info("tdx", "00a067110000"), f["tcb_info.json"], f["tcb_info_issuer_chain.pem"], root_ca_crl=root
    )
    assert other_tee.failure is Failure.TCB_INFO_MISMATCH
    td_qe = _refused(
        EntryKey.qe_identity(Tee.TDX), f["qe_identity.json"], f["qe_identity_issuer_chain.pem"], root_ca_crl=root
    )
    assert td_qe.failure is Failure.QE_IDENTITY_MISMATCH
    other_ca = _refused(EntryKey.pck_crl("platform"), f["pck_crl.der"], f["pck_crl_issuer_chain.pem"], root_ca_crl=root)
    assert other_ca.failure is Failure.SGX_INTERMEDIATE_CA_MISSING
    not_root = _refused(EntryKey.root_ca_crl(), f["pck_crl.der"], b"")
    assert not_root.failure is Failure.SGX_CRL_UNKNOWN_ISSUER


def test_intel_documents_are_refused_under_another_trust_root() -> None:
    f = _parts(_real())
    other = other_root()
    assert (
        _refused(EntryKey.root_ca_crl(), f["root_ca_crl.der"], b"", trust=other).failure
        is Failure.SGX_CRL_INVALID_SIGNATURE
    )
    tcb = _refused(
        EntryKey.tcb_info("sgx", "00a067110000"),
        f["tcb_info.json"],
        f["tcb_info_issuer_chain.pem"],
        trust=other,
        root_ca_crl=f["root_ca_crl.der"],
    )
    assert tcb.failure is Failure.SGX_TCB_SIGNING_CERT_CHAIN_UNTRUSTED
    crl = _refused(
        EntryKey.pck_crl("processor"),
        f["pck_crl.der"],
        f["pck_crl_issuer_chain.pem"],
        trust=other,
        root_ca_crl=f["root_ca_crl.der"],
    )
    assert crl.failure is Failure.SGX_ROOT_CA_UNTRUSTED


def test_a_crl_with_a_broken_signature_is_refused() -> None:
    f = _parts(_real())
    der = bytearray(f["pck_crl.der"])
    der[-5] ^= 0x01
    exc = _refused(
        EntryKey.pck_crl("processor"), bytes(der), f["pck_crl_issuer_chain.pem"], root_ca_crl=f["root_ca_crl.der"]
    )
    assert exc.failure in (Failure.SGX_CRL_INVALID_SIGNATURE, Failure.SGX_CRL_UNSUPPORTED_FORMAT)
    root = bytearray(f["root_ca_crl.der"])
    root[-5] ^= 0x01
    assert _refused(EntryKey.root_ca_crl(), bytes(root), b"").failure in (
        Failure.SGX_CRL_INVALID_SIGNATURE,
        Failure.SGX_CRL_UNSUPPORTED_FORMAT,
    )


def test_a_crl_of_an_unknown_version_is_refused() -> None:
    f = _parts(_real())
    der = bytearray(f["pck_crl.der"])
    at = der.index(bytes([2, 1, 1]))
    der[at + 2] = 7
    exc = _refused(
        EntryKey.pck_crl("processor"), bytes(der), f["pck_crl_issuer_chain.pem"], root_ca_crl=f["root_ca_crl.der"]
    )
    assert "version" in exc.reason


def test_unreadable_documents_are_refused_not_raised_as_something_else() -> None:
    f = _parts(_real())
    key = EntryKey.tcb_info("sgx", "00a067110000")
    exc = _refused(key, b'{"tcbInfo": 1}', f["tcb_info_issuer_chain.pem"], root_ca_crl=f["root_ca_crl.der"])
    assert "signature" in exc.reason
    assert _refused(EntryKey.root_ca_crl(), b"not a crl", b"").failure is Failure.SGX_CRL_UNSUPPORTED_FORMAT


@pytest.mark.parametrize("bundle", bundle_params([b for b in NEGATIVE if "cert-byte-changed" in b.name]))
def test_pck_certificates_with_altered_chains_are_refused(bundle: Bundle | None) -> None:
    b = _bundle(bundle)
    f = _parts(b)
    leaf, chain = leaf_and_chain(b)
    key = EntryKey.pck_certificate(platform_of(b) if "pck-cert" not in b.name else "42/" + "00" * 16 + "/0000/0000")
    with pytest.raises(UntrustedCollateralError):
        admit(key, leaf, chain, INTEL, root_ca_crl=f["root_ca_crl.der"], pck_crl=f["pck_crl.der"])


def test_a_pck_certificate_for_another_platform_or_tcb_is_refused() -> None:
    b = _real()
    f = _parts(b)
    leaf, chain = leaf_and_chain(b)
    platform = platform_of(b)
    deps = {"root_ca_crl": f["root_ca_crl.der"], "pck_crl": f["pck_crl.der"]}
    ok = admit(EntryKey.pck_certificate(platform), leaf, chain, INTEL, **deps)  # type: ignore[arg-type]
    assert pck_ca_of(EntryKey.pck_certificate(platform), leaf).value == "processor"
    wrong_pce = EntryKey.pck_certificate(f"{platform.qe_id.hex()}/{platform.cpu_svn.hex()}/{platform.pce_svn_hex}/0100")
    assert _refused(wrong_pce, leaf, chain, **deps).failure is Failure.PCK_CERT_MISMATCH
    other_tcbm = "ff" * 18
    assert other_tcbm != ok.meta["tcbm"]
    bad_tcbm = _refused(EntryKey.pck_certificate(platform), leaf, chain, meta={"tcbm": other_tcbm}, **deps)
    assert bad_tcbm.failure is Failure.PCK_CERT_MISMATCH
    bad_fmspc = _refused(EntryKey.pck_certificate(platform), leaf, chain, meta={"fmspc": "000000000000"}, **deps)
    assert bad_fmspc.failure is Failure.PCK_CERT_MISMATCH
    swapped = _refused(EntryKey.pck_certificate(platform), chain, leaf, **deps)
    assert swapped.failure is not None


def test_meta_records_what_the_document_says() -> None:
    f = _parts(_real())
    got = admit(
        EntryKey.tcb_info("sgx", "00a067110000"),
        f["tcb_info.json"],
        f["tcb_info_issuer_chain.pem"],
        INTEL,
        root_ca_crl=f["root_ca_crl.der"],
    )
    body = json.loads(f["tcb_info.json"])["tcbInfo"]
    assert got.meta["next_update"] == body["nextUpdate"]
    assert got.meta["issue_date"] == body["issueDate"]
