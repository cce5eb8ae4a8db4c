"""The fuzz targets: one per parser, one for ``verify_quote`` and one for admission, each a function of bytes that
lets through only what the code under test documents (a ``FormatError`` for input it cannot read, a failed
``VerificationResult`` for a quote that does not verify, ``UntrustedCollateralError`` for a document that is not
authentic, a PCCS error for a bad import). Anything else escapes, and the fuzzer reports it as a crash.

``signature`` checks the optional native accelerator against ``cryptography`` (when it is built). The structured
targets (``verify``, ``admission``) read their first byte as which real bundle of
``../shared/testdata/real`` to start from, the second as which part of it to replace, and the rest as the part.
``ALL`` dispatches on the first byte to every target (one process for the short run in ``make test``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pydcap import verify_quote
from pydcap.cache import CollateralStore, EntryKey, UntrustedCollateralError, admit
from pydcap.collateral import Collateral, EnclaveIdentity, TcbInfo
from pydcap.errors import FormatError
from pydcap.pccs.collateral_file import import_collateral
from pydcap.pccs.config import CachingMode
from pydcap.pccs.errors import PccsError
from pydcap.pccs.service import PccsService
from pydcap.pki import Certificate, PckCertificate, RevocationList, TrustRoot, native
from pydcap.pki.certs import pem_der, split_pem_chain
from pydcap.pki.crl import _intel_layout as crl_layout
from pydcap.pki.intel_layout import intel_layout, read_pck
from pydcap.quote import Quote
from pydcap.sources.models import CollateralRequest
from pydcap.trust.signatures import public_key_from_point, verify_raw

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT.parent / "shared" / "testdata"
PARTS = (
    "quote",
    "pck_crl",
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "tcb_info",
    "tcb_info_issuer_chain",
    "qe_identity",
    "qe_identity_issuer_chain",
)
Target = Callable[[bytes], None]


@dataclass(frozen=True)
class Bundle:
    """A real quote with its collateral, as bytes per part, and when it verifies."""

    parts: dict[str, bytes]
    at: int

    @property
    def request(self) -> CollateralRequest:
        return CollateralRequest.from_quote(self.parts["quote"])


@cache
def bundles() -> tuple[Bundle, ...]:
    found = []
    for directory in sorted((TESTDATA / "real").iterdir()):
        expected = directory / "expected.json"
        collateral = directory / "collateral"
        if not expected.is_file() or not all((collateral / f"{p}.{x}").is_file() for p, x in _FILES.items()):
            continue
        parts = {"quote": (directory / "quote.bin").read_bytes()}
        parts.update({p: (collateral / f"{p}.{x}").read_bytes() for p, x in _FILES.items()})
        found.append(Bundle(parts, int(json.loads(expected.read_text())["verify_at"]["unix"])))
    if not found:
        raise RuntimeError(f"no real bundles under {TESTDATA / 'real'}")
    return tuple(found)


_FILES = {
    "pck_crl": "der",
    "pck_crl_issuer_chain": "pem",
    "root_ca_crl": "der",
    "tcb_info": "json",
    "tcb_info_issuer_chain": "pem",
    "qe_identity": "json",
    "qe_identity_issuer_chain": "pem",
}


def _bundle_and_part(data: bytes) -> tuple[Bundle, dict[str, bytes]] | None:
    """The bundle the first byte names, with the part the second byte names replaced by the rest."""
    if len(data) < 2:
        return None
    bundle = bundles()[data[0] % len(bundles())]
    parts = dict(bundle.parts)
    parts[PARTS[data[1] % len(PARTS)]] = data[2:]
    return bundle, parts


# ---- parsers ------------------------------------------------------------------------------------


def quote(data: bytes) -> None:
    try:
        parsed = Quote.parse(data)
    except FormatError:
        return
    _ = parsed.tee, parsed.pck_chain_pem, parsed.qe_report.raw, parsed.td_report


def certificate(data: bytes) -> None:
    """A PEM certificate (PCK, intermediate, root or TCB Signing) and, for a PCK one, its SGX extension; what
    ``intel_layout`` reads of it (as issued by one of the real bundles' PCK CAs) is what the general reader reads."""
    cert: Certificate | None = None
    try:
        cert = Certificate.from_pem(data)
        _ = cert.subject_cn, cert.issuer_cn, cert.missing_extensions, cert.public_key_bytes, cert.not_after
        _ = cert.is_signed_by(cert), cert.public_key
        pck = PckCertificate.from_certificate(cert)
        _ = pck.fmspc, pck.pce_id, pck.ca_type, pck.sgx.tcb.components, pck.sgx.ppid
    except FormatError:
        pass
    encoded = pem_der(data)
    for issuer in _pck_issuers() if encoded is not None else ():
        read = intel_layout(encoded, issuer)
        if read is not None and (cert is None or any(getattr(cert, name) != value for name, value in read.items())):
            raise AssertionError(f"Intel's layout read what the general reader reads otherwise: {read}")


def crl(data: bytes) -> None:
    """A CRL in any encoding; what the one pass over Intel's layout reads of it, ``cryptography``'s accessors read
    alike (a fresh reading through them, which must not fail)."""
    try:
        parsed = RevocationList.parse(data)
        _ = parsed.issuer_cn, parsed.crl_number, parsed.has_authority_key_identifier, len(parsed.x509)
        root = _root_certificate()
        _ = parsed.is_signed_by(root), parsed.revokes(root)
    except FormatError:
        return
    read = crl_layout(parsed.der)
    if read is None:
        return
    general = RevocationList(parsed.x509, parsed.der)
    if any(getattr(general, name) != value for name, value in read.items()):
        raise AssertionError(f"Intel's CRL layout read what the accessors read otherwise: {read}")


def tcb_info(data: bytes) -> None:
    try:
        info = TcbInfo.parse(data)
    except FormatError:
        return
    _ = info.fmspc, info.pce_id, info.is_tdx, [level.sort_key for level in info.tcb_levels]


def qe_identity(data: bytes) -> None:
    try:
        identity = EnclaveIdentity.parse(data)
    except FormatError:
        return
    _ = identity.id, identity.level_for(0)


def collateral(data: bytes) -> None:
    """A collateral bundle file: pydcap's JSON or dcap-qvl's; what loads must write back out."""
    try:
        bundle = Collateral.from_json(data)
    except FormatError:
        return
    again = Collateral.from_json(bundle.to_json())
    assert again == bundle, "pydcap's collateral JSON does not round-trip"
    _ = bundle.to_dcap_qvl_json(), bundle.digest


# ---- verification -------------------------------------------------------------------------------


def verify(data: bytes) -> None:
    """``verify_quote`` on a real bundle with one part replaced: a result, never an exception."""
    chosen = _bundle_and_part(data)
    if chosen is None:
        return
    bundle, parts = chosen
    try:
        loaded = Collateral.create(**{p: v for p, v in parts.items() if p != "quote"})
    except FormatError:
        return
    result = verify_quote(parts["quote"], loaded, at=bundle.at)
    assert (result.failure is None) == (result.tcb_status is not None), result


@cache
def _accelerated() -> bool:
    """The native accelerator, on for this process when it is built (``make native``)."""
    try:
        native.enable()
    except native.NativeUnavailableError:
        return False
    return True


def signature(data: bytes) -> None:
    """The native accelerator (when built; else nothing to do) accepts no key and signature that ``cryptography``
    refuses. The input: one byte (even: r || s, odd: DER), the key (65 bytes), the signature's length (one byte),
    the signature, then the signed data."""
    if len(data) < 67 or not _accelerated():
        return
    der, point, size = data[0] & 1, data[1:66], data[66]
    signed, rest = data[67 : 67 + size], data[67 + size :]
    if not (native.der_ok(point, signed, rest) if der else native.fixed_ok(point, signed, rest)):
        return
    key = public_key_from_point(point)
    assert key is not None, "the accelerator accepted a key that is not a P-256 point"
    if der:
        key.verify(signed, rest, ec.ECDSA(hashes.SHA256()))  # InvalidSignature escapes: a crash
    else:
        assert verify_raw(key, signed, rest), "the accelerator accepted a signature cryptography refuses"


def admission(data: bytes) -> None:
    """``admit`` each document of a real bundle with one part replaced: admitted or ``UntrustedCollateralError``."""
    chosen = _bundle_and_part(data)
    if chosen is None:
        return
    bundle, parts = chosen
    request = bundle.request
    trust = TrustRoot.intel()
    root, pck = parts["root_ca_crl"], parts["pck_crl"]
    documents = [
        (EntryKey.root_ca_crl(), root, b""),
        (EntryKey.pck_crl(request.ca), pck, parts["pck_crl_issuer_chain"]),
        (EntryKey.tcb_info(request.tee, request.fmspc), parts["tcb_info"], parts["tcb_info_issuer_chain"]),
        (EntryKey.qe_identity(request.tee), parts["qe_identity"], parts["qe_identity_issuer_chain"]),
    ]
    for key, document, chain in documents:
        with contextlib.suppress(UntrustedCollateralError):
            admit(key, document, chain, trust, root_ca_crl=root, pck_crl=pck)
    blocks = split_pem_chain(parts["quote"]) if data[1] % len(PARTS) == 0 else []
    if blocks:  # the quote replaced: admit its PCK certificate, if it has one (a quote is mostly binary)
        leaf = blocks[0] + b"\n"
        key = EntryKey.pck_certificate(f"{'00' * 16}/{'00' * 16}/0000/0000")
        with contextlib.suppress(UntrustedCollateralError):
            admit(key, leaf, b"".join(b + b"\n" for b in blocks[1:]), trust, root_ca_crl=root, pck_crl=pck)


# ---- the PCCS's collateral file -----------------------------------------------------------------


@cache
def _pccs() -> PccsService:
    directory = Path(tempfile.mkdtemp(prefix="pydcap-fuzz-pccs-"))
    store = CollateralStore.open(directory / "pckcache.sqlite3")
    return PccsService(store, mode=CachingMode.OFFLINE)


def pccs_file(data: bytes) -> None:
    """``PUT platformcollateral``'s body (after the JSON parse the server makes): imported, or a PCCS error."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return  # the server answers 400 before the import sees it
    try:
        asyncio.run(import_collateral(_pccs(), body))
    except PccsError:
        return


@cache
def _pck_issuers() -> tuple[bytes, ...]:
    """The Names of the real bundles' PCK CAs; their PCK certificates' subjects read once, as intel_layout needs."""
    issuers = set()
    for bundle in bundles():
        blocks = split_pem_chain(Quote.parse(bundle.parts["quote"]).pck_chain_pem or b"")
        if len(blocks) == 3:
            issuer = Certificate.from_pem(blocks[1]).subject_raw
            read_pck(blocks[0], issuer)
            issuers.add(issuer)
    return tuple(sorted(issuers))


@cache
def _root_certificate() -> Certificate:
    return Certificate.from_pem(split_pem_chain(bundles()[0].parts["tcb_info_issuer_chain"])[-1])


TARGETS: dict[str, Target] = {
    "quote": quote,
    "certificate": certificate,
    "crl": crl,
    "tcb_info": tcb_info,
    "qe_identity": qe_identity,
    "collateral": collateral,
    "pccs_file": pccs_file,
    "verify": verify,
    "admission": admission,
    "signature": signature,
}
NAMES = tuple(TARGETS)


def everything(data: bytes) -> None:
    """Every target: the first byte says which (seeds carry it in front of their own bytes)."""
    if data:
        TARGETS[NAMES[data[0] % len(NAMES)]](data[1:])


TARGETS["all"] = everything
